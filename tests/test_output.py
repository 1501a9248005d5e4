"""Output never interprets data (issue 12, kind 9): Rich markup, links and emoji codes in any
string a verb shows (from a unit, a file, a config) are printed as those characters, and
never break a table or a message. Every verb's renderer is fed results whose every string
is hostile, built from the result dataclasses themselves, so a field added later is fed too."""

from __future__ import annotations

import dataclasses
import enum
import io
import types
import typing
from pathlib import Path

import pytest

from revops import cli, output
from revops.commands import build, cleanup, example_host, generate, inventory, lock, migrate, quick_wins, rollback, \
    status, validate
from revops.status.figures import StatusReport
from revops.validate.findings import ValidationResult

MARKUP = "[/] [link=file:///etc/passwd]click[/link] [bold]x[/bold] :smile: [red"


def fake(tp, flag: bool, seen: tuple = ()):
    """A value of type `tp` whose every string is MARKUP (`flag` picks each bool)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return fake(next(a for a in args if a is not type(None)), flag, seen)
    if origin in (list, set, frozenset, tuple) or tp in (list, tuple):
        item = fake(args[0], flag, seen) if args else MARKUP
        if origin in (set, frozenset):
            return origin({item})
        return [item] if origin is list or tp is list else (item,)
    if origin is dict or tp is dict:
        return {fake(args[0], flag, seen) if args else MARKUP: fake(args[1], flag, seen) if args else MARKUP}
    if dataclasses.is_dataclass(tp):
        if tp in seen:
            return None
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: fake(hints[f.name], flag, (*seen, tp)) for f in dataclasses.fields(tp) if f.init})
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return next(iter(tp))
    return {str: MARKUP, int: 1, float: 1.5, bool: flag, Path: Path(MARKUP), type(None): None}.get(tp, MARKUP)


def rendered(render, result) -> str:
    buffer = io.StringIO()
    console = output.make_console(file=buffer, width=4000, force_terminal=True, color_system="standard")
    render(result, console)
    return buffer.getvalue()


def result_types():
    """(verb, renderer, result type) for every verb that renders for people."""
    return [
        ("inventory scan", inventory.render, inventory.ScanResult),
        ("status", status.render, StatusReport),
        ("migrate", migrate.render, migrate.MigrateResult),
        ("migrate plan", migrate.render_plan, typing.get_type_hints(migrate.MigrateResult)["plan"]),
        ("rollback", rollback.render, rollback.RollbackResult),
        ("generate", generate.render, generate.GenerateResult),
        ("validate", validate.render, ValidationResult),
        ("lock", lock.render, lock.LockResult),
        ("cleanup", cleanup.render, cleanup.CleanupResult),
        ("quick-wins", quick_wins.render, quick_wins.QuickWinsResult),
        ("build", build.render, typing.get_type_hints(build.render)["result"]),
        ("example-host", example_host.render, example_host.ExampleHostResult),
        ("example-host --teardown", example_host.render, example_host.TeardownResult),
    ]


@pytest.mark.parametrize("flag", [True, False], ids=["true", "false"])
@pytest.mark.parametrize("verb, render, result_type", result_types(), ids=[v for v, _, _ in result_types()])
def test_every_renderer_prints_markup_as_text(verb, render, result_type, flag):
    text = rendered(render, fake(result_type, flag))
    assert MARKUP in text, f"{verb}: the hostile string was not printed as itself"
    assert "\x1b]8;" not in text, f"{verb}: a link was rendered"
    assert "\N{SMILING FACE WITH SMILING EYES}" not in text and "\U0001f604" not in text


def test_messages_on_stderr_print_markup_as_text(capsys):
    output.error(MARKUP, hint=MARKUP)
    output.warn(MARKUP)
    output.info(MARKUP)
    err = capsys.readouterr().err
    assert err.count(MARKUP) == 4


def test_the_consoles_read_no_markup_and_no_emoji():
    buffer = io.StringIO()
    console = output.make_console(file=buffer, width=200)
    console.print(MARKUP)
    assert buffer.getvalue().rstrip("\n") == MARKUP


def test_a_unit_line_with_markup_reaches_the_inventory_table_as_text(tmp_path, monkeypatch, capsys):
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    (units / "revpublish.service").write_text(
        "[Unit]\nDescription=[link=file:///etc/passwd]x[/link]\n[Service]\n"
        "ExecStart=/usr/bin/python3 -m http.server 8550\n[/]\n[bold]garbage line\n")
    (tmp_path / "revops.yaml").write_text(
        "host: {root: ., unit_dirs: [etc/systemd/system]}\nsuites:\n  core: {phase: 1, units: [revpublish.service]}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        cli.main(["inventory", "scan", "--no-live"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "[bold]garbage line" in out or "[/]" in out
