"""What `revops lock` reports per suite: its status, its services' sources, conflicts, proof."""

from __future__ import annotations

from dataclasses import dataclass, field

from revops.errors import CheckResult, Failure
from revops.lock import merge, target
from revops.lock.proof import Proof

# Suite statuses; the first group is success.
LOCKED, UNCHANGED, WOULD_LOCK, CHECK_OK, EMPTY = "locked", "unchanged", "would-lock", "ok", "empty"
CONFLICT, INPUT_ERROR, RESOLVER_FAILED, MISSING, STALE, UNPINNED = (
    "conflict", "input-error", "resolver-failed", "missing", "stale", "unpinned")
PROOF_FAILED, HASH_MISMATCH, LOCAL_BUILD_FAILED = "proof-failed", "hash-mismatch", "local-build-failed"
_GOOD = {LOCKED, UNCHANGED, WOULD_LOCK, CHECK_OK, EMPTY}


@dataclass
class ServiceSource:
    name: str
    source: str  # requirements.txt, venv or none
    path: str | None
    requirements: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class SuiteResult:
    name: str
    status: str
    input: str  # paths relative to the ops repo
    lockfile: str
    input_digest: str | None = None
    recorded_digest: str | None = None
    resolver: str | None = None
    services: list[ServiceSource] = field(default_factory=list)
    conflicts: list[merge.Conflict] = field(default_factory=list)
    overrides: list[merge.OverrideApplied] = field(default_factory=list)
    unused_overrides: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # deprecated units of the suite, not locked
    input_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pins: int | None = None
    error: str | None = None
    proof: Proof | None = None

    @property
    def ok(self) -> bool:
        return self.status in _GOOD and (self.proof is None or self.proof.ok)


@dataclass
class LockResult(CheckResult):
    action: str  # lock, check or dry-run
    resolver: str
    suites: list[SuiteResult]
    ok: bool
    python: target.Target | None = None  # the interpreter the locks are for
    warnings: list[str] = field(default_factory=list)  # about the choice of that interpreter

    def failed(self) -> Failure:
        """One line for stderr: which suites failed and how."""
        failed = [f"{s.name} ({s.status})" for s in self.suites if not s.ok]
        return Failure(f"{len(failed)} of {len(self.suites)} suite(s) failed ({self.action}): {', '.join(failed)}")
