"""`revops inventory scan` on the example host: counts, flags, files, JSON contract, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from revops import config as config_mod
from revops.cli import app, main
from revops.commands import example_host, inventory
from revops.example_host import generate, unitfiles

runner = CliRunner()


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("host")
    example_host.run(directory)
    return directory


def scan(host: Path, **kwargs) -> inventory.ScanResult:
    return inventory.run(config_mod.load(host / "revops.yaml"), live=False, **kwargs)


def test_every_unit_file_is_listed_with_instances_and_flags(host):
    files = sorted(p.name for p in (host / "etc/systemd/system").glob("*.service"))
    result = scan(host, write=False)
    names = [u.name for u in result.inventory.units]
    templates = [f for f in files if f.endswith("@.service")]
    expected = set(files) - set(templates)
    assert expected <= set(names)
    assert {n for n in names if n not in expected} == {
        n for n in names if "@" in n and n.split("@")[0] + "@.service" in templates}
    units = {u.name: u for u in result.inventory.units}
    assert units["revaudit.service"].deprecated
    assert units["revpublish.service"].port == 8550 and units["revpublish.service"].suite == "core"
    assert units["revpublish.service"].venv == "/opt/revflow-os/modules/revpublish/venv"
    assert all(u.live.provenance == "UNAVAILABLE" and u.live.reason for u in units.values())


def test_corrupted_venvs_are_found_by_their_kind(host):
    _, plan = generate.build(unitfiles.Layout())
    venvs = {v.path: v for v in scan(host, write=False).inventory.venvs}
    for path, kind in plan.corrupted_venvs.items():
        assert kind in venvs[path].problems, (path, venvs[path].details)
    assert any(v.orphan for v in venvs.values()) and any(v.used_by for v in venvs.values())
    assert len(venvs) >= 250


def test_rescan_with_nothing_changed_rewrites_identical_files(host, tmp_path):
    first = scan(host, output_dir=tmp_path)
    before = {p: Path(p).read_bytes() for p in first.written}
    second = scan(host, output_dir=tmp_path)
    assert second.unchanged
    assert {p: Path(p).read_bytes() for p in second.written} == before
    doc = yaml.safe_load((tmp_path / "units.yaml").read_text())
    assert doc["scanned_at"] and [u["name"] for u in doc["units"]] == sorted(u["name"] for u in doc["units"])


def test_json_contract_and_exit_code_zero_with_problems(host, monkeypatch):
    monkeypatch.chdir(host)
    done = runner.invoke(app, ["inventory", "scan", "--json", "--no-live", "--no-write"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert set(data) == {"units", "venvs", "coverage"}  # coverage: issue #15, an extension
    assert {"live", "covered", "uncovered", "by_destination"} <= set(data["coverage"])
    unit = next(u for u in data["units"] if u["name"] == "revpublish.service")
    assert unit["path"] == "etc/systemd/system/revpublish.service"
    assert unit["exec_start"][0][-2:] == ["--port", "8550"] and unit["phase"] == 1
    assert any(u["problems"] for u in data["units"])
    assert all(set(v) >= {"path", "healthy", "problems", "used_by"} for v in data["venvs"])


def test_unreachable_bus_leaves_live_state_unavailable_and_the_scan_goes_on(host, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/revops-test-bus")
    result = inventory.run(config_mod.load(host / "revops.yaml"), live=True, user=True, write=False)
    assert result.live_reason
    assert all(u.live.provenance == "UNAVAILABLE" and u.live.reason == result.live_reason
               for u in result.inventory.units)
    assert result.inventory.units and result.inventory.venvs


def test_a_root_that_does_not_exist_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["inventory", "scan", "--root", str(tmp_path / "nope"), "--no-live"])
    assert exited.value.code == 2
    assert "nope is not a directory" in capsys.readouterr().err.replace("\n", "")
