"""`revops build [--suite S]`: the verb; the work is in revops/build/."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from revops.build.images import run  # noqa: F401  (the verb's API)
from revops.build.plan import BuildResult, Options  # noqa: F401


def render(result: BuildResult, console: Console) -> None:
    table = Table(title="revops build" + (" (dry run: nothing built)" if result.dry_run else ""), show_edge=False)
    for column in ("suite", "service", "image", "state", "seconds"):
        table.add_column(column)
    for suite in result.suites:
        for image in suite.images:
            table.add_row(suite.suite, image.service, image.tag, image.state,
                          "-" if image.seconds is None else f"{image.seconds:g}")
    console.print(table)
    for image in (i for s in result.suites for i in s.images if i.pushed):
        console.print(f"pushed {image.pushed}", highlight=False)
    for suite in result.suites:
        console.print(f"{suite.suite}: lock {suite.lock}, wheels {suite.wheels} in {suite.wheelhouse}, "
                      f"context {suite.context_dir}", highlight=False)
