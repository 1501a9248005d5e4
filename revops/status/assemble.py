"""Pure: from the inventory's services and what each source said, the StatusReport."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace

from revops.config import Config, Health
from revops.model import Inventory, Unit
from revops.status import classify
from revops.status.figures import (
    CACHED, LIVE, UNAVAILABLE, UNKNOWN, ContainerFigure, HealthFigure, MigrationFigure,
    SecretFigure, ServiceStatus, SourceReport, StatusReport, SystemdFigure, TimerFigure, VenvFigure,
)
from revops.status.gather import SourceRead
from revops.status.summary import summarize

NEVER_MIGRATED = "never-migrated"


@dataclass(frozen=True)
class Scope:
    phases: tuple[int, ...] = ()
    suites: tuple[str, ...] = ()
    services: tuple[str, ...] = ()  # unit names, names without .service, or fnmatch patterns

    def as_dict(self) -> dict[str, list[str]]:
        return {"phase": [str(p) for p in self.phases], "suite": list(self.suites),
                "service": list(self.services)}

    def includes(self, unit: Unit) -> bool:
        if self.phases and unit.phase not in self.phases:
            return False
        if self.suites and unit.suite not in self.suites:
            return False
        if self.services and not any(_name_matches(unit, p) for p in self.services):
            return False
        return True


def _name_matches(unit: Unit, pattern: str) -> bool:
    return fnmatch.fnmatchcase(unit.name, pattern) or fnmatch.fnmatchcase(unit.service_name, pattern)


def services_of(inventory: Inventory, config: Config) -> list[Unit]:
    """The runnable services: .service units, not templates (their instances are listed),
    each with the suite and phase revops.yaml gives it now (config.suite_of, as every verb),
    not the ones recorded at the last scan."""
    services = []
    for unit in inventory.units:
        if unit.name.endswith(".service") and "@.service" not in unit.name:
            suite = config.suite_of(unit.name)
            services.append(replace(unit, suite=suite.name if suite else None,
                                    phase=suite.phase if suite else None))
    return services


def inventory_report(inventory: Inventory, where: str, count: int) -> SourceReport:
    return SourceReport("inventory", CACHED, inventory.scanned_at,
                        detail=f"{count} services from {where}")


def build(units: list[Unit], reads: dict[str, SourceRead], inventory_source: SourceReport,
          health: Health, generated_at: str, config_path: str, scope: Scope) -> StatusReport:
    services = [classify.judge(_service(u, reads, health, inventory_source)) for u in units]
    return StatusReport(
        generated_at=generated_at, config=config_path, filters=scope.as_dict(),
        sources=[inventory_source, *(r.report for r in reads.values())],
        services=services, summary=summarize(services),
    )


def _service(unit: Unit, reads: dict[str, SourceRead], health: Health,
             inventory_source: SourceReport) -> ServiceStatus:
    return ServiceStatus(
        name=unit.name, phase=unit.phase, suite=unit.suite, port=unit.port,
        deprecated=unit.deprecated, masked=unit.masked,
        kind="job" if unit.service_type == "oneshot" else "daemon",
        systemd=_systemd(unit, reads["systemd"]),
        container=_container(unit, reads["docker"]),
        health=_health(unit, reads["health"], health, inventory_source),
        migration=_migration(unit, reads["ledger"]),
        secret=_secret(unit, reads.get("secrets"), reads["docker"]),
        venv=_venv(unit, reads["ledger"], reads["systemd"], inventory_source),
        timer=_timer(unit, reads),
    )


def _secret(unit: Unit, read: SourceRead | None, docker: SourceRead) -> SecretFigure | None:
    """The copy's figure for a service whose container is there (none without one)."""
    container = docker.figures.get(unit.name)
    if read is None or container is None or not container.present:
        return None
    if read.report.provenance == UNAVAILABLE:
        return SecretFigure(UNAVAILABLE, read.report.checked_at, reason=read.report.reason)
    return read.figures.get(unit.name)


def _timer(unit: Unit, reads: dict[str, SourceRead]) -> TimerFigure | None:
    """A job's timer figure, its last run's result taken from the service's own Result."""
    timers = [t for t in unit.timers if not t.masked]
    if not timers:
        return None
    read = reads.get("timers")
    if read is None or read.report.provenance == UNAVAILABLE:
        return TimerFigure(UNAVAILABLE, read.report.checked_at if read else None, timer=timers[0].name,
                           reason=read.report.reason if read else "timers not read")
    figure = read.figures[unit.name]
    systemd = reads["systemd"]
    if systemd.report.provenance != UNAVAILABLE and figure.last_trigger is not None:
        figure.last_result = systemd.figures[unit.name].result
    return figure


def _systemd(unit: Unit, read: SourceRead) -> SystemdFigure:
    report = read.report
    if report.provenance == UNAVAILABLE:
        return SystemdFigure(UNAVAILABLE, report.checked_at, reason=report.reason)
    return read.figures[unit.name]


def _container(unit: Unit, read: SourceRead) -> ContainerFigure:
    report = read.report
    if report.provenance == UNAVAILABLE:
        return ContainerFigure(UNAVAILABLE, report.checked_at, reason=report.reason)
    return read.figures.get(unit.name) or ContainerFigure(LIVE, report.checked_at, present=False)


def _health(unit: Unit, read: SourceRead, health: Health, inventory_source: SourceReport) -> HealthFigure:
    url = health.url(unit.port)
    if url is None:
        why = f"no port in the inventory (scanned {inventory_source.checked_at}): no /health to probe"
        return HealthFigure(UNKNOWN, UNAVAILABLE, None, reason=why)
    if read.report.provenance == UNAVAILABLE:
        return HealthFigure(UNKNOWN, UNAVAILABLE, read.report.checked_at, reason=read.report.reason, url=url)
    return read.figures[unit.name]


def _migration(unit: Unit, read: SourceRead) -> MigrationFigure:
    report = read.report
    if report.provenance == UNAVAILABLE:
        return MigrationFigure(UNAVAILABLE, report.checked_at, reason=report.reason)
    figure = read.figures.get(unit.name) or read.figures.get(unit.service_name)
    if figure is not None:
        return figure
    # The ledger (or its absence) was read just now and holds nothing for this service.
    why = report.detail if report.provenance == LIVE else "no record in the ledger"
    return MigrationFigure(LIVE, report.checked_at, reason=why, state=NEVER_MIGRATED)


# Repoint states in which the unit's drop-in names the suite venv (revops.repoint).
_ON_SUITE_VENV = ("repointing", "repointed")


def _venv(unit: Unit, ledger: SourceRead, systemd: SourceRead, inventory_source: SourceReport) -> VenvFigure:
    now = systemd.figures.get(unit.name) if systemd.report.provenance != UNAVAILABLE else None
    restarts_now = now.n_restarts if now is not None else None
    record = ledger.repoints.get(unit.name)
    if record is not None and record.state in _ON_SUITE_VENV:
        return VenvFigure(CACHED, record.updated_at, path=record.uses_after, source="suite",
                          restarts_before=record.restarts_before, restarts_now=restarts_now,
                          reason=None if record.state == "repointed" else "a stabilize run was cut short here")
    why = None if ledger.report.provenance != UNAVAILABLE else f"ledger UNAVAILABLE ({ledger.report.reason}): a suite venv would not show"
    return VenvFigure(CACHED, inventory_source.checked_at, why, path=unit.venv, restarts_now=restarts_now,
                      restarts_before=record.restarts_before if record is not None else None)
