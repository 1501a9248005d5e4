"""Pure: the summary line (per phase) and the exit code of `revops status`."""

from __future__ import annotations

from revops.errors import EXIT_FAILED, EXIT_OK
from revops.status.figures import (
    VERDICT_DEGRADED, VERDICT_HEALTHY, VERDICTS, PhaseSummary, ServiceStatus, Summary,
)

# "Healthy somewhere": the service answers, even if not cleanly.
SERVING = {VERDICT_HEALTHY, VERDICT_DEGRADED}


def summarize(services: list[ServiceStatus]) -> Summary:
    """Count verdicts per phase; retired services are counted apart and never fail the run."""
    phases: dict[int | None, PhaseSummary] = {}
    for svc in services:
        row = phases.setdefault(svc.phase, PhaseSummary(phase=svc.phase))
        row.total += 1
        if svc.retired:
            row.retired += 1
        else:
            setattr(row, svc.verdict, getattr(row, svc.verdict) + 1)
    ordered = sorted(phases.values(), key=lambda p: (p.phase is None, p.phase or 0))
    counts = {v: sum(getattr(p, v) for p in ordered) for v in VERDICTS}
    ok = all(s.verdict in SERVING for s in services if not s.retired)
    return Summary(
        total=len(services),
        retired=sum(p.retired for p in ordered),
        phases=ordered,
        runs_under_both=[s.name for s in services if s.placement == "both"],
        runs_under_neither=[s.name for s in services if s.placement == "neither" and not s.retired],
        ok=ok,
        exit_code=EXIT_OK if ok else EXIT_FAILED,
        **counts,
    )


def summary_line(summary: Summary) -> str:
    """'phase 1: 3 healthy, 1 down · phase 2: ...' (zero counts left out)."""
    parts = []
    for p in summary.phases:
        label = f"phase {p.phase}" if p.phase is not None else "no phase"
        counts = [f"{getattr(p, v)} {v}" for v in (*VERDICTS, "retired") if getattr(p, v)]
        parts.append(f"{label}: {', '.join(counts) or 'none'}")
    return " · ".join(parts)
