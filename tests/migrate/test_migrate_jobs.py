"""Timer-fired jobs in `revops migrate`: their plan (kind, steps, waves, old and new ExecStart),
their cutover (between runs, import check, the journaled repoint), rollback and resume.

The drop-in files and the ledger are real (a temp directory, SQLite); the manager is faked
(migrate_helpers.JobManager); the real one is in test_migrate_jobs_realstack.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from revops import dropins, jobs, output, repoint
from revops.adapters.ledger import open_ledger
from revops.commands import migrate, rollback
from revops.errors import CheckFailed
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import resume
from revops.migrate.executor import CANDIDATE_FAILED, MIGRATED, NOT_STARTED, ROLLED_BACK, Executor
from revops.model import Inventory, Timer, Unit

from migrate_helpers import ScriptedHost

COMPOSE = ("/usr/bin/docker-compose",)
FILES = ["/srv/ops/compose/docker-compose.yml"]
JOB = "revflow-leadgen-nightly.service"
JOB_ARGV = ["/opt/m/leadgen/venv/bin/python", "/opt/m/leadgen/job.py", "--report", "nightly"]
NEW_ARGV = ["/usr/bin/docker-compose", "-f", FILES[0], "--profile", "jobs", "run", "--rm", "--no-deps", "-T",
            "revflow-leadgen-nightly"]
DROPIN = dropins.filename(jobs.PURPOSE)


def job_unit(name: str = JOB, after: tuple[str, ...] = (), **more) -> Unit:
    return Unit(name=name, path=f"etc/systemd/system/{name}", service_type="oneshot", exec_start=[list(JOB_ARGV)],
                venv="/opt/m/leadgen/venv", after=list(after),
                timers=[Timer(name.replace(".service", ".timer"), None, on_calendar=["*-*-* 02:07:00"],
                              persistent=True)], **more)


def inventory(*extra: Unit) -> Inventory:
    return Inventory(root="/", scanned_at=None, units=[
        Unit(name="revflow-leadgen-1.service", path=None, port=9001),
        Unit(name="revflow-leadgen-2.service", path=None, after=["revflow-leadgen-1.service"]),
        job_unit(after=("network-online.target", "revflow-leadgen-2.service")),
        *extra,
    ])


def build(cfg, inv=None, **kw) -> P.Plan:
    return P.build(inv or inventory(), cfg, 2, compose_files=FILES, compose=COMPOSE, **kw)


@pytest.fixture
def ledger(tmp_path):
    led = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield led
    led.close()


# -- the plan ---------------------------------------------------------------------------

def test_a_timer_fired_job_is_a_cutover_item_of_its_own_kind_after_the_services_it_follows(make_config):
    plan = build(make_config())
    job = plan.services[-1]
    assert (job.unit, job.kind, job.preverify, job.port, job.health_url) == (JOB, P.KIND_JOB, P.PREVERIFY_IMPORT, None, None)
    assert [s.name for s in job.steps] == list(P.JOB_STEPS)
    assert job.job.timers == ["revflow-leadgen-nightly.timer"]
    assert job.job.exec_before == JOB_ARGV and job.job.exec_after == NEW_ARGV
    assert job.job.dropin == "50-revops-job-container.conf"
    # After= revflow-leadgen-2, itself after revflow-leadgen-1: the third wave
    assert plan.waves == [["revflow-leadgen-1.service"], ["revflow-leadgen-2.service"], [JOB]]
    assert plan.jobs == [job] and plan.skipped == [] and plan.setups == []
    r = job.job.repoint(job.unit, job.service)
    assert (r.purpose, r.restart, r.argv, r.before) == (jobs.PURPOSE, False, tuple(NEW_ARGV), tuple(JOB_ARGV))


def test_a_job_with_a_secret_writes_its_copy_before_the_import_check(make_config):
    inv = inventory()
    inv.units[2].environment_files = ["/etc/revflow/shared.env"]
    job = build(make_config(), inv).services[-1]
    assert [s.name for s in job.steps] == [P.PREFLIGHT, P.WRITE_SECRET, P.VERIFY_CANDIDATE, P.BETWEEN_RUNS,
                                           P.REPOINT_UNIT]
    assert job.secret == "revflow-leadgen-nightly.env"


def test_dry_run_shows_each_jobs_old_and_new_exec_start_and_leaves_the_timer(make_config):
    plan = build(make_config())
    out = io.StringIO()
    migrate.render_plan(plan, output.make_console(file=out, width=400))
    text = out.getvalue()
    assert "Phase 2: 2 service(s) to cut over; 1 job(s) to repoint between runs (their timers unchanged)" in text
    assert f"{JOB} -> job in a fresh container of revflow-leadgen-nightly" in text
    assert "old ExecStart=/opt/m/leadgen/venv/bin/python /opt/m/leadgen/job.py --report nightly" in text
    assert ("new ExecStart=/usr/bin/docker-compose -f /srv/ops/compose/docker-compose.yml --profile jobs run --rm "
            "--no-deps -T revflow-leadgen-nightly") in text
    assert "no restart: revflow-leadgen-nightly.timer fires it at its next trigger" in text
    assert "stop-unit" not in text.split(f"{JOB} ->")[1]  # a job's unit is never stopped


def test_without_a_compose_tool_the_plan_says_why_the_new_exec_start_is_unknown(make_config):
    plan = P.build(inventory(), make_config(), 2, compose_files=FILES, compose=None,
                   compose_missing="no compose tool: neither `docker compose` nor `docker-compose` is on PATH")
    job = plan.services[-1]
    assert job.job.exec_after == [] and "docker-compose` is on PATH" in job.job.compose_missing
    assert "ExecStart=(unknown: no compose tool" in job.steps[-1].changes


def test_a_one_shot_set_up_is_not_cut_over_and_the_plan_says_what_happens_to_it(make_config):
    setup = Unit(name="revflow-leadgen-migrate.service", path=None, service_type="oneshot",
                 exec_start=[["/opt/venv/bin/python", "migrate.py"]])
    inv = inventory(setup)
    inv.units[0].after.append("revflow-leadgen-migrate.service")
    plan = build(make_config(), inv)
    assert "revflow-leadgen-migrate.service" not in plan.units
    assert all(s.unit != "revflow-leadgen-migrate.service" for s in plan.skipped)
    [item] = plan.setups
    assert item.unit == "revflow-leadgen-migrate.service"
    assert "(revflow-leadgen-1.service are After= it)" in item.reason
    assert "not cut over; its unit stays under systemd, enabled and unchanged" in item.reason
    assert "service_completed_successfully" in item.reason
    out = io.StringIO()
    migrate.render_plan(plan, output.make_console(file=out, width=400))
    assert "set-up revflow-leadgen-migrate.service: a one-shot set-up" in out.getvalue()


def test_a_job_of_two_exec_start_lines_is_skipped_with_why(make_config):
    inv = inventory()
    inv.units[2].exec_start.append(["/usr/bin/true"])
    plan = build(make_config(), inv)
    assert JOB not in plan.units
    [skip] = plan.skipped
    assert skip.unit == JOB and "2 ExecStart= lines" in skip.reason


def test_a_masked_timer_does_not_make_a_job(make_config):
    inv = inventory()
    inv.units[2].timers[0].masked = True
    plan = build(make_config(), inv)
    assert JOB not in plan.units and [s.unit for s in plan.setups] == [JOB]


# -- the cutover ------------------------------------------------------------------------

def job_plan(make_config) -> list[P.ServicePlan]:
    return [build(make_config()).services[-1]]


def run_jobs(ledger, host, services):
    run_id = ledger.begin_run("op", "migrate --phase 2", 2, False)
    return run_id, Executor(host, Journal(ledger, run_id), mask=False).run(services)


def test_a_job_is_repointed_between_runs_journaled_and_nothing_is_started(make_config, ledger, tmp_path):
    services = job_plan(make_config)
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.manager.before[JOB] = JOB_ARGV
    run_id, [result] = run_jobs(ledger, host, services)
    assert result.outcome == MIGRATED, result
    assert host.calls_of(JOB) == ["preflight", "check_imports", "remove_replacement", "job_running"]
    assert host.manager.calls == ["reload"]  # no restart, no start: the timer fires it
    text = (tmp_path / "units" / f"{JOB}.d" / DROPIN).read_text()
    assert text.startswith(f"# revops: {jobs.PURPOSE}\n")
    assert text.endswith("[Service]\nExecStart=\nExecStart=" + " ".join(NEW_ARGV) + "\n")
    steps = [(s.step, s.state) for s in ledger.steps(run_id) if s.service == JOB]
    assert steps == [(P.PREFLIGHT, "done"), (P.VERIFY_CANDIDATE, "done"), (P.BETWEEN_RUNS, "done"),
                     (P.REPOINT_UNIT, "done")]
    record = ledger.repoints(jobs.PURPOSE)[JOB]
    assert (record.state, record.argv_before, record.argv_after) == (repoint.REPOINTED, JOB_ARGV, NEW_ARGV)
    assert record.uses_before == "/opt/m/leadgen/venv" and record.uses_after == "compose service revflow-leadgen-nightly"
    assert resume.service_states(ledger) == {JOB: MIGRATED}
    assert ledger.open_steps() == []


def test_a_running_job_is_refused_with_why_and_its_unit_untouched(make_config, ledger, tmp_path):
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.manager.active[JOB] = ("activating", "start")
    run_id, [result] = run_jobs(ledger, host, job_plan(make_config))
    assert result.outcome == NOT_STARTED
    assert "the job is running (activating/start): cut over between runs" in result.reason
    assert result.reason.endswith(f"{JOB} untouched")
    assert not (tmp_path / "units" / f"{JOB}.d").exists() and host.manager.calls == []
    assert [(s.step, s.state) for s in ledger.steps(run_id)][-1] == (P.BETWEEN_RUNS, "failed")
    assert jobs.PURPOSE not in {r.purpose for r in ledger.repoints().values()}


def test_a_drop_in_by_revops_name_that_revops_did_not_write_leaves_the_job_untouched(make_config, ledger, tmp_path):
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.manager.before[JOB] = JOB_ARGV
    mine = "[Service]\nExecStart=\nExecStart=/usr/bin/mine\n"
    host.dropins.write(JOB, DROPIN, mine)
    _, [result] = run_jobs(ledger, host, job_plan(make_config))
    assert result.outcome == NOT_STARTED and "not written by revops" in result.reason, result
    assert (tmp_path / "units" / f"{JOB}.d" / DROPIN).read_text() == mine
    assert host.manager.calls == [] and resume.service_states(ledger).get(JOB) != "down"
    assert jobs.PURPOSE not in {r.purpose for r in ledger.repoints().values()}


def test_an_import_check_that_fails_leaves_the_unit_as_it_was(make_config, ledger, tmp_path):
    host = ScriptedHost(ledger, candidate_ok=False, dropin_dir=tmp_path / "units")
    _, [result] = run_jobs(ledger, host, job_plan(make_config))
    assert result.outcome == CANDIDATE_FAILED and "no such module" in result.reason
    assert "job_running" not in host.calls_of(JOB) and not (tmp_path / "units" / f"{JOB}.d").exists()


def test_a_drop_in_systemd_reads_otherwise_is_put_back_without_a_start(make_config, ledger, tmp_path):
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.manager.reads_back = ["/usr/bin/other", "--from", "99-later.conf"]
    run_id, [result] = run_jobs(ledger, host, job_plan(make_config))
    assert result.outcome == ROLLED_BACK and "another drop-in sorting after" in result.reason
    assert not (tmp_path / "units" / f"{JOB}.d" / DROPIN).exists()
    assert host.manager.calls == ["reload", "reload"]  # written, then removed: never (re)started
    assert [(s.step, s.state) for s in ledger.steps(run_id) if s.service == JOB][-2:] == [
        (P.REPOINT_UNIT, "failed"), (P.PUT_JOB_BACK, "done")]
    assert ledger.repoints(jobs.PURPOSE)[JOB].state == repoint.PUT_BACK_DONE
    assert resume.service_states(ledger) == {JOB: ROLLED_BACK}


def test_a_job_waits_for_the_services_it_is_after_and_is_skipped_when_one_fails(make_config, ledger, tmp_path):
    services = build(make_config()).services
    host = ScriptedHost(ledger, healthy=False, dropin_dir=tmp_path / "units")
    _, results = run_jobs(ledger, host, services)
    assert [r.outcome for r in results] == [ROLLED_BACK, "skipped", "skipped"]
    assert host.calls_of(JOB) == [] and not (tmp_path / "units" / f"{JOB}.d").exists()


# -- rollback ---------------------------------------------------------------------------

def test_rollback_of_the_phase_removes_the_jobs_drop_in_and_starts_nothing(make_config, ledger, tmp_path):
    cfg = make_config()
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.manager.before[JOB] = JOB_ARGV
    run_jobs(ledger, host, job_plan(make_config))
    host.calls.clear()
    host.manager.calls.clear()
    [sp], _ = rollback.choose(inventory(), cfg, [], 2, resume.service_states(ledger), FILES)
    assert sp.kind == P.KIND_JOB
    out = io.StringIO()
    rollback.render_plan([sp], output.make_console(file=out, width=300))
    assert f"{JOB} <- its own ExecStart (job; revflow-leadgen-nightly.timer unchanged)" in out.getvalue()
    assert "remove its drop-in 50-revops-job-container.conf" in out.getvalue()
    run_id = ledger.begin_run("op", "rollback --phase 2", 2, False)
    result = rollback._put_job_back(host, Journal(ledger, run_id), sp, lambda _m: None)
    assert (result.outcome, result.reason) == (ROLLED_BACK, "drop-in removed")
    assert not (tmp_path / "units" / f"{JOB}.d").exists()
    assert host.manager.calls == ["reload"] and host.calls_of(JOB) == []  # nothing started, nothing stopped
    assert [[c.path, *c.argv[1:]] for c in host.manager.exec_start(JOB)] == [JOB_ARGV]
    assert [(s.step, s.state) for s in ledger.steps(run_id)] == [(P.PUT_JOB_BACK, "done")]
    assert ledger.repoints(jobs.PURPOSE)[JOB].state == repoint.PUT_BACK_DONE
    assert resume.service_states(ledger) == {JOB: ROLLED_BACK}
    assert rollback.job_repoints(ledger) == set()


def test_rollback_by_name_refuses_a_drop_in_revops_did_not_write(make_config, ledger, tmp_path):
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.dropins.write(JOB, DROPIN, "[Service]\nExecStart=\nExecStart=/usr/bin/mine\n")
    [sp], _ = rollback.choose(inventory(), make_config(), ["revflow-leadgen-nightly"], None, {}, FILES)
    run_id = ledger.begin_run("op", "rollback", None, False)
    result = rollback._put_job_back(host, Journal(ledger, run_id), sp, lambda _m: None)
    assert result.outcome == "down" and "not written by revops" in result.reason
    assert (tmp_path / "units" / f"{JOB}.d" / DROPIN).exists()


# -- resume after kill -9 ---------------------------------------------------------------

def killed_mid_repoint(ledger, host, make_config, *, write: bool) -> int:
    """What `kill -9` between the drop-in's write and the ledger's after-record leaves: the
    repoint step open, the repoints record `repointing`, the service `migrating`."""
    sp = job_plan(make_config)[0]
    r = sp.job.repoint(sp.unit, sp.service)
    dead = ledger.begin_run("op", "migrate --phase 2", 2, False)
    ledger.step_started(dead, JOB, P.REPOINT_UNIT, "drop-in")
    ledger.set_repoint(JOB, jobs.PURPOSE, repoint.REPOINTING, dead, dropin=f"{JOB}.d/{DROPIN}",
                       exec_before=JOB_ARGV, exec_after=list(r.argv), uses_before=None, uses_after=None,
                       restarts_before=None, reason=None)
    ledger.set_service_state(JOB, P.MIGRATING, dead)
    if write:
        host.dropins.write(JOB, DROPIN, r.dropin.text)
    return ledger.begin_run("op", "migrate --phase 2", 2, False)


def test_resume_finishes_a_repoint_whose_drop_in_systemd_reads(make_config, ledger, tmp_path):
    cfg = make_config()
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    run_id = killed_mid_repoint(ledger, host, make_config, write=True)
    [result] = resume.converge(inventory(), cfg, ledger, Journal(ledger, run_id), host, FILES)
    assert result.outcome == MIGRATED and "drop-in in place" in result.reason
    assert ledger.repoints(jobs.PURPOSE)[JOB].state == repoint.REPOINTED
    assert resume.service_states(ledger) == {JOB: MIGRATED}
    assert ledger.open_steps() == []
    assert host.manager.calls == ["reload"] and "start_unit" not in host.calls_of(JOB)
    assert (tmp_path / "units" / f"{JOB}.d" / DROPIN).exists()


def test_resume_puts_back_a_repoint_killed_before_its_drop_in_was_whole(make_config, ledger, tmp_path):
    cfg = make_config()
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.manager.before[JOB] = JOB_ARGV
    run_id = killed_mid_repoint(ledger, host, make_config, write=False)
    [result] = resume.converge(inventory(), cfg, ledger, Journal(ledger, run_id), host, FILES)
    assert result.outcome == ROLLED_BACK and f"resumed after {P.REPOINT_UNIT}" in result.reason
    assert [s.detail for s in result.steps] == ["drop-in already gone"]
    assert ledger.repoints(jobs.PURPOSE)[JOB].state == repoint.PUT_BACK_DONE
    assert resume.service_states(ledger) == {JOB: ROLLED_BACK}
    assert ledger.open_steps() == []
    # never the service's settle: the job's unit is not started (that would run the job)
    assert not {"start_unit", "replacement_verdict", "wait_replacement_healthy"} & set(host.calls_of(JOB))


def test_resume_of_a_job_killed_before_its_repoint_removes_what_preflight_made(make_config, ledger, tmp_path):
    cfg = make_config()
    inv = inventory()
    inv.units[2].environment_files = ["/etc/revflow/shared.env"]
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    dead = ledger.begin_run("op", "migrate --phase 2", 2, False)
    ledger.step_started(dead, JOB, P.WRITE_SECRET, "copy")
    run_id = ledger.begin_run("op", "migrate --phase 2", 2, False)
    [result] = resume.converge(inv, cfg, ledger, Journal(ledger, run_id), host, FILES)
    assert result.outcome == "unchanged" and "never repointed" in result.reason
    assert host.calls_of(JOB) == ["remove_replacement", "remove_secret"]
    assert ledger.open_steps() == []


def test_the_between_runs_gate_reads_the_live_states_through_the_host(make_config, ledger, tmp_path):
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    host.manager.active[JOB] = ("active", "exited")  # RemainAfterExit=yes, its run done
    _, [result] = run_jobs(ledger, host, job_plan(make_config))
    assert result.outcome == MIGRATED
    with pytest.raises(CheckFailed, match="running"):
        host.manager.active[JOB] = ("active", "running")
        Executor(host, Journal(ledger, 1), mask=False)._idle(job_plan(make_config)[0])


def test_status_reads_a_repointed_job_as_in_a_container_not_misplaced():
    from revops.status import classify
    from revops.status.figures import (ContainerFigure, HealthFigure, MigrationFigure, ServiceStatus,
                                       SystemdFigure, TimerFigure)

    def status(runs_in: str) -> ServiceStatus:
        return classify.judge(ServiceStatus(
            name=JOB, phase=2, suite="lead-gen", kind="job",
            systemd=SystemdFigure("LIVE", "t", load_state="loaded", active_state="inactive", sub_state="dead",
                                  result="success"),
            container=ContainerFigure("LIVE", "t", present=False),
            health=HealthFigure("unknown", "UNAVAILABLE", None, reason="no port"),
            migration=MigrationFigure("LIVE", "t", state="migrated"),
            timer=TimerFigure("LIVE", "t", timer="revflow-leadgen-nightly.timer", runs_in=runs_in,
                              dropin=f"/u/{JOB}.d/{DROPIN}" if runs_in == "container" else None)))

    moved = status("container")
    assert moved.verdict == "healthy" and "not-where-ledger-says" not in moved.flags
    assert "not-where-ledger-says" in status("host").flags  # the ledger says migrated, the drop-in is gone


# -- LiveHost's job decisions (the manager a stand-in answering states and DropInPaths) -

class JobSystemd:
    def __init__(self, active: str, sub: str, result: str, dropins_applied: list[str]) -> None:
        self.state = (active, sub, result)
        self.applied = dropins_applied

    def states(self, names):
        from types import SimpleNamespace

        active, sub, result = self.state
        return {n: SimpleNamespace(load_state="loaded", active_state=active, sub_state=sub, result=result) for n in names}

    def dropin_paths(self, name):
        return list(self.applied)


def live_host(make_config, active="inactive", sub="dead", result="success", applied=()):
    from revops.migrate.host import LiveHost

    return LiveHost(make_config(), JobSystemd(active, sub, result, list(applied)), engine=None, compose=None,
                    compose_files=[])


def test_live_host_reads_between_runs_from_the_units_live_states(make_config):
    sp = job_plan(make_config)[0]
    assert live_host(make_config).job_running(sp) is None
    assert "running (activating/start)" in live_host(make_config, "activating", "start").job_running(sp)


def test_a_later_phases_gate_judges_a_job_by_its_drop_in_and_last_run_not_a_container(make_config):
    sp = job_plan(make_config)[0]
    ours = f"/home/u/.config/systemd/user/{JOB}.d/{DROPIN}"
    fine = live_host(make_config, applied=["/etc/x.d/10-override.conf", ours]).replacement_verdict(sp)
    assert fine.ok and "repointed; last run success" in fine.reason
    gone = live_host(make_config, applied=["/etc/x.d/10-override.conf"]).replacement_verdict(sp)
    assert not gone.ok and "not repointed" in gone.reason
    failed = live_host(make_config, "failed", "failed", "exit-code", applied=[ours]).replacement_verdict(sp)
    assert not failed.ok and "last run failed (Result exit-code)" in failed.reason


def test_a_set_up_never_blocks_a_later_phase_and_a_job_does(make_config):
    setup = Unit(name="revflow-leadgen-migrate.service", path=None, service_type="oneshot",
                 exec_start=[["/opt/venv/bin/python", "migrate.py"]])
    earlier = {u.name for u, _ in P.earlier_units(inventory(setup), make_config(), 3)}
    assert JOB in earlier and "revflow-leadgen-migrate.service" not in earlier


def test_a_job_whose_exec_start_systemd_would_refuse_is_still_planned_and_shown(make_config):
    inv = inventory()
    inv.units[2].exec_start = [["bin/job [bold]x[/bold]", "--now"]]  # relative, white space: untrusted input
    plan = build(make_config(), inv)
    job = plan.services[-1]
    assert "was ExecStart='bin/job [bold]x[/bold]' --now (as the unit file has it)" in job.steps[-1].changes
    out = io.StringIO()
    migrate.render_plan(plan, output.make_console(file=out, width=400))
    assert "old ExecStart='bin/job [bold]x[/bold]' --now (as the unit file has it)" in out.getvalue()


def test_a_plan_made_without_a_compose_tool_never_touches_the_job(make_config, ledger, tmp_path):
    [sp] = [s for s in P.build(inventory(), make_config(), 2, compose_files=FILES, compose=None,
                               compose_missing="no compose tool").services if s.kind == P.KIND_JOB]
    host = ScriptedHost(ledger, dropin_dir=tmp_path / "units")
    _, [result] = run_jobs(ledger, host, [sp])
    assert (result.outcome, result.reason) == (NOT_STARTED, "no new ExecStart= to write: no compose tool")
    assert host.calls == [] and ledger.open_steps() == []
