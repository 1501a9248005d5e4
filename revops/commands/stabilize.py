"""`revops stabilize`: suite venvs from the locks, units repointed at them, gated, reversible.

Plan (suite venvs, per unit the ExecStart= before and after, duplicate venvs), then under one
host run (operator lock, ledger, confirmation, Ctrl-C finishing the unit in flight): settle
what a killed run left half-way, build and prove each suite venv, repoint and gate each unit.
`--undo` removes the drop-ins and restarts the units on their own venvs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import model, output, repoint
from revops.adapters import systemd
from revops.commands.lock import selected_suites
from revops.config import Config, duration_seconds
from revops.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CheckFailed, UsageError
from revops.hostrun import host_run
from revops.lock import lockfile, proof as proof_mod, sources
from revops.lock.proof import AppUnderTest, Proof
from revops.lock.resolver import find_interpreter
from revops.stabilize import build, execute, plan as P

BUILD_VENV = "build-suite-venv"
# A restart is a stop and a start: up to systemd's default TimeoutStopSec= (90 s) plus its
# TimeoutStartSec= (90 s), with room for a slow manager.
RESTART_TIMEOUT_S = 210.0
OUR_STEPS = (BUILD_VENV, repoint.REPOINT, repoint.PUT_BACK, execute.GATE)


@dataclass
class Options:
    dry_run: bool = False
    yes: bool = False
    undo: bool = False
    units: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    find_links: Path | None = None
    offline: bool = False


@dataclass
class SuiteBuild:
    suite: str
    path: str
    built: bool
    proof: Proof


@dataclass
class StabilizeResult:
    dry_run: bool
    undo: bool
    plan: P.Plan | None = None
    shared: P.Shared | None = None  # stabilize: {venvs: shared}: who shares the one venv, who cannot
    duplicates: list[P.DuplicateGroup] = field(default_factory=list)
    builds: list[SuiteBuild] = field(default_factory=list)
    results: list[execute.UnitResult] = field(default_factory=list)
    run_id: int | None = None
    refused: str | None = None
    interrupted: bool = False
    exit_code: int = EXIT_OK

    @property
    def failure(self) -> CheckFailed | None:
        """Why the run exits 1: each unit that is not on the suite venv as planned, and why."""
        failed = [r for r in self.results if not r.ok]
        if not failed:
            return None
        return CheckFailed("; ".join(f"{r.unit}: {r.action}: {r.detail}" for r in failed),
                           hint="the other units stay stabilised; fix the cause and run again "
                                "(`revops stabilize --undo` puts every unit back)")


def run(config: Config, options: Options, *, confirm: Callable[[P.Plan], bool] | None = None,
        say: Callable[[str], None] = output.info) -> StabilizeResult:
    if options.undo:
        return _undo(config, options, say)
    inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
    suites = selected_suites(config, options.suites)
    venvs = [suite_venv_of(config, s.name) for s in suites]
    result = StabilizeResult(options.dry_run, False)
    if config.stabilize_venvs == P.SHARED:
        texts = {v.suite: lockfile.read_lock(Path(v.lock), v.suite) for v in venvs if v.lock}
        venvs, result.shared = P.shared_venvs(config, venvs, texts)
    with host_run(config, dry_run=options.dry_run) as run:
        ledger = run.ledger
        if ledger is not None and not options.dry_run:
            run.lock()
        migration = {k: r.migration_state for k, r in ledger.service_states().items()} if ledger else {}
        records = ledger.repoints(P.PURPOSE) if ledger else {}
        result.plan = P.plan(inventory, config, venvs, migration=migration, earlier=P.earlier_from(records),
                             units=options.units)
        result.duplicates = P.duplicates(inventory, result.plan, lambda p: disk_bytes(config, p))
        half_way = [u for u, r in records.items() if r.state == repoint.PUTTING_BACK]
        ours = set(records) | {u.unit for u in result.plan.units} | {v.suite for v in venvs}
        abandoned = ([s for s in ledger.open_steps() if s.step in OUR_STEPS and s.service in ours]
                     if ledger and not options.dry_run else [])
        if options.dry_run or not (result.plan.acting() or half_way or abandoned):
            return result
        run_id = run.begin(None)
        for step in abandoned:  # a killed run's: its unit is settled below (put back, or repointed afresh)
            ledger.step_finished(step.id, "failed", f"abandoned (process died); settled by run {run_id}")
        if not run.confirm(confirm, result.plan, options.yes):
            result.refused = "not confirmed"
            return result
        assert run.journal is not None and run.ledger is not None
        pair = _pair(config, run.journal, run.ledger)
        with run.interruptible() as interrupt:
            for unit in half_way:  # a killed run's put-back: finish it, then plan it afresh
                result.results.append(execute.undo(unit, pair, "finishing a put-back a killed run left"))
            _execute(config, options, result, pair, inventory, interrupt, say)
        failed = [r.unit for r in result.results if not r.ok]
        run.outcome = ("interrupted" if result.interrupted else
                       f"failed: {', '.join(failed)}" if failed else "ok")
    result.exit_code = EXIT_FAILED if any(not r.ok for r in result.results) else EXIT_OK
    if result.interrupted:
        result.exit_code = EXIT_INTERRUPTED
    return result


def _execute(config: Config, options: Options, result: StabilizeResult, pair: repoint.Pair,
             inventory: model.Inventory, interrupt: Callable[[], bool], say: Callable[[str], None]) -> None:
    assert result.plan is not None
    units = {u.name: u for u in inventory.units}
    gate = execute.Gate(duration_seconds(config.stabilize_settle), duration_seconds(config.stabilize_timeout),
                        config.health.url, config.health.probe_timeout)
    find_links = proof_mod.links([p for p in (options.find_links, config.base_dir / config.wheelhouse) if p])
    for venv in {v.path: v for v in result.plan.venvs if v.path}.values():  # a shared venv once
        acting = [u for u in result.plan.acting() if u.venv_after == venv.path]
        if not acting or interrupt():
            continue
        assert venv.on_disk is not None and venv.lock is not None
        leads = build.unsafe_place(Path(venv.on_disk), Path(config.root))
        if leads is not None:  # not even the shared lock is written there
            result.results += [execute.UnitResult(u.unit, False, "not repointed", leads) for u in acting]
            continue
        if result.shared is not None and not Path(venv.lock).exists():
            Path(venv.lock).parent.mkdir(parents=True, exist_ok=True)
            lockfile.write_atomically(Path(venv.lock), result.shared.text)
        apps = [app_under_test(config, units[u.unit]) for u in acting]
        say(f"{venv.suite}: building and proving {venv.path}")
        with pair.journal.step(venv.suite, BUILD_VENV, f"{venv.lock} -> {venv.path}") as record:
            proof, built = build.build(Path(venv.lock), Path(venv.on_disk), find_links, apps,
                                       python=find_interpreter(venv.python) if venv.python else None,
                                       offline=options.offline, root=Path(config.root))
            record.state = "done" if proof.installed and proof.pip_check else "failed"
            record.reason = ("built and proven" if built else "proven again") if proof.ok else (proof.detail or "imports failed")
        result.builds.append(SuiteBuild(venv.suite, venv.path or "", built, proof))
        imports = {i.service: i for i in proof.imports}
        for u in acting:
            if interrupt():
                result.interrupted = True
                return
            why = _unusable(proof, imports.get(u.unit))
            if why:
                result.results.append(execute.UnitResult(u.unit, False, "not repointed", why))
                continue
            say(f"{u.unit}: repointing at {u.venv_after}")
            result.results.append(execute.stabilize(u, pair, gate))
    if interrupt():
        result.interrupted = True


def _unusable(proof: Proof, check: proof_mod.ImportCheck | None) -> str | None:
    if not proof.installed or not proof.pip_check:
        return f"the suite venv is not proven: {proof.detail}"
    if check is not None and check.ok is False:
        return f"its app does not import with the suite venv: {check.detail}"
    return None


def _undo(config: Config, options: Options, say: Callable[[str], None]) -> StabilizeResult:
    result = StabilizeResult(options.dry_run, True)
    with host_run(config, dry_run=options.dry_run) as run:
        records = run.ledger.repoints(P.PURPOSE) if run.ledger else {}
        wanted = set(options.units)
        if options.suites:
            names = {s.name for s in selected_suites(config, options.suites)}
            wanted |= {u for u in records if getattr(config.suite_of(u), "name", None) in names}
        todo = [u for u, r in sorted(records.items()) if r.state != repoint.PUT_BACK_DONE
                and (not (options.units or options.suites) or u in wanted)]
        unknown = [u for u in options.units if u not in records]
        if unknown:
            raise UsageError(f"--undo {unknown[0]}: stabilize has not repointed this unit (not in the ledger)")
        result.plan = P.Plan([], [P.UnitPlan(u, getattr(config.suite_of(u), "name", None), [],
                                             skip=None) for u in todo])
        if options.dry_run or not todo:
            return result
        run.begin(None)
        assert run.journal is not None and run.ledger is not None
        pair = _pair(config, run.journal, run.ledger)
        with run.interruptible() as interrupt:
            for unit in todo:
                if interrupt():
                    result.interrupted = True
                    break
                say(f"{unit}: putting back")
                result.results.append(execute.undo(unit, pair))
        failed = [r.unit for r in result.results if not r.ok]
        run.outcome = "interrupted" if result.interrupted else f"failed: {', '.join(failed)}" if failed else "ok"
    result.exit_code = EXIT_INTERRUPTED if result.interrupted else EXIT_FAILED if any(not r.ok for r in result.results) else EXIT_OK
    return result


def _pair(config: Config, journal, ledger) -> repoint.Pair:
    manager = systemd.connect(config.bus)
    files = systemd.DropinFiles(systemd.admin_unit_dir(config.bus, config.root),
                                confine=[Path(config.root) / d for d in config.unit_dirs])
    return repoint.Pair(manager, files, journal, ledger, timeout_s=RESTART_TIMEOUT_S)


def suite_venv_of(config: Config, suite: str) -> P.SuiteVenv:
    path = config.out("lockfiles") / f"{suite}.txt"
    if not path.exists():
        return P.suite_venv(config, suite, None, None)
    text = lockfile.read_lock(path, suite)  # LockfileError (exit 2) for a bad one
    lockfile.check_installable(path, text)  # pip is given it: no options, files or URLs in it
    return P.suite_venv(config, suite, text, lockfile.header_fields(text).get(lockfile.PYTHON_KEY))


def app_under_test(config: Config, unit: model.Unit) -> AppUnderTest:
    directory = sources.on_disk(config.root, unit.working_directory) if unit.working_directory else None
    return AppUnderTest(unit.name, directory, proof_mod.app_module(unit.exec_start, directory))


def disk_bytes(config: Config, host_path: str) -> int | None:
    """Bytes the files under a venv (a host path, under host.root) hold; None when unreadable,
    or when the path leads outside the root (a symlinked venv: os.walk follows its top)."""
    top, root = Path(config.root) / host_path.lstrip("/"), Path(config.root).resolve()
    real = top.resolve()
    if real != root and not real.is_relative_to(root):
        return None
    return tree_bytes(top)


def tree_bytes(top: Path) -> int | None:
    """Bytes the files under `top` hold on disk (st_blocks; a hard-linked file counted once);
    None when a part cannot be read. Never follows a symlink."""
    total, seen = 0, set()
    try:
        for base, dirs, files in os.walk(top, followlinks=False, onerror=_raise):
            for name in dirs + files:
                st = os.lstat(os.path.join(base, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    except OSError:
        return None
    return total


def _raise(exc: OSError) -> None:
    raise exc


# ---- rendering ----------------------------------------------------------------------------


def render_plan(plan: P.Plan, console: Console) -> None:
    by_path: dict[str, list[str]] = {}
    for v in plan.venvs:
        if v.path is None:
            console.print(f"suite {v.suite}: no venv: {v.why_not}", highlight=False)
        else:
            by_path.setdefault(v.path, []).append(v.suite)
    for path, suites in by_path.items():
        console.print(f"suite {', '.join(suites)}: {path}", highlight=False)
    for u in plan.units:
        if u.skip:
            console.print(Text(f"  leave {u.unit}: {u.skip}", style="dim"))
            continue
        console.print(f"  {u.unit}", highlight=False)
        console.print(f"    old ExecStart={' '.join(u.before)}", highlight=False)
        console.print(f"    new ExecStart={' '.join(u.after or [])}", highlight=False)


def render(result: StabilizeResult, console: Console) -> None:
    if result.shared is not None:
        console.print(f"shared venv: suites {', '.join(result.shared.members) or 'none'}", highlight=False)
        for suite, clashes in result.shared.left_out.items():
            console.print(Text(f"  suite {suite} cannot share it: {'; '.join(clashes)}", style="yellow"))
    if result.plan is not None and (result.dry_run or not result.results):
        render_plan(result.plan, console)
    if result.duplicates:
        held = sum(g.bytes or 0 for g in result.duplicates)
        unknown = sum(1 for g in result.duplicates if g.bytes is None)
        replaced = sum(len(g.replaced) for g in result.duplicates)
        console.print(f"duplicate venvs: {sum(len(g.venvs) for g in result.duplicates)} venvs in "
                      f"{len(result.duplicates)} groups of identical installed sets hold {held / 1e6:.1f} MB"
                      + (f" ({unknown} groups' size UNAVAILABLE)" if unknown else "")
                      + f"; the suite venvs replace {replaced} of them (--json lists each)", highlight=False)
        for g in result.duplicates[:5]:
            size = f"{g.bytes / 1e6:.1f} MB" if g.bytes is not None else "size UNAVAILABLE"
            console.print(f"  {len(g.venvs)} venvs, {g.installed} packages each, {size}, {len(g.replaced)} replaced: "
                          f"{g.venvs[0]} ...", highlight=False)
    for b in result.builds:
        verdict = "proven" if b.proof.ok else f"NOT proven: {b.proof.detail or 'an app does not import'}"
        console.print(f"suite {b.suite}: {b.path} {'built' if b.built else 'already there'}, {verdict}",
                      highlight=False)
    if result.results:
        table = Table(title=f"Stabilize (run {result.run_id})" if result.run_id else "Stabilize", title_justify="left")
        for col in ("unit", "result", "detail"):
            table.add_column(col, overflow="fold")
        for r in result.results:
            table.add_row(r.unit, Text(r.action, style="green" if r.ok else "bold red"), r.detail)
        console.print(table)
    if result.dry_run:
        console.print(Text("dry run: nothing was changed", style="dim"))
    if result.refused:
        console.print(Text(f"refused: {result.refused}", style="bold red"))
