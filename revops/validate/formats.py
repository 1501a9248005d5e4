"""Validation results as JUnit XML (for CI test reports) and SARIF 2.1.0 (for code scanning)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from revops import __version__
from revops.validate.documents import is_dockerfile
from revops.validate.findings import ERROR, NOTE, WARNING, Finding, ValidationResult
from revops.validate.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {ERROR: "error", WARNING: "warning", NOTE: "note"}


def text_line(f: Finding) -> str:
    where = f"{f.file}:{f.line}" if f.line else f.file
    kind = "stage" if is_dockerfile(Path(f.file)) else "service"
    scope = " ".join(part for part in (f"{kind} {f.service}" if f.service else "", f.key or "") if part)
    return f"{where}: {f.severity}: [{f.rule}] {scope + ': ' if scope else ''}{f.message}"


def junit(result: ValidationResult) -> str:
    """One testsuite per file; one testcase per file and check, failing with its error findings."""
    root = ET.Element("testsuites", name="revops validate", tests="0", failures="0")
    total = failures = 0
    for file in result.files:
        suite = ET.SubElement(root, "testsuite", name=file)
        cases = sorted({f.rule for f in result.findings if f.file == file} | {"all-rules"})
        fails = 0
        for case_name in cases:
            case = ET.SubElement(suite, "testcase", classname=file, name=case_name)
            mine = [f for f in result.findings if f.file == file and (f.rule == case_name)]
            errors = [f for f in mine if f.severity == ERROR]
            if errors:
                fails += 1
                failure = ET.SubElement(case, "failure", message=errors[0].message, type=case_name)
                failure.text = "\n".join(text_line(f) for f in errors)
            others = [f for f in mine if f.severity != ERROR]
            if others:
                ET.SubElement(case, "system-out").text = "\n".join(text_line(f) for f in others)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(fails))
        total += len(cases)
        failures += fails
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def sarif(result: ValidationResult) -> str:
    used = sorted({f.rule for f in result.findings})
    rules = []
    for rule_id in used:
        known = RULES.get(rule_id)
        description = known.description if known else _external_description(rule_id)
        rules.append({"id": rule_id, "shortDescription": {"text": description}})
    index = {rule_id: i for i, rule_id in enumerate(used)}
    results = []
    for f in result.findings:
        location: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(f.file)}}}
        if f.line:
            location["physicalLocation"]["region"] = {"startLine": f.line}
        if f.key:
            location["logicalLocations"] = [{"fullyQualifiedName": f.key}]
        results.append({"ruleId": f.rule, "ruleIndex": index[f.rule], "level": SARIF_LEVELS[f.severity],
                        "message": {"text": f.message}, "locations": [location]})
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "revops validate", "version": __version__, "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"


def _external_description(rule_id: str) -> str:
    if rule_id == "compose-spec":
        return "the file matches the Compose Specification's JSON schema"
    if rule_id == "compose-config":
        return "the host's compose tool accepts the file (config -q)"
    if rule_id == "check-unavailable":
        return "with --strict or in CI, every check runs: a missing tool (compose, hadolint) is an error"
    if rule_id.startswith(("DL", "SC")):
        return f"hadolint rule {rule_id}"
    return rule_id


def _uri(file: str) -> str:
    path = Path(file)
    return path.as_posix() if not path.is_absolute() else path.as_uri()
