"""What validate reads (issue 12, kinds 4 and 6): a compose file that is a YAML bomb, nested
too deep, holds a duplicate key or is not a regular file is a finding at its file and line,
never a hang or a crash; revops.yaml's suites are checked against the inventory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from revops import cli, errors

CASES = Path(__file__).parent / "cases"
BOMB = ('x-lol: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"x-l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
        + "services:\n  web:\n    image: x@sha256:" + "a" * 64 + "\n    labels: *l8\n")


@pytest.fixture
def run_validate(tmp_path, monkeypatch, capsys, ends):
    """`revops validate --format json ARGS` in tmp_path: (exit code, the JSON), never a hang."""
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, dict]:
        code = ends(lambda: pytest.raises(SystemExit, cli.main, ["validate", "--format", "json", *argv]).value.code)
        return code, json.loads(capsys.readouterr().out)
    return run


@pytest.mark.parametrize("text, rule, line", [
    (BOMB, "yaml-bomb", 13),
    ("services:\n  web: &w\n    image: x\n    labels: [*w]\n", "yaml-bomb", 4),
    ("services:\n  web:\n    image: a\n    ports: ['80:80']\n    image: b\n", "duplicate-key", 5),
    ("services:\n  web:\n    image: a\n  web:\n    image: b\n", "duplicate-key", 4),
    ("services:\n  web:\n    labels: " + "[" * 50 + "]" * 50 + "\n", "yaml-too-deep", 3),
    ("services: {web: {image: !!python/object/apply:os.system [id]}}\n", "yaml-invalid", 1),
], ids=["billion-laughs", "recursive", "duplicate-in-service", "duplicate-service", "too-deep", "python-tag"])
def test_a_hostile_compose_file_is_a_finding_at_its_line(run_validate, tmp_path, text, rule, line):
    (tmp_path / "bad.yml").write_text(text)
    code, result = run_validate("bad.yml")
    assert code == errors.EXIT_FAILED
    (finding,) = [f for f in result["findings"] if f["rule"] == rule]
    assert finding["file"] == "bad.yml" and finding["line"] == line and finding["severity"] == "error"


def test_the_duplicate_key_finding_gives_both_lines_and_the_key(run_validate, tmp_path):
    (tmp_path / "dup.yml").write_text("services:\n  web:\n    image: a\n    image: b\n")
    _, result = run_validate("dup.yml")
    (finding,) = result["findings"]
    assert finding["key"] == "services.web.image" and "first at line 3, again at line 4" in finding["message"]


@pytest.mark.parametrize("given", ["one", "dir"])
def test_a_fifo_compose_file_is_a_finding_not_a_hang(run_validate, tmp_path, given):
    (tmp_path / "compose").mkdir()
    shutil.copy(CASES / "good.yml", tmp_path / "compose/good.yml")
    shutil.copy(CASES / "shared.env", tmp_path / "compose/shared.env")
    os.mkfifo(tmp_path / "compose/stuck.yml")
    code, result = run_validate("compose/stuck.yml" if given == "one" else "compose")
    assert code == errors.EXIT_FAILED
    (finding,) = [f for f in result["findings"] if f["rule"] == "not-regular-file"]
    assert finding["file"] == "compose/stuck.yml" and "a FIFO" in finding["message"]


def test_a_fifo_dockerfile_is_a_finding_not_a_hang(run_validate, tmp_path):
    os.mkfifo(tmp_path / "Dockerfile")
    code, result = run_validate("Dockerfile")
    assert code == errors.EXIT_FAILED and result["findings"][0]["rule"] == "not-regular-file"


# -- revops.yaml's suites against the inventory ----------------------------------------------

CONFIG = """\
host: {root: .}
suites:
  core:
    phase: 1
    units: [revpublish.service, revcore-gateway.service]
  lead-gen:
    phase: 2
    units: ["rev*.service", "revgone-*.service"]
"""
UNITS = "root: /\nunits:\n" + "".join(f"- {{name: {n}, path: null}}\n" for n in (
    "revpublish.service", "revcore-gateway.service", "revprospect.service"))


@pytest.fixture
def ops(tmp_path):
    (tmp_path / "revops.yaml").write_text(CONFIG)
    (tmp_path / "compose").mkdir()
    shutil.copy(CASES / "good.yml", tmp_path / "compose/good.yml")
    shutil.copy(CASES / "shared.env", tmp_path / "compose/shared.env")
    return tmp_path


def test_suites_that_overlap_or_match_nothing_are_findings_in_revops_yaml(run_validate, ops):
    (ops / "inventory").mkdir()
    (ops / "inventory/units.yaml").write_text(UNITS)
    code, result = run_validate()
    assert code == errors.EXIT_FAILED
    found = {(f["rule"], f["key"], f["line"], f["severity"]) for f in result["findings"] if f["file"] == "revops.yaml"}
    assert found == {("suite-overlap", "suites.lead-gen.units[0]", 8, "error"),
                     ("suite-unmatched", "suites.lead-gen.units[1]", 8, "warning")}
    assert {"name": "suites", "status": "ran"}.items() <= next(c for c in result["checks"] if c["name"] == "suites").items()


def test_without_an_inventory_the_suites_check_says_it_was_skipped(run_validate, ops):
    code, result = run_validate()
    assert code == 0
    (check,) = [c for c in result["checks"] if c["name"] == "suites"]
    assert check["status"] == "skipped" and "inventory scan" in check["detail"]


def test_a_broken_inventory_is_an_error_finding(run_validate, ops):
    (ops / "inventory").mkdir()
    (ops / "inventory/units.yaml").write_text("units: notalist\n")
    code, result = run_validate()
    assert code == errors.EXIT_FAILED
    (finding,) = [f for f in result["findings"] if f["rule"] == "inventory-invalid"]
    assert finding["line"] == 1 and finding["key"] == "units"
