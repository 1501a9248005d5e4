"""The inventory's JSON copies: read only for the very bytes they were made from."""

from __future__ import annotations

import json

import pytest

from revops import model
from revops.errors import ConfigError

UNITS_YAML = """\
root: /
scanned_at: '2026-11-22T05:00:00+00:00'
units:
- name: revpublish.service
  path: etc/systemd/system/revpublish.service
  port: 8550
  environment: {MODE: 'on'}
"""
VENVS_YAML = "root: /\nvenvs: []\n"


@pytest.fixture
def inventory_dir(tmp_path):
    directory = tmp_path / "inventory"
    directory.mkdir()
    (directory / model.UNITS_FILE).write_text(UNITS_YAML)
    (directory / model.VENVS_FILE).write_text(VENVS_YAML)
    return directory


def _copies(cache_dir):
    return sorted(p.name for p in cache_dir.glob("*.json"))


def test_a_stored_copy_is_what_load_reads(inventory_dir, tmp_path):
    cache = tmp_path / "cache"
    model.store_cache(inventory_dir / model.UNITS_FILE, cache)
    (copy,) = cache.glob("units.*.json")
    doc = json.loads(copy.read_text())
    assert doc["copy_of"] == "units.yaml" and doc["sha256"] in copy.name
    assert doc["data"]["units"][0]["environment"] == {"MODE": "on"}  # the string, as YAML read it
    doc["data"]["units"][0]["port"] = 9999  # only the copy says so: proves the copy was read
    copy.write_text(json.dumps(doc))
    assert model.load(inventory_dir, cache_dir=cache).units[0].port == 9999
    assert model.load(inventory_dir).units[0].port == 8550


def test_an_edited_inventory_is_read_from_its_yaml_not_the_old_copy(inventory_dir, tmp_path):
    cache = tmp_path / "cache"
    model.store_cache(inventory_dir / model.UNITS_FILE, cache)
    (inventory_dir / model.UNITS_FILE).write_text(UNITS_YAML.replace("8550", "8551"))
    assert model.load(inventory_dir, cache_dir=cache).units[0].port == 8551


def test_a_new_copy_replaces_the_copy_of_an_earlier_version(inventory_dir, tmp_path):
    cache = tmp_path / "cache"
    model.store_cache(inventory_dir / model.UNITS_FILE, cache)
    first = _copies(cache)
    (inventory_dir / model.UNITS_FILE).write_text(UNITS_YAML.replace("8550", "8551"))
    model.store_cache(inventory_dir / model.UNITS_FILE, cache)
    assert len(_copies(cache)) == 1 and _copies(cache) != first


def test_a_broken_copy_falls_back_to_the_yaml(inventory_dir, tmp_path):
    cache = tmp_path / "cache"
    model.store_cache(inventory_dir / model.UNITS_FILE, cache)
    (copy,) = cache.glob("units.*.json")
    copy.write_text("{not json")
    assert model.load(inventory_dir, cache_dir=cache).units[0].port == 8550


def test_yaml_that_json_would_change_gets_no_copy(inventory_dir, tmp_path):
    cache = tmp_path / "cache"
    odd = inventory_dir / model.VENVS_FILE
    odd.write_text("root: /\nvenvs: []\n1: an int key\n")
    model.store_cache(odd, cache)
    assert _copies(cache) == []
    assert model.load(inventory_dir, cache_dir=cache).venvs == []


def test_loading_never_writes_a_copy(inventory_dir, tmp_path):
    cache = tmp_path / "cache"
    model.load(inventory_dir, cache_dir=cache)
    assert not cache.exists()


def test_a_malformed_inventory_still_names_its_file_and_line(inventory_dir, tmp_path):
    (inventory_dir / model.UNITS_FILE).write_text("units:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        model.load(inventory_dir, cache_dir=tmp_path / "cache")
    assert caught.value.path == str(inventory_dir / model.UNITS_FILE) and caught.value.line
