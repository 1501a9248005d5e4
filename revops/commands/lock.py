"""`revops lock`: one hash-pinned, conflict-checked requirements lock per suite.

Plan first (gather every service's requirements, merge per suite, find conflicts, decide
which suites need resolving), then execute (resolve, write `<suite>.in` and `<suite>.txt`
together, optionally prove). A suite with a conflict or a resolver failure keeps its previous
files byte for byte; the others are still locked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from revops import __version__, model, output
from revops.config import Config, Suite
from revops.errors import UsageError
from revops.lock import baseimage, localproject, lockfile, merge, proof, reqfile, resolver, sources, target
from revops.lock.check import check_suite, paths, rel
from revops.lock.results import (  # noqa: F401  (the verb's result, named here too)
    CHECK_OK, CONFLICT, EMPTY, HASH_MISMATCH, INPUT_ERROR, LOCAL_BUILD_FAILED, LOCKED, MISSING,
    PROOF_FAILED, RESOLVER_FAILED, STALE, UNCHANGED, UNPINNED, WOULD_LOCK, LockResult, ServiceSource,
    SuiteResult)

@dataclass(frozen=True)
class Options:
    suites: tuple[str, ...] = ()
    offline: bool = False
    find_links: Path | None = None
    check: bool = False
    prove: bool = False
    resolver: str = resolver.PIP_TOOLS
    dry_run: bool = False


@dataclass
class SuitePlan:
    """What we know about a suite before resolving anything."""

    suite: Suite
    services: list[sources.ServiceRequirements]
    merged: merge.Merged
    input_text: str
    digest: str
    exec_starts: dict[str, tuple[list[list[str]], str | None]]  # unit -> (exec_start, working dir)
    target: target.Target
    skipped: list[str] = field(default_factory=list)
    venv_pythons: dict[str, list[str]] = field(default_factory=dict)  # Python version -> units


# ---- entry point ---------------------------------------------------------------------------


def run(config: Config, options: Options) -> LockResult:
    _validate(options)
    suites = selected_suites(config, options.suites)
    lock_dir = config.out("lockfiles")
    inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
    python, why = target_of(config, inventory)
    if options.check:
        results = [check_suite(lock_dir, s.name, config.base_dir, python) for s in suites]
        return LockResult("check", options.resolver, results, all(r.ok for r in results), python, why)
    wheelhouse = _wheelhouse(config, options)
    plans = plan(config, suites, inventory, python)
    action = "dry-run" if options.dry_run else "lock"
    results = execute(plans, lock_dir, config, options, wheelhouse)
    return LockResult(action, options.resolver, results, all(r.ok for r in results), python, why)


def target_of(config: Config, inventory: model.Inventory) -> tuple[target.Target, list[str]]:
    """The interpreter the locks are for: revops.yaml's image.python, else the base image's,
    else the suites' venvs' (revops.lock.target)."""
    in_suites = {u.name for u in inventory.units if config.suite_of(u.name) is not None}
    versions = [v.python_version for v in inventory.venvs
                if v.python_version and any(unit in in_suites for unit in v.used_by)]
    if config.image_python:
        return target.choose(config.image_python, versions)
    version, why_not = baseimage.python_of(config.image_base, config.cache_dir)
    chosen, warnings = target.choose(None, versions, (config.image_base, version))
    if version is None and chosen.source != target.FROM_CONFIG:
        warnings.append(f"the base image's Python is unknown: {why_not}; locking for Python {chosen.version} "
                        f"(from {chosen.source})")
    return chosen, warnings


def _validate(options: Options) -> None:
    if options.resolver not in resolver.RESOLVERS:
        raise UsageError(f"--resolver: expected one of {', '.join(resolver.RESOLVERS)}, got {options.resolver!r}")
    if options.check and (options.prove or options.dry_run):
        raise UsageError("--check reads the locks only; it cannot be combined with --prove or --dry-run")
    if options.find_links is not None and not Path(options.find_links).is_dir():
        raise UsageError(f"--find-links {options.find_links}: no such directory")


def _wheelhouse(config: Config, options: Options) -> Path | None:
    """--find-links, else the configured wheelhouse when it exists; required offline and to prove."""
    if options.find_links is not None:
        return Path(options.find_links)
    configured = config.base_dir / config.wheelhouse
    if configured.is_dir():
        return configured
    if options.offline or options.prove:
        flag = "--offline" if options.offline else "--prove"
        raise UsageError(f"{flag} needs a wheelhouse: pass --find-links DIR "
                         f"(or create {configured}, paths.wheelhouse in revops.yaml)")
    return None


def selected_suites(config: Config, names: tuple[str, ...]) -> list[Suite]:
    known = {s.name: s for s in config.suites}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"--suite {unknown[0]}: no such suite in {config.path}; "
                         f"known: {', '.join(known) or 'none'}")
    if not known:
        raise UsageError(f"{config.path}: no suites defined (suites: in revops.yaml)")
    return [known[n] for n in dict.fromkeys(names)] if names else list(config.suites)


# ---- plan ----------------------------------------------------------------------------------


def plan(config: Config, suites: list[Suite], inventory: model.Inventory, python: target.Target) -> list[SuitePlan]:
    members: dict[str, list[model.Unit]] = {s.name: [] for s in suites}
    deprecated: dict[str, list[str]] = {s.name: [] for s in suites}
    for unit in inventory.units:
        suite = getattr(config.suite_of(unit.name), "name", None)
        if suite not in members:
            continue
        if unit.deprecated or config.is_deprecated(unit.name):
            deprecated[suite].append(unit.name)
        else:
            members[suite].append(unit)
    reader = reqfile.Reader(config.root, config.cache_dir)
    plans = [plan_suite(config, suite, sorted(members[suite.name], key=lambda u: u.name), python, reader)
             for suite in suites]
    python_of = {v.path: v.python_version for v in inventory.venvs if v.python_version}
    for p in plans:
        p.skipped = sorted(deprecated[p.suite.name])
        for unit in members[p.suite.name]:
            if unit.venv in python_of:
                p.venv_pythons.setdefault(python_of[unit.venv], []).append(unit.name)
    return plans


def plan_suite(config: Config, suite: Suite, units: list[model.Unit], python: target.Target,
               reader: reqfile.Reader | None = None) -> SuitePlan:
    reader = reader or reqfile.Reader(config.root, config.cache_dir)
    services = [sources.gather(u.name, u.working_directory, u.venv, config.root, reader) for u in units]
    merged = merge.merge(suite.name, services, suite.overrides, python)
    input_text = merge.render_in(merged, services, f"{suite.name}.txt")
    exec_starts = {u.name: (u.exec_start, u.working_directory) for u in units}
    return SuitePlan(suite, services, merged, input_text, lockfile.digest(input_text), exec_starts, python)


# ---- execute -------------------------------------------------------------------------------


def execute(plans: list[SuitePlan], lock_dir: Path, config: Config, options: Options,
            wheelhouse: Path | None) -> list[SuiteResult]:
    built_into = config.base_dir / config.wheelhouse  # where `revops build` looks for locked wheels
    results = [_preflight(p, lock_dir, config.base_dir, options.dry_run, built_into) for p in plans]
    # A suite still LOCKED after preflight is one to resolve; _resolve() says otherwise if it fails.
    todo = [(p, r) for p, r in zip(plans, results) if r.status == LOCKED]
    if todo:
        label = resolver.label(options.resolver)
        src = resolver.Sources(find_links=wheelhouse, offline=options.offline)
        with output.progress(f"resolving with {options.resolver}", len(todo)) as advance:
            for suite_plan, result in todo:
                _resolve(suite_plan, result, lock_dir, options.resolver, label, src, built_into)
                advance(1)
    for suite_plan, result in zip(plans, results):
        result.warnings += _lock_python_warnings(suite_plan, result, lock_dir)
    if options.prove and not options.dry_run:
        for suite_plan, result in zip(plans, results):
            if result.status in (LOCKED, UNCHANGED):
                result.proof = _prove(suite_plan, lock_dir, config, wheelhouse)
                if not result.proof.ok:
                    result.status = PROOF_FAILED
    return results


def _preflight(p: SuitePlan, lock_dir: Path, base: Path, dry_run: bool, built_into: Path) -> SuiteResult:
    """Everything decided before a resolver runs: errors, conflicts, skip when unchanged."""
    in_path, txt_path = paths(lock_dir, p.suite.name)
    result = SuiteResult(
        name=p.suite.name, status=LOCKED, input=rel(in_path, base), lockfile=rel(txt_path, base),
        input_digest=p.digest, recorded_digest=lockfile.recorded_digest(txt_path, p.suite.name),
        services=[_service_source(s) for s in p.services], conflicts=p.merged.conflicts,
        overrides=p.merged.overrides, unused_overrides=p.merged.unused_overrides, skipped=p.skipped,
        input_errors=[str(e) for s in p.services for e in s.errors],
        warnings=[str(w) for s in p.services for w in s.warnings],
    )
    if result.input_errors:
        result.status, result.error = INPUT_ERROR, "unreadable requirements; nothing changed for this suite"
    elif result.conflicts:
        result.status, result.error = CONFLICT, "conflicting pins; nothing changed for this suite"
    elif not p.merged.lines and not p.merged.local:
        result.status = EMPTY
    elif _unchanged(in_path, p, result.recorded_digest):
        text = lockfile.read_lock(txt_path, p.suite.name)
        gone = [pin for pin in lockfile.local_pins(text) if localproject.find_in(built_into, pin.name, pin.sha256) is None]
        if gone and not dry_run:  # rebuild it: the lock is current but `revops build` would miss the wheel
            result.warnings.append(f"re-locking: the wheel of local project {gone[0].host_path} is no longer in "
                                   f"{rel(built_into, base)}")
            return result
        result.status = UNCHANGED
        result.pins = len(lockfile.pins(text))
    elif dry_run:
        result.status = WOULD_LOCK
    return result


def _lock_python_warnings(p: SuitePlan, result: SuiteResult, lock_dir: Path) -> list[str]:
    """Compare the services' Python with the one the lock was (or would be) resolved under."""
    if result.status == WOULD_LOCK:
        return python_mismatch(p.venv_pythons, p.target.version)
    if result.status not in (LOCKED, UNCHANGED):
        return []
    text = lockfile.read_lock(paths(lock_dir, p.suite.name)[1], p.suite.name)
    made_with = lockfile.header_fields(text).get("python")
    return python_mismatch(p.venv_pythons, made_with) if made_with else []


def python_mismatch(venv_pythons: dict[str, list[str]], locked_for: str) -> list[str]:
    """Markers such as python_full_version < "3.11.3" are judged for the target Python; say so
    when some services' venvs run another one, as the lock may not fit those venvs."""
    warnings = []
    for version, units in sorted(venv_pythons.items()):
        if not _same_python(version, locked_for):
            warnings.append(f"markers were judged for Python {locked_for} (the target), but {len(units)} "
                            f"service venv(s) run Python {version} ({units[0]}, ...): the lock fits the "
                            f"image, not necessarily those venvs")
    return warnings


def _same_python(venv_version: str, running: str) -> bool:
    parts = venv_version.split(".")
    return running.split(".")[: len(parts)] == parts


def _unchanged(in_path: Path, p: SuitePlan, recorded: str | None) -> bool:
    if recorded != p.digest:
        return False
    try:
        return lockfile.read_lock(in_path) == p.input_text
    except lockfile.LockfileError:
        return False


def _resolve(p: SuitePlan, result: SuiteResult, lock_dir: Path, which: str, label: str,
             src: resolver.Sources, built_into: Path) -> None:
    in_path, txt_path = paths(lock_dir, p.suite.name)
    try:
        python = None if which == resolver.UV else resolver.target_interpreter(p.target.version, p.target.source)
        wheels = _build_local(p, python or resolver.find_interpreter(p.target.version), src, built_into)
        text, extra = merge.resolver_input(p.merged, p.input_text,
                                           {path: (pin.name, pin.wheel_url) for path, pin in wheels.items()})
        body = resolver.compile_lock(which, text, in_path.name, txt_path, src, p.target.version, python,
                                     extra_files=extra)
    except resolver.ResolverFailed as exc:
        result.status, result.error = RESOLVER_FAILED, exc.message
        return
    except localproject.LocalProjectError as exc:
        result.status, result.error = LOCAL_BUILD_FAILED, f"{exc}; nothing changed for this suite"
        return
    result.warnings += [f"local project {path} was built as root: user nobody cannot run the target interpreter"
                        for path, wheel in wheels.items() if wheel.privileged]
    body, missing = lockfile.pin_local(body, {sources.canonicalize_name(pin.name): pin.pin for pin in wheels.values()})
    if missing:
        result.status, result.error = UNPINNED, f"the resolver did not lock the local project(s) {', '.join(missing)}"
        return
    body, mismatch = honour_hashes(p, body)
    if mismatch:
        result.status, result.error = HASH_MISMATCH, "; ".join(mismatch) + "; nothing changed for this suite"
        return
    bad = lockfile.unpinned_entries(body)
    if bad:
        result.status, result.error = UNPINNED, f"the resolver left entries without == and a hash: {', '.join(bad)}"
        return
    text = lockfile.header(p.suite.name, in_path.name, p.digest, __version__, label,
                           p.target.version, p.target.source) + body
    lockfile.write_atomically(in_path, p.input_text)
    lockfile.write_atomically(txt_path, text)
    result.resolver, result.pins, result.recorded_digest = label, len(lockfile.pins(body)), p.digest


@dataclass(frozen=True)
class _LocalWheel:
    name: str
    wheel_url: str  # file: URL the resolver reads it from
    pin: lockfile.LocalPin
    privileged: bool  # its build code ran as root: nobody could not run the interpreter


def _build_local(p: SuitePlan, python: str | None, src: resolver.Sources, built_into: Path) -> dict[str, _LocalWheel]:
    """Each local project of the suite built into a wheel in `built_into`, by host path."""
    wheels = {}
    for line in p.merged.local:
        try:
            built = localproject.build(Path(line.real), python, src, built_into)
        except localproject.LocalProjectError as exc:
            service, origin, written = line.asked[0]
            raise localproject.LocalProjectError(f"{origin}: {written!r} ({service}): local project "
                                                 f"{line.host_path} did not build: {exc}") from None
        pin = lockfile.LocalPin(line.host_path, built.name, built.version, built.sha256)
        wheels[line.host_path] = _LocalWheel(built.name, built.wheel.resolve().as_uri(), pin, built.privileged)
    return wheels


def honour_hashes(p: SuitePlan, body: str) -> tuple[str, list[str]]:
    """Narrow the lock's hashes to those the services' `--hash` options allow; name every
    requirement line whose hashes match none of the artifacts the lock found."""
    by_dist: dict[str, list[sources.Wanted]] = {}
    for service in p.services:
        for item in service.wanted:
            if item.hashes and p.target.applies(item.parsed.marker):
                by_dist.setdefault(item.name, []).append(item)
    allowed = {dist: frozenset.intersection(*(w.hashes for w in items)) for dist, items in by_dist.items()}
    body, emptied = lockfile.restrict_hashes(body, allowed)
    problems = []
    for dist in emptied:
        locked = next((pin for pin in lockfile.pins(body) if sources.canonicalize_name(pin.name) == dist), None)
        found = f"{locked.name}=={locked.version}" if locked else dist
        for item in by_dist[dist]:
            problems.append(f"{item.origin}: the --hash values of {item.requirement!r} ({item.service}) match no "
                            f"artifact the lock found for {found}; put the wheel with that hash in the wheelhouse, "
                            "or update the hashes")
    return body, problems


def _prove(p: SuitePlan, lock_dir: Path, config: Config, wheelhouse: Path | None) -> proof.Proof:
    apps = []
    for unit, (exec_start, workdir) in sorted(p.exec_starts.items()):
        directory = sources.on_disk(config.root, workdir) if workdir else None
        apps.append(proof.AppUnderTest(unit, directory, proof.app_module(exec_start, directory)))
    assert wheelhouse is not None  # _wheelhouse() insists on one when proving
    # Proven with the target's interpreter when this machine has one, as the image would run it;
    # local projects' wheels are in paths.wheelhouse, where `revops build` finds them too.
    python = resolver.find_interpreter(p.target.version)
    return proof.prove(paths(lock_dir, p.suite.name)[1], wheelhouse, apps, python=python,
                       also=[config.base_dir / config.wheelhouse])


def _service_source(s: sources.ServiceRequirements) -> ServiceSource:
    return ServiceSource(s.service, s.source, s.source_path, [w.requirement for w in s.wanted], s.notes)


# ---- render --------------------------------------------------------------------------------

_STYLE = {LOCKED: "green", UNCHANGED: "green", CHECK_OK: "green", WOULD_LOCK: "cyan", EMPTY: "yellow"}


def render(result: LockResult, console: Console) -> None:
    lock_dirs = sorted({str(Path(s.lockfile).parent) for s in result.suites})
    how = result.action if result.action == "check" else f"{result.action}, {result.resolver}"
    for_python = f" for Python {result.python.version} ({result.python.source})" if result.python else ""
    table = Table(title=f"revops lock ({how}) in {', '.join(lock_dirs)}/{for_python}", title_justify="left")
    for column in ("suite", "status", "services", "pins"):
        table.add_column(column)
    table.add_column("lock", overflow="fold")
    for s in result.suites:
        style = _STYLE.get(s.status, "red")
        table.add_row(s.name, Text(s.status, style=style), _source_summary(s), "" if s.pins is None else str(s.pins),
                      Path(s.lockfile).name)
    console.print(table)
    for warning in result.warnings:
        console.print(Text.assemble(("warning", "yellow"), " ", warning), highlight=False)
    for s in result.suites:
        _render_details(s, console)


def _source_summary(s: SuiteResult) -> str:
    """"12", or "12 (2 venv, 1 none)" when some services had no requirements.txt."""
    others: dict[str, int] = {}
    for service in s.services:
        if service.source != sources.SOURCE_FILE:
            others[service.source] = others.get(service.source, 0) + 1
    detail = ", ".join(f"{n} {source}" for source, n in sorted(others.items()))
    return f"{len(s.services)} ({detail})" if detail else str(len(s.services)) if s.services else ""


def _render_details(s: SuiteResult, console: Console) -> None:
    lines: list[str] = []
    by_source: dict[str, list[str]] = {}
    for service in s.services:
        by_source.setdefault(service.source, []).append(service.name)
    for source, names in sorted(by_source.items()):
        if source != sources.SOURCE_FILE:
            lines.append(escape(f"  from {source}: {', '.join(names)}"))
    for c in s.conflicts:
        lines.append(f"  [red]conflict[/] {escape(c.describe())}")
        lines += [f"    {escape(side.pin)} at {escape(origin)}" for side in c.sides for origin in side.origins]
    if s.conflicts:
        example = s.conflicts[0]
        lines.append("  [dim]" + escape(f"settle a conflict in revops.yaml: suites.{s.name}.overrides: "
                                        f"{{{example.dist}: \"==VERSION\"}}") + "[/]")
    lines += [f"  [yellow]override[/] {escape(o.dist + o.spec)} replaces " + escape("; ".join(
        f"{side.pin} ({_who(side.services)})" for side in o.replaced)) for o in s.overrides]
    lines += [f"  [yellow]unused override[/] {escape(name)}" for name in s.unused_overrides]
    lines += ["  [dim]" + escape(f"skipped (deprecated): {', '.join(s.skipped)}") + "[/]"] if s.skipped else []
    lines += [f"  [red]input[/] {escape(e)}" for e in s.input_errors]
    lines += [f"  [yellow]warning[/] {escape(w)}" for w in s.warnings]
    if s.error:
        lines.append(f"  [red]{escape(s.status)}:[/] " + escape(s.error).replace("\n", "\n    "))
    if s.proof is not None:
        lines += _proof_lines(s.proof)
    if lines:
        console.print(Text(s.name, style="bold"), highlight=False)
        for line in lines:  # markup of our own; every piece of data in it went through escape()
            console.print(line, highlight=False, markup=True)


def _who(services: list[str]) -> str:
    """Service names, shortened past three: the JSON output has them all."""
    if len(services) <= 3:
        return ", ".join(services)
    return f"{', '.join(services[:2])} and {len(services) - 2} more"


def _proof_lines(p: proof.Proof) -> list[str]:
    verdict = "[green]proven[/]" if p.ok else "[red]proof failed[/]"
    lines = [f"  {verdict}: install --require-hashes {'ok' if p.installed else 'FAILED'}, "
             f"pip check {'clean' if p.pip_check else 'NOT clean'}"]
    for check in p.imports:
        state = {True: "[green]imports[/]", False: "[red]import FAILED[/]", None: "[dim]not tried[/]"}[check.ok]
        detail = escape(check.detail or "").replace("\n", "\n      ")
        lines.append(f"    {escape(check.service)}: {state} {escape(check.module or '')} {detail}".rstrip())
    if p.detail:
        lines.append("    " + escape(p.detail).replace("\n", "\n    "))
    return lines
