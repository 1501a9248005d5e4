"""`revops secrets rotate [SERVICE...] [--suite S] [--target T]`: the services whose env files
changed get a new copy and a restart, one at a time behind the cutover's health gate
(revops.migrate.rotation). On a Swarm target the new copy is a new Docker secret and the
restart a service update (revops.migrate.swarmhost).

Read, lock, plan, confirm, execute, as migrate: the plan compares each migrated service's held
digest (the ledger) with the digest of what its files give now; `--dry-run` shows it and
changes nothing. Journaled under the operator lock (revops.hostrun).
"""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import output
from revops.config import Config
from revops.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from revops.hostrun import host_run
from revops.migrate import plan as P
from revops.migrate import resume, rotation, wiring
from revops.migrate.rotation import Candidate, Rotation, RotationResult
from revops.secrets import bundle, versions
from revops.secrets.copies import Copies


def scope(inputs: wiring.Inputs, names: list[str], suite: str | None,
          states: dict[str, str]) -> list[P.ServicePlan]:
    """Pure: the migrated services named (or of the suite, or all), dependencies first."""
    config = inputs.config
    if names and suite:
        raise UsageError("name services or give --suite, not both")
    if suite is not None and suite not in {s.name for s in config.suites}:
        raise UsageError(f"--suite {suite}: no such suite in {config.path}")
    wanted = {P.unit_name(n) for n in names}
    units = []
    for unit in inputs.inventory.units:
        in_suite = config.suite_of(unit.name)
        if wanted and unit.name not in wanted:
            continue
        if suite is not None and (in_suite is None or in_suite.name != suite):
            continue
        if in_suite is not None and states.get(unit.name) == P.MIGRATED:
            units.append(unit)
    missing = wanted - {u.name for u in units}
    if missing:
        raise UsageError(f"{', '.join(sorted(missing))}: not a migrated service (see `revops status`)")
    return [P.service_plan(u, config, inputs.files) for u in P.order(units)]


def current_digest(config: Config, target: str = "compose") -> Callable[[P.ServicePlan], str | None]:
    """What each service's unit and env files give now, digested as the target names a
    version (compose: the copies' keyed digest; swarm: the digest a Docker secret's name
    carries, revops.migrate.swarmhost.secret_digest); reads only, creates nothing."""
    from revops.config import TARGET_SWARM
    from revops.migrate.swarmhost import secret_digest

    copies = Copies(config.secrets_path)

    def digest(sp: P.ServicePlan) -> str | None:
        content = bundle.read(config.root, config.unit_dirs, sp.unit, sp.secret_keys).text()
        return secret_digest(content) if target == TARGET_SWARM else copies.peek_digest(content)
    return digest


def run(config: Config, names: list[str], suite: str | None = None, *, dry_run: bool = False,
        yes: bool = False, confirm: Callable[[list[Candidate]], bool] | None = None,
        say: Callable[[str], None] = output.info,
        host_factory: Callable[[wiring.Inputs], rotation.RotateHost] = wiring.live_host,
        target: str = "compose") -> RotationResult:
    """`target` (compose, swarm) says how versions are named (current_digest) and is
    recorded with the run; `host_factory` gives the host of that target."""
    inputs = wiring.read_inputs(config)
    with host_run(config, dry_run=dry_run) as run:
        ledger = run.ledger
        states = resume.service_states(ledger) if ledger is not None else {}
        held = versions.held(ledger.last_done(versions.HELD_STEPS)) if ledger is not None else {}
        services = scope(inputs, names, suite, states)
        result = RotationResult(dry_run, rotation.choose(services, held, current_digest(config, target)))
        outdated = {c.unit for c in result.candidates if c.outdated}
        todo = [sp for sp in services if sp.unit in outdated]
        if dry_run or not todo:
            result.exit_code = EXIT_FAILED if any(c.current is None for c in result.candidates) else EXIT_OK
            return result
        host = host_factory(inputs)
        result.run_id = run.begin(None, target=getattr(host, "target", target))
        if not run.confirm(confirm, result.candidates, yes):
            result.refused = "not confirmed"
            return result
        journal = run.journal
        assert journal is not None
        with run.interruptible() as interrupt:
            for sp in todo:
                if interrupt.requested:
                    result.rotations.append(Rotation(sp.unit, rotation.INTERRUPTED, "Ctrl-C before it was rotated"))
                    continue
                done = rotation.rotate_one(host, journal, sp, interrupt, say)
                result.rotations.append(done)
                if done.outcome != rotation.ROTATED:
                    break
        left = {r.unit for r in result.rotations}
        result.rotations += [Rotation(sp.unit, rotation.NOT_STARTED, "an earlier service did not take its new copy")
                             for sp in todo if sp.unit not in left]
        run.outcome = _outcome(result.rotations)
    result.exit_code = _exit_code(result)
    return result


def _outcome(rotations: list[Rotation]) -> str:
    words = [f"{o}: {', '.join(r.unit for r in rotations if r.outcome == o)}"
             for o in (rotation.ROTATED, rotation.RESTORED, rotation.DOWN, rotation.INTERRUPTED)
             if any(r.outcome == o for r in rotations)]
    return "; ".join(words) or "nothing rotated"


def _exit_code(result: RotationResult) -> int:
    outcomes = {r.outcome for r in result.rotations}
    if rotation.INTERRUPTED in outcomes:
        return EXIT_INTERRUPTED
    if outcomes - {rotation.ROTATED} or any(c.current is None for c in result.candidates):
        return EXIT_FAILED
    return EXIT_OK


def render_plan(candidates: list[Candidate], console: Console) -> None:
    table = Table(title="Secret copies", title_justify="left")
    for column in ("service", "held (ledger)", "now (env files)", "action"):
        table.add_column(column, overflow="fold")
    for c in candidates:
        action = ("rotate: new copy, restart, health gate" if c.outdated else
                  f"cannot tell: {c.reason}" if c.current is None and c.reason else
                  "no copy written yet" if c.current is None else rotation.UP_TO_DATE)
        table.add_row(c.unit, c.held or "none recorded", c.current or "-", action)
    console.print(table)


def render(result: RotationResult, console: Console) -> None:
    render_plan(result.candidates, console)
    if result.dry_run:
        console.print(Text("dry run: nothing was changed", style="dim"))
    if result.refused:
        console.print(Text(f"refused: {result.refused}", style="bold red"))
    if not result.rotations:
        if not result.dry_run and not any(c.outdated for c in result.candidates):
            console.print("every copy is up to date", highlight=False)
        return
    table = Table(title=f"Rotation (run {result.run_id})", title_justify="left")
    for column in ("service", "outcome", "down / gate", "reason"):
        table.add_column(column, overflow="fold")
    for r in result.rotations:
        down = f"{r.down_s:.2f}s / {r.gate_s:g}s" if r.down_s is not None and r.gate_s is not None else ""
        table.add_row(r.unit, r.outcome, down, r.reason or "")
    console.print(table)
