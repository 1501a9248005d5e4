"""The cutover flow against a scripted host and a real SQLite ledger.

The host here is a recorder (the real one is exercised in test_realstack.py): these tests pin
the order of journal writes and host actions, rollback and resume decisions.
"""

from __future__ import annotations

import errno

import pytest

from revops.adapters.ledger import open_ledger
from revops.commands import rollback
from revops.errors import AdapterUnavailable, CheckFailed
from revops.migrate import plan as P
from revops.migrate import resume
from revops.migrate.executor import (CANDIDATE_FAILED, DOWN, INTERRUPTED, MIGRATED, NOT_STARTED, ROLLED_BACK,
                                     SKIPPED, Executor)
from revops.journal import Journal
from revops.model import Inventory, Unit

from migrate_helpers import ScriptedHost



def services(make_config) -> tuple[list[P.ServicePlan], Inventory, object]:
    cfg = make_config()
    inv = Inventory(root="/", scanned_at=None, units=[
        Unit(name="revcore-gateway.service", path=None, port=8004),
        Unit(name="revpublish.service", path=None, port=8550, after=["revcore-gateway.service"]),
    ])
    return P.build(inv, cfg, 1).services, inv, cfg


@pytest.fixture
def ledger(tmp_path):
    led = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield led
    led.close()


def test_healthy_cutover_journals_every_step_before_it_acts(make_config, tmp_path, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
    host = ScriptedHost(ledger)
    results = Executor(host, Journal(ledger, run_id), mask=False).run(plan)
    assert [r.outcome for r in results] == [MIGRATED, MIGRATED]
    assert [c for c, u in host.calls if u == "revcore-gateway.service"] == [
        "preflight", "verify_candidate", "stop_unit", "start_replacement", "wait_replacement_healthy", "retire_unit"]
    assert host.open_while_acting == list(P.STEPS) * 2
    steps = ledger.steps(run_id)
    assert [(s.service, s.step, s.state) for s in steps[:len(P.STEPS)]] == [
        ("revcore-gateway.service", name, "done") for name in P.STEPS]
    states = resume.service_states(ledger)
    assert states == {"revcore-gateway.service": MIGRATED, "revpublish.service": MIGRATED}
    assert ledger.open_steps() == []


def test_unhealthy_container_is_rolled_back_and_the_run_stops(make_config, tmp_path, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger, healthy=False)
    results = Executor(host, Journal(ledger, run_id), mask=True).run(plan)
    assert [r.outcome for r in results] == [ROLLED_BACK, SKIPPED]
    assert "HTTP 503" in results[0].reason and "boom" in results[0].reason
    # revpublish is After= the gateway: skipped, with why.
    assert results[1].reason.startswith("depends on revcore-gateway.service, which ended rolled-back: HTTP 503")
    assert [c for c, _ in host.calls] == ["preflight", "verify_candidate", "stop_unit", "start_replacement",
                                          "wait_replacement_healthy", "unit_unloadable", "remove_replacement",
                                          "start_unit", "wait_unit_healthy"]
    journal = [(s.step, s.state) for s in ledger.steps(run_id)]
    assert journal[-2:] == [("wait-healthy", "failed"), ("rollback", "done")]
    record = ledger.service_states()["revcore-gateway.service"]
    assert record.migration_state == ROLLED_BACK and "HTTP 503" in record.reason


def test_engine_down_at_start_still_restores_the_unit(make_config, tmp_path, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    engine_down = AdapterUnavailable("docker engine: connection refused")
    host = ScriptedHost(ledger, fail={"start_replacement": engine_down, "remove_replacement": engine_down})
    result = Executor(host, Journal(ledger, run_id), mask=False).run(plan)[0]
    assert result.outcome == ROLLED_BACK and "docker engine" in result.reason
    assert ("start_unit", "revcore-gateway.service") in host.calls
    assert [s.state for s in result.steps if s.step == "remove-container"] == ["failed"]


def test_failed_rollback_is_reported_as_down(make_config, tmp_path, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger, healthy=False, unit_healthy=False)
    result = Executor(host, Journal(ledger, run_id), mask=False).run(plan)[0]
    assert result.outcome == DOWN
    assert "rollback failed: connection refused" in result.reason


def test_preflight_failure_changes_nothing(make_config, tmp_path, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger, fail={"preflight": CheckFailed("image revflow/revcore-gateway: build failed")})
    results = Executor(host, Journal(ledger, run_id), mask=False).run(plan)
    assert results[0].outcome == NOT_STARTED and "build failed" in results[0].reason
    assert results[1].outcome == SKIPPED
    assert host.calls == [("preflight", "revcore-gateway.service")]


class DeadLedger:
    def step_started(self, *a):
        raise AdapterUnavailable("ledger sqlite:///x: cannot write: disk I/O error")

    def set_service_state(self, *a):
        raise AdapterUnavailable("ledger sqlite:///x: cannot write: disk I/O error")


def test_a_ledger_that_cannot_be_written_leaves_the_host_alone(make_config, tmp_path):
    plan, _, _ = services(make_config)
    host = ScriptedHost()
    with pytest.raises(AdapterUnavailable, match="disk I/O"):
        Executor(host, Journal(DeadLedger(), 1), mask=False).run(plan)
    assert host.calls == []


def test_ctrl_c_before_the_unit_stops_leaves_it_alone(make_config, tmp_path, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger)
    executor = Executor(host, Journal(ledger, run_id), mask=False)
    original = host.preflight

    def preflight_then_ctrl_c(sp):
        executor.interrupt.requested = True
        return original(sp)

    host.preflight = preflight_then_ctrl_c
    results = executor.run(plan)
    assert [r.outcome for r in results] == ["interrupted", "interrupted"]
    assert [c for c, _ in host.calls] == ["preflight"]
    assert ledger.service_states() == {}  # never marked migrating


def test_ctrl_c_during_the_cutover_finishes_that_service_only(make_config, tmp_path, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger)
    executor = Executor(host, Journal(ledger, run_id), mask=False)
    original = host.start_replacement

    def start_then_ctrl_c(sp):
        executor.interrupt.requested = True
        return original(sp)

    host.start_replacement = start_then_ctrl_c
    results = executor.run(plan)
    assert [r.outcome for r in results] == [MIGRATED, "interrupted"]
    assert ("retire_unit", "revcore-gateway.service") in host.calls
    assert not any(u == "revpublish.service" for _, u in host.calls)


def _crash_after(ledger, tmp_path, step):
    """A run that died (kill -9) right after journaling `step` as started."""
    run_id = ledger.begin_run("op", "migrate", 1, False)
    ledger.set_service_state("revcore-gateway.service", P.MIGRATING, run_id)
    for name in P.STEPS[: P.STEPS.index(step)]:
        ledger.step_finished(ledger.step_started(run_id, "revcore-gateway.service", name, ""), "done")
    ledger.step_started(run_id, "revcore-gateway.service", step, "")
    return run_id


@pytest.mark.parametrize("healthy, outcome, action", [(True, MIGRATED, "retire_unit"),
                                                      (False, ROLLED_BACK, "start_unit")])
def test_resume_settles_a_killed_run(make_config, tmp_path, ledger, healthy, outcome, action):
    _, inv, cfg = services(make_config)
    _crash_after(ledger, tmp_path, P.WAIT_HEALTHY)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger, healthy=healthy)
    results = resume.converge(inv, cfg, ledger, Journal(ledger, run_id), host, [])
    assert [(r.unit, r.outcome) for r in results] == [("revcore-gateway.service", outcome)]
    assert (action, "revcore-gateway.service") in host.calls
    assert ledger.open_steps() == []
    assert resume.service_states(ledger)["revcore-gateway.service"] == outcome


def test_resume_finds_a_service_between_steps_by_its_state():
    found = resume.find_unsettled([], {"a.service": P.MIGRATING, "b.service": P.MIGRATED})
    assert [(u.unit, u.last_step) for u in found] == [("a.service", P.MIGRATING)]


def test_resume_leaves_a_preflight_only_crash_alone(make_config, tmp_path, ledger):
    _, inv, cfg = services(make_config)
    old = ledger.begin_run("op", "migrate", 1, False)
    ledger.step_started(old, "revpublish.service", P.PREFLIGHT, "")
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger)
    results = resume.converge(inv, cfg, ledger, Journal(ledger, run_id), host, [])
    assert [r.outcome for r in results] == ["unchanged"]
    assert host.calls == [] and ledger.open_steps() == []


@pytest.mark.parametrize("method", ["stop_unit", "start_replacement"])
def test_an_unforeseen_error_after_the_stop_restores_the_unit_then_goes_up(make_config, ledger, method):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger, fail={method: OSError(errno.EACCES, "Permission denied")})
    with pytest.raises(PermissionError, match="Permission denied"):
        Executor(host, Journal(ledger, run_id), mask=False).run(plan)
    assert [c for c, _ in host.calls][-4:] == ["unit_unloadable", "remove_replacement", "start_unit",
                                               "wait_unit_healthy"]
    record = ledger.service_states()["revcore-gateway.service"]
    assert record.migration_state == ROLLED_BACK
    assert "unexpected error: PermissionError" in record.reason
    assert ledger.open_steps() == []


def test_a_unit_systemd_cannot_start_keeps_its_container(make_config, ledger):
    plan, _, _ = services(make_config)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    gone = "revcore-gateway.service: systemd does not know it (LoadState not-found) and no unit file known"
    host = ScriptedHost(ledger, healthy=False, unloadable=gone)
    result = Executor(host, Journal(ledger, run_id), mask=False).run(plan)[0]
    assert result.outcome == DOWN
    assert f"rollback refused: {gone}; container revcore-gateway left running" in result.reason
    assert not {"remove_replacement", "start_unit"} & {c for c, _ in host.calls}
    assert [(s.step, s.state) for s in ledger.steps(run_id)][-1] == (P.ROLLBACK, "failed")
    # The rollback verb refuses the same way and says so plainly.
    verb = rollback._roll_back(host, Journal(ledger, run_id), plan[1], lambda _m: None)
    assert verb.outcome == DOWN and verb.reason.startswith("rollback refused: ")
    assert ("remove_replacement", "revpublish.service") not in host.calls


def test_ctrl_c_while_settling_finishes_that_service_and_leaves_the_rest_journaled(make_config, tmp_path, ledger):
    _, inv, cfg = services(make_config)
    for unit in ("revcore-gateway.service", "revpublish.service"):
        old = ledger.begin_run("op", "migrate", 1, False)
        ledger.set_service_state(unit, P.MIGRATING, old)
        ledger.step_started(old, unit, P.WAIT_HEALTHY, "")
    run_id = ledger.begin_run("op", "migrate", 1, False)
    host = ScriptedHost(ledger, healthy=True)
    pressed = []  # Ctrl-C arrives while the first service is being settled

    def interrupted() -> bool:
        pressed.append(bool(host.calls))
        return pressed[-1]

    results = resume.converge(inv, cfg, ledger, Journal(ledger, run_id), host, [], interrupted=interrupted)
    assert [(r.unit, r.outcome) for r in results] == [("revcore-gateway.service", MIGRATED),
                                                     ("revpublish.service", "interrupted")]
    assert [s.service for s in ledger.open_steps()] == ["revpublish.service"]
    assert resume.service_states(ledger)["revpublish.service"] == P.MIGRATING


def secret_services(make_config) -> list[P.ServicePlan]:
    """The gateway reads an env file and has a secret Environment= value: it gets a copy."""
    inv = Inventory(root="/", scanned_at=None, units=[
        Unit(name="revcore-gateway.service", path=None, port=8004, environment_files=["/opt/shared/.env"],
             environment={"RELAY_TOKEN": None, "LOG_LEVEL": "info"}),
        Unit(name="revpublish.service", path=None, port=8550),
    ])
    return P.build(inv, make_config(), 1).services


def test_a_service_with_a_secret_gets_its_copy_written_after_preflight_before_its_candidate(make_config, ledger):
    plan = secret_services(make_config)
    gateway, publish = plan
    assert (gateway.secret, gateway.secret_keys, publish.secret) == ("revcore-gateway.env", ("RELAY_TOKEN",), None)
    assert [s.name for s in gateway.steps] == [P.PREFLIGHT, P.WRITE_SECRET, *P.STEPS[1:]]
    run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
    host = ScriptedHost(ledger)
    results = Executor(host, Journal(ledger, run_id), mask=False).run(plan)
    assert [r.outcome for r in results] == [MIGRATED, MIGRATED]
    assert [c for c, u in host.calls if u == "revcore-gateway.service"][:4] == [
        "preflight", "write_secret", "verify_candidate", "stop_unit"]
    assert "write_secret" not in [c for c, u in host.calls if u == "revpublish.service"]
    assert ("revcore-gateway.service", P.WRITE_SECRET, "done") in [(s.service, s.step, s.state) for s in ledger.steps(run_id)]


def test_rollback_removes_the_copy(make_config, ledger):
    plan = secret_services(make_config)[:1]
    run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
    host = ScriptedHost(ledger, healthy=False)
    [result] = Executor(host, Journal(ledger, run_id), mask=False).run(plan)
    assert result.outcome == ROLLED_BACK
    calls = [c for c, _u in host.calls]
    assert calls.index("remove_replacement") < calls.index("remove_secret") < calls.index("start_unit")
    assert P.EMPTY_COPY in [s.step for s in result.steps]
    # The ledger's redaction of "KEY: value" must leave the rollback's words readable.
    [rolled] = [s for s in ledger.steps(run_id) if s.step == P.ROLLBACK]
    assert "empty-copy: remove_secret ok" in rolled.reason


@pytest.mark.parametrize("failing", ["write_secret", "verify_candidate"])
def test_a_copy_or_candidate_that_fails_leaves_the_unit_running_and_the_copy_emptied(make_config, ledger, failing):
    plan = secret_services(make_config)[:1]
    run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
    fail = {"write_secret": CheckFailed("/x/.revops/secrets: mode 0755; fix: chmod 0700")} if failing == "write_secret" else {}
    host = ScriptedHost(ledger, fail=fail, candidate_ok=failing != "verify_candidate")
    [result] = Executor(host, Journal(ledger, run_id), mask=False).run(plan)
    calls = [c for c, _u in host.calls]
    assert "remove_secret" in calls and P.EMPTY_COPY in [s.step for s in result.steps]
    assert not {"stop_unit", "start_replacement", "start_unit"} & set(calls)
    assert result.outcome == (NOT_STARTED if failing == "write_secret" else CANDIDATE_FAILED)
    if failing == "write_secret":
        assert "fix: chmod 0700" in result.reason and "verify_candidate" not in calls


def test_a_run_that_died_after_writing_the_copy_is_settled_by_a_rollback(make_config, ledger):
    found = resume.find_unsettled([type("Row", (), {"service": "a.service", "id": 1, "step": P.WRITE_SECRET, "detail": ""})()], {})
    assert [(u.unit, u.last_step) for u in found] == [("a.service", P.WRITE_SECRET)]
