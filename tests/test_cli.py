"""The CLI edge: exit codes are decided once, in revops.cli.main."""

import subprocess
import sys

import pytest

from revops import cli, errors


def run_main(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code


def test_version_exits_zero(capsys):
    assert run_main(["--version"]) == 0
    assert "revops" in capsys.readouterr().out


def test_unknown_option_is_usage_error(capsys):
    assert run_main(["--no-such-flag"]) == errors.EXIT_USAGE
    assert "No such option" in capsys.readouterr().err


def test_no_arguments_shows_help_and_is_usage_error(capsys):
    assert run_main([]) == errors.EXIT_USAGE


def test_revops_errors_map_to_their_exit_codes(monkeypatch, capsys):
    def boom(*_args, **_kwargs):
        raise errors.CheckFailed("the check failed", hint="look here")

    monkeypatch.setattr(cli, "app", boom)
    assert run_main(["x"]) == errors.EXIT_FAILED
    err = capsys.readouterr().err
    assert "the check failed" in err and "look here" in err


def test_interrupt_exits_130(monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", interrupted)
    assert run_main(["x"]) == errors.EXIT_INTERRUPTED


def test_console_script_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "revops", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("revops ")


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys):
    def bug(*_args, **_kwargs):
        raise AttributeError("'str' object has no attribute 'items'")

    monkeypatch.delenv("REVOPS_DEBUG", raising=False)
    monkeypatch.setattr(cli, "app", bug)
    assert run_main(["x"]) == errors.EXIT_FAILED
    err = capsys.readouterr().err
    assert "unexpected AttributeError" in err and "REVOPS_DEBUG=1" in err
    assert "Traceback" not in err


def test_messages_are_printed_as_written_not_as_markup(monkeypatch, capsys):
    def conflict(*_args, **_kwargs):
        raise errors.CheckFailed("requests[socks]==2.31.0 in [/etc/systemd] conflicts")

    monkeypatch.setattr(cli, "app", conflict)
    assert run_main(["x"]) == errors.EXIT_FAILED
    assert "requests[socks]==2.31.0 in [/etc/systemd] conflicts" in capsys.readouterr().err


def test_every_verb_ends_in_finish_with_its_results_exit_code():
    """One exit-code rule: each command registered in cli.py hands its result to finish()
    and decides no code of its own (no typer.Exit, no sys.exit beside it)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cli))
    commands = [f for f in tree.body if isinstance(f, ast.FunctionDef)
                and any("command" in ast.unparse(d) for d in f.decorator_list)]
    assert len(commands) >= 11
    for func in commands:
        calls = [ast.unparse(n.func) for n in ast.walk(func) if isinstance(n, ast.Call)]
        assert "finish" in calls, func.name
        assert not {"typer.Exit", "sys.exit", "output.emit", "output.error"} & set(calls), func.name


def test_show_prints_the_result_then_its_failure_and_returns_its_code(capsys):
    from dataclasses import dataclass

    from revops import output

    @dataclass
    class Result:
        files: int

        @property
        def exit_code(self):
            return errors.EXIT_FAILED

        @property
        def failure(self):
            return errors.Failure("2 file(s) differ", hint="run it again")

    code = output.show(Result(3), as_json=True, render=lambda r, c: None)
    captured = capsys.readouterr()
    assert code == errors.EXIT_FAILED and captured.out == '{\n  "files": 3\n}\n'
    assert "2 file(s) differ" in captured.err and "run it again" in captured.err
