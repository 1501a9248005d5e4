"""Pure: which container is which instance's, when a template's numbered instances run as one
replicated compose service.

generate (revops.generate.replica) makes `revflow-worker@1..3` one compose service labelled
`revops.unit: revflow-worker@.service` (the template) with `deploy.replicas: 3`; replica N
takes the number where the unit had `%i`. Compose (v1 and v2 alike) labels each container of a
service with its number, `com.docker.compose.container-number` (a `compose run` container
with `com.docker.compose.oneoff: True`), so instance N's container is the template's replica
whose number label is N: never another replica's, and none when the engine has no such one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping

from revops import unitnames

if TYPE_CHECKING:
    from revops.adapters.docker_engine import ContainerSummary
    from revops.model import Unit

UNIT_LABEL = "revops.unit"
NUMBER_LABEL = "com.docker.compose.container-number"  # compose v1 and v2
ONEOFF_LABEL = "com.docker.compose.oneoff"  # "True" on a `compose run` container


MAX_DIGITS = 9  # a replica number compose writes is small; a longer label is no number of it


def number_of(text: str) -> int | None:
    """The replica number `text` spells as compose writes one (ASCII digits, no leading zero, at
    most MAX_DIGITS: int() of a label of thousands of digits raises), else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS) or text != str(int(text)):
        return None
    return int(text)


@dataclass
class ReplicaSet:
    """The containers of one template's compose service: the newest per replica number, those
    that carry the template's label but no number compose writes (not made by compose), and
    the older ones of a number another container has too (never read for an instance)."""

    template: str
    by_number: dict[int, ContainerSummary] = field(default_factory=dict)
    unnumbered: list[ContainerSummary] = field(default_factory=list)
    duplicates: list[ContainerSummary] = field(default_factory=list)

    @property
    def numbers(self) -> list[int]:
        return sorted(self.by_number)


def numbered_instance(name: str) -> tuple[str, int] | None:
    """(template, N) for a numbered instance ("w@2.service" -> ("w@.service", 2)); else None."""
    if not unitnames.is_instance(name):
        return None
    number = unitnames.instance(name) or ""
    if not (number.isascii() and number.isdigit() and len(number) <= MAX_DIGITS):
        return None  # (an inventory is untrusted: int() of thousands of digits raises)
    return unitnames.template_of(name), int(number)


def sets(listed: Iterable[ContainerSummary]) -> dict[str, ReplicaSet]:
    """{template: its ReplicaSet} of the containers labelled with a template unit; `listed`
    newest first (as the engine lists), so the first container of a number wins."""
    found: dict[str, ReplicaSet] = {}
    for c in listed:
        labels = c.labels or {}
        template = labels.get(UNIT_LABEL)
        if not template or not unitnames.is_template(template) or labels.get(ONEOFF_LABEL) == "True":
            continue
        group = found.setdefault(template, ReplicaSet(template))
        number = number_of(labels.get(NUMBER_LABEL) or "")
        if number is None:
            group.unnumbered.append(c)
        elif number in group.by_number:
            group.duplicates.append(c)
        else:
            group.by_number[number] = c
    return found


def expected(units: Iterable[Unit]) -> dict[str, frozenset[int]]:
    """{template: the numbers of its live instances}: the replicas the host's instances account
    for (masked instances are not live). Read from the whole inventory, whatever status' scope."""
    numbers: dict[str, set[int]] = {}
    for unit in units:
        found = numbered_instance(unit.name)
        if found is not None and not unit.masked:
            numbers.setdefault(found[0], set()).add(found[1])
    return {template: frozenset(n) for template, n in numbers.items()}


@dataclass(frozen=True)
class Claim:
    """What status says of one instance whose template has containers: its replica (None when
    the engine has none of its number) and the rest of the service's replicas."""

    template: str
    number: int
    container: ContainerSummary | None
    numbers: list[int]  # every replica number the engine has of the template's service
    extra: list[str]  # containers whose number no live instance has (or that have none, or a number taken)
    reason: str | None  # why there is no container, when there is none


def claims(names: Iterable[str], groups: Mapping[str, ReplicaSet],
           live: Mapping[str, frozenset[int]]) -> dict[str, Claim]:
    """{instance: its Claim} for each numbered instance among `names` whose template labels
    containers; `live` is expected()'s (a template it lacks: the instances among `names`)."""
    asked = [(name, found) for name in names if (found := numbered_instance(name)) and found[0] in groups]
    out: dict[str, Claim] = {}
    for name, (template, number) in asked:
        group = groups[template]
        accounted = live.get(template) or frozenset(n for _, (t, n) in asked if t == template)
        extra = [c.name for n, c in sorted(group.by_number.items()) if n not in accounted]
        extra += [c.name for c in (*group.unnumbered, *group.duplicates)]
        container = group.by_number.get(number)
        out[name] = Claim(template, number, container, group.numbers, extra,
                          None if container is not None else _missing(group, number))
    return out


def _missing(group: ReplicaSet, number: int) -> str:
    has = ", ".join(map(str, group.numbers)) or "none"
    why = f"no replica {number} of {group.template}'s service (the engine has replica {has})"
    if group.unnumbered:
        why += f"; {len(group.unnumbered)} of its containers carry no {NUMBER_LABEL} label"
    return why
