"""`--live`: make the written host run under the systemd user manager, and take it down again.

Phase-1 venvs become real (`python -m venv` + `pip install --no-index` from a local
wheelhouse); every unit file, timer and drop-in directory of the host is linked into the user
manager's unit directory, enabled and started over D-Bus. Running it again builds no venv that
is already built and restarts nothing that is running.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from revops import dropins
from revops.adapters import proc, systemd
from revops.errors import CheckFailed, UsageError
from revops.example_host import catalog

MARKER = ".revops-example-host"  # in a real venv: the sha256 of the requirements it was built from
MANAGER_UNIT_DIRS = ("/usr/lib/systemd/user", "/lib/systemd/user", "/etc/systemd/user")
START_TIMEOUT = 30.0


@dataclass
class LiveReport:
    venvs_built: list[str] = field(default_factory=list)
    venvs_kept: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    not_started: dict[str, str] = field(default_factory=dict)  # unit -> why


def wheelhouse_dir(option: Path | None) -> Path:
    """--wheelhouse, else $REVOPS_WHEELHOUSE; a clear usage error when neither names a directory."""
    raw = option or os.environ.get("REVOPS_WHEELHOUSE")
    if not raw:
        raise UsageError(
            "--live needs a wheelhouse for the phase-1 venvs: pass --wheelhouse DIR or set REVOPS_WHEELHOUSE",
            hint="scripts/testbed start fills one and exports REVOPS_WHEELHOUSE in /var/lib/revops-testbed/env",
        )
    path = Path(raw)
    if not path.is_dir() or not any(path.glob("*.whl")):
        raise UsageError(f"wheelhouse {path}: not a directory holding wheels")
    return path


user_unit_dir = systemd.user_unit_dir  # where the user manager reads the user's own unit files


def check_names(names: list[str]) -> None:
    """Refuse a unit named like one of the user manager's own: loading it would replace it."""
    clashes = sorted(n for n in names for d in MANAGER_UNIT_DIRS if (Path(d) / n).exists())
    if clashes:
        raise UsageError(f"unit names clash with the user manager's own units: {', '.join(clashes)}")


# -- venvs ---------------------------------------------------------------------------


def build_venvs(root: Path, settled: dict[str, str], wheelhouse: Path, report: LiveReport) -> None:
    """A real venv per phase-1 service at its host path under root, from its settled requirements."""
    for host_path, requirements in sorted(settled.items()):
        venv = root / host_path.lstrip("/")
        digest = hashlib.sha256(requirements.encode()).hexdigest()
        marker = venv / MARKER
        if marker.is_file() and marker.read_text().strip() == digest and (venv / "bin" / "python").exists():
            report.venvs_kept.append(host_path)
            continue
        _build_venv(venv, requirements, wheelhouse)
        marker.write_text(digest + "\n")
        report.venvs_built.append(host_path)


def _build_venv(venv: Path, requirements: str, wheelhouse: Path) -> None:
    if venv.is_symlink() or venv.is_file():
        venv.unlink()
    elif venv.exists():
        shutil.rmtree(venv)  # a fake venv written offline, or a half-built one
    proc.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    reqs = venv / "requirements.settled.txt"
    reqs.write_text(requirements)
    # --isolated: ignore the machine's pip.conf (its find-links or index must not leak in)
    proc.run([sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--python",
              str(venv / "bin" / "python"), "install", "--quiet", "--no-index", "--find-links",
              str(wheelhouse), "-r", str(reqs)], timeout=600)


def real_venv_ready(venv: Path) -> bool:
    return (venv / MARKER).is_file()


# -- units ---------------------------------------------------------------------------


def unit_files(root: Path) -> list[Path]:
    """The host's unit files (services, the template, timers), not the wants links."""
    unit_dir = root / "etc/systemd/system"
    return sorted(p for p in unit_dir.iterdir() if p.name.endswith((".service", ".timer")))


def install(root: Path) -> list[str]:
    """Link every unit file and drop-in directory of the host into the user unit directory."""
    target = user_unit_dir()
    target.mkdir(parents=True, exist_ok=True)
    files = unit_files(root)
    check_names([p.name for p in files])
    for path in files:
        _link(target / path.name, Path(os.readlink(path)) if path.is_symlink() else path)
    for dropin_dir in sorted((root / "etc/systemd/system").glob("*.d")):
        _link(target / dropin_dir.name, dropin_dir)
    return [p.name for p in files]


def _link(link: Path, to: Path) -> None:
    if link.is_symlink() and Path(os.readlink(link)) == to:
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    os.symlink(to, link)


def start_order(names: list[str]) -> list[str]:
    """Instances of the template in place of it; timers last; the masked unit left out."""
    units = [n for n in names if n != catalog.MASKED and n != catalog.TEMPLATE]
    units += [f"revflow-worker@{i}.service" for i in catalog.TEMPLATE_INSTANCES]
    services = sorted(n for n in units if n.endswith(".service"))
    gateway_first = sorted(services, key=lambda n: n != catalog.GATEWAY)
    return gateway_first + sorted(n for n in units if n.endswith(".timer"))


def enable_names(root: Path, names: list[str]) -> list[str]:
    """What the host has enabled: the units linked from a *.wants directory, timers included."""
    wants = root / "etc/systemd/system"
    enabled = {p.name for d in wants.glob("*.wants") for p in d.iterdir()}
    return sorted(n for n in start_order(names) if n in enabled)


def start_all(manager: systemd.Manager, names: list[str], restart: set[str], report: LiveReport) -> None:
    states = manager.states(names)
    for name in names:
        state = states[name].active_state
        if state in ("active", "activating", "reloading") and name not in restart:
            report.already_running.append(name)
            continue
        try:
            if name in restart:
                manager.restart(name, START_TIMEOUT)
            else:
                manager.start(name, START_TIMEOUT)
            report.started.append(name)
        except CheckFailed as exc:
            report.not_started[name] = exc.message


def prepare(root: Path, bus: str = "user") -> systemd.Manager:
    """The user manager, checked before anything is written: reachable, and not holding
    another example host's units."""
    manager = systemd.connect(bus)
    manager.list_units(["revops-example-host-probe.service"])  # a call, so a dead bus fails here
    refuse_other_host(root)
    return manager


def bring_up(manager: systemd.Manager, root: Path, settled: dict[str, str], wheelhouse: Path) -> LiveReport:
    """Build phase-1 venvs, install, enable and start every unit of the host."""
    report = LiveReport()
    build_venvs(root, settled, wheelhouse, report)
    names = install(root)
    manager.reload()
    manager.enable(enable_names(root, names))
    order = start_order(names)
    rebuilt = {s.name for s in catalog.services() if s.venv in set(report.venvs_built)}
    start_all(manager, order, rebuilt, report)
    return report


def host_unit_names() -> list[str]:
    """Every unit file name the example host has: services (the template too) and timers."""
    services = catalog.services()
    return sorted([s.name for s in services] + [f"{s.stem}.timer" for s in services if s.timer])


def _our_links(target: Path) -> dict[str, Path]:
    """Links in the user unit directory named like the host's units or drop-in directories."""
    names = set(host_unit_names())
    names |= {f"{n}.d" for n in catalog.DROPINS}
    if not target.is_dir():
        return {}
    return {n: target / n for n in sorted(names) if (target / n).is_symlink()}


def _other_roots(root: Path) -> set[str]:
    """Roots of other example hosts whose units are linked into the user manager now."""
    others = set()
    for name, link in _our_links(user_unit_dir()).items():
        pointed = os.readlink(link)
        if pointed != "/dev/null" and not Path(pointed).is_relative_to(root):
            others.add(pointed.split("/etc/systemd/system/")[0])
    return others


def is_live(root: Path) -> bool:
    """Whether the user manager's unit directory links units of the host at root (no bus asked)."""
    return any(os.readlink(link).startswith(str(root) + "/") for link in _our_links(user_unit_dir()).values())


def refuse_other_host(root: Path) -> None:
    """The unit names are fixed, so one user manager holds one live example host at a time."""
    others = _other_roots(root)
    if others:
        other = sorted(others)[0]
        raise UsageError(
            f"another live example host ({other}) holds the same unit names in this user manager",
            hint=f"take it down first: revops example-host {other} --teardown",
        )


def teardown(root: Path, bus: str = "user") -> list[str]:
    """Stop, disable and unlink every unit of the example host at root. Returns the unit names
    the manager still knew (running, failed or linked); a host never brought up gives []."""
    root = Path(root).resolve()
    refuse_other_host(root)
    links = _our_links(user_unit_dir())
    manager = systemd.connect(bus)
    patterns = [n.replace("@.service", "@*.service") for n in host_unit_names()]
    loaded = {u.name for u in manager.list_units(patterns)}
    unit_links = sorted(n for n in links if not n.endswith(".d"))
    names = sorted(loaded | set(unit_links))
    for name in reversed(start_order(sorted(loaded | set(unit_links) | {catalog.TEMPLATE}))):
        if name in loaded:
            _quietly(manager.stop, name, START_TIMEOUT)
    _quietly(manager.disable, [n for n in unit_links if n != catalog.MASKED])
    for link in links.values():
        link.unlink(missing_ok=True)  # disabling a linked unit already removed its link
    remove_revops_dropins(user_unit_dir())
    manager.reload()
    for name in sorted(loaded):
        _quietly(manager.reset_failed, name)
    return names


def remove_revops_dropins(target: Path) -> list[Path]:
    """The drop-ins revops wrote (first line dropins.HEADER) for the host's units in `target`'s
    own `UNIT.d` directories, removed with the directories they leave empty. A migrate of the
    host writes them there (a job's repoint); one left behind, by a run killed before its
    rollback, would repoint the same unit of the next example host. The host's own drop-in
    directories are links, and other files are not revops', so both stay."""
    removed = []
    for name in host_unit_names():
        directory = target / f"{name}.d"
        if directory.is_symlink() or not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.conf")):
            if path.is_file() and not path.is_symlink() and path.read_text(errors="replace").startswith(dropins.HEADER):
                path.unlink()
                removed.append(path)
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


def _quietly(call, *args) -> None:
    try:
        call(*args)
    except CheckFailed:
        pass  # the unit is already stopped, unloaded or gone: nothing left to undo
