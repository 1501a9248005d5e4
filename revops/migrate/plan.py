"""The migration plan as data: which services a run moves, in which order, with which steps.

Everything here is pure: it takes the inventory, the config, the ledger's service states and
the health of earlier phases (read by the caller) and returns dataclasses. `--dry-run` prints
exactly this, and the executor runs exactly this.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from revops import coverage as coverage_mod
from revops import dropins, jobs
from revops.config import TARGET_COMPOSE, Config, Health, Suite
from revops.errors import CheckFailed, UsageError
from revops.generate.mapping import secret_name, split_environment
from revops.generate.spec import JOB, SETUP
from revops.generate.mapping import unit_kind
from revops.migrate import instances as I
from revops.migrate import retire as R
from revops.model import Inventory, Unit
from revops.repoint import PUT_BACK, REPOINT, Repoint
from revops.secrets import versions

PREFLIGHT = "preflight"
# Not a journaled step: a sub-step's name in a rollback's words. Not "remove-secret: PATH", which
# the ledger's redaction reads as a secret assignment.
EMPTY_COPY = "empty-copy"
WRITE_SECRET = versions.WRITE_SECRET  # the service's copy of what it may read (revops.secrets.copies)
VERIFY_CANDIDATE = "verify-candidate"
STOP_UNIT = "stop-unit"
START_CONTAINER = "start-container"
WAIT_HEALTHY = "wait-healthy"
DISABLE_UNIT = "disable-unit"
ROLLBACK = "rollback"
STEPS = (PREFLIGHT, VERIFY_CANDIDATE, STOP_UNIT, START_CONTAINER, WAIT_HEALTHY, DISABLE_UNIT)
# A timer-fired job's cutover (see job_steps): no container is started and nothing waits for
# health; its unit is repointed between runs and its timer fires it in a container.
BETWEEN_RUNS = "between-runs"
REPOINT_UNIT = REPOINT  # revops.repoint's journaled step pair: "repoint-unit" and "put-back"
PUT_JOB_BACK = PUT_BACK
JOB_STEPS = (PREFLIGHT, VERIFY_CANDIDATE, BETWEEN_RUNS, REPOINT_UNIT)
# What a plan item is: a long-running service (stopped, its container started and waited
# healthy) or a job (its unit repointed to run it in a container; revops.jobs).
KIND_SERVICE = "service"
KIND_JOB = JOB
# A stack has no one-off run: Swarm restarts a task that exits (restart_policy), and stack
# deploy ignores `profiles:`; so a timer's job keeps running under systemd on that target.
JOBS_STAY = ("a job (fired by a timer): on the {target} target it stays under systemd with its timer "
             "(a stack has no one-off run; `revops migrate --target compose` moves it)")
# A template's numbered instances are one replicated item on compose only (instances.py).
INSTANCES_STAY = ("a template's {n} numbered instances: on the {target} target they stay under systemd "
                  "(their replicated item is cut over on compose only, for now)")
# A `retire:` unit put back by `revops rollback` as it was before migrate retired it.
KIND_RETIRED = "retired"
# and WRITE_SECRET after PREFLIGHT for a service with a secret (ServicePlan.secret): the copy is
# written before the candidate runs, which reads it as the replacement will.

# How a service's container is proven before its unit stops (revops.yaml: suites.X.preverify).
PREVERIFY_FULL = "full"  # a candidate container beside the unit, gated on /health (or Docker's health)
PREVERIFY_IMPORT = "import"  # the entry module imported in the image, nothing run: no side effects
PREVERIFY_OFF = "off"  # none: the unit is stopped first, as before pre-verification
PREVERIFY_MODES = (PREVERIFY_FULL, PREVERIFY_IMPORT, PREVERIFY_OFF)

# At most this many services in flight at once when --parallel is not given, per CPU core, and
# never more than MAX_DEFAULT_PARALLEL (see default_parallel).
PARALLEL_PER_CPU = 7
MAX_DEFAULT_PARALLEL = 16

# Service states kept in the ledger.
MIGRATING = "migrating"
MIGRATED = "migrated"
ROLLED_BACK = "rolled-back"
SYSTEMD = "systemd"



@dataclass(frozen=True)
class Step:
    name: str
    changes: str  # what this step changes on the host, in words


@dataclass
class ServicePlan:
    unit: str  # "revpublish.service"
    service: str  # the compose service: "revpublish"
    suite: str | None
    phase: int
    port: int | None
    health_url: str | None  # revops' own probe; None for a service that serves no port
    deadline_s: float  # how long wait-healthy waits before rolling back
    fragment: str | None = None  # the unit file, relative to the host root (to re-link it)
    after: list[str] = field(default_factory=list)  # units of this run it must follow
    steps: list[Step] = field(default_factory=list)
    preverify: str = PREVERIFY_OFF  # full, import or off (see preverify_mode)
    # The compose secret holding what the service may read (None: it reads nothing), and the
    # Environment= names that travel in it rather than inline (names only: no value is planned).
    secret: str | None = None
    secret_keys: tuple[str, ...] = ()
    kind: str = KIND_SERVICE  # "service", "job" (KIND_JOB: `job` says how it is cut over) or "retired"
    job: JobPlan | None = None
    # A template's instances: `unit` is the template and `instances` the units its one
    # replicated compose service replaces (revops.migrate.instances), stopped, disabled and
    # put back together; `instances_as` says how generate made the instances services.
    instances: list[str] = field(default_factory=list)
    instances_as: str | None = None
    # With mask_on_migrate: the units of `units` its disable step will not mask, with why (their
    # unit file is in the manager's admin directory: wiring.mask_blockers); the rest are masked.
    not_masked: dict[str, str] = field(default_factory=dict)

    @property
    def units(self) -> list[str]:
        """The systemd units this item stops, disables and starts again: its instances, or its unit."""
        return list(self.instances) or [self.unit]


@dataclass
class JobPlan:
    """A timer-fired job's cutover (revops.jobs): its unit's ExecStart= now and after the
    drop-in, the timers that fire it (left as they are). `exec_after` is empty when this
    machine has no compose tool to name (`compose_missing` says why): a dry run still shows
    the rest, a real run stops at preflight."""

    timers: list[str]
    exec_before: list[str]  # [program, arg1, ...] as the unit's files say
    exec_after: list[str]  # jobs.run_argv: one `compose run --rm` of the job's service
    dropin: str  # the drop-in's file name: 50-revops-job-container.conf
    venv: str | None = None  # what the unit ran from (for the ledger's repoints record)
    compose_missing: str | None = None

    def repoint(self, unit: str, service: str) -> Repoint:
        """The Repoint step pair's data (revops.repoint): no restart, the timer fires it."""
        return Repoint(unit=unit, purpose=jobs.PURPOSE, argv=tuple(self.exec_after), before=tuple(self.exec_before),
                       uses_before=self.venv, uses_after=f"compose service {service}", restart=False,
                       note=f"a job: its timer fires it; each run is a fresh container of compose service {service}")


@dataclass(frozen=True)
class Skipped:
    unit: str
    reason: str


@dataclass
class RetirePlan:
    """A unit `retire:` names (revops.migrate.retire), in the last phase's plan: `reason` is
    retire:'s words and when it goes. It is retired (its steps run after the run's services)
    when `ready` (no unit left under systemd after this phase runs from a venv) and each of
    `after` (the run's units that run from a venv now) has migrated; `retired_by`: the run
    that retired it already (the ledger), nothing to do then."""

    unit: str
    reason: str
    timers: list[str] = field(default_factory=list)  # its .timer units, stopped and disabled with it
    ready: bool = False
    after: list[str] = field(default_factory=list)
    retired_by: int | None = None
    steps: list[Step] = field(default_factory=list)  # empty unless it is retired by this run
    # unit files by unit name, relative to the host root: a put-back links again what was linked
    fragments: dict[str, str] = field(default_factory=dict)
    # with mask_on_migrate: the unit and timers its disable step will not mask, with why
    not_masked: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Blocker:
    """A service of an earlier phase that is not verified healthy in its container now."""

    unit: str
    phase: int
    reason: str


@dataclass
class Gate:
    ok: bool  # the phase may start (every earlier service verified, or forced)
    blockers: list[Blocker] = field(default_factory=list)
    forced_reason: str | None = None


@dataclass
class Plan:
    phase: int
    services: list[ServicePlan]
    skipped: list[Skipped]
    gate: Gate
    compose_files: list[str]
    mask: bool
    # Units an earlier run left half-way, settled (after confirmation) before this plan runs.
    unsettled: list[str] = field(default_factory=list)
    parallel: int = 1  # at most this many services in flight at once
    # How many live units of the host revops.yaml gives a destination; `last_phase`: no suite
    # has a later phase, so what has none is left where it is when this phase is done.
    coverage: coverage_mod.Coverage | None = None
    last_phase: bool = False
    # The last phase's plan: the units revops.yaml retires (`retire:`), each with its reason,
    # whether the condition holds (no unit left under systemd runs from a venv) and, when it
    # does, the steps that stop and disable it after the run's services.
    retire: list[RetirePlan] = field(default_factory=list)
    # One-shot set-ups of the phase (Type=oneshot, no timer; others are After= them), each
    # with what happens to it (see SETUP_WORDS): not cut over, said plainly.
    setups: list[Skipped] = field(default_factory=list)

    @property
    def jobs(self) -> list[ServicePlan]:
        return [sp for sp in self.services if sp.kind == KIND_JOB]

    @property
    def retiring(self) -> list[RetirePlan]:
        """The retire items this run executes (after its services)."""
        return [r for r in self.retire if r.steps]

    def left_without_destination(self) -> str | None:
        """The plain sentence migrate and cleanup say after the last phase, or None."""
        if self.coverage is None or self.coverage.complete or not self.last_phase:
            return None
        left = self.coverage.uncovered
        return (f"{len(left)} live unit(s) are left without a destination after this last phase "
                f"({self.coverage.figure()}): {', '.join(left)}; they stay under systemd as they are "
                "(`revops suites suggest` proposes a destination for each)")

    @property
    def units(self) -> list[str]:
        return [s.unit for s in self.services]

    @property
    def waves(self) -> list[list[str]]:
        """The services by wave (see `waves`): what --dry-run shows."""
        return waves(self.services)


@dataclass(frozen=True)
class EarlierHealth:
    """What the caller read, now, about one service of an earlier phase."""

    unit: str
    phase: int
    state: str | None  # the ledger's service state
    healthy: bool
    reason: str | None  # why not healthy (status code, connection refused, ...)


def cutover_deadline(health: Health) -> float:
    """Docker marks a container unhealthy after start_period + retries failed intervals;
    wait that long plus one interval and the check's own timeout, then give up."""
    return health.verdict_window_s()


def unit_name(name: str) -> str:
    return name if "." in name else f"{name}.service"


def migratable_units(inventory: Inventory, config: Config, phase: int) -> list[Unit]:
    """The units of the phase's suites: no templates, nothing deprecated."""
    chosen = []
    for unit in inventory.units:
        if "@." in unit.name or config.is_deprecated(unit.name) or unit.deprecated:
            continue
        suite = config.suite_of(unit.name)
        if suite is not None and suite.phase == phase:
            chosen.append(unit)
    return chosen


def phase_of_services(inventory: Inventory, config: Config, names: Iterable[str]) -> int:
    """The one phase `--service NAME...` belongs to (when --phase was not given)."""
    phases = set()
    for name in names:
        suite = config.suite_of(unit_name(name))
        if suite is None or inventory.unit(unit_name(name)) is None:
            raise UsageError(f"--service {name}: not a unit of any suite in {config.path}")
        phases.add(suite.phase)
    if len(phases) != 1:
        raise UsageError(f"--service names services of phases {sorted(phases)}; give one phase at a time")
    return phases.pop()


def order(units: list[Unit]) -> list[Unit]:
    """Dependencies first (After=/Requires= among these units), ties by name; a cycle is an error."""
    by_name = {u.name: u for u in units}
    needs = {u.name: sorted({d for d in (*u.after, *u.requires) if d in by_name and d != u.name})
             for u in units}
    done: list[str] = []
    waiting = dict(needs)
    while waiting:
        ready = sorted(n for n, deps in waiting.items() if all(d in done for d in deps))
        if not ready:
            raise CheckFailed("the units' After=/Requires= form a cycle: " + ", ".join(sorted(waiting)),
                              hint="break the cycle in the unit files or revops.yaml suites")
        done.append(ready[0])
        del waiting[ready[0]]
    return [by_name[n] for n in done]


def waves(services: list[ServicePlan]) -> list[list[str]]:
    """The services in waves: wave 1 depends on nothing in the run, wave N+1 on something of
    wave N at most. Within a wave the plan's order is kept (dependencies first, ties by name).

    A wave is how the plan is shown, not a barrier: the executor starts a service as soon as
    everything it depends on is done. `after` holds only units of the same run, and `order`
    has already refused a cycle."""
    level: dict[str, int] = {}
    for sp in services:  # dependencies come first in a plan's order
        level[sp.unit] = 1 + max((level[d] for d in sp.after if d in level), default=0)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=0))]
    for sp in services:
        out[level[sp.unit] - 1].append(sp.unit)
    return out


def default_parallel(cpus: int | None) -> int:
    """How many services a run cuts over at once unless --parallel says: PARALLEL_PER_CPU per
    core, between 2 and MAX_DEFAULT_PARALLEL (14 on a 2-core host).

    A service in flight spends most of its time waiting (on its /health, on Docker's first
    health check one interval after start), not computing: about 2.5 CPU-seconds per service
    (two container starts, the engine's work, systemd's reloads; its share of one compose
    process; 114-141 CPU-seconds for the example host's 48 lead-gen services) in a window of
    up to one health interval. Measured there, on 2 cores, one run each on one host: 12 in
    flight took 120.9 s, 14 took 101.8 s, 16 took 97.8 s, with the cores 53-60 % busy; the
    median window with no /health answer grew with them (2.1, 2.6, 2.8 s), as the engine's start
    of a container slowed under load. Seven per core keeps most of the gain of eight; against
    serial it was 9.3x and 8.8x in two --compare runs (the goal of issue 16: 8x), where 12 gave
    7.9x and 8.1x. Since an API's outage goes first at the engine (revops/migrate/outages.py),
    14 in flight no longer costs the APIs' windows much: 1.02 s median against 0.78 s serial,
    at 9.5x (one --compare run). bench/bench_cutover.py measures it; the figures are in the
    README ("Waves")."""
    return max(2, min(MAX_DEFAULT_PARALLEL, PARALLEL_PER_CPU * (cpus or 1)))


def preverify_mode(suite: Suite | None, port: int | None) -> str:
    """How a service is proven before its unit stops: what its suite says in revops.yaml, else
    by kind. A service with a port gets a full candidate (its own process, on an ephemeral
    loopback port, gated on /health): it serves requests only when asked. One without a port
    (a worker, scheduler or consumer) would take jobs or fire beside its unit, so it gets the
    import check, which runs none of its code but the entry module's import."""
    if suite is not None and suite.preverify is not None:
        return suite.preverify
    return PREVERIFY_FULL if port is not None else PREVERIFY_IMPORT


def gate(earlier: list[EarlierHealth], force_reason: str | None) -> Gate:
    """A phase starts only when every service of the phases before it is migrated and healthy."""
    blockers = []
    for svc in earlier:
        if svc.state != MIGRATED:
            blockers.append(Blocker(svc.unit, svc.phase, f"not migrated (ledger: {svc.state or 'no record'})"))
        elif not svc.healthy:
            blockers.append(Blocker(svc.unit, svc.phase, f"not healthy now: {svc.reason or 'unknown'}"))
    if not blockers:
        return Gate(ok=True)
    return Gate(ok=force_reason is not None, blockers=blockers, forced_reason=force_reason)


def steps_for(unit: Unit, config: Config, url: str | None, deadline: float, compose: str,
              preverify: str = PREVERIFY_OFF, secret: str | None = None,
              mask_blockers: Mapping[str, str] | None = None) -> list[Step]:
    svc = unit.service_name
    port = f"port {unit.port} freed" if unit.port else "no port"
    publish = f", publishing {config.health.bind_address}:{unit.port}" if unit.port else ""
    gate = f"GET {url} answering 2xx (Docker's health catches up later)" if url else "Docker health 'healthy'"
    disable = disable_words([unit.name], config.mask_on_migrate, mask_blockers or {},
                            " so a reboot does not start both")
    steps = [Step(PREFLIGHT, f"checks unit, port, lock, {compose}" + (f" and {config.secrets_path}" if secret else "")
                             + f"; builds image and creates container {svc} (not started)")]
    if secret:
        steps.append(Step(WRITE_SECRET, f"writes {config.secrets_path / secret} (uid of the container, mode 0400) from "
                                         f"{unit.name}'s EnvironmentFile= and secret Environment= values"))
    if preverify != PREVERIFY_OFF:
        steps.append(Step(VERIFY_CANDIDATE, _candidate_words(unit, preverify, url, deadline)))
    return steps + [
        Step(STOP_UNIT, f"stops {unit.name} alone (units that Require= it keep running) and waits until inactive ({port})"),
        Step(START_CONTAINER, f"starts container {svc}{publish}"),
        Step(WAIT_HEALTHY, f"waits up to {deadline:g}s for {gate}; "
                           f"else removes the container and starts {unit.name} again"),
        Step(DISABLE_UNIT, disable),
    ]


def _candidate_words(unit: Unit, preverify: str, url: str | None, deadline: float) -> str:
    untouched = f"; {unit.name} keeps running throughout, and stays if this fails"
    if preverify == PREVERIFY_IMPORT:
        return ("imports the entry module (the argv's script compiles) in the image, with the container's "
                "environment and user, no network; runs none of its code" + untouched)
    gate = (f"its /health answering 2xx on an ephemeral 127.0.0.1 port (as {url} will)" if url
            else "Docker health 'healthy'")
    return (f"runs a candidate container of {unit.service_name} (same image, env, user, command) "
            f"beside the unit, waits up to {deadline:g}s for {gate}, removes it" + untouched)


def service_plan(unit: Unit, config: Config, compose_files: list[str], within: set[str] | None = None,
                 compose: Sequence[str] | None = None, compose_missing: str | None = None,
                 instances: Sequence[str] = (), mask_blockers: Mapping[str, str] | None = None) -> ServicePlan:
    """The cutover of one unit; `within` limits `after` to the units of the same run. A job
    (fired by a timer: generate.mapping.unit_kind) gets a JobPlan, its new ExecStart= run by
    `compose` (the host's compose argv; None: `compose_missing` says why there is none).
    `instances`: `unit` is a template standing for them (instances.merged), cut over as the
    one compose service with replicas generate made of them (replica_plan). `mask_blockers`:
    {unit: why its mask cannot be placed} (wiring.mask_blockers): what its disable step leaves
    unmasked with mask_on_migrate."""
    blockers = _not_masked([*instances] or [unit.name], config, mask_blockers)
    if instances:
        return replica_plan(unit, config, compose_files, list(instances), within, blockers)
    suite = config.suite_of(unit.name)
    url = config.health.url(unit.port)
    deadline = cutover_deadline(config.health)
    deps = dict.fromkeys(d for d in (*unit.after, *unit.requires)
                         if (within is None or d in within) and d != unit.name)
    preverify = preverify_mode(suite, unit.port)
    withheld = tuple(split_environment(unit, config.secrets_allow)[1])
    secret = secret_name(unit.service_name) if unit.environment_files or withheld else None
    files = ", ".join(compose_files) or "the compose file"
    if unit_kind(unit) == JOB:
        job = job_plan(unit, compose_files, compose, compose_missing)
        return ServicePlan(
            unit=unit.name, service=unit.service_name, suite=suite.name if suite else None,
            phase=suite.phase if suite else 0, port=None, health_url=None, deadline_s=deadline,
            fragment=unit.path, after=list(deps), preverify=PREVERIFY_IMPORT,
            steps=job_steps(unit, config, job, files, secret), secret=secret, secret_keys=withheld,
            kind=KIND_JOB, job=job)
    return ServicePlan(
        unit=unit.name, service=unit.service_name, suite=suite.name if suite else None,
        phase=suite.phase if suite else 0, port=unit.port, health_url=url, deadline_s=deadline,
        fragment=unit.path, after=list(deps), preverify=preverify,
        steps=steps_for(unit, config, url, deadline, files, preverify, secret, blockers),
        secret=secret, secret_keys=withheld, instances_as=I.words(unit.name, ()), not_masked=blockers,
    )


def replica_plan(unit: Unit, config: Config, compose_files: list[str], instances: list[str],
                 within: set[str] | None = None, not_masked: Mapping[str, str] | None = None) -> ServicePlan:
    """A template's numbered instances as one item: its compose service (generate's
    `deploy.replicas`, one replica per instance) replaces them all at once. Replicas serve no
    port (generate refuses to replicate instances that publish one), so the candidate is the
    import check and the gate Docker's health of every replica."""
    suite = config.suite_of(instances[0])
    deadline = cutover_deadline(config.health)
    service = I.compose_name(unit.name)
    deps = dict.fromkeys(d for d in (*unit.after, *unit.requires)
                         if (within is None or d in within) and d != unit.name)
    withheld = tuple(split_environment(unit, config.secrets_allow)[1])
    # the name generate gives the replicated service's secret (from the template's name)
    secret = secret_name(unit.service_name) if unit.environment_files or withheld else None
    preverify = preverify_mode(suite, None)
    files = ", ".join(compose_files) or "the compose file"
    return ServicePlan(
        unit=unit.name, service=service, suite=suite.name if suite else None, phase=suite.phase if suite else 0,
        port=None, health_url=None, deadline_s=deadline, fragment=unit.path, after=list(deps), preverify=preverify,
        steps=replica_steps(unit.name, service, instances, config, deadline, files, preverify, secret, not_masked),
        secret=secret, secret_keys=withheld, instances=list(instances), instances_as=I.REPLICAS,
        not_masked=dict(not_masked or {}))


def replica_steps(template: str, service: str, instances: list[str], config: Config, deadline: float,
                  compose: str, preverify: str, secret: str | None,
                  mask_blockers: Mapping[str, str] | None = None) -> list[Step]:
    """A replicated template's cutover: every instance stopped, the service started with one
    replica per instance, gated on all of them healthy; else every instance started again."""
    n = len(instances)
    names = ", ".join(instances)
    steps = [Step(PREFLIGHT, f"checks {names}, lock, {compose}" + (f" and {config.secrets_path}" if secret else "")
                             + f"; builds image and creates compose service {service}'s {n} replica containers "
                               "(not started)")]
    if secret:
        steps.append(Step(WRITE_SECRET, f"writes {config.secrets_path / secret} (uid of the container, mode 0400) from "
                                         f"{template}'s EnvironmentFile= and secret Environment= values"))
    if preverify == PREVERIFY_IMPORT:
        steps.append(Step(VERIFY_CANDIDATE, "imports the entry module of the replicas' command (the argv the "
                                            "replica wrapper runs, %i as 1) in the image, with the container's "
                                            "environment and user, no network; runs none of its code; "
                                            f"{names} keep running throughout, and stay if this fails"))
    elif preverify == PREVERIFY_FULL:
        steps.append(Step(VERIFY_CANDIDATE, f"runs a candidate container of {service} beside the instances, waits "
                                            f"up to {deadline:g}s for Docker health 'healthy', removes it; {names} "
                                            "keep running throughout, and stay if this fails"))
    disable = disable_words(instances, config.mask_on_migrate, mask_blockers or {}, " so a reboot does not start both")
    return steps + [
        Step(STOP_UNIT, f"stops {names}, each alone, and waits until each is inactive"),
        Step(START_CONTAINER, f"starts compose service {service} with its {n} replicas, one per instance "
                              "(compose up; %i is each replica's number)"),
        Step(WAIT_HEALTHY, f"waits up to {deadline:g}s for all {n} replicas to be Docker health 'healthy' (or "
                           f"running, without a check); else removes them and starts {names} again"),
        Step(DISABLE_UNIT, disable),
    ]


def disable_words(names: Sequence[str], mask: bool, blockers: Mapping[str, str], why: str) -> str:
    """The disable step's words, before anything runs: with `mask` (mask_on_migrate), which
    units it masks and which it only disables, each with the reason (`blockers`: {unit: why
    its mask cannot be placed}, wiring.mask_blockers); `why` follows the disable."""
    listed = ", ".join(names)
    if not mask:
        return f"disables {listed}{why}"
    masked = [n for n in names if n not in blockers]
    kept = [n for n in names if n in blockers]
    if not kept:
        return f"disables {listed} and masks {'it' if len(names) == 1 else 'them'}{why}"
    them = "it" if len(names) == 1 else ", ".join(kept)
    words = f"disables {listed}" + (f" and masks {', '.join(masked)}" if masked else "") + why
    return words + f"; does not mask {them} (mask_on_migrate): " + "; ".join(
        (blockers[n] if len(names) == 1 else f"{n}: {blockers[n]}") for n in kept)


def _not_masked(names: Sequence[str], config: Config, blockers: Mapping[str, str] | None) -> dict[str, str]:
    """{unit: why} of `names` whose mask cannot be placed; empty without mask_on_migrate."""
    if not config.mask_on_migrate or not blockers:
        return {}
    return {n: blockers[n] for n in names if n in blockers}


def job_plan(unit: Unit, compose_files: list[str], compose: Sequence[str] | None,
             compose_missing: str | None = None) -> JobPlan:
    """What a job's unit runs now and will run (jobs.run_argv of its compose service)."""
    after = list(jobs.run_argv(compose, compose_files, unit.service_name)) if compose else []
    return JobPlan(timers=[t.name for t in unit.timers if not t.masked],
                   exec_before=list(unit.exec_start[0]) if unit.exec_start else [],
                   exec_after=after, dropin=dropins.filename(jobs.PURPOSE), venv=unit.venv,
                   compose_missing=None if compose else (compose_missing or "no compose tool given"))


def job_steps(unit: Unit, config: Config, job: JobPlan, compose: str, secret: str | None) -> list[Step]:
    """A job's cutover: the image proven to hold its code without running it (running a job
    has side effects: a backup, a vacuum, an import), then its unit repointed between runs.
    Nothing is started: the timer (OnCalendar=, Persistent=, RandomizedDelaySec= untouched)
    fires the repointed unit at its next trigger, and the container's exit is its Result."""
    timers = ", ".join(job.timers)
    new = exec_words(job.exec_after) if job.exec_after else f"(unknown: {job.compose_missing})"
    steps = [Step(PREFLIGHT, f"checks unit, lock, {compose}" + (f" and {config.secrets_path}" if secret else "")
                             + f"; builds image and creates container {unit.service_name} (never started)")]
    if secret:
        steps.append(Step(WRITE_SECRET, f"writes {config.secrets_path / secret} (uid of the container, mode 0400) from "
                                         f"{unit.name}'s EnvironmentFile= and secret Environment= values"))
    return steps + [
        Step(VERIFY_CANDIDATE, "imports the job's entry module (the argv's script compiles) in the image, with the "
                               "container's environment and user, no network, mounts read-only; runs none of its code; "
                               f"then removes the created container ({unit.name} untouched if this fails)"),
        Step(BETWEEN_RUNS, f"reads {unit.name}'s ActiveState/SubState now: refused while the job runs "
                           "(the unit untouched; migrate again between runs)"),
        Step(REPOINT_UNIT, f"writes {unit.name}.d/{job.dropin} (User=, Environment=, EnvironmentFile= and "
                           f"RestrictAddressFamilies= reset: the compose client runs, not the job; ExecStart= "
                           f"reset, then ExecStart={new}), "
                           f"daemon-reload, checks systemd reads exactly that; no restart: {timers or 'its timer'} "
                           f"fires it at its next trigger, unchanged (was ExecStart="
                           f"{exec_words(job.exec_before)})"),
    ]


def exec_words(argv: Sequence[str]) -> str:
    """An ExecStart= value to show: as the drop-in would write it (dropins.exec_line), or, for a
    command systemd itself would refuse (a unit file's argv is untrusted), shell-quoted words."""
    if not argv:
        return "?"
    try:
        return dropins.exec_line(argv)
    except dropins.DropinError:
        return " ".join(shlex.quote(w) for w in argv) + " (as the unit file has it)"


def setup_words(unit: Unit, dependents: list[str]) -> str:
    """What migrate does with a one-shot set-up (Type=oneshot, no timer, others After= it).

    Nothing: its unit stays under systemd, enabled, as it is. It runs no process between runs
    to stop; disabling it would skip the set-up at the next boot for the units still under
    systemd that are After= it; and its compose service already runs it, from the image,
    before its compose dependents whenever `compose up` starts them together (`depends_on:
    condition: service_completed_successfully`, generate). A cutover starts one container with
    --no-deps, so migrate never runs it a second time. Once none of them is left under systemd,
    the last phase retires it (freed_setups)."""
    who = f" ({', '.join(dependents)} are After= it)" if dependents else ""
    return (f"a one-shot set-up{who}: not cut over; its unit stays under systemd, enabled and unchanged (it runs at "
            "boot before the units still there), and compose runs its container before its compose dependents "
            "(condition: service_completed_successfully) when `compose up` starts them"
            + ("; once every one of them runs in a container, the last phase retires it" if dependents else ""))


def build(
    inventory: Inventory,
    config: Config,
    phase: int,
    *,
    only: Iterable[str] = (),
    states: Mapping[str, str] | None = None,
    earlier: list[EarlierHealth] | None = None,
    force_reason: str | None = None,
    compose_files: list[str] | None = None,
    compose_units: Mapping[str, str] | None = None,
    parallel: int = 1,
    compose: Sequence[str] | None = None,
    compose_missing: str | None = None,
    target: str = TARGET_COMPOSE,
    retired: Mapping[str, int] | None = None,
    mask_blockers: Mapping[str, str] | None = None,
) -> Plan:
    """The plan of one `revops migrate` run. `compose_units` ({unit: compose service}, from the
    compose file's revops.unit labels) limits it to the units generate gave a container;
    `parallel` (at least 1) is how many services may be in flight at once; `compose` is the
    host's compose argv (compose.detect()), which a job's new ExecStart= runs (None: the plan
    says `compose_missing` instead); `retired` ({unit: run}, the ledger's) the `retire:` units
    retired already; `mask_blockers` ({unit: why}, wiring.mask_blockers) the units whose mask
    cannot be placed, which the disable steps then only disable (with mask_on_migrate).

    A timer-fired job is an item of its own kind (KIND_JOB, job_steps), in the wave after the
    services of the run it is After=/Requires=; a one-shot set-up is not cut over (setups,
    setup_words). On another `target` than compose, jobs stay under systemd (JOBS_STAY)."""
    if parallel < 1:
        raise UsageError(f"--parallel {parallel}: expected at least 1 service at a time")
    states = states or {}
    units = migratable_units(inventory, config, phase)
    if not units:
        raise UsageError(f"phase {phase}: no unit of any suite in {config.path} belongs to it")
    unreviewed = sorted(s.name for s in config.suites if s.phase == phase and s.suggested)
    if unreviewed:
        raise UsageError(f"phase {phase}: suite(s) {', '.join(unreviewed)} in {config.path} are marked "
                         "`suggested: true` (proposed by `revops suites suggest`): review their units, "
                         "then remove the key")
    # A replicated template's instances are one item, named for the template (instances.py).
    items = I.items(units, compose_units)
    grouped = {it.unit.name: list(it.instances) for it in items if it.instances}
    member_of = {i: t for t, names in grouped.items() for i in names}
    units = [it.unit for it in items]
    wanted = {member_of.get(unit_name(n), unit_name(n)) for n in only}
    unknown = wanted - {u.name for u in units}
    if unknown:
        raise UsageError(f"--service {', '.join(sorted(unknown))}: not a unit of phase {phase}")
    # A group is migrated when every instance is (the ledger keeps each instance's state).
    states = {**states, **{t: MIGRATED for t, names in grouped.items() if all(states.get(i) == MIGRATED for i in names)}}
    chosen = [u for u in units if not wanted or u.name in wanted]
    skipped = []
    if compose_units is not None:
        skipped += [Skipped(u.name, "no service in the compose file (see `revops generate`)")
                    for u in chosen if u.name not in compose_units]
        chosen = [u for u in chosen if u.name in compose_units]
    setups = [u for u in chosen if unit_kind(u) == SETUP]
    setup_items = [Skipped(u.name, setup_words(u, _dependents(inventory, u))) for u in setups]
    chosen = [u for u in chosen if u not in setups]
    odd_jobs = [u for u in chosen if unit_kind(u) == JOB and len(u.exec_start) != 1]
    skipped += [Skipped(u.name, f"a job with {len(u.exec_start)} ExecStart= lines: its compose service runs one "
                        "command; split it or keep it on the host (`keep_on_host:`)") for u in odd_jobs]
    chosen = [u for u in chosen if u not in odd_jobs]
    if target != TARGET_COMPOSE:
        skipped += [Skipped(u.name, JOBS_STAY.format(target=target)) for u in chosen if unit_kind(u) == JOB]
        chosen = [u for u in chosen if unit_kind(u) != JOB]
        skipped += [Skipped(u.name, INSTANCES_STAY.format(target=target, n=len(grouped[u.name])))
                    for u in chosen if u.name in grouped]
        chosen = [u for u in chosen if u.name not in grouped]
    skipped += [Skipped(u.name, "already migrated") for u in chosen if states.get(u.name) == MIGRATED]
    todo = order([I.deps_on_groups(u, member_of) for u in chosen if states.get(u.name) != MIGRATED])
    files = list(compose_files or [])
    todo_names = {t.name for t in todo}
    services = [service_plan(unit, config, files, within=todo_names, compose=compose, compose_missing=compose_missing,
                             instances=grouped.get(unit.name, ()), mask_blockers=mask_blockers)
                for unit in todo]
    moving = todo_names | {i for t in todo_names for i in grouped.get(t, ())}
    last = phase >= max(s.phase for s in config.suites)
    return Plan(phase=phase, services=services, skipped=skipped, gate=gate(earlier or [], force_reason),
                compose_files=files, mask=config.mask_on_migrate, parallel=parallel,
                coverage=coverage_mod.measure(inventory, config),
                last_phase=last,
                retire=retire_plan(inventory, config, states, moving, retired, mask_blockers, member_of) if last else [],
                setups=setup_items)


def _dependents(inventory: Inventory, unit: Unit) -> list[str]:
    """The units that are After=/Requires= `unit`, by its name or an Alias= (what its set-up is for)."""
    names = {unit.name, *unit.aliases}
    return sorted(u.name for u in inventory.units if u.name != unit.name and names & {*u.after, *u.requires})


def retire_plan(inventory: Inventory, config: Config, states: Mapping[str, str], moving: set[str],
                retired: Mapping[str, int] | None = None,
                mask_blockers: Mapping[str, str] | None = None,
                member_of: Mapping[str, str] | None = None) -> list[RetirePlan]:
    """Each unit `retire:` names, with its reason and when it goes: once no unit that stays
    under systemd after this phase runs from a venv (a venv healer must outlive the venvs).
    `moving`: the units this run cuts over; `retired`: {unit: run} the ledger says retired;
    `member_of`: {instance: its template} of the run's replicated items, whose results carry the
    template's name (an item's `after` names what the run's results name).

    A one-shot set-up (setup_words) whose every dependent has left systemd is retired with
    them, though `retire:` does not name it (freed_setups): its unit set up only for them,
    and its compose service now runs it before them. Until then it stays, and counts among
    the units that run from a venv."""
    freed = freed_setups(inventory, config, states, moving)
    still = sorted(u.name for u in inventory.units
                   if u.venv and not (u.masked or u.deprecated or config.is_deprecated(u.name))
                   and config.retired(u.name) is None and states.get(u.name) != MIGRATED
                   and u.name not in moving and u.name not in freed)
    item_of = dict(member_of or {})
    after = sorted({item_of.get(u.name, u.name) for u in inventory.units if u.venv and u.name in moving})
    when = ("no unit left under systemd after this phase runs from a venv, so it can be retired (stopped and "
            "disabled, not migrated)" if not still else
            f"not yet: {len(still)} unit(s) still run from a venv after this phase ({', '.join(still[:5])}"
            f"{', ...' if len(still) > 5 else ''})")
    out = []
    for unit in sorted(inventory.units, key=lambda u: u.name):
        why = config.retired(unit.name)
        if unit.name in freed:
            why = setup_retire_words(freed[unit.name])
        if why is None or unit.masked:
            continue
        timers = [t.name for t in unit.timers if not t.masked]
        # a freed set-up waits for its own dependents of this run too, venv or not: one rolled
        # back runs under systemd again and needs it there
        first = sorted({*after, *(item_of.get(d, d) for d in freed.get(unit.name, ()) if d in moving)})
        item = RetirePlan(unit.name, f"{why}; {when}", timers=timers, ready=not still, after=first,
                          retired_by=(retired or {}).get(unit.name),
                          fragments={n: p for n, p in ((unit.name, unit.path),
                                                       *((t.name, t.path) for t in unit.timers if not t.masked)) if p})
        if item.retired_by is not None:
            item.reason = f"{why}; retired by run {item.retired_by} (`revops rollback {unit.name}` puts it back)"
        elif item.ready:
            item.not_masked = _not_masked([unit.name, *timers], config, mask_blockers)
            item.steps = retire_steps(unit.name, timers, config.mask_on_migrate, first, item.not_masked)
        out.append(item)
    return out


def live_dependents(inventory: Inventory, config: Config, unit: Unit) -> list[str]:
    """The units After=/Requires= `unit` that systemd runs: not masked, deprecated or `retire:`d."""
    return [name for name in _dependents(inventory, unit)
            if (dep := inventory.unit(name)) is not None and not (dep.masked or dep.deprecated)
            and not config.is_deprecated(name) and config.retired(name) is None]


def freed_setups(inventory: Inventory, config: Config, states: Mapping[str, str],
                 moving: set[str]) -> dict[str, list[str]]:
    """{set-up: its dependents} for each one-shot set-up of a suite (generate gave it a compose
    service) with at least one live dependent, every one of which is migrated (`states`, the
    ledger's) or cut over by this run (`moving`). A set-up nothing is After= is not freed: what
    it sets up is not known, so it stays under systemd."""
    out = {}
    for unit in inventory.units:
        if unit.masked or unit_kind(unit) != SETUP or config.suite_of(unit.name) is None:
            continue
        if config.retired(unit.name) is not None or config.is_deprecated(unit.name) or unit.deprecated:
            continue
        deps = live_dependents(inventory, config, unit)
        if deps and all(states.get(d) == MIGRATED or d in moving for d in deps) \
                and not _pulled_in(inventory, config, unit, states, moving):
            out[unit.name] = deps
    return out


def _pulled_in(inventory: Inventory, config: Config, setup: Unit, states: Mapping[str, str],
               moving: set[str]) -> bool:
    """Whether a unit systemd still starts after this run has Requires= or Wants= on `setup`
    (by its name or an Alias=): one neither migrated nor cut over now, or a job, which its
    cutover leaves a systemd unit its timer starts (jobs.run_argv). Its start would pull the
    set-up in: failing on its mask (Requires=), or running it from its venv again once it is
    only disabled (systemd.unit(5): Wants=, Requires= pull a unit in whatever its enablement)."""
    names = {setup.name, *setup.aliases}
    for unit in inventory.units:
        if unit.name == setup.name or not names & {*unit.requires, *unit.wants}:
            continue
        if unit.masked or unit.deprecated or config.is_deprecated(unit.name) or config.retired(unit.name) is not None:
            continue
        if unit_kind(unit) == JOB or not (states.get(unit.name) == MIGRATED or unit.name in moving):
            return True
    return False


def setup_retire_words(dependents: Sequence[str]) -> str:
    """Why a freed set-up is retired (freed_setups), in the plan's words."""
    names = ", ".join(dependents[:5]) + (", ..." if len(dependents) > 5 else "")
    return (f"a one-shot set-up whose every dependent ({names}) runs in a container now: compose runs its "
            "container before theirs (condition: service_completed_successfully), so its unit under systemd "
            "sets up nothing any more; retired with the old world, not migrated (`revops rollback` of it, or of "
            "a dependent, puts it back)")


def retire_steps(unit: str, timers: list[str], mask: bool, after: list[str],
                 mask_blockers: Mapping[str, str] | None = None) -> list[Step]:
    """What retiring one unit does (revops.migrate.retire.Retirer), after the run's services."""
    names = ", ".join([unit, *timers])
    first = (f"once {', '.join(after[:5])}{', ...' if len(after) > 5 else ''} migrated (else not retired: "
             "they would run from a venv again); " if after else "")
    stop = (f"{first}records {names}'s UnitFileState and ActiveState (LIVE) in the ledger, then stops "
            + (f"{', '.join(timers)} first (a timer left waiting would start it again), then " if timers else "")
            + f"{unit}, each alone, and waits until inactive")
    disable = (disable_words([unit, *timers], mask, mask_blockers or {}, " so a reboot starts none")
               + f"; `revops rollback {unit}` enables and starts again what was enabled and running")
    return [Step(R.RETIRE_STOP, stop), Step(R.RETIRE_DISABLE, disable)]


def earlier_units(inventory: Inventory, config: Config, phase: int,
                  compose_units: Mapping[str, str] | None = None) -> list[tuple[Unit, int]]:
    """The units of every phase before `phase`, with their phase (what the gate must verify).
    A one-shot set-up is not among them: migrate leaves it under systemd (setup_words). A
    replicated template's instances are one unit named for the template (instances.items)."""
    out = []
    for earlier_phase in range(1, phase):
        units = [it.unit for it in I.items(migratable_units(inventory, config, earlier_phase), compose_units)]
        out.extend((u, earlier_phase) for u in units
                   if (compose_units is None or u.name in compose_units) and unit_kind(u) != SETUP)
    return out
