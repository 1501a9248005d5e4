"""Runs a plan: the cutover of each service, journaled, with rollback when health fails.

The promise: every service ends either healthy in its container, or back under systemd and
answering /health, with the reason shown. The host is reached only through `Host`
(revops/migrate/host.py), the ledger only through `Journal`, so this module is the flow alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from revops.errors import RevopsError
from revops.hostrun import Interrupt
from revops.migrate import plan as P
from revops.journal import FAILED, Journal, JournalUnavailable, describe

MIGRATED = "migrated"
ROLLED_BACK = "rolled-back"
DOWN = "down"  # the rollback itself failed: the one outcome the operator must act on now
NOT_STARTED = "not-started"
INTERRUPTED = "interrupted"


@dataclass
class Verdict:
    ok: bool
    reason: str | None = None  # what failed: status code, body, container state, log tail


class Host(Protocol):
    """What the cutover needs of a target, named for what each step does for a service (its
    unit on this host, and its replacement on the target). Today's kind is this host's Docker
    engine through compose (migrate/host.py: LiveHost); a Swarm cluster is another kind, with
    its own idea of a replacement (a service's tasks) and the same steps.

    Each step says in one line what it did, or raises a RevopsError carrying what a sysadmin
    needs (state, status code, body, last log lines). The verdicts never raise for an unhealthy
    service: they say why. A pre-verification step (the candidate proven on an ephemeral
    loopback port while the unit still serves) would come between preflight and stop_unit.
    """

    target: str  # recorded with each run in the ledger: "compose", "swarm", ...

    # -- the cutover, in order
    def preflight(self, sp: P.ServicePlan) -> str:
        """Check everything the cutover needs and prepare the replacement (not started);
        changes nothing the service depends on."""
    def write_secret(self, sp: P.ServicePlan) -> str:
        """Write the service's copy of what it may read (sp.secret), for its replacement alone;
        called only when sp.secret is set, and undone by remove_secret."""
    def stop_unit(self, sp: P.ServicePlan) -> str:
        """Stop the unit alone and wait until it is down and its port free."""
    def start_replacement(self, sp: P.ServicePlan) -> str:
        """Start the replacement prepared in preflight."""
    def wait_replacement_healthy(self, sp: P.ServicePlan, deadline_s: float,
                                 cancelled: Callable[[], bool]) -> Verdict:
        """Wait until the replacement is healthy, it fails for good, `cancelled()` or the deadline."""
    def retire_unit(self, sp: P.ServicePlan, mask: bool) -> str:
        """Keep the unit from starting again (disabled; masked when asked)."""

    # -- putting the service back under systemd
    def unit_unloadable(self, sp: P.ServicePlan) -> str | None:
        """Why systemd could not start the unit again, or None when it can."""
    def remove_replacement(self, sp: P.ServicePlan) -> str:
        """Stop and remove the replacement (its image stays)."""
    def remove_secret(self, sp: P.ServicePlan) -> str:
        """Remove the service's copy written by write_secret (none there is not an error)."""
    def start_unit(self, sp: P.ServicePlan) -> str:
        """Start the unit again (linked, unmasked and enabled as needed)."""
    def wait_unit_healthy(self, sp: P.ServicePlan, deadline_s: float) -> Verdict:
        """Wait until the unit is active and answers its health check."""

    # -- reading
    def replacement_verdict(self, sp: P.ServicePlan) -> Verdict:
        """Is the replacement running and healthy now (the phase gate, settling after a crash)?"""


@dataclass
class StepResult:
    step: str
    state: str
    detail: str | None = None


@dataclass
class ServiceResult:
    unit: str
    outcome: str  # migrated, rolled-back, down, not-started, interrupted
    reason: str | None = None
    steps: list[StepResult] = field(default_factory=list)


class Executor:
    def __init__(self, host: Host, journal: Journal, *, mask: bool,
                 on_event: Callable[[str], None] = lambda _m: None,
                 interrupt: Interrupt | None = None) -> None:
        self.host = host
        self.journal = journal
        self.mask = mask
        self.say = on_event
        self.interrupt = interrupt or Interrupt()

    def run(self, services: list[P.ServicePlan]) -> list[ServiceResult]:
        """Cut over each service in order; stop at the first one that did not migrate."""
        results: list[ServiceResult] = []
        with self.interrupt.catching():
            for sp in services:
                if self.interrupt.requested:
                    results.append(ServiceResult(sp.unit, INTERRUPTED, "Ctrl-C before it started"))
                    continue
                result = self.cutover(sp)
                results.append(result)
                if result.outcome != MIGRATED:
                    break
        done = {r.unit for r in results}
        left = (INTERRUPTED, "Ctrl-C") if self.interrupt.requested else (
            NOT_STARTED, "an earlier service did not migrate")
        results.extend(ServiceResult(sp.unit, *left) for sp in services if sp.unit not in done)
        return results

    def _step(self, result: ServiceResult, sp: P.ServicePlan, name: str, detail: str,
              action: Callable[[], str]) -> str:
        self.say(f"{sp.unit}: {name}")
        with self.journal.step(sp.unit, name, detail) as record:
            try:
                said = action()
            except BaseException as exc:
                result.steps.append(StepResult(name, FAILED, describe(exc)))
                raise
            record.reason = said
        result.steps.append(StepResult(name, record.state, said))
        return said

    def cutover(self, sp: P.ServicePlan) -> ServiceResult:
        result = ServiceResult(sp.unit, MIGRATED)
        detail = {s.name: s.changes for s in sp.steps}
        try:
            # Preflight changes nothing the service depends on; a failure ends the service here.
            self._step(result, sp, P.PREFLIGHT, detail.get(P.PREFLIGHT, ""), lambda: self.host.preflight(sp))
        except JournalUnavailable:
            raise
        except RevopsError as exc:
            result.outcome, result.reason = NOT_STARTED, f"preflight: {exc.message}"
            return result
        if self.interrupt.requested:
            result.outcome, result.reason = INTERRUPTED, "Ctrl-C before the unit was stopped"
            return result
        self.journal.service_state(sp.unit, P.MIGRATING)
        try:
            if sp.secret is not None:
                self._step(result, sp, P.WRITE_SECRET, detail.get(P.WRITE_SECRET, ""),
                           lambda: self.host.write_secret(sp))
            self._step(result, sp, P.STOP_UNIT, detail.get(P.STOP_UNIT, ""), lambda: self.host.stop_unit(sp))
            self._step(result, sp, P.START_CONTAINER, detail.get(P.START_CONTAINER, ""),
                       lambda: self.host.start_replacement(sp))
            verdict = self._wait(result, sp, detail.get(P.WAIT_HEALTHY, ""))
            if not verdict.ok:
                return self.rollback(sp, result, verdict.reason or "not healthy")
            self._step(result, sp, P.DISABLE_UNIT, detail.get(P.DISABLE_UNIT, ""),
                       lambda: self.host.retire_unit(sp, self.mask))
        except JournalUnavailable as exc:
            # Stop the run; a service the host already changed is put back first.
            if _host_changed(result):
                self.rollback(sp, result, exc.message)
            raise
        except RevopsError as exc:
            return self.rollback(sp, result, exc.message)
        except BaseException as exc:
            # An error nobody foresaw (a bug, a raw OSError): the unit may be stopped with no
            # container in its place, so put it back under systemd before the error goes up.
            if _host_changed(result):
                self.rollback(sp, result, f"unexpected error: {describe(exc)}")
            raise
        self.journal.service_state(sp.unit, P.MIGRATED)
        return result

    def _wait(self, result: ServiceResult, sp: P.ServicePlan, detail: str) -> Verdict:
        self.say(f"{sp.unit}: {P.WAIT_HEALTHY} (up to {sp.deadline_s:g}s)")
        with self.journal.step(sp.unit, P.WAIT_HEALTHY, detail) as record:
            verdict = self.host.wait_replacement_healthy(sp, sp.deadline_s, self.interrupt)
            if not verdict.ok and self.interrupt.requested:
                verdict = Verdict(False, "Ctrl-C while waiting for health")
            record.state = "done" if verdict.ok else FAILED
            record.reason = "healthy" if verdict.ok else verdict.reason
        result.steps.append(StepResult(P.WAIT_HEALTHY, record.state, record.reason))
        return verdict

    def rollback(self, sp: P.ServicePlan, result: ServiceResult, why: str) -> ServiceResult:
        """Back to systemd: container stopped and removed, unit started, its /health verified."""
        self.say(f"{sp.unit}: rolling back ({why.splitlines()[0]})")
        restored = restore_unit(self.host, self.journal, sp, why)
        result.steps.extend(restored.steps)
        result.outcome = ROLLED_BACK if restored.ok else DOWN
        result.reason = why if restored.ok else f"{why}; rollback failed: {restored.reason}"
        self.journal.service_state(sp.unit, P.ROLLED_BACK if restored.ok else DOWN, result.reason, restoring=True)
        return result


def _host_changed(result: ServiceResult) -> bool:
    """True once a step past preflight was tried: the unit may already be stopped."""
    return any(s.step != P.PREFLIGHT for s in result.steps)


@dataclass
class Restored:
    ok: bool
    reason: str | None
    steps: list[StepResult]
    refused: bool = False  # systemd could not start the unit: the container was left running


def restore_unit(host: Host, journal: Journal, sp: P.ServicePlan, why: str) -> Restored:
    """Remove the container (best effort: the engine may be the thing that failed) and the
    service's secret copy, then start the unit and wait until it answers; only the unit's
    health decides success."""
    steps: list[StepResult] = []
    with journal.step(sp.unit, P.ROLLBACK, f"because: {why}", restoring=True) as record:
        refused = _refusal(host, sp)
        if refused is not None:
            # Removing the container first would leave nothing serving at all.
            steps.append(StepResult("check-unit", FAILED, refused))
            record.state, record.reason = FAILED, refused
            return Restored(False, refused, steps, refused=True)
        try:
            removed = host.remove_replacement(sp)
            steps.append(StepResult("remove-container", "done", removed))
        except RevopsError as exc:
            steps.append(StepResult("remove-container", FAILED, exc.message))
        if sp.secret is not None:
            try:  # the copy is the container's alone: it goes with it
                steps.append(StepResult("remove-secret", "done", host.remove_secret(sp)))
            except (RevopsError, OSError) as exc:
                steps.append(StepResult("remove-secret", FAILED, describe(exc)))
        try:
            steps.append(StepResult("start-unit", "done", host.start_unit(sp)))
            verdict = host.wait_unit_healthy(sp, sp.deadline_s)
        except RevopsError as exc:
            verdict = Verdict(False, exc.message)
        steps.append(StepResult("unit-healthy", "done" if verdict.ok else FAILED, verdict.reason))
        record.state = "done" if verdict.ok else FAILED
        record.reason = "; ".join(f"{s.step}: {s.detail}" for s in steps if s.detail)
    return Restored(verdict.ok, verdict.reason, steps)


def _refusal(host: Host, sp: P.ServicePlan) -> str | None:
    """Why the rollback must not start (systemd could not start the unit again), or None."""
    try:
        why = host.unit_unloadable(sp)
    except RevopsError as exc:
        why = f"cannot tell whether systemd can start {sp.unit}: {exc.message}"
    if why is None:
        return None
    return f"rollback refused: {why}; container {sp.service} left running"
