"""`revops migrate --phase N`: the phased, health-gated cutover from systemd to containers.

run() builds the plan (revops.migrate.plan), checks the phase gate, shows the plan with what a
killed run left half-way for confirmation, settles those, then executes the plan in waves
(at most --parallel services at once) under the ledger lock. `--dry-run` prints the same plan,
waves included, and changes nothing: no lock, no journal entry, no ledger file created, no
call that changes the host.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import model
from revops.config import TARGET_COMPOSE, Config
from revops.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, RevopsError
from revops.hostrun import HostRun, Interrupt, Ledger, host_run
from revops.migrate import plan as P
from revops.migrate import resume, retiring, wiring
from revops.migrate.executor import (CANDIDATE_FAILED, DOWN, INTERRUPTED, MIGRATED, ROLLED_BACK, SKIPPED,
                                     Executor, Host, NoProgress, Progress, ServiceResult)
from revops import output


@dataclass
class MigrateResult:
    phase: int
    dry_run: bool
    plan: P.Plan
    run_id: int | None = None
    forced_reason: str | None = None
    refused: str | None = None  # why nothing ran (gate closed, not confirmed)
    resumed: list[ServiceResult] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)  # dry run: what a real run settles first
    services: list[ServiceResult] = field(default_factory=list)
    exit_code: int = EXIT_OK
    waves: list[list[str]] = field(default_factory=list)  # the plan's services by wave (P.waves)
    # The `retire:` units this run retired (or put back, or left: with why), after its services.
    retired: list[ServiceResult] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    """What one `revops migrate` asks for, read once; the plan is built from it again after
    settling changed the states it was read from."""

    inputs: wiring.Inputs
    phase: int
    services: list[str]
    force: str | None
    parallel: int = 1
    # The host's compose command, which a job's new ExecStart= runs (None: compose_missing says why).
    compose: tuple[str, ...] | None = None
    compose_missing: str | None = None
    target: str = TARGET_COMPOSE  # jobs are cut over on the compose target only (plan.build)

    @property
    def config(self) -> Config:
        return self.inputs.config

    @property
    def inventory(self) -> model.Inventory:
        return self.inputs.inventory

    def plan(self, states: dict[str, str], host: Host | None, host_error: str | None = None,
             ledger: Ledger | None = None) -> P.Plan:
        """The plan from the ledger's `states` (and, when given, its retired units)."""
        earlier = wiring.read_earlier(self.inputs, self.phase, states, host, host_error)
        retired = {unit: step.run_id for unit, step in retiring.retired_units(ledger).items()}
        return P.build(self.inventory, self.config, self.phase, only=self.services, states=states,
                       earlier=earlier, force_reason=self.force, compose_files=self.inputs.files,
                       compose_units=self.inputs.project.units, parallel=self.parallel,
                       compose=self.compose, compose_missing=self.compose_missing, retired=retired,
                       target=self.target, mask_blockers=wiring.mask_blockers(self.config, self.inventory))


def run(config: Config, phase: int | None = None, services: list[str] | None = None, *,
        dry_run: bool = False, yes: bool = False, force: str | None = None,
        parallel: int | None = None,
        confirm: Callable[[P.Plan], bool] | None = None,
        say: Callable[[str], None] | None = None,
        progress: Progress | None = None,
        host_factory: wiring.HostFactory = wiring.live_host,
        target: str | None = None) -> MigrateResult:
    """`host_factory(inputs)` opens the host (wiring.live_host: systemd, the engine, compose
    and the preflight checks of the ops repo) from what the run read once. `parallel`: at most
    that many services in flight (default: P.default_parallel for this machine's cores).
    `say` and `progress` watch the run; by default, a live table on a terminal's stderr and
    nothing otherwise."""
    inputs = wiring.read_inputs(config)
    services = list(services or [])
    if phase is None:
        phase = P.phase_of_services(inputs.inventory, config, services)
    if parallel is None:
        parallel = P.default_parallel(os.cpu_count())
    compose_cmd, compose_missing = wiring.compose_argv()
    req = Request(inputs, phase, services, force, parallel, compose_cmd, compose_missing,
                  target or wiring.target_of(host_factory))
    with host_run(config, dry_run=dry_run) as run:
        if dry_run:
            return _dry_run(req, run.ledger, host_factory)
        with _watching(say, progress) as (say, progress):
            return _execute(req, run, yes, confirm, say, progress, host_factory)


def _dry_run(req: Request, ledger: Ledger | None, host_factory: wiring.HostFactory) -> MigrateResult:
    # Only the gate reads the host: open it only when earlier phases have services to check.
    needs_host = bool(P.earlier_units(req.inventory, req.config, req.phase, req.inputs.project.units))
    host, host_error = _try_host(host_factory, req.inputs) if needs_host else (None, None)
    states = resume.service_states(ledger) if ledger is not None else {}
    plan = req.plan(states, host, host_error, ledger)
    if ledger is not None:
        plan.unsettled = [u.unit for u in resume.find_unsettled(ledger.open_steps(), states)]
    result = MigrateResult(req.phase, True, plan, forced_reason=req.force, unsettled=list(plan.unsettled),
                           waves=plan.waves)
    if not plan.gate.ok:
        result.refused, result.exit_code = _gate_words(plan.gate), EXIT_FAILED
    return result


def _try_host(host_factory: wiring.HostFactory, inputs: wiring.Inputs) -> tuple[Host | None, str | None]:
    try:
        return host_factory(inputs), None
    except RevopsError as exc:
        return None, exc.message


def _execute(req: Request, run: HostRun, yes: bool, confirm: Callable[[P.Plan], bool] | None,
             say: Callable[[str], None], progress: Progress, host_factory: wiring.HostFactory) -> MigrateResult:
    ledger = run.lock()  # the states the plan is built from are read under the lock
    host = host_factory(req.inputs)
    states = resume.service_states(ledger)
    plan = req.plan(states, host, ledger=ledger)
    plan.unsettled = [u.unit for u in resume.find_unsettled(ledger.open_steps(), states)]
    run_id = run.begin(req.phase, forced_reason=req.force, target=host.target)
    ledger.record_inventory(wiring.inventory_digest(req.config), len(req.inventory.units), len(req.inventory.venvs))
    result = MigrateResult(req.phase, False, plan, run_id, req.force, unsettled=list(plan.unsettled),
                           waves=plan.waves)
    if not plan.gate.ok and not plan.unsettled:
        return _refuse(run, result, _gate_words(plan.gate))
    if (plan.services or plan.unsettled or plan.retiring) and not run.confirm(confirm, plan, yes):
        result.refused = "not confirmed"
        return result
    # From here on the host changes: Ctrl-C only raises a flag, so the service being settled
    # or cut over is finished or rolled back first (see hostrun.Interrupt).
    with run.interruptible() as interrupt:
        return _change_host(req, run, host, result, say, progress, interrupt)


def _change_host(req: Request, run: HostRun, host: Host, result: MigrateResult,
                 say: Callable[[str], None], progress: Progress, interrupt: Interrupt) -> MigrateResult:
    """Settle what a dead run left, then cut over the confirmed plan (result.plan)."""
    ledger, journal = run.lock(), run.journal
    assert journal is not None  # begun by _execute
    plan = result.plan
    # Settling changes the host, so it waits for the confirmation of the plan that shows it.
    result.resumed = resume.converge(req.inventory, req.config, ledger, journal, host, req.inputs.files, say,
                                     interrupt, parallel=req.parallel)
    if interrupt.requested:
        result.exit_code = EXIT_INTERRUPTED
        run.outcome = "interrupted while settling: " + outcome_words(result.resumed)
        return result
    if not plan.gate.ok:  # confirmed with the gate closed: settle only
        return _refuse(run, result, _gate_words(plan.gate))
    if result.resumed:
        # Settling changed the states the plan was read from; never run more than was confirmed.
        confirmed = set(plan.units)
        retiring_confirmed = {r.unit for r in plan.retiring}
        plan = req.plan(resume.service_states(ledger), host, ledger=ledger)
        plan.services = [sp for sp in plan.services if sp.unit in confirmed]
        for item in plan.retire:
            if item.unit not in retiring_confirmed:
                item.steps = []
        result.plan, result.waves = plan, plan.waves
        if not plan.gate.ok:
            return _refuse(run, result, _gate_words(plan.gate))
    executor = Executor(host, journal, mask=plan.mask, on_event=say, interrupt=interrupt,
                        parallel=plan.parallel, progress=progress)
    result.services = executor.run(plan.services)
    # Old-world units go last: only once every unit of the run that runs from a venv migrated.
    result.retired = retiring.run(host, journal, plan.retiring, result.services, mask=plan.mask,
                                  root=req.config.root, interrupted=lambda: interrupt.requested, say=say)
    result.exit_code = exit_code(result.resumed, result.services, result.retired)
    run.outcome = outcome_words(result.services + result.retired)
    return result


def _refuse(run: HostRun, result: MigrateResult, why: str) -> MigrateResult:
    result.refused, result.exit_code = why, EXIT_FAILED
    run.outcome = "refused: " + why
    return result


def _gate_words(gate: P.Gate) -> str:
    return (f"{len(gate.blockers)} service(s) of earlier phases are not verified healthy; "
            "migrate them first or pass --force REASON")


def exit_code(settled: list[ServiceResult], services: list[ServiceResult],
              retired: list[ServiceResult] | None = None) -> int:
    """0 when every service the run was asked for ended migrated, every unit it was to retire
    was retired, and nothing is left down. What was settled on the way (a half-done service of
    a killed run, finished or rolled back to its unit) is reported, not failed: a rollback
    there is how it came back to serve, and a service asked for is then cut over afresh."""
    retired = retired or []
    if INTERRUPTED in {r.outcome for r in settled + services + retired}:
        return EXIT_INTERRUPTED
    ended = {r.unit: r.outcome for r in settled}
    ended.update((r.unit, r.outcome) for r in services + retired)  # what this run did after settling
    asked_ok = (all(r.outcome in (MIGRATED, "unchanged") for r in services)
                and all(r.outcome == retiring.RETIRED for r in retired))
    return EXIT_OK if asked_ok and DOWN not in ended.values() else EXIT_FAILED


def outcome_words(results: list[ServiceResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return ", ".join(f"{n} {o}" for o, n in counts.items()) or "nothing to do"


# ---------------------------------------------------------------------------------------
# Progress: every service in flight, live on a terminal

@contextmanager
def _watching(say: Callable[[str], None] | None,
              progress: Progress | None) -> Iterator[tuple[Callable[[str], None], Progress]]:
    """What watches a run: the caller's, else a live table of the services in flight on
    stderr when it is a terminal (its lines printed above the table), else nothing at all."""
    if say is not None and progress is not None:
        yield say, progress
        return
    console = output.stderr
    if not console.is_terminal:
        yield say or (lambda _m: None), progress or NoProgress()
        return
    table = LiveTable()
    from rich.live import Live

    with Live(table, console=console, refresh_per_second=4, transient=True, redirect_stderr=False):
        yield say or output.info, progress or table


class LiveTable:
    """executor.Progress as a Rich renderable: one row per service in flight (its step and
    for how long), and a count of those ended by outcome. Fed from the executor's threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.in_flight: dict[str, tuple[str, float, float]] = {}  # unit -> (step, since, started)
        self.ended: dict[str, int] = {}

    def step(self, unit: str, step: str) -> None:
        now = self._clock()
        with self._lock:
            started = self.in_flight.get(unit, (step, now, now))[2]
            self.in_flight[unit] = (step, now, started)

    def finished(self, result: ServiceResult) -> None:
        with self._lock:
            self.in_flight.pop(result.unit, None)
            self.ended[result.outcome] = self.ended.get(result.outcome, 0) + 1

    def __rich__(self) -> Table:
        now = self._clock()
        with self._lock:
            rows = sorted(self.in_flight.items(), key=lambda item: item[1][2])
            ended = dict(self.ended)
        done = ", ".join(f"{n} {outcome}" for outcome, n in sorted(ended.items())) or "none yet"
        table = Table(title=f"{len(rows)} in flight; ended: {done}", title_justify="left")
        table.add_column("service")
        table.add_column("step")
        table.add_column("in step", justify="right")
        table.add_column("in flight", justify="right")
        for unit, (step, since, started) in rows:
            table.add_row(unit, step, f"{now - since:.1f}s", f"{now - started:.1f}s")
        return table


# ---------------------------------------------------------------------------------------
# Rendering

_OUTCOME_STYLE = {MIGRATED: "green", ROLLED_BACK: "yellow", DOWN: "bold red", INTERRUPTED: "magenta",
                  CANDIDATE_FAILED: "yellow", SKIPPED: "dim", retiring.RETIRED: "green"}


def render_plan(plan: P.Plan, console: Console) -> None:
    for unit in plan.unsettled:
        console.print(Text(f"{unit}: left half-way by an earlier run; settled first (finished if its "
                           "container is healthy, else rolled back)", style="yellow"))
    jobs = len(plan.jobs)
    console.print(Text(f"Phase {plan.phase}: {len(plan.services) - jobs} service(s) to cut over"
                       + (_mask_words(plan) if plan.mask else "")
                       + (f"; {jobs} job(s) to repoint between runs (their timers unchanged)" if jobs else "")
                       + (f"; then {len(plan.retiring)} old-world unit(s) to retire (see below)" if plan.retiring else ""),
                       style="bold"))
    _render_waves(plan, console)
    for sp in plan.services:
        after = f"; after {', '.join(sp.after)}" if sp.after else ""
        if sp.job is not None:
            _render_job(sp, after, console)
            continue
        where = f"port {sp.port}" if sp.port else "no port"
        if sp.instances:
            console.print(Text(f"\n{sp.unit} ({', '.join(sp.instances)}) -> compose service {sp.service} with "
                               f"{len(sp.instances)} {sp.instances_as} ({sp.suite}, {where}{after})", style="bold"))
        else:
            how = f"; {sp.instances_as}" if sp.instances_as else ""
            console.print(Text(f"\n{sp.unit} -> container {sp.service} ({sp.suite}, {where}{how}{after})", style="bold"))
        for i, step in enumerate(sp.steps, 1):
            console.print(f"  {i}. {step.name:<16} {step.changes}", highlight=False)
    for skip in plan.skipped:
        console.print(f"skip {skip.unit}: {skip.reason}", highlight=False)
    for setup in plan.setups:
        console.print(f"set-up {setup.unit}: {setup.reason}", highlight=False)
    _render_coverage(plan, console)
    _render_gate(plan.gate, console)


def _mask_words(plan: P.Plan) -> str:
    """The headline's mask clause: how many units are masked and how many only disabled."""
    kept = sum(len(sp.not_masked) for sp in plan.services) + sum(len(r.not_masked) for r in plan.retiring)
    if not kept:
        return ", then mask each unit"
    return (f", then mask each unit but {kept} whose unit file is in the manager's admin directory "
            "(only disabled: see each step)")


def _render_job(sp: P.ServicePlan, after: str, console: Console) -> None:
    """A job: its old and new ExecStart= (the drop-in's), its timers, its steps."""
    job = sp.job
    assert job is not None
    timers = ", ".join(job.timers) or "its timer"
    console.print(Text(f"\n{sp.unit} -> job in a fresh container of {sp.service} ({sp.suite}, fired by {timers}, "
                       f"unchanged{after})", style="bold"))
    old = P.exec_words(job.exec_before)
    new = P.exec_words(job.exec_after) if job.exec_after else f"unknown: {job.compose_missing}"
    console.print(f"  old ExecStart={old}", highlight=False, soft_wrap=True)
    console.print(f"  new ExecStart={new}", highlight=False, soft_wrap=True)
    for i, step in enumerate(sp.steps, 1):
        console.print(f"  {i}. {step.name:<16} {step.changes}", highlight=False)


def _render_waves(plan: P.Plan, console: Console) -> None:
    waves = plan.waves
    if not waves:
        return
    console.print(f"in {len(waves)} wave(s), at most {plan.parallel} service(s) at once; a service starts "
                  "as soon as everything it depends on has migrated, and one that fails stops only its "
                  "dependents", highlight=False)
    for i, wave in enumerate(waves, 1):
        console.print(f"  wave {i} ({len(wave)}): {', '.join(wave)}", highlight=False)
def _render_coverage(plan: P.Plan, console: Console) -> None:
    for r in plan.retire:
        console.print(f"retire {r.unit}: {r.reason}", highlight=False)
        for i, step in enumerate(r.steps, 1):
            console.print(f"  {i}. {step.name:<16} {step.changes}", highlight=False)
    if plan.coverage is None:
        return
    left = plan.left_without_destination()
    if left:
        console.print(Text(left, style="bold yellow"))
    else:
        console.print(f"coverage: {plan.coverage.figure()}", highlight=False)


def _render_gate(gate: P.Gate, console: Console) -> None:
    if not gate.blockers:
        return
    title = "Gate FORCED: " + (gate.forced_reason or "") if gate.ok else "Gate CLOSED"
    console.print(Text(f"\n{title}", style="yellow" if gate.ok else "bold red"))
    for b in gate.blockers:
        console.print(f"  phase {b.phase} {b.unit}: {b.reason}", highlight=False)


def render_results(title: str, results: list[ServiceResult], console: Console) -> None:
    if not results:
        return
    table = Table(title=title, title_justify="left")
    table.add_column("service")
    table.add_column("outcome")
    table.add_column("reason / last step", overflow="fold")
    for r in results:
        last = r.steps[-1].detail if r.steps else None
        table.add_row(r.unit, Text(r.outcome, style=_OUTCOME_STYLE.get(r.outcome, "")), r.reason or last or "")
    console.print(table)


def render(result: MigrateResult, console: Console) -> None:
    if result.dry_run:
        render_plan(result.plan, console)
        console.print(Text("\ndry run: nothing was changed", style="dim"))
    render_results("Settled from an earlier run", result.resumed, console)
    if result.refused:
        if not result.dry_run:
            _render_gate(result.plan.gate, console)
        console.print(Text(f"refused: {result.refused}", style="bold red"))
    render_results(f"Phase {result.phase} (run {result.run_id})", result.services, console)
    render_results("Retired (old-world units, after the services)", result.retired, console)
    if not result.dry_run and not result.services and not result.retired and not result.refused:
        console.print(f"phase {result.phase}: nothing to do", highlight=False)
    if not result.dry_run and result.plan.left_without_destination():
        console.print(Text(result.plan.left_without_destination() or "", style="bold yellow"))
