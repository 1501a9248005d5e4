"""`revops status`: what runs where, and is it healthy? Every figure with its provenance.

run() checks the request and reads: the inventory (CACHED), then systemd, the Docker engine,
every /health and the ledger at once (revops.status.gather), each service judged
(revops.status.classify), into a StatusReport; with --watch, a Watch whose rendering reads
again and again until Ctrl-C. renderer() picks the rendering of the asked format: the table
for people, the Prometheus textfile-collector text, or the watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from revops import coverage, model, output
from revops.config import Config
from revops.errors import EXIT_INTERRUPTED, UsageError
from revops.status import assemble, gather, prometheus as prom, replicas
from revops.status.assemble import Scope
from revops.status.figures import CACHED, CoverageFigure, StatusReport

if TYPE_CHECKING:
    from rich.console import Console

FORMATS = ("text", "json", "prometheus")


@dataclass(frozen=True)
class Request:
    scope: Scope = Scope()
    fmt: str = "text"  # one of FORMATS
    watch_seconds: float | None = None  # --watch: read again every this many seconds
    target: str | None = None  # --target: compose (this host's engine) or swarm (the cluster)


@dataclass(frozen=True)
class Watch:
    """A reading redrawn every `interval` seconds; rendering it is the watch itself."""

    read: Callable[[], StatusReport]
    interval: float

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED  # a watch ends only when Ctrl-C ends it


def run(config: Config, request: Request = Request()) -> StatusReport | Watch:
    """The report of the request's scope, or a Watch of it; UsageError for bad flags."""
    if request.fmt not in FORMATS:
        raise UsageError(f"--format {request.fmt!r}: expected one of {', '.join(FORMATS)}")
    seconds = request.watch_seconds
    if seconds is None:
        return read(config, request.scope, request.target)
    if seconds <= 0:
        raise UsageError(f"--interval {seconds:g}: expected a positive number of seconds")
    if request.fmt != "text":
        raise UsageError("--watch shows the table; it cannot be combined with --json or --format")
    return Watch(lambda: read(config, request.scope, request.target), seconds)


def read(config: Config, scope: Scope = Scope(), target: str | None = None) -> StatusReport:
    inventory_dir = config.out("inventory")
    inventory = model.load(inventory_dir, with_venvs=False, cache_dir=config.cache_dir)
    units = [u for u in assemble.services_of(inventory, config) if scope.includes(u)]
    if not units:
        raise UsageError(f"no service in {inventory_dir} matches {_describe(scope)}")
    generated_at = gather.now_iso()
    reads = gather.read_all(config, units, target, replicas.expected(inventory.units))
    source = assemble.inventory_report(inventory, str(inventory_dir), len(units))
    report = assemble.build(units, reads, source, config.health, generated_at, str(config.path), scope)
    measured = coverage.measure(inventory, config)
    report.coverage = CoverageFigure(CACHED, inventory.scanned_at, measured.live, measured.covered,
                                     measured.uncovered)
    return report


def _describe(scope: Scope) -> str:
    given = [f"--{k} {' '.join(v)}" for k, v in scope.as_dict().items() if v]
    return " ".join(given) or "(no filter)"


def prometheus(report: StatusReport) -> str:
    return prom.render(report)


def render(report: StatusReport, console: "Console") -> None:
    # Rich's table code (about 35 ms of imports) only for the table: `--json` and prometheus
    # never need it.
    from revops.status import render as table_view

    table_view.render(report, console)


def watch(read: Callable[[], StatusReport], interval: float, console: "Console") -> int:
    from revops.status import render as table_view  # Rich's table code, as in render()

    return table_view.watch(read, interval, console)


def render_watch(view: Watch, console: "Console") -> None:
    watch(view.read, view.interval, console)


def renderer(request: Request) -> output.Render:
    """How the result of `request` is shown (JSON is output's own)."""
    if request.watch_seconds is not None:
        return render_watch
    if request.fmt == "prometheus":
        return output.PlainText(prometheus)
    return render
