"""Every run that changes the host goes through one context manager, `host_run` (the model is
Kamal's `with_lock`: the lock and the audit record wrap the whole run, and are released and
closed whatever way it ends).

    with host_run(config, dry_run=dry_run) as run:
        states = ... run.ledger ...        # None on a dry run with no ledger file yet
        plan = ...                         # the verb's own plan
        if dry_run or not plan:            # a dry run takes no lock and journals nothing
            return result
        run.begin(phase, target=host.target)   # operator lock taken, run journaled (run.journal)
        if not run.confirm(ask, plan, yes):    # declined: the run ends "not confirmed"
            return result
        with run.interruptible() as interrupt: # Ctrl-C only raises a flag from here on
            ...                                # each host change a journal.step
        run.outcome = "..."                    # what the ledger records as the run's end

On the way out, whatever the way: `finish_run` with the outcome (or with what ended the run:
Ctrl-C at the prompt, an error), the operator lock released, the ledger closed. A dry run never
creates a ledger file: with none there is simply no state yet.

migrate, rollback and quick-wins use it; so will every verb that changes a host (repointing
units at suite venvs, rotating secrets, migrating to a Swarm target): the target a run is for is
recorded with it.
"""

from __future__ import annotations

import getpass
import os
import shlex
import signal
import socket
import sys
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, Protocol, Sequence, TypeVar

from revops.adapters.ledger import open_ledger
from revops.config import TARGET_COMPOSE, TARGET_SWARM, Config  # noqa: F401  (the targets a run is for)
from revops.journal import Journal, JournalLedger, describe

if TYPE_CHECKING:
    from revops.adapters.ledger import RepointRecord, ServiceRecord, Step

T = TypeVar("T")


class Ledger(JournalLedger, Protocol):
    """What a host-changing run needs of the ledger (revops.adapters.ledger.Ledger)."""

    def lock(self, holder: str) -> ContextManager[None]: ...
    def begin_run(self, operator: str, command: str, phase: int | None, dry_run: bool,
                  forced_reason: str | None = None, target: str = TARGET_COMPOSE) -> int: ...
    def finish_run(self, run_id: int, outcome: str) -> None: ...
    def record_inventory(self, digest: str, units: int, venvs: int) -> int: ...
    def service_states(self) -> dict[str, ServiceRecord]: ...
    def open_steps(self, service: str | None = None) -> list[Step]: ...
    def repoints(self, purpose: str | None = None) -> dict[str, RepointRecord]: ...
    def last_done(self, steps: Sequence[str]) -> dict[str, Step]: ...
    def close(self) -> None: ...


def operator() -> str:
    """user@host of whoever runs revops (uid N when the user has no name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def command_line() -> str:
    return shlex.join(["revops", *sys.argv[1:]])


def holder(command: str) -> str:
    """Who holds the operator lock, as a second operator is told."""
    return f"{operator()} pid {os.getpid()}: {command}"


def ledger_file_missing(url: str) -> Path | None:
    """The SQLite ledger file `url` names when it does not exist yet, else None. Opening it
    would create it, which a dry run must not do: with no file there is simply no state."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path("/" + url[len("sqlite:///"):].lstrip("/"))
    return None if path.exists() else path


class Interrupt:
    """Ctrl-C sets a flag instead of killing the run: the service in flight is finished or
    rolled back first, so it is never left stopped under systemd and absent from Docker."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    @contextmanager
    def catching(self) -> Iterator["Interrupt"]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(_signum: int, _frame: Any) -> None:
            self.requested = True

        signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


class HostRun:
    """One run that changes the host, as the ledger sees it (made by `host_run`)."""

    def __init__(self, ledger: Ledger | None, dry_run: bool, stack: ExitStack) -> None:
        self.ledger = ledger
        self.dry_run = dry_run
        self.run_id: int | None = None
        self.journal: Journal | None = None
        self.outcome: str | None = None  # the run's end as the ledger records it
        self._stack = stack
        self._command = command_line()
        self._locked = False

    def lock(self) -> Ledger:
        """Take the operator lock, once: a second operator is refused, naming this one. A verb
        that plans from the ledger's states takes it before reading them; begin() takes it
        otherwise."""
        if self.dry_run or self.ledger is None:
            raise RuntimeError("a dry run changes nothing: it takes no lock and begins no run")
        if not self._locked:
            self._stack.enter_context(self.ledger.lock(holder(self._command)))
            self._locked = True
        return self.ledger

    def begin(self, phase: int | None, *, forced_reason: str | None = None,
              target: str = TARGET_COMPOSE) -> int:
        """Journal the run (under the lock) for `target`; returns its id. From here on the
        run is finished in the ledger on every way out."""
        ledger = self.lock()
        self.run_id = ledger.begin_run(operator(), self._command, phase, False, forced_reason, target)
        self.journal = Journal(ledger, self.run_id)
        return self.run_id

    def confirm(self, ask: Callable[[T], bool] | None, shown: T, yes: bool) -> bool:
        """Ask the operator about `shown` (the plan) unless --yes; False when declined (the run
        ends "not confirmed"). Ctrl-C at the prompt, or no terminal to ask on, ends the run
        with those words and goes up."""
        if yes or ask is None:
            return True
        try:
            confirmed = ask(shown)
        except BaseException as exc:
            self.outcome = f"{_ended_by(exc)} at the confirmation; nothing changed"
            raise
        if not confirmed:
            self.outcome = "not confirmed"
        return confirmed

    def interruptible(self) -> ContextManager[Interrupt]:
        """From here on the host changes: Ctrl-C only raises the flag it yields, checked
        between services, so the one in hand is finished or put back first."""
        return Interrupt().catching()

    def _finish(self, error: BaseException | None) -> None:
        if self.run_id is None or self.ledger is None:
            return
        if error is None:
            self.ledger.finish_run(self.run_id, self.outcome or "finished")
            return
        if self.outcome is None:
            self.outcome = _ended_by(error)
        try:
            self.ledger.finish_run(self.run_id, self.outcome)
        except Exception:  # noqa: BLE001 - the ledger may be what failed; the first error goes up
            pass


def _ended_by(exc: BaseException) -> str:
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else f"ended ({describe(exc)})"


@contextmanager
def host_run(config: Config, *, dry_run: bool) -> Iterator[HostRun]:
    """The ledger of `config` opened for one host-changing run (None on a dry run that would
    create it); see the module's docstring for the flow."""
    ledger = None if dry_run and ledger_file_missing(config.database_url) else open_ledger(config.database_url)
    try:
        with ExitStack() as stack:  # holds the operator lock once begin() took it
            run = HostRun(ledger, dry_run, stack)
            try:
                yield run
            except BaseException as exc:
                run._finish(exc)
                raise
            run._finish(None)
    finally:
        if ledger is not None:
            ledger.close()
