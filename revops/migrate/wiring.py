"""Opening what a mutating run needs: the inventory, the ledger, the adapters, the compose files.

Kept apart from the flow so commands read as: load, lock, plan, confirm, execute.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

from revops import model
from revops.config import Config
from revops.errors import AdapterUnavailable, CheckFailed, RevopsError
from revops.generate import drift
from revops.lock.check import check_suite
from revops.migrate import composefile
from revops.migrate import plan as P
from revops.migrate.executor import Verdict
from revops.model import Inventory
from revops.validate import validate_paths

MAIN_COMPOSE = "docker-compose.yml"


def ledger_file_missing(url: str) -> Path | None:
    """The SQLite ledger file `url` names when it does not exist yet, else None. Opening it
    would create it, which a dry run must not do: with no file there is simply no state."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path("/" + url[len("sqlite:///"):].lstrip("/"))
    return None if path.exists() else path


def compose_files(config: Config) -> list[str]:
    """The compose file(s) generate wrote: the single main file when it exists."""
    directory = config.out("compose")
    main = directory / MAIN_COMPOSE
    if main.is_file():
        return [str(main)]
    return [str(p) for p in sorted(directory.glob("*.yml"))]


def compose_units(files: list[str]) -> dict[str, str] | None:
    """{unit: compose service}; None when there is no compose file."""
    if not files:
        return None
    return {unit: svc.name for unit, svc in composefile.services(files).items()}


def operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def command_line() -> str:
    return shlex.join(["revops", *sys.argv[1:]])


def holder(command: str) -> str:
    return f"{operator()} pid {os.getpid()}: {command}"


def live_host(config: Config, files: list[str]) -> Any:
    """The real host; raises AdapterUnavailable naming what cannot be reached."""
    try:
        from revops.adapters import compose, docker_engine, systemd
    except ImportError as exc:
        raise AdapterUnavailable(f"revops adapter missing: {exc}") from None
    from revops.migrate.host import LiveHost

    return LiveHost(config, systemd.connect(config.bus), docker_engine.connect(),
                    compose.connect(cwd=config.base_dir), files, build=_builder(config),
                    checks=_checks(config))


def _builder(config: Config):
    def build(suite: str) -> str:
        from revops.build import images

        return str(images.build_suite(config, suite))

    return build


def _checks(config: Config):
    """Preflight's checks of the ops repo for one suite: lock current, compose generated from
    the current inventory and locks, compose valid. Each raises CheckFailed naming the fix."""

    def check(suite: str) -> str:
        locked = check_suite(config.out("lockfiles"), suite, config.base_dir)
        if not locked.ok:
            raise CheckFailed(f"lock of suite {suite}: {locked.error}")
        inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
        now = drift.render_now(inventory, config)
        if not now.drift.ok:
            raise CheckFailed(f"compose files differ from what generate writes now: {', '.join(now.drift.changed)}",
                              hint="run `revops generate` and review the diff")
        found = validate_paths([config.out("compose")], config)
        if not found.ok:
            first = "; ".join(f"{f.file}: {f.message}" for f in found.findings[:3])
            raise CheckFailed(f"revops validate: {found.errors} error(s): {first}")
        return f"lock {suite} current, compose current and valid"

    return check


def read_earlier(inventory: Inventory, config: Config, phase: int, states: dict[str, str],
                 host: Any, host_error: str | None, files: list[str]) -> list[P.EarlierHealth]:
    out = []
    for unit, unit_phase in P.earlier_units(inventory, config, phase, compose_units(files)):
        state = states.get(unit.name)
        if host is None:
            verdict = Verdict(False, f"cannot check: {host_error}")
        else:
            try:
                verdict = host.container_verdict(P.service_plan(unit, config, files))
            except RevopsError as exc:
                verdict = Verdict(False, exc.message)
        out.append(P.EarlierHealth(unit.name, unit_phase, state, verdict.ok, verdict.reason))
    return out


def inventory_digest(config: Config) -> str:
    """sha256 of the inventory files this run planned from (recorded in the ledger)."""
    digest = hashlib.sha256()
    for name in (model.UNITS_FILE, model.VENVS_FILE):
        digest.update((config.out("inventory") / name).read_bytes())
    return digest.hexdigest()
