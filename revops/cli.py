"""Registers the verbs. Nothing else lives here: each verb is plain code in its own module."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from revops import config as config_mod
from revops import errors, output

app = typer.Typer(
    help="Move RevFlow OS from systemd units and venvs to a Docker Compose stack, phase by phase.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = typer.Option(None, "--config", "-c", help="revops.yaml to use (default: ./revops.yaml).")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout.")


def load_config(path: Optional[Path]) -> config_mod.Config:
    return config_mod.load(path)


def _version(value: bool) -> None:
    if value:
        from revops import __version__

        output.stdout.print(f"revops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """revops: inventory, lock, generate, validate, migrate, status, cleanup."""


@app.command("example-host")
def example_host_cmd(
    directory: Path = typer.Argument(..., help="Where to write the example host (created if missing)."),
    live: bool = typer.Option(False, "--live", help="Also make it runnable under the systemd user manager."),
    json_out: bool = JsonOpt,
) -> None:
    """Write a realistic RevFlow OS host (149 units, venvs, module code) under DIRECTORY."""
    from revops.commands import example_host

    result = example_host.run(directory, live=live)
    output.emit(result, as_json=json_out, render=example_host.render)


def main(argv: list[str] | None = None) -> None:
    """Entry point: the one place where errors become exit codes."""
    try:
        code = app(args=argv, standalone_mode=False)
    except errors.RevopsError as exc:
        output.error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        output.error("interrupted")
        sys.exit(errors.EXIT_INTERRUPTED)
    except typer.Abort:
        output.error("aborted")
        sys.exit(errors.EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # bad flags or arguments, reported by the parser
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            output.error(str(exc))
        sys.exit(errors.EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else errors.EXIT_OK)
