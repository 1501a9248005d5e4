"""Cleanup on an offline example host: the plan, --apply into the quarantine, --undo back to
the same bytes, modes and symlinks; paths outside the configured roots refused."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revops import config as config_mod
from revops.cleanup import quarantine as Q
from revops.cli import app
from revops.commands import cleanup
from revops.errors import CheckFailed, UsageError

from migrate_helpers import snapshot

RUNNER = CliRunner()


def _cli(*args: str) -> str:
    result = RUNNER.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("offline-host")
    _cli("example-host", str(root))
    _cli("inventory", "scan", "--config", str(root / "revops.yaml"))
    return root


def test_plan_apply_undo_is_byte_for_byte(host):
    cfg = config_mod.load(host / "revops.yaml")
    before = snapshot(host)

    planned = cleanup.run(cfg)
    assert planned.mode == "plan" and snapshot(host) == before
    by_name = {c.name: c for c in planned.plan.candidates}
    assert by_name["revaudit.service"].why == "deprecated"
    assert by_name["revpublish-v2.service"].why == "duplicate"
    assert "revcore-gateway.service" not in by_name
    venvs = [c for c in planned.plan.candidates if c.kind == "venv"]
    assert venvs and all(c.why == "corrupted-venv" for c in venvs)
    assert "UNAVAILABLE" in planned.plan.systemd  # no system bus here: said, not guessed

    applied = cleanup.run(cfg, apply=True)
    moved = set(applied.moved)
    assert moved and all(not (host / p.lstrip("/")).exists() and not (host / p.lstrip("/")).is_symlink()
                         for p in moved)
    manifest = json.loads((Path(applied.quarantine) / "manifest.json").read_text())
    assert {item["path"] for item in manifest["items"]} == moved
    entries = [e for item in manifest["items"] for e in item["entries"]]
    assert any(e["type"] == "symlink" and e["target"] for e in entries)  # *.wants links went too
    assert all(e["sha256"] for e in entries if e["type"] == "file")
    assert applied.systemd_reload.startswith("skipped: systemd unreachable")

    undone = cleanup.run(cfg, undo=applied.run)
    assert undone.differences == []
    assert snapshot(host) == before
    with pytest.raises(CheckFailed, match="restored already"):
        cleanup.run(cfg, undo=applied.run)


def test_paths_outside_the_configured_roots_are_refused(host):
    cfg = config_mod.load(host / "revops.yaml")
    with pytest.raises(UsageError, match="outside"):
        Q.on_host(cfg, "/usr/bin/python3.11")
    with pytest.raises(UsageError, match="outside"):
        Q.on_host(cfg, "/etc/systemd/system/../../../revops.yaml")
    assert Q.on_host(cfg, "/srv/revflow") == host / "srv" / "revflow"


def test_a_tampered_manifest_cannot_restore_outside_the_roots(host, tmp_path):
    cfg = config_mod.load(host / "revops.yaml")
    run_dir = Q.quarantine_dir(cfg, "tampered")
    (run_dir / "files" / "usr" / "bin").mkdir(parents=True)
    (run_dir / "files" / "usr" / "bin" / "evil").write_text("x")
    manifest = Q.Manifest("tampered", Q.now(), str(host), [
        Q.Moved("venv", "/usr/bin/evil", "corrupted-venv", "/usr/bin/evil",
                [Q.Entry("/usr/bin/evil", "file", 0o644, 0, "0" * 64)])])
    Q.write_manifest(run_dir, manifest)
    with pytest.raises(UsageError, match="outside"):
        cleanup.run(cfg, undo="tampered")
    assert not (host / "usr" / "bin" / "evil").exists()
    with pytest.raises(UsageError, match="quarantine run name"):
        cleanup.run(cfg, undo="../x")


def test_cleanup_cli_plan_json_is_data_only(host):
    out = _cli("cleanup", "--json", "--config", str(host / "revops.yaml"))
    data = json.loads(out)
    assert data["mode"] == "plan" and data["plan"]["candidates"]


def test_ctrl_c_stops_between_two_moves_and_what_moved_can_be_put_back(host, monkeypatch):
    cfg = config_mod.load(host / "revops.yaml")
    before = snapshot(host)
    real_put_away = Q.put_away
    calls = []

    def put_away_then_ctrl_c(*args, **kwargs):
        moved = real_put_away(*args, **kwargs)
        calls.append(moved)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # a real SIGINT, while the third path moves
        return moved

    monkeypatch.setattr(Q, "put_away", put_away_then_ctrl_c)
    handler_before = signal.getsignal(signal.SIGINT)
    applied = cleanup.run(cfg, apply=True)
    assert applied.exit_code == 130 and len(applied.moved) == 3 and len(calls) == 3
    assert signal.getsignal(signal.SIGINT) is handler_before
    manifest = json.loads((Path(applied.quarantine) / "manifest.json").read_text())
    assert [item["path"] for item in manifest["items"]] == applied.moved
    assert cleanup.run(cfg, undo=applied.run).differences == []
    assert snapshot(host) == before
