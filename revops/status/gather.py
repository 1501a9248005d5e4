"""Reading the sources of `revops status`, all at once, each one to figures with provenance.

Each reader imports its adapter itself (systemd about 10 ms, the engine reader 9, http 42
with httpx, the ledger 21): a reader whose source is not asked (no ledger file yet) never pays
it, and `import revops.commands.status` stays under 10 ms for the flag checks.

One reader per source, run concurrently: systemd (every unit's properties, pipelined),
the Docker engine (one container listing filtered by label), /health
(every probe concurrent, short timeout), the ledger, and the secret copies (the digest each
container was started with, from the ledger, against what the env files give now). A reader that fails makes its figures
UNAVAILABLE with the source's own words, and the others still report.
"""

from __future__ import annotations

import importlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from revops.config import Config
from revops.model import Unit
from revops.status import replicas
from revops.status.figures import (
    CACHED, HEALTHY, LIVE, UNAVAILABLE, UNHEALTHY, UNKNOWN, ContainerFigure, HealthFigure,
    MigrationFigure, SecretFigure, SourceReport, SystemdFigure, TimerFigure,
)

if TYPE_CHECKING:
    from revops.adapters.docker_engine import ContainerState, ContainerSummary
    from revops.adapters.http import Probe
    from revops.adapters.systemd import UnitState

MANAGED_LABEL = "revops.managed=true"
UNIT_LABEL = "revops.unit"
ENGINE_TIMEOUT = 5  # seconds: on-call must not hang on a wedged engine
INSPECT_WORKERS = 8

# What each reader (and _secret_figure) imports, imported by read_all in the calling thread
# before any reader starts. Two readers importing, each in its own thread, modules that import
# each other can deadlock, and CPython then raises _DeadlockError in one of them: seen in CI as
# the timers reader's revops.jobs against the secrets reader's revops.generate.mapping, about
# one status in 40. Readers still import what they use; once loaded that is a lookup.
# tests/status/test_status_preload.py holds every function-level import here to this table.
READER_MODULES: dict[str, tuple[str, ...]] = {
    "read_systemd": ("revops.adapters.systemd",),
    "read_timers": ("revops.adapters.systemd", "revops.dropins", "revops.jobs"),
    "read_docker": ("revops.adapters.docker_engine",),
    "read_swarm": ("revops.adapters.swarm", "revops.status.swarm"),
    "read_health": ("revops.adapters.http",),
    "read_ledger": ("revops.adapters.ledger",),
    "read_secrets": ("revops.adapters.ledger", "revops.generate.mapping", "revops.secrets.versions",
                     "revops.secrets.copies"),
    "read_swarm_secrets": ("revops.adapters.swarm", "revops.generate.mapping", "revops.migrate.swarmhost"),
    "_secret_figure": ("revops.errors", "revops.generate.mapping", "revops.secrets.bundle"),
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class SourceRead:
    """What one reader returns: how the source answered, and a figure per unit it knows."""

    report: SourceReport
    figures: dict[str, Any] = field(default_factory=dict)
    # The ledger's: units `revops stabilize` repointed ({unit: RepointRecord}).
    repoints: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Readers: each returns a SourceRead and never raises for a source that is down.


def read_systemd(bus: str, names: list[str]) -> SourceRead:
    """Every unit's state, restarts and enablement from its manager, all asked at once.

    The adapter's listed_states(): one ListUnitsByPatterns for the load, active and sub states,
    then pipelined Gets of only what the listing lacks (UnitFileState, Result, NRestarts,
    MainPID; the states too for a unit not loaded). GetAll would make the manager serialize
    hundreds of properties per unit, about 4x the time.
    """
    from revops.adapters import systemd

    manager = systemd.connect(bus)
    checked_at = now_iso()
    states = manager.listed_states(names)
    figures = {name: _systemd_figure(states[name], checked_at) for name in names}
    detail = f"{len(names)} units, 1 ListUnitsByPatterns + pipelined Gets"
    return SourceRead(SourceReport("systemd", LIVE, checked_at, detail=detail), figures)


def read_timers(bus: str, timers: dict[str, str]) -> SourceRead:
    """The timers of the jobs ({unit: timer}), LIVE from the manager (one pipelined read)."""
    from revops.adapters import systemd

    from revops import dropins, jobs

    manager = systemd.connect(bus)
    checked_at = now_iso()
    states = manager.timer_states(sorted(set(timers.values())))
    figures = {unit: _timer_figure(timer, states[timer], checked_at) for unit, timer in timers.items()}
    ours = "/" + dropins.filename(jobs.PURPOSE)
    for unit, figure in figures.items():  # where its runs happen: revops' drop-in or not
        figure.dropin = next((p for p in manager.dropin_paths(unit) if p.endswith(ours)), None)
        figure.runs_in = "container" if figure.dropin else "host"
    detail = f"{len(states)} timers: LastTriggerUSec, NextElapseUSecRealtime; each job's DropInPaths"
    return SourceRead(SourceReport("timers", LIVE, checked_at, detail=detail), figures)


def _usec_iso(usec: int | None) -> str | None:
    if usec is None:
        return None
    return datetime.fromtimestamp(usec / 1_000_000, timezone.utc).isoformat(timespec="seconds")


def _timer_figure(timer: str, state: Any, checked_at: str) -> TimerFigure:
    return TimerFigure(LIVE, checked_at, timer=timer, last_trigger=_usec_iso(state.last_trigger_usec),
                       next_trigger=_usec_iso(state.next_elapse_usec))


def _systemd_figure(state: UnitState, checked_at: str) -> SystemdFigure:
    return SystemdFigure(
        provenance=LIVE, checked_at=checked_at,
        load_state=state.load_state, active_state=state.active_state, sub_state=state.sub_state,
        result=state.result, n_restarts=state.n_restarts, main_pid=state.main_pid,
        unit_file_state=state.unit_file_state,
    )


class Replacements(Protocol):
    """Where status finds what replaced each unit: one query, by the labels every generated
    service carries (revops.managed, revops.unit), newest first; then each one read in detail.
    This host's engine answers it from its containers (docker_engine.connect_reader); a Swarm
    target answers the same query from its services' tasks."""

    def list_containers(self, labels: Sequence[str] = (), *, all: bool = True) -> list[ContainerSummary]: ...
    def container_state(self, container: str) -> ContainerState | None: ...
    def close(self) -> None: ...


def read_docker(names: list[str], engine: Replacements | None = None,
                live_instances: Mapping[str, frozenset[int]] | None = None) -> SourceRead:
    """One listing of revops-managed containers, then an inspect of each (concurrently) for
    what the listing lacks: the restart count and the health check's exact state.

    A numbered instance of a template that generate made one replicated service gets the
    container of its own replica (status/replicas.py), or none with why; `live_instances`
    ({template: numbers}, replicas.expected() of the whole inventory) says which replicas the
    host's instances account for, so an extra one shows.

    connect_reader() talks to the engine's API directly (no SDK import, no version
    negotiation) when DOCKER_HOST is a socket or plain TCP."""
    if engine is None:
        from revops.adapters import docker_engine  # with the others, only when status reads

        engine = docker_engine.connect_reader(timeout=ENGINE_TIMEOUT)
    try:
        checked_at = now_iso()
        listed = engine.list_containers(labels=[MANAGED_LABEL])
        mine = _newest_per_unit(listed, set(names))
        claims = replicas.claims([n for n in names if n not in mine], replicas.sets(listed), live_instances or {})
        mine.update({name: claim.container for name, claim in claims.items() if claim.container is not None})
        with ThreadPoolExecutor(max_workers=INSPECT_WORKERS, thread_name_prefix="inspect") as pool:
            states = pool.map(engine.container_state, [c.id for c in mine.values()])
            inspected = dict(zip(mine, states))
    finally:
        engine.close()
    figures = {unit: _container_figure(mine[unit], inspected[unit], checked_at) for unit in mine}
    detail_of = getattr(engine, "cluster_detail", None)  # a Swarm target's per-service figures
    if detail_of is not None:
        for unit in mine:
            figures[unit].cluster = detail_of(mine[unit].id)
    for name in names:
        figures.setdefault(name, ContainerFigure(provenance=LIVE, checked_at=checked_at, present=False))
    for name, claim in claims.items():
        _as_replica(figures[name], claim)
    detail = (f"1 container listing ({len(listed)} with label {MANAGED_LABEL}) "
              f"+ {len(mine)} inspects")
    if claims:
        detail += f"; {len(claims)} instances read as their template's replicas"
    return SourceRead(SourceReport("docker", LIVE, checked_at, detail=detail), figures)


def read_swarm(config: Config, names: list[str]) -> SourceRead:
    """The replacements on the cluster: read_docker through status/swarm.py's Replacements."""
    from revops.adapters import swarm
    from revops.status.swarm import SwarmReplacements

    assert config.swarm is not None  # config.target_of checked it
    read = read_docker(names, SwarmReplacements(swarm.connect(config.swarm.manager, timeout=ENGINE_TIMEOUT), now_iso()))
    read.report.detail = f"the cluster's manager: nodes, services, tasks (3 requests); {read.report.detail}"
    return read


def _newest_per_unit(listed: list[ContainerSummary], names: set[str]) -> dict[str, ContainerSummary]:
    """unit -> its container; the engine lists newest first, so the first one wins."""
    mine: dict[str, ContainerSummary] = {}
    for c in listed:
        unit = (c.labels or {}).get(UNIT_LABEL)
        if unit in names and unit not in mine:
            mine[unit] = c
    return mine


def _as_replica(figure: ContainerFigure, claim: replicas.Claim) -> None:
    """An instance's figure says which replica it reads, and its service's other replicas."""
    figure.replica, figure.replica_of = claim.number, claim.template
    figure.replicas, figure.extra_replicas = claim.numbers, claim.extra
    if claim.container is None:
        figure.reason = claim.reason


def _container_figure(listed: ContainerSummary, state: ContainerState | None, checked_at: str) -> ContainerFigure:
    if state is None:  # removed between the listing and the inspect
        return ContainerFigure(provenance=LIVE, checked_at=checked_at, present=False,
                               reason=f"container {listed.name} was removed while being read")
    return ContainerFigure(
        provenance=LIVE, checked_at=checked_at, present=True, name=state.name, id=state.id[:12],
        state=state.status, running=state.status == "running", health=state.health or "none",
        image=state.image, restart_count=state.restart_count,
    )


def read_health(urls: dict[str, str], timeout: float) -> SourceRead:
    """Probe every URL at once; name -> HealthFigure."""
    from revops.adapters import http

    started = now_iso()
    probes = http.probe_many(urls, timeout=timeout)
    figures = {name: _health_figure(url, probes[name]) for name, url in urls.items()}
    detail = f"{len(urls)} concurrent GETs, timeout {timeout:g}s"
    return SourceRead(SourceReport("health", LIVE, started, detail=detail), figures)


def _health_figure(url: str, probe: Probe) -> HealthFigure:
    """A probe that answered is LIVE (healthy or unhealthy); one that could not tell is UNAVAILABLE."""
    latency = None if probe.latency_ms is None else round(probe.latency_ms, 1)
    if probe.state in (HEALTHY, UNHEALTHY):
        reason = None if probe.state == HEALTHY else (probe.error or f"HTTP {probe.status_code}")
        return HealthFigure(state=probe.state, provenance=LIVE, checked_at=probe.checked_at,
                            latency_ms=latency, reason=reason, url=url, status_code=probe.status_code)
    return HealthFigure(state=UNKNOWN, provenance=UNAVAILABLE, checked_at=probe.checked_at,
                        latency_ms=None, reason=probe.error or "no answer", url=url,
                        status_code=probe.status_code)


def read_ledger(database_url: str) -> SourceRead:
    """The ledger's per-service states (CACHED, with their time); no ledger: never migrated."""
    checked_at = now_iso()
    missing = _missing_sqlite_file(database_url)
    if missing is not None:
        report = SourceReport("ledger", LIVE, checked_at,
                              detail=f"no ledger at {missing}: nothing was ever migrated")
        return SourceRead(report, {})
    from revops.adapters import ledger as ledger_mod

    ledger = ledger_mod.open_ledger(database_url)
    try:
        records = ledger.service_states()
        repoints = ledger.repoints("stabilize")
    finally:
        ledger.close()
    figures = {
        name: MigrationFigure(provenance=CACHED, checked_at=rec.updated_at,
                              state=rec.migration_state, reason=rec.reason)
        for name, rec in records.items()
    }
    detail = f"{len(records)} service records in {ledger.url}"
    return SourceRead(SourceReport("ledger", CACHED, checked_at, detail=detail), figures, repoints)


def read_secrets(config: Config, units: list[Unit]) -> SourceRead:
    """For each unit the ledger says revops started with a secret copy: the digest it holds
    (CACHED, the ledger's) and the digest of what its unit and env files give now (LIVE).
    Needs root (the copies' directory is root's, mode 0700); a unit whose files cannot be
    read gets an UNAVAILABLE figure saying why."""
    checked_at = now_iso()
    if _missing_sqlite_file(config.database_url) is not None:
        return SourceRead(SourceReport("secrets", LIVE, checked_at, detail="no ledger: no copy was ever written"))
    from revops.adapters import ledger as ledger_mod
    from revops.generate.mapping import secret_name
    from revops.secrets import versions
    from revops.secrets.copies import Copies

    ledger = ledger_mod.open_ledger(config.database_url)
    try:
        held = versions.held(ledger.last_done(versions.HELD_STEPS))
    finally:
        ledger.close()
    copies = Copies(config.secrets_path)
    figures: dict[str, SecretFigure] = {}
    for unit in units:
        if unit.name not in held:
            continue
        digest, held_at = held[unit.name]
        figures[unit.name] = _secret_figure(config, unit, secret_name(unit.service_name), digest, held_at,
                                            copies.peek_digest, checked_at)
    detail = f"{len(figures)} copies compared with their env files"
    return SourceRead(SourceReport("secrets", LIVE, checked_at, detail=detail), figures)


def read_swarm_secrets(config: Config, units: list[Unit], cluster: Any = None) -> SourceRead:
    """On a Swarm target, for each unit whose service runs on the cluster with its env secret:
    the version it mounts (the digest its Docker secret's name carries, LIVE from the service's
    spec) against the one its unit and env files give now (LIVE), both `sha256:` and 12 hex
    (revops.migrate.swarmhost.secret_digest). One request to the manager for every service;
    a unit whose files cannot be read gets an UNAVAILABLE figure saying why."""
    from revops.adapters import swarm
    from revops.adapters.swarm import STACK_LABEL
    from revops.generate.mapping import secret_name
    from revops.migrate.swarmhost import secret_digest

    checked_at = now_iso()
    assert config.swarm is not None  # config.target_of checked it
    cluster = cluster or swarm.connect(config.swarm.manager, timeout=ENGINE_TIMEOUT)
    try:
        services = cluster.services([f"{STACK_LABEL}={config.swarm.stack}"])
    finally:
        cluster.close()
    by_unit = {s.container_labels.get("revops.unit") or s.labels.get("revops.unit"): s for s in services}
    figures: dict[str, SecretFigure] = {}
    for unit in units:
        svc = by_unit.get(unit.name)
        name = secret_name(unit.service_name)
        mounted = next((r.name for r in svc.secrets if r.file == name), None) if svc is not None else None
        if mounted is None:
            continue
        figures[unit.name] = _secret_figure(config, unit, mounted, f"sha256:{mounted.rsplit('-', 1)[-1]}",
                                            svc.update_completed or svc.created_at, secret_digest, checked_at)
    detail = f"{len(figures)} Docker secrets compared with their env files"
    return SourceRead(SourceReport("secrets", LIVE, checked_at, detail=detail), figures)


def _secret_figure(config: Config, unit: Unit, name: str, held: str, held_at: str | None,
                   digest: Callable[[bytes], str | None], checked_at: str) -> SecretFigure:
    """The held version against `digest` of what the unit and its env files give now (LIVE);
    UNAVAILABLE with why when they cannot be read."""
    from revops.errors import CheckFailed
    from revops.generate.mapping import split_environment
    from revops.secrets import bundle

    try:
        now = bundle.read(config.root, config.unit_dirs, unit.name, tuple(split_environment(unit, config.secrets_allow)[1]))
        current = digest(now.text())
    except (CheckFailed, OSError) as exc:
        why = getattr(exc, "message", None) or f"{exc.strerror or exc}"
        return SecretFigure(UNAVAILABLE, checked_at, reason=why, name=name, held=held, held_at=held_at)
    return SecretFigure(LIVE, checked_at, name=name, current=current, held=held, held_at=held_at,
                        outdated=current is not None and current != held)


def _missing_sqlite_file(url: str) -> Path | None:
    # Opening a SQLite ledger creates it; status must not, so look before opening.
    if not url.startswith("sqlite:///"):
        return None
    path = Path("/" + url[len("sqlite:///"):].lstrip("/"))
    return None if path.exists() else path


# ---------------------------------------------------------------------------------------
# Running them together


def _readers_called(config: Config, target: str | None, timers: bool) -> list[str]:
    """The names of the READER_MODULES entries read_all's readers will run. Without a ledger
    file the ledger and secrets readers import nothing, so nothing of theirs is loaded."""
    swarm = config.target_of(target) == "swarm"
    called = ["read_systemd", "read_health", "read_swarm" if swarm else "read_docker"]
    called += ["read_timers"] if timers else []
    if swarm:
        called += ["read_ledger", "read_swarm_secrets", "_secret_figure"]
    elif _missing_sqlite_file(config.database_url) is None:
        called += ["read_ledger", "read_secrets", "_secret_figure"]
    return called


def preload(readers: Sequence[str]) -> None:
    """Import, in the calling thread, the READER_MODULES of each named reader (see there why).
    An import that fails here is left to the reader, which reports it as its source's
    UNAVAILABLE reason."""
    for name in readers:
        for module in READER_MODULES[name]:
            try:
                importlib.import_module(module)
            except Exception:  # the reader meets it again and says so, with the other sources still read
                continue


def guarded(source: str, reader: Callable[[], SourceRead]) -> SourceRead:
    """Run a reader; a failure becomes an UNAVAILABLE report with the source's own words."""
    started = time.perf_counter()
    try:
        read = reader()
    except Exception as exc:  # any failure of a source is reported, never shown as a value
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        read = SourceRead(SourceReport(source, UNAVAILABLE, now_iso(), reason=message.strip()))
    read.report.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return read


def read_all(config: Config, units: list[Unit], target: str | None = None,
             live_instances: Mapping[str, frozenset[int]] | None = None) -> dict[str, SourceRead]:
    """Every source at once; `target` swarm reads the replacements from the cluster of
    revops.yaml `swarm:` instead of this host's engine. `live_instances`: read_docker's."""
    names = [u.name for u in units]
    urls = {u.name: url for u in units if (url := config.health.url(u.port))}
    docker = ((lambda: read_swarm(config, names)) if config.target_of(target) == "swarm"
              else (lambda: read_docker(names, live_instances=live_instances)))
    readers: dict[str, Callable[[], SourceRead]] = {
        "systemd": lambda: read_systemd(config.bus, names),
        "docker": docker,
        "health": lambda: read_health(urls, config.health.probe_timeout),
        "ledger": lambda: read_ledger(config.database_url),
        "secrets": ((lambda: read_swarm_secrets(config, units)) if config.target_of(target) == "swarm"
                    else (lambda: read_secrets(config, units))),
    }
    timers = {u.name: t.name for u in units for t in u.timers[:1] if not t.masked}
    if timers:
        readers["timers"] = lambda: read_timers(config.bus, timers)
    preload(_readers_called(config, target, bool(timers)))
    with ThreadPoolExecutor(max_workers=len(readers), thread_name_prefix="status") as pool:
        futures = {name: pool.submit(guarded, name, reader) for name, reader in readers.items()}
        return {name: f.result() for name, f in futures.items()}
