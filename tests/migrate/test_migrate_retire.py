"""Old-world units retired by the last phase of `revops migrate`: the plan (when, steps, JSON),
the journaled stop and disable after the run's services, the put-back on failure and on
`revops rollback UNIT`, and the resume of a run killed half-way.

The ledger is real (SQLite); the manager is migrate_helpers.UnitFilesManager; the real one is
in test_migrate_retire_realstack.py."""

from __future__ import annotations

import io
import json

import pytest

from revops import config as config_mod
from revops import output
from revops.adapters.ledger import open_ledger
from revops.commands import migrate, rollback
from revops.errors import CheckFailed
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import resume, retire, retiring
from revops.migrate.executor import DOWN, INTERRUPTED, MIGRATED, NOT_STARTED, ROLLED_BACK, ServiceResult
from revops.model import Inventory, Timer, Unit

from migrate_helpers import ScriptedHost, UnitFilesManager

HEAL = "heal.service"
TIMER = "heal.timer"
COPY = "api-copy.service"


def make_config(tmp_path, mask=False):
    path = tmp_path / "revops.yaml"
    path.write_text(f"systemd: {{mask_on_migrate: {'true' if mask else 'false'}}}\n"
                    "suites:\n  core:\n    phase: 1\n    units: [api.service]\n  late:\n    phase: 2\n"
                    "    units: [worker.service, report.service]\n"
                    f"retire:\n  {HEAL}: \"rebuilds venvs\"\n  {COPY}: \"a copy of api\"\n")
    return config_mod.load(path)


def inventory() -> Inventory:
    return Inventory(root="/", scanned_at=None, units=[
        Unit(name="api.service", path="etc/systemd/system/api.service", port=8000, venv="/opt/api/venv"),
        Unit(name="worker.service", path="etc/systemd/system/worker.service", venv="/opt/worker/venv"),
        Unit(name="report.service", path="etc/systemd/system/report.service"),  # no venv
        Unit(name=HEAL, path=f"etc/systemd/system/{HEAL}", service_type="oneshot", venv="/opt/shared/venv",
             exec_start=[["/opt/shared/venv/bin/python", "heal.py"]],
             timers=[Timer(TIMER, f"etc/systemd/system/{TIMER}", on_calendar=["*:0/15"], enabled=True)]),
        Unit(name=COPY, path=f"etc/systemd/system/{COPY}", venv="/opt/api/venv")])


def live(**over) -> UnitFilesManager:
    """The host's manager: the timer enabled and waiting, its static oneshot idle, the copy
    enabled and running."""
    units = {HEAL: ["loaded", "static", "inactive", "success"], TIMER: ["loaded", "enabled", "active", "success"],
             COPY: ["loaded", "enabled", "active", "success"]}
    units.update(over)
    return UnitFilesManager(units)


@pytest.fixture
def ledger(tmp_path):
    led = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield led
    led.close()


def ready_plan(tmp_path, mask=False, **kw) -> P.Plan:
    return P.build(inventory(), make_config(tmp_path, mask), 2, states={"api.service": P.MIGRATED}, **kw)


def host_with(ledger, manager: UnitFilesManager) -> ScriptedHost:
    host = ScriptedHost(ledger)
    host.unit_files = manager
    return host


def migrated(*units: str) -> list[ServiceResult]:
    return [ServiceResult(u, MIGRATED) for u in units]


# -- the plan ---------------------------------------------------------------------------

def test_the_last_phase_plans_stop_and_disable_of_each_retire_unit_with_its_timer(tmp_path):
    plan = ready_plan(tmp_path)
    heal, copy = sorted(plan.retire, key=lambda r: r.unit != HEAL)
    assert (heal.unit, heal.ready, heal.timers, heal.retired_by) == (HEAL, True, [TIMER], None)
    assert [s.name for s in heal.steps] == [retire.RETIRE_STOP, retire.RETIRE_DISABLE]
    # worker.service runs from a venv and moves in this run: the retire waits for it
    assert heal.after == ["worker.service"] and copy.after == ["worker.service"]
    assert heal.fragments == {HEAL: f"etc/systemd/system/{HEAL}", TIMER: f"etc/systemd/system/{TIMER}"}
    stop = heal.steps[0].changes
    assert stop.startswith("once worker.service migrated")
    assert f"stops {TIMER} first (a timer left waiting would start it again), then {HEAL}" in stop
    assert "disables heal.service, heal.timer so a reboot starts none" in heal.steps[1].changes
    assert "masks" not in heal.steps[1].changes
    assert plan.retiring == plan.retire and copy.timers == [] and [s.name for s in copy.steps] == list(retire.STEPS)


def test_with_mask_on_migrate_the_retire_masks_too(tmp_path):
    [heal] = [r for r in ready_plan(tmp_path, mask=True).retire if r.unit == HEAL]
    assert "disables heal.service, heal.timer and masks them" in heal.steps[1].changes


def test_while_units_still_run_from_a_venv_nothing_is_retired_and_the_plan_says_why(tmp_path):
    plan = P.build(inventory(), make_config(tmp_path), 2)  # api.service (phase 1) not migrated
    assert plan.retiring == [] and all(not r.ready and r.steps == [] for r in plan.retire)
    assert all("not yet: 1 unit(s) still run from a venv after this phase (api.service)" in r.reason
               for r in plan.retire)
    assert P.build(inventory(), make_config(tmp_path), 1).retire == []  # not the last phase


def test_a_unit_the_ledger_says_is_retired_is_not_retired_again(tmp_path):
    plan = ready_plan(tmp_path, retired={HEAL: 7})
    [heal] = [r for r in plan.retire if r.unit == HEAL]
    assert heal.retired_by == 7 and heal.steps == [] and heal not in plan.retiring
    assert "retired by run 7 (`revops rollback heal.service` puts it back)" in heal.reason


def test_dry_run_shows_the_retire_steps_and_json_extends_the_retire_items(tmp_path):
    plan = ready_plan(tmp_path)
    out = io.StringIO()
    migrate.render_plan(plan, output.make_console(file=out, width=400))
    text = out.getvalue()
    assert "then 2 old-world unit(s) to retire (see below)" in text
    assert f"retire {HEAL}: rebuilds venvs; no unit left under systemd after this phase runs from a venv" in text
    assert f"  1. retire-stop " in text and f"  2. retire-disable " in text
    data = json.loads(output.dumps(migrate.MigrateResult(2, True, plan)))
    [item] = [r for r in data["plan"]["retire"] if r["unit"] == HEAL]
    assert item["reason"].startswith("rebuilds venvs;")  # the keys it had, unchanged
    assert item["timers"] == [TIMER] and item["ready"] is True and item["after"] == ["worker.service"]
    assert [s["name"] for s in item["steps"]] == ["retire-stop", "retire-disable"]
    assert data["retired"] == []


# -- a one-shot set-up whose dependents all left systemd --------------------------------

SETUP = "db-migrate.service"


def with_setup(*dependents: str, setup_suite: bool = True) -> tuple[Inventory, str]:
    """inventory() plus a one-shot set-up (Type=oneshot, no timer, on a venv) that
    `dependents` are After=; the suites' YAML for it."""
    inv = inventory()
    inv.units.append(Unit(name=SETUP, path=f"etc/systemd/system/{SETUP}", service_type="oneshot",
                          venv="/opt/shared/venv", exec_start=[["/opt/shared/venv/bin/python", "migrate.py"]]))
    for unit in inv.units:
        if unit.name in dependents:
            unit.after = [*unit.after, SETUP]
    return inv, (f"    units: [worker.service, report.service{', ' + SETUP if setup_suite else ''}]\n")


def setup_config(tmp_path, suites_line: str):
    path = tmp_path / "revops.yaml"
    path.write_text("suites:\n  core:\n    phase: 1\n    units: [api.service]\n  late:\n    phase: 2\n"
                    + suites_line + f"retire:\n  {HEAL}: \"rebuilds venvs\"\n  {COPY}: \"a copy of api\"\n")
    return config_mod.load(path)


def test_a_set_up_whose_dependents_all_migrate_is_retired_with_them_and_frees_the_healer(tmp_path):
    inv, suites = with_setup("api.service", "worker.service")
    plan = P.build(inv, setup_config(tmp_path, suites), 2, states={"api.service": P.MIGRATED})
    assert [s.unit for s in plan.setups] == [SETUP]
    assert "once every one of them runs in a container, the last phase retires it" in plan.setups[0].reason
    by_unit = {r.unit: r for r in plan.retire}
    assert set(by_unit) == {HEAL, COPY, SETUP}
    setup = by_unit[SETUP]
    assert setup.ready and [s.name for s in setup.steps] == list(retire.STEPS)
    assert setup.reason.startswith("a one-shot set-up whose every dependent (api.service, worker.service) runs "
                                   "in a container now")
    # it waits, like the healer, for this run's units on a venv to have migrated
    assert setup.after == ["worker.service"] and by_unit[HEAL].ready


def test_a_set_up_with_a_dependent_left_under_systemd_stays_and_holds_the_healer(tmp_path):
    inv, suites = with_setup("api.service", "report.service")
    # report.service (no venv) moves in phase 2; only --service worker.service is cut over now
    plan = P.build(inv, setup_config(tmp_path, suites), 2, only=["worker.service"],
                   states={"api.service": P.MIGRATED})
    assert plan.retiring == [] and {r.unit for r in plan.retire} == {HEAL, COPY}
    assert all(f"not yet: 1 unit(s) still run from a venv after this phase ({SETUP})" in r.reason for r in plan.retire)


def test_a_set_up_nothing_is_after_or_of_no_suite_is_never_freed(tmp_path):
    inv, suites = with_setup()  # nothing is After= it: what it sets up is not known
    config = setup_config(tmp_path, suites)
    states = {"api.service": P.MIGRATED, "worker.service": P.MIGRATED}
    assert P.freed_setups(inv, config, states, set()) == {}
    inv, suites = with_setup("api.service", setup_suite=False)  # no suite: generate gave it no container
    assert P.freed_setups(inv, setup_config(tmp_path, suites), states, set()) == {}


def test_dependents_that_are_masked_or_retired_do_not_hold_a_set_up(tmp_path):
    inv, suites = with_setup("api.service", COPY, HEAL)
    config = setup_config(tmp_path, suites)
    for unit in inv.units:
        if unit.name == COPY:
            unit.masked = True
    assert P.freed_setups(inv, config, {"api.service": P.MIGRATED}, set()) == {SETUP: ["api.service"]}
    assert P.freed_setups(inv, config, {}, {"api.service"}) == {SETUP: ["api.service"]}
    assert P.freed_setups(inv, config, {}, set()) == {}


def test_rollback_of_a_dependent_puts_its_retired_set_up_back_first(tmp_path):
    inv, suites = with_setup("api.service", "worker.service")
    config = setup_config(tmp_path, suites)
    recorded = {SETUP: "", HEAL: ""}  # retired; their records are not read by the choice
    chosen, skipped = rollback.choose(inv, config, ["worker"], None, {"worker.service": P.MIGRATED}, [])
    chosen, skipped = rollback.with_retired(chosen, skipped, inv, config, None, recorded)
    assert [(sp.unit, sp.kind) for sp in chosen] == [(SETUP, P.KIND_RETIRED), ("worker.service", P.KIND_SERVICE)]
    # a unit that is not After= it leaves it retired; so does the healer, unless the last phase goes back
    chosen, _ = rollback.with_retired(*rollback.choose(inv, config, ["report"], None, {}, []), inv, config, None,
                                      recorded)
    assert [sp.unit for sp in chosen] == ["report.service"]


def test_a_dependent_naming_the_set_up_by_an_alias_holds_it_and_its_rollback_puts_it_back(tmp_path):
    # report.service stays under systemd (not migrated) and is After= the set-up by its Alias=
    inv, suites = with_setup("api.service")
    config = setup_config(tmp_path, suites)
    for unit in inv.units:
        if unit.name == SETUP:
            unit.aliases = ["dbm.service"]
        if unit.name == "report.service":
            unit.after = ["dbm.service"]
    assert P.freed_setups(inv, config, {"api.service": P.MIGRATED}, set()) == {}
    assert P.freed_setups(inv, config, {"api.service": P.MIGRATED}, {"report.service"}) == {
        SETUP: ["api.service", "report.service"]}
    chosen, skipped = rollback.choose(inv, config, ["report"], None, {"report.service": P.MIGRATED}, [])
    chosen, _ = rollback.with_retired(chosen, skipped, inv, config, None, {SETUP: ""})
    assert [(sp.unit, sp.kind) for sp in chosen] == [(SETUP, P.KIND_RETIRED), ("report.service", P.KIND_SERVICE)]



def test_rollback_puts_back_a_retired_set_up_the_inventory_now_sees_masked(tmp_path):
    """Scanned again after its mask, the set-up's file is /dev/null: no Type= to tell a set-up
    by. The ledger says revops retired it and the dependent is After= it: it goes back first."""
    inv, suites = with_setup("api.service", "worker.service")
    config = setup_config(tmp_path, suites)
    setup = next(u for u in inv.units if u.name == SETUP)
    setup.masked, setup.service_type, setup.path, setup.exec_start = True, None, None, []
    chosen, skipped = rollback.choose(inv, config, ["worker"], None, {"worker.service": P.MIGRATED}, [])
    chosen, _ = rollback.with_retired(chosen, skipped, inv, config, None, {SETUP: ""})
    assert [(sp.unit, sp.kind) for sp in chosen] == [(SETUP, P.KIND_RETIRED), ("worker.service", P.KIND_SERVICE)]

def test_a_job_that_requires_or_wants_the_set_up_holds_it_once_cut_over(tmp_path):
    """A job's cutover leaves it a systemd unit its timer starts: a Requires= of a masked
    set-up would fail every run, a Wants= of a disabled one would run it from its venv again."""
    inv, suites = with_setup("api.service")
    config = setup_config(tmp_path, suites)
    worker = next(u for u in inv.units if u.name == "worker.service")
    worker.service_type = "oneshot"
    worker.timers = [Timer("worker.timer", "etc/systemd/system/worker.timer", on_calendar=["daily"], enabled=True)]
    states = {"api.service": P.MIGRATED, "worker.service": P.MIGRATED}
    worker.after = [SETUP]  # ordering only: its container runs without systemd's set-up, as the services' do
    assert P.freed_setups(inv, config, states, set()) == {SETUP: ["api.service", "worker.service"]}
    for pull in ("requires", "wants"):
        worker.after, worker.requires, worker.wants = [], [], []
        setattr(worker, pull, [SETUP])
        assert P.freed_setups(inv, config, states, set()) == {}, pull


def test_a_unit_left_under_systemd_that_wants_the_set_up_holds_it(tmp_path):
    inv, suites = with_setup("api.service")
    config = setup_config(tmp_path, suites)
    next(u for u in inv.units if u.name == "report.service").wants = [SETUP]
    assert P.freed_setups(inv, config, {"api.service": P.MIGRATED}, set()) == {}
    assert P.freed_setups(inv, config, {"api.service": P.MIGRATED}, {"report.service"}) == {SETUP: ["api.service"]}


def test_the_set_ups_retire_waits_for_its_dependents_of_the_run_even_without_a_venv(tmp_path, ledger):
    inv, suites = with_setup("report.service")  # report.service runs no venv
    plan = P.build(inv, setup_config(tmp_path, suites), 2,
                   states={"api.service": P.MIGRATED, "worker.service": P.MIGRATED})
    setup = next(r for r in plan.retire if r.unit == SETUP)
    assert setup.ready and setup.after == ["report.service"]
    manager = UnitFilesManager({SETUP: ["loaded", "enabled", "inactive", "success"]})
    plan.retire = [setup]
    _, results = run_retire(ledger, host_with(ledger, manager), plan,
                            [ServiceResult("report.service", ROLLED_BACK, "unhealthy")])
    assert [(r.unit, r.outcome) for r in results] == [(SETUP, NOT_STARTED)]
    assert manager.calls == []


def test_a_replicated_templates_cutover_lets_the_retire_run(tmp_path, ledger):
    """The run's results name a replicated item by its template, not its instances."""
    path = tmp_path / "revops.yaml"
    path.write_text("suites:\n  core:\n    phase: 1\n    units: [w@1.service, w@2.service]\n"
                    f"retire:\n  {COPY}: \"a copy\"\n")
    inv = Inventory(root="/", scanned_at=None, units=[
        *(Unit(name=f"w@{n}.service", path="lib/systemd/system/w@.service", venv="/opt/w/venv",
               exec_start=[["/opt/w/venv/bin/w", str(n)]]) for n in (1, 2)),
        Unit(name=COPY, path=f"etc/systemd/system/{COPY}", venv="/opt/api/venv")])
    plan = P.build(inv, config_mod.load(path), 1, compose_units={"w@.service": "w"})
    assert [sp.unit for sp in plan.services] == ["w@.service"] and plan.retiring[0].after == ["w@.service"]
    manager = live()
    _, results = run_retire(ledger, host_with(ledger, manager), plan, migrated("w@.service"))
    assert [(r.unit, r.outcome) for r in results] == [(COPY, retiring.RETIRED)]


# -- retiring, after the services ------------------------------------------------------

def run_retire(ledger, host, plan, results, mask=False, interrupted=lambda: False):
    run_id = ledger.begin_run("op", "migrate --phase 2", 2, False)
    return run_id, retiring.run(host, Journal(ledger, run_id), plan.retiring, results, mask=mask,
                                root=__import__("pathlib").Path("/host"), interrupted=interrupted)


def test_each_unit_is_stopped_timer_first_then_disabled_and_the_ledger_records_what_it_was(tmp_path, ledger):
    manager = live()
    run_id, results = run_retire(ledger, host_with(ledger, manager), ready_plan(tmp_path), migrated("worker.service"))
    assert [(r.unit, r.outcome) for r in results] == [(COPY, retiring.RETIRED), (HEAL, retiring.RETIRED)]
    assert manager.calls == [f"stop {COPY}", f"disable {COPY}",
                             f"stop {TIMER}", f"stop {HEAL}", f"disable {HEAL}", f"disable {TIMER}"]
    assert manager.units[TIMER] == ["loaded", "disabled", "inactive", "success"]
    assert manager.units[COPY][1:3] == ["disabled", "inactive"]
    steps = [(s.service, s.step, s.state) for s in ledger.steps(run_id)]
    assert steps == [(COPY, "retire-stop", "done"), (COPY, "retire-disable", "done"),
                     (HEAL, "retire-stop", "done"), (HEAL, "retire-disable", "done")]
    heal_stop = [s for s in ledger.steps(run_id) if s.service == HEAL][0]
    assert retire.read_before(heal_stop.detail, HEAL) == [
        retire.Before(HEAL, "static", "inactive"), retire.Before(TIMER, "enabled", "active")]
    assert set(retiring.retired_units(ledger)) == {HEAL, COPY}
    assert ledger.open_steps() == [] and ledger.service_states() == {}  # no migration state: not a service


def test_with_mask_the_units_are_masked_and_the_put_back_unmasks_them(tmp_path, ledger):
    manager = live()
    host = host_with(ledger, manager)
    run_retire(ledger, host, ready_plan(tmp_path, mask=True), migrated("worker.service"), mask=True)
    assert manager.units[TIMER][:2] == ["masked", "masked"]
    step = retiring.retired_units(ledger)[HEAL]
    back = retiring.put_back(host, Journal(ledger, ledger.begin_run("op", "rollback", None, False)), HEAL,
                             step.detail, {}, "operator asked")
    assert back.outcome == ROLLED_BACK, back
    assert manager.units[TIMER] == ["loaded", "enabled", "active", "success"]
    assert manager.units[HEAL][:3] == ["loaded", "static", "inactive"]  # static, idle: left idle


def test_nothing_is_retired_when_a_unit_of_the_run_did_not_migrate(tmp_path, ledger):
    manager = live()
    _, results = run_retire(ledger, host_with(ledger, manager), ready_plan(tmp_path),
                            [ServiceResult("worker.service", ROLLED_BACK, "not healthy")])
    assert {r.outcome for r in results} == {NOT_STARTED}
    assert results[0].reason == "not retired: worker.service did not migrate and still run from a venv; it runs as it did"
    assert manager.calls == [] and ledger.open_steps() == [] and retiring.retired_units(ledger) == {}


def test_nothing_is_retired_after_ctrl_c(tmp_path, ledger):
    manager = live()
    _, results = run_retire(ledger, host_with(ledger, manager), ready_plan(tmp_path), migrated("worker.service"),
                            interrupted=lambda: True)
    assert {r.outcome for r in results} == {INTERRUPTED} and manager.calls == []


def test_a_disable_that_fails_puts_the_unit_and_its_timer_back_as_they_were(tmp_path, ledger):
    manager = live()
    manager.fail[("disable", HEAL)] = CheckFailed("Access denied")
    run_id, results = run_retire(ledger, host_with(ledger, manager), ready_plan(tmp_path), migrated("worker.service"))
    heal = next(r for r in results if r.unit == HEAL)
    assert heal.outcome == ROLLED_BACK and heal.reason == "Access denied"
    assert [(s.step, s.state) for s in heal.steps] == [("retire-stop", "done"), ("retire-disable", "failed"),
                                                       ("retire-undo", "done")]
    assert manager.units[TIMER] == ["loaded", "enabled", "active", "success"]
    assert manager.calls[-2:] == [f"enable {TIMER}", f"start {TIMER}"]  # the static service is not started
    assert HEAL not in retiring.retired_units(ledger) and COPY in retiring.retired_units(ledger)
    assert migrate.exit_code([], migrated("worker.service"), results) == 1


def test_a_unit_systemd_does_not_know_is_left_untouched(tmp_path, ledger):
    manager = live()
    del manager.units[TIMER]
    _, results = run_retire(ledger, host_with(ledger, manager), ready_plan(tmp_path), migrated("worker.service"))
    heal = next(r for r in results if r.unit == HEAL)
    assert heal.outcome == NOT_STARTED and "systemd does not know heal.timer" in heal.reason
    assert not any(c.endswith(HEAL) for c in manager.calls)


def test_a_put_back_that_cannot_restore_says_down_with_why(tmp_path, ledger):
    manager = live()
    manager.fail[("disable", HEAL)] = CheckFailed("Access denied")
    manager.fail[("start", TIMER)] = CheckFailed("heal.timer: Unit heal.timer is masked")
    _, results = run_retire(ledger, host_with(ledger, manager), ready_plan(tmp_path), migrated("worker.service"))
    heal = next(r for r in results if r.unit == HEAL)
    assert heal.outcome == DOWN and heal.reason == "Access denied; putting it back failed: heal.timer: Unit heal.timer is masked"


def test_the_before_record_survives_the_ledgers_redaction_and_refuses_what_is_not_its_own():
    units = [retire.Before("revflow-token-refresh.service", "enabled", "active"),
             retire.Before("secret:x.timer", "enabled", "active")]
    from revops.adapters.ledger import redact

    stored = redact("stops it; " + retire.before_words(units))
    assert retire.read_before(stored, "revflow-token-refresh.service") == units
    with pytest.raises(CheckFailed, match="unreadable"):
        retire.read_before(stored, "other.service")
    with pytest.raises(CheckFailed, match="unreadable"):
        retire.read_before("before: [[\"a.service\", 1, 2]]", "a.service")


# -- rollback ---------------------------------------------------------------------------

def test_rollback_of_a_retired_unit_enables_and_starts_again_what_was_and_relinks_a_linked_one(tmp_path, ledger):
    manager = live(**{COPY: ["loaded", "linked", "active", "success"]})
    host = host_with(ledger, manager)
    cfg = make_config(tmp_path)
    run_retire(ledger, host, ready_plan(tmp_path), migrated("worker.service"))
    assert manager.units[COPY][0] == "not-found"  # disabling a linked unit unlinks it
    retired = {u: s.detail for u, s in retiring.retired_units(ledger).items()}
    chosen, skipped = rollback.choose(inventory(), cfg, ["api-copy", "heal"], None, {}, [])
    chosen, skipped = rollback.with_retired(chosen, skipped, inventory(), cfg, None, retired)
    assert sorted((sp.unit, sp.kind) for sp in chosen) == [(COPY, P.KIND_RETIRED), (HEAL, P.KIND_RETIRED)]
    out = io.StringIO()
    rollback.render_plan(chosen, output.make_console(file=out, width=400))
    assert f"{HEAL} <- as it was before its retire" in out.getvalue()
    assert "(heal.service static/inactive, heal.timer enabled/active)" in out.getvalue()
    run_id = ledger.begin_run("op", "rollback", None, False)
    for sp in chosen:
        back = retiring.put_back(host, Journal(ledger, run_id), sp.unit, retired[sp.unit],
                                 retiring.fragments(inventory(), sp.unit, cfg.root), "operator asked")
        assert back.outcome == ROLLED_BACK, back
    assert f"link {COPY}" in manager.calls
    assert manager.units[COPY][:3] == ["loaded", "linked", "active"]
    assert manager.units[TIMER][1:3] == ["enabled", "active"]
    assert retiring.retired_units(ledger) == {}
    assert [(s.step, s.state) for s in ledger.steps(run_id)] == [("retire-undo", "done")] * 2


def test_rollback_of_the_last_phase_puts_retired_units_back_first_and_skips_a_retire_unit_never_retired(tmp_path):
    cfg = make_config(tmp_path)
    sp = P.service_plan(inventory().units[1], cfg, [])
    heal_record = "x; " + retire.before_words([retire.Before(HEAL, "static", "inactive")])
    chosen, _ = rollback.with_retired([sp], [], inventory(), cfg, 2, {HEAL: heal_record})
    assert [s.unit for s in chosen] == [HEAL, "worker.service"]
    chosen, _ = rollback.with_retired([sp], [], inventory(), cfg, 1, {HEAL: heal_record})
    assert [s.unit for s in chosen] == ["worker.service"]  # not the last phase
    copy = P.service_plan(inventory().units[4], cfg, [])
    chosen, skipped = rollback.with_retired([copy], [], inventory(), cfg, None, {})
    assert chosen == [] and [s.unit for s in skipped] == [COPY] and "not say is retired" in skipped[0].reason


# -- resume after kill -9 ---------------------------------------------------------------

def killed_in(ledger, step: str, done: tuple[str, ...] = ()) -> int:
    """What kill -9 leaves: `done` steps finished, `step` open, each with the record."""
    record = "words; " + retire.before_words([retire.Before(HEAL, "static", "inactive"),
                                              retire.Before(TIMER, "enabled", "active")])
    dead = ledger.begin_run("op", "migrate --phase 2", 2, False)
    for name in done:
        ledger.step_finished(ledger.step_started(dead, HEAL, name, record), "done")
    ledger.step_started(dead, HEAL, step, record)
    return ledger.begin_run("op", "migrate --phase 2", 2, False)


def test_resume_finishes_a_retire_killed_between_its_stop_and_its_disable(tmp_path, ledger):
    manager = live(**{TIMER: ["loaded", "enabled", "inactive", "success"]})  # stopped, not yet disabled
    run_id = killed_in(ledger, retire.RETIRE_DISABLE, done=(retire.RETIRE_STOP,))
    [result] = resume.converge(inventory(), make_config(tmp_path), ledger, Journal(ledger, run_id),
                               host_with(ledger, manager), [])
    assert result.outcome == retiring.RETIRED and result.reason.startswith("resumed after retire-disable")
    assert manager.units[TIMER][1:3] == ["disabled", "inactive"]
    assert ledger.open_steps() == []
    # the states recorded before the first stop, not the stopped ones: a rollback restores those
    assert retire.read_before(retiring.retired_units(ledger)[HEAL].detail, HEAL)[1] == retire.Before(TIMER, "enabled", "active")


def test_resume_puts_back_again_a_put_back_killed_half_way(tmp_path, ledger):
    manager = live(**{TIMER: ["loaded", "enabled", "inactive", "success"]})  # enabled again, not started
    run_id = killed_in(ledger, retire.RETIRE_UNDO, done=(retire.RETIRE_STOP, retire.RETIRE_DISABLE))
    [result] = resume.converge(inventory(), make_config(tmp_path), ledger, Journal(ledger, run_id),
                               host_with(ledger, manager), [])
    assert result.outcome == ROLLED_BACK, result
    assert manager.units[TIMER][1:3] == ["enabled", "active"]
    assert ledger.open_steps() == [] and retiring.retired_units(ledger) == {}


def test_resume_never_takes_a_retire_step_for_a_cutover(tmp_path, ledger):
    run_id = killed_in(ledger, retire.RETIRE_STOP)
    host = host_with(ledger, live())
    [result] = resume.converge(inventory(), make_config(tmp_path), ledger, Journal(ledger, run_id), host, [])
    assert result.outcome == retiring.RETIRED
    assert [c for c, u in host.calls if u == HEAL] == []  # no container checked, no unit "started"


# -- the whole run, on the example host -------------------------------------------------

@pytest.fixture(scope="module")
def example(tmp_path_factory):
    from typer.testing import CliRunner

    from revops.cli import app

    root = tmp_path_factory.mktemp("offline-host-retire")
    for args in (["example-host", str(root)], ["inventory", "scan", "--config", str(root / "revops.yaml")]):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.output
    return root


def test_on_the_example_host_nothing_is_retired_while_earlier_phases_still_run_from_venvs(example, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.delenv("REVOPS_DATABASE_URL", raising=False)
    from dataclasses import replace

    config = replace(config_mod.load(example / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    dry = migrate.run(config, 3, dry_run=True, host_factory=lambda _i: ScriptedHost())
    assert dry.plan.retire and dry.plan.retiring == []
    assert all("not yet:" in r.reason for r in dry.plan.retire)


def test_the_last_phase_retires_after_its_services_and_the_run_exits_0(example, tmp_path, monkeypatch):
    """The example host with every unit migrated but one (its one-shot set-up is never cut
    over): the run cuts that one over, then retires the old-world units and the set-up, whose
    dependents (the worker instances) all run in containers now."""
    monkeypatch.delenv("REVOPS_DATABASE_URL", raising=False)
    from dataclasses import replace

    from revops import model

    config = replace(config_mod.load(example / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"),
                     deprecated=("revaudit.service",))
    inv = model.load(config.out("inventory"))
    from revops.generate.mapping import unit_kind

    last = [u.name for u in P.migratable_units(inv, config, 3) if u.venv and unit_kind(u) == "service"]
    led = open_ledger(config.database_url)
    old = led.begin_run("op", "migrate", None, False)
    for phase in (1, 2, 3):
        for unit in P.migratable_units(inv, config, phase):
            if unit.name != last[0] and unit_kind(unit) != "setup":
                led.set_service_state(unit.name, P.MIGRATED, old)
    led.close()
    host = ScriptedHost()
    shown = []

    def confirm(plan):
        out = io.StringIO()
        migrate.render_plan(plan, output.make_console(file=out, width=400))
        shown.append(out.getvalue())
        return True

    retire_units = [u for u in inv.units if (config.retired(u.name) or u.name == "revflow-db-migrate.service")
                    and not u.masked]
    host.unit_files = UnitFilesManager({n: ["loaded", "enabled", "active", "success"]
                                        for u in retire_units for n in [u.name, *(t.name for t in u.timers)]})
    done = migrate.run(config, 3, [last[0]], confirm=confirm, say=lambda _m: None, host_factory=lambda _i: host)
    assert [(r.unit, r.outcome) for r in done.services] == [(last[0], MIGRATED)]
    assert {r.outcome for r in done.retired} == {retiring.RETIRED} and len(done.retired) == len(retire_units) == 12
    assert done.exit_code == 0, done
    assert "old-world unit(s) to retire" in shown[0] and "retire revflow-venv-heal.service" in shown[0]
    assert all(state[1:3] == ["disabled", "inactive"] for state in host.unit_files.units.values())
    # the healer's timer was stopped before the healer
    calls = host.unit_files.calls
    assert calls.index("stop revflow-venv-heal.timer") < calls.index("stop revflow-venv-heal.service")
    again = migrate.run(config, 3, dry_run=True, host_factory=lambda _i: host)
    assert again.plan.retiring == [] and all(r.retired_by == done.run_id for r in again.plan.retire)
    data = json.loads(output.dumps(done))
    assert {r["outcome"] for r in data["retired"]} == {"retired"}
    # `revops rollback revflow-venv-heal`: the healer and its timer enabled and running again
    back = rollback.run(config, ["revflow-venv-heal"], None, yes=True, say=lambda _m: None,
                        host_factory=lambda _i: host)
    assert back.retired == ["revflow-venv-heal.service"] and back.exit_code == 0, back
    assert [(r.unit, r.outcome) for r in back.results] == [("revflow-venv-heal.service", ROLLED_BACK)]
    assert host.unit_files.units["revflow-venv-heal.timer"][1:3] == ["enabled", "active"]
    assert host.unit_files.units["revflow-venv-heal.service"][1:3] == ["enabled", "active"]
    again = migrate.run(config, 3, dry_run=True, host_factory=lambda _i: host)
    assert [r.unit for r in again.plan.retire if r.retired_by is None] == ["revflow-venv-heal.service"]
