"""`revops inventory scan --root` on a hostile root (issue #12, kinds 3 and 4): a FIFO or a link
out of the root where the scan reads ends with a problem, never a hang or a leak."""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from revops.cli import app

UNIT = "[Service]\nExecStart=/usr/bin/app --name %H --machine %m\n"


def test_fifo_and_outside_links_under_the_root_end_the_scan_with_problems(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/app.service").write_text(UNIT)
    (root / "etc/systemd/system/app.service.d").mkdir()
    os.mkfifo(root / "etc/systemd/system/app.service.d/10-fifo.conf")
    os.mkfifo(root / "etc/hostname")
    (tmp_path / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    os.symlink(str(tmp_path / "machine-id"), root / "etc/machine-id")
    os.mkfifo(root / "etc/systemd/system/fifo.service")
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["inventory", "scan", "--root", str(root), "--json", "--no-live", "--no-write"])
    assert done.exit_code == 0, done.output
    units = {u["name"]: u for u in json.loads(done.stdout)["units"]}
    assert "0123456789abcdef" not in done.stdout
    problems = {(p["code"], p["file"]) for p in units["app.service"]["problems"]}
    assert ("unreadable", "/etc/systemd/system/app.service.d/10-fifo.conf") in problems
    assert [p["code"] for p in units["fifo.service"]["problems"]] == ["not-a-regular-file"]


def test_unit_directories_and_dropins_linking_out_of_the_root_read_nothing_outside(tmp_path, monkeypatch):
    outside = tmp_path / "machine"
    (outside / "units").mkdir(parents=True)
    (outside / "units/stolen.service").write_text("[Service]\nExecStart=/bin/true\nUser=machine-secret\n")
    (outside / "dropins").mkdir()
    (outside / "dropins/10.conf").write_text("[Service]\nUser=machine-secret\n")
    root = tmp_path / "root"
    (root / "etc/systemd").mkdir(parents=True)
    (root / "lib/systemd/system").mkdir(parents=True)
    os.symlink(str(outside / "units"), root / "etc/systemd/system")  # absolute: <root>/<...>/units on the host
    (root / "lib/systemd/system/app.service").write_text("[Service]\nExecStart=/bin/true\n")
    os.symlink(str(outside / "dropins"), root / "lib/systemd/system/app.service.d")
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["inventory", "scan", "--root", str(root), "--json", "--no-live", "--no-write"])
    assert done.exit_code == 0, done.output
    assert "machine-secret" not in done.stdout
    assert [u["name"] for u in json.loads(done.stdout)["units"]] == ["app.service"]
