"""Drop-ins against the test bed's real systemd user manager: the manager itself reads back the
argv revops wrote, the process it starts gets exactly that argv (/proc/PID/cmdline), and
putting back gives the unit its own ExecStart again."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from revops import jobs, repoint
from revops.adapters import ledger as ledger_mod
from revops.adapters import proc, systemd
from revops.errors import CheckFailed
from revops.journal import Journal

pytestmark = pytest.mark.realstack

SLEEPER = "/usr/bin/python3"  # `python3 -c CODE ARGS...` ignores ARGS: any words will do
CODE = "import time; time.sleep(600)"
TRICKY = ["two words", 'say "hi"', "it's", "back\\slash", "100%", "%i", "${REVOPS_WORD}", ";", "", "tab\there",
          "naïve ✓", "--api-key=x"]


def systemctl(*args: str, check: bool = True) -> str:
    return proc.run(["systemctl", "--user", *args], check=check, timeout=30).stdout.strip()


@pytest.fixture
def unit(testbed) -> Iterator[tuple[str, Path]]:
    name = f"revops-test-repoint-{uuid.uuid4().hex[:8]}.service"
    path = testbed.user_unit_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[Service]\nEnvironment=REVOPS_WORD=from-the-unit\nExecStart={SLEEPER} -c \"{CODE}\" original\n")
    systemctl("daemon-reload")
    yield name, path
    systemctl("stop", name, check=False)
    systemctl("reset-failed", name, check=False)
    for leftover in sorted((testbed.user_unit_dir / f"{name}.d").glob("*"), reverse=True):
        leftover.unlink()
    (testbed.user_unit_dir / f"{name}.d").rmdir() if (testbed.user_unit_dir / f"{name}.d").exists() else None
    path.unlink(missing_ok=True)
    systemctl("daemon-reload", check=False)


@pytest.fixture
def pair(testbed, tmp_path) -> Iterator[repoint.Pair]:
    led = ledger_mod.open_ledger(f"sqlite://{tmp_path}/ledger.db")
    manager = systemd.connect("user")
    files = systemd.DropinFiles(systemd.admin_unit_dir("user", Path("/")))
    yield repoint.Pair(manager, files, Journal(led, led.begin_run("t", "test", None, False)), led, timeout_s=30)
    led.close()


def cmdline(pid: int) -> list[str]:
    """The process's argv once it has exec'd (Type=simple is active right after the fork,
    while the child still shows as "(python3)")."""
    for _ in range(200):
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        if words and not words[0].startswith("("):
            return words
        time.sleep(0.01)
    return words


def test_the_user_managers_directory_is_where_systemd_reads_drop_ins(testbed):
    assert systemd.admin_unit_dir("user", Path("/")) == testbed.user_unit_dir
    assert systemd.admin_unit_dir("system", Path("/srv/copy")) == Path("/srv/copy/etc/systemd/system")


def test_a_repointed_unit_runs_exactly_the_argv_and_put_back_restores_its_own(unit, pair):
    name, _ = unit
    manager = pair.manager
    manager.start(name, 30)
    old_pid = manager.states([name])[name].main_pid
    assert cmdline(old_pid) == [SLEEPER, "-c", CODE, "original"]
    argv = (SLEEPER, "-c", CODE, *TRICKY)
    said = pair.repoint(repoint.Repoint(name, "stabilize", argv, (SLEEPER, "-c", CODE, "original")))
    assert said.endswith("restarted (active)")
    state = manager.states([name])[name]
    assert state.active_state == "active" and state.main_pid != old_pid
    # What systemd runs is the argv given, word for word: quotes, %, $, ;, empty and unicode included
    # (${REVOPS_WORD} stays for systemd to substitute, as it would have in the unit's own line).
    expected = ["from-the-unit" if w == "${REVOPS_WORD}" else w for w in argv]
    assert cmdline(state.main_pid) == expected
    shown = systemctl("show", "-p", "DropInPaths", "--value", name)
    assert shown.endswith(f"{name}.d/50-revops-stabilize.conf")

    said = pair.put_back(name, "stabilize", "test over")
    assert said == "drop-in removed; restarted (active)"
    state = manager.states([name])[name]
    assert cmdline(state.main_pid) == [SLEEPER, "-c", CODE, "original"]
    assert systemctl("show", "-p", "DropInPaths", "--value", name) == ""
    assert [r.state for r in pair.ledger.repoints("stabilize").values()] == ["put-back"]


def test_a_later_drop_in_that_sets_exec_start_again_fails_the_read_back(unit, pair, testbed):
    name, _ = unit
    later = testbed.user_unit_dir / f"{name}.d" / "90-admin.conf"
    later.parent.mkdir(parents=True, exist_ok=True)
    later.write_text(f"[Service]\nExecStart=\nExecStart={SLEEPER} -c \"{CODE}\" admin\n")
    with pytest.raises(CheckFailed, match="systemd reads ExecStart as"):
        pair.repoint(repoint.Repoint(name, "stabilize", (SLEEPER, "-c", CODE, "ours"), (SLEEPER,), restart=False))
    pair.put_back(name, "stabilize", "read back differs", restart=False)
    assert sorted(p.name for p in later.parent.iterdir()) == ["90-admin.conf"]  # the admin's stays


def test_a_job_drop_ins_resets_leave_the_process_none_of_the_units_environment(unit, pair):
    # What a job's drop-in runs is the compose client: the unit's Environment= (which could
    # steer compose: DOCKER_HOST, COMPOSE_*) must not reach it; systemd takes every reset.
    name, path = unit
    path.write_text(path.read_text().replace("[Service]\n", "[Service]\nRestrictAddressFamilies=AF_INET\n"))
    systemctl("daemon-reload")
    argv = (SLEEPER, "-c", CODE, "job")
    pair.repoint(repoint.Repoint(name, "job-container", argv, (SLEEPER, "-c", CODE, "original"),
                                 resets=jobs.RESETS))
    state = pair.manager.states([name])[name]
    assert state.active_state == "active" and cmdline(state.main_pid) == list(argv)
    environ = Path(f"/proc/{state.main_pid}/environ").read_bytes().split(b"\0")
    assert not [e for e in environ if e.startswith(b"REVOPS_WORD=")]
    assert systemctl("show", "-p", "Environment", "--value", name) == ""
    assert systemctl("show", "-p", "RestrictAddressFamilies", "--value", name) in ("", "~")  # "~": deny none
    pair.put_back(name, "job-container", "test over")
    state = pair.manager.states([name])[name]
    assert b"REVOPS_WORD=from-the-unit" in Path(f"/proc/{state.main_pid}/environ").read_bytes().split(b"\0")
