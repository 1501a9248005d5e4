"""The repoint / put-back step pair: drop-in files for real (a temp directory), the ledger for
real (SQLite), the manager faked here (the real one: tests/adapters/test_systemd_dropins.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revops import repoint
from revops.adapters import ledger as ledger_mod
from revops.adapters.systemd import DropinFiles, ExecCommand, UnitState
from revops.errors import CheckFailed
from revops.journal import Journal

UNIT = "revpublish.service"
OLD = ("/opt/m/revpublish/venv/bin/uvicorn", "app:app", "--port", "8550")
NEW = ("/opt/revflow-os/suite-venvs/core-1/bin/uvicorn", "app:app", "--port", "8550")


class FakeManager:
    """Reads ExecStart from the drop-in the step wrote (the last ExecStart= line), as if the
    manager had reloaded it; `override` stands for another drop-in sorting after ours."""

    def __init__(self, files: DropinFiles) -> None:
        self.files = files
        self.calls: list[str] = []
        self.active = "failed"
        self.override: list[str] | None = None

    def reload(self) -> None:
        self.calls.append("reload")

    def states(self, names):
        return {n: UnitState(n, "loaded", self.active, "dead", None, 3, None, "enabled", None) for n in names}

    def restart(self, name, timeout=30.0, mode="replace"):
        self.calls.append(f"restart {name} {mode}")
        self.active = "active"
        return "active"

    def reset_failed(self, name):
        self.calls.append(f"reset-failed {name}")

    def exec_start(self, name):
        argv = list(OLD)
        text = self.files.read(name, "50-revops-stabilize.conf")
        if text:
            line = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")][-1]
            argv = line[len("ExecStart="):].split(" ")
        argv = self.override or argv
        return [ExecCommand(argv[0], argv, False, 0, 0, 0)]


@pytest.fixture
def ledger(tmp_path):
    led = ledger_mod.open_ledger(f"sqlite://{tmp_path}/ledger.db")
    yield led
    led.close()


@pytest.fixture
def pair(tmp_path, ledger):
    files = DropinFiles(tmp_path / "units")
    run = ledger.begin_run("alice", "revops stabilize", None, False)
    return repoint.Pair(FakeManager(files), files, Journal(ledger, run), ledger)


def change() -> repoint.Repoint:
    return repoint.Repoint(UNIT, "stabilize", NEW, OLD, uses_before="/opt/m/revpublish/venv",
                           uses_after="/opt/revflow-os/suite-venvs/core-1", restarts_before=3)


def test_repoint_writes_the_drop_in_reloads_checks_and_restarts_the_unit_alone(pair, ledger, tmp_path):
    said = pair.repoint(change())
    path = tmp_path / "units" / f"{UNIT}.d" / "50-revops-stabilize.conf"
    assert path.read_text().endswith("ExecStart=\nExecStart=" + " ".join(NEW) + "\n")
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert pair.manager.calls == ["reload", f"reset-failed {UNIT}", f"restart {UNIT} ignore-requirements"]
    assert said.startswith(f"drop-in {path} written") and said.endswith("restarted (active)")
    record = ledger.repoints("stabilize")[UNIT]
    assert (record.state, record.argv_before, record.argv_after, record.restarts_before, record.dropin) == (
        "repointing", list(OLD), list(NEW), 3, str(path))
    pair.mark_repointed(UNIT, "stabilize", "healthy")
    assert ledger.repoints("stabilize")[UNIT].state == "repointed"
    steps = ledger.steps(pair.journal.run_id)
    assert [(s.step, s.state) for s in steps] == [("repoint-unit", "done")]
    assert "ExecStart=" + " ".join(NEW) in steps[0].detail


def test_a_drop_in_systemd_reads_otherwise_fails_the_step_and_put_back_restores(pair, ledger, tmp_path):
    pair.manager.override = ["/bin/other"]
    with pytest.raises(CheckFailed, match="systemd reads ExecStart as"):
        pair.repoint(change())
    assert [(s.step, s.state) for s in ledger.steps(pair.journal.run_id)] == [("repoint-unit", "failed")]
    assert ledger.repoints("stabilize")[UNIT].state == "repointing"  # half-way: the caller puts back
    pair.manager.override = None
    said = pair.put_back(UNIT, "stabilize", "read back differs")
    assert said == "drop-in removed; restarted (active)"
    assert not (tmp_path / "units" / f"{UNIT}.d").exists()  # the directory the write made goes too
    record = ledger.repoints("stabilize")[UNIT]
    assert (record.state, record.reason) == ("put-back", "read back differs")


def test_put_back_leaves_a_drop_in_revops_did_not_write(pair, tmp_path):
    folder = tmp_path / "units" / f"{UNIT}.d"
    folder.mkdir(parents=True)
    (folder / "50-revops-stabilize.conf").write_text("[Service]\nExecStart=\nExecStart=/bin/mine\n")
    with pytest.raises(CheckFailed, match="not written by revops"):
        pair.put_back(UNIT, "stabilize", "undo")
    assert (folder / "50-revops-stabilize.conf").read_text().endswith("/bin/mine\n")


def test_repoint_never_overwrites_a_drop_in_by_its_name_that_revops_did_not_write(pair, ledger, tmp_path):
    folder = tmp_path / "units" / f"{UNIT}.d"
    folder.mkdir(parents=True)
    mine = "[Service]\nEnvironment=HAND_WRITTEN=1\n"
    (folder / "50-revops-stabilize.conf").write_text(mine)
    with pytest.raises(repoint.NotOurs, match="not written by revops"):
        pair.repoint(change())
    assert (folder / "50-revops-stabilize.conf").read_text() == mine
    assert pair.manager.calls == []  # no reload, no restart
    assert UNIT not in ledger.repoints("stabilize")  # nothing for a later run to "settle"


def test_put_back_of_a_unit_with_no_drop_in_restarts_it_as_it_is(pair):
    assert pair.put_back(UNIT, "stabilize", "undo", restart=False) == "drop-in already gone"
    assert pair.manager.calls == ["reload"]


def test_nothing_is_written_when_the_ledger_refuses_the_step(pair, ledger, tmp_path):
    ledger.close()  # the journal cannot write "before": the host must not change
    with pytest.raises(Exception, match="cannot journal"):
        pair.repoint(change())
    assert not (tmp_path / "units").exists()
    assert pair.manager.calls == []


def test_a_symlinked_drop_in_directory_is_followed_only_into_what_the_caller_allows(tmp_path):
    host = tmp_path / "host" / "etc/systemd/system" / f"{UNIT}.d"
    host.mkdir(parents=True)
    units = tmp_path / "units"
    units.mkdir()
    os.symlink(host, units / f"{UNIT}.d")
    with pytest.raises(CheckFailed, match="outside"):
        DropinFiles(units).write(UNIT, "50-revops-stabilize.conf", "x")
    assert list(host.iterdir()) == []
    written = DropinFiles(units, confine=[tmp_path / "host"]).write(UNIT, "50-revops-stabilize.conf", "x\n")
    assert written == host / "50-revops-stabilize.conf" and written.read_text() == "x\n"
    assert DropinFiles(units, confine=[tmp_path / "host"]).remove(UNIT, "50-revops-stabilize.conf")
    assert (units / f"{UNIT}.d").is_symlink() and host.is_dir()  # the host's directory stays


@pytest.mark.parametrize("unit, name", [("../x.service", "a.conf"), ("x.service", "../a.conf"),
                                        ("x.service", "a.txt"), ("x.service", ".hidden.conf")])
def test_drop_in_files_refuse_names_that_are_not_theirs(tmp_path, unit, name):
    with pytest.raises(CheckFailed):
        DropinFiles(tmp_path).write(unit, name, "x")
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_in_place_of_a_drop_in_is_refused_without_blocking(tmp_path):
    folder = tmp_path / f"{UNIT}.d"
    folder.mkdir()
    os.mkfifo(folder / "50-revops-stabilize.conf")
    with pytest.raises(CheckFailed, match="not a regular file"):
        DropinFiles(tmp_path).read(UNIT, "50-revops-stabilize.conf")


def test_a_write_replaces_the_file_whole(tmp_path):
    files = DropinFiles(tmp_path)
    first = files.write(UNIT, "50-revops-stabilize.conf", "one\n")
    inode = first.stat().st_ino
    files.write(UNIT, "50-revops-stabilize.conf", "two\n")
    assert first.read_text() == "two\n" and first.stat().st_ino != inode  # renamed over, never rewritten in place
    assert sorted(p.name for p in first.parent.iterdir()) == ["50-revops-stabilize.conf"]  # no temp file left
    assert isinstance(files.directory(UNIT), Path)
