"""Retiring the old-world units of the last phase's plan, and putting them back.

The flow around revops.migrate.retire's journaled steps, in the executor's terms (a
ServiceResult per unit): `run` after the run's services, only when each unit the plan said
must migrate first did; `put_back` for `revops rollback UNIT`; `settle` for a unit a killed
run left half-way. A retire that fails half-way is put back at once, from the states its
first step recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from revops.errors import RevopsError
from revops.journal import DONE, FAILED, Journal, JournalUnavailable, describe
from revops.migrate import plan as P
from revops.migrate import retire as R
from revops.migrate.executor import (DOWN, INTERRUPTED, MIGRATED, NOT_STARTED, ROLLED_BACK, Host,
                                     ServiceResult, StepResult)
from revops.model import Inventory

if TYPE_CHECKING:
    from revops.adapters.ledger import Step
    from revops.hostrun import Ledger

RETIRED = "retired"  # the outcome: stopped and disabled, with its timers


def retired_units(ledger: Ledger | None) -> dict[str, Step]:
    """{unit: the step that retired it} for each unit the ledger says is retired now: its
    newest retire-disable done, with no retire-undo done after it. The step's detail holds
    what the unit was before (retire.read_before)."""
    if ledger is None:
        return {}
    newest = ledger.last_done([R.RETIRE_DISABLE, R.RETIRE_UNDO])
    return {unit: step for unit, step in newest.items() if step.step == R.RETIRE_DISABLE}


def fragments(inventory: Inventory, unit: str, root: Path) -> dict[str, Path]:
    """The unit files of `unit` and its timers, by name, under the host root (a put-back links
    again what retire's disable unlinked)."""
    found = inventory.unit(unit)
    if found is None:
        return {}
    pairs = [(found.name, found.path), *((t.name, t.path) for t in found.timers)]
    return {name: root / path.lstrip("/") for name, path in pairs if path}


def run(host: Host, journal: Journal, items: Sequence[P.RetirePlan], results: Sequence[ServiceResult], *,
        mask: bool, root: Path, interrupted: Callable[[], bool] = lambda: False,
        say: Callable[[str], None] = lambda _m: None) -> list[ServiceResult]:
    """Retire each item with steps (plan.Plan.retiring), after the run's services `results`:
    only when every unit of its `after` migrated (else it would outlive the venv it tends, or a
    unit would run from a venv again without it); none after Ctrl-C. One at a time: a unit
    retired is a handful of D-Bus calls."""
    ended = {r.unit: r.outcome for r in results}
    out = []
    for item in items:
        unmet = [u for u in item.after if ended.get(u) != MIGRATED]
        if interrupted():
            out.append(ServiceResult(item.unit, INTERRUPTED, "Ctrl-C before it was retired; it runs as it did"))
        elif unmet:
            out.append(ServiceResult(item.unit, NOT_STARTED, f"not retired: {', '.join(unmet[:5])}"
                                     f"{', ...' if len(unmet) > 5 else ''} did not migrate and still run from a "
                                     "venv; it runs as it did"))
        else:
            say(f"{item.unit}: retiring (stopped and disabled with {', '.join(item.timers) or 'no timer'})")
            out.append(retire_one(host, journal, item.unit, item.timers, item.steps, mask=mask,
                                  fragments=_abs(item.fragments, root), say=say))
    return out


def retire_one(host: Host, journal: Journal, unit: str, timers: Sequence[str], steps: Sequence[P.Step], *,
               mask: bool, fragments: Mapping[str, Path], before: Sequence[R.Before] | None = None,
               say: Callable[[str], None] = lambda _m: None) -> ServiceResult:
    """Stop and disable one unit and its timers (`steps`: the plan's words for the journal),
    their states recorded first (read now, or `before` when a killed run recorded them); put
    back at once when a step fails (`fragments`: their unit files, to link again)."""
    retirer = host.retirer(journal)
    result = ServiceResult(unit, RETIRED)
    words = {s.name: s.changes for s in steps}
    try:
        before = list(before) if before is not None else retirer.read(unit, timers)
    except RevopsError as exc:
        result.outcome, result.reason = NOT_STARTED, f"{exc.message}; {unit} untouched"
        return result
    try:
        _step(result, R.RETIRE_STOP, lambda: retirer.stop(before, words.get(R.RETIRE_STOP, "stop")))
        _step(result, R.RETIRE_DISABLE, lambda: retirer.disable(before, mask, words.get(R.RETIRE_DISABLE, "disable")))
    except JournalUnavailable as exc:
        if any(s.step == R.RETIRE_STOP for s in result.steps):  # the host changed: put it back first
            _put_back_into(result, host, journal, before, fragments, exc.message, say)
        raise
    except RevopsError as exc:
        return _put_back_into(result, host, journal, before, fragments, exc.message, say)
    except BaseException as exc:
        if result.steps:
            _put_back_into(result, host, journal, before, fragments, f"unexpected error: {describe(exc)}", say)
        raise
    result.reason = f"stopped and disabled: {result.steps[-1].detail}"
    return result


def _step(result: ServiceResult, name: str, action: Callable[[], str]) -> None:
    try:
        said = action()
    except BaseException as exc:
        result.steps.append(StepResult(name, FAILED, describe(exc)))
        raise
    result.steps.append(StepResult(name, DONE, said))


def _abs(relative: Mapping[str, str], root: Path) -> dict[str, Path]:
    return {name: root / path.lstrip("/") for name, path in relative.items()}


def _put_back_into(result: ServiceResult, host: Host, journal: Journal, before: Sequence[R.Before],
                   fragments: Mapping[str, Path], why: str, say: Callable[[str], None]) -> ServiceResult:
    say(f"{result.unit}: putting it back as it was ({why.splitlines()[0]})")
    back = restore(host, journal, before, fragments, why)
    result.steps.extend(back.steps)
    result.outcome = back.outcome
    result.reason = why if back.outcome == ROLLED_BACK else f"{why}; putting it back failed: {back.reason}"
    return result


def restore(host: Host, journal: Journal, before: Sequence[R.Before], fragments: Mapping[str, Path],
            why: str) -> ServiceResult:
    """The unit and its timers as `before` says (retire.Retirer.put_back): rolled-back, or
    down with what failed."""
    unit = before[0].name
    try:
        said = host.retirer(journal).put_back(before, fragments, why)
    except RevopsError as exc:
        return ServiceResult(unit, DOWN, exc.message, [StepResult(R.RETIRE_UNDO, FAILED, exc.message)])
    return ServiceResult(unit, ROLLED_BACK, said, [StepResult(R.RETIRE_UNDO, DONE, said)])


def put_back(host: Host, journal: Journal, unit: str, recorded: str, fragments: Mapping[str, Path],
             why: str) -> ServiceResult:
    """`revops rollback UNIT` of a retired unit: back as the ledger's record of its retire
    (`recorded`, the step's detail) says it was; down when that record is unreadable."""
    try:
        before = R.read_before(recorded, unit)
    except RevopsError as exc:
        return ServiceResult(unit, DOWN, exc.message)
    return restore(host, journal, before, fragments, why)


def settle(host: Host, journal: Journal, unit: str, last_step: str, recorded: str, *, mask: bool,
           fragments: Mapping[str, Path], say: Callable[[str], None] = lambda _m: None) -> ServiceResult:
    """A unit a killed run left in a retire step (`recorded`: that step's detail). Its stop or
    disable open: the retire is finished (stop and disable again, both idempotent, with the
    states recorded before the first: the unit is stopped by now), else put back; its
    put-back open: put back again."""
    try:
        before = R.read_before(recorded, unit)
    except RevopsError as exc:
        return ServiceResult(unit, DOWN, f"resumed after {last_step}: {exc.message}")
    if last_step == R.RETIRE_UNDO:
        say(f"{unit}: resuming, putting it back as it was before its retire")
        return restore(host, journal, before, fragments, f"resumed after {last_step}")
    say(f"{unit}: resuming, finishing its retire")
    timers = [b.name for b in before[1:]]
    result = retire_one(host, journal, unit, timers, P.retire_steps(unit, timers, mask, []), mask=mask,
                        fragments=fragments, before=before, say=say)
    if result.outcome == RETIRED:
        result.reason = f"resumed after {last_step}: {result.reason}"
    return result
