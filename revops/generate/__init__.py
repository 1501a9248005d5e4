"""Rendering the new stack from the inventory, the locks and the config: pure, deterministic.

`build_files(inventory, config, locks)` returns the plan (what each unit became, or why not)
and the text of every file under compose/. Reading inputs and writing files is the caller's job
(revops/commands/generate.py).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from revops import values
from revops.config import Config
from revops.errors import CheckFailed, ConfigError
from revops.generate import context, mapping, parsed, render, stack, templates
from revops.generate.spec import Plan
from revops.model import Inventory
from revops.unitfile.rootfs import RootFS, RootReadError


REPO_FILE_LIMIT = 64 << 20  # bytes; a lock or a compose file is far smaller


def read_in_repo(repo: Path, path: Path) -> bytes | None:
    """A file of the ops repo (a lock, a file under compose/), read as a regular file resolved
    inside the repo: None when there is none; ConfigError (exit 2) when it is a FIFO or another
    non-regular file, or a symlink leading out of the repo (never read, so never printed in a diff)."""
    if not os.path.lexists(path):
        return None
    fs = RootFS(repo, cache=False)
    try:
        return fs.read_bytes("/" + str(Path(os.path.abspath(path)).relative_to(fs.root)), REPO_FILE_LIMIT)
    except ValueError:
        raise ConfigError(str(path), None, f"not under the ops repo {repo}; not read") from None
    except RootReadError as exc:
        why = "leads outside the ops repo" if exc.reason == "missing" else exc.reason
        raise ConfigError(str(path), None, f"not read: {why}") from None


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
    check_config(config)
    env = templates.environment(config.base_dir / config.templates_dir, config.base_dir)
    settings = render.Settings(config.image_base, config.image_prefix, config.network)
    plan, files = render.render(plan, env, settings, code_digests(plan, config))
    stack_services: list[stack.StackService] = []
    if config.swarm is not None:  # the ops repo deploys to a cluster too: its stack file
        stack_settings = stack.settings(config, config.swarm)
        stack_services = stack.plan_stack(plan, config, config.swarm, env_digests(plan, config))
        files[stack_settings.filename] = render.stack_file(env, stack_settings, stack_services)
    parsed.check_files(plan, files, settings, env, stack_services)
    return plan, files


def check_config(config: Config) -> None:
    """Every revops.yaml value generate writes into a Dockerfile or a compose file, checked
    (revops.values); ConfigError (exit 2) naming the key."""
    h = config.health
    checks = [("image.base", config.image_base, values.image_reference),
              ("image.prefix", config.image_prefix, values.image_repository),
              ("network", config.network, values.name),
              ("health.bind_address", h.bind_address, values.ip_address),
              ("health.path", h.path, values.text),
              ("health.interval", h.interval, values.duration), ("health.timeout", h.timeout, values.duration),
              ("health.start_period", h.start_period, values.duration)]
    checks += [(f"suites.{s.name}", s.name, values.name) for s in config.suites]
    if config.swarm is not None:
        checks += [("swarm.stack", config.swarm.stack, values.name),
                   ("swarm.registry", f"{config.swarm.registry}/{config.image_prefix}", values.image_repository)]
        checks += [(f"swarm.placement.{suite}.constraints", c, values.text)
                   for suite, p in config.swarm.placement for c in (*p.constraints, *p.spread)]
    for key, value, check in checks:
        problem = check(value)
        if problem:
            raise ConfigError(str(config.path), key, f"{value!r}: {problem}; generate writes it into "
                              "Dockerfiles and compose files, so it must be plain")
    if not isinstance(h.retries, int) or isinstance(h.retries, bool) or h.retries < 1:
        raise ConfigError(str(config.path), "health.retries", f"{h.retries!r}: expected a positive integer")
    if any(c in h.path for c in " \t\r\n"):
        raise ConfigError(str(config.path), "health.path", f"{h.path!r}: expected a URL path without spaces")


def env_digests(plan: Plan, config: Config) -> dict[str, str | None]:
    """{service: sha256 of its secret's content} for every service with a secret: what the
    service may read (revops.secrets.bundle: its env files and withheld Environment= values),
    read under the host root (None: it could not be read there, which migrate's preflight
    refuses). A stack file names each version's Docker secret by it; the values themselves
    are never written anywhere."""
    from revops.secrets import bundle

    digests: dict[str, str | None] = {}
    for suite in plan.suites:
        for service in suite.services:
            if service.secret:
                try:
                    content = bundle.read(config.root, config.unit_dirs, service.unit, service.secret_keys).text()
                except CheckFailed:
                    digests[service.name] = None
                else:
                    digests[service.name] = stack.env_digest(content)
    return digests


def code_digests(plan: Plan, config: Config) -> dict[str, str | None]:
    """Each service's code digest, read where `revops build` reads it (under the host root),
    with its scripts outside the code dir (context.scripts_digest)."""
    fs = RootFS(config.root)
    return {s.name: context.scripts_digest(fs, _code_digest(fs, mapping.host_path(s.code_dir, config)), s.scripts)
            for suite in plan.suites for s in suite.services}


def _code_digest(fs: RootFS, host_path: str) -> str | None:
    """The code dir resolved inside the host root first (a symlinked parent cannot lead the walk
    onto this machine's own files)."""
    resolved = fs.resolve(host_path)
    return context.code_digest(resolved.real) if resolved.ok else None
