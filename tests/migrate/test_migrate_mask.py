"""mask_on_migrate on a host whose unit files live in the manager's admin directory (RevFlow OS:
/etc/systemd/system): the plan says per unit, before anything runs, which units are masked and
which only disabled and why; the cutover's and the retire's disable steps never ask systemd
for a mask it refuses, so they no longer fail; rollback and put-back restore what was.

The manager is migrate_helpers.UnitFilesManager (refusing a mask over an admin-directory file
as systemd does); the real one is in test_migrate_mask_realstack.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

from revops import config as config_mod
from revops import output
from revops.adapters.ledger import open_ledger
from revops.commands import migrate
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import retire, retiring, wiring
from revops.migrate.executor import ROLLED_BACK, Executor
from revops.migrate.host import LiveHost
from revops.model import Inventory, Timer, Unit

from migrate_helpers import ScriptedHost, UnitFilesManager

WHY = "its unit file /etc/systemd/system/{} is in the manager's admin directory"


def config(tmp_path: Path, mask: bool = True) -> config_mod.Config:
    path = tmp_path / "revops.yaml"
    path.write_text(f"host: {{root: .}}\nsystemd: {{bus: system, mask_on_migrate: {'true' if mask else 'false'}}}\n"
                    "suites:\n  core:\n    phase: 1\n    units: [api.service, own.service, \"work@*.service\"]\n"
                    "retire:\n  heal.service: \"rebuilds venvs\"\n")
    return config_mod.load(path)


def inventory() -> Inventory:
    def unit(name, **kw):
        return Unit(name=name, path=f"etc/systemd/system/{name}", **kw)
    return Inventory(root="/", scanned_at=None, units=[
        unit("api.service", port=8000), unit("own.service", port=8001),
        unit("heal.service", service_type="oneshot",
             timers=[Timer("heal.timer", "etc/systemd/system/heal.timer", on_calendar=["*:0/15"], enabled=True)])])


def write_admin_dir(root: Path) -> Path:
    """own.service and heal.service written by the administrator; api.service linked in from
    /opt (LinkUnitFiles' symlink); heal.timer elsewhere in the search path."""
    admin = root / "etc/systemd/system"
    admin.mkdir(parents=True)
    (admin / "own.service").write_text("[Service]\nExecStart=/bin/true\n")
    (admin / "heal.service").write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    (admin / "api.service").symlink_to("/opt/api/api.service")
    return admin


# -- the plan: per unit, before anything runs ----------------------------------------------

def test_the_admin_directory_decides_which_units_the_plan_masks_and_the_steps_say_why(tmp_path):
    cfg = config(tmp_path)
    admin = write_admin_dir(tmp_path)
    blockers = wiring.mask_blockers(cfg, inventory())
    assert set(blockers) == {"own.service", "heal.service"}  # a link goes with the disable; the timer is elsewhere
    assert blockers["own.service"] == (f"its unit file {admin}/own.service is in the manager's admin directory, "
                                       "where the mask would have to replace it (systemctl(1) mask)")
    plan = P.build(inventory(), cfg, 1, mask_blockers=blockers)
    by_unit = {sp.unit: sp for sp in plan.services}
    api, own = by_unit["api.service"], by_unit["own.service"]
    assert api.not_masked == {} and own.not_masked == {"own.service": blockers["own.service"]}
    disable = {sp.unit: {s.name: s.changes for s in sp.steps}[P.DISABLE_UNIT] for sp in plan.services}
    assert disable["api.service"] == "disables api.service and masks it so a reboot does not start both"
    assert disable["own.service"] == ("disables own.service so a reboot does not start both; does not mask it "
                                      f"(mask_on_migrate): {blockers['own.service']}")
    [heal] = plan.retire
    assert heal.not_masked == {"heal.service": blockers["heal.service"]}
    assert ("disables heal.service, heal.timer and masks heal.timer so a reboot starts none; does not mask "
            f"heal.service (mask_on_migrate): heal.service: {blockers['heal.service']}") in heal.steps[1].changes
    # The dry run's text and JSON say the same, before anything runs.
    out = io.StringIO()
    migrate.render_plan(plan, output.make_console(file=out, width=400))
    text = out.getvalue()
    assert ("then mask each unit but 2 whose unit file is in the manager's admin directory (only disabled: "
            "see each step)") in text
    assert f"does not mask it (mask_on_migrate): {blockers['own.service']}" in text
    data = json.loads(output.dumps(plan))
    assert {s["unit"]: s["not_masked"] for s in data["services"]} == {
        "api.service": {}, "own.service": {"own.service": blockers["own.service"]}}
    assert data["retire"][0]["not_masked"] == {"heal.service": blockers["heal.service"]}


def test_an_inventory_name_that_is_no_unit_name_is_not_masked_and_the_plan_says_why(tmp_path):
    cfg = config(tmp_path)
    write_admin_dir(tmp_path)
    inv = inventory()
    inv.units.append(Unit(name="x\x00.service", path=None))  # an untrusted units.yaml: "x\0.service"
    blockers = wiring.mask_blockers(cfg, inv)
    assert blockers["x\x00.service"] == "'x\\x00.service': not a unit name"


def test_without_mask_on_migrate_nothing_is_read_and_nothing_is_said_about_masks(tmp_path):
    cfg = config(tmp_path, mask=False)
    write_admin_dir(tmp_path)
    assert wiring.mask_blockers(cfg, inventory()) == {}
    plan = P.build(inventory(), cfg, 1, mask_blockers={"own.service": "ignored"})
    assert all(sp.not_masked == {} for sp in plan.services)
    assert all("mask" not in s.changes for sp in plan.services for s in sp.steps if s.name == P.DISABLE_UNIT)


def test_a_replicated_templates_instances_are_masked_each_as_its_own_name_allows():
    words = P.disable_words(["work@1.service", "work@2.service"], True, {"work@2.service": "a file there"}, "")
    assert words == ("disables work@1.service, work@2.service and masks work@1.service; does not mask "
                     "work@2.service (mask_on_migrate): work@2.service: a file there")
    assert P.disable_words(["a.service", "b.service"], True, {"a.service": "x", "b.service": "y"}, "") == (
        "disables a.service, b.service; does not mask a.service, b.service (mask_on_migrate): "
        "a.service: x; b.service: y")


# -- the cutover's disable step and its rollback (LiveHost on a stand-in manager) ----------

def live_host(tmp_path: Path, manager: UnitFilesManager) -> LiveHost:
    return LiveHost(config(tmp_path), manager, engine=None, compose=None, compose_files=[], services={})


def plan_of(tmp_path: Path, unit: str) -> P.ServicePlan:
    return P.service_plan(next(u for u in inventory().units if u.name == unit), config(tmp_path), [])


def test_the_cutovers_disable_leaves_an_admin_unit_file_unmasked_and_its_rollback_enables_it_again(tmp_path):
    write_admin_dir(tmp_path)
    manager = UnitFilesManager({"own.service": ["loaded", "enabled", "inactive", "success"]})
    manager.admin_files = {"own.service"}  # MaskUnitFiles would fail: "File ... already exists"
    host = live_host(tmp_path, manager)
    said = host.retire_unit(plan_of(tmp_path, "own.service"), mask=True)
    assert manager.calls == ["disable own.service"]  # no mask asked for: nothing failed
    assert said == (f"own.service disabled; own.service not masked (its unit file {tmp_path}/etc/systemd/system/"
                    "own.service is in the manager's admin directory, where the mask would have to replace it "
                    "(systemctl(1) mask))")
    assert host.start_unit(plan_of(tmp_path, "own.service")).startswith("own.service active")
    assert manager.units["own.service"][1:3] == ["enabled", "active"]


def test_a_linked_unit_is_masked_and_its_rollback_unmasks_links_again_enables_and_starts_it(tmp_path):
    write_admin_dir(tmp_path)
    (tmp_path / "etc/systemd/system/api.service").unlink()  # what DisableUnitFiles does to the link
    manager = UnitFilesManager({"api.service": ["loaded", "linked", "inactive", "success"]})
    host = live_host(tmp_path, manager)
    assert host.retire_unit(plan_of(tmp_path, "api.service"), mask=True) == "api.service disabled; api.service masked"
    assert manager.units["api.service"][:2] == ["masked", "masked"]
    host.start_unit(plan_of(tmp_path, "api.service"))
    assert manager.calls[2:] == ["unmask api.service", "link api.service", "enable api.service", "start api.service"]
    assert manager.units["api.service"][1:3] == ["enabled", "active"]


def test_a_cutover_with_mask_on_an_admin_unit_file_migrates_instead_of_rolling_back(tmp_path):
    """The executor's view: the disable step is done, the service migrated (before the fix
    MaskUnitFiles' refusal failed the step and the service was rolled back)."""
    write_admin_dir(tmp_path)
    manager = UnitFilesManager({"own.service": ["loaded", "enabled", "active", "success"]})
    manager.admin_files = {"own.service"}
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    try:
        host = ScriptedHost(ledger)
        host.retire_unit = live_host(tmp_path, manager).retire_unit  # the real disable step, the rest scripted
        run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
        [result] = Executor(host, Journal(ledger, run_id), mask=True).run([plan_of(tmp_path, "own.service")])
        assert result.outcome == P.MIGRATED, result
        step = [s for s in ledger.steps(run_id) if s.step == P.DISABLE_UNIT][0]
        assert step.state == "done" and "own.service not masked" in step.reason
    finally:
        ledger.close()


# -- the retire of old-world units -----------------------------------------------------------

def test_the_retire_masks_what_it_can_and_its_put_back_restores_every_unit_as_it_was(tmp_path):
    manager = UnitFilesManager({"heal.service": ["loaded", "static", "inactive", "success"],
                                "heal.timer": ["loaded", "enabled", "active", "success"]})
    manager.admin_files = {"heal.service"}
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    try:
        host = ScriptedHost(ledger)
        host.unit_files = manager
        run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
        result = retiring.retire_one(host, Journal(ledger, run_id), "heal.service", ["heal.timer"],
                                     P.retire_steps("heal.service", ["heal.timer"], True, [],
                                                    {"heal.service": WHY.format("heal.service")}),
                                     mask=True, fragments={})
        assert result.outcome == retiring.RETIRED, result
        assert "mask heal.service" not in manager.calls and "mask heal.timer" in manager.calls
        assert manager.units["heal.timer"][:2] == ["masked", "masked"]
        assert result.steps[-1].detail.endswith(f"; heal.service not masked ({WHY.format('heal.service')})")
        recorded = retiring.retired_units(ledger)["heal.service"]
        back = retiring.put_back(host, Journal(ledger, ledger.begin_run("op", "rollback", None, False)),
                                 "heal.service", recorded.detail, {}, "operator asked")
        assert back.outcome == ROLLED_BACK, back
        assert manager.units["heal.timer"] == ["loaded", "enabled", "active", "success"]
        assert manager.units["heal.service"][:3] == ["loaded", "static", "inactive"]
    finally:
        ledger.close()


def test_a_put_back_of_a_masked_linked_unit_unmasks_it_before_it_links_it_again(tmp_path):
    manager = UnitFilesManager({"copy.service": ["loaded", "linked", "active", "success"]})
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    try:
        host = ScriptedHost(ledger)
        host.unit_files = manager
        journal = Journal(ledger, ledger.begin_run("op", "migrate", 1, False))
        fragments = {"copy.service": Path("/opt/copy/copy.service")}
        result = retiring.retire_one(host, journal, "copy.service", [], P.retire_steps("copy.service", [], True, []),
                                     mask=True, fragments=fragments)
        assert result.outcome == retiring.RETIRED and manager.units["copy.service"][:2] == ["masked", "masked"]
        back = retiring.put_back(host, journal, "copy.service", retiring.retired_units(ledger)["copy.service"].detail,
                                 fragments, "operator asked")
        assert back.outcome == ROLLED_BACK, back
        assert manager.calls[-3:] == ["unmask copy.service", "link copy.service", "start copy.service"]
        assert manager.units["copy.service"][:3] == ["loaded", "linked", "active"]
    finally:
        ledger.close()

