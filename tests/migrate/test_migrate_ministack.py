"""The cutover for real on a two-service host of our own (tests/migrate/ministack.py): the
test bed's systemd user manager, Docker engine, docker-compose and /health on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from revops.adapters import docker_engine, http, systemd
from revops.adapters.ledger import open_ledger
from revops.commands import migrate, rollback
from revops.errors import CheckFailed

import ministack

pytestmark = pytest.mark.realstack


@pytest.fixture(scope="module")
def stack(testbed, tmp_path_factory):
    os.environ.pop("REVOPS_DATABASE_URL", None)
    root = tmp_path_factory.mktemp("mini")
    built = None
    try:
        built = ministack.build(root, testbed.base_image)
        yield built
    finally:
        if built is not None:
            ministack.tear_down(built)


def health(port: int) -> http.Probe:
    return http.probe(f"http://127.0.0.1:{port}/health", 5)


def served_by(port: int) -> str | None:
    probe = health(port)
    return None if not probe.healthy else ("container" if "container" in (probe.body_head or "") else "systemd")


def container(service: str):
    return docker_engine.connect().container_state(service)


def docker_health_settles(service: str, timeout: float = 90) -> str | None:
    """Docker's own health of the container once it left `starting`: revops' gate is its own
    GET /health, and Docker's first check comes one interval after the start."""
    deadline = time.monotonic() + timeout
    state = container(service)
    while state is not None and state.health == "starting" and time.monotonic() < deadline:
        time.sleep(0.5)
        state = container(service)
    return state.health if state is not None else None


def unit(name: str):
    return systemd.connect("user").states([name])[name]


def run_migrate(stack, *names, **kw):
    return migrate.run(stack.config, 1, list(names), yes=True, host_factory=stack.host, **kw)


def test_1_phase_migrates_in_order(stack):
    first, second = stack.units
    assert served_by(stack.units[first]) == "systemd"
    result = run_migrate(stack)
    assert [r.unit for r in result.services] == [first, second]  # b is After=a
    assert {r.outcome for r in result.services} == {"migrated"}, result.services
    assert result.exit_code == 0
    for name, port in stack.units.items():
        state = unit(name)
        assert state.active_state == "inactive" and state.unit_file_state != "enabled"
        assert served_by(port) == "container"
        assert docker_health_settles(stack.service(name)) == "healthy"
    ledger = open_ledger(stack.config.database_url)
    steps = ledger.steps(result.run_id)
    assert [s.step for s in steps if s.service == first] == [
        "preflight", "verify-candidate", "stop-unit", "start-container", "wait-healthy", "disable-unit"]
    assert all(s.state == "done" for s in steps) and ledger.open_steps() == []
    ledger.close()
    again = run_migrate(stack)  # idempotent: nothing left to do
    assert again.services == [] and {s.reason for s in again.plan.skipped} == {"already migrated"}


def test_2_rollback_verb_puts_a_service_back(stack):
    name, port = list(stack.units.items())[1]
    result = rollback.run(stack.config, [name], None, yes=True, host_factory=stack.host)
    assert result.exit_code == 0, result.results
    assert container(stack.service(name)) is None
    assert unit(name).active_state == "active" and unit(name).unit_file_state == "enabled"
    assert served_by(port) == "systemd"


def _kill_when_running(service: str, stop: threading.Event) -> None:
    engine = docker_engine.connect()
    while not stop.is_set():
        found = engine.container_state(service)
        if found is not None and found.status == "running":
            engine.client.api.kill(found.id)
            return
        time.sleep(0.02)


def test_3_a_container_killed_as_it_starts_is_rolled_back(stack):
    name, port = list(stack.units.items())[1]
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_running, args=(stack.service(name), stop))
    killer.start()
    try:
        result = run_migrate(stack, name)
    finally:
        stop.set()
        killer.join()
    (svc,) = result.services
    assert svc.outcome == "rolled-back", svc
    assert "exited" in svc.reason or "not healthy" in svc.reason  # the reason is shown
    assert result.exit_code == 1
    assert container(stack.service(name)) is None
    assert unit(name).active_state == "active"
    assert served_by(port) == "systemd"
    ledger = open_ledger(stack.config.database_url)
    record = ledger.service_states()[name]
    assert record.migration_state == "rolled-back" and record.reason == svc.reason
    ledger.close()


CHILD = """
import sys
from pathlib import Path
import ministack
from revops.commands import migrate
stack = ministack.MiniStack(Path(sys.argv[1]), sys.argv[2], {}, Path("."))
result = migrate.run(stack.config, 1, sys.argv[3:], yes=True, host_factory=stack.host)
sys.exit(result.exit_code)
"""


def _migrate_in_child(stack, *names) -> subprocess.Popen:
    """A separate revops process (not a fork: a forked D-Bus connection is shared)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(ministack.__file__).parent),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(stack.root), stack.tag, *names], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_4_kill_9_between_stop_and_healthy_then_the_next_run_converges(stack):
    name, port = list(stack.units.items())[1]
    child = _migrate_in_child(stack, name)
    ledger = open_ledger(stack.config.database_url)
    try:
        deadline = time.monotonic() + 120
        while not any(s.step in ("start-container", "wait-healthy") for s in ledger.open_steps(name)):
            assert child.poll() is None, f"migrate ended before it could be killed: {child.stderr.read()}"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert unit(name).active_state != "active"  # stopped, and nobody will start it
        assert ledger.open_steps(name)
    finally:
        ledger.close()
    result = run_migrate(stack, name)
    settled = {r.unit: r for r in result.resumed}
    assert settled[name].outcome in ("migrated", "rolled-back"), settled
    ledger = open_ledger(stack.config.database_url)
    assert ledger.open_steps() == []
    state = ledger.service_states()[name].migration_state
    ledger.close()
    # Settled on the way (finished, or rolled back and cut over afresh): as asked, exit 0.
    assert result.exit_code == (0 if state == "migrated" else 1), (result.resumed, result.services)
    if state == "migrated":
        assert unit(name).active_state == "inactive" and docker_health_settles(stack.service(name)) == "healthy"
        assert served_by(port) == "container"
    else:  # rolled back by the resume; this run then migrated it afresh, or said why not
        assert result.services and result.services[0].outcome in ("migrated", "rolled-back")
        assert served_by(port) is not None


def test_5_a_second_concurrent_migrate_is_refused(stack):
    ledger = open_ledger(stack.config.database_url)
    try:
        with ledger.lock("alice@ops pid 4242: revops migrate --phase 1"):
            with pytest.raises(CheckFailed, match="ledger locked by alice@ops"):
                run_migrate(stack)
    finally:
        ledger.close()


def test_6_rollback_of_the_phase(stack):
    result = rollback.run(stack.config, [], 1, yes=True, host_factory=stack.host)
    assert result.exit_code == 0, result.results
    for name, port in stack.units.items():
        assert container(stack.service(name)) is None
        assert unit(name).active_state == "active"
        assert served_by(port) == "systemd"


@pytest.mark.parametrize("preverify", ["full", "off"])
def test_7_engine_gone_mid_cutover_restores_the_unit_with_a_clear_error(stack, tmp_path, monkeypatch, preverify):
    """The engine vanishes at the first container start: with pre-verification that is the
    candidate's, so the unit is never stopped; without, the replacement's, after the unit
    stopped, so the unit is put back. Either way it serves again under systemd."""
    import dataclasses

    import engineproxy
    from revops.adapters import compose
    from revops.migrate.host import LiveHost

    first, second = list(stack.units)
    real = os.environ["DOCKER_HOST"].removeprefix("unix://")
    relay = engineproxy.EngineRelay(real, tmp_path / "engine.sock")
    config = dataclasses.replace(stack.config, suites=tuple(
        dataclasses.replace(s, preverify=preverify) for s in stack.config.suites))

    def host_behind_relay(inputs):
        monkeypatch.setenv("DOCKER_HOST", relay.docker_host)  # the SDK and compose both read it
        return LiveHost(inputs.config, systemd.connect("user"), docker_engine.connect(),
                        compose.connect(cwd=inputs.config.base_dir), inputs.files)

    try:
        result = migrate.run(config, 1, yes=True, host_factory=host_behind_relay)
    finally:
        relay.close()
        monkeypatch.setenv("DOCKER_HOST", f"unix://{real}")
    assert relay.tripped.is_set()
    svc, rest = result.services
    assert svc.unit == first and svc.outcome == ("candidate-failed" if preverify == "full" else "rolled-back"), svc
    assert "Docker engine" in svc.reason
    assert rest.outcome != "migrated" and result.exit_code == 1
    assert unit(first).active_state == "active"
    assert served_by(stack.units[first]) == "systemd"
    found = container(stack.service(first))
    assert found is None or found.status != "running"
    if preverify == "full":  # the unit was never stopped: no step past the candidate ran
        assert [st.step for st in svc.steps if st.step in ("stop-unit", "start-container")] == []


def test_8_ctrl_c_finishes_the_service_in_flight_then_exits_130(stack):
    first, second = list(stack.units)
    child = _migrate_in_child(stack)  # the whole phase: first, then second
    ledger = open_ledger(stack.config.database_url)
    try:
        deadline = time.monotonic() + 120
        while not any(s.step == "wait-healthy" for s in ledger.open_steps(first)):
            assert child.poll() is None, f"migrate ended early: {child.stderr.read()}"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=120) == 130
        assert ledger.open_steps() == []
        states = {n: r.migration_state for n, r in ledger.service_states().items()}
    finally:
        ledger.close()
    # The service in flight was rolled back (Ctrl-C while waiting for health), never left down;
    # the next one was not touched.
    assert states[first] in ("rolled-back", "migrated")
    assert served_by(stack.units[first]) is not None
    assert unit(second).active_state == "active" and served_by(stack.units[second]) == "systemd"
    assert container(stack.service(second)) is None
