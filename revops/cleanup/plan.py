"""What `revops cleanup` would move, and why: pure data from the inventory, the config, the
ledger's service states and (when readable) systemd's live unit states.

Units: migrated (the ledger says so, and the unit is no longer enabled), deprecated
(revops.yaml `deprecated:`), duplicates (outside every suite, running the code of a suite
unit from its WorkingDirectory) and leftovers the operator names (`cleanup.leftovers`).
A unit systemd reports active is never planned. Venvs: unhealthy in the inventory, used by
no unit that stays, and never a path that is, or holds, what a staying unit uses (its
WorkingDirectory, the programs and files its ExecStart names, its EnvironmentFiles), nor one
that is, holds or lies inside a healthy venv in use. (A stray venv copy inside a module's
working directory is what cleanup is for, so lying inside a WorkingDirectory is allowed.)
Whether a candidate is a venv at all is judged on disk by its whole shape (revops.venvs).
A healthy venv is redundant too once no unit points at it any more because its units moved:
migrated into containers, or repointed at a suite venv by `revops stabilize` (the ledger's
repoints say what each unit ran from before); a repointed unit protects the paths its drop-in's
command names, not its old venv.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from revops.config import Config
from revops.model import Inventory, Unit

MIGRATED = "migrated"
DEPRECATED = "deprecated"
DUPLICATE = "duplicate"
LEFTOVER = "leftover"
CORRUPTED_VENV = "corrupted-venv"
UNUSED_VENV = "unused-venv"
BUSY = ("active", "activating", "reloading", "deactivating")


@dataclass(frozen=True)
class LiveUnit:
    active_state: str
    unit_file_state: str | None


@dataclass
class Candidate:
    kind: str  # "unit" or "venv"
    name: str  # unit name, or venv path as the host sees it
    why: str  # migrated, deprecated, duplicate, leftover, corrupted-venv, unused-venv
    detail: str
    paths: list[str] = field(default_factory=list)  # host paths to move (filled by quarantine.collect)


@dataclass(frozen=True)
class Kept:
    name: str
    reason: str


@dataclass
class CleanupPlan:
    candidates: list[Candidate]
    kept: list[Kept]
    systemd: str  # LIVE, or UNAVAILABLE with the reason


def unit_reason(unit: Unit, config: Config, states: Mapping[str, str], suite_dirs: Mapping[str, str]) -> tuple[str, str] | None:
    """Why this unit is redundant, or None."""
    if states.get(unit.name) == MIGRATED:
        return MIGRATED, "runs in its container now (ledger: migrated)"
    if config.is_deprecated(unit.name) or unit.deprecated:
        return DEPRECATED, "listed under deprecated: in revops.yaml"
    if config.suite_of(unit.name) is not None:
        return None
    original = suite_dirs.get(unit.working_directory or "")
    if original and original != unit.name:
        return DUPLICATE, f"outside every suite, runs the code of {original} from {unit.working_directory}"
    if any(fnmatch.fnmatchcase(unit.name, p) for p in config.cleanup_leftovers):
        return LEFTOVER, "named under cleanup.leftovers in revops.yaml"
    return None


@dataclass(frozen=True)
class Repointed:
    """A unit `revops stabilize` repointed (ledger state "repointed"): the command it runs now
    and the venv it ran from before (None when unknown)."""

    exec_start: list[str]
    venv_before: str | None


def build(inventory: Inventory, config: Config, states: Mapping[str, str],
          live: Mapping[str, LiveUnit] | None, live_reason: str | None = None,
          repointed: Mapping[str, Repointed] | None = None) -> CleanupPlan:
    repointed = repointed or {}
    suite_dirs = {u.working_directory: u.name for u in inventory.units
                  if u.working_directory and config.suite_of(u.name) is not None and "@." not in u.name}
    candidates, kept = [], []
    leaving: set[str] = set()
    for unit in inventory.units:
        found = unit_reason(unit, config, states, suite_dirs)
        if found is None:
            continue
        why, detail = found
        now = (live or {}).get(unit.name)
        if now is not None and now.active_state in BUSY:
            kept.append(Kept(unit.name, f"{why}, but systemd says it is {now.active_state} now"))
            continue
        if why == MIGRATED and now is not None and now.unit_file_state == "enabled":
            kept.append(Kept(unit.name, "migrated, but still enabled: a reboot would start it"))
            continue
        if unit.path is None:
            kept.append(Kept(unit.name, f"{why}, but it has no unit file of its own"))
            continue
        candidates.append(Candidate("unit", unit.name, why, detail))
        leaving.add(unit.name)
    staying = [_as_running(u, repointed) for u in inventory.units
               if u.name not in leaving and states.get(u.name) != MIGRATED]

    def moved_away(unit: str, venv: str) -> bool:
        return states.get(unit) == MIGRATED or (unit in repointed and repointed[unit].venv_before == venv)

    in_use = in_use_paths(staying, inventory, moved_away)
    for venv in inventory.venvs:
        users = [u for u in venv.used_by if u not in leaving and not moved_away(u, venv.path)]
        if venv.healthy:
            moved = sorted({u for u in venv.used_by if moved_away(u, venv.path)}
                           | {u for u, r in repointed.items() if r.venv_before == venv.path})
            if users or not moved:
                continue
            clash = protected_by(venv.path, in_use)
            if clash:
                kept.append(Kept(venv.path, f"no unit points at it any more, but {clash}: never moved"))
                continue
            candidates.append(Candidate("venv", venv.path, UNUSED_VENV,
                                        f"no unit points at it any more (moved: {', '.join(moved)})"))
            continue
        if users:
            kept.append(Kept(venv.path, f"corrupted, but still used by {', '.join(sorted(users))}"))
            continue
        clash = protected_by(venv.path, in_use)
        if clash:
            kept.append(Kept(venv.path, f"corrupted, but {clash}: never moved"))
            continue
        problems = ", ".join(venv.problems) or "unhealthy"
        candidates.append(Candidate("venv", venv.path, CORRUPTED_VENV, problems))
    systemd = "LIVE" if live is not None else f"UNAVAILABLE ({live_reason})"
    return CleanupPlan(candidates, kept, systemd)


def _as_running(unit: Unit, repointed: Mapping[str, Repointed]) -> Unit:
    """The unit with the command it runs now: a repointed unit's drop-in's, whichever the
    inventory saw (one scanned before stabilize still shows the old command)."""
    if unit.name not in repointed:
        return unit
    return replace(unit, exec_start=[list(repointed[unit.name].exec_start)])


def in_use_paths(units: list[Unit], inventory: Inventory,
                 moved_away: Callable[[str, str], bool] = lambda unit, venv: False) -> dict[str, tuple[str, bool]]:
    """{host path: (what uses it, whether a path inside it is protected too)} for every path a
    staying unit uses: its WorkingDirectory, every absolute word of its ExecStart (the program,
    an interpreter's script), its EnvironmentFiles; and every healthy venv in use by a unit that
    has not moved away from it (`moved_away(unit, venv)`)."""
    found: dict[str, tuple[str, bool]] = {}
    for unit in units:
        if unit.working_directory and unit.working_directory.startswith("/"):
            found.setdefault(_norm(unit.working_directory), (f"{unit.name}'s WorkingDirectory", False))
        for argv in unit.exec_start:
            for word in argv:
                if word.startswith("/"):
                    found.setdefault(_norm(word), (f"{unit.name}'s ExecStart uses {word}", False))
        for path in unit.environment_files:
            if path.startswith("/"):
                found.setdefault(_norm(path), (f"{unit.name}'s EnvironmentFile", False))
    for venv in inventory.venvs:
        users = [u for u in venv.used_by if not moved_away(u, venv.path)]
        if venv.healthy and users:
            found[_norm(venv.path)] = (f"the healthy venv {venv.path} used by {', '.join(users)}", True)
    return found


def protected_by(path: str, in_use: dict[str, tuple[str, bool]]) -> str | None:
    """Why moving `path` would take something in use, or None: it is, or holds, a path in use,
    or lies inside one whose insides are protected (a healthy venv)."""
    path = _norm(path)
    for used, (what, inside_too) in in_use.items():
        if path == used:
            return f"it is {what}"
        if used.startswith(path.rstrip("/") + "/"):
            return f"it holds {what}"
        if inside_too and path.startswith(used.rstrip("/") + "/"):
            return f"it lies inside {what}"
    return None


def _norm(path: str) -> str:
    return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))
