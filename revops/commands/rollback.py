"""`revops rollback SERVICE...` or `--phase N`: back to systemd, verified.

For each service: the container stopped and removed (its image kept, so a later migrate is
fast), the unit unmasked, enabled and started, and its /health checked. Services of a phase
are rolled back dependents first. Journaled like migrate, under the same lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from rich.console import Console
from rich.text import Text

from revops import jobs, model, output, unitnames
from revops.commands.migrate import render_results
from revops.config import Config
from revops.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, RevopsError, UsageError
from revops.hostrun import host_run
from revops.migrate import plan as P
from revops.migrate import instances as I
from revops.migrate import resume, retiring, wiring
from revops.migrate import retire as R
from revops.migrate.executor import (DOWN, INTERRUPTED, ROLLED_BACK, Host, ServiceResult,
                                     put_job_back, record_state, restore_unit)
from revops.journal import Journal

STEPS = ("stop and remove the container (image kept)", "remove its secret copy (when it has one)",
         "unmask and enable the unit",
         "start the unit", "verify its /health")
# A job's (revops.jobs): its timer is never touched, and nothing is started (its timer runs it).
JOB_STEPS = ("remove its drop-in 50-revops-job-container.conf (the Repoint's undo: only a file revops wrote)",
             "daemon-reload: its own ExecStart= again", "remove its secret copy (when it has one)",
             "leave its timer as it is (OnCalendar=, Persistent=, RandomizedDelaySec=): it fires the job "
             "on the host at its next trigger")


@dataclass
class RollbackResult:
    dry_run: bool
    services: list[P.ServicePlan]
    skipped: list[P.Skipped] = field(default_factory=list)
    run_id: int | None = None
    refused: str | None = None
    results: list[ServiceResult] = field(default_factory=list)
    exit_code: int = EXIT_OK
    # Jobs whose unit revops repointed to run in a container (revops.jobs): rolled back by
    # removing that drop-in, the timer untouched and nothing started (its timer runs it).
    jobs: list[str] = field(default_factory=list)
    # `retire:` units the ledger says migrate retired: put back as they were before (enabled
    # and started again where they were), first (services[i].kind == P.KIND_RETIRED).
    retired: list[str] = field(default_factory=list)


def job_repoints(ledger) -> set[str]:
    """The jobs the ledger says are repointed (or half-way either way), by unit name."""
    if ledger is None:
        return set()
    from revops import repoint

    return {unit for unit, r in ledger.repoints(jobs.PURPOSE).items() if r.state != repoint.PUT_BACK_DONE}


def choose(inventory: model.Inventory, config: Config, names: list[str], phase: int | None,
           states: dict[str, str], files: list[str],
           compose_units: Mapping[str, str] | None = None) -> tuple[list[P.ServicePlan], list[P.Skipped]]:
    """Pure: the services to roll back, dependents first. The instances of a template the
    compose file replicates (`compose_units`: {unit: service}) go back together, as one item
    (revops.migrate.instances), whichever of them is named (or the template itself)."""
    if bool(names) == (phase is not None):
        raise UsageError("name the services to roll back, or give --phase N (not both)")
    if names:
        units = []
        for name in names:
            unit = inventory.unit(P.unit_name(name))
            named = P.unit_name(name)
            template = unitnames.template_of(named) if unitnames.is_instance(named) else named
            group = I.of(inventory, template, compose_units) if compose_units is not None else None
            if unit is None and group is None:
                raise UsageError(f"{name}: no such unit in {config.out('inventory')}")
            units += [inventory.unit(i) for i in group.instances] if group is not None else [unit]
        units = list({u.name: u for u in units}.values())
        skipped = []
    else:
        phase_units = P.migratable_units(inventory, config, phase)
        units = [u for u in phase_units if states.get(u.name) not in (None, P.ROLLED_BACK, P.SYSTEMD)]
        skipped = [P.Skipped(u.name, f"never migrated ({states.get(u.name) or 'no record'})")
                   for u in phase_units if u not in units]
    found = I.items(units, compose_units)
    items = {it.unit.name: it for it in found}
    members = I.member_of(found)
    ordered = list(reversed(P.order([I.deps_on_groups(it.unit, members) for it in found])))
    return [P.service_plan(u, config, files, instances=items[u.name].instances) for u in ordered], skipped


def with_retired(chosen: list[P.ServicePlan], skipped: list[P.Skipped], inventory: model.Inventory,
                 config: Config, phase: int | None,
                 retired: dict[str, str]) -> tuple[list[P.ServicePlan], list[P.Skipped]]:
    """Pure: `retire:` units among the chosen put back as before their retire (`retired`:
    {unit: the ledger's record of it, retire.before_words}), before any service; with
    --phase of the last phase, every retired unit too (its services go back to their venvs,
    which the retired units tend); else the retired units (set-ups) the chosen need (setups_of). A
    `retire:` unit named but not retired is skipped."""
    last = phase is not None and config.suites and phase >= max(s.phase for s in config.suites)
    out, rest = [], []
    for sp in chosen:
        if sp.unit in retired:
            out.append(retired_plan(sp.unit, inventory, retired[sp.unit]))
        elif config.retired(sp.unit) is not None:
            skipped = [*skipped, P.Skipped(sp.unit, "a `retire:` unit the ledger does not say is retired: "
                                                    "nothing to put back")]
        else:
            rest.append(sp)
    named = {sp.unit for sp in out}
    if last:
        out += [retired_plan(u, inventory, retired[u]) for u in sorted(retired) if u not in named]
    else:
        out += [retired_plan(u, inventory, retired[u]) for u in setups_of(rest, inventory, retired) if u not in named]
    return out + rest, skipped


def setups_of(chosen: list[P.ServicePlan], inventory: model.Inventory, retired: Mapping[str, str]) -> list[str]:
    """The retired units, one-shot set-ups most often (plan.freed_setups), that a unit of
    `chosen` is After=, Requires= or Wants= (by name or Alias=): back under systemd, it needs
    them there again as before its cutover (and a Requires= on a masked unit would fail its
    start), so they are put back first. Not by kind: the inventory scanned after a mask sees
    the set-up's file as /dev/null, with no Type= left to tell it by; the ledger says retired."""
    alias_of = {alias: u.name for u in inventory.units for alias in u.aliases}
    out: list[str] = []
    for sp in chosen:
        for name in sp.units:
            unit = inventory.unit(name)
            for dep in (alias_of.get(d, d) for d in (*unit.after, *unit.requires, *unit.wants)) if unit else ():
                if dep in retired and dep not in out:
                    out.append(dep)
    return sorted(out)


def retired_plan(unit: str, inventory: model.Inventory, recorded: str) -> P.ServicePlan:
    """A retired unit's put-back as a plan item (kind P.KIND_RETIRED), its one step's words
    naming what each unit was before its retire (or why that record cannot be read)."""
    try:
        before = ", ".join(f"{b.name} {b.unit_file_state or '?'}/{b.active_state}" for b in R.read_before(recorded, unit))
    except RevopsError as exc:
        before = f"unknown: {exc.message}"
    found = inventory.unit(unit)
    words = (f"links again what is gone, unmasks, enables what was enabled and starts what was running before its "
             f"retire ({before}), then checks each")
    return P.ServicePlan(unit=unit, service=found.service_name if found else unit, suite=None, phase=0, port=None,
                         health_url=None, deadline_s=0.0, fragment=found.path if found else None,
                         steps=[P.Step(R.RETIRE_UNDO, words)], kind=P.KIND_RETIRED)


def run(config: Config, names: list[str], phase: int | None, *, dry_run: bool = False, yes: bool = False,
        confirm: Callable[[list[P.ServicePlan]], bool] | None = None,
        say: Callable[[str], None] = output.info,
        host_factory: wiring.HostFactory = wiring.live_host) -> RollbackResult:
    inputs = wiring.read_inputs(config)
    with host_run(config, dry_run=dry_run) as run:
        # No ledger yet on a dry run: nothing was ever migrated.
        states = resume.service_states(run.ledger) if run.ledger is not None else {}
        chosen, skipped = choose(inputs.inventory, config, names, phase, states, inputs.files,
                                 inputs.project.units)
        retired = {u: step.detail for u, step in retiring.retired_units(run.ledger).items()}
        chosen, skipped = with_retired(chosen, skipped, inputs.inventory, config, phase, retired)
        repointed = job_repoints(run.ledger)
        result = RollbackResult(dry_run, chosen, skipped,
                                jobs=[sp.unit for sp in chosen if sp.kind != P.KIND_RETIRED
                                      and (sp.unit in repointed or sp.kind == P.KIND_JOB)],
                                retired=[sp.unit for sp in chosen if sp.kind == P.KIND_RETIRED])
        if dry_run or not chosen:
            return result
        host = host_factory(inputs)
        result.run_id = run.begin(phase, target=host.target)
        if not run.confirm(confirm, chosen, yes):
            result.refused = "not confirmed"
            return result
        journal = run.journal
        assert journal is not None
        # Ctrl-C between removing a container and starting its unit would leave the service
        # down under both: it only raises a flag, checked between services.
        with run.interruptible() as interrupt:
            for sp in chosen:
                if interrupt.requested:
                    result.results.append(ServiceResult(sp.unit, INTERRUPTED, "Ctrl-C before it was rolled back"))
                    continue
                if sp.kind == P.KIND_RETIRED:
                    say(f"{sp.unit}: putting it back as it was before its retire")
                    result.results.append(retiring.put_back(
                        host, journal, sp.unit, retired[sp.unit], retiring.fragments(inputs.inventory, sp.unit, config.root),
                        "operator asked (revops rollback)"))
                elif sp.unit in result.jobs:
                    result.results.append(_put_job_back(host, journal, sp, say))
                else:
                    result.results.append(_roll_back(host, journal, sp, say))
        run.outcome = _outcome(result.results)
    result.exit_code = _exit_code(result.results)
    return result


def _outcome(results: list[ServiceResult]) -> str:
    words = [f"{outcome}: {', '.join(r.unit for r in results if r.outcome == outcome)}"
             for outcome in (DOWN, INTERRUPTED) if any(r.outcome == outcome for r in results)]
    return "; ".join(words) or "rolled back"


def _exit_code(results: list[ServiceResult]) -> int:
    outcomes = {r.outcome for r in results}
    if INTERRUPTED in outcomes:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if outcomes - {ROLLED_BACK} else EXIT_OK


def _put_job_back(host: Host, journal: Journal, sp: P.ServicePlan, say: Callable[[str], None]) -> ServiceResult:
    """The job's own ExecStart= back: its revops drop-in removed and the manager reloaded (the
    Repoint pair's put-back, journaled), its secret copy removed; nothing started, the timer
    untouched (executor.put_job_back)."""
    say(f"{sp.unit}: putting the job's own ExecStart back (its timer is untouched)")
    restored = put_job_back(host, journal, sp, "operator asked (revops rollback)")
    outcome = ROLLED_BACK if restored.ok else DOWN
    reason = restored.reason if restored.ok else f"drop-in not removed: {restored.reason}"
    journal.service_state(sp.unit, P.ROLLED_BACK if restored.ok else DOWN, reason, restoring=True)
    return ServiceResult(sp.unit, outcome, reason, restored.steps)


def _roll_back(host: Host, journal: Journal, sp: P.ServicePlan, say: Callable[[str], None]) -> ServiceResult:
    say(f"{sp.unit}: rolling back to systemd")
    restored = restore_unit(host, journal, sp, "operator asked (revops rollback)")
    outcome = ROLLED_BACK if restored.ok else DOWN
    reason = restored.reason if restored.ok or restored.refused else f"unit did not come back: {restored.reason}"
    record_state(journal, sp, P.ROLLED_BACK if restored.ok else DOWN, reason, restoring=True)
    return ServiceResult(sp.unit, outcome, reason, restored.steps)


def render_plan(services: list[P.ServicePlan], console: Console) -> None:
    for sp in services:
        if sp.kind == P.KIND_RETIRED:
            console.print(Text(f"{sp.unit} <- as it was before its retire (an old-world unit)", style="bold"))
            for i, step in enumerate(sp.steps, 1):
                console.print(f"  {i}. {step.name:<12} {step.changes}", highlight=False)
            continue
        if sp.kind == P.KIND_JOB:
            timers = ", ".join(sp.job.timers) if sp.job else ""
            console.print(Text(f"{sp.unit} <- its own ExecStart (job; {timers or 'its timer'} unchanged)", style="bold"))
            for i, step in enumerate(JOB_STEPS, 1):
                console.print(f"  {i}. {step}", highlight=False)
            continue
        console.print(Text(f"{sp.unit} <- container {sp.service}", style="bold"))
        for i, step in enumerate(STEPS, 1):
            console.print(f"  {i}. {step}", highlight=False)


def render(result: RollbackResult, console: Console) -> None:
    for skip in result.skipped:
        console.print(f"skip {skip.unit}: {skip.reason}", highlight=False)
    if result.dry_run or not result.results:
        render_plan(result.services, console)
        if result.dry_run:
            console.print(Text("dry run: nothing was changed", style="dim"))
        if result.refused:
            console.print(Text(f"refused: {result.refused}", style="bold red"))
        if not result.services:
            console.print("nothing to roll back", highlight=False)
        return
    render_results(f"Rollback (run {result.run_id})", result.results, console)
