"""Rendering the new stack from the inventory, the locks and the config: pure, deterministic.

`build_files(inventory, config, locks)` returns the plan (what each unit became, or why not)
and the text of every file under compose/. Reading inputs and writing files is the caller's job
(revops/commands/generate.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from revops.config import Config
from revops.errors import CheckFailed
from revops.generate import context, mapping, render, templates
from revops.generate.spec import Plan
from revops.model import Inventory


def lock_digest(lock_bytes: bytes) -> str:
    return hashlib.sha256(lock_bytes).hexdigest()


def build_files(inventory: Inventory, config: Config, locks: dict[str, bytes]) -> tuple[Plan, dict[str, str]]:
    """locks maps suite name -> the bytes of lockfiles/<suite>.txt (suites without a lock are absent)."""
    digests = {name: lock_digest(data) for name, data in locks.items()}
    plan = mapping.plan(inventory, config, digests)
    if not plan.suites:
        # an empty stack would be written as `services:` null, which compose rejects
        if not locks:
            raise CheckFailed("no suite is locked: run `revops lock`")
        raise CheckFailed("nothing to generate: no unit of a locked suite can be migrated",
                          hint="every unit was skipped: check revops.yaml `suites:` against the inventory")
    env = templates.environment(config.base_dir / config.templates_dir)
    settings = render.Settings(config.image_base, config.image_prefix, config.network)
    return render.render(plan, env, settings, code_digests(plan, config))


def code_digests(plan: Plan, config: Config) -> dict[str, str | None]:
    """Each service's code digest, read where `revops build` reads it (under the host root)."""
    return {s.name: context.code_digest(Path(config.root) / mapping.host_path(s.code_dir, config).lstrip("/"))
            for suite in plan.suites for s in suite.services}
