"""Repointing planned units at their suite venv, one at a time, each gated: the step pair of
revops.repoint does the drop-in, the reload and the restart; this module judges the unit and
puts it back when it fails.

The gate (issue #17): a unit with a port must answer /health with 2xx within the timeout, and
be active; a unit without one must be active, with no automatic restart, a settle time after
ours (a restart resets NRestarts, so any count is a restart since ours).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

from revops.adapters import http
from revops.dropins import DropinError
from revops.errors import RevopsError
from revops.journal import FAILED, Journal
from revops.repoint import NotOurs, Pair, Repoint
from revops.stabilize.plan import PURPOSE, UnitPlan

GATE = "gate"
POLL_S = 0.5
# Units stabilize restarts: running, starting or failing now. A stopped unit (a timer's job
# that has run, a daemon someone stopped) is not started by stabilize: its drop-in is read
# back and it runs from the suite venv when it next starts.
RESTARTED = ("active", "activating", "reloading", "failed")


@dataclass
class UnitResult:
    unit: str
    ok: bool
    action: str  # "repointed", "put back", "not repointed", "undone"
    detail: str
    restarts_before: int | None = None


@dataclass(frozen=True)
class Gate:
    """How a repointed unit is judged: seconds, and where /health is."""

    settle_s: float
    timeout_s: float
    url: Callable[[int | None], str | None]
    probe_timeout_s: float = 2.0


class Clock(Protocol):
    def __call__(self) -> float: ...


def restarts_of(pair: Pair, unit: str) -> int | None:
    return pair.manager.states([unit])[unit].n_restarts


def stabilize(p: UnitPlan, pair: Pair, gate: Gate, *, sleep: Callable[[float], None] = time.sleep,
              clock: Clock = time.monotonic) -> UnitResult:
    """Repoint one unit, gate it, and put it back when either fails. Raises only what the
    journal raises (the ledger gone: the host must not change further)."""
    assert p.after is not None
    now = pair.manager.states([p.unit])[p.unit]
    before_restarts = now.n_restarts
    restart = now.active_state in RESTARTED and not p.job
    change = Repoint(p.unit, PURPOSE, tuple(p.after), tuple(p.before), p.prefixes, uses_before=p.venv_before,
                     uses_after=p.venv_after, restarts_before=before_restarts,
                     note=f"stabilize: {p.unit} runs from the suite venv {p.venv_after}", restart=restart)
    try:
        pair.repoint(change)
    except DropinError as exc:  # systemd would refuse the line: refused before anything was written
        return UnitResult(p.unit, False, "not repointed", f"no drop-in can say this command: {exc}", before_restarts)
    except NotOurs as exc:  # nothing changed: there is nothing to put back (and it is not ours to remove)
        return UnitResult(p.unit, False, "not repointed", exc.message, before_restarts)
    except RevopsError as exc:
        return _put_back(p, pair, f"repointing failed: {exc.message}", before_restarts, restart)
    if not restart:
        why = (f"not restarted ({'a oneshot job' if p.job else now.active_state + ' now'}): systemd reads the "
               "new ExecStart, and it runs from the suite venv when it next starts")
        pair.mark_repointed(p.unit, PURPOSE, why)
        return UnitResult(p.unit, True, "repointed", why, before_restarts)
    ok, why = judge(p, pair, gate, sleep=sleep, clock=clock)
    if not ok:
        return _put_back(p, pair, why, before_restarts)
    pair.mark_repointed(p.unit, PURPOSE, why)
    return UnitResult(p.unit, True, "repointed", why, before_restarts)


def judge(p: UnitPlan, pair: Pair, gate: Gate, *, sleep: Callable[[float], None] = time.sleep,
          clock: Clock = time.monotonic) -> tuple[bool, str]:
    """The gate, as a journaled step: (passed, what was seen)."""
    url = gate.url(p.port)
    what = f"GET {url} 2xx within {gate.timeout_s:g}s" if url else f"active and not restarted for {gate.settle_s:g}s"
    with pair.journal.step(p.unit, GATE, what) as record:
        ok, why = _health(p.unit, url, pair, gate, sleep, clock) if url else _settled(p.unit, pair, gate, sleep)
        record.state = "done" if ok else FAILED
        record.reason = why
    return ok, why


def _health(unit: str, url: str, pair: Pair, gate: Gate, sleep: Callable[[float], None],
            clock: Clock) -> tuple[bool, str]:
    deadline = clock() + gate.timeout_s
    last = None
    while True:
        state = pair.manager.states([unit])[unit]
        if state.active_state == "failed":
            return False, f"the unit failed (Result={state.result}, exit status {state.exec_main_status})"
        last = http.probe(url, gate.probe_timeout_s)
        if last.healthy and state.active_state == "active":
            return True, f"{url} answered {last.status_code} (LIVE); active, {state.n_restarts or 0} restart(s)"
        if clock() >= deadline:
            seen = f"HTTP {last.status_code}" if last.status_code else (last.error or "no answer")
            return False, (f"{url} not healthy within {gate.timeout_s:g}s: {seen}; the unit is "
                           f"{state.active_state}/{state.sub_state}, {state.n_restarts or 0} automatic restart(s)")
        sleep(POLL_S)


def _settled(unit: str, pair: Pair, gate: Gate, sleep: Callable[[float], None]) -> tuple[bool, str]:
    sleep(gate.settle_s)
    s = pair.manager.states([unit])[unit]
    if s.active_state == "active" and not s.n_restarts:
        return True, f"active ({s.sub_state}) and not restarted {gate.settle_s:g}s after the restart (LIVE)"
    return False, (f"not settled {gate.settle_s:g}s after the restart: {s.active_state}/{s.sub_state}, "
                   f"Result={s.result}, exit status {s.exec_main_status}, {s.n_restarts or 0} automatic restart(s)")


def _put_back(p: UnitPlan, pair: Pair, why: str, restarts: int | None, restart: bool = True) -> UnitResult:
    try:
        said = pair.put_back(p.unit, PURPOSE, why, restart=restart)
    except RevopsError as exc:
        return UnitResult(p.unit, False, "put back FAILED", f"{why}; putting it back failed: {exc.message}", restarts)
    return UnitResult(p.unit, False, "put back", f"{why}; {said}", restarts)


def undo(unit: str, pair: Pair, why: str = "stabilize --undo") -> UnitResult:
    """Remove the unit's stabilize drop-in and restart it on its own venv (a stopped unit is
    left stopped: it starts on its own venv when it next starts)."""
    state = pair.manager.states([unit])[unit].active_state
    try:
        said = pair.put_back(unit, PURPOSE, why, restart=state in RESTARTED)
    except RevopsError as exc:
        return UnitResult(unit, False, "undo FAILED", exc.message)
    return UnitResult(unit, True, "undone", said)
