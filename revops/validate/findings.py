"""What validation reports: findings (one per broken rule, located) and the checks that ran."""

from __future__ import annotations

from dataclasses import dataclass, field

from revops.errors import CheckResult, Failure

ERROR = "error"
WARNING = "warning"
NOTE = "note"


@dataclass(frozen=True)
class Finding:
    file: str
    service: str | None  # compose service, or Dockerfile stage
    key: str | None  # dotted path in the file: "services.revpublish.healthcheck.interval"
    rule: str  # stable id: "healthcheck-missing", "compose-spec", "DL3007", ...
    severity: str  # error, warning or note
    message: str
    line: int | None = None


@dataclass(frozen=True)
class CheckRun:
    name: str  # "rules", "compose-spec", "compose-config", "hadolint"
    status: str  # "ran" or "skipped"
    detail: str  # what ran (schema path, tool and version) or why it was skipped


@dataclass
class ValidationResult(CheckResult):
    files: list[str] = field(default_factory=list)
    checks: list[CheckRun] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    ok: bool = True

    def failed(self) -> Failure:
        return Failure(f"validation failed: {self.errors} error(s), {self.warnings} warning(s) "
                       f"in {len(self.files)} file(s)")

    def finish(self, strict: bool = False) -> "ValidationResult":
        self.findings.sort(key=lambda f: (f.file, f.line or 0, f.service or "", f.rule, f.key or "", f.message))
        self.errors = sum(f.severity == ERROR for f in self.findings)
        self.warnings = sum(f.severity == WARNING for f in self.findings)
        self.ok = self.errors == 0 and (not strict or self.warnings == 0)
        return self
