"""Repoint, gate, put back: drop-in files and the ledger for real (a temp directory, SQLite),
the manager and the clock faked (the real manager: tests/stabilize/test_stabilize_realstack.py)."""

from __future__ import annotations

import json

import pytest

from revops import repoint
from revops.adapters import ledger as ledger_mod
from revops.adapters.systemd import DropinFiles, ExecCommand, UnitState
from revops.journal import Journal
from revops.stabilize import execute
from revops.stabilize.build import relocate_scripts
from revops.stabilize.plan import UnitPlan

UNIT = "revwins.service"
OLD = ["/opt/m/revwins/venv/bin/python", "worker.py", "--queue", "w"]
NEW = ["/srv/suite-venvs/core-1/bin/python", "worker.py", "--queue", "w"]


class Manager:
    """Reads ExecStart back from the drop-in; `restarts_after` automatic restarts follow a
    restart while the drop-in is in place (the suite venv fails the unit)."""

    def __init__(self, files: DropinFiles, restarts_after: int = 0) -> None:
        self.files, self.restarts_after = files, restarts_after
        self.n_restarts, self.calls = 7, []

    def reload(self):
        self.calls.append("reload")

    def states(self, names):
        return {n: UnitState(n, "loaded", "active", "running", "success", self.n_restarts, 1, "linked", 0)
                for n in names}

    def restart(self, name, timeout=30.0, mode="replace"):
        self.calls.append("restart")
        ours = self.files.read(name, "50-revops-stabilize.conf") is not None
        self.n_restarts = self.restarts_after if ours else 0
        return "active"

    def reset_failed(self, name):
        pass

    def exec_start(self, name):
        text = self.files.read(name, "50-revops-stabilize.conf")
        argv = text.splitlines()[-1][len("ExecStart="):].split(" ") if text else OLD
        return [ExecCommand(argv[0], argv, False, 0, 0, 0)]


@pytest.fixture
def ledger(tmp_path):
    led = ledger_mod.open_ledger(f"sqlite://{tmp_path}/ledger.db")
    yield led
    led.close()


def pair_with(tmp_path, ledger, restarts_after):
    files = DropinFiles(tmp_path / "units")
    journal = Journal(ledger, ledger.begin_run("alice", "revops stabilize", None, False))
    return repoint.Pair(Manager(files, restarts_after), files, journal, ledger), files


GATE = execute.Gate(settle_s=5, timeout_s=10, url=lambda port: None)
PLAN = UnitPlan(UNIT, "core", OLD, NEW, venv_before="/opt/m/revwins/venv", venv_after="/srv/suite-venvs/core-1")


def test_a_unit_that_settles_stays_repointed_and_the_ledger_keeps_its_restarts_before(tmp_path, ledger):
    pair, files = pair_with(tmp_path, ledger, restarts_after=0)
    slept = []
    result = execute.stabilize(PLAN, pair, GATE, sleep=slept.append)
    assert result.ok and result.action == "repointed" and result.restarts_before == 7
    assert slept == [5] and "not restarted 5s after" in result.detail
    assert files.read(UNIT, "50-revops-stabilize.conf").splitlines()[-1] == "ExecStart=" + " ".join(NEW)
    record = ledger.repoints("stabilize")[UNIT]
    assert (record.state, record.restarts_before, json.loads(record.exec_before)) == ("repointed", 7, OLD)
    steps = [(s.step, s.state) for s in ledger.steps(pair.journal.run_id)]
    assert steps == [("repoint-unit", "done"), ("gate", "done")]


def test_a_unit_that_restarts_on_the_suite_venv_is_put_back_with_the_reason(tmp_path, ledger):
    pair, files = pair_with(tmp_path, ledger, restarts_after=2)
    result = execute.stabilize(PLAN, pair, GATE, sleep=lambda s: None)
    assert not result.ok and result.action == "put back"
    assert "2 automatic restart(s)" in result.detail and "drop-in removed" in result.detail
    assert files.read(UNIT, "50-revops-stabilize.conf") is None
    assert pair.manager.calls[-1] == "restart" and pair.manager.n_restarts == 0  # restarted as it was
    assert ledger.repoints("stabilize")[UNIT].state == "put-back"
    assert [(s.step, s.state) for s in ledger.steps(pair.journal.run_id)] == [
        ("repoint-unit", "done"), ("gate", "failed"), ("put-back", "done")]


def test_an_operators_drop_in_by_revops_name_is_left_and_the_unit_not_repointed(tmp_path, ledger):
    pair, files = pair_with(tmp_path, ledger, restarts_after=0)
    mine = "[Service]\nExecStart=\nExecStart=/usr/local/bin/hand-made\n"
    files.write(UNIT, "50-revops-stabilize.conf", mine)
    result = execute.stabilize(PLAN, pair, GATE, sleep=lambda s: None)
    assert not result.ok and result.action == "not repointed" and "not written by revops" in result.detail
    assert files.read(UNIT, "50-revops-stabilize.conf") == mine and pair.manager.calls == []
    assert UNIT not in ledger.repoints("stabilize")  # no half-way record for the next run to put back


def test_undo_removes_the_drop_in_and_restarts_the_unit_on_its_own_venv(tmp_path, ledger):
    pair, files = pair_with(tmp_path, ledger, restarts_after=0)
    assert execute.stabilize(PLAN, pair, GATE, sleep=lambda s: None).ok
    undone = execute.undo(UNIT, pair)
    assert undone.ok and "drop-in removed" in undone.detail
    assert files.read(UNIT, "50-revops-stabilize.conf") is None
    assert pair.manager.exec_start(UNIT)[0].argv == OLD


def test_a_health_gate_that_never_answers_puts_the_unit_back(tmp_path, ledger):
    pair, files = pair_with(tmp_path, ledger, restarts_after=0)
    now = [0.0]

    def sleep(s):
        now[0] += s

    gate = execute.Gate(settle_s=5, timeout_s=2, url=lambda port: f"http://127.0.0.1:{port}/health",
                        probe_timeout_s=0.2)
    plan = UnitPlan(UNIT, "core", OLD, NEW, port=9, venv_after="/srv/suite-venvs/core-1")  # discard port: no answer
    result = execute.stabilize(plan, pair, gate, sleep=sleep, clock=lambda: now[0])
    assert not result.ok and "not healthy within 2s" in result.detail
    assert files.read(UNIT, "50-revops-stabilize.conf") is None


def test_console_scripts_name_the_final_venv_after_the_rename(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uvicorn").write_text("#!/srv/.core-1.tmp-9/bin/python\nimport sys\n")
    (bin_dir / "uvicorn").chmod(0o755)
    (bin_dir / "other").write_text("#!/usr/bin/env python3\n")
    (bin_dir / "python").symlink_to("/usr/bin/python3")
    assert relocate_scripts(bin_dir, "/srv/.core-1.tmp-9", "/srv/core-1") == ["uvicorn"]
    assert (bin_dir / "uvicorn").read_text() == "#!/srv/core-1/bin/python\nimport sys\n"
    assert (bin_dir / "uvicorn").stat().st_mode & 0o777 == 0o755
    assert (bin_dir / "other").read_text() == "#!/usr/bin/env python3\n"
    assert sorted(p.name for p in bin_dir.iterdir()) == ["other", "python", "uvicorn"]


def test_a_oneshot_job_is_repointed_but_never_run_by_stabilize(tmp_path, ledger):
    pair, files = pair_with(tmp_path, ledger, restarts_after=0)
    job = UnitPlan(UNIT, "core", OLD, NEW, venv_after="/srv/suite-venvs/core-1", job=True)
    result = execute.stabilize(job, pair, GATE, sleep=lambda s: pytest.fail("no gate for a job"))
    assert result.ok and "a oneshot job" in result.detail and "restart" not in pair.manager.calls
    assert files.read(UNIT, "50-revops-stabilize.conf") is not None
    assert ledger.repoints("stabilize")[UNIT].state == "repointed"
    assert execute.undo(UNIT, pair).ok and "restart" in pair.manager.calls  # active: put back and restarted


def test_a_suite_venv_directory_linking_outside_the_root_is_never_built_into(tmp_path):
    from pathlib import Path

    from revops.stabilize import build

    root, elsewhere = tmp_path / "host", tmp_path / "elsewhere"
    (root / "opt").mkdir(parents=True)
    elsewhere.mkdir()
    (root / "opt" / "suite-venvs").symlink_to(elsewhere)  # stabilize.path on the host
    final = root / "opt" / "suite-venvs" / "core-3f2a9c1b0d4e"
    proof, built = build.build(tmp_path / "core.txt", final, [], [], root=root)
    assert not built and not proof.ok and "outside the host root" in proof.detail, proof.detail
    assert list(elsewhere.iterdir()) == []  # no venv, no scratch venv, nothing run there
    (root / "opt" / "suite-venvs").unlink()
    (root / "opt" / "suite-venvs").mkdir()
    Path(final).symlink_to(elsewhere)  # a "venv" already at the final name, leading out
    assert "outside the host root" in build.build(tmp_path / "core.txt", final, [], [], root=root)[0].detail
    assert build.outside_root(root / "opt" / "suite-venvs" / "core-new", root) is None


def test_a_command_no_drop_in_can_say_is_not_repointed_and_nothing_is_written(tmp_path, ledger):
    pair, files = pair_with(tmp_path, ledger, restarts_after=0)
    bad = UnitPlan(UNIT, "core", OLD, ["/srv/suite-venvs/core 1/bin/python", "worker.py"])  # white space in the path
    result = execute.stabilize(bad, pair, GATE, sleep=lambda s: None)
    assert not result.ok and result.action == "not repointed" and "executable" in result.detail
    assert not (tmp_path / "units").exists() and pair.manager.calls == []


def test_a_suite_venv_others_could_plant_is_never_run_or_used(tmp_path):
    import os

    from revops.stabilize import build

    root = tmp_path / "host"
    shared = root / "tmp"
    shared.mkdir(parents=True)
    shared.chmod(0o1777)  # stabilize.path: /tmp: anyone may make /tmp/core-<digest of the lock> first
    final = shared / "core-3f2a9c1b0d4e"
    assert "writable by others" in build.unsafe_place(final, root)  # not yet there: anyone may make it
    (final / "bin").mkdir(parents=True)
    planted = final / "bin" / "python"
    planted.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran\n")
    planted.chmod(0o755)
    os.chown(final, 4242, 4242)  # made by someone else
    proof, built = build.build(tmp_path / "core.txt", final, [], [], root=root)
    assert not built and not proof.ok and "uid 4242" in proof.detail, proof.detail
    assert not (tmp_path / "ran").exists()
    os.chown(final, 0, 0)
    shared.chmod(0o777)  # no sticky bit: what is there could be swapped
    assert "writable by others" in build.build(tmp_path / "core.txt", final, [], [], root=root)[0].detail
    assert not (tmp_path / "ran").exists()
    # a sticky directory on the way to one of ours is fine (/tmp/pytest-of-root/...)
    shared.chmod(0o1777)
    mine = shared / "mine"
    mine.mkdir(mode=0o755)
    assert build.unsafe_place(mine / "suite-venvs" / "core-new", root) is None
    assert build.unsafe_place(root / "opt" / "suite-venvs" / "core-new", root) is None
