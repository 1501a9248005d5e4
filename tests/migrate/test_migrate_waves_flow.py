"""The waves and the pre-verification against a scripted host and a real SQLite ledger (the
PostgreSQL twin is in test_migrate_postgres.py): who starts when, what a failed candidate
costs, who is skipped and why, Ctrl-C with several in flight, a journal written from several
threads. The real host is exercised in test_migrate_waves.py."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from revops import config as config_mod
from revops.adapters.ledger import open_ledger
from revops.errors import ConfigError
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import resume
from revops.migrate.executor import (CANDIDATE_FAILED, INTERRUPTED, MIGRATED, ROLLED_BACK, SKIPPED, Executor)
from revops.model import Inventory, Unit

from migrate_helpers import ScriptedHost

CONFIG = """
host: {root: .}
health: {interval: 2s, timeout: 1s, retries: 3, start_period: 4s}
suites:
  chain:
    phase: 1
    units: ["a.service", "b.service", "c.service"]
  side:
    phase: 1
    units: ["d.service", "e.service", "w.service"]
  quiet:
    phase: 1
    units: ["q.service"]
    preverify: %s
"""


def load(tmp_path, quiet="off"):
    path = tmp_path / "revops.yaml"
    path.write_text(CONFIG % quiet)
    return config_mod.load(path)


def inventory() -> Inventory:
    # a <- b <- c is a chain (b After=a, c Requires=b); d, e, the worker w and q stand alone.
    return Inventory(root="/", scanned_at=None, units=[
        Unit(name="a.service", path=None, port=8101),
        Unit(name="b.service", path=None, port=8102, after=["a.service"]),
        Unit(name="c.service", path=None, port=8103, requires=["b.service"]),
        Unit(name="d.service", path=None, port=8104),
        Unit(name="e.service", path=None, port=8105),
        Unit(name="w.service", path=None, port=None),
        Unit(name="q.service", path=None, port=8107),
    ])


class TimedHost(ScriptedHost):
    """Keeps when each service's first step began and its last ended, and how many services
    had a step running at once (at most)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.spans: dict[str, list[float]] = {}
        self.busy: set[str] = set()
        self.most_at_once = 0

    def _do(self, name, sp):
        began = time.monotonic()
        with self._lock:
            self.busy.add(sp.unit)
            self.most_at_once = max(self.most_at_once, len(self.busy))
        try:
            return super()._do(name, sp)
        finally:
            with self._lock:
                self.busy.discard(sp.unit)
                span = self.spans.setdefault(sp.unit, [began, began])
                span[0], span[1] = min(span[0], began), time.monotonic()


@pytest.fixture
def ledger(tmp_path):
    led = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield led
    led.close()


def run(ledger, host, services, parallel, **kw):
    run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
    executor = Executor(host, Journal(ledger, run_id), mask=False, parallel=parallel, **kw)
    return executor, run_id, {r.unit: r for r in executor.run(services)}


def test_the_plan_knows_its_waves_and_each_service_its_proof(tmp_path):
    plan = P.build(inventory(), load(tmp_path), 1, parallel=3)
    assert plan.waves == [["a.service", "d.service", "e.service", "q.service", "w.service"],
                          ["b.service"], ["c.service"]]
    by_unit = {sp.unit: sp for sp in plan.services}
    assert by_unit["a.service"].preverify == P.PREVERIFY_FULL  # an API: a candidate beside it
    assert by_unit["w.service"].preverify == P.PREVERIFY_IMPORT  # no port: must not run twice
    assert by_unit["q.service"].preverify == P.PREVERIFY_OFF  # its suite says so
    assert [s.name for s in by_unit["q.service"].steps] == [P.PREFLIGHT, *P.STEPS[2:]]
    assert "runs none of its code" in by_unit["w.service"].steps[1].changes
    assert by_unit["c.service"].after == ["b.service"]
    with pytest.raises(Exception, match="--parallel 0"):
        P.build(inventory(), load(tmp_path), 1, parallel=0)


@pytest.mark.parametrize("cpus, expected", [(None, 7), (1, 7), (2, 14), (3, 16), (64, 16)])
def test_the_default_parallel_suits_the_host(cpus, expected):
    assert P.default_parallel(cpus) == expected


@pytest.mark.parametrize("written, read", [("full", "full"), ("import", "import"), ("off", "off"),
                                           ("'off'", "off")])
def test_preverify_per_suite(tmp_path, written, read):
    assert load(tmp_path, written).suite_of("q.service").preverify == read


def test_a_bad_preverify_names_file_line_and_key(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "always")
    said = str(caught.value)
    assert "revops.yaml" in said and "preverify" in said and "'import'" in said


def test_independent_services_overlap_and_the_chain_keeps_its_order(tmp_path, ledger):
    plan = P.build(inventory(), load(tmp_path), 1, parallel=3)
    host = TimedHost(ledger, delay=0.03)
    _, run_id, results = run(ledger, host, plan.services, parallel=3)
    assert {u: r.outcome for u, r in results.items()} == dict.fromkeys(results, MIGRATED)
    spans = host.spans
    assert spans["b.service"][0] >= spans["a.service"][1]
    assert spans["c.service"][0] >= spans["b.service"][1]
    assert 2 <= host.most_at_once <= 3
    # Each proof before the unit stops: the candidate for an API, the import check for the worker.
    assert host.calls_of("a.service")[:3] == ["preflight", "verify_candidate", "stop_unit"]
    assert host.calls_of("w.service")[:3] == ["preflight", "check_imports", "stop_unit"]
    assert host.calls_of("q.service")[:2] == ["preflight", "stop_unit"]
    # Journaled before each action, from every thread; nothing left open.
    assert sorted(host.open_while_acting) == sorted(
        [s for sp in plan.services for s in (st.name for st in sp.steps)])
    assert ledger.open_steps() == []
    assert len(ledger.steps(run_id)) == sum(len(sp.steps) for sp in plan.services)


def test_a_failed_candidate_costs_no_downtime_and_skips_only_its_dependents(tmp_path, ledger):
    plan = P.build(inventory(), load(tmp_path), 1, parallel=4)
    passes = {u for u in plan.units if u != "a.service"}
    host = TimedHost(ledger, candidate_ok=passes)
    _, run_id, results = run(ledger, host, plan.services, parallel=4)
    assert results["a.service"].outcome == CANDIDATE_FAILED
    assert "ModuleNotFoundError" in results["a.service"].reason
    assert host.calls_of("a.service") == ["preflight", "verify_candidate"]  # the unit was never touched
    for unit in ("b.service", "c.service"):
        assert results[unit].outcome == SKIPPED and unit not in {u for _, u in host.calls}
    assert results["b.service"].reason.startswith("depends on a.service, which ended candidate-failed")
    assert results["c.service"].reason.startswith("depends on b.service, which ended skipped")
    for unit in ("d.service", "e.service", "w.service", "q.service"):
        assert results[unit].outcome == MIGRATED
    steps = {(s.service, s.step): s for s in ledger.steps(run_id)}
    assert steps[("a.service", P.VERIFY_CANDIDATE)].state == "failed"
    assert resume.service_states(ledger)["a.service"] == P.SYSTEMD  # still served by its unit


def test_a_failed_import_check_keeps_the_worker_under_systemd(tmp_path, ledger):
    plan = P.build(inventory(), load(tmp_path), 1, only=["w.service"])
    host = ScriptedHost(ledger, candidate_ok=False)
    _, _, results = run(ledger, host, plan.services, parallel=2)
    assert results["w.service"].outcome == CANDIDATE_FAILED
    assert "no such module in the image" in results["w.service"].reason
    assert host.calls_of("w.service") == ["preflight", "check_imports"]


def test_a_rollback_skips_dependents_and_the_rest_migrate(tmp_path, ledger):
    plan = P.build(inventory(), load(tmp_path), 1, parallel=2)
    host = TimedHost(ledger)
    original = host.wait_replacement_healthy

    def b_fails(sp, deadline_s, cancelled):
        if sp.unit == "b.service":
            host._do("wait_replacement_healthy", sp)
            from revops.migrate.executor import Verdict
            return Verdict(False, "GET /health: HTTP 503")
        return original(sp, deadline_s, cancelled)

    host.wait_replacement_healthy = b_fails
    _, _, results = run(ledger, host, plan.services, parallel=2)
    assert results["b.service"].outcome == ROLLED_BACK
    assert results["c.service"].outcome == SKIPPED and "b.service" in results["c.service"].reason
    assert {u for u, r in results.items() if r.outcome == MIGRATED} == {
        "a.service", "d.service", "e.service", "w.service", "q.service"}


def test_ctrl_c_with_several_in_flight_finishes_each_and_starts_nothing_more(tmp_path, ledger):
    plan = P.build(inventory(), load(tmp_path), 1, parallel=3)
    host = TimedHost(ledger, delay=0.02)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    executor = Executor(host, Journal(ledger, run_id), mask=False, parallel=3)
    original = host.start_replacement
    seen = threading.Event()

    def start_then_ctrl_c(sp):
        said = original(sp)
        if not seen.is_set():  # the first start: the others of the wave are in flight too
            seen.set()
            time.sleep(0.05)
            executor.interrupt.requested = True
        return said

    host.start_replacement = start_then_ctrl_c
    results = {r.unit: r for r in executor.run(plan.services)}
    started = {u for c, u in host.calls if c == "stop_unit"}
    assert len(started) >= 2
    for unit in started:  # every service whose unit stopped was finished (its container healthy)
        assert results[unit].outcome == MIGRATED, results[unit]
    for unit, result in results.items():
        assert result.outcome in (MIGRATED, INTERRUPTED), result
        if result.outcome == INTERRUPTED:
            assert unit not in started
    assert results["c.service"].outcome == INTERRUPTED
    assert ledger.open_steps() == []


def test_ctrl_c_while_a_service_waits_for_its_turn_at_the_engine_leaves_its_unit_alone(tmp_path, ledger):
    """Host.outage may wait (LiveHost: for the other services' engine work); a Ctrl-C pressed
    meanwhile ends the service before its unit is stopped, as one pressed before the outage."""
    plan = P.build(inventory(), load(tmp_path), 1, parallel=1)
    a = next(sp for sp in plan.services if sp.unit == "a.service")
    host = ScriptedHost(ledger)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    executor = Executor(host, Journal(ledger, run_id), mask=False, parallel=1)
    entered = []

    @contextlib.contextmanager
    def ctrl_c_while_waiting(sp):
        executor.interrupt.requested = True  # pressed while the host held the outage back
        entered.append(sp.unit)
        yield

    host.outage = ctrl_c_while_waiting
    result = executor.run([a])[0]
    assert entered == ["a.service"]
    assert result.outcome == INTERRUPTED and "before the unit was stopped" in result.reason
    assert host.calls_of("a.service") == ["preflight", "verify_candidate"]
    assert "a.service" not in ledger.service_states()  # never recorded as migrating
    assert ledger.open_steps() == []


def test_resume_settles_every_service_a_killed_wave_left(tmp_path, ledger):
    cfg = load(tmp_path)
    dead = ledger.begin_run("op", "migrate", 1, False)
    for unit, step in (("a.service", P.WAIT_HEALTHY), ("d.service", P.START_CONTAINER),
                       ("e.service", P.VERIFY_CANDIDATE)):
        if step != P.VERIFY_CANDIDATE:
            ledger.set_service_state(unit, P.MIGRATING, dead)
        ledger.step_started(dead, unit, step, "")
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger)
    settled = resume.converge(inventory(), cfg, ledger, Journal(ledger, run_id), host, [], parallel=3)
    assert {r.unit: r.outcome for r in settled} == {
        "a.service": MIGRATED, "d.service": MIGRATED, "e.service": "unchanged"}
    # The candidate a killed run left is removed; its unit was never touched.
    assert host.calls_of("e.service") == ["discard_candidates"]
    assert ledger.open_steps() == []


def test_the_live_table_shows_every_service_in_flight_and_what_ended(tmp_path, ledger):
    from io import StringIO

    from rich.console import Console

    from revops.commands.migrate import LiveTable

    now = [100.0]
    table = LiveTable(clock=lambda: now[0])
    plan = P.build(inventory(), load(tmp_path), 1, parallel=3)
    seen: list[str] = []

    class Watching(TimedHost):
        def _do(self, name, sp):
            shown = StringIO()
            Console(file=shown, width=200).print(table)
            with self._lock:
                seen.append(shown.getvalue())
            return super()._do(name, sp)

    run(ledger, Watching(ledger, delay=0.01), plan.services, parallel=3, progress=table)
    assert any("a.service" in s and "d.service" in s and "e.service" in s for s in seen)
    assert any("verify-candidate" in s for s in seen) and any("stop-unit" in s for s in seen)
    assert table.in_flight == {} and table.ended == {MIGRATED: len(plan.services)}


def test_a_candidate_that_cannot_be_removed_does_not_stop_the_settling(tmp_path, ledger):
    from revops.errors import CheckFailed

    dead = ledger.begin_run("op", "migrate", 1, False)
    ledger.set_service_state("a.service", P.MIGRATING, dead)
    ledger.step_started(dead, "a.service", P.WAIT_HEALTHY, "")
    ledger.step_started(dead, "e.service", P.VERIFY_CANDIDATE, "")
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger, fail={"discard_candidates": CheckFailed("remove container c0ffee: engine said no")})
    settled = resume.converge(inventory(), load(tmp_path), ledger, Journal(ledger, run_id), host, [], parallel=2)
    assert {r.unit: r.outcome for r in settled} == {"a.service": MIGRATED, "e.service": "unchanged"}
    step = next(s for s in ledger.steps(run_id) if s.service == "e.service")
    assert step.state == "failed" and "candidate not removed: remove container c0ffee" in step.reason
    assert ledger.open_steps() == []
