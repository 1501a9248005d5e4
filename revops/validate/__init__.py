"""`revops validate`'s engine: read, check against schema, rules and outside tools, collect findings.

`validate(paths, ctx)` returns a ValidationResult; nothing here prints.
"""

from __future__ import annotations

from pathlib import Path

from revops.validate import documents, external, rules, schema
from revops.validate.findings import CheckRun, Finding, ValidationResult
from revops.validate.rules import Context


def validate(paths: list[Path], ctx: Context, *, externals: bool = True, strict: bool = False) -> ValidationResult:
    compose_files, dockerfiles, missing = documents.collect(paths)
    result = ValidationResult(files=[str(p) for p in compose_files + dockerfiles])
    result.findings.extend(missing)
    readable: list[Path] = []
    for path in compose_files:
        doc = documents.load_compose(path)
        if isinstance(doc, Finding):
            result.findings.append(doc)
            continue
        readable.append(path)
        result.findings.extend(schema.check(doc))
        result.findings.extend(rules.check_compose(doc, ctx))
    for path in dockerfiles:
        doc = documents.load_dockerfile(path)
        result.findings.extend([doc] if isinstance(doc, Finding) else rules.check_dockerfile(doc, ctx))
    result.checks.append(CheckRun("compose-spec", "ran", schema.schema_location()))
    result.checks.append(CheckRun("rules", "ran", ", ".join(sorted(rules.RULES))))
    if externals:
        for check, files in ((external.compose_config, readable), (external.hadolint, dockerfiles)):
            run, found = check(files)
            result.checks.append(run)
            result.findings.extend(found)
    return result.finish(strict)
