"""Published ports as (host address, host port, protocol) triples, and what clashes.

PAIRS is the table the real engine is asked about too (test_validate_ports_realstack.py): each
row is two services' port entries, with {p0}..{p20} standing for consecutive host ports, and
what the engine does with both: "clash" (it refuses the second), "may" (it depends on what its
allocator hands out; a warning), or None (both start).
"""

from pathlib import Path

import pytest

from revops.validate import ports, validate
from revops.validate.findings import ERROR, WARNING
from revops.validate.rules import Context

CASES = Path(__file__).parent / "cases"

PAIRS = [
    # the case: same address and port, tcp against udp
    ("127.0.0.1:{p0}:5353/tcp", "127.0.0.1:{p0}:5353/udp", None),
    ("127.0.0.1:{p0}:5353", "127.0.0.1:{p0}:5353", "clash"),
    ("0.0.0.0:{p0}:5353", "127.0.0.1:{p0}:5353", "clash"),
    ("{p0}:5353", "127.0.0.1:{p0}:5353", "clash"),
    ("127.0.0.2:{p0}:5353", "127.0.0.1:{p0}:5353", None),
    ("{p0}:5353/udp", "127.0.0.1:{p0}:5353/udp", "clash"),
    # IPv6: no address binds :: as well as 0.0.0.0; :: and 0.0.0.0 are separate sockets
    ("[::1]:{p0}:5353", "127.0.0.1:{p0}:5353", None),
    ("[::]:{p0}:5353", "127.0.0.1:{p0}:5353", None),
    ("[::]:{p0}:5353", "0.0.0.0:{p0}:5353", None),
    ("0.0.0.0:{p0}:5353", "[::1]:{p0}:5353", None),
    ("{p0}:5353", "[::1]:{p0}:5353", "clash"),
    ("[::]:{p0}:5353", "[::1]:{p0}:5353", "clash"),
    ("::1:{p0}:5353", "[::1]:{p0}:5353", "clash"),  # bare IPv6, as compose reads it
    ("::1:{p0}:5353", "127.0.0.1:{p0}:5353", None),
    # ranges
    ("{p0}-{p10}:8000-8010", "127.0.0.1:{p5}:8005", "clash"),
    ("{p0}-{p10}:8000-8010", "{p11}:8011", None),
    ("{p0}-{p2}:80", "{p0}:80", "may"),  # the range may be handed {p0} before the fixed binding starts
    ("{p0}-{p2}:80", "{p0}-{p2}:81", None),  # the allocator places both
    ("{p0}-{p2}:80", "127.0.0.1:{p0}-{p2}:81", "may"),  # it keys ports by address
    ("127.0.0.1:{p0}-{p1}:80", "127.0.0.1:{p0}-{p1}:8000-8001", "clash"),  # every port of the range taken
    ("{p0}-{p2}:80", "127.0.0.1:{p0}:80", "may"),
    # long syntax (host_ip is the compose spec's: docker-compose 1.29 rejects it)
    ({"target": 5353, "published": "{p0}", "protocol": "udp"}, "127.0.0.1:{p0}:5353/tcp", None),
    ({"target": 53, "published": "{p0}"}, "127.0.0.1:{p0}:53", "clash"),
    ({"target": 5353, "published": "{p0}", "host_ip": "127.0.0.1", "protocol": "udp"}, "127.0.0.1:{p0}:5353/tcp", None),
    ({"target": 53, "published": "{p0}", "host_ip": "127.0.0.1"}, "127.0.0.1:{p0}:53", "clash"),
    # no host port: the engine picks a free one
    ("5353", "{p0}:5353", None),
]


def fill(entry, base: int):
    names = {f"p{i}": base + i for i in range(21)}
    if isinstance(entry, dict):
        return {k: v.format(**names) if isinstance(v, str) else v for k, v in entry.items()}
    return entry.format(**names)


def verdict(a, b) -> str | None:
    services = [("a", ports.published({"ports": [a]})), ("b", ports.published({"ports": [b]}))]
    found = ports.clashes(services)
    if not found:
        return None
    return "clash" if any(c.certain for c in found) else "may"


@pytest.mark.parametrize("a, b, expected", PAIRS)
def test_what_the_engine_would_refuse(a, b, expected):
    assert verdict(fill(a, 5000), fill(b, 5000)) == expected
    assert verdict(fill(b, 5000), fill(a, 5000)) == expected  # whichever comes first in the file


@pytest.mark.parametrize("entry, expected", [
    ("127.0.0.1:8550:8550", ("127.0.0.1", 8550, 8550, 8550, "tcp", False)),
    ("8550:8550/UDP", (None, 8550, 8550, 8550, "udp", False)),
    ("[::1]:8000-8010:9000-9010", ("::1", 8000, 8010, 9000, "tcp", False)),
    ("fe80::1:8000:80", ("fe80::1", 8000, 8000, 80, "tcp", False)),
    ("8000-8010:80/tcp", (None, 8000, 8010, 80, "tcp", True)),
    ({"target": 80, "published": 8080, "host_ip": "[::1]"}, ("::1", 8080, 8080, 80, "tcp", False)),
    ({"target": 80, "published": "8080-8090"}, (None, 8080, 8090, 80, "tcp", True)),
])
def test_entries_read_as_compose_reads_them(entry, expected):
    [p] = ports.published({"ports": [entry]})
    assert (p.host_ip, p.first, p.last, p.target, p.protocol, p.dynamic) == expected


@pytest.mark.parametrize("entry", ["8550", 8550, "${PORT}:8550", {"target": 80}, "x:y", "9000-8000:80", None])
def test_entries_that_bind_no_known_host_port(entry):
    assert ports.published({"ports": [entry]}) == []


def test_tcp_and_udp_on_one_address_validate_clean():
    """#14.1: docker-compose config accepts it and the engine starts both."""
    found = validate([CASES / "port-protocols.good.yml"], Context(), externals=False).findings
    assert [f for f in found if f.rule == "port-conflict"] == []


def test_a_clash_names_both_sides_and_the_line():
    [f] = [f for f in validate([CASES / "port-conflict.bad.yml"], Context(), externals=False).findings
           if f.rule == "port-conflict"]
    assert (f.service, f.key, f.severity) == ("worker", "services.worker.ports.0", ERROR)
    assert "8550/tcp" in f.message and "api's 127.0.0.1:8550/tcp (ports[0])" in f.message and f.line


def test_may_clash_is_a_warning(tmp_path):
    compose = tmp_path / "compose.yml"
    compose.write_text('services:\n  a:\n    image: "revflow/a:1"\n    ports: ["127.0.0.1:8000:80"]\n'
                       '  b:\n    image: "revflow/b:1"\n    ports: ["8000-8002:80"]\n')
    [f] = [f for f in validate([compose], Context(), externals=False).findings if f.rule == "port-conflict"]
    assert f.severity == WARNING and "may be bound twice" in f.message


def test_one_service_publishing_a_port_twice(tmp_path):
    compose = tmp_path / "compose.yml"
    compose.write_text('services:\n  a:\n    image: "revflow/a:1"\n    ports: ["127.0.0.1:8000:80", "8000:81"]\n')
    [f] = [f for f in validate([compose], Context(), externals=False).findings if f.rule == "port-conflict"]
    assert f.key == "services.a.ports.1" and "it's" in f.message
