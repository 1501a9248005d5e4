"""What `revops stabilize` would do, as data: per suite the venv to build from its lock, per
unit the ExecStart= before and after (or why the unit is left alone). Pure: no host is read
here beyond what the caller hands in (inventory, lock texts, ledger records).

A suite venv is named after its lock's content, `<stabilize.path>/<suite>-<sha256[:12]>`: a
changed lock is a new venv beside the old one, so a unit never points at a venv that is being
rebuilt under it, and a second run reuses what the first built.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from revops.config import Config
from revops.generate.mapping import map_venv
from revops.lock import lockfile, merge
from revops.lock.sources import Wanted
from revops.model import Inventory, Unit

PURPOSE = "stabilize"
UNRESOLVED_SPECIFIERS = "unexpanded-specifier"  # the inventory's problem code (revops.unitfile)
# Migration states (revops.adapters.ledger.MIGRATION_STATES) in which a unit runs, or is
# being moved, into a container: stabilize leaves it to migrate and rollback.
IN_CONTAINER = ("migrating", "migrated", "down")


@dataclass(frozen=True)
class SuiteVenv:
    """One venv to build: `path` as the host (and so the units) sees it, `on_disk` under the
    host's root; `lock` the suite's lockfile; None when the suite has no lock yet."""

    suite: str
    lock: str | None
    path: str | None
    on_disk: str | None
    python: str | None  # the lock's target Python version (its header), when it says
    why_not: str | None = None


@dataclass
class UnitPlan:
    """One unit: its command now (`before`, from its own unit files) and with the suite venv
    (`after`); `skip` says why it is left alone (then `after` is None)."""

    unit: str
    suite: str | None
    before: list[str]
    after: list[str] | None = None
    prefixes: str = ""
    venv_before: str | None = None
    venv_after: str | None = None
    port: int | None = None
    skip: str | None = None
    notes: list[str] = field(default_factory=list)
    job: bool = False  # Type=oneshot: never restarted by stabilize (that would run the job)

    @property
    def acts(self) -> bool:
        return self.skip is None


@dataclass
class Plan:
    venvs: list[SuiteVenv]
    units: list[UnitPlan]

    def acting(self) -> list[UnitPlan]:
        return [u for u in self.units if u.acts]

    def venv_of(self, suite: str | None) -> SuiteVenv | None:
        return next((v for v in self.venvs if v.suite == suite), None)


@dataclass(frozen=True)
class Earlier:
    """A unit's repoint record (revops.adapters.ledger.RepointRecord) as the plan needs it."""

    state: str
    exec_before: list[str]
    exec_after: list[str]
    uses_before: str | None


def venv_name(suite: str, lock_text: str) -> str:
    """'core-3f2a9c1b0d4e': the suite and the first 12 hex digits of the lock's SHA-256."""
    return f"{suite}-{hashlib.sha256(lock_text.encode()).hexdigest()[:12]}"


def suite_venv(config: Config, suite: str, lock_text: str | None, python: str | None,
               why_not: str | None = None) -> SuiteVenv:
    """The suite's venv under stabilize.path (on disk under host.root)."""
    if lock_text is None:
        return SuiteVenv(suite, None, None, None, None, why_not or f"no lockfiles/{suite}.txt: run `revops lock` first")
    path = config.stabilize_path.rstrip("/") + "/" + venv_name(suite, lock_text)
    on_disk = str(Path(config.root) / path.lstrip("/"))
    return SuiteVenv(suite, str(config.out("lockfiles") / f"{suite}.txt"), path, on_disk, python)


SHARED = "shared"


@dataclass
class Shared:
    """`stabilize: {venvs: shared}`: the suites whose locked pins live together in one venv,
    the lock of that venv (their pinned entries, one per distribution), and the suites left
    out with the conflicts that keep them out (both pins, revops.lock.merge's words)."""

    members: list[str]
    text: str
    left_out: dict[str, list[str]] = field(default_factory=dict)


def share(locks: list[tuple[str, str]]) -> Shared:
    """Suites joined in order ([(suite, lock text)]): a suite whose pins conflict with those
    already in is left out whole (its services keep their own venvs), never half-joined."""
    chosen: dict[str, tuple[str, str, str]] = {}  # dist -> (suite, "name==version", entry)
    members: list[str] = []
    left_out: dict[str, list[str]] = {}
    for suite, text in locks:
        entries = {}
        for block in lockfile.requirement_blocks(text):
            found = lockfile.pins(block)
            for pin in found:
                entries[_dist(pin.name)] = (f"{pin.name}=={pin.version}", block)
            if not found:  # not name==version (a local wheel's URL pin): kept as it is, by its text
                entries[block] = (block, block)
        clashes = []
        for dist, (pin, _block) in sorted(entries.items()):
            if dist in chosen and "==" in pin and _version(chosen[dist][1]) != _version(pin):
                other_suite, other_pin, _ = chosen[dist]
                wanted = [Wanted(other_suite, other_pin, f"lockfiles/{other_suite}.txt"),
                          Wanted(suite, pin, f"lockfiles/{suite}.txt")]
                clashes += [c.describe() for c in merge.find_conflicts(dist, wanted)]
        if clashes:
            left_out[suite] = clashes
            continue
        members.append(suite)
        for dist, (pin, block) in entries.items():
            chosen.setdefault(dist, (suite, pin, block))
    head = f"# revops stabilize: the shared venv of suites {', '.join(members)} (their locks' pinned entries)\n"
    body = "".join(f"{chosen[d][2]}\n" for d in sorted(chosen))
    return Shared(members, head + body.replace(" --hash", " \\\n    --hash"), left_out)


def _dist(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _version(pin: str) -> str:
    return pin.split("==", 1)[1]


def shared_venvs(config: Config, venvs: list[SuiteVenv], texts: Mapping[str, str]) -> tuple[list[SuiteVenv], Shared]:
    """The per-suite venvs replaced by one shared venv (for the members) and, for each suite
    left out or without a lock, a SuiteVenv with no path that says why."""
    shared = share([(v.suite, texts[v.suite]) for v in venvs if v.suite in texts])
    one = suite_venv(config, SHARED, shared.text, next((v.python for v in venvs if v.suite in shared.members), None))
    lock = str(Path(one.on_disk or "") .parent / f"{Path(one.on_disk or '').name}.txt")
    result = []
    for v in venvs:
        if v.suite in shared.members:
            result.append(SuiteVenv(v.suite, lock, one.path, one.on_disk, one.python))
        elif v.suite in shared.left_out:
            why = "cannot share the shared venv: " + "; ".join(shared.left_out[v.suite])
            result.append(SuiteVenv(v.suite, None, None, None, None, why))
        else:
            result.append(v)
    return result, shared


def earlier_from(records: Mapping[str, object]) -> dict[str, Earlier]:
    """{unit: Earlier} of the ledger's stabilize records (RepointRecord-like objects)."""
    out = {}
    for unit, r in records.items():
        out[unit] = Earlier(getattr(r, "state"), json.loads(getattr(r, "exec_before")),
                            json.loads(getattr(r, "exec_after")), getattr(r, "uses_before"))
    return out


def plan(inventory: Inventory, config: Config, venvs: list[SuiteVenv], *,
         migration: Mapping[str, str] | None = None, earlier: Mapping[str, Earlier] | None = None,
         units: tuple[str, ...] = ()) -> Plan:
    """Every unit of the suites in `venvs` (or only `units`, when named), in name order.

    migration: {unit: migration state} from the ledger; earlier: the stabilize records. A
    unit already repointed (its inventory shows the drop-in's command) is planned from the
    command its own files had, which the ledger kept."""
    by_suite = {v.suite: v for v in venvs}
    migration = migration or {}
    earlier = earlier or {}
    result = []
    for unit in sorted(inventory.units, key=lambda u: u.name):
        if units and unit.name not in units:
            continue
        suite = getattr(config.suite_of(unit.name), "name", None)
        if suite not in by_suite:
            continue
        result.append(_unit_plan(unit, suite, by_suite[suite], config, migration.get(unit.name),
                                 earlier.get(unit.name)))
    return Plan(venvs, result)


def _unit_plan(unit: Unit, suite: str, venv: SuiteVenv, config: Config, migration: str | None,
               earlier: Earlier | None) -> UnitPlan:
    before = list(unit.exec_start[0]) if unit.exec_start else []
    venv_before = unit.venv
    if earlier is not None and earlier.state != "put-back" and before == earlier.exec_after:
        before, venv_before = list(earlier.exec_before), earlier.uses_before  # the inventory saw our drop-in
    p = UnitPlan(unit.name, suite, before, prefixes=(unit.exec_start_prefixes or [""])[0],
                 venv_before=venv_before, port=unit.port, job=unit.service_type == "oneshot")
    p.skip = _why_alone(unit, venv, config, migration)
    if p.skip is None:
        assert venv.path is not None
        after, notes = map_venv(before, venv_before, venv.path)
        if after == before:
            p.skip = "its ExecStart= names no venv and no system python: nothing to repoint"
        else:
            p.after, p.notes, p.venv_after = after, notes, venv.path
    if p.acts and earlier is not None and earlier.state == "repointed" and earlier.exec_after == p.after:
        p.skip = "already stabilised (the ledger: repointed at this venv)"
    return p


def _why_alone(unit: Unit, venv: SuiteVenv, config: Config, migration: str | None) -> str | None:
    if unit.template:
        return "a template with no instance"
    if unit.masked:
        return "masked"
    if unit.deprecated or config.is_deprecated(unit.name):
        return "deprecated"
    if migration in IN_CONTAINER:
        return f"runs in a container (migration state: {migration})"
    unresolved = next((p for p in unit.problems if p.code == UNRESOLVED_SPECIFIERS), None)
    if unresolved is not None:
        # systemd.unit(5) "Specifiers": the inventory keeps a host specifier it could not resolve
        # offline as written (%b, %H ...), so its argv cannot tell it from a literal "%b"; the
        # drop-in writes every % as %% (dropins.quote_word), which would pass the letters
        # instead of the host's value.
        return f"its ExecStart= may hold host specifiers revops could not resolve ({unresolved.detail})"
    if len(unit.exec_start) != 1:
        return (f"has {len(unit.exec_start)} ExecStart= commands; stabilize repoints a unit with exactly one"
                if unit.exec_start else "has no ExecStart=")
    if "@" in (unit.exec_start_prefixes or [""])[0]:
        # systemd.service(5) "COMMAND LINES": with `@` the word after the path is argv[0]. The
        # inventory keeps [program, arg1, ...] (design.md), without it: a drop-in made from that
        # would turn arg1 into argv[0] (a python that gets its script as its name runs none).
        return "its ExecStart= has the '@' prefix (its own argv[0]), which the inventory does not keep"
    if venv.path is None:
        return venv.why_not
    return None


@dataclass
class DuplicateGroup:
    """Venvs holding the same installed set (the inventory's `installed` of each), the disk
    they hold together (bytes, None when unknown), and those the suite venvs replace (every
    unit using them is repointed by this plan)."""

    installed: int  # how many distributions each holds
    venvs: list[str]
    bytes: int | None
    replaced: list[str]


def duplicates(inventory: Inventory, plan_: Plan, size_of: Callable[[str], int | None]) -> list[DuplicateGroup]:
    """Groups of two or more venvs with identical, non-empty installed sets, largest first."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for v in inventory.venvs:
        if v.installed:
            groups.setdefault(tuple(v.installed), []).append(v.path)
    repointed = {u.unit for u in plan_.acting()}
    users = {v.path: v.used_by for v in inventory.venvs}
    result = []
    for installed, paths in groups.items():
        if len(paths) < 2:
            continue
        sizes = [size_of(p) for p in paths]
        total = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
        replaced = [p for p in sorted(paths) if users.get(p) and all(u in repointed for u in users[p])]
        result.append(DuplicateGroup(len(installed), sorted(paths), total, replaced))
    return sorted(result, key=lambda g: (-(g.bytes or 0), g.venvs))
