"""Registers the verbs. Nothing else lives here: each verb is plain code in its own module.

Each command imports its verb's module when it runs, not with this one: the verbs' modules
take 8 ms (status) to 210 ms (build, with the docker SDK and Jinja) to import, and a cron or
on-call `revops status` must not pay for the other eleven.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer

from revops import config as config_mod
from revops import __version__, errors, output

app = typer.Typer(
    help="Move RevFlow OS from systemd units and venvs to a Docker Compose stack, phase by phase.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = typer.Option(None, "--config", "-c", help="revops.yaml to use (default: ./revops.yaml).")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout.")
TargetOpt = typer.Option(None, "--target", metavar="compose|swarm",
                         help="This host's engine (compose) or the cluster of revops.yaml `swarm:` "
                              "(default: revops.yaml `target:`, else compose).")


def load_config(path: Optional[Path]) -> config_mod.Config:
    return config_mod.load(path)


def finish(result: errors.Outcome, as_json: bool, render: output.Render) -> NoReturn:
    """The one end of every verb: its result shown, then the exit with the result's own code."""
    raise typer.Exit(output.show(result, as_json=as_json, render=render))


def _version(value: bool) -> None:
    if value:
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
    wheelhouse: Optional[Path] = typer.Option(
        None, "--wheelhouse", help="Wheels for the phase-1 venvs of --live (default: $REVOPS_WHEELHOUSE)."),
    teardown: bool = typer.Option(
        False, "--teardown", help="Stop and remove the units a --live run put into the user manager."),
    json_out: bool = JsonOpt,
) -> None:
    """Write a realistic RevFlow OS host (149 units, venvs, module code) under DIRECTORY."""
    from revops.commands import example_host

    result = example_host.run(directory, live=live, wheelhouse=wheelhouse, teardown=teardown)
    finish(result, json_out, example_host.render)


@app.command("status")
def status_cmd(
    config: Optional[Path] = ConfigOpt,
    phase: list[int] = typer.Option([], "--phase", help="Only this phase (repeatable)."),
    suite: list[str] = typer.Option([], "--suite", help="Only this suite (repeatable)."),
    service: list[str] = typer.Option([], "--service", help="Only this service: name or pattern (repeatable)."),
    json_out: bool = JsonOpt,
    fmt: str = typer.Option("text", "--format", help="text, json or prometheus (node_exporter textfile)."),
    watch: bool = typer.Option(False, "--watch", help="Redraw every --interval seconds until Ctrl-C."),
    interval: float = typer.Option(2.0, "--interval", metavar="SECONDS", help="Seconds between --watch readings."),
    target: Optional[str] = TargetOpt,
) -> None:
    """What runs where, and is it healthy? Exit 0 only when every service is healthy somewhere."""
    from revops.commands import status
    from revops.status.assemble import Scope

    request = status.Request(Scope(tuple(phase), tuple(suite), tuple(service)),
                             "json" if json_out else fmt, interval if watch else None, target)
    result = status.run(load_config(config), request)
    finish(result, request.fmt == "json", status.renderer(request))


@app.command("lock")
def lock_cmd(
    config: Optional[Path] = ConfigOpt,
    suite: list[str] = typer.Option([], "--suite", help="Only this suite (repeatable)."),
    offline: bool = typer.Option(False, "--offline", help="No index: resolve from the wheelhouse only."),
    find_links: Optional[Path] = typer.Option(None, "--find-links", help="Wheelhouse directory (default: paths.wheelhouse)."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when a lock is missing or no longer matches its input."),
    prove: bool = typer.Option(False, "--prove", help="Install each lock by hash into a fresh venv, pip check, import the apps."),
    resolver: str = typer.Option("pip-tools", "--resolver", help="pip-tools or uv."),
    json_out: bool = JsonOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be locked; write nothing."),
) -> None:
    """One hash-pinned, conflict-checked requirements lock per suite (lockfiles/<suite>.txt)."""
    from revops.commands import lock

    options = lock.Options(suites=tuple(suite), offline=offline, find_links=find_links, check=check,
                           prove=prove, resolver=resolver, dry_run=dry_run)
    result = lock.run(load_config(config), options)
    finish(result, json_out, lock.render)


inventory_app = typer.Typer(help="Read the host: units, venvs, live state.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")


@inventory_app.command("scan")
def inventory_scan_cmd(
    root: Optional[Path] = typer.Option(None, "--root", help="Host root to scan (default: host.root of revops.yaml)."),
    config: Optional[Path] = ConfigOpt,
    json_out: bool = JsonOpt,
    live: Optional[bool] = typer.Option(None, "--live/--no-live", help="Read live state over D-Bus (default: only when the root is /)."),
    user: bool = typer.Option(False, "--user", help="Use the user manager, as systemctl --user."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Where to write units.yaml/venvs.yaml (default: the inventory dir of revops.yaml)."),
    write: bool = typer.Option(True, "--write/--no-write", help="Write the inventory files."),
    deep: bool = typer.Option(False, "--deep", help="Hash every RECORD entry of every venv (slower)."),
) -> None:
    """Every service unit (read as systemd reads it) and every venv, with live state."""
    from revops.commands import inventory

    cfg, write = inventory.scan_config(config, root, output_dir, write)
    result = inventory.run(cfg, live=live, user=user, output_dir=output_dir, write=write, deep=deep)
    finish(result, json_out, inventory.render)


suites_app = typer.Typer(help="Suites: which units move together, and in which phase.", no_args_is_help=True)
app.add_typer(suites_app, name="suites")


@suites_app.command("suggest")
def suites_suggest_cmd(
    config: Optional[Path] = ConfigOpt,
    write: bool = typer.Option(False, "--write", help="Add the proposal to revops.yaml, marked for review."),
    json_out: bool = JsonOpt,
) -> None:
    """Propose a suite and phase (or retire / keep on host) for every live unit in no suite, with why."""
    from revops.commands import suites

    result = suites.suggest(config_mod.load(config, suites_required=False), write=write)
    finish(result, json_out, suites.render)


def _confirm_with(render_plan):
    """A confirm() for a verb: show its plan on stderr, then ask (nothing runs on 'no')."""

    def confirm(plan) -> bool:
        render_plan(plan, output.stderr)
        if not sys.stdin.isatty():  # cron, CI, a pipe: nobody can answer
            raise errors.UsageError("no terminal to confirm the plan on: pass --yes (or --dry-run)")
        return typer.confirm("Go ahead?", default=False, err=True)

    return confirm


@app.command("migrate")
def migrate_cmd(
    phase: Optional[int] = typer.Option(None, "--phase", help="The phase to migrate (1, 2, ...)."),
    service: list[str] = typer.Option([], "--service", help="Only this service (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    force: Optional[str] = typer.Option(None, "--force", metavar="REASON",
                                        help="Start although earlier phases are not verified healthy; REASON is journaled."),
    parallel: Optional[int] = typer.Option(None, "--parallel", metavar="N", min=1,
                                           help="At most N services in flight at once (default: 7 per CPU core, 2 to 16)."),
    target: Optional[str] = TargetOpt,
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Cut services over from systemd to their containers, each proven first, in waves."""
    from revops.commands import migrate
    from revops.migrate import wiring

    if phase is None and not service:
        raise errors.UsageError("give --phase N or --service NAME")
    cfg = load_config(config)
    result = migrate.run(cfg, phase, service, dry_run=dry_run, yes=yes, force=force, parallel=parallel,
                         confirm=_confirm_with(migrate.render_plan), host_factory=wiring.host_factory(cfg, target),
                         target=cfg.target_of(target))
    finish(result, json_out, migrate.render)


@app.command("rollback")
def rollback_cmd(
    services: list[str] = typer.Argument(None, help="Services to put back under systemd."),
    phase: Optional[int] = typer.Option(None, "--phase", help="Every migrated service of this phase."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be done; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    target: Optional[str] = TargetOpt,
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Back to systemd: container removed (image kept), unit enabled, started and verified."""
    from revops.commands import rollback
    from revops.migrate import wiring

    cfg = load_config(config)
    result = rollback.run(cfg, list(services or []), phase, dry_run=dry_run, yes=yes,
                          confirm=_confirm_with(rollback.render_plan), host_factory=wiring.host_factory(cfg, target))
    finish(result, json_out, rollback.render)


secrets_app = typer.Typer(help="The services' secret copies: rotate them when env files change.",
                          no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("rotate")
def secrets_rotate_cmd(
    services: list[str] = typer.Argument(None, help="Migrated services to rotate (default: every one in scope)."),
    suite: Optional[str] = typer.Option(None, "--suite", help="Only the migrated services of this suite."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show held and current digests; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    target: Optional[str] = TargetOpt,
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """New copies for the services whose env files changed: restarted one by one behind the
    cutover's health gate, the old copy put back when the new one makes a service unhealthy.
    On a Swarm target: a new Docker secret per service, swapped in by a rolling service update."""
    from revops.commands import secrets
    from revops.migrate import wiring

    cfg = load_config(config)
    result = secrets.run(cfg, list(services or []), suite, dry_run=dry_run, yes=yes,
                         confirm=_confirm_with(secrets.render_plan), host_factory=wiring.host_factory(cfg, target),
                         target=cfg.target_of(target))
    finish(result, json_out, secrets.render)


@app.command("quick-wins")
def quick_wins_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the actions; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Stop and disable the deprecated units; restart the ones quick_wins.restart names."""
    from revops.commands import quick_wins

    result = quick_wins.run(load_config(config), dry_run=dry_run, yes=yes,
                           confirm=_confirm_with(quick_wins.render_actions))
    finish(result, json_out, quick_wins.render)


@app.command("stabilize")
def stabilize_cmd(
    unit: Optional[str] = typer.Argument(None, help="Only this unit (with --undo: put back only this unit)."),
    suite: list[str] = typer.Option([], "--suite", help="Only this suite (repeatable)."),
    undo: bool = typer.Option(False, "--undo", help="Remove the stabilize drop-ins and restart the units on their own venvs."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print per unit the old and new ExecStart; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    find_links: Optional[Path] = typer.Option(None, "--find-links", help="A wheelhouse to install the locks from."),
    offline: bool = typer.Option(False, "--offline", help="Install from the wheelhouse only (no index)."),
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Build each suite's venv from its lock and repoint its units at it, health-gated, reversible."""
    from revops.commands import stabilize

    options = stabilize.Options(dry_run=dry_run, yes=yes, undo=undo, units=(unit,) if unit else (),
                                suites=tuple(suite), find_links=find_links, offline=offline)
    result = stabilize.run(load_config(config), options, confirm=_confirm_with(stabilize.render_plan))
    finish(result, json_out, stabilize.render)


@app.command("cleanup")
def cleanup_cmd(
    apply: bool = typer.Option(False, "--apply", help="Move the planned files into the quarantine."),
    undo: Optional[str] = typer.Option(None, "--undo", metavar="RUN", help="Put a quarantine run's files back."),
    json_out: bool = JsonOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Phase 3: plan (default), --apply into a quarantine with a manifest, --undo RUN."""
    from revops.commands import cleanup

    if apply and undo is not None:
        raise errors.UsageError("--apply and --undo cannot be combined")
    result = cleanup.run(load_config(config), apply=apply, undo=undo)
    finish(result, json_out, cleanup.render)


@app.command("generate")
def generate_cmd(
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 with a diff when compose/ differs."),
    target: Optional[str] = TargetOpt,
    config: Optional[Path] = ConfigOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Write compose/: a Dockerfile and a compose file per suite, the top-level docker-compose.yml
    and, for a Swarm target (revops.yaml `swarm:`), the stack file <stack>.stack.yml."""
    from revops.commands import generate

    result = generate.run(load_config(config), check=check, target=target)
    finish(result, json_out, generate.render)


@app.command("validate")
def validate_cmd(
    paths: list[Path] = typer.Argument(None, help="Compose files, Dockerfiles or directories (default: compose/)."),
    fmt: str = typer.Option("text", "--format", help="text, json, junit or sarif."),
    json_out: bool = typer.Option(False, "--json", help="Same as --format json."),
    strict: bool = typer.Option(False, "--strict", help="Fail on warnings too."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Check compose files and Dockerfiles: compose-spec schema, revops' rules, compose config, hadolint."""
    from revops.commands import validate

    fmt = "json" if json_out else fmt
    found = config is not None or Path(config_mod.CONFIG_NAME).is_file()
    request = validate.Request(list(paths or []), fmt, strict)
    result = validate.run(request, load_config(config) if found else None)
    finish(result, fmt == "json", validate.renderer(fmt))


@app.command("build")
def build_cmd(
    suite: list[str] = typer.Option([], "--suite", help="Only this suite (repeatable)."),
    find_links: Optional[Path] = typer.Option(
        None, "--find-links", envvar="REVOPS_WHEELHOUSE",
        help="Offline: fill the wheelhouse from this directory, no index (default: $REVOPS_WHEELHOUSE)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be built; build nothing."),
    push: bool = typer.Option(False, "--push", help="Tag each image for revops.yaml's swarm.registry and push it there."),
    config: Optional[Path] = ConfigOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Build the images of the generated compose files (wheelhouse from the locks, docker SDK, no index)."""
    from revops.commands import build

    result = build.run(load_config(config), build.Options(tuple(suite), find_links, dry_run, push))
    finish(result, json_out, build.render)


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
    except Exception as exc:  # a bug, or an outside failure no adapter translated
        if os.environ.get("REVOPS_DEBUG"):
            raise
        output.error(f"unexpected {type(exc).__name__}: {exc}",
                     hint="this is a revops bug; rerun with REVOPS_DEBUG=1 for the traceback and report it")
        sys.exit(errors.EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else errors.EXIT_OK)
