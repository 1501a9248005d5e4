"""Pure judgement: from the figures of a service to its placement, flags and verdict.

Nothing here reads a source; tests feed it data. The rules, in on-call terms:
- a service *runs under* systemd when its unit is active, starting or restarting, and
  under Docker when its container is running or restarting;
- it is *healthy* when it runs somewhere and its /health answers 2xx (services without a
  port: when it runs somewhere and no health check says otherwise);
- *degraded* when healthy but something is off (runs under both, crash-looping elsewhere,
  a failed unit or unhealthy container beside the one that serves);
- *down* when the probe failed, or every source answered and it runs nowhere;
- *unknown* when the sources that would tell were unavailable.
A failed or unanswered probe is never healthy; an unavailable source is never read as "off".
A job (Type=oneshot, run by a timer) is fine while *idle*: inactive after a successful run.
A *retired* service (deprecated, or masked with no container) is judged and shown, but
never fails the run: nobody expects it to serve.
"""

from __future__ import annotations

from revops.status.figures import (
    HEALTHY, LIVE, UNAVAILABLE, UNHEALTHY, VERDICT_DEGRADED, VERDICT_DOWN, VERDICT_HEALTHY,
    VERDICT_UNKNOWN, ContainerFigure, HealthFigure, ServiceStatus, SystemdFigure,
)

# Runtime states, the same words for both managers.
RUNNING = "running"
STARTING = "starting"
RESTARTING = "restarting"  # crash loop: systemd auto-restart, Docker "restarting"
STOPPING = "stopping"
STOPPED = "stopped"
FAILED = "failed"
ABSENT = "absent"  # the manager has no such unit / the engine no such container
IDLE = "idle"  # a oneshot job between runs, its last run a success
RUNTIME_UNKNOWN = "unknown"

# Where a process is (or keeps trying to be) running.
_OCCUPIED = {RUNNING, STARTING, RESTARTING, STOPPING}


def systemd_runtime(fig: SystemdFigure, job: bool = False) -> str:
    if fig.provenance == UNAVAILABLE:
        return RUNTIME_UNKNOWN
    if fig.load_state in ("not-found", "masked") and fig.active_state in (None, "inactive"):
        return ABSENT
    if job and fig.active_state == "inactive" and fig.result == "success":
        return IDLE
    active, sub = fig.active_state, fig.sub_state
    if active in ("active", "reloading"):
        return RUNNING
    if active == "activating":
        return RESTARTING if sub == "auto-restart" else STARTING
    if active == "deactivating":
        return STOPPING
    if active == "failed":
        return FAILED
    if active == "inactive":
        return STOPPED
    return RUNTIME_UNKNOWN


def container_runtime(fig: ContainerFigure) -> str:
    if fig.provenance == UNAVAILABLE:
        return RUNTIME_UNKNOWN
    if not fig.present:
        return ABSENT
    if fig.state == "running":
        return RUNNING
    if fig.state == "restarting":
        return RESTARTING
    if fig.state == "removing":
        return STOPPING
    if fig.state == "dead":
        return FAILED
    if fig.state in ("exited", "created", "paused"):
        return STOPPED
    return RUNTIME_UNKNOWN


def placement(systemd: str, container: str) -> str:
    """systemd, docker, both, neither; unknown when a silent source could change the answer."""
    under_systemd = systemd in _OCCUPIED or systemd == IDLE
    under_docker = container in _OCCUPIED
    if under_systemd and under_docker:
        return "both"
    if under_systemd:
        return "systemd" if container != RUNTIME_UNKNOWN else "unknown"
    if under_docker:
        return "docker" if systemd != RUNTIME_UNKNOWN else "unknown"
    if RUNTIME_UNKNOWN in (systemd, container):
        return "unknown"
    return "neither"


def flags_for(systemd: str, container: str, where: str, container_fig: ContainerFigure,
              deprecated: bool, retired: bool = False) -> list[str]:
    flags = []
    if where == "both":
        flags.append("runs-under-both")
    if where == "neither" and not retired:  # a retired service is meant to run nowhere
        flags.append("runs-under-neither")
    if RESTARTING in (systemd, container):
        flags.append("crash-looping")
    if systemd == FAILED:
        flags.append("unit-failed")
    if container_fig.health == UNHEALTHY:
        flags.append("container-unhealthy")
    if container_fig.extra_replicas:  # its template's service runs replicas no instance accounts for
        flags.append("extra-replicas")
    if deprecated:
        flags.append("deprecated-running" if where in ("systemd", "docker", "both") else "deprecated")
    return flags


# The ledger's words (revops.migrate.plan) for where a service should be.
_LEDGER_SAYS_DOCKER = {"migrated"}
_LEDGER_SAYS_SYSTEMD = {"never-migrated", "rolled-back", "systemd"}


def ledger_flags(migration_state: str | None, where: str) -> list[str]:
    """A placement the ledger does not expect, or a migration left half-way."""
    if migration_state == "migrating":
        return ["migration-in-progress"]
    if migration_state in _LEDGER_SAYS_DOCKER and where == "systemd":
        return ["not-where-ledger-says"]
    if migration_state in _LEDGER_SAYS_SYSTEMD and where == "docker":
        return ["not-where-ledger-says"]
    return []


# Flags that turn "healthy" into "degraded": the service answers, but not cleanly.
_DEGRADING = {"runs-under-both", "runs-under-neither", "crash-looping", "unit-failed",
              "container-unhealthy", "extra-replicas", "deprecated-running", "not-where-ledger-says",
              "migration-in-progress"}


def verdict(systemd: str, container: str, where: str, health: HealthFigure,
            container_fig: ContainerFigure, flags: list[str]) -> tuple[str, str]:
    """(verdict, why) for one service."""
    serving = RUNNING in (systemd, container) or systemd == IDLE
    if health.provenance == LIVE and health.state == HEALTHY:
        return _healthy_or_degraded(flags, f"/health answered {health.status_code}")
    if health.provenance == LIVE and health.state == UNHEALTHY:
        return VERDICT_DOWN, f"/health failed: {health.reason or health.status_code}"
    if where == "neither":
        return VERDICT_DOWN, _nowhere(systemd, container)
    if health.url is not None:  # it has an endpoint, and the probe could not tell
        return VERDICT_UNKNOWN, f"/health unknown: {health.reason}"
    if systemd == IDLE and container != RUNNING:
        return _healthy_or_degraded(flags, "oneshot job, idle: its last run succeeded")
    if serving and not _only_unhealthy_container(systemd, container, container_fig):
        return _healthy_or_degraded(flags, f"running under {where}, no /health to probe")
    if serving:
        return VERDICT_DOWN, "its container's health check says unhealthy"
    if RUNTIME_UNKNOWN in (systemd, container):
        return VERDICT_UNKNOWN, "a source that would tell is unavailable"
    return VERDICT_DOWN, f"not running (systemd {systemd}, container {container})"


def _healthy_or_degraded(flags: list[str], why: str) -> tuple[str, str]:
    bad = [f for f in flags if f in _DEGRADING]
    if bad:
        return VERDICT_DEGRADED, f"{why}; but {', '.join(bad)}"
    return VERDICT_HEALTHY, why


def _only_unhealthy_container(systemd: str, container: str, fig: ContainerFigure) -> bool:
    return systemd != RUNNING and container == RUNNING and fig.health == UNHEALTHY


def _nowhere(systemd: str, container: str) -> str:
    return f"runs under neither systemd ({systemd}) nor Docker ({container})"


def is_masked(status: ServiceStatus) -> bool:
    """The manager's word on masking wins over the inventory's older one, which counts only
    when the bus was unavailable."""
    if status.systemd.provenance == LIVE:
        return status.systemd.load_state == "masked"
    return status.masked


def is_retired(status: ServiceStatus, container: str) -> bool:
    """Deprecated, or masked with no container running."""
    return status.deprecated or (status.masked and container not in _OCCUPIED)


def judge(status: ServiceStatus) -> ServiceStatus:
    """Fill runtime, placement, flags and verdict of a service from its figures (in place)."""
    s_rt = systemd_runtime(status.systemd, job=status.kind == "job")
    c_rt = container_runtime(status.container)
    status.masked = is_masked(status)
    status.retired = is_retired(status, c_rt)
    status.systemd.runtime = None if status.systemd.provenance == UNAVAILABLE else s_rt
    status.container.runtime = None if status.container.provenance == UNAVAILABLE else c_rt
    status.placement = placement(s_rt, c_rt)
    status.flags = flags_for(s_rt, c_rt, status.placement, status.container, status.deprecated,
                             status.retired)
    # A job revops repointed runs in a fresh container each time its timer fires: between
    # runs it is idle under systemd, which is where the ledger's "migrated" expects it.
    in_container = status.timer is not None and status.timer.runs_in == "container"
    status.flags += ledger_flags(status.migration.state, "docker" if in_container and status.placement == "systemd"
                                 else status.placement)
    if status.secret is not None and status.secret.outdated and c_rt == RUNNING:
        status.flags.append("older-secret")  # its env files changed since: `revops secrets rotate`
    status.verdict, status.why = verdict(s_rt, c_rt, status.placement, status.health,
                                         status.container, status.flags)
    return status
