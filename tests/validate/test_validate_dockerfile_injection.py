"""validate flags a shell-form RUN that carries an injected value (issue #12, kind 1)."""

from pathlib import Path

from revops.validate import validate
from revops.validate.rules import Context

CASES = Path(__file__).parent / "cases"
REPO = Path(__file__).resolve().parents[2]


def test_the_injected_useradd_of_the_issue_is_an_error_with_its_line():
    found = [f for f in validate([CASES / "dockerfile-run-injection.bad.Dockerfile"], Context(), externals=False).findings
             if f.rule == "dockerfile-run-injection"]
    assert [(f.line, f.service) for f in found] == [(3, "revops-venv")]  # the exec-form RUN is data, not shell
    assert "$(" in found[0].message or "IFS" in found[0].message


def test_the_repos_generated_dockerfiles_break_no_injection_rule():
    dockerfiles = sorted((REPO / "compose").glob("*/Dockerfile"))
    assert dockerfiles
    found = [f for f in validate(dockerfiles, Context(), externals=False).findings if f.rule == "dockerfile-run-injection"]
    assert found == []
