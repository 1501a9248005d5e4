"""Phase 1 of the live example host on the test bed: cutover, rollback, kill -9 and resume,
a second operator refused. Real systemd user manager, Docker engine, compose and /health.

The live example host's units run under the shared user manager; the host is brought up once
for the module and taken down at the end (units stopped and unlinked, containers removed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from revops import config as config_mod
from revops.adapters import http, systemd
from revops.adapters.ledger import open_ledger
from revops.commands import migrate, rollback
from revops.errors import CheckFailed
from revops.example_host import live
from revops.migrate import wiring

pytestmark = pytest.mark.realstack

API = {"revcore-gateway.service": 8004, "revpublish.service": 8550,
       "revaudit-v6.service": 8560, "revscore-iq.service": 8570}
FAST_HEALTH = {"interval": "2s", "timeout": "2s", "retries": 3, "start_period": "2s"}


def revops(directory: Path, *args: str, check: bool = True, timeout: float = 1800,
           python: str = sys.executable) -> subprocess.CompletedProcess:
    done = subprocess.run([python, "-m", "revops", *args], cwd=directory, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"revops {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def host(testbed, tmp_path_factory):
    root = tmp_path_factory.mktemp("migrate-live")
    os.environ.pop("REVOPS_DATABASE_URL", None)  # this host's own SQLite ledger
    revops(root, "example-host", str(root), "--live")
    try:
        _fast_health(root / "revops.yaml")
        revops(root, "inventory", "scan")
        # The lock's markers are judged for the interpreter that runs `revops lock`: the tests
        # run on the services' own Python (scripts/bootstrap), the same as the base image's.
        revops(root, "lock", "--suite", "core", "--offline", "--find-links", os.environ["REVOPS_WHEELHOUSE"])
        revops(root, "generate")
        revops(root, "build", "--suite", "core", "--find-links", os.environ["REVOPS_WHEELHOUSE"])
        yield root
    finally:
        _tear_down(root)


def _fast_health(path: Path) -> None:
    """Docker marks a container healthy only after its first check: a 2 s interval keeps the
    test short (the example host ships the fix plan's 30 s)."""
    doc = yaml.safe_load(path.read_text())
    doc["health"].update(FAST_HEALTH)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _tear_down(root: Path) -> None:
    cfg = config_mod.load(root / "revops.yaml")
    files = wiring.compose_files(cfg)
    if files:
        subprocess.run(["docker-compose", *sum((["-f", f] for f in files), []), "down", "--remove-orphans"],
                       cwd=root, capture_output=True, timeout=300)
    live.teardown(root)


def config(host: Path) -> config_mod.Config:
    return config_mod.load(host / "revops.yaml")


def containers(host: Path) -> dict[str, dict]:
    """{unit: docker inspect} of this host's compose containers (other tests share the engine)."""
    working_dir = config(host).out("compose")
    out = subprocess.run(["docker", "ps", "-a", "-q", "--filter", "label=revops.unit", "--filter",
                          f"label=com.docker.compose.project.working_dir={working_dir}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if not out:
        return {}
    import json

    docs = json.loads(subprocess.run(["docker", "inspect", *out], capture_output=True, text=True, check=True).stdout)
    return {d["Config"]["Labels"]["revops.unit"]: d for d in docs}


def unit_states(names) -> dict:
    return systemd.connect("user").states(list(names))


def test_phase_one_migrates(host):
    result = migrate.run(config(host), 1, yes=True)
    assert result.exit_code == 0, [(r.unit, r.outcome, r.reason) for r in result.services]
    assert {r.outcome for r in result.services} == {"migrated"}
    running = containers(host)
    states = unit_states(API)
    for unit, port in API.items():
        assert running[unit]["State"]["Health"]["Status"] == "healthy"
        # "disabled": on the live example host the units are `systemctl link`ed, and disabling a
        # linked unit removes its link too, so the manager no longer finds it (None).
        assert states[unit].active_state == "inactive" and states[unit].unit_file_state in ("disabled", None)
        probe = http.probe(f"http://127.0.0.1:{port}/health", 5)
        assert probe.status_code == 200, probe
    ledger = open_ledger(config(host).database_url)
    assert {u: r.migration_state for u, r in ledger.service_states().items() if u in API} == dict.fromkeys(API, "migrated")
    assert ledger.open_steps() == []
    ledger.close()


def test_rollback_puts_a_service_back_under_systemd(host):
    result = rollback.run(config(host), ["revpublish"], None, yes=True)
    assert result.exit_code == 0, result.results
    assert "revpublish.service" not in containers(host)
    assert unit_states(["revpublish.service"])["revpublish.service"].active_state == "active"
    assert http.probe("http://127.0.0.1:8550/health", 5).status_code == 200


def _kill_container_when_it_starts(host: Path, unit: str, stop: threading.Event) -> None:
    while not stop.is_set():
        found = containers_quiet(host, unit)
        if found and found["State"]["Status"] == "running":
            subprocess.run(["docker", "kill", found["Id"]], capture_output=True)
            return
        time.sleep(0.05)


def containers_quiet(host: Path, unit: str):
    try:
        return containers(host).get(unit)
    except subprocess.CalledProcessError:
        return None


def test_a_container_that_never_gets_healthy_is_rolled_back(host):
    stop = threading.Event()
    killer = threading.Thread(target=_kill_container_when_it_starts, args=(host, "revpublish.service", stop))
    killer.start()
    try:
        result = migrate.run(config(host), 1, ["revpublish"], yes=True)
    finally:
        stop.set()
        killer.join()
    (svc,) = result.services
    assert svc.outcome == "rolled-back", svc
    assert "exit" in svc.reason or "not healthy" in svc.reason  # the reason is shown
    assert "revpublish.service" not in containers(host)
    assert unit_states(["revpublish.service"])["revpublish.service"].active_state == "active"
    assert http.probe("http://127.0.0.1:8550/health", 5).status_code == 200
    assert result.exit_code == 1


def test_kill_9_between_stop_and_healthy_then_the_next_run_converges(host):
    cfg = config(host)
    child = subprocess.Popen([sys.executable, "-m", "revops", "migrate", "--service", "revpublish", "--yes"],
                             cwd=host, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = open_ledger(cfg.database_url)
    try:
        deadline = time.monotonic() + 600
        while not any(s.step in ("start-container", "wait-healthy") for s in ledger.open_steps("revpublish.service")):
            assert child.poll() is None, "migrate ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert ledger.open_steps("revpublish.service")  # the journal knows it was cut short
    finally:
        ledger.close()
    result = migrate.run(cfg, 1, ["revpublish"], yes=True)
    settled = {r.unit: r for r in result.resumed}
    assert settled["revpublish.service"].outcome in ("migrated", "rolled-back")
    ledger = open_ledger(cfg.database_url)
    assert ledger.open_steps() == []
    state = ledger.service_states()["revpublish.service"].migration_state
    ledger.close()
    # Settled on the way (finished, or rolled back and cut over afresh): as asked, exit 0.
    assert result.exit_code == (0 if state == "migrated" else 1), (result.resumed, result.services)
    unit = unit_states(["revpublish.service"])["revpublish.service"]
    container = containers(host).get("revpublish.service")
    if state == "migrated":
        assert unit.active_state == "inactive" and container["State"]["Health"]["Status"] == "healthy"
    else:
        assert unit.active_state == "active" and container is None
    assert http.probe("http://127.0.0.1:8550/health", 5).status_code == 200


def test_a_second_concurrent_migrate_is_refused(host):
    cfg = config(host)
    ledger = open_ledger(cfg.database_url)
    try:
        with ledger.lock("alice@ops pid 4242: revops migrate --phase 1"):
            with pytest.raises(CheckFailed, match="ledger locked by alice@ops"):
                migrate.run(cfg, 1, yes=True)
            done = revops(host, "migrate", "--phase", "1", "--yes", check=False)
            assert done.returncode == 1 and "locked by alice@ops" in done.stderr
    finally:
        ledger.close()
