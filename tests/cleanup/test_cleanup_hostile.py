"""Cleanup against hostile and careless hosts (issue #12, kinds 3 and 5): only venvs that are
venvs by their whole shape move, never what a staying unit uses, never anything outside the
root; an undo checks every stored file and its manifest before it puts anything back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from revops import config as config_mod
from revops import model
from revops.adapters.ledger import open_ledger
from revops.cleanup import plan as C
from revops.cleanup import quarantine as Q
from revops.commands import cleanup, inventory
from revops.errors import CheckFailed, UsageError
from revops.example_host import venvs as fake
from revops.example_host.tree import Tree, write

CONFIG = """
host: {root: ., unit_dirs: [etc/systemd/system], venv_search: [opt, srv], venv_search_depth: 4}
suites:
  core: {phase: 1, units: [app.service]}
"""
UNIT = """[Service]
WorkingDirectory=/opt/mods/app
ExecStart=/opt/mods/app/venv/bin/python -m app /opt/mods/app/serve.py
EnvironmentFile=/opt/shared/.env
"""
DISTS = {"anyio": "4.9.0"}


def make_host(root: Path) -> config_mod.Config:
    tree = Tree()
    tree.file("/usr/bin/python3.11", b"#!fake\n", 0o755)
    tree.symlink("/usr/bin/python3", "python3.11")
    fake.add_healthy(tree, "/opt/mods/app/venv", DISTS)
    fake.add_corrupted(tree, "/opt/mods/app/venv.old", "pyvenv-cfg-missing", DISTS)
    tree.file("/opt/mods/app/serve.py", b"print('hi')\n")
    tree.file("/opt/shared/.env", b"TOKEN=not-a-real-one\n")
    tree.file("/etc/systemd/system/app.service", UNIT.encode())
    write(tree, root)
    (root / "revops.yaml").write_text(CONFIG)
    return config_mod.load(root / "revops.yaml")


def plan_of(cfg: config_mod.Config, inv: model.Inventory) -> C.CleanupPlan:
    ledger = open_ledger(cfg.database_url)
    try:
        return cleanup.make_plan(cfg, inv, ledger, None, "no bus in this test")
    finally:
        ledger.close()


def scanned(cfg: config_mod.Config) -> model.Inventory:
    return inventory.run(cfg, live=False, write=False).inventory


def test_an_empty_pyvenv_cfg_in_the_modules_directory_moves_nothing(tmp_path):
    cfg = make_host(tmp_path)
    (tmp_path / "opt/mods/pyvenv.cfg").write_text("")  # issue #12's stray file
    inv = scanned(cfg)
    assert "/opt/mods" not in {v.path for v in inv.venvs}
    plan = plan_of(cfg, inv)
    assert [c.name for c in plan.candidates if c.kind == "venv"] == ["/opt/mods/app/venv.old"]
    inventory.run(cfg, live=False)
    applied = cleanup.run(cfg, apply=True)
    assert applied.moved == ["/opt/mods/app/venv.old"]
    assert (tmp_path / "opt/mods/app/venv/bin/activate").exists() and (tmp_path / "opt/mods/app/serve.py").exists()


@pytest.mark.parametrize("path, shape, why", [
    ("/opt/mods", {"pyvenv.cfg": ""}, "holds app.service's WorkingDirectory"),  # listed by a hand-edited inventory
    ("/opt/other", {"pyvenv.cfg": "", "data/x.db": "1"}, "not a venv by its shape (has pyvenv.cfg)"),
    ("/opt/mods", {"pyvenv.cfg": "", "bin/activate": ""}, "holds app.service's WorkingDirectory"),
    ("/opt/mods/app", {"pyvenv.cfg": "", "bin/python": ""}, "it is app.service's WorkingDirectory"),
    ("/opt/shared", {"pyvenv.cfg": "", "bin/python": ""}, "holds app.service's EnvironmentFile"),
    ("/opt/mods/app/venv/lib/python3.11/site-packages/inner", {"pyvenv.cfg": "", "bin/python": ""},
     "lies inside the healthy venv /opt/mods/app/venv"),
])
def test_a_listed_corrupted_venv_that_is_not_one_or_is_in_use_is_kept(tmp_path, path, shape, why):
    cfg = make_host(tmp_path)
    for rel, text in shape.items():
        (tmp_path / path.lstrip("/") / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path.lstrip("/") / rel).write_text(text)
    inv = scanned(cfg)
    inv.venvs = [v for v in inv.venvs if v.path != path] + [model.Venv(path, False, ["pyvenv-cfg-missing"])]
    plan = plan_of(cfg, inv)
    assert path not in {c.name for c in plan.candidates}
    kept = {k.name: k.reason for k in plan.kept}
    assert why in kept[path], kept


def test_a_venv_used_by_a_staying_unit_through_an_exec_argument_is_kept(tmp_path):
    cfg = make_host(tmp_path)
    inv = scanned(cfg)
    unit = inv.unit("app.service")
    unit.exec_start = [["/usr/bin/python3", "/opt/mods/app/venv.old/bin/tool"]]
    plan = plan_of(cfg, inv)
    assert "/opt/mods/app/venv.old" not in {c.name for c in plan.candidates}
    assert "ExecStart uses /opt/mods/app/venv.old/bin/tool" in {k.name: k.reason for k in plan.kept}["/opt/mods/app/venv.old"]


def test_nothing_outside_the_root_is_moved_through_a_symlinked_directory(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    cfg = make_host(root)
    fake_tree = Tree()
    fake.add_corrupted(fake_tree, "/venv", "pyvenv-cfg-missing", DISTS)
    write(fake_tree, outside)
    os.symlink(str(outside), root / "srv")  # absolute: on the host it means <root>/<outside>
    with pytest.raises(UsageError, match="does not resolve inside the host root"):
        Q.on_host(cfg, "/srv/venv")
    inv = scanned(cfg)
    assert not any(v.path.startswith("/srv") for v in inv.venvs)
    inv.venvs.append(model.Venv("/srv/venv", False, ["pyvenv-cfg-missing"]))
    plan = plan_of(cfg, inv)
    assert "/srv/venv" not in {c.name for c in plan.candidates}
    assert (outside / "venv/bin").is_dir()


def _applied(tmp_path: Path) -> tuple[config_mod.Config, cleanup.CleanupResult]:
    cfg = make_host(tmp_path)
    inventory.run(cfg, live=False)
    applied = cleanup.run(cfg, apply=True)
    assert applied.moved == ["/opt/mods/app/venv.old"]
    return cfg, applied


def test_undo_checks_every_stored_file_against_the_manifest_before_restoring(tmp_path):
    cfg, applied = _applied(tmp_path)
    stored = Path(applied.quarantine) / "files/opt/mods/app/venv.old/bin/activate"
    stored.write_text("echo tampered\n")
    os.utime(stored, ns=(0, 0))
    with pytest.raises(CheckFailed, match="nothing restored") as raised:
        cleanup.run(cfg, undo=applied.run)
    assert "/opt/mods/app/venv.old/bin/activate: sha256" in raised.value.message
    assert not (tmp_path / "opt/mods/app/venv.old").exists()


def _manifest(applied) -> tuple[Path, dict]:
    path = Path(applied.quarantine) / Q.MANIFEST
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["items"][0].update(path="/etc/passwd"), "items[0].path"),
    (lambda m: m["items"][0]["entries"][1].update(path="/opt/mods/app/venv.old/../../../../etc/shadow"),
     "items[0].entries[1].path"),
    (lambda m: m["items"][0]["entries"][2].update(type="fifo"), "items[0].entries[2].type"),
    (lambda m: m["items"][0]["entries"][0].update(mode="rwx"), "items[0].entries[0].mode: expected int"),
    (lambda m: m.update(root="/"), "root: '/' is not the host root"),
    (lambda m: m.update(items="all"), "items: expected list"),
    (lambda m: m.update(run="other"), "run: 'other' is not this run"),
])
def test_a_manifest_is_checked_whole_on_read_exit_2_naming_it(tmp_path, edit, message):
    cfg, applied = _applied(tmp_path)
    path, data = _manifest(applied)
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="manifest.json") as raised:
        cleanup.run(cfg, undo=applied.run)
    assert message in raised.value.message and raised.value.exit_code == 2
    assert not (tmp_path / "opt/mods/app/venv.old").exists()


def test_a_manifest_that_is_a_fifo_is_an_error_not_a_hang(tmp_path):
    cfg, applied = _applied(tmp_path)
    path, _ = _manifest(applied)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(UsageError, match="not a regular file"):
        cleanup.run(cfg, undo=applied.run)


def test_a_untouched_quarantine_restores_byte_for_byte(tmp_path):
    cfg, applied = _applied(tmp_path)
    undone = cleanup.run(cfg, undo=applied.run)
    assert undone.differences == [] and (tmp_path / "opt/mods/app/venv.old/bin").is_dir()


def test_randomly_broken_manifests_are_usage_errors_never_crashes(tmp_path):
    import random

    cfg, applied = _applied(tmp_path)
    path, original = _manifest(applied)
    junk = [None, True, 0, -1, 1.5, "", "x", "/", "../..", [], {}, [1], {"a": 1}, "\x00", 2 ** 70]
    for seed in range(60):
        rng = random.Random(seed)
        data = json.loads(json.dumps(original))
        for _ in range(rng.randint(1, 4)):
            target = data
            keys = []
            while isinstance(target, (dict, list)) and target and rng.random() < 0.8:
                key = rng.choice(list(target)) if isinstance(target, dict) else rng.randrange(len(target))
                keys.append(key)
                if not isinstance(target[key], (dict, list)):
                    break
                target = target[key]
            if isinstance(target, dict) and target:
                target[rng.choice(list(target))] = rng.choice(junk)
            elif isinstance(target, list) and target:
                target[rng.randrange(len(target))] = rng.choice(junk)
        path.write_text(json.dumps(data))
        try:
            Q.read_manifest(cfg, applied.run)
        except UsageError as exc:
            assert "manifest.json" in exc.message
    assert (tmp_path / "opt/mods/app/venv.old").exists() is False  # nothing was restored meanwhile


@pytest.mark.parametrize("text", ["[" * 200000 + "]" * 200000, "not json", "\xff\xfe", "{}"])
def test_a_manifest_that_is_not_json_or_nested_too_deep_is_exit_2(tmp_path, text):
    cfg, applied = _applied(tmp_path)
    path, _ = _manifest(applied)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(UsageError, match="manifest.json"):
        cleanup.run(cfg, undo=applied.run)
