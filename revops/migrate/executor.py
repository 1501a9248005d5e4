"""Runs a plan: the cutover of each service, journaled, with rollback when health fails.

The promise: every service ends either healthy in its container, or back under systemd and
answering /health, with the reason shown. The host is reached only through `Host`
(revops/migrate/host.py), the ledger only through `Journal`, so this module is the flow alone.

Per service: preflight, then the candidate proven while the unit still serves (when the plan
says so: plan.preverify_mode), and only then the unit stopped and the container started. The
services of a run go in waves (`Executor.run`): each starts as soon as everything it depends
on has migrated, at most `parallel` at once, each in a thread of its own with every guarantee
of a serial run (the journal takes writes from several threads: the ledger serialises them).
Each service's stop and start run inside `Host.outage`, where the host may put that outage
ahead of the other services' work (LiveHost: an API's, revops/migrate/outages.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ContextManager, Protocol

from revops import jobs
from revops.dropins import DropinError
from revops.errors import CheckFailed, RevopsError
from revops.hostrun import Interrupt
from revops.migrate import plan as P
from revops.journal import DONE, FAILED, Journal, JournalUnavailable, describe

if TYPE_CHECKING:
    from revops.migrate.retire import Retirer
    from revops.repoint import Pair

MIGRATED = "migrated"
ROLLED_BACK = "rolled-back"
DOWN = "down"  # the rollback itself failed: the one outcome the operator must act on now
NOT_STARTED = "not-started"
INTERRUPTED = "interrupted"
# The candidate did not pass: the unit was never touched, so the service lost no request.
CANDIDATE_FAILED = "candidate-failed"
SKIPPED = "skipped"  # something it depends on did not migrate: never started
DISCARD_CREATED = "remove-created"  # not journaled: the job's container preflight created, never started
WAIT_TURN = "wait-turn"  # the live table's word while Host.outage holds a service back (not journaled)
SCHEDULER_TICK_S = 0.1  # how often the scheduler looks at Ctrl-C while services are in flight


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
    service: they say why. Several services are cut over at once, each in its own thread: a
    Host's steps for different services may run concurrently.
    """

    target: str  # recorded with each run in the ledger: "compose", "swarm", ...

    # -- the run as a whole, around every service's cutover
    def expect(self, services: list[P.ServicePlan]) -> None:
        """The services this run will cut over, told before the first preflight, so the host
        may prepare their replacements together (LiveHost: one compose process creates every
        container, not one per service). Changes nothing a service depends on."""
    def release(self, services: list[P.ServicePlan]) -> list[str]:
        """After the run, even one stopped by an error: what `expect` prepared for `services`,
        whose preflight did not pass (skipped, interrupted, the run stopped, or it failed), and
        that their preflight never took up, is taken back. One line per thing undone; never
        raises for one that cannot be (the line says so)."""

    # -- the cutover, in order
    def preflight(self, sp: P.ServicePlan) -> str:
        """Check everything the cutover needs and prepare the replacement (not started);
        changes nothing the service depends on."""
    def write_secret(self, sp: P.ServicePlan) -> str:
        """Write the service's copy of what it may read (sp.secret), for its replacement alone
        (and its candidate, which runs from the same container configuration); called only when
        sp.secret is set, and undone by remove_secret."""

    # -- pre-verification, while the unit still serves (between preflight and stop_unit)
    def verify_candidate(self, sp: P.ServicePlan, deadline_s: float,
                         cancelled: Callable[[], bool]) -> Verdict:
        """Run a candidate of the replacement beside the unit (the very image, environment,
        user and command, its port on an ephemeral loopback port) until it proves healthy
        (GET /health 2xx; without a port, the target's own health check), it fails for good,
        `cancelled()` or the deadline; then remove it. Touches nothing the unit uses."""
    def check_imports(self, sp: P.ServicePlan) -> Verdict:
        """The side-effect-free check of a service that must not run twice (a worker, a
        scheduler, a timer's job): in the replacement's image, environment and user, with no
        network and read-only mounts, the entry module imported (or the argv's script compiled
        and its imports found), nothing of the service run (revops/migrate/candidate.py)."""
    def discard_candidates(self, sp: P.ServicePlan) -> str:
        """Remove every candidate of the service still there (a killed run's)."""

    def outage(self, sp: P.ServicePlan) -> ContextManager[None]:
        """Entered before stop_unit, left once start_replacement has returned or raised: the
        service's outage. The host may hold other services' work back meanwhile and stop the
        unit only once the work in progress is done (LiveHost: an API's outage goes ahead of the
        candidates' engine calls and of the stops and starts of services without a port,
        revops/migrate/outages.py). Ctrl-C while it waits leaves the unit as it was."""

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

    # -- a timer-fired job (sp.kind == P.KIND_JOB): its unit repointed, nothing started
    def job_running(self, sp: P.ServicePlan) -> str | None:
        """Why the job cannot be cut over now (jobs.between_runs on the unit's LIVE
        ActiveState/SubState), or None when it is between runs."""
    def job_pair(self, journal: Journal) -> Pair:
        """The Repoint step pair (revops.repoint) on this host's manager and drop-in directory,
        journaled in `journal`: it writes and removes the job's drop-in."""

    # -- an old-world unit `retire:` names (plan.RetirePlan): stopped and disabled, not migrated
    def retirer(self, journal: Journal) -> Retirer:
        """The retire steps (revops.migrate.retire) on this host's systemd manager, journaled
        in `journal`."""


@dataclass
class StepResult:
    step: str
    state: str
    detail: str | None = None


@dataclass
class ServiceResult:
    unit: str
    # migrated, rolled-back, down, candidate-failed, not-started, skipped, interrupted
    outcome: str
    reason: str | None = None
    steps: list[StepResult] = field(default_factory=list)


class Progress(Protocol):
    """Who watches the services in flight (the terminal's live table); called from the
    threads that cut them over."""

    def step(self, unit: str, step: str) -> None:
        """`unit` entered `step`."""
    def finished(self, result: ServiceResult) -> None:
        """A service ended (any outcome, skipped ones included)."""


class NoProgress:
    def step(self, unit: str, step: str) -> None:
        pass

    def finished(self, result: ServiceResult) -> None:
        pass


class Executor:
    def __init__(self, host: Host, journal: Journal, *, mask: bool,
                 on_event: Callable[[str], None] = lambda _m: None,
                 interrupt: Interrupt | None = None, parallel: int = 1,
                 progress: Progress | None = None) -> None:
        self.host = host
        self.journal = journal
        self.mask = mask
        self.say = on_event
        self.interrupt = interrupt or Interrupt()
        self.parallel = max(1, parallel)
        self.progress = progress or NoProgress()

    def run(self, services: list[P.ServicePlan]) -> list[ServiceResult]:
        """Cut over `services` (a plan's, dependencies first) in waves: each starts as soon as
        every service it depends on (`after`) has migrated, at most `parallel` at once. One that
        does not migrate stops nothing but its dependents, which are skipped with why. Ctrl-C
        starts nothing more; each service in flight is finished or rolled back. An error that
        must end the run (the ledger cannot be written, a bug) starts nothing more either, and
        goes up once every service in flight has ended. Results in the plan's order."""
        self.host.expect(services)
        waves = _Waves(self, services)
        try:
            with self.interrupt.catching():
                results = waves.run()
        finally:  # a run stopped by an error leaves nothing made ahead either
            # Only services whose preflight did not pass (never ran, or failed maybe before
            # asking for its container): from a passed preflight on, each service's own steps
            # and rollback decide what stays.
            for line in self.host.release([sp for sp in services if not _preflight_passed(waves.results.get(sp.unit))]):
                self.say(line)
        return [results[sp.unit] for sp in services]

    def _step(self, result: ServiceResult, sp: P.ServicePlan, name: str, detail: str,
              action: Callable[[], str]) -> str:
        self.progress.step(sp.unit, name)
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
        result = self._cutover(sp)
        self.progress.finished(result)
        return result

    def _cutover(self, sp: P.ServicePlan) -> ServiceResult:
        result = ServiceResult(sp.unit, MIGRATED)
        detail = {s.name: s.changes for s in sp.steps}
        if sp.kind == P.KIND_JOB:
            return self._cutover_job(sp, result, detail)
        if not self._preflight(result, sp, detail):
            return result
        if self.interrupt.requested:
            result.outcome, result.reason = INTERRUPTED, "Ctrl-C before the unit was stopped"
            return result
        if sp.secret is not None and not self._write_secret(result, sp, detail.get(P.WRITE_SECRET, "")):
            return result
        if sp.preverify != P.PREVERIFY_OFF:
            verdict = self._verify(result, sp, detail.get(P.VERIFY_CANDIDATE, ""))
            if not verdict.ok:
                return self._candidate_failed(sp, result, verdict.reason or "did not pass")
            if self.interrupt.requested:
                return self._not_stopped(result, sp, "Ctrl-C after the candidate passed, before the unit was stopped")
        self.progress.step(sp.unit, WAIT_TURN)
        try:
            with self.host.outage(sp):
                if self.interrupt.requested:  # pressed while it waited for its turn at the engine
                    return self._not_stopped(result, sp, "Ctrl-C while it waited for its turn at the engine, "
                                                         "before the unit was stopped")
                self.journal.service_state(sp.unit, P.MIGRATING)
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
        record_state(self.journal, sp, P.MIGRATED)
        return result

    def _not_stopped(self, result: ServiceResult, sp: P.ServicePlan, why: str) -> ServiceResult:
        """Ctrl-C before the unit was stopped: it serves as it did; its secret copy goes."""
        if sp.secret is not None:
            self._remove_secret(result, sp)
        result.outcome, result.reason = INTERRUPTED, why
        return result

    def _preflight(self, result: ServiceResult, sp: P.ServicePlan, detail: dict[str, str]) -> bool:
        """Preflight changes nothing the service depends on: a failure ends the service here
        (not-started, with why); False then."""
        try:
            self._step(result, sp, P.PREFLIGHT, detail.get(P.PREFLIGHT, ""), lambda: self.host.preflight(sp))
        except JournalUnavailable:
            raise
        except RevopsError as exc:
            result.outcome, result.reason = NOT_STARTED, f"preflight: {exc.message}"
            return False
        return True

    def _cutover_job(self, sp: P.ServicePlan, result: ServiceResult, detail: dict[str, str]) -> ServiceResult:
        """A timer-fired job (plan.job_steps): preflight, its secret copy, the import check,
        then, between runs only, its unit repointed by the journaled Repoint step pair. Until
        the drop-in is written the unit is untouched, so a failure before it costs nothing; a
        drop-in systemd does not read as intended is removed again (put back, no restart)."""
        if sp.job is None or not sp.job.exec_after:  # a plan made without a compose tool
            result.outcome = NOT_STARTED
            result.reason = f"no new ExecStart= to write: {sp.job.compose_missing if sp.job else 'not a job'}"
            return result
        if not self._preflight(result, sp, detail):
            return result
        if sp.secret is not None and not self._write_secret(result, sp, detail.get(P.WRITE_SECRET, "")):
            return result
        verdict = self._verify(result, sp, detail.get(P.VERIFY_CANDIDATE, ""))
        self._discard_created(result, sp)  # `compose run` makes a fresh container each time
        if not verdict.ok:
            return self._candidate_failed(sp, result, verdict.reason or "did not pass")
        if self.interrupt.requested:
            return self._job_untouched(result, sp, INTERRUPTED, "Ctrl-C before the unit was repointed")
        try:
            self._step(result, sp, P.BETWEEN_RUNS, detail.get(P.BETWEEN_RUNS, ""), lambda: self._idle(sp))
        except JournalUnavailable:
            raise
        except RevopsError as exc:
            return self._job_untouched(result, sp, NOT_STARTED, exc.message)
        pair = self.host.job_pair(self.journal)
        try:  # an operator's drop-in by revops' name: the job stays as it is (repoint.NotOurs)
            pair.refuse_foreign(sp.unit, jobs.PURPOSE)
        except JournalUnavailable:
            raise
        except RevopsError as exc:
            return self._job_untouched(result, sp, NOT_STARTED, exc.message)
        self.journal.service_state(sp.unit, P.MIGRATING)
        self.progress.step(sp.unit, P.REPOINT_UNIT)
        try:
            said = pair.repoint(sp.job.repoint(sp.unit, sp.service))
            result.steps.append(StepResult(P.REPOINT_UNIT, DONE, said))
            pair.mark_repointed(sp.unit, jobs.PURPOSE, "import check passed; its timer fires it")
        except JournalUnavailable as exc:
            result.steps.append(StepResult(P.REPOINT_UNIT, FAILED, exc.message))
            self._put_job_back(sp, result, exc.message)
            raise
        except (RevopsError, DropinError) as exc:  # DropinError: refused before anything was written
            result.steps.append(StepResult(P.REPOINT_UNIT, FAILED, describe(exc)))
            return self._put_job_back(sp, result, describe(exc))
        except BaseException as exc:
            result.steps.append(StepResult(P.REPOINT_UNIT, FAILED, describe(exc)))
            self._put_job_back(sp, result, f"unexpected error: {describe(exc)}")
            raise
        self.journal.service_state(sp.unit, P.MIGRATED, said)
        return result

    def _idle(self, sp: P.ServicePlan) -> str:
        """The between-runs gate as a step: CheckFailed while the job runs."""
        why = self.host.job_running(sp)
        if why is not None:
            raise CheckFailed(f"{sp.unit}: {why}")
        return f"{sp.unit} between runs"

    def _discard_created(self, result: ServiceResult, sp: P.ServicePlan) -> None:
        """Remove the container preflight created for the import check: a job's runs are
        fresh containers of `compose run --rm`, and a created one left there would only
        mislead `docker ps -a` and status."""
        try:
            result.steps.append(StepResult(DISCARD_CREATED, DONE, self.host.remove_replacement(sp)))
        except RevopsError as exc:
            result.steps.append(StepResult(DISCARD_CREATED, FAILED, exc.message))

    def _job_untouched(self, result: ServiceResult, sp: P.ServicePlan, outcome: str, why: str) -> ServiceResult:
        """A job stopped before its drop-in: its unit is as it was; its secret copy goes."""
        if sp.secret is not None:
            self._remove_secret(result, sp)
        result.outcome, result.reason = outcome, f"{why}; {sp.unit} untouched"
        return result

    def _put_job_back(self, sp: P.ServicePlan, result: ServiceResult, why: str) -> ServiceResult:
        """The job's own ExecStart= back (its drop-in removed, daemon-reload, no start: its
        timer runs it) and its secret copy removed."""
        self.progress.step(sp.unit, P.PUT_JOB_BACK)
        self.say(f"{sp.unit}: putting the job's own ExecStart back ({why.splitlines()[0]})")
        restored = put_job_back(self.host, self.journal, sp, why)
        result.steps.extend(restored.steps)
        result.outcome, result.reason = record_restored(self.journal, sp.unit, restored, why, "putting it back failed")
        return result

    def _write_secret(self, result: ServiceResult, sp: P.ServicePlan, detail: str) -> bool:
        """The service's copy, written before its candidate runs (the candidate needs the same
        variables as the replacement). The unit reads its own files, so a copy that cannot be
        written costs nothing: the copy is emptied again and the service is not started."""
        try:
            self._step(result, sp, P.WRITE_SECRET, detail, lambda: self.host.write_secret(sp))
        except JournalUnavailable:
            raise
        except RevopsError as exc:
            self._remove_secret(result, sp)
            result.outcome, result.reason = NOT_STARTED, f"{P.WRITE_SECRET}: {exc.message}"
            return False
        return True

    def _remove_secret(self, result: ServiceResult, sp: P.ServicePlan) -> None:
        """Empty the service's copy again after a cutover that never stopped the unit."""
        try:
            result.steps.append(StepResult(P.EMPTY_COPY, DONE, self.host.remove_secret(sp)))
        except RevopsError as exc:
            result.steps.append(StepResult(P.EMPTY_COPY, FAILED, describe(exc)))

    def _verify(self, result: ServiceResult, sp: P.ServicePlan, detail: str) -> Verdict:
        """The candidate, journaled: a failure is a verdict (the unit was never touched), so a
        RevopsError of the host (the engine refused the candidate) is one too."""
        self.progress.step(sp.unit, P.VERIFY_CANDIDATE)
        with self.journal.step(sp.unit, P.VERIFY_CANDIDATE, detail) as record:
            try:
                if sp.preverify == P.PREVERIFY_IMPORT:
                    verdict = self.host.check_imports(sp)
                else:
                    verdict = self.host.verify_candidate(sp, sp.deadline_s, self.interrupt)
            except JournalUnavailable:
                raise
            except RevopsError as exc:
                verdict = Verdict(False, exc.message)
            if not verdict.ok and self.interrupt.requested:
                verdict = Verdict(False, f"Ctrl-C while verifying the candidate ({verdict.reason})")
            record.state = DONE if verdict.ok else FAILED
            record.reason = verdict.reason or ("passed" if verdict.ok else "did not pass")
        result.steps.append(StepResult(P.VERIFY_CANDIDATE, record.state, record.reason))
        return verdict

    def _candidate_failed(self, sp: P.ServicePlan, result: ServiceResult, why: str) -> ServiceResult:
        """A candidate that did not pass cost nothing: the unit still serves as it did."""
        if sp.secret is not None:
            self._remove_secret(result, sp)
        if self.interrupt.requested:
            result.outcome, result.reason = INTERRUPTED, f"{why}; {sp.unit} left running"
            return result
        self.say(f"{sp.unit}: candidate did not pass; {sp.unit} keeps running ({why.splitlines()[0]})")
        result.outcome, result.reason = CANDIDATE_FAILED, why
        record_state(self.journal, sp, P.SYSTEMD, result.reason)
        return result

    def _wait(self, result: ServiceResult, sp: P.ServicePlan, detail: str) -> Verdict:
        self.progress.step(sp.unit, P.WAIT_HEALTHY)
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
        self.progress.step(sp.unit, P.ROLLBACK)
        self.say(f"{sp.unit}: rolling back ({why.splitlines()[0]})")
        restored = restore_unit(self.host, self.journal, sp, why)
        result.steps.extend(restored.steps)
        result.outcome, result.reason = record_restored(self.journal, sp, restored, why)
        return result


def _preflight_passed(result: ServiceResult | None) -> bool:
    return result is not None and any(s.step == P.PREFLIGHT and s.state == DONE for s in result.steps)


def _host_changed(result: ServiceResult) -> bool:
    """True once a step past the candidate was tried: the unit may already be stopped."""
    return any(s.step not in (P.PREFLIGHT, P.WRITE_SECRET, P.VERIFY_CANDIDATE, P.EMPTY_COPY) for s in result.steps)


class _Waves:
    """One run's scheduler: the main thread hands services to a pool of `parallel` threads as
    their dependencies migrate, and watches for Ctrl-C between the answers."""

    def __init__(self, executor: Executor, services: list[P.ServicePlan]) -> None:
        self.executor = executor
        self.pending = list(services)  # the plan's order: dependencies first
        self.results: dict[str, ServiceResult] = {}
        self.running: dict[Future[ServiceResult], P.ServicePlan] = {}
        self.fatal: BaseException | None = None  # what ends the run once the others are done

    def run(self) -> dict[str, ServiceResult]:
        parallel = self.executor.parallel
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="revops-cutover") as pool:
            while self.pending or self.running:
                if self.executor.interrupt.requested or self.fatal is not None:
                    self._start_nothing_more()
                self._skip_dependents_of_failures()
                for sp in self._ready()[: parallel - len(self.running)]:
                    self.pending.remove(sp)
                    self.running[pool.submit(self._cutover, sp)] = sp
                if not self.running:
                    if self.pending:  # cannot happen for a plan: `order` refused cycles
                        raise AssertionError(f"no service can start: {[sp.unit for sp in self.pending]}")
                    break
                finished, _ = wait(self.running, timeout=SCHEDULER_TICK_S, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._collect(future)
        if self.fatal is not None:
            raise self.fatal
        return self.results

    def _cutover(self, sp: P.ServicePlan) -> ServiceResult:
        threading.current_thread().name = f"revops-cutover {sp.unit}"
        return self.executor.cutover(sp)

    def _collect(self, future: Future[ServiceResult]) -> None:
        sp = self.running.pop(future)
        try:
            self.results[sp.unit] = future.result()
        except BaseException as exc:  # noqa: BLE001 - kept, and raised once the others are done
            self.fatal = self.fatal or exc
            self.results[sp.unit] = ServiceResult(sp.unit, NOT_STARTED, f"the run stopped: {describe(exc)}")

    def _ready(self) -> list[P.ServicePlan]:
        return [sp for sp in self.pending
                if all(self.results.get(d) is not None and self.results[d].outcome == MIGRATED
                       for d in sp.after if d in self._planned)]

    @property
    def _planned(self) -> set[str]:
        return {sp.unit for sp in self.pending} | set(self.results) | {sp.unit for sp in self.running.values()}

    def _skip_dependents_of_failures(self) -> None:
        """A service one of whose dependencies ended without migrating never starts."""
        changed = True
        while changed:
            changed = False
            for sp in list(self.pending):
                failed = next((d for d in sp.after if d in self.results and self.results[d].outcome != MIGRATED), None)
                if failed is None:
                    continue
                why = self.results[failed]
                self._end(sp, ServiceResult(sp.unit, SKIPPED, f"depends on {failed}, which ended {why.outcome}"
                                                              + (f": {why.reason.splitlines()[0]}" if why.reason else "")))
                changed = True

    def _start_nothing_more(self) -> None:
        if self.executor.interrupt.requested:
            outcome, why = INTERRUPTED, "Ctrl-C before it started"
        else:
            outcome, why = NOT_STARTED, f"the run stopped: {describe(self.fatal) if self.fatal else '?'}"
        for sp in list(self.pending):
            self._end(sp, ServiceResult(sp.unit, outcome, why))

    def _end(self, sp: P.ServicePlan, result: ServiceResult) -> None:
        self.pending.remove(sp)
        self.results[sp.unit] = result
        self.executor.progress.finished(result)


@dataclass
class Restored:
    ok: bool
    reason: str | None
    steps: list[StepResult]
    refused: bool = False  # systemd could not start the unit: the container was left running


def record_restored(journal: Journal, who: P.ServicePlan | str, restored: Restored, why: str,
                    failed: str = "rollback failed") -> tuple[str, str]:
    """(outcome, reason) of putting a unit back (rolled-back, or down with what failed),
    written to the ledger as the service's state (restoring: it goes ahead without a ledger)."""
    outcome = ROLLED_BACK if restored.ok else DOWN
    reason = why if restored.ok else f"{why}; {failed}: {restored.reason}"
    record_state(journal, who, P.ROLLED_BACK if restored.ok else DOWN, reason, restoring=True)
    return outcome, reason


def record_state(journal: Journal, who: P.ServicePlan | str, state: str, reason: str | None = None, *,
                 restoring: bool = False) -> None:
    """A service's state in the ledger; a replicated template's instances get its final
    state too (status, cleanup and later plans read each instance's). While it migrates only
    the template's row says so: a killed run is settled as the one item it was."""
    units = [who] if isinstance(who, str) else [who.unit, *(who.instances if state != P.MIGRATING else ())]
    for unit in units:
        journal.service_state(unit, state, reason, restoring=restoring)


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
                steps.append(StepResult(P.EMPTY_COPY, "done", host.remove_secret(sp)))
            except (RevopsError, OSError) as exc:
                steps.append(StepResult(P.EMPTY_COPY, FAILED, describe(exc)))
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


def put_job_back(host: Host, journal: Journal, sp: P.ServicePlan, why: str) -> Restored:
    """A job back under systemd as its own files say: the Repoint pair's put-back (its revops
    drop-in removed, daemon-reload; journaled), no restart (its timer, never touched, fires it),
    then its secret copy removed. ok when the drop-in is gone."""
    steps: list[StepResult] = []
    try:
        said = host.job_pair(journal).put_back(sp.unit, jobs.PURPOSE, why, restart=False)
        steps.append(StepResult(P.PUT_JOB_BACK, DONE, said))
    except RevopsError as exc:
        steps.append(StepResult(P.PUT_JOB_BACK, FAILED, exc.message))
        return Restored(False, exc.message, steps)
    if sp.secret is not None:
        try:
            steps.append(StepResult(P.EMPTY_COPY, DONE, host.remove_secret(sp)))
        except (RevopsError, OSError) as exc:
            steps.append(StepResult(P.EMPTY_COPY, FAILED, describe(exc)))
    return Restored(True, said, steps)
