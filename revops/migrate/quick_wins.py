"""The fix plan's immediate actions: stop and disable the deprecated units (revaudit v5 in its
restart loop) and restart the ones it names (revflow-revwins). Plan pure, execution journaled.

A restart is judged by what systemd says a few seconds later, not by the restart call
returning: a unit that fails again is reported failed, with its Result and restart count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from revops.config import Config
from revops.errors import RevopsError
from revops.journal import FAILED, Journal
from revops.model import Inventory

if TYPE_CHECKING:
    from revops.migrate.host import UnitManager

STOP_DISABLE = "stop-disable"
RESTART = "restart"
SETTLE_S = 3.0  # how long a restarted unit must stay active to count as fixed
JOB_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Action:
    unit: str
    action: str  # stop-disable or restart
    why: str
    changes: str


@dataclass
class ActionResult:
    unit: str
    action: str
    ok: bool
    detail: str
    state: dict[str, Any] = field(default_factory=dict)  # what systemd said afterwards (LIVE)


def plan(inventory: Inventory, config: Config) -> tuple[list[Action], list[str]]:
    """The actions, and the units named by the config that the inventory does not have."""
    known = {u.name for u in inventory.units}
    actions, missing = [], []
    for unit in inventory.units:
        if config.is_deprecated(unit.name) or unit.deprecated:
            actions.append(Action(unit.name, STOP_DISABLE, "deprecated in revops.yaml",
                                  f"stops {unit.name} and disables it (no start at boot, no restart loop)"))
    for name in config.quick_wins_restart:
        if name not in known:
            missing.append(name)
        elif not any(a.unit == name for a in actions):
            actions.append(Action(name, RESTART, "named by quick_wins.restart",
                                  f"restarts {name}; judged by its state {SETTLE_S:g}s later"))
    return actions, missing


def execute(actions: list[Action], systemd: UnitManager, journal: Journal,
            say: Callable[[str], None] = lambda _m: None, settle_s: float = SETTLE_S) -> list[ActionResult]:
    results = []
    for action in actions:
        say(f"{action.unit}: {action.action}")
        with journal.step(action.unit, f"quick-win:{action.action}", action.changes) as record:
            try:
                result = _do(action, systemd, settle_s)
            except RevopsError as exc:
                result = ActionResult(action.unit, action.action, False, exc.message)
            record.state = "done" if result.ok else FAILED
            record.reason = result.detail
        results.append(result)
    return results


def _do(action: Action, systemd: UnitManager, settle_s: float) -> ActionResult:
    if action.action == STOP_DISABLE:
        systemd.stop(action.unit, JOB_TIMEOUT_S)
        systemd.wait_for(action.unit, {"inactive", "failed"}, JOB_TIMEOUT_S)
        systemd.disable([action.unit])
        state = _state(systemd, action.unit)
        ok = state["active_state"] in ("inactive", "failed") and state["unit_file_state"] != "enabled"
        files = state["unit_file_state"] or "unit file no longer loaded (a linked unit loses its link)"
        return ActionResult(action.unit, action.action, ok, f"{state['active_state']}, {files}", state)
    before = _state(systemd, action.unit)
    if before["active_state"] == "failed":
        systemd.reset_failed(action.unit)
    systemd.restart(action.unit, JOB_TIMEOUT_S)
    time.sleep(settle_s)
    after = _state(systemd, action.unit)
    # A manual restart resets NRestarts: any count now is an automatic restart since ours.
    ok = after["active_state"] == "active" and not after["n_restarts"]
    if ok:
        detail = f"active ({after['sub_state']}) {settle_s:g}s after the restart"
    else:
        detail = (f"still failing {settle_s:g}s after the restart: {after['active_state']}/{after['sub_state']}, "
                  f"Result={after['result']}, exit status {after['exec_main_status']}, "
                  f"{after['n_restarts']} automatic restart(s) since ours (before: {before['n_restarts']})")
    return ActionResult(action.unit, action.action, ok, detail, after)


def _state(systemd: UnitManager, unit: str) -> dict[str, Any]:
    s = systemd.states([unit])[unit]
    return {"active_state": s.active_state, "sub_state": s.sub_state, "result": s.result,
            "n_restarts": s.n_restarts, "unit_file_state": s.unit_file_state,
            "exec_main_status": s.exec_main_status, "provenance": "LIVE"}
