"""`revops example-host DIR [--live]`: write the example RevFlow OS host (and run it)."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import output
from revops.errors import EXIT_OK, UsageError
from revops.example_host import generate, live as live_mod, tree as tree_mod
from revops.example_host.unitfiles import Layout


@dataclass
class LiveSummary:
    venvs_built: list[str]
    venvs_kept: list[str]
    units_started: int
    units_already_running: int
    not_started: dict[str, str]


@dataclass
class ExampleHostResult:
    directory: str
    live: bool
    unit_files: int
    venvs_healthy: int
    venvs_corrupted: int
    corrupted_by_kind: dict[str, int]
    modules: int
    bytes_written: int
    seconds: float
    live_units: LiveSummary | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_OK  # whatever went wrong raised (a usage error, an adapter unavailable)


@dataclass
class TeardownResult:
    directory: str
    units_removed: list[str]
    seconds: float

    @property
    def exit_code(self) -> int:
        return EXIT_OK


def run(directory: Path, live: bool = False, wheelhouse: Path | None = None,
        teardown: bool = False) -> ExampleHostResult | TeardownResult:
    started = time.monotonic()
    root = Path(directory).resolve()
    if teardown:
        if live:
            raise UsageError("--live and --teardown exclude each other")
        removed = live_mod.teardown(root)
        return TeardownResult(str(root), removed, round(time.monotonic() - started, 2))
    _check_directory(root, live)
    wheels = live_mod.wheelhouse_dir(wheelhouse) if live else None
    manager = live_mod.prepare(root) if live else None  # fail before writing anything
    layout = Layout(live=True, prefix=str(root)) if live else Layout()
    tree, plan = generate.build(layout)
    if not live:
        if live_mod.is_live(root):  # rewriting would pull the real venvs from under running units
            raise UsageError(f"{root} is running under the user manager; rewriting it offline would break it",
                             hint=f"take it down first: revops example-host {root} --teardown")
        _drop_real_venvs(root, plan.healthy_venvs)
    written = tree_mod.write(tree, root)
    summary = None
    if live:
        report = live_mod.bring_up(manager, root, plan.real_venvs, wheels)
        summary = LiveSummary(report.venvs_built, report.venvs_kept, len(report.started),
                              len(report.already_running), report.not_started)
    return _result(root, live, plan, written, round(time.monotonic() - started, 2), summary)


def _check_directory(root: Path, live: bool) -> None:
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root}: exists and is not a directory")
    if live and re.search(r"[\s\"'\\%$]", str(root)):
        # unit files name paths under it unquoted, where systemd would split or expand them
        raise UsageError(f"{root}: --live needs a directory path without spaces, quotes, '\\', '%' or '$'")


def _result(root: Path, live: bool, plan: generate.Plan, written: int, seconds: float,
            summary: LiveSummary | None) -> ExampleHostResult:
    kinds: dict[str, int] = {}
    for kind in plan.corrupted_venvs.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    return ExampleHostResult(
        directory=str(root), live=live, unit_files=len(plan.units), venvs_healthy=len(plan.healthy_venvs),
        venvs_corrupted=len(plan.corrupted_venvs), corrupted_by_kind=dict(sorted(kinds.items())),
        modules=len(plan.modules), bytes_written=written, seconds=seconds, live_units=summary,
    )


def _drop_real_venvs(root: Path, paths: list[str]) -> None:
    """Offline over a host made live before: real venvs go, so the fake ones are written whole."""
    for path in paths:
        venv = root / path.lstrip("/")
        if live_mod.real_venv_ready(venv):
            output.info(f"replacing the real venv {venv} with the offline fake")
            shutil.rmtree(venv)


def render(result: ExampleHostResult | TeardownResult, console: Console) -> None:
    if isinstance(result, TeardownResult):
        console.print(f"stopped and removed {len(result.units_removed)} units of {result.directory} "
                      f"from the user manager in {result.seconds:.2f}s", highlight=False)
        return
    table = Table(title=f"example host written to {result.directory}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("unit files (*.service)", str(result.unit_files))
    table.add_row("modules (phase 1 core + 18)", str(result.modules))
    table.add_row("venvs, healthy", str(result.venvs_healthy))
    table.add_row("venvs, corrupted", str(result.venvs_corrupted))
    for kind, count in result.corrupted_by_kind.items():
        table.add_row(f"  {kind}", str(count))
    if result.live_units:
        lu = result.live_units
        table.add_row("live: phase-1 venvs built / kept", f"{len(lu.venvs_built)} / {len(lu.venvs_kept)}")
        table.add_row("live: units started / already running", f"{lu.units_started} / {lu.units_already_running}")
        table.add_row("live: units that did not start", str(len(lu.not_started)))
    console.print(table)
    if result.live_units:
        for name, why in sorted(result.live_units.not_started.items()):
            console.print(Text.assemble(("not started", "yellow"), f" {name}: {why}"), highlight=False)
    console.print(f"done in {result.seconds:.2f}s; run revops verbs inside {result.directory} "
                  f"(its revops.yaml has host.root: .)", highlight=False)
