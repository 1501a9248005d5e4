"""The stabilize plan: per unit the old and the new ExecStart, or why the unit is left alone;
duplicate venvs and which the suite venvs replace. Pure: a small inventory as data."""

from __future__ import annotations

import json

import pytest

from revops import config as config_mod
from revops.model import Inventory, Unit, Venv
from revops.stabilize import plan as P

CONFIG = """
host: {root: /}
suites:
  core:
    phase: 1
    units: [revpublish.service, revwins.service, revcron.service, revaudit.service, revold.service,
            revmoved.service, revbare.service, revtwo.service]
  other:
    phase: 2
    units: [revother.service]
deprecated: [revaudit.service]
stabilize: {path: /srv/suite-venvs}
"""
LOCK = "# suite: core\nfastapi==0.110.0 --hash=sha256:aa\n"
OWN = "/opt/m/revpublish/venv"


def config(tmp_path):
    path = tmp_path / "revops.yaml"
    path.write_text(CONFIG)
    return config_mod.load(path)


def unit(name, argv, venv=None, **kw):
    return Unit(name=name, path=f"etc/systemd/system/{name}", exec_start=[argv] if argv else [], venv=venv, **kw)


def inventory():
    units = [
        unit("revpublish.service", [f"{OWN}/bin/uvicorn", "app:app", "--port", "8550"], OWN, port=8550),
        unit("revwins.service", ["/opt/m/revwins/venv/bin/python", "worker.py", "--queue", "w"], "/opt/m/revwins/venv"),
        unit("revcron.service", ["/usr/bin/python3", "-m", "cronjob"]),
        unit("revaudit.service", [f"{OWN}/bin/python", "audit.py"], OWN),
        unit("revold.service", [f"{OWN}/bin/python", "old.py"], OWN, masked=True),
        unit("revmoved.service", [f"{OWN}/bin/python", "moved.py"], OWN),
        unit("revbare.service", ["/usr/local/bin/revbare", "--serve"]),
        unit("revtwo.service", None, exec_start_prefixes=[]),
        unit("revother.service", ["/opt/m/o/venv/bin/python", "o.py"], "/opt/m/o/venv"),
        unit("revloose.service", ["/opt/m/l/venv/bin/python", "l.py"], "/opt/m/l/venv"),
    ]
    units[7].exec_start = [["/a/venv/bin/python", "one.py"], ["/a/venv/bin/python", "two.py"]]
    return Inventory(root="/", scanned_at="2026-11-29T12:00:00Z", units=units, venvs=[])


def test_each_unit_gets_its_old_and_new_exec_start_or_the_reason_it_is_left_alone(tmp_path):
    cfg = config(tmp_path)
    venv = P.suite_venv(cfg, "core", LOCK, "3.11.2")
    assert venv.path == f"/srv/suite-venvs/{P.venv_name('core', LOCK)}" and venv.path.split("-")[-1].isalnum()
    plan = P.plan(inventory(), cfg, [venv], migration={"revmoved.service": "migrated"})
    by = {u.unit: u for u in plan.units}
    assert "revother.service" not in by and "revloose.service" not in by  # not this run's suites
    assert by["revpublish.service"].after == [f"{venv.path}/bin/uvicorn", "app:app", "--port", "8550"]
    assert by["revpublish.service"].venv_before == OWN and by["revpublish.service"].venv_after == venv.path
    assert by["revwins.service"].after == [f"{venv.path}/bin/python", "worker.py", "--queue", "w"]
    # A bare system interpreter runs the suite venv's packages, exactly as generate maps it.
    assert by["revcron.service"].after == [f"{venv.path}/bin/python", "-m", "cronjob"]
    assert by["revaudit.service"].skip == "deprecated"
    assert by["revold.service"].skip == "masked"
    assert "runs in a container" in by["revmoved.service"].skip
    assert "nothing to repoint" in by["revbare.service"].skip
    assert "has 2 ExecStart= commands" in by["revtwo.service"].skip
    assert [u.unit for u in plan.acting()] == ["revcron.service", "revpublish.service", "revwins.service"]


def test_a_suite_without_a_lock_leaves_its_units_alone_and_says_so(tmp_path):
    cfg = config(tmp_path)
    plan = P.plan(inventory(), cfg, [P.suite_venv(cfg, "core", None, None)])
    assert not plan.acting()
    assert "run `revops lock` first" in {u.unit: u for u in plan.units}["revpublish.service"].skip


def test_a_changed_lock_is_a_new_venv_beside_the_old():
    assert P.venv_name("core", LOCK) != P.venv_name("core", LOCK + "uvicorn==0.29.0 --hash=sha256:bb\n")
    assert P.venv_name("core", LOCK) == P.venv_name("core", LOCK)


def test_a_unit_the_inventory_sees_repointed_is_planned_from_the_command_its_own_files_had(tmp_path):
    cfg = config(tmp_path)
    venv = P.suite_venv(cfg, "core", LOCK, None)
    inv = inventory()
    own = [f"{OWN}/bin/uvicorn", "app:app", "--port", "8550"]
    ours = [f"{venv.path}/bin/uvicorn", "app:app", "--port", "8550"]
    inv.units[0].exec_start, inv.units[0].venv = [ours], venv.path
    record = type("R", (), {"state": "repointing", "exec_before": json.dumps(own), "exec_after": json.dumps(ours),
                            "uses_before": OWN})()
    half = P.plan(inv, cfg, [venv], earlier=P.earlier_from({"revpublish.service": record}))
    again = {u.unit: u for u in half.units}["revpublish.service"]
    assert again.acts and again.before == own and again.after == ours and again.venv_before == OWN
    record.state = "repointed"
    done = P.plan(inv, cfg, [venv], earlier=P.earlier_from({"revpublish.service": record}))
    assert "already stabilised" in {u.unit: u for u in done.units}["revpublish.service"].skip


def test_duplicate_venvs_are_grouped_by_installed_set_with_their_disk_and_what_is_replaced(tmp_path):
    cfg = config(tmp_path)
    inv = inventory()
    same = ["fastapi==0.110.0", "uvicorn==0.29.0"]
    inv.venvs = [Venv(OWN, True, installed=same, used_by=["revpublish.service"]),
                 Venv("/opt/m/revwins/venv", True, installed=same, used_by=["revwins.service"]),
                 Venv("/opt/m/l/venv", True, installed=same, used_by=["revloose.service"]),
                 Venv("/opt/m/o/venv", True, installed=["requests==2.31.0"], used_by=["revother.service"]),
                 Venv("/opt/m/empty/venv", False, installed=[])]
    plan = P.plan(inv, cfg, [P.suite_venv(cfg, "core", LOCK, None)])
    groups = P.duplicates(inv, plan, lambda p: 1000 if p != "/opt/m/l/venv" else 500)
    assert len(groups) == 1
    g = groups[0]
    assert g.venvs == ["/opt/m/l/venv", OWN, "/opt/m/revwins/venv"] and g.bytes == 2500 and g.installed == 2
    assert g.replaced == [OWN, "/opt/m/revwins/venv"]  # revloose is in no suite: its venv stays
    assert P.duplicates(inv, plan, lambda p: None)[0].bytes is None  # unknown, never a guess


CORE_LOCK = "# suite: core\nfastapi==0.110.0 \\\n    --hash=sha256:aa\nuvicorn==0.29.0 --hash=sha256:bb\n"
LEAD_LOCK = "# suite: lead-gen\nuvicorn==0.30.0 --hash=sha256:cc\n"
OTHER_LOCK = "# suite: other\nrequests==2.31.0 --hash=sha256:dd\nfastapi==0.110.0 --hash=sha256:aa\n"


def test_shared_takes_the_suites_whose_pins_live_together_and_names_the_conflict_of_the_others():
    shared = P.share([("core", CORE_LOCK), ("lead-gen", LEAD_LOCK), ("other", OTHER_LOCK)])
    assert shared.members == ["core", "other"]
    assert shared.left_out == {"lead-gen": ["uvicorn: uvicorn==0.29.0 (core) vs uvicorn==0.30.0 (lead-gen)"]}
    entries = [line for line in shared.text.splitlines() if not line.startswith(("#", " "))]
    assert entries == ["fastapi==0.110.0 \\", "requests==2.31.0 \\", "uvicorn==0.29.0 \\"]  # one per dist
    assert "--hash=sha256:bb" in shared.text and "sha256:cc" not in shared.text


def test_with_shared_venvs_the_members_units_point_at_one_venv_and_the_others_are_left_alone(tmp_path):
    cfg = config(tmp_path)
    venvs = [P.suite_venv(cfg, "core", CORE_LOCK, "3.11.2"), P.suite_venv(cfg, "other", LEAD_LOCK.replace("lead-gen", "other"), None)]
    shared_venvs, shared = P.shared_venvs(cfg, venvs, {"core": CORE_LOCK, "other": LEAD_LOCK})
    assert shared.members == ["core"] and "uvicorn==0.30.0 (other)" in shared.left_out["other"][0]
    core, other = shared_venvs
    assert core.path.startswith("/srv/suite-venvs/shared-") and core.lock == core.on_disk + ".txt"
    assert other.path is None and other.why_not.startswith("cannot share the shared venv: uvicorn")
    plan = P.plan(inventory(), cfg, shared_venvs)
    by = {u.unit: u for u in plan.units}
    assert by["revpublish.service"].venv_after == core.path
    assert by["revother.service"].skip.startswith("cannot share the shared venv")


def test_a_suite_lock_that_injects_pip_options_is_exit_2_before_any_venv_is_planned(tmp_path):
    from revops.commands import stabilize as cmd
    from revops.lock.lockfile import LockfileError

    cfg = config(tmp_path)
    lock = cfg.out("lockfiles") / "core.txt"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("# suite: core\n-r /etc/shadow\nfastapi==0.110.0 --hash=sha256:" + "ab" * 32 + "\n")
    with pytest.raises(LockfileError) as refused:
        cmd.suite_venv_of(cfg, "core")
    assert refused.value.exit_code == 2
    assert refused.value.message.startswith(f"{lock}:2: '-r /etc/shadow'"), refused.value.message


def test_a_unit_with_host_specifiers_the_inventory_left_unresolved_is_left_alone(tmp_path):
    from revops.model import Problem

    cfg = config(tmp_path)
    venv = P.suite_venv(cfg, "core", LOCK, "3.11.2")
    argv = ["/opt/m/revwins/venv/bin/python", "worker.py", "--boot", "%b", "--host", "%H"]
    odd = unit("revwins.service", argv, "/opt/m/revwins/venv",
               problems=[Problem("unexpanded-specifier", "host specifiers unknown offline, left as written: %H %b")])
    plain = unit("revpublish.service", [f"{OWN}/bin/python", "--name", "100%"], OWN)  # a literal % is fine
    plan = P.plan(Inventory(root="/", scanned_at="2026-11-29T12:00:00Z", units=[odd, plain], venvs=[]), cfg, [venv])
    by_unit = {u.unit: u for u in plan.units}
    assert by_unit["revwins.service"].after is None and "%H %b" in by_unit["revwins.service"].skip
    assert by_unit["revpublish.service"].acts and by_unit["revpublish.service"].after[-1] == "100%"


def test_a_unit_whose_exec_start_sets_its_own_argv0_is_left_alone(tmp_path):
    cfg = config(tmp_path)
    venv = P.suite_venv(cfg, "core", LOCK, "3.11.2")
    # ExecStart=@/opt/m/revwins/venv/bin/python revwins-worker worker.py: the inventory has no argv[0]
    at = unit("revwins.service", ["/opt/m/revwins/venv/bin/python", "worker.py"], "/opt/m/revwins/venv",
              exec_start_prefixes=["-@"])
    plan = P.plan(Inventory(root="/", scanned_at="2026-11-29T12:00:00Z", units=[at], venvs=[]), cfg, [venv])
    assert plan.units[0].after is None and "'@' prefix" in plan.units[0].skip


def test_the_size_of_a_venv_linking_outside_the_root_is_unavailable_not_read_there(tmp_path):
    from revops.commands import stabilize as cmd

    root, elsewhere = tmp_path / "host", tmp_path / "elsewhere"
    (root / "opt" / "m" / "own" / "venv").mkdir(parents=True)
    (root / "opt" / "m" / "own" / "venv" / "f").write_bytes(b"x" * 10000)
    elsewhere.mkdir()
    (elsewhere / "big").write_bytes(b"x" * 100000)
    (root / "opt" / "m" / "linked").symlink_to(elsewhere)
    import dataclasses

    cfg = dataclasses.replace(config(tmp_path), root=str(root))
    assert cmd.disk_bytes(cfg, "/opt/m/linked") is None
    assert cmd.disk_bytes(cfg, "/opt/m/own/venv") >= 10000
