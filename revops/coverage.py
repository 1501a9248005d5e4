"""Coverage: how many live units of the host have a destination, and which have none.

A destination is what revops.yaml decides for a unit: a suite and its phase (it moves into a
container), `retire:` (an old-world unit, stopped once no unit runs from a venv) or
`keep_on_host:` (it stays under systemd, for the reason given). Deprecated and masked units
are not live: they are retired already, by `deprecated:` (quick-wins stops them) or by the
mask. A template listed without instances runs nothing, so it is not live either.

Units are counted as unit files: the instances of one template (revflow-worker@1..3) are one
unit file and count once; they are covered when every instance is. Pure: data in, data out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revops import unitnames
from revops.config import Config
from revops.model import Inventory, Unit

SUITE = "suite"
RETIRE = "retire"
KEEP_ON_HOST = "keep-on-host"


@dataclass(frozen=True)
class Destination:
    unit: str  # the unit name (an instance keeps its own name)
    kind: str | None  # suite, retire, keep-on-host; None when it has none
    suite: str | None = None
    phase: int | None = None
    reason: str | None = None  # retire: and keep_on_host:'s words

    def describe(self) -> str:
        if self.kind == SUITE:
            return f"suite {self.suite}, phase {self.phase}"
        if self.kind is None:
            return "no destination"
        return f"{self.kind}: {self.reason}"


@dataclass
class Coverage:
    live: int  # live unit files
    covered: int  # of which have a destination
    destinations: list[Destination] = field(default_factory=list)  # every live unit
    not_live: list[tuple[str, str]] = field(default_factory=list)  # (unit, why: deprecated, masked, ...)

    @property
    def uncovered(self) -> list[str]:
        return [d.unit for d in self.destinations if d.kind is None]

    @property
    def complete(self) -> bool:
        return self.covered == self.live

    def figure(self) -> str:
        """"147 of 147 live units have a destination" (unit files: a template's instances count once)."""
        return f"{self.covered} of {self.live} live units have a destination"

    def counts(self) -> dict[str, int]:
        """Live unit files by destination kind ("none" for those without)."""
        kinds: dict[str, str] = {}
        for d in self.destinations:
            file = unit_file(d.unit)
            kinds[file] = "none" if d.kind is None or kinds.get(file) == "none" else d.kind
        found: dict[str, int] = {}
        for kind in kinds.values():
            found[kind] = found.get(kind, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "live": self.live, "covered": self.covered, "complete": self.complete,
            "counted": "unit files: the instances of one template count once",
            "by_destination": self.counts(),
            "uncovered": self.uncovered,
            "not_live": [{"unit": u, "why": why} for u, why in self.not_live],
        }


def destination(unit_name: str, config: Config) -> Destination:
    """The one answer for a live unit, from revops.yaml as it is now."""
    retired = config.retired(unit_name)
    if retired is not None:
        return Destination(unit_name, RETIRE, reason=retired)
    kept = config.kept_on_host(unit_name)
    if kept is not None:
        return Destination(unit_name, KEEP_ON_HOST, reason=kept)
    suite = config.suite_of(unit_name)
    if suite is not None:
        return Destination(unit_name, SUITE, suite.name, suite.phase)
    return Destination(unit_name, None)


def not_live_reason(unit: Unit, config: Config) -> str | None:
    """Why a unit of the inventory is not live (deprecated, masked, a bare template), or None."""
    if unit.deprecated or config.is_deprecated(unit.name):
        return "deprecated"
    if unit.masked:
        return "masked"
    if unit.template or unitnames.is_template(unit.name):
        return "template without enabled instances"
    return None


def unit_file(name: str) -> str:
    """The unit file a unit comes from: its template for an instance."""
    return unitnames.template_of(name) if unitnames.is_instance(name) else name


def measure(inventory: Inventory, config: Config) -> Coverage:
    """Every live unit's destination, and the figure counted by unit file."""
    result = Coverage(0, 0)
    files: dict[str, bool] = {}
    for unit in sorted(inventory.units, key=lambda u: u.name):
        why = not_live_reason(unit, config)
        if why is not None:
            result.not_live.append((unit.name, why))
            continue
        dest = destination(unit.name, config)
        result.destinations.append(dest)
        key = unit_file(unit.name)
        files[key] = files.get(key, True) and dest.kind is not None
    result.live = len(files)
    result.covered = sum(files.values())
    return result
