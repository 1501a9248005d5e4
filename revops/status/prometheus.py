"""Pure: a StatusReport as Prometheus text exposition, for node_exporter's textfile collector.

A sample is written only for a figure that was read: an UNAVAILABLE figure has no sample
(Prometheus reads absence as "unknown"), and `revops_source_up` says which source was silent.
`revops_service_healthy` is 1 only when revops saw the service healthy somewhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from revops.status.classify import RUNNING
from revops.status.figures import (
    LIVE, UNAVAILABLE, VERDICTS, ServiceStatus, StatusReport,
)
from revops.status.summary import SERVING

PLACEMENTS = ("systemd", "docker", "both", "neither", "unknown")


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(pairs: dict[str, object]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{escape("" if v is None else str(v))}"' for k, v in pairs.items())
    return "{" + inner + "}"


def _service_labels(svc: ServiceStatus) -> dict[str, object]:
    return {"service": svc.name, "suite": svc.suite or "", "phase": "" if svc.phase is None else svc.phase}


def _number(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


class _Metric:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help_text = name, kind, help_text
        self.samples: list[tuple[dict[str, object], float | int | bool]] = []

    def add(self, lab: dict[str, object], value: float | int | bool) -> None:
        self.samples.append((lab, value))

    def lines(self) -> Iterable[str]:
        if not self.samples:
            return
        yield f"# HELP {self.name} {self.help_text}"
        yield f"# TYPE {self.name} {self.kind}"
        for lab, value in self.samples:
            yield f"{self.name}{labels(lab)} {_number(value)}"


def _metrics() -> dict[str, _Metric]:
    specs = [
        ("revops_service_healthy", "1 when revops saw the service healthy somewhere (healthy or degraded), 0 when it did not (down or unknown)."),
        ("revops_service_status", "The service's verdict: 1 for the current one of healthy, degraded, down, unknown."),
        ("revops_service_placement", "Where the service runs: 1 for the current one of systemd, docker, both, neither, unknown."),
        ("revops_service_retired", "1 when the service is deprecated or masked with no container: it never fails the status."),
        ("revops_systemd_active", "1 when the systemd unit is active (running); absent when the bus was unavailable."),
        ("revops_systemd_restarts", "NRestarts of the systemd unit; absent when unavailable."),
        ("revops_container_running", "1 when the revops-managed container is running; absent when the engine was unavailable."),
        ("revops_container_restarts", "RestartCount of the revops-managed container; absent when unavailable."),
        ("revops_health_probe_success", "1 when GET /health answered 2xx just now, 0 when it answered otherwise or refused; absent when the probe could not tell."),
        ("revops_health_probe_latency_seconds", "Latency of the /health probe; absent when it could not tell."),
        ("revops_status_services", "Services in scope per phase and verdict."),
        ("revops_source_up", "1 when the source answered this run (inventory, systemd, docker, health, ledger)."),
        ("revops_status_timestamp_seconds", "When this status was taken, Unix time."),
    ]
    return {name: _Metric(name, "gauge", text) for name, text in specs}


def _service_samples(m: dict[str, _Metric], svc: ServiceStatus) -> None:
    lab = _service_labels(svc)
    m["revops_service_healthy"].add(lab, svc.verdict in SERVING)
    for v in VERDICTS:
        m["revops_service_status"].add({**lab, "status": v}, svc.verdict == v)
    for p in PLACEMENTS:
        m["revops_service_placement"].add({**lab, "placement": p}, svc.placement == p)
    m["revops_service_retired"].add(lab, svc.retired)
    if svc.systemd.provenance != UNAVAILABLE:
        m["revops_systemd_active"].add(lab, svc.systemd.runtime == RUNNING)
        if svc.systemd.n_restarts is not None:
            m["revops_systemd_restarts"].add(lab, svc.systemd.n_restarts)
    if svc.container.provenance != UNAVAILABLE:
        m["revops_container_running"].add(lab, bool(svc.container.running))
        if svc.container.restart_count is not None:
            m["revops_container_restarts"].add(lab, svc.container.restart_count)
    if svc.health.provenance == LIVE:
        m["revops_health_probe_success"].add(lab, svc.health.state == "healthy")
        if svc.health.latency_ms is not None:
            m["revops_health_probe_latency_seconds"].add(lab, svc.health.latency_ms / 1000.0)


def render(report: StatusReport) -> str:
    m = _metrics()
    for svc in report.services:
        _service_samples(m, svc)
    for phase in report.summary.phases:
        for v in VERDICTS:
            m["revops_status_services"].add({"phase": "" if phase.phase is None else phase.phase,
                                             "status": v}, getattr(phase, v))
    for source in report.sources:
        m["revops_source_up"].add({"source": source.name}, source.provenance != UNAVAILABLE)
    taken = datetime.fromisoformat(report.generated_at).timestamp()
    m["revops_status_timestamp_seconds"].add({}, round(taken, 3))
    lines = [line for metric in m.values() for line in metric.lines()]
    return "\n".join(lines) + "\n"
