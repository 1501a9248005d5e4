"""`revops validate` through the CLI: exit codes and formats on stdout."""

import json
import shutil
from pathlib import Path

import pytest

from revops import cli, errors

CASES = Path(__file__).parent / "cases"


def run_main(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code


@pytest.fixture(autouse=True)
def no_config_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no revops.yaml: validate runs without a config


def test_clean_file_exits_zero(capsys):
    assert run_main(["validate", str(CASES / "good.yml"), str(CASES / "good.Dockerfile")]) == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_error_finding_exits_one(capsys):
    assert run_main(["validate", str(CASES / "privileged.bad.yml")]) == errors.EXIT_FAILED
    assert "[privileged]" in capsys.readouterr().out


def test_invalid_yaml_exits_one(capsys):
    assert run_main(["validate", str(CASES / "yaml-invalid.bad.yml")]) == errors.EXIT_FAILED


def test_warning_only_exits_zero_unless_strict(tmp_path, capsys):
    # good.yml with one service's user removed: the root-user warning (image default user), nothing else
    text = (CASES / "good.yml").read_text()
    assert '    user: "10001:10001"\n' in text
    path = tmp_path / "no-user.yml"
    path.write_text(text.replace('    user: "10001:10001"\n', ""))
    shutil.copy(CASES / "shared.env", tmp_path / "shared.env")
    assert run_main(["validate", str(path)]) == 0
    assert "[root-user]" in capsys.readouterr().out
    assert run_main(["validate", "--strict", str(path)]) == errors.EXIT_FAILED


def test_ports_on_all_interfaces_are_an_error(capsys):
    assert run_main(["validate", str(CASES / "ports-all-interfaces.bad.yml")]) == errors.EXIT_FAILED
    assert "[ports-all-interfaces]" in capsys.readouterr().out


def test_missing_path_and_bad_format_are_usage_errors(capsys):
    assert run_main(["validate", "no/such/dir"]) == errors.EXIT_USAGE
    assert run_main(["validate", "--format", "xml", str(CASES / "good.yml")]) == errors.EXIT_USAGE


def test_json_format_is_clean_json(capsys):
    assert run_main(["validate", "--format", "json", str(CASES / "root-user.bad.yml")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["errors"] == 1 and data["findings"][0]["rule"] == "root-user"
    assert {"file", "service", "key", "rule", "severity", "message"} <= set(data["findings"][0])


def test_directory_default_is_compose_dir(tmp_path, capsys):
    (tmp_path / "compose").mkdir()
    for name in ("good.yml", "shared.env", "good.Dockerfile", "root-user.bad.yml"):
        shutil.copy(CASES / name, tmp_path / "compose" / name)
    assert run_main(["validate", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert any(f.endswith("compose/good.yml") for f in data["files"])
    assert any(f.endswith("good.Dockerfile") for f in data["files"])
