"""Convergence after a crash: a run killed mid-cutover left open steps in the journal.

Before any new work, each service the journal saw half-way is settled: if its container is
healthy now, the cutover is finished (the unit disabled); otherwise it is rolled back to
systemd. Open steps of the dead run are then closed as abandoned, naming the run that settled
them, so the journal never keeps a step it does not know the end of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from revops.migrate import plan as P
from revops.migrate.executor import (DOWN, INTERRUPTED, MIGRATED, ROLLED_BACK, Host, ServiceResult,
                                     StepResult, restore_unit)
from revops.journal import FAILED, Journal
from revops.config import Config
from revops.hostrun import Ledger
from revops.model import Inventory

if TYPE_CHECKING:
    from revops.adapters.ledger import Step

# Open steps that mean "the host may already have changed for this service".
_HOST_STEPS = {P.WRITE_SECRET, P.STOP_UNIT, P.START_CONTAINER, P.WAIT_HEALTHY, P.DISABLE_UNIT, P.ROLLBACK}


@dataclass
class Unsettled:
    unit: str
    open_step_ids: list[int]
    last_step: str | None  # the latest open step, or None when only the service state says so


def find_unsettled(open_steps: list[Step], states: dict[str, str]) -> list[Unsettled]:
    """Pure: which services need settling, from the ledger's open steps and service states."""
    found: dict[str, Unsettled] = {}
    for row in open_steps:
        entry = found.setdefault(row.service, Unsettled(row.service, [], None))
        entry.open_step_ids.append(row.id)
        if row.step in _HOST_STEPS:
            entry.last_step = row.step
    for unit, state in states.items():
        if state == P.MIGRATING:
            found.setdefault(unit, Unsettled(unit, [], P.MIGRATING))
    return [found[k] for k in sorted(found)]


def converge(inventory: Inventory, config: Config, ledger: Ledger, journal: Journal, host: Host,
             compose_files: list[str], say: Callable[[str], None] = lambda _m: None,
             interrupted: Callable[[], bool] = lambda: False) -> list[ServiceResult]:
    """Settle every service a dead run left unsettled. After Ctrl-C (`interrupted()`), the one
    being settled is finished; the others keep their open journal entries for the next run."""
    states = service_states(ledger)
    results = []
    for item in find_unsettled(list(ledger.open_steps()), states):
        if interrupted():
            results.append(ServiceResult(item.unit, INTERRUPTED,
                                         "Ctrl-C before it was settled; the next run settles it"))
            continue
        if item.last_step is None:
            result = ServiceResult(item.unit, "unchanged", "only a preflight was open; nothing on the host changed")
        else:
            unit = inventory.unit(item.unit)
            if unit is None:
                result = ServiceResult(item.unit, DOWN, "journal names a unit the inventory no longer has")
            else:
                result = settle(P.service_plan(unit, config, compose_files), item.last_step, journal, host, config.mask_on_migrate, say)
        for step_id in item.open_step_ids:
            ledger.step_finished(step_id, FAILED, f"abandoned (process died); settled by run {journal.run_id}: {result.outcome}")
        results.append(result)
    return results


def settle(sp: P.ServicePlan, last_step: str, journal: Journal, host: Host, mask: bool,
           say: Callable[[str], None]) -> ServiceResult:
    """Finish the cutover when the container is healthy now, else roll back."""
    verdict = host.replacement_verdict(sp) if last_step != P.ROLLBACK else None
    if verdict is not None and verdict.ok:
        say(f"{sp.unit}: resuming, container healthy: finishing the cutover")
        result = ServiceResult(sp.unit, MIGRATED, f"resumed after {last_step}: container healthy")
        with journal.step(sp.unit, P.DISABLE_UNIT, "resume: container healthy") as record:
            record.reason = host.retire_unit(sp, mask)
        result.steps.append(StepResult(P.DISABLE_UNIT, "done", record.reason))
        journal.service_state(sp.unit, P.MIGRATED, result.reason)
        return result
    why = f"resumed after {last_step}: " + (verdict.reason if verdict else "a rollback was in flight")
    say(f"{sp.unit}: resuming, rolling back ({why})")
    restored = restore_unit(host, journal, sp, why)
    outcome = ROLLED_BACK if restored.ok else DOWN
    reason = why if restored.ok else f"{why}; rollback failed: {restored.reason}"
    journal.service_state(sp.unit, P.ROLLED_BACK if restored.ok else DOWN, reason, restoring=True)
    return ServiceResult(sp.unit, outcome, reason, restored.steps)


def service_states(ledger: Ledger) -> dict[str, str]:
    """{unit: migration state} from the ledger."""
    return {name: record.migration_state for name, record in ledger.service_states().items()}
