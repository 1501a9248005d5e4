"""The inventory read back: checked whole on every read (issue 12, kind 7). A file that is not
the shape `inventory scan` writes is exit 2 naming the file, line and key, never a crash."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from revops import cli, model
from revops.errors import EXIT_USAGE, ConfigError

UNIT = {"name": "revpublish.service", "path": "etc/systemd/system/revpublish.service",
        "exec_start": [["/opt/m/venv/bin/uvicorn", "app:app"]], "port": 8550, "suite": "core", "phase": 1,
        "environment": {"MODE": "on"}, "problems": [{"code": "garbage-line", "detail": "x", "line": 3}],
        "live": {"provenance": "UNAVAILABLE", "checked_at": None, "reason": "offline"}}
CONFIG = "host: {root: .}\nsuites:\n  core: {phase: 1, units: [revpublish.service]}\n"


def write_inventory(directory, units_text: str, venvs_text: str = "venvs: []\n"):
    inventory = directory / "inventory"
    inventory.mkdir(exist_ok=True)
    (inventory / model.UNITS_FILE).write_text(units_text)
    (inventory / model.VENVS_FILE).write_text(venvs_text)
    return inventory


def units_yaml(*units: dict) -> str:
    return yaml.safe_dump({"root": "/", "scanned_at": "2026-11-22T05:00:00+00:00", "units": list(units)})


def refused(directory, text: str, **kwargs) -> ConfigError:
    inventory = write_inventory(directory, text)
    with pytest.raises(ConfigError) as caught:
        model.load(inventory, **kwargs)
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.path == str(inventory / model.UNITS_FILE)
    return caught.value


def test_a_good_inventory_loads(tmp_path):
    inventory = model.load(write_inventory(tmp_path, units_yaml(UNIT)))
    unit = inventory.units[0]
    assert unit.port == 8550 and unit.problems[0].line == 3 and unit.live.reason == "offline"


def test_units_not_a_list_names_file_line_and_key(tmp_path):
    error = refused(tmp_path, "root: /\nunits: notalist\n")
    assert error.message == f"{tmp_path}/inventory/units.yaml:2: units: expected a list of unit mappings, got str 'notalist'"


@pytest.mark.parametrize("change, key, expected", [
    ({"port": "8550"}, "units[0].port", "expected an integer or null, got str '8550'"),
    ({"port": True}, "units[0].port", "expected an integer or null, got true"),
    ({"exec_start": "/bin/sh -c id"}, "units[0].exec_start", "expected a list of lists of strings"),
    ({"exec_start": [["a", 1]]}, "units[0].exec_start[0][1]", "expected a string, got 1"),
    ({"environment": {"A": 1}}, "units[0].environment.A", "expected a string or null, got 1"),
    ({"environment": ["A=1"]}, "units[0].environment", "mapping"),
    ({"name": None}, "units[0].name", "expected a string, got null"),
    ({"problems": ["garbage"]}, "units[0].problems[0]", "expected a mapping (a problem)"),
    ({"problems": [{"detail": "no code"}]}, "units[0].problems[0].code", "missing"),
    ({"live": "LIVE"}, "units[0].live", "expected a mapping (a livestate)"),
    ({"live": {"provenance": "LIVE", "checked_at": None, "n_restarts": "many"}}, "units[0].live.n_restarts",
     "expected an integer or null"),
    ({"deprecated": "yes"}, "units[0].deprecated", "true or false"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_wrong_field_names_its_key(tmp_path, change, key, expected):
    error = refused(tmp_path, units_yaml({**UNIT, **change}))
    assert error.key == key and expected in error.message and error.line


@pytest.mark.parametrize("text, expected", [
    ("- a\n- b\n", "expected a mapping with 'units', got a list"),
    ("", "expected a mapping with 'units', got null"),
    ("root: 5\nunits: []\n", "root: expected a string"),
    ("units:\n- notaunit\n", "expected a mapping (a unit)"),
    ("units:\n- {path: x}\n", "units[0].name: missing"),
    ("units:\n- name: a.service\n  name: b.service\n  path: null\n", "duplicate key 'name'"),
    ("units:\n- {name: x, path: !!binary aGVsbG8=}\n", "!!binary is not allowed"),
    ("x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 9)}]\n" for i in range(8)) + "units: []\n",
     "YAML bomb"),
    ("units: " + "[" * 60 + "]" * 60 + "\n", "nested more than 32 levels deep"),
])
def test_a_malformed_inventory_is_refused(tmp_path, text, expected):
    assert expected in refused(tmp_path, text).message


def test_a_fifo_inventory_is_refused_without_blocking(tmp_path, ends):
    inventory = write_inventory(tmp_path, "")
    (inventory / model.UNITS_FILE).unlink()
    os.mkfifo(inventory / model.UNITS_FILE)
    assert "a FIFO" in ends(lambda: pytest.raises(ConfigError, model.load, inventory).value).message


def test_a_missing_inventory_says_to_scan(tmp_path):
    with pytest.raises(ConfigError, match="run `revops inventory scan` first"):
        model.load(tmp_path / "inventory")


def test_generate_on_units_notalist_exits_2_naming_the_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "revops.yaml").write_text(CONFIG)
    write_inventory(tmp_path, "root: /\nunits: notalist\n")
    monkeypatch.chdir(tmp_path)
    for argv in (["generate"], ["generate", "--check"], ["migrate", "--phase", "1", "--dry-run"],
                 ["lock", "--dry-run"], ["cleanup"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == EXIT_USAGE, (argv, err)
        assert "inventory/units.yaml:1: units: expected a list" in err.replace("\n", " ") or \
            "units.yaml:2: units: expected a list" in err.replace("\n", " "), (argv, err)
        assert "revops bug" not in err


# -- the JSON copy -----------------------------------------------------------------------------


def copy_of(tmp_path):
    inventory = write_inventory(tmp_path, units_yaml(UNIT))
    cache = tmp_path / "cache"
    model.store_cache(inventory / model.UNITS_FILE, cache)
    (copy,) = cache.glob("units.*.json")
    return inventory, cache, copy


@pytest.mark.parametrize("tamper", [
    lambda doc: doc.update(sha256="0" * 64),
    lambda doc: doc.update(copy_of="venvs.yaml"),
    lambda doc: doc["data"]["units"][0].update(port="8550"),
    lambda doc: doc["data"].update(units="notalist"),
    lambda doc: doc.pop("data"),
], ids=["other-digest", "other-file", "wrong-type", "not-a-list", "no-data"])
def test_a_copy_that_does_not_match_what_it_copies_is_not_used(tmp_path, tamper):
    inventory, cache, copy = copy_of(tmp_path)
    doc = json.loads(copy.read_text())
    doc["data"]["scanned_at"] = "from the copy"  # shows whether the copy was read
    tamper(doc)
    copy.write_text(json.dumps(doc))
    loaded = model.load(inventory, cache_dir=cache)
    assert loaded.scanned_at == "2026-11-22T05:00:00+00:00" and loaded.units[0].port == 8550


def test_a_copy_in_the_old_format_is_not_used(tmp_path):
    inventory, cache, copy = copy_of(tmp_path)
    copy.write_text(json.dumps({"root": "/", "scanned_at": "old", "units": []}))
    assert model.load(inventory, cache_dir=cache).scanned_at != "old"


def test_a_fifo_in_place_of_the_copy_is_skipped_without_blocking(tmp_path, ends):
    inventory, cache, copy = copy_of(tmp_path)
    copy.unlink()
    os.mkfifo(copy)
    assert ends(lambda: model.load(inventory, cache_dir=cache)).units[0].port == 8550


def test_the_repo_inventory_has_the_shape_scan_writes():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    for name, section in ((model.UNITS_FILE, "units"), (model.VENVS_FILE, "venvs")):
        data = yaml.safe_load((repo / "inventory" / name).read_text())
        assert model.shape_problem(data, section) is None


def test_keys_a_newer_revops_wrote_are_ignored_at_every_level(tmp_path):
    unit = {**UNIT, "future": 1, "live": {**UNIT["live"], "future": 2},
            "problems": [{**UNIT["problems"][0], "future": 3}]}
    loaded = model.load(write_inventory(tmp_path, units_yaml(unit), "venvs:\n- {path: /v, healthy: true, future: 4}\n"))
    assert loaded.units[0].live.reason == "offline" and loaded.units[0].problems[0].code == "garbage-line"
    assert loaded.venvs[0].path == "/v"
