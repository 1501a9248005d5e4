"""cleanup's rule for venvs no unit points at any more: after migrate (the ledger's states) and
after stabilize (its repoints). Pure: a small inventory as data."""

from __future__ import annotations

from revops import config as config_mod
from revops.cleanup import plan as C
from revops.model import Inventory, Unit, Venv

CONFIG = """
host: {root: /}
suites:
  core:
    phase: 1
    units: [a.service, b.service, c.service, d.service]
"""
SUITE = "/opt/revflow-os/suite-venvs/core-1"


def setup(tmp_path):
    path = tmp_path / "revops.yaml"
    path.write_text(CONFIG)
    units = [Unit(name=f"{n}.service", path=f"etc/systemd/system/{n}.service", venv=f"/opt/m/{n}/venv",
                  exec_start=[[f"/opt/m/{n}/venv/bin/python", "app.py"]], working_directory=f"/opt/m/{n}")
             for n in "abcd"]
    units[3].venv = "/opt/m/c/venv"  # d runs from c's venv
    units[3].exec_start = [["/opt/m/c/venv/bin/python", "app.py"]]
    venvs = [Venv("/opt/m/a/venv", True, used_by=["a.service"]), Venv("/opt/m/b/venv", True, used_by=["b.service"]),
             Venv("/opt/m/c/venv", True, used_by=["c.service", "d.service"]), Venv(SUITE, True, used_by=[])]
    return config_mod.load(path), Inventory(root="/", scanned_at="2026-11-29T12:00:00Z", units=units, venvs=venvs)


def test_a_venv_whose_units_were_repointed_or_migrated_is_redundant_and_one_still_used_is_not(tmp_path):
    config, inventory = setup(tmp_path)
    repointed = {"a.service": C.Repointed([f"{SUITE}/bin/python", "app.py"], "/opt/m/a/venv"),
                 "c.service": C.Repointed([f"{SUITE}/bin/python", "app.py"], "/opt/m/c/venv")}
    plan = C.build(inventory, config, {"b.service": C.MIGRATED}, None, "test", repointed)
    venvs = {c.name: c for c in plan.candidates if c.kind == "venv"}
    assert sorted(venvs) == ["/opt/m/a/venv", "/opt/m/b/venv"]
    assert venvs["/opt/m/a/venv"].why == C.UNUSED_VENV and "a.service" in venvs["/opt/m/a/venv"].detail
    assert "b.service" in venvs["/opt/m/b/venv"].detail  # migrated
    # c's venv: d still runs from it; the suite venv: the repointed units' drop-ins name it.
    assert "/opt/m/c/venv" not in venvs and SUITE not in venvs


def test_without_the_ledger_s_word_a_healthy_venv_in_use_is_never_a_candidate(tmp_path):
    config, inventory = setup(tmp_path)
    plan = C.build(inventory, config, {}, None, "test")
    assert [c for c in plan.candidates if c.kind == "venv"] == []


def test_a_redundant_venv_holding_a_path_a_staying_unit_uses_is_kept(tmp_path):
    config, inventory = setup(tmp_path)
    inventory.units[1].environment_files = ["/opt/m/a/venv/.env"]  # b reads a file inside a's old venv
    repointed = {"a.service": C.Repointed([f"{SUITE}/bin/python", "app.py"], "/opt/m/a/venv")}
    plan = C.build(inventory, config, {}, None, "test", repointed)
    assert [c.name for c in plan.candidates if c.kind == "venv"] == []
    assert any(k.name == "/opt/m/a/venv" and "never moved" in k.reason for k in plan.kept)
