"""`revops validate`'s engine: read, check against schema, rules and outside tools, collect findings.

`validate(paths, ctx)` returns a ValidationResult; nothing here prints. `validate_paths` is
the same for paths that must exist (the verb's, and migrate's preflight's).
"""

from __future__ import annotations

import os
from pathlib import Path

from revops.config import Config
from revops.errors import UsageError
from revops.validate import configured, documents, external, rules, schema, suites
from revops.validate.findings import ERROR, CheckRun, Finding, ValidationResult
from revops.validate.rules import Context

# Rules whose findings mean the file names host paths outside the repo: compose's own `config`
# would read them, so the file does not go to the compose tool.
READS_OUTSIDE = frozenset({"outside-repo"})


def in_ci() -> bool:
    """True when the CI environment variable says this runs in CI (GitHub, GitLab and most set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def validate(paths: list[Path], ctx: Context, *, externals: bool = True, strict: bool = False,
             require_checks: bool | None = None, project: list[Path] | None = None) -> ValidationResult:
    """Findings for the compose files and Dockerfiles under paths.

    require_checks: a check that could not run (its tool missing) is an error finding for each
    file it should have checked; None means when strict or in CI (the CI variable set).
    project: the compose files one caller drives as a single project (migrate's); the compose
    tool's `config -q` then reads those together, once, and not the others. None: each compose
    file alone, as the verb does.
    """
    compose_files, dockerfiles, missing = documents.collect(paths)
    result = ValidationResult(files=[str(p) for p in compose_files + dockerfiles])
    result.findings.extend(missing)
    readable: list[Path] = []
    held_back: list[Path] = []
    for path in compose_files:
        doc = documents.load_compose(path)
        if isinstance(doc, Finding):
            result.findings.append(doc)
            continue
        result.findings.extend(schema.check(doc))
        found = rules.check_compose(doc, ctx)
        result.findings.extend(found)
        (held_back if any(f.rule in READS_OUTSIDE for f in found) else readable).append(path)
    for path in dockerfiles:
        doc = documents.load_dockerfile(path)
        result.findings.extend([doc] if isinstance(doc, Finding) else rules.check_dockerfile(doc, ctx))
    result.checks.append(CheckRun("compose-spec", "ran", schema.schema_location()))
    result.checks.append(CheckRun("rules", "ran", ", ".join(sorted(rules.RULES))))
    if externals:
        required = (strict or in_ci()) if require_checks is None else require_checks
        stacks = [p for p in readable if documents.is_stack_file(p)]
        composes = [p for p in readable if not documents.is_stack_file(p)]
        compose_check = external.compose_config
        if project is not None:
            driven = {p.resolve() for p in project}
            composes, compose_check = [p for p in composes if p.resolve() in driven], external.project_config
            held_back = [p for p in held_back if p.resolve() in driven]  # the others would not go either
        checks = ((compose_check, composes), (external.hadolint, dockerfiles),
                  (lambda files: external.stack_config(files, ctx.docker_cli), stacks))
        for check, files in checks:
            run, found = check(files)
            if check is compose_check and held_back:
                run = CheckRun(run.name, run.status, f"{run.detail}; not given {len(held_back)} file(s) that name "
                               "paths outside the repo")
            result.checks.append(run)
            result.findings.extend(found)
            if run.status == "skipped" and required:
                result.findings.extend(_not_checked(run, files))
    return result.finish(strict)


def _not_checked(run: CheckRun, files: list[Path]) -> list[Finding]:
    return [Finding(str(path), None, None, "check-unavailable", ERROR,
                    f"{run.name} could not run ({run.detail}); with --strict or in CI every check must run")
            for path in files]


def validate_paths(paths: list[Path], config: Config | None, *, externals: bool = True,
                   strict: bool = False, project: list[Path] | None = None) -> ValidationResult:
    """validate() of files and directories that must exist (UsageError naming the absent ones),
    in revops.yaml's context (configured.context), with its suites checked against the
    inventory when there is a config: what the verb runs, and migrate's preflight."""
    absent = [str(p) for p in paths if not p.exists()]
    if absent:
        raise UsageError(f"no such file or directory: {', '.join(absent)}")
    result = validate(paths, configured.context(config), externals=externals, strict=strict, project=project)
    if config is not None:  # revops.yaml's suites against the inventory
        run, findings = suites.check(config)
        result.checks.append(run)
        result.findings.extend(findings)
        result.finish(strict)
    return result
