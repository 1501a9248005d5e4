"""Locking: gather each service's requirements, merge them per suite, find conflicts, resolve
with pip-tools (or uv) into hash-pinned locks, and prove the locks install and import.

`sources` and `reqfile` read files (requirements files through pip's own reader, inside the
host root), `target` and `baseimage` say which Python the locks are for, `merge` and `specs`
are pure, `resolver`, `localproject` and `proof` run subprocesses through revops.adapters.proc;
`revops.commands.lock` decides the flow.
"""
