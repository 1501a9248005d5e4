"""The table for people and the --watch view of `revops status`: Rich lives here only, so
`status --json` and `--format prometheus` never import it."""

from __future__ import annotations

import signal
import threading
from typing import Callable

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from revops import output
from revops.errors import EXIT_INTERRUPTED
from revops.status.figures import UNAVAILABLE, ServiceStatus, StatusReport
from revops.status.summary import summary_line

_VERDICT_STYLE = {"healthy": "green", "degraded": "yellow", "down": "bold red", "unknown": "magenta"}


def _cell(value: object, provenance: str) -> Text:
    if provenance == UNAVAILABLE:
        return Text("n/a", style="dim italic")
    return Text("-" if value is None else str(value))


def _verdict_cell(svc: ServiceStatus) -> Text:
    if svc.retired:
        return Text(f"{svc.verdict} (retired)", style="dim")
    return Text(svc.verdict, style=_VERDICT_STYLE.get(svc.verdict, ""))


def _systemd_cell(svc: ServiceStatus) -> Text:
    s = svc.systemd
    if s.provenance == UNAVAILABLE:
        return Text("n/a", style="dim italic")
    text = f"{s.active_state}/{s.sub_state}"
    if s.runtime == "idle":
        text = "idle (last run ok)"
    if s.n_restarts:
        text += f" ↻{s.n_restarts}"
    if s.unit_file_state:
        text += f" {s.unit_file_state}"
    t = svc.timer
    if t is not None and t.provenance != UNAVAILABLE:
        last = f"{t.last_trigger} {t.last_result or '?'}" if t.last_trigger else "never"
        text += f"\n{t.timer}: last {last}; next {t.next_trigger or 'none'}"
        if t.runs_in == "container":
            text += f"\nruns in a container ({t.dropin})"
    elif t is not None:
        text += f"\n{t.timer}: n/a ({t.reason})"
    return Text(text, style="red" if s.active_state == "failed" else "")


def _container_cell(svc: ServiceStatus) -> Text:
    c = svc.container
    if c.provenance == UNAVAILABLE:
        return Text("n/a", style="dim italic")
    if not c.present:
        return Text("-" if c.replica is None else f"- (no replica {c.replica})", style="dim")
    text = c.state or "?"
    if c.health and c.health != "none":
        text += f" ({c.health})"
    if c.restart_count:
        text += f" ↻{c.restart_count}"
    if c.replica is not None:
        text += f" #{c.replica}"
    return Text(text)


def _health_cell(svc: ServiceStatus) -> Text:
    h = svc.health
    if h.url is None:
        return Text("-", style="dim")
    if h.provenance == UNAVAILABLE:
        return Text(f"n/a ({h.reason})", style="dim italic")
    if h.state == "healthy":
        return Text(f"{h.status_code} {h.latency_ms:.0f}ms", style="green")
    return Text(h.reason or h.state, style="red")


def table(report: StatusReport) -> Table:
    t = Table(show_edge=False, pad_edge=False, expand=False)
    t.add_column("service", no_wrap=True)  # on-call greps and copies names: never cut them
    for column in ("ph", "suite", "verdict", "where", "systemd", "container", "/health",
                   "migration", "venv", "flags"):
        t.add_column(column, overflow="fold")
    for svc in report.services:
        t.add_row(
            Text(svc.name), "" if svc.phase is None else str(svc.phase), Text(svc.suite or ""),
            _verdict_cell(svc), Text(svc.placement),
            _systemd_cell(svc), _container_cell(svc), _health_cell(svc),
            _cell(svc.migration.state, svc.migration.provenance),
            _venv_cell(svc),
            Text(", ".join(svc.flags), style="yellow"),
        )
    return t


def _venv_cell(svc) -> Text:
    """'own' or 'suite', and for a stabilised unit its restarts before -> now."""
    v = svc.venv
    if v is None or (v.path is None and v.source == "own"):
        return Text("")
    text = Text(v.source, style="green" if v.source == "suite" else "")
    if v.source == "suite":
        before = "?" if v.restarts_before is None else str(v.restarts_before)
        now = "?" if v.restarts_now is None else str(v.restarts_now)
        text.append(f" (restarts {before}->{now})", style="dim")
    return text


def _sources_lines(report: StatusReport) -> list[Text]:
    lines = []
    for s in report.sources:
        when = f" at {s.checked_at}" if s.checked_at else ""
        if s.provenance == UNAVAILABLE:
            lines.append(Text(f"{s.name}: UNAVAILABLE: {s.reason}", style="bold red"))
        else:
            lines.append(Text(f"{s.name}: {s.provenance}{when} ({s.detail})", style="dim"))
    return lines


def _summary_text(report: StatusReport) -> Text:
    sm = report.summary
    head = Text("OK" if sm.ok else "NOT OK", style="bold green" if sm.ok else "bold red")
    head.append(f"  {sm.healthy} healthy, {sm.degraded} degraded, {sm.down} down, "
                f"{sm.unknown} unknown of {sm.total - sm.retired}", style="bold")
    if sm.retired:
        head.append(f" (+{sm.retired} retired: deprecated or masked)")
    head.append(f"  ·  {summary_line(sm)}")
    for label, names in (("under both systemd and Docker", sm.runs_under_both),
                         ("under neither", sm.runs_under_neither)):
        if names:
            head.append(f"\n{label}: {', '.join(names)}", style="yellow")
    return head


def _coverage_line(report: StatusReport) -> list[Text]:
    c = report.coverage
    if c is None:
        return []
    line = Text(f"coverage ({c.provenance}, inventory of {c.checked_at}): {c.covered} of {c.live} live units "
                "have a destination", style="green" if c.covered == c.live else "yellow")
    if c.uncovered:
        line.append(f"; without one: {', '.join(c.uncovered)}")
    return [line]


def view(report: StatusReport) -> Group:
    return Group(table(report), Text(""), *_sources_lines(report), *_coverage_line(report), _summary_text(report))


# Piped output has no terminal width to fit: give rows room instead of folding every cell.
PIPED_WIDTH = 220


def render(report: StatusReport, console: Console) -> None:
    if not console.is_terminal:
        console = output.make_console(file=console.file, width=PIPED_WIDTH, no_color=console.no_color)
    console.print(view(report))


# ---------------------------------------------------------------------------------------
# --watch


def watch(read: Callable[[], StatusReport], interval: float, console: Console) -> int:
    """Redraw every `interval` seconds until Ctrl-C, then return 130 (interrupted).

    On a terminal the view is redrawn in place (Rich Live); piped, each reading is printed
    after the last, so a log of the watch keeps every reading.

    Ctrl-C only sets a flag: a KeyboardInterrupt raised in the middle of a reading would land
    in whichever wait the main thread is in (a worker pool's join, a D-Bus reply) and could
    leave it waiting on threads that never see it. The reading in flight finishes (each
    source has its own timeout), then the watch ends.
    """
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        if console.is_terminal:
            _watch_live(read, interval, console, stop)
        else:
            _watch_piped(read, interval, console, stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    return EXIT_INTERRUPTED


def _stamp(report: StatusReport, interval: float) -> Text:
    return Text(f"revops status · {report.generated_at} · every {interval:g}s · Ctrl-C to quit",
                style="dim")


def _watch_live(read: Callable[[], StatusReport], interval: float, console: Console,
                stop: threading.Event) -> None:
    from rich.live import Live  # only a watch on a terminal redraws in place

    with Live(console=console, auto_refresh=False, screen=False) as live:
        while not stop.is_set():
            report = read()
            live.update(Group(_stamp(report, interval), view(report)), refresh=True)
            stop.wait(interval)


def _watch_piped(read: Callable[[], StatusReport], interval: float, console: Console,
                 stop: threading.Event) -> None:
    while not stop.is_set():
        report = read()
        console.print(_stamp(report, interval))
        render(report, console)
        console.file.flush()
        stop.wait(interval)
