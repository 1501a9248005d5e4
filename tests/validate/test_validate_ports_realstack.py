"""The port-conflict rule against the real engine: every row of test_validate_ports.PAIRS whose
answer is certain ("clash" or None) is started on the test bed's Docker through docker-compose,
and the rule must say "clash" exactly when the engine refuses to start both services.

All rows run as one compose project, each on its own block of host ports (47100 + 25 per row,
published on loopback or wildcard addresses of this host only), so the engine is asked once.
"""

import uuid

import pytest
import yaml

from revops.adapters import compose, docker_engine
from tests.validate.test_validate_ports import PAIRS, fill, verdict

pytestmark = pytest.mark.realstack

BASE_PORT = 47100
# "may" depends on the allocator's history; docker-compose 1.29 rejects host_ip in the long syntax.
ROWS = [(i, a, b, expected) for i, (a, b, expected) in enumerate(PAIRS)
        if expected != "may" and not any(isinstance(e, dict) and "host_ip" in e for e in (a, b))]


@pytest.fixture(scope="module")
def started(testbed, tmp_path_factory):
    """{row: (service a running, service b running)} after one `up -d` of every row."""
    directory = tmp_path_factory.mktemp("ports")
    services = {}
    for i, a, b, _ in ROWS:
        for name, entry in ((f"a{i}", a), (f"b{i}", b)):
            services[name] = {"image": testbed.base_image, "command": ["sleep", "300"],
                              "ports": [fill(entry, BASE_PORT + 25 * i)]}
    path = directory / "ports.yml"
    path.write_text(yaml.safe_dump({"services": services}))
    project = f"revops-ports-{uuid.uuid4().hex[:8]}"
    client = compose.connect(cwd=directory, project=project)
    client.run([path], "up", "-d", check=False)  # exits 1 when the engine refuses a binding
    try:
        engine = docker_engine.connect()
        rows = engine.list_containers([f"com.docker.compose.project={project}"])
        running = {row.labels["com.docker.compose.service"] for row in rows if row.state == "running"}
        yield {i: (f"a{i}" in running, f"b{i}" in running) for i, *_ in ROWS}
    finally:
        client.run([path], "down", "--timeout", "0", check=False)


@pytest.mark.parametrize("row, a, b, expected", ROWS)
def test_rule_agrees_with_the_engine(started, row, a, b, expected):
    both = all(started[row])
    assert any(started[row]), f"row {row}: neither service started, so the row proves nothing"
    assert (not both) == (expected == "clash"), f"row {row}: the engine {'started both' if both else 'refused one'}"
    ports_a, ports_b = fill(a, BASE_PORT + 25 * row), fill(b, BASE_PORT + 25 * row)
    assert verdict(ports_a, ports_b) == expected
