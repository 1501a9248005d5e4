"""Repointing a unit through a drop-in, and putting it back: one step pair, journaled.

`repoint()` writes `UNIT.d/50-revops-<purpose>.conf` (revops.dropins), reloads the manager over
D-Bus, checks that the manager now reads exactly the intended ExecStart= (systemd itself is the
judge of the quoting) and restarts the unit when asked; `put_back()` removes the drop-in,
reloads and restarts the unit as its own files say. Each is a journal step (written to the
ledger before and after it runs), and the ledger's `repoints` record says where the pair
stands: "repointing" or "putting-back" are what a killed run leaves, for the next run to settle.

Nothing here judges whether the repointed unit is healthy: the caller does (`revops stabilize`
gates on /health or a settle time; a timer-fired job is judged when its timer fires).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from revops import dropins
from revops.errors import CheckFailed
from revops.journal import Journal, describe

if TYPE_CHECKING:
    from revops.adapters.systemd import ExecCommand, UnitState

REPOINT = "repoint-unit"
PUT_BACK = "put-back"
# The repoints record's states (revops.adapters.ledger.REPOINT_STATES).
REPOINTING, REPOINTED, PUTTING_BACK, PUT_BACK_DONE = "repointing", "repointed", "putting-back", "put-back"
HALF_WAY = (REPOINTING, PUTTING_BACK)
JOB_TIMEOUT_S = 90.0
# systemd job mode: this unit alone (a restart does not pull its dependents along).
ALONE = "ignore-requirements"


class NotOurs(CheckFailed):
    """A drop-in at revops' file name that revops did not write (its first line is not revops'
    header): an operator's file, never overwritten or removed. Raised before anything changes."""


class UnitControl(Protocol):
    """The manager (revops.adapters.systemd.Manager): what the step pair asks of it."""

    def reload(self) -> None: ...
    def states(self, names: list[str]) -> dict[str, UnitState]: ...
    def restart(self, name: str, timeout: float = 30.0, mode: str = "replace") -> str: ...
    def reset_failed(self, name: str) -> None: ...
    def exec_start(self, name: str) -> list[ExecCommand]: ...


class DropinStore(Protocol):
    """Drop-in files of the manager's directory (revops.adapters.systemd.DropinFiles)."""

    def directory(self, unit: str) -> Path: ...
    def read(self, unit: str, name: str) -> str | None: ...
    def write(self, unit: str, name: str, text: str) -> Path: ...
    def remove(self, unit: str, name: str) -> bool: ...


class RepointLedger(Protocol):
    """Where the pair records each unit's state (revops.adapters.ledger.Ledger.set_repoint)."""

    def set_repoint(self, unit: str, purpose: str, state: str, run_id: int | None, *,
                    dropin: str | None = None, exec_before: list[str] | None = None,
                    exec_after: list[str] | None = None, uses_before: str | None = None,
                    uses_after: str | None = None, restarts_before: int | None = None,
                    reason: str | None = None) -> None: ...


@dataclass(frozen=True)
class Repoint:
    """One unit to run `argv` instead of `before` (both [program, arg1, ...]), for `purpose`.

    `uses_before`/`uses_after` name what the unit runs from (a venv), for status and cleanup;
    `restarts_before` is NRestarts read before the change (a restart resets it)."""

    unit: str
    purpose: str
    argv: tuple[str, ...]
    before: tuple[str, ...]
    prefixes: str = ""
    uses_before: str | None = None
    uses_after: str | None = None
    restarts_before: int | None = None
    note: str = ""
    restart: bool = True
    resets: tuple[str, ...] = ()  # settings the drop-in empties (dropins.RESETTABLE)

    @property
    def dropin(self) -> dropins.Dropin:
        return dropins.exec_start_dropin(self.unit, self.purpose, self.argv, self.prefixes, self.note, self.resets)


@dataclass
class Pair:
    """The step pair on one manager: `repoint` and `put_back`, each one journaled step that
    says in one line what it did, or raises a RevopsError (CheckFailed: what went wrong)."""

    manager: UnitControl
    files: DropinStore
    journal: Journal
    ledger: RepointLedger
    timeout_s: float = JOB_TIMEOUT_S
    mode: str = ALONE
    said: list[str] = field(default_factory=list)

    def repoint(self, r: Repoint) -> str:
        dropin = r.dropin  # DropinError (a ValueError) before anything is written
        with self.journal.step(r.unit, REPOINT, f"{dropin.filename}: ExecStart={dropins.exec_line(r.argv, r.prefixes)}") as record:
            path = str(self.files_path(r.unit, dropin.filename))
            self.refuse_foreign(r.unit, r.purpose)  # before the ledger says "repointing"
            self._record(r.unit, r.purpose, REPOINTING, dropin=path, exec_before=list(r.before),
                         exec_after=list(r.argv), uses_before=r.uses_before, uses_after=r.uses_after,
                         restarts_before=r.restarts_before, reason=None)
            self.files.write(r.unit, dropin.filename, dropin.text)
            self.manager.reload()
            self.check_read_back(r)
            said = f"drop-in {path} written, systemd reads the new ExecStart"
            if r.restart:
                said += "; " + self._restart(r.unit)
            record.reason = said
        return said

    def refuse_foreign(self, unit: str, purpose: str) -> None:
        """NotOurs when the unit's drop-in for `purpose` exists and revops did not write it.

        The file name is revops', but a drop-in directory is the administrator's
        (systemd.unit(5) "DESCRIPTION": UNIT.d/*.conf are read whoever wrote them): a file
        someone else put there is theirs, so revops neither replaces it on repoint nor removes
        it on put-back; the caller says which unit was left alone and why."""
        name = dropins.filename(purpose)
        text = self.files.read(unit, name)
        if text is not None and not dropins.written_by_revops(text, purpose):
            raise NotOurs(f"{self.files_path(unit, name)}: not written by revops (its first line is not "
                          f"'{dropins.HEADER} {purpose}'); left in place, {unit} not changed",
                          hint="someone wrote a drop-in by revops' name: move it to another name "
                               "(or remove it), then daemon-reload and run again")

    def files_path(self, unit: str, name: str) -> Path:
        return self.files.directory(unit) / name

    def check_read_back(self, r: Repoint) -> None:
        """CheckFailed unless the manager's one ExecStart= is exactly r.argv (the drop-in's
        quoting, and no later drop-in setting ExecStart= again)."""
        commands = self.manager.exec_start(r.unit)
        read = [[c.path, *c.argv] if "@" in r.prefixes else [c.path, *c.argv[1:]] for c in commands]
        if read != [list(r.argv)]:
            raise CheckFailed(f"{r.unit}: after the drop-in systemd reads ExecStart as {read}, "
                              f"not {[list(r.argv)]} (another drop-in sorting after "
                              f"{dropins.filename(r.purpose)} may set ExecStart= again)")

    def mark_repointed(self, unit: str, purpose: str, reason: str | None = None) -> None:
        """The caller's verdict: the repointed unit passed its gate."""
        self._record(unit, purpose, REPOINTED, reason=reason)

    def put_back(self, unit: str, purpose: str, why: str, *, restart: bool = True) -> str:
        """Remove the unit's drop-in for `purpose` (only one revops wrote), reload, restart the
        unit as its own files say. Goes ahead when the ledger has just died (a unit is never
        left on a half-made change for want of a journal), and says so in the journal's `lost`."""
        name = dropins.filename(purpose)
        with self.journal.step(unit, PUT_BACK, f"because: {why}", restoring=True) as record:
            self._record(unit, purpose, PUTTING_BACK, reason=why, restoring=True)
            self.refuse_foreign(unit, purpose)
            text = self.files.read(unit, name)
            removed = self.files.remove(unit, name) if text is not None else False
            self.manager.reload()
            said = f"drop-in {'removed' if removed else 'already gone'}"
            if restart:
                said += "; " + self._restart(unit)
            record.reason = said
            self._record(unit, purpose, PUT_BACK_DONE, reason=why, restoring=True)
        return said

    def _restart(self, unit: str) -> str:
        state = self.manager.states([unit])[unit]
        if state.active_state == "failed":
            self.manager.reset_failed(unit)
        now = self.manager.restart(unit, self.timeout_s, self.mode)
        return f"restarted ({now})"

    def _record(self, unit: str, purpose: str, state: str, *, restoring: bool = False, **fields) -> None:
        try:
            self.ledger.set_repoint(unit, purpose, state, self.journal.run_id, **fields)
        except Exception as exc:
            if not restoring:
                raise
            self.journal.lost = describe(exc)
