"""Builders of figures for the pure tests: one service's sources in a line."""

from __future__ import annotations

from revops.status.figures import (
    LIVE, UNAVAILABLE, UNKNOWN, ContainerFigure, HealthFigure, MigrationFigure, ServiceStatus,
    SystemdFigure,
)

T = "2026-11-22T03:00:00.000+00:00"


def unit(active: str = "active", sub: str = "running", load: str = "loaded",
         restarts: int = 0, file_state: str | None = "enabled", result: str = "success") -> SystemdFigure:
    return SystemdFigure(LIVE, T, load_state=load, active_state=active, sub_state=sub,
                         n_restarts=restarts, unit_file_state=file_state, result=result)


def no_bus(reason: str = "bus down") -> SystemdFigure:
    return SystemdFigure(UNAVAILABLE, T, reason=reason)


def container(state: str = "running", health: str = "healthy", restarts: int = 0) -> ContainerFigure:
    return ContainerFigure(LIVE, T, present=True, name="c", id="abc", state=state,
                           running=state == "running", health=health, image="img", restart_count=restarts)


def no_container() -> ContainerFigure:
    return ContainerFigure(LIVE, T, present=False)


def no_engine(reason: str = "engine down") -> ContainerFigure:
    return ContainerFigure(UNAVAILABLE, T, reason=reason)


def probe(state: str = "healthy", code: int | None = 200, reason: str | None = None) -> HealthFigure:
    return HealthFigure(state, LIVE, T, latency_ms=3.0, reason=reason,
                        url="http://127.0.0.1:8000/health", status_code=code)


def probe_failed(reason: str = "connection refused") -> HealthFigure:
    return HealthFigure("unhealthy", LIVE, T, latency_ms=0.4, reason=reason,
                        url="http://127.0.0.1:8000/health")


def no_port() -> HealthFigure:
    return HealthFigure(UNKNOWN, UNAVAILABLE, None, reason="no port")


def never() -> MigrationFigure:
    return MigrationFigure(LIVE, T, state="never-migrated")


def ledger(state: str) -> MigrationFigure:
    return MigrationFigure("CACHED", T, state=state)


def service(name: str = "a.service", *, systemd=None, ctr=None, health=None, migration=None,
            phase: int | None = 1, suite: str | None = "core", deprecated: bool = False,
            kind: str = "daemon", masked: bool = False) -> ServiceStatus:
    return ServiceStatus(
        name=name, phase=phase, suite=suite, deprecated=deprecated, kind=kind, masked=masked,
        systemd=systemd or unit(), container=ctr or no_container(),
        health=health or probe(), migration=migration or never(),
    )
