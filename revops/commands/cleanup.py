"""`revops cleanup`: phase 3. A plan by default; `--apply` moves redundant unit files and
corrupted venvs into `.revops/quarantine/<run>/` (nothing is deleted) and reloads systemd;
`--undo RUN` puts a run's files back and checks each against its manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import coverage, hostrun, model, output
from revops.adapters import systemd
from revops.adapters.ledger import open_ledger
from revops.cleanup import plan as C
from revops.cleanup import quarantine as Q
from revops.config import Config
from revops.coverage import Coverage
from revops.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CheckFailed, RevopsError
from revops.migrate import resume
from revops.repoint import REPOINTED
from revops.stabilize.plan import PURPOSE as STABILIZE
from revops.hostrun import Interrupt
from revops.journal import Journal


@dataclass
class CleanupResult:
    mode: str  # plan, apply, undo
    plan: C.CleanupPlan | None = None
    run: str | None = None
    quarantine: str | None = None
    moved: list[str] = field(default_factory=list)  # host paths moved (apply) or restored (undo)
    differences: list[str] = field(default_factory=list)  # after undo: what is not as it was
    systemd_reload: str | None = None
    exit_code: int = EXIT_OK
    coverage: Coverage | None = None  # plan and apply: live units with a destination in revops.yaml


def _systemd(config: Config) -> tuple[Any, str | None]:
    try:
        return systemd.connect(config.bus), None
    except RevopsError as exc:
        return None, exc.message


def make_plan(config: Config, inventory: model.Inventory, ledger: Any, manager: Any,
              manager_error: str | None) -> C.CleanupPlan:
    states = resume.service_states(ledger)
    live = None
    if manager is not None:
        names = [u.name for u in inventory.units]
        try:
            live = {n: C.LiveUnit(s.active_state, s.unit_file_state) for n, s in manager.states(names).items()}
        except RevopsError as exc:
            manager_error = exc.message
    plan = C.build(inventory, config, states, live, manager_error, repointed_units(ledger))
    refused = []
    for cand in plan.candidates:
        try:
            cand.paths = Q.unit_paths(config, cand.name, inventory.unit(cand.name).path) if cand.kind == "unit" else [cand.name]
            for path in cand.paths:
                Q.check_candidate(config, cand.kind, path)
        except RevopsError as exc:
            refused.append(cand)
            plan.kept.append(C.Kept(cand.name, exc.message))
    plan.candidates = [c for c in plan.candidates if c not in refused and c.paths]
    return plan


def repointed_units(ledger: Any) -> dict[str, C.Repointed]:
    """{unit: Repointed} of the units `revops stabilize` left repointed (the ledger's record)."""
    return {unit: C.Repointed(json.loads(r.exec_after), r.uses_before)
            for unit, r in ledger.repoints(STABILIZE).items() if r.state == REPOINTED}


def run(config: Config, *, apply: bool = False, undo: str | None = None,
        say: Callable[[str], None] = output.info) -> CleanupResult:
    ledger = open_ledger(config.database_url)
    try:
        if undo is not None:
            return _undo(config, ledger, Q.check_run_name(undo))
        inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
        manager, manager_error = _systemd(config)
        plan = make_plan(config, inventory, ledger, manager, manager_error)
        measured = coverage.measure(inventory, config)
        if not apply:
            return CleanupResult("plan", plan, coverage=measured)
        if manager is None and Path(config.root).resolve() == Path("/"):
            raise CheckFailed(f"systemd unreachable ({manager_error}); refusing to move unit files of the live host",
                              hint="run where the systemd bus is reachable")
        result = _apply(config, ledger, plan, manager, manager_error)
        result.coverage = measured
        return result
    finally:
        ledger.close()


def _apply(config: Config, ledger: Any, plan: C.CleanupPlan, manager: Any, manager_error: str | None) -> CleanupResult:
    command = hostrun.command_line()
    with ledger.lock(hostrun.holder(command)):
        run_id = ledger.begin_run(hostrun.operator(), command, 3, False)
        run = str(run_id)
        directory = Q.quarantine_dir(config, run)
        manifest = Q.Manifest(run, Q.now(), str(config.root))
        journal = Journal(ledger, run_id)
        result = CleanupResult("apply", plan, run, str(directory))
        paths = [(c, p) for c in plan.candidates for p in c.paths]
        # Ctrl-C between two moves, never inside one (a directory copied across filesystems
        # half-way): what was moved stays in the manifest, undo works as after a full run.
        interrupt = Interrupt()
        with interrupt.catching(), output.progress("quarantine", len(paths)) as advance:
            for cand, path in paths:
                if interrupt.requested:
                    break
                with journal.step(cand.name, "quarantine", f"{cand.why}: {path} -> {directory}") as record:
                    Q.put_away(config, directory, manifest, cand.kind, cand.name, cand.why, path)
                    record.reason = "moved"
                result.moved.append(path)
                advance(1)
        Q.write_manifest(directory, manifest)
        result.systemd_reload = _reload(manager, manager_error)
        done = f"quarantined {len(result.moved)} path(s) in {directory}"
        if interrupt.requested:
            result.exit_code = EXIT_INTERRUPTED
            done = f"interrupted: {done}, {len(paths) - len(result.moved)} left in place"
        ledger.finish_run(run_id, done)
    return result


def _undo(config: Config, ledger: Any, run: str) -> CleanupResult:
    directory, manifest = Q.read_manifest(config, run)
    if manifest.restored_at:
        raise CheckFailed(f"quarantine run {run} was restored already at {manifest.restored_at}")
    changed = Q.check_stored(config, directory, manifest)
    if changed:
        raise CheckFailed(f"quarantine run {run}: {len(changed)} stored entr{'y differs' if len(changed) == 1 else 'ies differ'} "
                          f"from {directory / Q.MANIFEST}; nothing restored: " + "; ".join(changed[:10]),
                          hint=f"inspect {directory / Q.FILES} before restoring by hand")
    manager, manager_error = _systemd(config)
    command = hostrun.command_line()
    result = CleanupResult("undo", run=run, quarantine=str(directory))
    with ledger.lock(hostrun.holder(command)):
        run_id = ledger.begin_run(hostrun.operator(), command, 3, False)
        journal = Journal(ledger, run_id)
        with output.progress("restore", len(manifest.items)) as advance:
            for moved in reversed(manifest.items):
                with journal.step(moved.name, "restore", f"{directory} -> {moved.path}") as record:
                    diffs = Q.bring_back(config, directory, moved)
                    record.reason = "; ".join(diffs) or "identical to the manifest"
                result.differences += diffs
                result.moved.append(moved.path)
                advance(1)
        manifest.restored_at = Q.now()
        Q.write_manifest(directory, manifest)
        result.systemd_reload = _reload(manager, manager_error)
        ledger.finish_run(run_id, f"restored {len(result.moved)} path(s) from run {run}"
                          + (f"; {len(result.differences)} difference(s)" if result.differences else ""))
    result.exit_code = EXIT_FAILED if result.differences else EXIT_OK
    return result


def _reload(manager: Any, manager_error: str | None) -> str:
    if manager is None:
        return f"skipped: systemd unreachable ({manager_error})"
    try:
        manager.reload()
    except RevopsError as exc:
        return f"FAILED: {exc.message}"
    return "done"


# ---------------------------------------------------------------------------------------
# Rendering


def render(result: CleanupResult, console: Console) -> None:
    if result.mode == "undo":
        console.print(f"restored {len(result.moved)} path(s) from quarantine run {result.run} ({result.quarantine})",
                      highlight=False)
        for diff in result.differences:
            console.print(Text(f"  differs: {diff}", style="bold red"))
        if not result.differences:
            console.print(Text("every entry matches its manifest (content, mode, symlink target)", style="green"))
        console.print(f"systemd reload: {result.systemd_reload}", highlight=False)
        return
    plan = result.plan
    table = Table(title="Cleanup plan" if result.mode == "plan" else f"Quarantined (run {result.run})",
                  title_justify="left")
    for col in ("kind", "name", "why", "paths"):
        table.add_column(col, overflow="fold")
    for c in plan.candidates:
        paths = [p for p in c.paths if p != c.name]
        table.add_row(c.kind, c.name, f"{c.why}: {c.detail}", "\n".join(paths) or "(the directory itself)")
    console.print(table)
    units = sum(1 for c in plan.candidates if c.kind == "unit")
    console.print(f"{units} unit(s), {len(plan.candidates) - units} venv(s); {len(plan.kept)} kept; "
                  f"systemd states: {plan.systemd}", highlight=False)
    for k in plan.kept:
        console.print(f"  kept {k.name}: {k.reason}", highlight=False)
    if result.coverage is not None and not result.coverage.complete:
        left = result.coverage.uncovered
        console.print(Text(f"{len(left)} live unit(s) have no destination in revops.yaml ({result.coverage.figure()}) "
                           f"and stay under systemd as they are: {', '.join(left)}", style="bold yellow"))
    if result.mode == "plan":
        console.print(Text("plan only: nothing was moved; --apply moves these into the quarantine", style="dim"))
    else:
        console.print(f"moved {len(result.moved)} path(s) to {result.quarantine}; "
                      f"undo with `revops cleanup --undo {result.run}`", highlight=False)
        if result.exit_code == EXIT_INTERRUPTED:
            console.print(Text("interrupted (Ctrl-C) between two moves: the rest is in place; "
                               "`revops cleanup --apply` again goes on", style="yellow"))
        console.print(f"systemd reload: {result.systemd_reload}", highlight=False)
