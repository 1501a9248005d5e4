"""One suite's input: the services' requirements merged, conflicts found, overrides applied.

Pure data in, data out. The rendered `<suite>.in` says, beside each requirement, which
services asked for it and with which pin, so a reviewer sees why every line is there.

Markers are judged for the target interpreter (revops.lock.target): a pin whose marker does
not hold there is not part of the lock (it is named in the input as such) and cannot clash
with the pins that do; a pin whose marker holds keeps it, so the lock carries the guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from revops.lock import specs
from revops.lock.sources import LocalProject, ServiceRequirements, Wanted
from revops.lock.target import Target, running


@dataclass
class Side:
    """One way a distribution was asked for, and who asked for it that way."""

    pin: str  # the requirement as written: "requests==2.31.0"
    services: list[str]
    origins: list[str]


@dataclass
class Conflict:
    """Pins of one distribution that no single version satisfies."""

    dist: str
    sides: list[Side]  # two sides for a pairwise conflict, more when only the set as a whole fails

    def describe(self) -> str:
        text = " vs ".join(f"{side.pin} ({', '.join(side.services)})" for side in self.sides)
        return f"{self.dist}: {text}"


@dataclass
class OverrideApplied:
    dist: str
    spec: str  # "==2.32.4"
    replaced: list[Side]
    settled_conflict: bool


@dataclass
class Line:
    """One requirement of the merged input."""

    requirement: str  # "requests==2.32.4"
    sides: list[Side]
    override: OverrideApplied | None = None
    elsewhere: list[Side] = field(default_factory=list)  # pins whose marker is false for the target

    @property
    def requirement_name(self) -> str:
        return canonicalize_name(Requirement(self.requirement).name)


@dataclass
class NotForTarget:
    """A distribution asked for only under markers false for the target: not locked."""

    dist: str
    sides: list[Side]


@dataclass
class LocalLine:
    """A local project of the suite (one per directory or archive, whoever asks for it)."""

    host_path: str
    real: str
    digest: str
    extras: tuple[str, ...]
    marker: str | None
    asked: list[tuple[str, str, str]]  # (service, origin, line as written)

    def suffix(self) -> str:
        """What follows the name in a requirement: "[cli]; python_version >= \"3.8\""."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return extras + (f"; {self.marker}" if self.marker else "")


@dataclass
class Merged:
    suite: str
    target: Target = field(default_factory=lambda: running())
    lines: list[Line] = field(default_factory=list)
    not_for_target: list[NotForTarget] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    overrides: list[OverrideApplied] = field(default_factory=list)
    unused_overrides: list[str] = field(default_factory=list)
    constraints: list[Side] = field(default_factory=list)  # from -c files, for the target only
    local: list[LocalLine] = field(default_factory=list)  # built into wheels at lock time


def _sides(wanted: list[Wanted]) -> list[Side]:
    by_pin: dict[str, Side] = {}
    for item in sorted(wanted, key=lambda w: (w.service, w.requirement, w.origin)):
        side = by_pin.setdefault(item.requirement, Side(item.requirement, [], []))
        if item.service not in side.services:
            side.services.append(item.service)
        side.origins.append(item.origin)
    # Ordered by the first service asking, so the .in reads in service order.
    return sorted(by_pin.values(), key=lambda side: (side.services[0], side.pin))


def find_conflicts(dist: str, wanted: list[Wanted]) -> list[Conflict]:
    """Every pair of pins that cannot live together; else the whole set, if it cannot.

    `wanted` holds only pins whose markers hold for the target (see merge()).
    """
    sides = _sides(wanted)
    spec_of = {side.pin: Requirement(side.pin).specifier for side in sides}
    pairs = [Conflict(dist, [a, b]) for a, b in combinations(sides, 2)
             if not specs.compatible(spec_of[a.pin], spec_of[b.pin])]
    if pairs or specs.compatible(*spec_of.values()):
        return pairs
    return [Conflict(dist, sides)]


def _combined(dist: str, wanted: list[Wanted], spec_text: str | None = None) -> str:
    reqs = [w.parsed for w in wanted]
    extras = sorted(set().union(*(r.extras for r in reqs)))
    if spec_text is None:
        spec_text = str(SpecifierSet(",".join(str(r.specifier) for r in reqs if str(r.specifier))))
    text = dist + (f"[{','.join(extras)}]" if extras else "") + spec_text
    markers = {str(r.marker) if r.marker is not None else None for r in reqs}
    if None not in markers:
        text += "; " + " or ".join(f"({m})" if len(markers) > 1 else m for m in sorted(markers))
    return text


def merge(suite: str, services: list[ServiceRequirements], overrides: tuple[tuple[str, str], ...] = (),
          target: Target | None = None) -> Merged:
    """Merge the services of one suite for `target` (default: the running interpreter);
    conflicts settled by an override are not conflicts."""
    result = Merged(suite, target or running())
    by_dist: dict[str, list[Wanted]] = {}
    for service in services:
        for item in service.wanted:
            by_dist.setdefault(item.name, []).append(item)
    override_of = {canonicalize_name(dist): spec for dist, spec in overrides}
    for dist in sorted(by_dist):
        wanted = [w for w in by_dist[dist] if result.target.applies(w.parsed.marker)]
        elsewhere = _sides([w for w in by_dist[dist] if w not in wanted])
        if not wanted:
            result.not_for_target.append(NotForTarget(dist, elsewhere))
            continue
        conflicts = find_conflicts(dist, wanted)
        if dist in override_of:
            applied = OverrideApplied(dist, override_of[dist], _sides(wanted), settled_conflict=bool(conflicts))
            result.overrides.append(applied)
            result.lines.append(Line(_combined(dist, wanted, override_of[dist]), applied.replaced, applied, elsewhere))
            continue
        result.conflicts.extend(conflicts)
        result.lines.append(Line(_combined(dist, wanted), _sides(wanted), elsewhere=elsewhere))
    result.unused_overrides = sorted(set(override_of) - {line.requirement_name for line in result.lines})
    constraints = [c for service in services for c in service.constraints if result.target.applies(c.parsed.marker)]
    result.constraints = sorted(_sides(constraints), key=lambda side: (canonicalize_name(Requirement(side.pin).name),
                                                                       side.pin))
    result.local = _local_lines([x for service in services for x in service.local
                                 if result.target.applies(Marker(x.marker) if x.marker else None)])
    return result


def _local_lines(asked: list[LocalProject]) -> list[LocalLine]:
    by_path: dict[str, list[LocalProject]] = {}
    for item in asked:
        by_path.setdefault(item.host_path, []).append(item)
    lines = []
    for host_path, items in sorted(by_path.items()):
        markers = {item.marker for item in items}
        marker = None if None in markers else " or ".join(
            f"({m})" if len(markers) > 1 else m for m in sorted(markers))  # type: ignore[arg-type]
        extras = tuple(sorted(set().union(*(item.extras for item in items))))
        who = sorted((item.service, item.origin, item.written) for item in items)
        lines.append(LocalLine(host_path, items[0].real, items[0].digest, extras, marker, who))
    return lines


CONSTRAINTS_FILE = "constraints.txt"


def resolver_input(merged: Merged, input_text: str, wheels: dict[str, tuple[str, str]] | None = None
                   ) -> tuple[str, dict[str, str]]:
    """What the resolver reads: the `.in` text, plus a `-c` file holding the services' constraints
    and a direct reference to each local project's wheel (the `.in` lists both as comments, so
    its digest covers them). wheels: host path of a local project -> (name, file: URL of its wheel).
    Returns (text, extra files)."""
    text, files = input_text, {}
    for line in merged.local:
        name, url = (wheels or {})[line.host_path]
        extras, _, marker = line.suffix().partition("; ")
        text += f"{name}{extras} @ {url}" + (f" ; {marker}" if marker else "") + "\n"
    if merged.constraints:
        files[CONSTRAINTS_FILE] = "".join(f"{side.pin}\n" for side in merged.constraints)
        text += f"-c {CONSTRAINTS_FILE}\n"
    return text, files


def render_in(merged: Merged, services: list[ServiceRequirements], lockfile_name: str) -> str:
    """The text of `<suite>.in`: deterministic, every requirement explained."""
    out = [
        f"# Input of {lockfile_name} for suite {merged.suite}, merged by `revops lock`.",
        "# Do not edit: change a service's requirements.txt, or the suite's overrides in revops.yaml.",
        # The version is part of the input: a new target changes this file, so the suite is re-locked.
        f"# Target: Python {merged.target.version}; markers are judged for it.",
        "# Sources:",
    ]
    for service in sorted(services, key=lambda s: s.service):
        where = service.source_path or f"({service.notes[0] if service.notes else 'nothing found'})"
        out.append(f"#   {service.service}: {service.source} {where}")
    for line in merged.lines:
        out.append(line.requirement)
        if line.override is not None:
            why = "settles a conflict" if line.override.settled_conflict else "no conflict to settle"
            out.append(f"    # override {line.override.spec} from revops.yaml suites.{merged.suite}.overrides ({why}); replaced:")
        # One line per service: a service's change shows as a one-line diff in review.
        asked = sorted((service, side.pin) for side in line.sides for service in side.services)
        out.extend(f"    # {service}: {pin}" for service, pin in asked)
        out.extend(_elsewhere(line.elsewhere, merged.target))
    if merged.local:
        out.append("# Local projects, built into wheels by `revops lock` (into paths.wheelhouse) and pinned by hash:")
        for line in merged.local:
            out.append(f"#   {line.host_path}{line.suffix()} (files sha256:{line.digest})")
            out.extend(f"    # {service}: {written} ({origin})" for service, origin, written in line.asked)
    if merged.constraints:
        out.append("# Constraints from the services' -c files (they narrow versions and add no package):")
        for side in merged.constraints:
            out.append(f"#   {side.pin}  ({', '.join(side.services)}: {', '.join(side.origins)})")
    if merged.not_for_target:
        out.append(f"# Not locked: asked for only where a marker is false for Python {merged.target.version}:")
        for item in merged.not_for_target:
            out.extend(_elsewhere(item.sides, merged.target))
    return "\n".join(out) + "\n"


def _elsewhere(sides: list[Side], target: Target) -> list[str]:
    asked = sorted((service, side.pin) for side in sides for service in side.services)
    return [f"    # {service}: {pin} (marker false for Python {target.version})" for service, pin in asked]


