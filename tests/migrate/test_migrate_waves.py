"""The pre-verified cutover and the waves for real, on small hosts of our own
(tests/migrate/ministack.py): the test bed's systemd user manager, Docker engine,
docker-compose and /health on 127.0.0.1.

- an image whose app cannot start (built, then broken: the package its app imports removed)
  costs no request: the candidate fails while the unit serves, exit 1;
- a phase with a dependency chain and independent services: the chain's order holds, the
  independent ones overlap in time (the journal's timestamps), kill -9 mid-wave converges;
- Ctrl-C with several services in flight: each ends healthy in its container or under systemd.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from revops.adapters import docker_engine, http, systemd
from revops.adapters.ledger import open_ledger
from revops.commands import migrate, rollback
from revops.migrate import plan as P

import ministack

pytestmark = pytest.mark.realstack

GOOD_IMAGE = "revops-test/mgapp:idna"  # the base image with a venv holding idna
BROKEN_IMAGE = "revops-test/mgapp:idna-removed"  # the same, idna uninstalled
HOST_STEPS = (P.STOP_UNIT, P.START_CONTAINER, P.WAIT_HEALTHY)


@pytest.fixture(scope="module")
def images(testbed, tmp_path_factory):
    """Built once per engine: a venv with idna from the wheelhouse, then the same image with
    idna uninstalled (the package the app imports, that nothing else requires)."""
    engine = docker_engine.connect(timeout=600)
    wheel = next(Path(os.environ["REVOPS_WHEELHOUSE"]).glob("idna-*.whl"))
    context = tmp_path_factory.mktemp("mgimage")
    (context / wheel.name).write_bytes(wheel.read_bytes())
    if not engine.image_exists(GOOD_IMAGE):
        (context / "Dockerfile").write_text(
            f"FROM {testbed.base_image}\nCOPY {wheel.name} /tmp/\n"
            f"RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index /tmp/{wheel.name} "
            f"&& rm /tmp/{wheel.name}\n")
        engine.build(context, "Dockerfile", GOOD_IMAGE)
    if not engine.image_exists(BROKEN_IMAGE):
        (context / "Broken").write_text(f"FROM {GOOD_IMAGE}\nRUN /opt/venv/bin/pip uninstall -y idna\n")
        engine.build(context, "Broken", BROKEN_IMAGE)
    return GOOD_IMAGE, BROKEN_IMAGE


def _stack(tmp_path_factory, name, **kw):
    os.environ.pop("REVOPS_DATABASE_URL", None)
    return ministack.build(tmp_path_factory.mktemp(name), os.environ["REVOPS_BASE_IMAGE"], **kw)


def served_by(port: int) -> str | None:
    probe = http.probe(f"http://127.0.0.1:{port}/health", 5)
    return None if not probe.healthy else ("container" if "container" in (probe.body_head or "") else "systemd")


def unit_state(name: str):
    return systemd.connect("user").states([name])[name]


def container(stack, unit: str):
    return docker_engine.connect().container_state(stack.service(unit))


def candidates_left(stack) -> list[str]:
    engine = docker_engine.connect()
    return [c.name for u in stack.all_units for c in engine.list_containers(labels=[f"revops.candidate={u}"])]


def eventually(check, timeout: float = 60.0, what: str = "condition", show=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} not reached within {timeout:g}s {show()}"
        time.sleep(0.1)


class Prober(threading.Thread):
    """GET /health every 50 ms until stopped; keeps (time, ok, what) of every attempt."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/health"
        self.samples: list[tuple[float, bool, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(trust_env=False, timeout=1.0) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    answer = client.get(self.url)
                    self.samples.append((started, answer.is_success, str(answer.status_code)))
                except httpx.HTTPError as exc:
                    self.samples.append((started, False, type(exc).__name__))
                self.stop.wait(max(0.0, 0.05 - (time.monotonic() - started)))


# -- a broken image costs no request ------------------------------------------------------

def test_an_image_whose_app_cannot_start_is_refused_while_the_unit_serves(images, tmp_path_factory):
    _good, broken = images
    stack = _stack(tmp_path_factory, "broken", count=1, workers=1,
                   app=ministack.ContainerApp(image=broken, require="idna"))
    try:
        (api, port), = stack.units.items()
        (worker,) = stack.workers
        prober = Prober(port)
        prober.start()
        time.sleep(0.3)
        try:
            result = migrate.run(stack.config, 1, yes=True, host_factory=stack.host)
        finally:
            time.sleep(0.3)
            prober.stop.set()
            prober.join()
        assert result.exit_code == 1
        outcomes = {r.unit: r for r in result.services}
        assert outcomes[api].outcome == "candidate-failed", outcomes[api]
        assert "ModuleNotFoundError" in outcomes[api].reason and "idna" in outcomes[api].reason
        # The worker never ran twice: its import check found idna missing in the image.
        assert outcomes[worker].outcome == "candidate-failed", outcomes[worker]
        assert "imports idna: no such module in the image" in outcomes[worker].reason
        failures = [s for s in prober.samples if not s[1]]
        assert len(prober.samples) > 20 and failures == [], failures[:5]
        for unit in stack.all_units:
            assert unit_state(unit).active_state == "active"
            found = container(stack, unit)
            assert found is None or found.status != "running"
        assert served_by(port) == "systemd"
        assert candidates_left(stack) == []
        ledger = open_ledger(stack.config.database_url)
        try:
            steps = {(s.service, s.step): s for s in ledger.steps(result.run_id)}
            assert steps[(api, P.VERIFY_CANDIDATE)].state == "failed"
            assert not any(step in HOST_STEPS for _, step in steps)  # no unit was ever stopped
            assert ledger.service_states()[api].migration_state == "systemd"
        finally:
            ledger.close()
    finally:
        ministack.tear_down(stack)


# -- waves: the chain's order, independents side by side, kill -9 mid-wave ----------------

@pytest.fixture(scope="module")
def waves_stack(testbed, tmp_path_factory):
    # a -> b -> c is a chain (b After=a, c After=b); d and e and the worker depend on nothing.
    stack = _stack(tmp_path_factory, "waves", count=5, after={1: [0], 2: [1]}, workers=1,
                   app=ministack.ContainerApp(delay=1.5))
    try:
        yield stack
    finally:
        ministack.tear_down(stack)


def _when(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp()


def _spans(steps) -> dict[str, tuple[float, float]]:
    """{unit: (first step started, last step finished)} from the journal's timestamps."""
    spans: dict[str, tuple[float, float]] = {}
    for s in steps:
        start, end = _when(s.started_at), _when(s.finished_at or s.started_at)
        was = spans.get(s.service, (start, end))
        spans[s.service] = (min(was[0], start), max(was[1], end))
    return spans


def test_waves_follow_the_chain_and_overlap_the_independent_ones(waves_stack):
    stack = waves_stack
    a, b, c, d, e = stack.units
    result = migrate.run(stack.config, 1, yes=True, parallel=3, host_factory=stack.host)
    assert result.exit_code == 0, [(r.unit, r.outcome, r.reason) for r in result.services]
    assert result.waves == [[a, d, e, *stack.workers], [b], [c]]
    ledger = open_ledger(stack.config.database_url)
    try:
        steps = ledger.steps(result.run_id)
    finally:
        ledger.close()
    spans = _spans(steps)
    # One compose process created every container, the first preflight's; the others found theirs.
    batched = [s for s in steps if s.step == P.PREFLIGHT and "one compose process, with" in (s.reason or "")]
    assert len(batched) == 1, [s.reason for s in steps if s.step == P.PREFLIGHT]
    others = [stack.service(u) for u in stack.all_units if u != batched[0].service]
    assert f"with {len(others)} more" in batched[0].reason and all(o in batched[0].reason for o in others)
    # A service starts only when what it depends on is done.
    assert spans[b][0] >= spans[a][1] and spans[c][0] >= spans[b][1]
    # Independent services were in flight at the same time, never more than 3 at once.
    overlapping = [(x, y) for x in spans for y in spans
                   if x < y and spans[x][0] < spans[y][1] and spans[y][0] < spans[x][1]]
    assert overlapping, spans
    for moment in (start for start, _ in spans.values()):
        assert sum(1 for s, t in spans.values() if s <= moment < t) <= 3
    for unit, port in stack.units.items():
        assert served_by(port) == "container"
        assert unit_state(unit).active_state == "inactive"
    # Docker's own health catches up after the /health gate (each seen healthy once: on a
    # loaded 2-core bed a 1 s check with a 2 s timeout can flap afterwards).
    seen: dict[str, str | None] = {}

    def caught_up():
        seen.update((u, container(stack, u).health) for u in stack.all_units if seen.get(u) != "healthy")
        return all(h == "healthy" for h in seen.values())

    eventually(caught_up, 120, "Docker healthy", lambda: seen)


CHILD = """
import sys
from pathlib import Path
import ministack
from revops.commands import migrate
stack = ministack.MiniStack(Path(sys.argv[1]), sys.argv[2], {}, Path("."))
result = migrate.run(stack.config, 1, yes=True, parallel=int(sys.argv[3]), host_factory=stack.host)
sys.exit(result.exit_code)
"""


def _migrate_in_child(stack, parallel: int) -> subprocess.Popen:
    """A separate revops process (not a fork: a forked D-Bus connection is shared)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(ministack.__file__).parent),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(stack.root), stack.tag, str(parallel)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _when_in_flight(stack, child: subprocess.Popen, how_many: int) -> set[str]:
    """Wait until `how_many` services have a host-changing step open at once; their units."""
    ledger = open_ledger(stack.config.database_url)
    try:
        deadline = time.monotonic() + 180
        while True:
            busy = {s.service for s in ledger.open_steps() if s.step in HOST_STEPS}
            if len(busy) >= how_many:
                return busy
            assert child.poll() is None, f"migrate ended first: {child.stderr.read()}"
            assert time.monotonic() < deadline, "never enough services in flight"
            time.sleep(0.005)
    finally:
        ledger.close()


def _roll_back_all(stack) -> None:
    done = rollback.run(stack.config, [], 1, yes=True, host_factory=stack.host)
    assert done.exit_code == 0, done.results
    for port in stack.units.values():
        assert served_by(port) == "systemd"


def _each_serves_in_one_place(stack) -> None:
    for unit in stack.all_units:
        state = unit_state(unit).active_state
        found = container(stack, unit)
        running = found is not None and found.status == "running"
        assert (state == "active") != running, (unit, state, found)
        if unit in stack.units:
            assert served_by(stack.units[unit]) == ("container" if running else "systemd")
    assert candidates_left(stack) == []


def test_kill_9_in_the_middle_of_a_wave_converges_on_the_next_run(waves_stack):
    stack = waves_stack
    _roll_back_all(stack)
    child = _migrate_in_child(stack, parallel=3)
    busy = _when_in_flight(stack, child, 2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    result = migrate.run(stack.config, 1, yes=True, parallel=3, host_factory=stack.host)
    settled = {r.unit: r.outcome for r in result.resumed}
    assert busy <= set(settled), (busy, settled)
    assert set(settled.values()) <= {"migrated", "rolled-back", "unchanged"}, result.resumed
    assert result.exit_code == 0, ([(r.unit, r.outcome, r.reason) for r in result.services], result.resumed)
    ledger = open_ledger(stack.config.database_url)
    try:
        assert ledger.open_steps() == []
        assert {u: r.migration_state for u, r in ledger.service_states().items()} == dict.fromkeys(
            stack.all_units, "migrated")
    finally:
        ledger.close()
    _each_serves_in_one_place(stack)


def test_ctrl_c_with_several_in_flight_ends_each_healthy_somewhere(waves_stack):
    stack = waves_stack
    _roll_back_all(stack)
    child = _migrate_in_child(stack, parallel=4)
    busy = _when_in_flight(stack, child, 2)
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=180) == 130, child.stderr.read()
    ledger = open_ledger(stack.config.database_url)
    try:
        assert ledger.open_steps() == []
        states = {u: r.migration_state for u, r in ledger.service_states().items()}
        touched = {s.service for s in ledger.steps(ledger.runs(1)[0].id)}
    finally:
        ledger.close()
    assert all(states[u] in ("migrated", "rolled-back") for u in busy), states
    _each_serves_in_one_place(stack)
    # What the run created ahead for services it never reached is gone again.
    never = [u for u in stack.all_units if u not in touched]
    assert [u for u in never if container(stack, u) is not None] == [], (never, touched)
