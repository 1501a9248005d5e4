"""Published ports as compose normalises them, and what the engine would refuse to bind.

A published port is a (host address, host port, protocol) triple. Compose reads the short
syntax `[HOST_IP:][HOST:]CONTAINER[/PROTOCOL]` (HOST and CONTAINER a port or a range such as
8000-8010; IPv6 addresses bare (`::1:6000:6000`) or in brackets) and the long syntax (target,
published, host_ip, protocol); compose-spec 05-services.md, "ports". The protocol defaults to
tcp. A HOST range onto a single CONTAINER port lets the engine pick one free port in the range.

What the engine refuses (seen on the test bed's Docker 20.10 through docker-compose 1.29, and
kept as tests/validate/test_validate_ports_realstack.py): the same host port and protocol on
addresses that overlap. Addresses overlap when they are equal or one is the wildcard of the
other's family (0.0.0.0 for IPv4, :: for IPv6). No host address at all binds both wildcards,
0.0.0.0 and ::. tcp and udp never clash; 127.0.0.1 and ::1 never clash; :: and 0.0.0.0 do not. A host range
onto one container port may clash (a warning) with a fixed port inside it: which port the
range gets depends on the order the services start in.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable

from revops.validate.documents import ComposeDoc
from revops.validate.findings import ERROR, WARNING, Finding
from revops.validate.registry import Context, rule, service_key

ANY_V4 = (4, "0.0.0.0")
ANY_V6 = (6, "::")
WILDCARDS = (ANY_V4, ANY_V6)


@dataclass(frozen=True)
class Published:
    """One entry of a service's `ports` that binds a host port."""

    index: int  # position in the service's ports list
    host_ip: str | None  # as written, brackets removed; None: every address
    first: int  # host ports first..last
    last: int
    target: int | None  # the container port (the first of a range)
    protocol: str  # tcp, udp, sctp
    dynamic: bool  # a host range onto one container port: the engine picks one port in it

    @property
    def addresses(self) -> tuple[tuple[int, str], ...]:
        """(family, address) pairs the engine binds: family 0 for text that is not an address."""
        if self.host_ip is None or self.host_ip == "":
            return WILDCARDS
        try:
            ip = ipaddress.ip_address(self.host_ip)
        except ValueError:
            return ((0, self.host_ip),)
        return ((ip.version, str(ip)),)

    def spec(self) -> str:
        ports = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{_address_text(self.host_ip)}:{ports}/{self.protocol}"


def published(svc: dict[str, Any]) -> list[Published]:
    """The entries of a service's ports that bind host ports, short or long syntax.

    An entry with no host port (the engine picks a random one), or one compose would
    interpolate (`${PORT}:80`), binds nothing revops can know and is left out.
    """
    entries = svc.get("ports")
    found: list[Published] = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        item = _long(index, entry) if isinstance(entry, dict) else _short(index, entry)
        if item is not None:
            found.append(item)
    return found


def _long(index: int, entry: dict[str, Any]) -> Published | None:
    host = entry.get("published")
    if host is None or "$" in str(host):
        return None
    span = _range(str(host))
    target = _int(entry.get("target"))
    if span is None:
        return None
    host_ip = entry.get("host_ip")
    host_ip = None if host_ip is None else str(host_ip).strip("[]")
    protocol = str(entry.get("protocol") or "tcp").lower()
    return Published(index, host_ip, span[0], span[1], target, protocol, dynamic=span[0] != span[1])


def _short(index: int, entry: Any) -> Published | None:
    if isinstance(entry, (int, float)) or not isinstance(entry, str) or "$" in entry:
        return None  # a bare number is a container port only (YAML reads unquoted 22:22 as one)
    text, _, protocol = entry.strip().partition("/")
    protocol = (protocol or "tcp").lower()
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        parts = [address] + rest.lstrip(":").split(":")
    else:
        fields = text.split(":")
        parts = fields if len(fields) <= 3 else [":".join(fields[:-2])] + fields[-2:]
    if len(parts) < 2:
        return None
    host_ip = parts[0] if len(parts) == 3 else None
    host, container = _range(parts[-2]), _range(parts[-1])
    if host is None or container is None:
        return None
    dynamic = host[0] != host[1] and container[0] == container[1]
    return Published(index, host_ip, host[0], host[1], container[0], protocol, dynamic)


def _range(text: str) -> tuple[int, int] | None:
    low, _, high = text.strip().partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        return None
    first, last = int(low), int(high or low)
    return (first, last) if first <= last else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _address_text(host_ip: str | None) -> str:
    if host_ip is None:
        return "*"
    return f"[{host_ip}]" if ":" in host_ip else host_ip


def overlap(a: Published, b: Published) -> bool:
    """True when a and b bind at least one common (address, port, protocol)."""
    if a.protocol != b.protocol or a.last < b.first or b.last < a.first:
        return False
    return any(_same_socket(x, y) for x in a.addresses for y in b.addresses)


def _same_socket(x: tuple[int, str], y: tuple[int, str]) -> bool:
    return x == y or (x[0] == y[0] != 0 and (x in WILDCARDS or y in WILDCARDS))


@dataclass(frozen=True)
class Clash:
    service: str
    entry: Published
    other_service: str
    other: Published
    certain: bool  # False: a dynamic range that the engine may or may not place on the clash


def clashes(services: Iterable[tuple[str, list[Published]]]) -> list[Clash]:
    """Pairs of entries (in file order, the later one first) whose bindings the engine refuses.

    Two fixed bindings that overlap always clash. A dynamic range (the engine picks one free
    port in it) against a fixed port inside it clashes for certain when fixed bindings cover
    every port of the range, and may clash otherwise: compose starts services in no set order,
    and a range that starts first may be handed the port the fixed binding needs (seen on the
    test bed, where the same file started once and failed once). Two dynamic ranges clash only
    across addresses (a wildcard and a specific one): the allocator keys ports by address.
    """
    seen: list[tuple[str, Published]] = []
    found: list[Clash] = []
    for name, entries in services:
        for entry in entries:
            for other_name, other in seen:
                if not overlap(entry, other):
                    continue
                if not entry.dynamic and not other.dynamic:
                    found.append(Clash(name, entry, other_name, other, True))
                elif entry.dynamic and other.dynamic:
                    if _across_addresses(entry, other):  # on the same address the allocator places both
                        found.append(Clash(name, entry, other_name, other, False))
                else:
                    ranged = entry if entry.dynamic else other
                    found.append(Clash(name, entry, other_name, other, _covered(ranged, seen + [(name, entry)])))
            seen.append((name, entry))
    return found


def _covered(ranged: Published, bindings: list[tuple[str, Published]]) -> bool:
    taken: set[int] = set()
    for _, other in bindings:
        if other is not ranged and not other.dynamic and overlap(ranged, other):
            taken.update(range(max(other.first, ranged.first), min(other.last, ranged.last) + 1))
    return len(taken) == ranged.last - ranged.first + 1


def _across_addresses(a: Published, b: Published) -> bool:
    """True when a and b overlap only through a wildcard and a specific address: the engine's
    allocator, which keys ports by address, then does not see one from the other."""
    return any(x != y and _same_socket(x, y) for x in a.addresses for y in b.addresses)


def _common(a: Published, b: Published) -> str:
    first, last = max(a.first, b.first), min(a.last, b.last)
    return str(first) if first == last else f"{first}-{last}"


@rule("port-conflict", ERROR, "no two published ports bind the same host address, port and protocol "
      "(overlapping addresses: equal, or the wildcard of the same family)")
def port_conflict(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for clash in clashes((name, published(svc)) for name, svc in doc.services().items()):
        whose = "it" if clash.other_service == clash.service else clash.other_service
        ports = f"host port {_common(clash.entry, clash.other)}/{clash.entry.protocol}"
        where = f"{clash.entry.spec()} and {whose}'s {clash.other.spec()} (ports[{clash.other.index}])"
        if clash.certain:
            message = f"{ports} is bound twice: {where} overlap, and the engine refuses the second"
        else:
            message = (f"{ports} may be bound twice: {where} overlap, and which port the engine hands a "
                       "range depends on the order the services start in")
        found.append(doc.finding(clash.service, service_key(clash.service, "ports", str(clash.entry.index)),
                                 "port-conflict", ERROR if clash.certain else WARNING, message))
    return found


@rule("ports-api-only", ERROR, "only API ports are published: the one a service declares with label revops.port")
def ports_api_only(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        api = _int(labels(svc).get("revops.port"))
        for entry in published(svc):
            if api is None or entry.target != api:
                what = f"declares API port {api}" if api is not None else "declares no API port (label revops.port)"
                found.append(doc.finding(name, service_key(name, "ports", str(entry.index)), "ports-api-only", ERROR,
                                         f"publishes container port {entry.target} but {what}: "
                                         "workers and internal ports stay on the network"))
    return found


@rule("ports-all-interfaces", ERROR, "published ports name the address they bind, 127.0.0.1 by default (CIS 5.14)")
def ports_all_interfaces(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    """Not for a stack file: Swarm publishes on every interface of a node whatever the file
    says (rule stack-port-public tells where instead)."""
    if doc.stack:
        return []
    found = []
    for name, svc in doc.services().items():
        for entry in published(svc):
            if any(address in WILDCARDS for address in entry.addresses):
                found.append(doc.finding(name, service_key(name, "ports", str(entry.index)), "ports-all-interfaces",
                                         ERROR, f"host port {entry.spec()} is published on all interfaces; bind it "
                                         "to an address such as 127.0.0.1 (CIS Docker Benchmark 5.14)"))
    return found


def labels(svc: dict[str, Any]) -> dict[str, str]:
    found = svc.get("labels") or {}
    if isinstance(found, list):
        return dict(str(item).split("=", 1) if "=" in str(item) else (str(item), "") for item in found)
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
