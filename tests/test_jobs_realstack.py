"""A timer-fired job cut over for real: the test bed's systemd user manager fires the job's
timer, the repointed unit runs the job once in a fresh container (docker-compose run --rm of
a service in the `jobs` profile, no restart policy), the unit's result is the container's
exit, its output is the unit's output, and putting it back gives the unit its own ExecStart.

The bed's user manager has no journald, so the unit's own StandardOutput= (a file here; the
journal on a host) is where its output is read: the drop-in changes ExecStart= only."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from types import SimpleNamespace

from revops import jobs, repoint
from revops.commands import rollback
from revops.adapters import compose, proc, systemd
from revops.adapters import ledger as ledger_mod
from revops.journal import Journal
from revops.status import gather

pytestmark = pytest.mark.realstack

HOST_ARGV = ("/usr/bin/python3", "-c", "print('job ran on the host', flush=True)")
EVERY_3S = "*-*-* *:*:0/3"  # the shortened schedule of the test


def systemctl(*args: str, check: bool = True) -> str:
    return proc.run(["systemctl", "--user", *args], check=check, timeout=30).stdout.strip()


@pytest.fixture
def job(testbed, tmp_path) -> Iterator[tuple[str, str, Path, Path]]:
    stem = f"revops-test-job-{uuid.uuid4().hex[:8]}"
    unit, timer = f"{stem}.service", f"{stem}.timer"
    out = tmp_path / "output.log"
    d = testbed.user_unit_dir
    d.mkdir(parents=True, exist_ok=True)
    (d / unit).write_text(
        "[Service]\nType=oneshot\n"
        f"Environment=DOCKER_HOST={testbed.docker_host}\n"
        f"StandardOutput=append:{out}\nStandardError=append:{out}\n"
        f"ExecStart={HOST_ARGV[0]} -c \"{HOST_ARGV[2]}\"\n")
    (d / timer).write_text(f"[Timer]\nOnCalendar={EVERY_3S}\nAccuracySec=1s\nPersistent=false\n")
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(
        "services:\n"
        "  job:\n"
        f"    image: \"{testbed.base_image}\"\n"
        "    command: [\"/usr/bin/python3\", \"-c\", \"print('job ran in a container', flush=True)\"]\n"
        "    network_mode: none\n"
        "    profiles: [\"jobs\"]\n"
        "    restart: \"no\"\n")
    systemctl("daemon-reload")
    systemctl("start", timer)
    yield unit, timer, compose_file, out
    systemctl("stop", timer, check=False)
    systemctl("stop", unit, check=False)
    systemctl("reset-failed", unit, check=False)
    for leftover in sorted((d / f"{unit}.d").glob("*")):
        leftover.unlink()
    if (d / f"{unit}.d").exists():
        (d / f"{unit}.d").rmdir()
    (d / unit).unlink(missing_ok=True)
    (d / timer).unlink(missing_ok=True)
    systemctl("daemon-reload", check=False)


@pytest.fixture
def pair(testbed, tmp_path) -> Iterator[repoint.Pair]:
    led = ledger_mod.open_ledger(f"sqlite://{tmp_path}/ledger.db")
    manager = systemd.connect("user")
    files = systemd.DropinFiles(systemd.admin_unit_dir("user", Path("/")))
    yield repoint.Pair(manager, files, Journal(led, led.begin_run("t", "test", None, False)), led, timeout_s=30)
    led.close()


def next_run(manager: systemd.Manager, unit: str, timer: str, after_usec: int, deadline: float = 60.0):
    """Wait for a run of `unit` that its timer fired after `after_usec` to finish."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        t = manager.timer_states([timer])[timer]
        state = manager.states([unit])[unit]
        # NextElapseUSecRealtime is unset for a moment after the timer elapses (systemd
        # computes the next one once the run has been queued): wait for it too.
        if (t.last_trigger_usec and t.last_trigger_usec > after_usec and t.next_elapse_usec
                and state.active_state in ("inactive", "failed")):
            return t, state
        time.sleep(0.3)
    raise AssertionError(f"{timer} did not fire {unit} to its end within {deadline}s")


def wait_between_runs(manager: systemd.Manager, unit: str) -> None:
    for _ in range(200):
        state = manager.states([unit])[unit]
        if jobs.between_runs(state.active_state, state.sub_state) is None:
            return
        time.sleep(0.1)
    raise AssertionError(f"{unit} never stopped running")


def test_a_job_cut_over_runs_in_a_container_at_its_next_trigger_and_put_back_restores_it(job, pair):
    unit, timer, compose_file, out = job
    manager = pair.manager
    first, _ = next_run(manager, unit, timer, 0)  # the old world: the job on the host
    assert "job ran on the host" in out.read_text()
    assert first.unit == unit and first.next_elapse_usec and first.next_elapse_usec > first.last_trigger_usec

    wait_between_runs(manager, unit)
    project = f"revopsjob{uuid.uuid4().hex[:8]}"
    said = pair.repoint(jobs.repoint(unit, "job", HOST_ARGV, compose.detect(), [str(compose_file)], project))
    assert "restarted" not in said  # no restart: its timer starts it
    fired_before = manager.timer_states([timer])[timer].last_trigger_usec
    t, state = next_run(manager, unit, timer, fired_before)
    assert state.result == "success" and state.exec_main_status == 0, (state, out.read_text()[-2000:])
    assert "job ran in a container" in out.read_text()
    assert t.result == "success"
    # what `revops status` shows of the job, LIVE from the manager
    read = gather.read_timers("user", {unit: timer})
    figure = read.figures[unit]
    assert read.report.provenance == "LIVE" and figure.timer == timer
    assert figure.last_trigger and figure.next_trigger and figure.next_trigger >= figure.last_trigger
    # the schedule is systemd's as before: the timer file untouched, only the service has a drop-in
    assert systemctl("show", "-p", "DropInPaths", "--value", timer) == ""
    assert systemctl("show", "-p", "DropInPaths", "--value", unit).endswith(f"{unit}.d/50-revops-{jobs.PURPOSE}.conf")
    # --rm: no container of the run is left
    left = proc.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                    timeout=30).stdout.strip()
    assert left == ""

    wait_between_runs(manager, unit)
    # `revops rollback` of the job: the ledger knows it is repointed, so its drop-in goes
    assert rollback.job_repoints(pair.ledger) == {unit}
    host = SimpleNamespace(job_pair=lambda journal: pair)  # the Host's one call a job's put-back makes
    sp = SimpleNamespace(unit=unit, secret=None)
    done = rollback._put_job_back(host, pair.journal, sp, lambda _: None)
    assert (done.outcome, done.reason) == ("rolled-back", "drop-in removed")
    assert rollback.job_repoints(pair.ledger) == set()
    assert [[c.path, *c.argv[1:]] for c in manager.exec_start(unit)] == [list(HOST_ARGV)]
    before = manager.timer_states([timer])[timer].last_trigger_usec
    out.write_text("")
    next_run(manager, unit, timer, before)
    assert "job ran on the host" in out.read_text() and "container" not in out.read_text()
