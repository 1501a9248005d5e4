"""Old-world units retired, not migrated: stopped and disabled with their timers, journaled, and
put back as they were.

`retire:` in revops.yaml names units that exist only for the per-service venvs (a healer that
rebuilds them every 15 minutes, a venv cleanup timer). They go once no unit left under systemd
runs from a venv (revops.migrate.plan.retire_plan says when). A Retirer acts on the systemd
manager alone; each action is one journaled step whose detail records, before anything
changes, what each unit was (UnitFileState, ActiveState, read LIVE): the put-back, the resume
of a killed run and `revops rollback UNIT` read it from there, never from the host's state then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence

from revops.errors import CheckFailed
from revops.journal import Journal

if TYPE_CHECKING:
    from revops.adapters.systemd import UnitState

RETIRE_STOP = "retire-stop"
RETIRE_DISABLE = "retire-disable"
RETIRE_UNDO = "retire-undo"
STEPS = (RETIRE_STOP, RETIRE_DISABLE)
ALL_STEPS = (*STEPS, RETIRE_UNDO)
BEFORE = "before: "
STOP_TIMEOUT_S = 90.0  # systemd's own default stop timeout
ALONE = "ignore-requirements"  # job mode: this unit only (as the cutover stops and starts units)
GONE = {"inactive", "failed"}
# UnitFileState words (org.freedesktop.systemd1(5)) a put-back acts on.
ENABLED = {"enabled", "enabled-runtime"}
LINKED = {"linked", "linked-runtime"}
MASKED = {"masked", "masked-runtime"}
RUNNING = {"active", "activating", "reloading"}


@dataclass(frozen=True)
class Before:
    """One unit as it was before its retire: UnitFileState ("enabled", "static", "linked",
    ... or "" when the manager gave none) and ActiveState."""

    name: str
    unit_file_state: str
    active_state: str


def before_words(units: Sequence[Before]) -> str:
    """The record a retire step's detail ends with: "before: " and a JSON list of
    [name, UnitFileState, ActiveState]. JSON, so no unit name can be read as another field;
    with ':', '=' and white space written as JSON escapes (a unit name may hold a ':'), so the
    ledger's redaction of `KEY=value`, `KEY: value` and `--flag value` leaves it whole."""
    text = json.dumps([[b.name, b.unit_file_state, b.active_state] for b in units], separators=(",", ":"))
    return BEFORE + text.translate(_ESCAPED)


# Outside its strings the JSON above holds none of these; inside, each is its \uXXXX escape.
_ESCAPED = {ord(c): f"\\u{ord(c):04x}" for c in ":= "}


def read_before(detail: str, unit: str) -> list[Before]:
    """The units and states a retire step's detail recorded (before_words), the retired unit
    first; CheckFailed naming the unit when the record is missing or not revops' shape."""
    at = detail.rfind(BEFORE)
    try:
        rows = json.loads(detail[at + len(BEFORE):]) if at >= 0 else None
    except ValueError:
        rows = None
    ok = (isinstance(rows, list) and rows and all(isinstance(r, list) and len(r) == 3 and
                                                  all(isinstance(w, str) for w in r) for r in rows))
    if not ok or rows[0][0] != unit:
        raise CheckFailed(f"{unit}: the ledger's record of its state before its retire is unreadable "
                          f"({detail[:200]!r})", hint=f"put {unit} back by hand (systemctl enable/start)")
    return [Before(*r) for r in rows]


class UnitControl(Protocol):
    """The systemd manager (revops.adapters.systemd.Manager): what retiring asks of it. Jobs
    wait until done and return the unit's ActiveState; unit-file calls reload the manager."""

    def states(self, names: list[str]) -> dict[str, UnitState]: ...
    def start(self, name: str, timeout: float = 30.0, mode: str = "replace") -> str: ...
    def stop(self, name: str, timeout: float = 30.0, mode: str = "replace") -> str: ...
    def enable(self, names: list[str]) -> None: ...
    def disable(self, names: list[str]) -> None: ...
    def mask(self, names: list[str]) -> None: ...
    def unmask(self, names: list[str]) -> None: ...
    def link(self, paths: list[str]) -> None: ...
    def reset_failed(self, name: str) -> None: ...


MaskBlocked = Callable[[str], "str | None"]  # unit -> why its mask cannot be placed now, or None


def _never_blocked(_unit: str) -> str | None:
    return None


def disable_and_mask(manager: UnitControl, names: Sequence[str], mask: bool,
                     blocked: MaskBlocked = _never_blocked) -> dict[str, str]:
    """DisableUnitFiles on `names`; with `mask`, then MaskUnitFiles on each whose mask can be
    placed now (`blocked(name)` None, asked after the disable: it removes a linked unit's
    link). Returns {unit: why it is disabled only}. A unit file the administrator wrote in the
    manager's admin directory is never replaced by a mask (revops.adapters.systemd.mask_blocker)."""
    names = list(names)
    manager.disable(names)
    if not mask:
        return {}
    kept = {n: why for n in names if (why := blocked(n)) is not None}
    manager.mask([n for n in names if n not in kept])
    return kept


def not_masked_words(kept: Mapping[str, str]) -> str:
    """"; not masked: UNIT (why); ..." for the units a disable step left unmasked, or ""."""
    return "".join(f"; {unit} not masked ({why})" for unit, why in kept.items())


@dataclass
class Retirer:
    """Retiring one unit and its timers on `manager`, each action a step of `journal` (its
    service column the retired unit). Each says in one line what it did, or raises a
    RevopsError (CheckFailed: what went wrong)."""

    manager: UnitControl
    journal: Journal
    timeout_s: float = STOP_TIMEOUT_S
    mask_blocked: MaskBlocked = _never_blocked  # the host's admin-directory check (disable_and_mask)

    def read(self, unit: str, timers: Sequence[str]) -> list[Before]:
        """The unit's and its timers' states now (LIVE), the unit first; CheckFailed when the
        manager does not know one (nothing to retire, and nothing a put-back could restore)."""
        names = [unit, *timers]
        states = self.manager.states(names)
        unknown = [n for n in names if states[n].load_state in ("not-found", "")]
        if unknown:
            raise CheckFailed(f"{unit}: systemd does not know {', '.join(unknown)} (LoadState not-found); "
                              "nothing retired")
        return [Before(n, states[n].unit_file_state or "", states[n].active_state) for n in names]

    def stop(self, before: Sequence[Before], detail: str) -> str:
        """Stop the timers first (one left waiting would start the unit again), then the unit,
        each alone, and check each is inactive."""
        unit = before[0].name
        with self.journal.step(unit, RETIRE_STOP, f"{detail}; {before_words(before)}") as record:
            said = []
            for b in reversed(before):
                state = self.manager.stop(b.name, self.timeout_s, mode=ALONE)
                if state not in GONE:
                    raise CheckFailed(f"{b.name}: still {state} after its stop job")
                said.append(f"{b.name} {state}")
            record.reason = ", ".join(said)
        return record.reason

    def disable(self, before: Sequence[Before], mask: bool, detail: str) -> str:
        """Disable the unit and its timers (masked too when `mask`, each whose mask can be
        placed: disable_and_mask), and check none is left enabled: a reboot must start none."""
        unit = before[0].name
        names = [b.name for b in before]
        with self.journal.step(unit, RETIRE_DISABLE, f"{detail}; {before_words(before)}") as record:
            kept = disable_and_mask(self.manager, names, mask, self.mask_blocked)
            now = self.manager.states(names)
            left = [n for n in names if (now[n].unit_file_state or "") in ENABLED]
            if left:
                raise CheckFailed(f"{', '.join(left)} still enabled after DisableUnitFiles")
            record.reason = (", ".join(f"{n} {now[n].unit_file_state or now[n].load_state}" for n in names)
                             + not_masked_words(kept))
        return record.reason

    def put_back(self, before: Sequence[Before], fragments: Mapping[str, Path], why: str) -> str:
        """Every unit as `before` says: linked again when it was linked (its fragment from
        `fragments`) or is gone, unmasked, enabled when it was enabled, started when it ran;
        then checked. Goes ahead when the ledger has just died (a put-back restores)."""
        unit = before[0].name
        names = [b.name for b in before]
        with self.journal.step(unit, RETIRE_UNDO, f"because: {why}; {before_words(before)}",
                               restoring=True) as record:
            self._unit_files(before, fragments)
            for b in before:
                if b.active_state in RUNNING:
                    if self.manager.states([b.name])[b.name].active_state == "failed":
                        self.manager.reset_failed(b.name)
                    self.manager.start(b.name, self.timeout_s, mode=ALONE)
            now = self.manager.states(names)
            wrong = [f"{b.name} {now[b.name].unit_file_state}/{now[b.name].active_state} "
                     f"(was {b.unit_file_state}/{b.active_state})" for b in before if not _as_before(b, now[b.name])]
            if wrong:
                raise CheckFailed(f"not as before its retire: {'; '.join(wrong)}")
            record.reason = ", ".join(f"{b.name} {now[b.name].unit_file_state}/{now[b.name].active_state}"
                                      for b in before)
        return record.reason

    def _unit_files(self, before: Sequence[Before], fragments: Mapping[str, Path]) -> None:
        names = [b.name for b in before]
        now = self.manager.states(names)
        unmask = [b.name for b in before if (now[b.name].unit_file_state or "") in MASKED
                  and b.unit_file_state not in MASKED]
        if unmask:
            # Unmasking a linked unit leaves it unknown (its link went with the disable): read
            # again, so it is linked before it is enabled.
            self.manager.unmask(unmask)
            now = self.manager.states(names)
        relink = [b for b in before if now[b.name].load_state == "not-found"]
        missing = [b.name for b in relink if b.name not in fragments]
        if missing:
            raise CheckFailed(f"{', '.join(missing)}: systemd does not know it any more and no unit file is "
                              "known to link")
        self.manager.link([str(fragments[b.name]) for b in relink])
        self.manager.enable([b.name for b in before if b.unit_file_state in ENABLED])


def _as_before(b: Before, now: UnitState) -> bool:
    """Enabled again if it was; running again if it ran. A oneshot that was mid-run ran once
    more to its end: inactive with Result success counts as running again."""
    if b.unit_file_state in ENABLED and (now.unit_file_state or "") not in ENABLED:
        return False
    if b.active_state in RUNNING:
        return now.active_state in RUNNING or (now.active_state == "inactive" and now.result == "success")
    return True
