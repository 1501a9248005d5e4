"""Locking: gather each service's requirements, merge them per suite, find conflicts, resolve
with pip-tools (or uv) into hash-pinned locks, and prove the locks install and import.

`sources` reads files, `merge` and `specs` are pure, `resolver` and `proof` run subprocesses
through revops.adapters.proc; `revops.commands.lock` decides the flow.
"""
