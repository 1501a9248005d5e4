"""What `revops status` reports, as data: one dataclass per figure, each with its provenance.

Every figure is LIVE (read now from its source), CACHED (from the inventory or the ledger,
with the time it was written) or UNAVAILABLE (its values null and `reason` saying why).
These dataclasses are the JSON contract of `revops status --json` (design.md): extend them,
never rename a field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from revops.model import CACHED, LIVE, UNAVAILABLE

__all__ = [
    "CACHED", "LIVE", "UNAVAILABLE", "SystemdFigure", "ContainerFigure", "HealthFigure",
    "MigrationFigure", "SecretFigure", "TimerFigure", "CoverageFigure", "ServiceStatus", "PhaseSummary", "Summary", "SourceReport", "StatusReport",
]

# health.state values (design.md)
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
UNKNOWN = "unknown"

# A service's verdict: the summary's categories.
VERDICT_HEALTHY = "healthy"
VERDICT_DEGRADED = "degraded"
VERDICT_DOWN = "down"
VERDICT_UNKNOWN = "unknown"
VERDICTS = (VERDICT_HEALTHY, VERDICT_DEGRADED, VERDICT_DOWN, VERDICT_UNKNOWN)


@dataclass
class SystemdFigure:
    """The unit as its systemd manager reports it."""

    provenance: str
    checked_at: str | None
    reason: str | None = None
    load_state: str | None = None  # loaded, not-found, masked, ...
    active_state: str | None = None  # active, activating, failed, inactive, ...
    sub_state: str | None = None  # running, auto-restart, dead, failed, ...
    result: str | None = None
    n_restarts: int | None = None
    main_pid: int | None = None
    unit_file_state: str | None = None  # enabled, disabled, masked, static, ...
    runtime: str | None = None  # see classify.systemd_runtime(); null when UNAVAILABLE


@dataclass
class ContainerFigure:
    """The revops-managed container of the service (label revops.unit), as the engine reports it."""

    provenance: str
    checked_at: str | None
    reason: str | None = None
    present: bool | None = None  # False: the engine answered and has no such container
    name: str | None = None
    id: str | None = None
    state: str | None = None  # running, restarting, exited, created, paused, dead
    running: bool | None = None
    health: str | None = None  # healthy, unhealthy, starting; "none" when no healthcheck
    image: str | None = None
    restart_count: int | None = None
    runtime: str | None = None  # see classify.container_runtime(); null when UNAVAILABLE
    # A Swarm target: the service's desired and running replicas, each task's node, state and
    # provenance (UNAVAILABLE on a node that is down), the update state (status/swarm.py).
    cluster: dict | None = None
    # A numbered instance of a template generate made one replicated compose service
    # (status/replicas.py): the replica read for it (compose's container-number, the number
    # its %i takes), the template labelling that service, the numbers of every replica the
    # engine has of it, and the containers of it that no live instance accounts for.
    # All null for any other service; `present` false and `reason` set when no replica has
    # the instance's number (another replica's figure is never shown in its place).
    replica: int | None = None
    replica_of: str | None = None
    replicas: list[int] | None = None
    extra_replicas: list[str] | None = None


@dataclass
class HealthFigure:
    """A GET of the service's /health on 127.0.0.1, made now."""

    state: str  # healthy, unhealthy, unknown
    provenance: str
    checked_at: str | None
    latency_ms: float | None = None
    reason: str | None = None
    url: str | None = None
    status_code: int | None = None


@dataclass
class MigrationFigure:
    """Where the ledger says the service is in its migration."""

    provenance: str
    checked_at: str | None  # the ledger's own time for CACHED; now when the ledger is absent
    reason: str | None = None
    state: str | None = None  # the ledger's word ("migrated", ...); "never-migrated" without a ledger


@dataclass
class SecretFigure:
    """The service's secret copy (what it may read, revops.secrets): the version its running
    container holds against the one its unit and env files give now, by keyed digest only.
    `current` is LIVE (read now); `held` is CACHED from the ledger (the step that last started
    the container with its copy, at `held_at`). Present only for a service with a container.
    On a Swarm target both are LIVE `sha256:` digests: `held` from the name of the Docker
    secret the service's spec mounts (`name`), read by status.gather.read_swarm_secrets."""

    provenance: str
    checked_at: str | None
    reason: str | None = None
    name: str | None = None  # the compose secret: "revpublish.env"
    current: str | None = None  # "hmac-sha256:..." of what the env files give now
    held: str | None = None  # "hmac-sha256:..." the container was last started with
    held_at: str | None = None
    outdated: bool | None = None  # True: the container holds an older version (rotate it)


@dataclass
class VenvFigure:
    """Which venv the unit runs from: its own (the inventory's word, CACHED) or its suite's
    (`revops stabilize`'s drop-in, the ledger's word, CACHED), with the restart count the ledger
    kept from before the repoint and systemd's count now (LIVE; a restart resets it)."""

    provenance: str
    checked_at: str | None
    reason: str | None = None
    path: str | None = None  # the venv, as the host sees it; None: the unit names none
    source: str = "own"  # "own" or "suite"
    restarts_before: int | None = None
    restarts_now: int | None = None


@dataclass
class TimerFigure:
    """A job's timer as its systemd manager reports it (org.freedesktop.systemd1.Timer): when it
    last fired, what the run gave (the service's Result) and when it fires next; times ISO 8601."""

    provenance: str
    checked_at: str | None
    reason: str | None = None
    timer: str | None = None
    last_trigger: str | None = None  # LastTriggerUSec; None: never fired
    next_trigger: str | None = None  # NextElapseUSecRealtime; None: nothing scheduled
    last_result: str | None = None  # the job's (service's) Result: success, exit-code, ...
    # Where the job's runs happen, LIVE from the manager's DropInPaths of the service: "container"
    # when revops' drop-in (revops.jobs, `revops migrate`) repoints it to `compose run --rm`,
    # "host" otherwise; `dropin` is that drop-in's path.
    runs_in: str | None = None
    dropin: str | None = None


@dataclass
class ServiceStatus:
    name: str  # the unit's name
    phase: int | None
    suite: str | None
    systemd: SystemdFigure
    container: ContainerFigure
    health: HealthFigure
    migration: MigrationFigure
    port: int | None = None  # CACHED from the inventory
    deprecated: bool = False  # listed under `deprecated:` in revops.yaml (CACHED in the inventory)
    kind: str = "daemon"  # "job" for Type=oneshot units (timer jobs): idle between runs is fine
    masked: bool = False  # masked in the inventory (CACHED) or by the manager (LIVE)
    retired: bool = False  # deprecated, or masked with no container: shown, never fails the run
    placement: str = "unknown"  # systemd, docker, both, neither, unknown
    verdict: str = VERDICT_UNKNOWN  # healthy, degraded, down, unknown
    flags: list[str] = field(default_factory=list)  # runs-under-both, runs-under-neither, ...
    why: str | None = None  # one line: the reason for the verdict
    secret: SecretFigure | None = None  # null for a service without a container or a copy
    venv: VenvFigure | None = None  # which venv it runs from (own or a suite venv)
    timer: TimerFigure | None = None  # a job fired by a timer: its last run and next trigger


@dataclass
class PhaseSummary:
    phase: int | None  # null for services in no suite
    total: int = 0
    healthy: int = 0
    degraded: int = 0
    down: int = 0
    unknown: int = 0
    retired: int = 0  # deprecated or masked: listed, not counted in the four verdicts nor the exit code


@dataclass
class Summary:
    total: int
    healthy: int
    degraded: int
    down: int
    unknown: int
    retired: int
    phases: list[PhaseSummary]
    runs_under_both: list[str]
    runs_under_neither: list[str]  # retired services are meant to run nowhere: not listed
    ok: bool  # every service in scope that is not retired is healthy somewhere
    exit_code: int


@dataclass
class SourceReport:
    """How one source answered this run: the services' figures carry the same provenance."""

    name: str  # inventory, systemd, docker, health, ledger
    provenance: str
    checked_at: str | None
    reason: str | None = None
    elapsed_ms: float | None = None
    detail: str | None = None  # what was asked, e.g. "1 ListUnitsByPatterns + 149 GetAll"


@dataclass
class CoverageFigure:
    """How many live units revops.yaml gives a destination (revops.coverage), CACHED: counted
    from the inventory scanned at `checked_at`; `uncovered` names the units without one."""

    provenance: str
    checked_at: str | None
    live: int
    covered: int
    uncovered: list[str] = field(default_factory=list)


@dataclass
class StatusReport:
    generated_at: str
    config: str
    filters: dict[str, list[str]]
    sources: list[SourceReport]
    services: list[ServiceStatus]
    summary: Summary
    coverage: CoverageFigure | None = None  # live units with a destination in revops.yaml

    @property
    def exit_code(self) -> int:
        """0 only when every service in scope is healthy somewhere (the summary decides)."""
        return self.summary.exit_code
