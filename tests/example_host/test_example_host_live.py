"""`example-host --live` against the test bed's real systemd user manager.

The host's 180-odd units occupy the shared user manager while this module runs; the fixture
takes them down again (and checks that it did) whatever the tests found.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

import pytest

from revops.adapters import proc, systemd
from revops.commands import example_host
from revops.example_host import catalog, live

PHASE1_PORTS = {"revcore-gateway": 8004, "revpublish": 8550, "revaudit-v6": 8560, "revscore-iq": 8570}

pytestmark = pytest.mark.realstack


def health(port: int, deadline: float = 30.0) -> tuple[int, bytes]:
    """GET /health on 127.0.0.1 until it answers or the deadline passes."""
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                return reply.status, reply.read()
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > end:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="module")
def live_host(testbed, tmp_path_factory):
    root = tmp_path_factory.mktemp("live-host")
    try:
        result = example_host.run(root, live=True, wheelhouse=testbed.wheelhouse)
        yield root, result
    finally:
        live.teardown(root)
        left = proc.run(["systemctl", "--user", "list-units", "--all", "--no-legend", "--plain", "rev*"],
                        env=os.environ).stdout
        assert not [line for line in left.splitlines() if line.split()[0] in set(live.host_unit_names())]
        assert not [p for p in testbed.user_unit_dir.iterdir() if p.is_symlink()
                    and os.readlink(p).startswith(str(root))]


def test_every_unit_is_loaded_and_started(live_host):
    _root, result = live_host
    assert result.live_units.not_started == {}
    assert len(result.live_units.venvs_built) == 12
    listed = proc.run(["systemctl", "--user", "list-units", "--all", "--no-legend", "--plain", "rev*"],
                      env=os.environ).stdout
    rows = {line.split()[0]: line.split()[1:4] for line in listed.splitlines() if line.strip()}
    for service in catalog.services():
        if service.role in ("masked", "template"):
            continue
        assert service.name in rows, service.name
        assert rows[service.name][0] == "loaded", (service.name, rows[service.name])
    for i in catalog.TEMPLATE_INSTANCES:
        assert rows[f"revflow-worker@{i}.service"][1:] == ["active", "running"]
    masked = proc.run(["systemctl", "--user", "is-enabled", catalog.MASKED], env=os.environ, check=False)
    assert masked.stdout.strip() == "masked"


@pytest.mark.parametrize("stem,port", sorted(PHASE1_PORTS.items()))
def test_phase1_answers_health_from_a_real_venv(live_host, stem, port):
    root, _result = live_host
    status, body = health(port)
    assert status == 200 and b'"service":"%s"' % stem.encode() in body.replace(b" ", b"")
    venv = root / f"opt/revflow-os/modules/{stem}/venv"
    assert (venv / "bin/uvicorn").is_file() and any(venv.glob("lib/python3*/site-packages/fastapi/__init__.py"))


def test_other_apis_answer_with_the_light_app(live_host):
    status, body = health(8601)
    assert status == 200 and b"revprospect" in body


def test_revaudit_loops_and_revwins_fails(live_host):
    manager = systemd.connect("user")
    first = manager.states(["revaudit.service"])["revaudit.service"].n_restarts
    end = time.monotonic() + 30
    while manager.states(["revaudit.service"])["revaudit.service"].n_restarts <= first:
        assert time.monotonic() < end, "revaudit.service did not restart within 30s"
        time.sleep(0.5)
    shown = proc.run(["systemctl", "--user", "show", "-p", "NRestarts", "--value", "revaudit.service"],
                     env=os.environ).stdout.strip()
    assert int(shown) > first
    assert manager.wait_for(catalog.FAILING, {"failed"}, 40) == "failed"


def test_running_again_builds_and_restarts_nothing(live_host):
    root, _result = live_host
    manager = systemd.connect("user")
    apis = [f"{stem}.service" for stem in PHASE1_PORTS]
    before = {n: s.main_pid for n, s in manager.states(apis).items()}
    again = example_host.run(root, live=True)
    assert again.live_units.venvs_built == [] and len(again.live_units.venvs_kept) == 12
    after = {n: s.main_pid for n, s in manager.states(apis).items()}
    assert after == before and all(before.values())


def test_the_manager_reads_the_unit_file_features_as_written(live_host):
    root, _result = live_host
    manager = systemd.connect("user")
    score = systemd.decode_exec(manager.properties("revscore-iq.service")["ExecStart"])
    assert score[0].argv[1:] == ["app:app", "--host", "127.0.0.1", "--port", "8570",
                                 "--workers", "1", "--proxy-headers"]  # one line, continued twice
    migrate = systemd.decode_exec(manager.properties("revflow-db-migrate.service")["ExecStart"])
    assert [c.argv[-1] for c in migrate] == ["migrate", "seed"]
    shipper = systemd.decode_exec(manager.properties("revflow-log-shipper.service")["ExecStart"])
    assert shipper[0].path == "/usr/bin/tail" and shipper[0].argv[0] == "revflow-log-shipper"
    pre = systemd.decode_exec(manager.properties("revcore-gateway.service")["ExecStartPre"])
    assert pre[0].ignore_failure
    publish = manager.properties("revpublish.service")
    assert publish["MemoryMax"] == 768 * 1024 * 1024  # from the drop-in, over the unit's own
    optional = manager.properties("revflow-queue-monitor.service")["EnvironmentFiles"]
    assert optional == [(f"{root}/opt/shared-api-engine/.env", True)]
