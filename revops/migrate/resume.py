"""Convergence after a crash: a run killed mid-cutover left open steps in the journal.

Before any new work, each service the journal saw half-way is settled: if its container is
healthy now, the cutover is finished (the unit disabled); otherwise it is rolled back to
systemd. Open steps of the dead run are then closed as abandoned, naming the run that settled
them, so the journal never keeps a step it does not know the end of.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from revops import jobs
from revops.migrate import instances as I
from revops.migrate import plan as P
from revops.migrate import retire as R
from revops.migrate import retiring
from revops.migrate.executor import (DISCARD_CREATED, DOWN, INTERRUPTED, MIGRATED, Host, ServiceResult,
                                     StepResult, put_job_back, record_restored, record_state, restore_unit)
from revops.errors import RevopsError
from revops.journal import DONE, FAILED, Journal
from revops.repoint import Repoint
from revops.config import Config
from revops.hostrun import Ledger
from revops.model import Inventory

if TYPE_CHECKING:
    from revops.adapters.ledger import Step

# Open steps that mean "the host may already have changed for this service" (a job's: its
# drop-in written or being removed by revops.repoint's step pair; a retired unit's: stopped,
# disabled or being put back, revops.migrate.retire).
_HOST_STEPS = {P.WRITE_SECRET, P.STOP_UNIT, P.START_CONTAINER, P.WAIT_HEALTHY, P.DISABLE_UNIT, P.ROLLBACK,
               P.REPOINT_UNIT, P.PUT_JOB_BACK, *R.ALL_STEPS}


@dataclass
class Unsettled:
    unit: str
    open_step_ids: list[int]
    last_step: str | None  # the latest open step, or None when only the service state says so
    candidate: bool = False  # a candidate may still run beside the unit (its step was open)
    detail: str = ""  # the latest open host step's detail (a retire step's records the states before)


def find_unsettled(open_steps: list[Step], states: dict[str, str]) -> list[Unsettled]:
    """Pure: which services need settling, from the ledger's open steps and service states."""
    found: dict[str, Unsettled] = {}
    for row in open_steps:
        entry = found.setdefault(row.service, Unsettled(row.service, [], None))
        entry.open_step_ids.append(row.id)
        if row.step in _HOST_STEPS:
            entry.last_step, entry.detail = row.step, row.detail
        entry.candidate = entry.candidate or row.step == P.VERIFY_CANDIDATE
    for unit, state in states.items():
        if state == P.MIGRATING:
            found.setdefault(unit, Unsettled(unit, [], P.MIGRATING))
    return [found[k] for k in sorted(found)]


def converge(inventory: Inventory, config: Config, ledger: Ledger, journal: Journal, host: Host,
             compose_files: list[str], say: Callable[[str], None] = lambda _m: None,
             interrupted: Callable[[], bool] = lambda: False, parallel: int = 1) -> list[ServiceResult]:
    """Settle every service a dead run left unsettled, at most `parallel` at once (a run killed
    mid-wave leaves several). After Ctrl-C (`interrupted()`), those being settled are finished;
    the others keep their open journal entries for the next run. Results in unit order."""
    states = service_states(ledger)
    items = find_unsettled(list(ledger.open_steps()), states)
    repoints = ledger.repoints(jobs.PURPOSE) if items else {}

    def one(item: Unsettled) -> ServiceResult:
        if interrupted():
            return ServiceResult(item.unit, INTERRUPTED, "Ctrl-C before it was settled; the next run settles it")
        result = _settle_one(item, inventory, config, journal, host, compose_files, say, interrupted,
                             repoints.get(item.unit))
        for step_id in item.open_step_ids:
            ledger.step_finished(step_id, FAILED, f"abandoned (process died); settled by run {journal.run_id}: {result.outcome}")
        return result

    if parallel <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="revops-settle") as pool:
        return list(pool.map(one, items))


def _settle_one(item: Unsettled, inventory: Inventory, config: Config, journal: Journal, host: Host,
                compose_files: list[str], say: Callable[[str], None],
                interrupted: Callable[[], bool], repoint_record=None) -> ServiceResult:
    if item.last_step in R.ALL_STEPS:  # an old-world unit being retired or put back: never a cutover
        return retiring.settle(host, journal, item.unit, item.last_step, item.detail, mask=config.mask_on_migrate,
                               fragments=retiring.fragments(inventory, item.unit, config.root), say=say)
    unit = inventory.unit(item.unit)
    group = I.of(inventory, item.unit) if unit is None else None  # a replicated template's item
    sp = (P.service_plan(unit, config, compose_files) if unit is not None else
          P.service_plan(group.unit, config, compose_files, instances=group.instances) if group is not None else None)
    if item.candidate and sp is not None:
        # The unit was never touched while its candidate ran: only the candidate is left.
        with journal.step(item.unit, P.VERIFY_CANDIDATE, "resume: remove what a killed run left") as record:
            try:
                record.reason = host.discard_candidates(sp)
            except RevopsError as exc:  # the unit was never touched: settling goes on
                record.state, record.reason = FAILED, f"candidate not removed: {exc.message}"
    if sp is not None and sp.kind == P.KIND_JOB:
        # Never the service's settle: a job's rollback must not start its unit (a run).
        return settle_job(sp, item.last_step, journal, host, repoint_record, say)
    if item.last_step is None:
        words = "a candidate was open; removed, the unit untouched" if item.candidate else \
            "only a preflight was open; nothing on the host changed"
        return ServiceResult(item.unit, "unchanged", words)
    if sp is None:
        return ServiceResult(item.unit, DOWN, "journal names a unit the inventory no longer has")
    return settle(sp, item.last_step, journal, host, config.mask_on_migrate, say, interrupted)


def settle(sp: P.ServicePlan, last_step: str, journal: Journal, host: Host, mask: bool,
           say: Callable[[str], None], interrupted: Callable[[], bool] = lambda: False) -> ServiceResult:
    """Finish the cutover when the container is healthy now (or turns healthy within the
    cutover's own deadline: a container killed mid-start is still starting), else roll back."""
    verdict = None
    if last_step != P.ROLLBACK:
        verdict = host.replacement_verdict(sp)
        if not verdict.ok:
            verdict = host.wait_replacement_healthy(sp, sp.deadline_s, interrupted)
    if verdict is not None and verdict.ok:
        say(f"{sp.unit}: resuming, container healthy: finishing the cutover")
        result = ServiceResult(sp.unit, MIGRATED, f"resumed after {last_step}: container healthy")
        with journal.step(sp.unit, P.DISABLE_UNIT, "resume: container healthy") as record:
            record.reason = host.retire_unit(sp, mask)
        result.steps.append(StepResult(P.DISABLE_UNIT, "done", record.reason))
        record_state(journal, sp, P.MIGRATED, result.reason)
        return result
    why = f"resumed after {last_step}: " + (verdict.reason if verdict else "a rollback was in flight")
    say(f"{sp.unit}: resuming, rolling back ({why})")
    restored = restore_unit(host, journal, sp, why)
    return ServiceResult(sp.unit, *record_restored(journal, sp, restored, why), restored.steps)


def settle_job(sp: P.ServicePlan, last_step: str | None, journal: Journal, host: Host, record,
               say: Callable[[str], None]) -> ServiceResult:
    """A job a dead run left half-way. Its repoint open (killed between the drop-in's write
    and the ledger's after-record) or the service state still `migrating`: finished when
    systemd, reloaded, reads exactly the ExecStart= the ledger's repoints record says was
    being written (the import check had passed before the step began), else put back. A
    put-back open: put back again (removing a drop-in already gone is no error). Anything
    earlier: the unit was never touched; what preflight made (the created container, the
    secret copy) is removed. `record`: the ledger's RepointRecord of the unit, or None."""
    if last_step in (P.REPOINT_UNIT, P.MIGRATING) and record is not None and record.argv_after:
        pair = host.job_pair(journal)
        intended = Repoint(sp.unit, jobs.PURPOSE, tuple(record.argv_after), tuple(record.argv_before), restart=False)
        try:
            with journal.step(sp.unit, P.REPOINT_UNIT, "resume: does systemd read the drop-in a killed run wrote?") as rec:
                pair.manager.reload()
                pair.check_read_back(intended)
                rec.reason = f"{sp.unit}: systemd reads the new ExecStart; its timer fires it"
        except RevopsError as exc:
            why = f"resumed after {last_step}: {exc.message}"
        else:
            say(f"{sp.unit}: resuming, the job's drop-in is in place: finishing its repoint")
            pair.mark_repointed(sp.unit, jobs.PURPOSE, "resumed: systemd reads the drop-in")
            reason = f"resumed after {last_step}: drop-in in place, systemd reads it"
            journal.service_state(sp.unit, P.MIGRATED, reason)
            return ServiceResult(sp.unit, MIGRATED, reason, [StepResult(P.REPOINT_UNIT, DONE, rec.reason)])
    elif last_step in (P.REPOINT_UNIT, P.MIGRATING, P.PUT_JOB_BACK):
        why = f"resumed after {last_step}" + (": no repoint record in the ledger" if record is None else "")
    else:
        steps = []
        for name, action in ((DISCARD_CREATED, host.remove_replacement),
                             *(((P.EMPTY_COPY, host.remove_secret),) if sp.secret is not None else ())):
            try:
                steps.append(StepResult(name, DONE, action(sp)))
            except RevopsError as exc:
                steps.append(StepResult(name, FAILED, exc.message))
        return ServiceResult(sp.unit, "unchanged", f"{sp.unit} was never repointed ({last_step or 'no host step'} "
                                                   "was open); what preflight made is removed", steps)
    say(f"{sp.unit}: resuming, putting the job's own ExecStart back ({why})")
    restored = put_job_back(host, journal, sp, why)
    return ServiceResult(sp.unit, *record_restored(journal, sp.unit, restored, why, "putting it back failed"),
                         restored.steps)


def service_states(ledger: Ledger) -> dict[str, str]:
    """{unit: migration state} from the ledger."""
    return {name: record.migration_state for name, record in ledger.service_states().items()}
