"""The one place that talks to the terminal.

Data goes to stdout (a Rich rendering for people, or JSON for scripts); progress, logs and
errors go to stderr so that `revops ... --json | jq` always gets clean JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from rich.console import Console

    from revops.errors import Outcome

# Rich costs about 30 ms to import; `status --json` (run by cron and by on-call's scripts)
# prints no Rich at all, so the two consoles are made on first use (PEP 562).
_CONSOLES = {"stdout": {"soft_wrap": True}, "stderr": {"stderr": True, "soft_wrap": True}}
_MAKING = threading.Lock()
# Output never interprets data: a unit's Description or a path holding "[/]", "[link=...]"
# or ":smile:" is printed as those characters. So no console reads markup or emoji codes in
# plain strings (table cells and titles included); a renderer styles with rich.text.Text
# (Text("FAILED", style="red"), Text.assemble(...)), or passes markup=True for a string whose
# every piece of data went through escape().
PLAIN = {"markup": False, "emoji": False}


def make_console(**options: Any) -> "Console":
    """A Rich console that prints data as data (PLAIN); the renderers' tests use it too."""
    from rich.console import Console

    return Console(**{**PLAIN, **options})


def _console(name: str) -> "Console":
    made = globals().get(name)
    if made is None:
        with _MAKING:  # two threads warning at once must share one console
            made = globals().get(name)
            if made is None:
                made = globals()[name] = make_console(**_CONSOLES[name])
    return made


def __getattr__(name: str) -> Any:
    """`output.stdout` and `output.stderr`, made on first use."""
    if name not in _CONSOLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _console(name)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    # dataclasses.fields() rebuilds its tuple on every call: a status report has ~2,000
    # dataclass instances of a dozen classes.
    return tuple(f.name for f in dataclasses.fields(cls))


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths, datetimes and sets become plain JSON values."""
    if isinstance(value, (str, int, float, type(None))):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_jsonable(getattr(value, name)) for name in _field_names(type(value))}
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


class PlainText:
    """A rendering that is text for another program (Prometheus' exposition format): written to
    stdout as it is, without Rich (not even imported)."""

    def __init__(self, text_of: Callable[[Any], str]) -> None:
        self.text_of = text_of


Render = Callable[[Any, "Console"], None] | PlainText


def emit(result: Any, *, as_json: bool, render: Render) -> None:
    """Print a command's result: JSON on stdout, or the command's rendering. A result with a
    `contract()` method prints what it returns as its JSON: its public shape (design.md)."""
    if as_json:
        contract = getattr(result, "contract", None)
        sys.stdout.write(dumps(contract() if callable(contract) else result) + "\n")
        sys.stdout.flush()
    elif isinstance(render, PlainText):
        sys.stdout.write(render.text_of(result))
        sys.stdout.flush()
    else:
        render(result, _console("stdout"))


def show(result: "Outcome", *, as_json: bool, render: Render) -> int:
    """The end of every verb: its result on stdout (JSON or rendered), then why it failed on
    stderr when its `failure` says so; returns its exit code, which the CLI exits with."""
    emit(result, as_json=as_json, render=render)
    failure = getattr(result, "failure", None)
    if failure is not None:
        error(failure.message, failure.hint)
    return result.exit_code


def error(message: str, hint: str | None = None) -> None:
    # Messages carry paths and pins such as "foo[bar]==1": never read them as Rich markup.
    from rich.text import Text

    err = _console("stderr")
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    if hint:
        err.print(Text.assemble(("hint:", "dim"), " ", hint), highlight=False)


def warn(message: str) -> None:
    from rich.text import Text

    _console("stderr").print(Text.assemble(("warning:", "yellow"), " ", message), highlight=False)


def info(message: str) -> None:
    _console("stderr").print(message, highlight=False, markup=False)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields `advance(n)`. Silent when stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stderr = _console("stderr")
    bar = Progress(
        TextColumn("{task.description}", style="progress.description", markup=False),
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
