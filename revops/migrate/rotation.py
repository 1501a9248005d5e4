"""`revops secrets rotate`: new copies for the services whose env files changed, one service
at a time behind the cutover's health gate, with the old copy put back when the new one makes
a service unhealthy.

Plan (data, what `--dry-run` shows): the migrated services in scope that have a copy, each with
the digest its container holds (the ledger's, revops.secrets.versions) and the digest of what
its unit and env files give now; those that differ are rotated, the others are up to date.

Each rotation is one journaled step (rotate-secret: the copy rewritten with its previous
version kept, the container restarted, its health awaited for the cutover's deadline); when
health fails, a second step (restore-secret) puts the previous copy back and restarts on it.
The run stops at the first service that did not take its new copy. Digests only: no value is
planned, journaled or shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from revops.errors import RevopsError
from revops.journal import FAILED, Journal
from revops.migrate import plan as P
from revops.migrate.executor import Verdict
from revops.secrets.versions import RESTORE_SECRET, ROTATE_SECRET

ROTATED = "rotated"
RESTORED = "restored"  # the new copy failed its gate; the old one is back and healthy
DOWN = "down"  # not healthy on either copy: the operator must act now
NOT_STARTED = "not-started"
INTERRUPTED = "interrupted"
UP_TO_DATE = "up-to-date"


class RotateHost(Protocol):
    """What a rotation needs of the target (migrate/host.py: LiveHost)."""

    def secret_digest_now(self, sp: P.ServicePlan) -> str | None: ...
    def rewrite_secret(self, sp: P.ServicePlan) -> str: ...
    def restore_secret(self, sp: P.ServicePlan) -> str: ...
    def keep_secret(self, sp: P.ServicePlan) -> str | None: ...  # what it did, when worth saying
    def restart_replacement(self, sp: P.ServicePlan) -> str: ...
    def wait_replacement_healthy(self, sp: P.ServicePlan, deadline_s: float,
                                 cancelled: Callable[[], bool]) -> Verdict: ...


@dataclass
class Candidate:
    unit: str
    secret: str
    held: str | None  # the digest its container was last started with (ledger)
    current: str | None  # the digest of what its files give now; None: unreadable (reason)
    reason: str | None = None

    @property
    def outdated(self) -> bool:
        return self.current is not None and self.current != self.held


@dataclass
class Rotation:
    unit: str
    outcome: str  # rotated, restored, down, not-started, interrupted
    reason: str | None = None
    held: str | None = None  # the digest it runs with at the end
    down_s: float | None = None  # from the container's stop to healthy again
    gate_s: float | None = None  # the cutover's deadline it was held to


@dataclass
class RotationResult:
    dry_run: bool
    candidates: list[Candidate] = field(default_factory=list)
    rotations: list[Rotation] = field(default_factory=list)
    run_id: int | None = None
    refused: str | None = None
    exit_code: int = 0


def choose(services: list[P.ServicePlan], held: Mapping[str, tuple[str, str | None]],
           current: Callable[[P.ServicePlan], str | None]) -> list[Candidate]:
    """One Candidate per service with a copy; `current(sp)` may raise RevopsError (unreadable)."""
    out = []
    for sp in services:
        if sp.secret is None:
            continue
        try:
            now, why = current(sp), None
        except RevopsError as exc:
            now, why = None, exc.message
        out.append(Candidate(sp.unit, sp.secret, held.get(sp.unit, (None, None))[0], now, why))
    return out


def rotate_one(host: RotateHost, journal: Journal, sp: P.ServicePlan, cancelled: Callable[[], bool],
               say: Callable[[str], None]) -> Rotation:
    """New copy, restart, gate; the previous copy back when the gate fails. A job (its unit
    repointed to `compose run --rm`) has no container between runs: its copy is rewritten and
    its next run, a fresh container, reads it (down_s stays None: nothing was stopped)."""
    if sp.kind == P.KIND_JOB:
        return _rotate_job(host, journal, sp, say)
    say(f"{sp.unit}: new copy, restart, wait up to {sp.deadline_s:g}s for health")
    result = Rotation(sp.unit, ROTATED, gate_s=sp.deadline_s)
    written: str | None = None
    try:
        with journal.step(sp.unit, ROTATE_SECRET, f"rewrites {sp.secret}, restarts {sp.service}, "
                                                  f"waits up to {sp.deadline_s:g}s for health") as record:
            written = host.rewrite_secret(sp)
            started = time.monotonic()
            restarted = host.restart_replacement(sp)
            verdict = host.wait_replacement_healthy(sp, sp.deadline_s, cancelled)
            result.down_s = round(time.monotonic() - started, 2)
            if verdict.ok:
                record.reason = f"{restarted}; {verdict.reason}; down {result.down_s:.2f}s; {written}"
            else:
                record.state, record.reason = FAILED, f"{verdict.reason}; {written.split(';')[0]}"
    except RevopsError as exc:
        if written is None:  # the copy was not replaced: the service runs on as it was
            result.outcome, result.reason = NOT_STARTED, exc.message
            return result
        verdict = Verdict(False, exc.message)
    if verdict.ok:
        kept = host.keep_secret(sp)
        result.reason, result.held = record.reason, _digest(record.reason)
        if kept:
            result.reason = f"{result.reason}; {kept}"
        return result
    say(f"{sp.unit}: not healthy on the new copy ({(verdict.reason or '').splitlines()[0]}); putting the old one back")
    return _restore(host, journal, sp, verdict.reason or "not healthy", result)


def _rotate_job(host: RotateHost, journal: Journal, sp: P.ServicePlan, say: Callable[[str], None]) -> Rotation:
    say(f"{sp.unit}: new copy; the job's next run reads it")
    result = Rotation(sp.unit, ROTATED)
    try:
        with journal.step(sp.unit, ROTATE_SECRET, f"rewrites {sp.secret}; no container to restart: the job's "
                                                  "next run (a fresh container) reads it") as record:
            record.reason = f"{host.rewrite_secret(sp)}; no container to restart: its next run reads the new copy"
    except RevopsError as exc:
        result.outcome, result.reason = NOT_STARTED, exc.message
        return result
    host.keep_secret(sp)
    result.reason, result.held = record.reason, _digest(record.reason)
    return result


def _restore(host: RotateHost, journal: Journal, sp: P.ServicePlan, why: str, result: Rotation) -> Rotation:
    try:
        with journal.step(sp.unit, RESTORE_SECRET, f"because: {why}", restoring=True) as record:
            restored = host.restore_secret(sp)
            restarted = host.restart_replacement(sp)
            verdict = host.wait_replacement_healthy(sp, sp.deadline_s, lambda: False)
            record.state = "done" if verdict.ok else FAILED
            record.reason = f"{restarted}; {verdict.reason}; {restored}" if verdict.ok else verdict.reason
    except RevopsError as exc:
        verdict = Verdict(False, exc.message)
    if verdict.ok:
        result.outcome, result.reason, result.held = RESTORED, why, _digest(record.reason)
    else:
        result.outcome, result.reason = DOWN, f"{why}; the old copy did not bring it back: {verdict.reason}"
    return result


def _digest(reason: str | None) -> str | None:
    from revops.secrets.versions import digest_in

    return digest_in(reason)
