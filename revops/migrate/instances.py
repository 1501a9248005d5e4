"""A template's instances in a migration: one cutover item for numbered instances, as generate
made them one compose service with replicas; one item each for parameter instances.

generate (revops.generate.replica) makes `revflow-worker@1..3` one compose service,
`revflow-worker`, labelled `revops.unit: revflow-worker@.service` with `deploy.replicas: 3`,
when the instance names are numbers and the instances differ only where `%i` stood; any other
instances (names that are parameters, or instances that differ) each get a service of their
own, labelled with the instance's name. The compose file is the judge: a template whose name
labels a service is cut over as that one service, every instance with it.

Pure: units and the compose file's {unit: service} in, plan inputs out.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping, Sequence

from revops import unitnames
from revops.generate import replica
from revops.model import Inventory, Unit

REPLICAS = "replicas (instance names are numbers)"
PER_INSTANCE = "one service per instance (instance names are parameters)"


@dataclasses.dataclass(frozen=True)
class Item:
    """One cutover's unit: a unit, or (instances non-empty) a template standing for its
    instances, which one replicated compose service replaces."""

    unit: Unit
    instances: tuple[str, ...] = ()


def replicated(units: Sequence[Unit], compose_units: Mapping[str, str] | None) -> dict[str, list[Unit]]:
    """{template: its instances among `units`} for each template the compose file has one
    service for (its revops.unit label names the template, not an instance)."""
    groups: dict[str, list[Unit]] = {}
    for unit in units:
        if unitnames.is_instance(unit.name) and compose_units is not None:
            template = unitnames.template_of(unit.name)
            if template in compose_units:
                groups.setdefault(template, []).append(unit)
    return groups


def items(units: Sequence[Unit], compose_units: Mapping[str, str] | None) -> list[Item]:
    """`units` with the instances of each replicated template replaced by one Item (in the
    place of its first instance)."""
    groups = replicated(units, compose_units)
    member_of = {u.name: t for t, members in groups.items() for u in members}
    out, seen = [], set()
    for unit in units:
        template = member_of.get(unit.name)
        if template is None:
            out.append(Item(unit))
        elif template not in seen:
            seen.add(template)
            out.append(Item(merged(template, groups[template]), tuple(u.name for u in groups[template])))
    return out


def merged(template: str, members: Sequence[Unit]) -> Unit:
    """One Unit standing for a template's instances: the first instance's settings (generate
    replicates only instances that differ in nothing but their number), the template's name,
    and the union of their After=/Requires= (their own names dropped)."""
    own = {u.name for u in members}

    def union(attr: str) -> list[str]:
        return list(dict.fromkeys(d for u in members for d in getattr(u, attr) if d not in own))

    return dataclasses.replace(members[0], name=template, after=union("after"), requires=union("requires"),
                               wants=union("wants"), path=members[0].path)


def member_of(found: Sequence[Item]) -> dict[str, str]:
    """{instance: its template} of the grouped Items."""
    return {name: it.unit.name for it in found for name in it.instances}


def deps_on_groups(unit: Unit, members: Mapping[str, str]) -> Unit:
    """`unit` with its After=/Requires= on an instance of a replicated template read as on the
    template's item (`members`: member_of), which cuts over all its instances at once."""
    if not any(d in members for d in (*unit.after, *unit.requires)):
        return unit

    def mapped(names: list[str]) -> list[str]:
        return list(dict.fromkeys(members.get(d, d) for d in names))

    return dataclasses.replace(unit, after=mapped(unit.after), requires=mapped(unit.requires))


def of(inventory: Inventory, template: str, compose_units: Mapping[str, str] | None = None) -> Item | None:
    """The Item of `template` from the inventory's live instances (not masked), or None when
    it names no template with instances (or the compose file, when given, has no service for it)."""
    if not unitnames.is_template(template) or (compose_units is not None and template not in compose_units):
        return None
    members = [u for u in inventory.units if unitnames.is_instance(u.name) and not u.masked
               and unitnames.template_of(u.name) == template]
    if not members:
        return None
    return Item(merged(template, members), tuple(u.name for u in members))


def compose_name(template: str) -> str:
    """The compose service generate names for a replicated template: its prefix, in compose's
    characters ("revflow-worker@.service" -> "revflow-worker")."""
    return re.sub(r"[^a-zA-Z0-9._-]", "-", unitnames.prefix(template))


def words(unit: str, instances: Sequence[str]) -> str | None:
    """What the plan says of an instance's item: REPLICAS for a replicated template,
    PER_INSTANCE for an instance cut over alone, None for any other unit."""
    if instances:
        return REPLICAS
    if not unitnames.is_instance(unit):
        return None
    return PER_INSTANCE if not (unitnames.instance(unit) or "").isdigit() else NUMBERED_APART


# Numbered instances generate did not replicate (they publish a port, or differ beyond their
# number: its notes say which).
NUMBERED_APART = "one service per instance (numbered, but generate gave each its own service: see its notes)"


def unwrap(command: Sequence[str]) -> list[str]:
    """The instances' argv inside a replica's command (generate's wrapper, replica.command:
    `PYTHON -c REPLICA_SCRIPT NAME... -- ARGV`), with %i as the first replica's number, 1: what
    the import check checks. Any other command is returned as it is."""
    words = list(command)
    if len(words) > 3 and words[1] == "-c" and words[2] == replica.REPLICA_SCRIPT and "--" in words[3:]:
        rest = words[words.index("--", 3) + 1:]
        return [w.replace(replica.PLACEHOLDER, "1") for w in rest] or words
    return words
