"""Every step that changes the host is written to the ledger before and after it runs.

If the "before" write fails, the step does not run: nothing on the host is changed without
the journal knowing. A step that raises is recorded as failed with the error's words.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol

from revops.errors import AdapterUnavailable, RevopsError

DONE = "done"
FAILED = "failed"  # the ledger knows only these two end states


class JournalLedger(Protocol):
    """What the journal writes to (revops.adapters.ledger.Ledger); each call commits."""

    def step_started(self, run_id: int, service: str, step: str, detail: str = "") -> int: ...
    def step_finished(self, step_id: int, state: str, reason: str | None = None) -> None: ...
    def set_service_state(self, service: str, state: str, run_id: int | None,
                          reason: str | None = None) -> None: ...


@dataclass
class StepRecord:
    """What one journaled step said when it finished (set by the step's body)."""

    service: str
    step: str
    state: str = DONE
    reason: str | None = None


def describe(exc: BaseException) -> str:
    if isinstance(exc, RevopsError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


class Journal:
    def __init__(self, ledger: JournalLedger, run_id: int) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.lost: str | None = None  # set when a rollback ran without its journal entry

    @contextmanager
    def step(self, service: str, step: str, detail: str, *, restoring: bool = False) -> Iterator[StepRecord]:
        """Journal one step around its body. `restoring` marks a rollback: putting a service
        back under systemd goes ahead even when the ledger has just died, and says so."""
        record = StepRecord(service, step)
        step_id: int | None
        try:
            step_id = self.ledger.step_started(self.run_id, service, step, detail)
        except Exception as exc:
            if not restoring:  # the ledger is down: refuse before touching the host
                raise _unjournaled(step, service, exc) from None
            step_id, self.lost = None, describe(exc)
        try:
            yield record
        except BaseException as exc:
            self._finish(step_id, FAILED, describe(exc))
            raise
        self._finish(step_id, record.state, record.reason)

    def _finish(self, step_id: int | None, state: str, reason: str | None) -> None:
        if step_id is None:
            return
        try:
            self.ledger.step_finished(step_id, state, reason)
        except Exception as exc:
            raise _unjournaled(f"the end of step {step_id}", "", exc) from None

    def service_state(self, service: str, state: str, reason: str | None = None, *,
                      restoring: bool = False) -> None:
        try:
            self.ledger.set_service_state(service, state, self.run_id, reason)
        except Exception as exc:
            if not restoring:
                raise _unjournaled(f"state {state} of", service, exc) from None
            self.lost = describe(exc)


class JournalUnavailable(AdapterUnavailable):
    """The ledger refused a write: the run must stop, and the host must not change."""


def _unjournaled(step: str, service: str, exc: BaseException) -> JournalUnavailable:
    return JournalUnavailable(f"cannot journal {step} {service}: {describe(exc)}".replace("  ", " "),
                              hint="nothing more was changed on the host; fix the ledger and run again")
