"""The output formats: JSON, JUnit XML and SARIF carry every finding."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from revops.validate import formats, validate
from revops.validate.rules import Context

CASES = Path(__file__).parent / "cases"


def result_for(*names):
    return validate([CASES / n for n in names], Context(), externals=False)


def test_junit_fails_one_case_per_broken_rule():
    result = result_for("good.yml", "privileged.bad.yml")
    root = ET.fromstring(formats.junit(result))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    bad = suites[str(CASES / "privileged.bad.yml")]
    assert [c.get("name") for c in bad.iter("testcase") if c.find("failure") is not None] == ["privileged"]
    assert suites[str(CASES / "good.yml")].get("failures") == "0"
    assert root.get("failures") == "1"


def test_sarif_lists_rules_results_and_lines():
    result = result_for("root-user.bad.yml")
    doc = json.loads(formats.sarif(result))
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["root-user"]
    [res] = run["results"]
    assert res["level"] == "error" and res["ruleId"] == "root-user"
    region = res["locations"][0]["physicalLocation"]["region"]
    text = (CASES / "root-user.bad.yml").read_text().splitlines()
    assert text[region["startLine"] - 1].strip() == 'user: "0:0"'
    assert res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "services.worker.user"


def test_text_line_names_everything():
    [f] = [f for f in result_for("privileged.bad.yml").findings]
    line = formats.text_line(f)
    assert "privileged.bad.yml:" in line and "[privileged]" in line and "service worker" in line
    assert "services.worker.privileged" in line
