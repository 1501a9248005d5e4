"""The one YAML loader: bombs, depth, duplicate keys and non-regular files end with a clear
error naming the file and line; ordinary YAML (anchors included) loads as PyYAML loads it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import yaml

from revops import regularfile, yamlsafe
from revops.errors import EXIT_USAGE, ConfigError

REPO = Path(__file__).resolve().parents[1]


def laughs(levels: int = 9, width: int = 9) -> str:
    """The classic billion laughs: each level a list of `width` aliases of the one before."""
    lines = [f'l0: &l0 [{", ".join(["lol"] * width)}]']
    for i in range(1, levels):
        lines.append(f'l{i}: &l{i} [{", ".join([f"*l{i - 1}"] * width)}]')
    return "\n".join(lines) + "\n"


def mapping_laughs(levels: int = 30) -> str:
    """The same with mappings and merge keys: each level merges two copies of the one before."""
    lines = ["m0: &m0 {a: lol, b: lol}"]
    for i in range(1, levels):
        lines.append(f"m{i}: &m{i} {{x: *m{i - 1}, y: *m{i - 1}}}")
    return "\n".join(lines) + "\n"


def load(text: str) -> yamlsafe.Document:
    return yamlsafe.load_text(text, "doc.yaml")


def refused(text: str) -> yamlsafe.YamlError:
    with pytest.raises(yamlsafe.YamlError) as caught:
        load(text)
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.message.startswith("doc.yaml")
    return caught.value


# -- alias expansion -----------------------------------------------------------------------


@pytest.mark.parametrize("text", [laughs(), laughs(levels=30, width=2), mapping_laughs(),
                                  "base: &b {k: v}\n" + "".join(f"s{i}: &s{i} {{<<: [*{'b' if i == 0 else f's{i - 1}'}], "
                                                                 f"l: [*{'b' if i == 0 else f's{i - 1}'}, "
                                                                 f"*{'b' if i == 0 else f's{i - 1}'}]}}\n"
                                                                 for i in range(14))],
                         ids=["billion-laughs", "deep-doubling", "mapping-laughs", "merge-key-laughs"])
def test_a_yaml_bomb_is_refused_at_the_alias_that_expands_most(text, ends):
    error = ends(lambda: pytest.raises(yamlsafe.YamlError, load, text).value)
    assert error.rule == yamlsafe.BOMB
    assert "YAML bomb" in error.message
    assert error.line == len(text.splitlines())  # the last line holds the biggest alias


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {self: *a}\n", "a: &a [1, [2, [*a]]]\n"],
                         ids=["list", "mapping", "nested"])
def test_an_alias_inside_its_own_anchor_is_refused(text):
    error = refused(text)
    assert error.rule == yamlsafe.BOMB and "recursive" in error.message and error.line == 1


def test_ordinary_anchors_and_merge_keys_load():
    services = "".join(f"  svc{i}:\n    <<: *defaults\n    image: app:{i}\n" for i in range(200))
    doc = load("x-defaults: &defaults\n  restart: unless-stopped\n  healthcheck: {test: [CMD, true], retries: 3}\n"
               "services:\n" + services)
    assert doc.data["services"]["svc199"] == {"restart": "unless-stopped", "image": "app:199",
                                              "healthcheck": {"test": ["CMD", True], "retries": 3}}


def test_a_large_document_without_aliases_is_not_a_bomb():
    text = "units:\n" + "".join(f"- {{name: u{i}.service, exec_start: [[a, b, c]], port: {i}}}\n"
                                for i in range(20000))
    assert len(load(text).data["units"]) == 20000


# -- depth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["[" * 40 + "]" * 40, "".join("  " * i + "k:\n" for i in range(40)) + "  " * 40 + "v\n",
                                  "".join("  " * i + "-\n" for i in range(40)), "[" * 100000],
                         ids=["flow", "block-mapping", "block-sequence", "unclosed-100000"])
def test_nesting_deeper_than_the_bound_is_refused(text):
    error = refused(text)
    assert error.rule in (yamlsafe.TOO_DEEP, yamlsafe.INVALID)
    assert error.line is not None


def test_depth_reached_through_aliases_is_refused():
    deep = "[" * 20 + "1" + "]" * 20
    error = refused(f"a: &a {deep}\nb: {'[' * 15}*a{']' * 15}\n")
    assert error.rule == yamlsafe.TOO_DEEP and error.line == 2


def test_depth_within_the_bound_loads():
    depth = yamlsafe.MAX_DEPTH - 1
    assert load("[" * depth + "]" * depth).data is not None


# -- duplicate keys ------------------------------------------------------------------------


@pytest.mark.parametrize("text, key, first, again", [
    ("a: 1\nb: 2\na: 3\n", "a", 1, 3),
    ("services:\n  web:\n    image: x\n    ports: [80]\n    image: y\n", "services.web.image", 3, 5),
    ("list:\n  - {x: 1, y: 2}\n  - x: 1\n    x: 2\n", "list[1].x", 3, 4),
    ("1: a\n2: b\n1: c\n", "1", 1, 3),
    ("b: &b {k: 1}\nm:\n  <<: *b\n  <<: *b\n", "m.<<", 3, 4),
], ids=["top", "nested", "in-list", "int-key", "merge-key"])
def test_duplicate_keys_are_refused_with_both_lines(text, key, first, again):
    error = refused(text)
    assert error.rule == yamlsafe.DUPLICATE_KEY
    assert error.key == key and error.line == again
    assert f"first at line {first}, again at line {again}" in error.message


def test_keys_that_differ_only_in_type_are_not_duplicates():
    assert load("1: int\n'1': str\n").data == {1: "int", "1": "str"}


# -- values --------------------------------------------------------------------------------


def test_values_are_plain_data():
    data = load("when: 2024-01-01\nbad_date: 2024-13-45\nn: 3\nf: 1.5\nt: true\nnothing: null\n").data
    assert data == {"when": "2024-01-01", "bad_date": "2024-13-45", "n": 3, "f": 1.5, "t": True, "nothing": None}


@pytest.mark.parametrize("text", [
    "a: !!binary aGVsbG8=\n", "a: !!set {x: null}\n", "a: !!omap [{x: 1}]\n", "a: !!timestamp 2024-01-01\n",
    "a: !!python/object/apply:os.system ['touch /tmp/revops-pwned']\n", "a: !!python/name:os.system\n",
    "a: " + "9" * 5000 + "\n",
], ids=["binary", "set", "omap", "timestamp", "python-apply", "python-name", "int-5000-digits"])
def test_values_revops_does_not_read_are_refused_at_their_line(text):
    error = refused(text)
    assert error.rule == yamlsafe.INVALID and error.line == 1
    assert not Path("/tmp/revops-pwned").exists()


@pytest.mark.parametrize("text, line", [
    ("a: 1\n---\nb: 2\n", 2), ("a: [1\n", 2), ("a: 1\n\tb: 2\n", 2), ("a: *nowhere\n", 1),
    ("a: ok\nb: \x00\n", 2), ("? [x]\n: complex key\n", 1),
], ids=["two-documents", "unclosed", "tab", "undefined-alias", "nul", "complex-key"])
def test_malformed_yaml_names_its_line(text, line):
    assert refused(text).line == line


def test_an_empty_document_is_none():
    assert load("").data is None and load("# only a comment\n").data is None


def test_lines_of_keys_and_items():
    doc = load("a:\n  b:\n    - x\n    - y: 1\nc: 2\n")
    assert doc.line("a", "b", 1, "y") == 4 and doc.line("c") == 5
    assert doc.line("a", "missing") == 1  # the deepest key that exists
    assert doc.key_lines() == {"a": 1, "a.b": 2, "a.b[0]": 3, "a.b[1]": 4, "a.b[1].y": 4, "c": 5}
    assert doc.key_lines(".{}")["a.b.1.y"] == 4


def test_the_repo_inventory_loads_as_pyyaml_loads_it():
    text = (REPO / "inventory/units.yaml").read_text(encoding="utf-8")
    assert load(text).data == yaml.load(text, Loader=yaml.CSafeLoader)


# -- files ---------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_opening_it(tmp_path, ends):
    fifo = tmp_path / "units.yaml"
    os.mkfifo(fifo)
    error = ends(lambda: pytest.raises(yamlsafe.YamlError, yamlsafe.load_file, fifo).value)
    assert error.rule == "not-regular-file" and "a FIFO" in error.message and str(fifo) in error.message


def test_a_socket_a_directory_and_a_device_are_refused(tmp_path, ends):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.yaml"))
    try:
        (tmp_path / "dir.yaml").mkdir()
        (tmp_path / "zero.yaml").symlink_to("/dev/zero")
        for name, kind in (("sock.yaml", "a socket"), ("dir.yaml", "a directory"), ("zero.yaml", "a character device")):
            error = ends(lambda n=name: pytest.raises(yamlsafe.YamlError, yamlsafe.load_file, tmp_path / n).value)
            assert error.rule == "not-regular-file" and kind in error.message
    finally:
        sock.close()


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2000 + "\n")
    assert yamlsafe.load_file(big, max_bytes=4096).data["a"]
    assert pytest.raises(yamlsafe.YamlError, yamlsafe.load_file, big, max_bytes=1000).value.rule == "too-large"


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: \xff\xfe\n")
    error = pytest.raises(yamlsafe.YamlError, yamlsafe.load_file, bad).value
    assert error.rule == "not-utf8" and f"{bad}:2" in error.message


def test_a_missing_file_is_a_config_error(tmp_path):
    error = pytest.raises(ConfigError, yamlsafe.load_file, tmp_path / "nope.yaml").value
    assert "no such file" in error.message


def test_a_file_swapped_for_a_fifo_after_the_check_is_still_not_read(tmp_path, monkeypatch, ends):
    fifo = tmp_path / "swapped.yaml"
    os.mkfifo(fifo)
    real_stat = os.stat
    regular = real_stat(REPO / "revops.yaml")
    monkeypatch.setattr(regularfile.os, "stat", lambda p, *a, **k: regular if Path(p) == fifo else real_stat(p, *a, **k))
    error = ends(lambda: pytest.raises(regularfile.FileRefused, regularfile.read_bytes, fifo).value)
    assert error.rule == "not-regular-file"


# -- without libyaml -----------------------------------------------------------------------


@pytest.mark.parametrize("text, rule", [
    (laughs(), yamlsafe.BOMB), ("a: &a [*a]\n", yamlsafe.BOMB), ("[" * 100000, yamlsafe.TOO_DEEP),
    ("a: 1\na: 2\n", yamlsafe.DUPLICATE_KEY), ("a: !!binary aGVsbG8=\n", yamlsafe.INVALID),
], ids=["laughs", "recursive", "deep", "duplicate", "binary"])
def test_pyyaml_without_libyaml_is_bounded_the_same(monkeypatch, text, rule, ends):
    monkeypatch.setattr(yamlsafe, "_Loader", yamlsafe._PyLoader)
    assert ends(lambda: pytest.raises(yamlsafe.YamlError, load, text).value).rule == rule
    assert load("x-d: &d {a: 1}\ns: {<<: *d, b: [2, 2024-01-01]}\n").data["s"] == {"a": 1, "b": [2, "2024-01-01"]}
