"""`revops status`: what runs where, and is it healthy? Every figure with its provenance.

run() reads the inventory (CACHED), then systemd, the Docker engine, every /health and the
ledger at once (revops.status.gather), and judges each service (revops.status.classify).
render() is the table for people; prometheus() the textfile-collector text; watch() a
refreshing view until Ctrl-C.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from revops import model
from revops.config import Config
from revops.errors import UsageError
from revops.status import assemble, gather, prometheus as prom
from revops.status.assemble import Scope
from revops.status.figures import StatusReport

if TYPE_CHECKING:
    from rich.console import Console

FORMATS = ("text", "json", "prometheus")


def run(config: Config, scope: Scope = Scope()) -> StatusReport:
    inventory_dir = config.out("inventory")
    inventory = model.load(inventory_dir, with_venvs=False, cache_dir=config.cache_dir)
    units = [u for u in assemble.services_of(inventory, config) if scope.includes(u)]
    if not units:
        raise UsageError(f"no service in {inventory_dir} matches {_describe(scope)}")
    generated_at = gather.now_iso()
    reads = gather.read_all(config, units)
    source = assemble.inventory_report(inventory, str(inventory_dir), len(units))
    return assemble.build(units, reads, source, config.health, generated_at,
                          str(config.path), scope)


def _describe(scope: Scope) -> str:
    given = [f"--{k} {' '.join(v)}" for k, v in scope.as_dict().items() if v]
    return " ".join(given) or "(no filter)"


def prometheus(report: StatusReport) -> str:
    return prom.render(report)


def render(report: StatusReport, console: "Console") -> None:
    from revops.status import render as table_view

    table_view.render(report, console)


def watch(read: Any, interval: float, console: "Console") -> int:
    from revops.status import render as table_view

    return table_view.watch(read, interval, console)


# ---------------------------------------------------------------------------------------
# The verb, as the CLI calls it


def main(config: Config, phases: list[int], suites: list[str], services: list[str],
         fmt: str, watch_seconds: float | None) -> int:
    """Check the flags, read, print in the asked format; returns the exit code."""
    from revops import output

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    scope = Scope(tuple(phases), tuple(suites), tuple(services))
    if watch_seconds is not None:
        if watch_seconds <= 0:
            raise UsageError(f"--interval {watch_seconds:g}: expected a positive number of seconds")
        if fmt != "text":
            raise UsageError("--watch shows the table; it cannot be combined with --json or --format")
        return watch(lambda: run(config, scope), watch_seconds, output.stdout)
    report = run(config, scope)
    if fmt == "prometheus":
        sys.stdout.write(prometheus(report))
    else:
        output.emit(report, as_json=fmt == "json", render=render)
    return report.summary.exit_code
