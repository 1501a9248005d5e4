"""The one place that talks to the terminal.

Data goes to stdout (a Rich rendering for people, or JSON for scripts); progress, logs and
errors go to stderr so that `revops ... --json | jq` always gets clean JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths, datetimes and sets become plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, sort_keys=False, ensure_ascii=False)


def emit(result: Any, *, as_json: bool, render: Callable[[Any, Console], None]) -> None:
    """Print a command's result: JSON on stdout, or the command's Rich rendering."""
    if as_json:
        sys.stdout.write(dumps(result) + "\n")
        sys.stdout.flush()
    else:
        render(result, stdout)


def error(message: str, hint: str | None = None) -> None:
    # Messages carry paths and pins such as "foo[bar]==1": never read them as Rich markup.
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    if hint:
        stderr.print(f"[dim]hint:[/] {escape(hint)}", highlight=False)


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def info(message: str) -> None:
    stderr.print(message, highlight=False, markup=False)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields `advance(n)`. Silent when stderr is not a terminal."""
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
