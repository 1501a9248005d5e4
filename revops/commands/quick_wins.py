"""`revops quick-wins`: the fix plan's immediate actions, journaled, with honest results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import model, output
from revops.adapters import systemd
from revops.config import Config
from revops.errors import EXIT_FAILED, EXIT_OK
from revops.hostrun import host_run
from revops.migrate import quick_wins as Q


@dataclass
class QuickWinsResult:
    dry_run: bool
    actions: list[Q.Action]
    missing: list[str]
    run_id: int | None = None
    refused: str | None = None
    results: list[Q.ActionResult] = field(default_factory=list)
    exit_code: int = EXIT_OK


def run(config: Config, *, dry_run: bool = False, yes: bool = False,
        confirm: Callable[[list[Q.Action]], bool] | None = None,
        say: Callable[[str], None] = output.info) -> QuickWinsResult:
    inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
    actions, missing = Q.plan(inventory, config)
    result = QuickWinsResult(dry_run, actions, missing)
    if dry_run or not actions:
        return result
    manager = systemd.connect(config.bus)
    with host_run(config, dry_run=False) as run:
        result.run_id = run.begin(None)
        if not run.confirm(confirm, actions, yes):
            result.refused = "not confirmed"
            return result
        assert run.journal is not None
        result.results = Q.execute(actions, manager, run.journal, say)
        failed = [r.unit for r in result.results if not r.ok]
        run.outcome = f"failed: {', '.join(failed)}" if failed else "ok"
    result.exit_code = EXIT_FAILED if any(not r.ok for r in result.results) else EXIT_OK
    return result


def render_actions(actions: list[Q.Action], console: Console) -> None:
    for a in actions:
        console.print(f"{a.action:<13} {a.unit}: {a.changes} ({a.why})", highlight=False)


def render(result: QuickWinsResult, console: Console) -> None:
    for name in result.missing:
        console.print(Text(f"not in the inventory, skipped: {name}", style="yellow"))
    if result.dry_run or not result.results:
        render_actions(result.actions, console)
        if result.dry_run:
            console.print(Text("dry run: nothing was changed", style="dim"))
        if result.refused:
            console.print(Text(f"refused: {result.refused}", style="bold red"))
        return
    table = Table(title=f"Quick wins (run {result.run_id})", title_justify="left")
    for col in ("unit", "action", "result", "systemd now (LIVE)"):
        table.add_column(col, overflow="fold")
    for r in result.results:
        table.add_row(r.unit, r.action, Text("ok" if r.ok else "FAILED", style="green" if r.ok else "bold red"), r.detail)
    console.print(table)
