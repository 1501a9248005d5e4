"""`revops suites suggest`: a destination for every live unit in no suite, with the reasons.

Pure: the inventory, the config, each unit's requirements (revops.lock.sources, read by the
caller) and the target Python come in; a Proposal comes out. In this order:

1. Units that exist for the old world (they tend the venvs) and copies of another unit (same
   WorkingDirectory, same program, the directory named after the other) are retired.
2. Units that run a program of the host with no code of their own, or with full privileges,
   stay on the host (`keep_on_host:`).
3. The rest are grouped. Same code first, never split: the instances of one template, one
   WorkingDirectory. Then, only when the requirements of both sides lock together (no pin
   conflict, by revops.lock.merge, the check `revops lock` makes before it resolves): a unit
   whose name stem belongs to another's (revflow-revwins-digest to revflow-revwins), an
   After=/Requires=/Wants= edge, one venv. Units still alone join the others beside them (one
   parent directory) when those lock together too.
4. A group with the same evidence towards units of one existing suite joins that suite (its
   phase) when it locks with it; the others become new suites, named from their shared venv,
   template, stem or directory, in the phase after the existing ones, later still when they
   need (After=/Requires=) a unit of another new suite.

A timer-fired job and a one-shot set-up unit are placed like any service; their reasons say
how they will run (generate decides the form).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from revops import coverage, unitnames
from revops.config import Config, Suite
from revops.lock import merge
from revops.lock.sources import ServiceRequirements
from revops.lock.target import Target
from revops.model import Inventory, Unit
from revops.suites import evidence

SUITE, RETIRE, KEEP_ON_HOST = coverage.SUITE, coverage.RETIRE, coverage.KEEP_ON_HOST
_NAME_OK = re.compile(r"[^a-z0-9_-]+")


@dataclass
class Placement:
    """One unit's proposed destination."""

    unit: str
    kind: str  # suite, retire, keep-on-host
    suite: str | None = None
    phase: int | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class SuiteProposal:
    name: str
    phase: int
    units: list[str]  # what goes under units: (a template's name stands for its instances)
    new: bool  # False: these units join an existing suite
    requirements: int = 0  # distributions its merged input names (a lock without a pin conflict)


@dataclass
class Proposal:
    placements: list[Placement] = field(default_factory=list)
    suites: list[SuiteProposal] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # groupings not made, with the pin conflict
    covered_before: int = 0
    live: int = 0

    @property
    def retire(self) -> list[Placement]:
        return [p for p in self.placements if p.kind == RETIRE]

    @property
    def keep_on_host(self) -> list[Placement]:
        return [p for p in self.placements if p.kind == KEEP_ON_HOST]

    def to_dict(self) -> dict[str, Any]:
        return {"live": self.live, "covered_before": self.covered_before,
                "covered_after": self.live,  # every live unit in no suite gets a placement
                "suites": [vars(s) for s in self.suites],
                "retire": {p.unit: p.reasons[0] for p in self.retire},
                "keep_on_host": {p.unit: p.reasons[0] for p in self.keep_on_host},
                "units": [vars(p) for p in self.placements], "refused": self.refused}


@dataclass
class _Group:
    units: list[Unit]
    why: dict[str, list[str]] = field(default_factory=dict)  # unit -> reasons it is in this group

    def note(self, unit: str, reason: str) -> None:
        reasons = self.why.setdefault(unit, [])
        if reason not in reasons:
            reasons.append(reason)


class _Lockability:
    """Whether sets of units lock together: revops.lock.merge's conflicts, with a suite's overrides."""

    def __init__(self, requirements: dict[str, ServiceRequirements], target: Target) -> None:
        self.requirements = requirements
        self.target = target

    def conflicts(self, units: list[Unit], overrides: tuple[tuple[str, str], ...] = ()) -> list[str]:
        services = [self.requirements[u.name] for u in units if u.name in self.requirements]
        return [c.describe() for c in merge.merge("proposal", services, overrides, self.target).conflicts]

    def count(self, units: list[Unit], overrides: tuple[tuple[str, str], ...] = ()) -> int:
        services = [self.requirements[u.name] for u in units if u.name in self.requirements]
        return len(merge.merge("proposal", services, overrides, self.target).lines)


def suggest(inventory: Inventory, config: Config, requirements: dict[str, ServiceRequirements],
            target: Target) -> Proposal:
    """Every live unit without a destination placed, each with its reasons (see the module)."""
    measured = coverage.measure(inventory, config)
    live = {d.unit for d in measured.destinations}
    units = [u for u in sorted(inventory.units, key=lambda u: u.name) if u.name in live]
    homeless = set(measured.uncovered)
    proposal = Proposal(covered_before=measured.covered, live=measured.live)
    pool = []
    for unit in units:
        if unit.name not in homeless:
            continue
        placed = _set_aside(unit, units)
        if placed is not None:
            proposal.placements.append(placed)
        else:
            pool.append(unit)
    locks = _Lockability(requirements, target)
    groups = _grouped(pool, locks, proposal.refused)
    suited = [u for u in units if u.name not in homeless]
    _place_groups(groups, suited, config, locks, proposal)
    proposal.placements.sort(key=lambda p: p.unit)
    return proposal


# -- 1 and 2: retired, kept on the host -----------------------------------------------------


def _set_aside(unit: Unit, units: list[Unit]) -> Placement | None:
    why = evidence.old_world(unit)
    if why:
        return Placement(unit.name, RETIRE, reasons=[why])
    original = evidence.copy_of(unit, units)
    if original is not None:
        return Placement(unit.name, RETIRE, reasons=[evidence.copy_reason(unit, original, "same code")])
    why = evidence.host_bound(unit)
    if why:
        return Placement(unit.name, KEEP_ON_HOST, reasons=[why])
    return None


# -- 3: grouping -------------------------------------------------------------------------


def _grouped(pool: list[Unit], locks: _Lockability, refused: list[str]) -> list[_Group]:
    groups = {u.name: _Group([u]) for u in pool}
    home = {u.name: u.name for u in pool}  # unit -> key of its group

    def join(a: Unit, b: Unit, why_a: str, why_b: str, check: bool) -> bool:
        ga, gb = home[a.name], home[b.name]
        if ga == gb:
            return True
        both = groups[ga].units + groups[gb].units
        if check:
            found = locks.conflicts(both)
            if found:
                refused.append(f"{a.name} and {b.name} kept apart ({why_a}): pin conflict {found[0]}")
                return False
        keep, gone = (ga, gb) if len(groups[ga].units) >= len(groups[gb].units) else (gb, ga)
        merged = groups[keep]
        merged.units = sorted(both, key=lambda u: u.name)
        for unit, reasons in groups[gone].why.items():
            for reason in reasons:
                merged.note(unit, reason)
        for unit in groups.pop(gone).units:
            home[unit.name] = keep
        merged.note(a.name, why_a)
        merged.note(b.name, why_b)
        return True

    for a, b, why_a, why_b in _same_code(pool):
        join(a, b, why_a, why_b, check=False)
    for a, b, why_a, why_b in _related(pool):
        join(a, b, why_a, why_b, check=True)
    _loners_beside(groups, home, join)
    return sorted(groups.values(), key=lambda g: g.units[0].name)


def _same_code(pool: list[Unit]) -> list[tuple[Unit, Unit, str, str]]:
    edges = []
    by_template: dict[str, list[Unit]] = {}
    by_dir: dict[str, list[Unit]] = {}
    for unit in pool:
        if unitnames.is_instance(unit.name):
            by_template.setdefault(unitnames.template_of(unit.name), []).append(unit)
        if unit.working_directory:
            by_dir.setdefault(unit.working_directory, []).append(unit)
    for template, members in by_template.items():
        for other in members[1:]:
            why = f"an instance of {template}, like {', '.join(m.name for m in members if m is not other)}"
            edges.append((members[0], other, f"an instance of {template}", why))
    for directory, members in by_dir.items():
        for other in members[1:]:
            if evidence.stem(other.name) == evidence.stem(members[0].name):
                continue  # instances: said above
            why = f"runs code from the same WorkingDirectory={directory} as {members[0].name}"
            edges.append((members[0], other, f"shares WorkingDirectory={directory} with {other.name}", why))
    return edges


def _related(pool: list[Unit]) -> list[tuple[Unit, Unit, str, str]]:
    """Name stems, then After=/Requires=/Wants= edges, then one venv: the order they are tried in."""
    by_name = {u.name: u for u in pool}
    edges = []
    for a in pool:
        for b in pool:
            if evidence.belongs_to(evidence.stem(b.name), evidence.stem(a.name)):
                edges.append((a, b, f"{evidence.stem(b.name)} is a part of it (name stem)",
                              f"its name says it is a part of {a.name}"))
    private = _private_dependencies(pool)
    for unit in pool:
        for key, names in (("After", unit.after), ("Requires", unit.requires), ("Wants", unit.wants)):
            for name in names:
                other = by_name.get(name)
                if other is not None and other.name != unit.name and name in private:
                    edges.append((unit, other, f"{key}={other.name}", f"{unit.name} has {key}= on it"))
    by_venv: dict[str, list[Unit]] = {}
    for unit in pool:
        if unit.venv:
            by_venv.setdefault(unit.venv, []).append(unit)
    for venv, members in by_venv.items():
        for other in members[1:]:
            why = f"runs from the venv {venv} ({len(members)} units do), so its requirements are theirs"
            edges.append((members[0], other, why, why))
    return edges


def _private_dependencies(pool: list[Unit]) -> set[str]:
    """Units needed (After=/Requires=/Wants=) by one family of units only (one name stem, its
    parts and instances). A unit many families need, such as a gateway every API Requires=,
    says nothing about where each of them belongs: it orders phases, it does not group."""
    families: dict[str, set[str]] = {}
    stems = sorted({evidence.stem(u.name) for u in pool}, key=len)
    for unit in pool:
        mine = evidence.stem(unit.name)
        family = next((s for s in stems if s == mine or evidence.belongs_to(mine, s)), mine)
        for name in {*unit.after, *unit.requires, *unit.wants}:
            families.setdefault(name, set()).add(family)
    return {name for name, found in families.items() if len(found) == 1}


def _loners_beside(groups: dict[str, _Group], home: dict[str, str], join: Any) -> None:
    """Groups of one unit file that lie beside each other (one parent directory) join when they lock."""
    def files(group: _Group) -> int:
        return len({coverage.unit_file(u.name) for u in group.units})

    by_parent: dict[str, list[Unit]] = {}
    for group in list(groups.values()):
        unit = group.units[0]
        if files(group) == 1 and unit.working_directory:
            by_parent.setdefault(posixpath.dirname(unit.working_directory.rstrip("/")), []).append(unit)
    for parent, members in sorted(by_parent.items()):
        for other in members[1:]:
            why = f"lies beside {members[0].name} in {parent}/ and their requirements lock together"
            join(members[0], other, f"lies beside {other.name} in {parent}/", why, True)


# -- 4: existing suites, new suites, names and phases ------------------------------------------


def _place_groups(groups: list[_Group], suited: list[Unit], config: Config, locks: _Lockability,
                  proposal: Proposal) -> None:
    base = max((s.phase for s in config.suites), default=0) + 1
    taken = {s.name for s in config.suites}
    new: list[tuple[SuiteProposal, _Group]] = []
    joined: dict[str, SuiteProposal] = {}
    for group in groups:
        suite, link = _existing_suite(group, suited, config, locks)
        if suite is not None:
            target = joined.setdefault(suite.name, SuiteProposal(suite.name, suite.phase, [], new=False))
            target.units += _patterns(group)
            for unit in group.units:
                group.note(unit.name, f"joins suite {suite.name}: {link}")
            _placements(group, suite.name, suite.phase, proposal)
            continue
        name = _unique(_name_of(group), taken)
        taken.add(name)
        new.append((SuiteProposal(name, base, _patterns(group), new=True), group))
    _phases(new, config, suited)
    for suite, group in new:
        suite.requirements = locks.count(group.units)
        _placements(group, suite.name, suite.phase, proposal)
    proposal.suites = sorted(joined.values(), key=lambda s: s.name) + sorted((s for s, _ in new),
                                                                            key=lambda s: (s.phase, s.name))


def _existing_suite(group: _Group, suited: list[Unit], config: Config,
                    locks: _Lockability) -> tuple[Suite | None, str]:
    """The one existing suite the group shares code or a venv with, if it locks with it."""
    links: dict[str, str] = {}
    for unit in group.units:
        for other in suited:
            why = _code_link(unit, other)
            if why:
                suite = config.suite_of(other.name)
                if suite is not None:
                    links.setdefault(suite.name, why)
    if len(links) != 1:
        return None, ""
    name, why = next(iter(links.items()))
    suite = next(s for s in config.suites if s.name == name)
    members = [u for u in suited if config.suite_of(u.name) is suite]
    if locks.conflicts(members + group.units, suite.overrides):
        return None, ""
    return suite, why


def _code_link(unit: Unit, other: Unit) -> str | None:
    if unit.working_directory and unit.working_directory == other.working_directory:
        return f"{unit.name} shares WorkingDirectory={unit.working_directory} with {other.name}"
    a, b = evidence.stem(unit.name), evidence.stem(other.name)
    if evidence.belongs_to(a, b):
        return f"{unit.name} is a part of {other.name} (name stem)"
    if evidence.belongs_to(b, a):
        return f"{other.name} is a part of {unit.name} (name stem)"
    if unit.venv and unit.venv == other.venv:
        return f"{unit.name} runs from {other.name}'s venv {unit.venv}"
    return None


def _patterns(group: _Group) -> list[str]:
    return sorted({coverage.unit_file(u.name) for u in group.units})


def _name_of(group: _Group) -> str:
    venvs = {u.venv for u in group.units}
    if len(venvs) == 1 and None not in venvs:
        named = evidence.venv_name(next(iter(venvs)) or "")
        if named:
            return named
    stems = sorted({evidence.stem(u.name) for u in group.units}, key=len)
    if all(s == stems[0] or evidence.belongs_to(s, stems[0]) for s in stems):
        return stems[0]
    parents = {posixpath.dirname((u.working_directory or "").rstrip("/")) for u in group.units}
    if len(parents) == 1 and next(iter(parents)) not in ("", "/"):
        return posixpath.basename(next(iter(parents)))
    return stems[0]


def _unique(name: str, taken: set[str]) -> str:
    """A valid suite name (configschema's pattern) not taken yet."""
    clean = _NAME_OK.sub("-", name.lower()).strip("-_")[:55] or "suite"
    candidate, n = clean, 2
    while candidate in taken:
        candidate, n = f"{clean}-{n}", n + 1
    return candidate


def _phases(new: list[tuple[SuiteProposal, _Group]], config: Config, suited: list[Unit]) -> None:
    """A new suite comes after the new suites holding what its units are After=/Requires=."""
    suite_of_unit = {u.name: s for s, g in new for u in g.units}
    for _ in range(len(new)):
        changed = False
        for suite, group in new:
            for unit in group.units:
                for dep in (*unit.after, *unit.requires):
                    other = suite_of_unit.get(dep)
                    if other is not None and other is not suite and suite.phase <= other.phase:
                        suite.phase, changed = other.phase + 1, True
        if not changed:
            return


def _placements(group: _Group, suite: str, phase: int, proposal: Proposal) -> None:
    dependents: dict[str, list[str]] = {}
    for unit in group.units:
        for dep in (*unit.after, *unit.requires):
            dependents.setdefault(dep, []).append(unit.name)
    for unit in group.units:
        reasons = list(group.why.get(unit.name, [])) or ["alone: nothing ties it to another unit"]
        for note in (evidence.job_note(unit), evidence.setup_note(unit, sorted(dependents.get(unit.name, [])))):
            if note:
                reasons.append(note)
        proposal.placements.append(Placement(unit.name, SUITE, suite, phase, reasons))
