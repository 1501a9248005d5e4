"""Drives the resolvers as subprocesses: pip-tools (`python -m piptools compile`) or uv.

Both are run with flags that make their output the same shape: no header of their own
(revops writes one holding the input digest), no index or find-links lines, hashes for
every pin, pip and setuptools pinned too so `pip install --require-hashes` needs nothing else.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from revops.adapters import proc
from revops.errors import AdapterUnavailable, CheckFailed

PIP_TOOLS = "pip-tools"
UV = "uv"
RESOLVERS = (PIP_TOOLS, UV)
_STDERR_LINES = 25


class ResolverFailed(CheckFailed):
    """The resolver could not produce a lock; the message is its own explanation, trimmed."""


@dataclass(frozen=True)
class Sources:
    """Where packages come from: the default index, or only a wheelhouse (offline)."""

    find_links: Path | None = None
    offline: bool = False


def hermetic_env(offline: bool) -> dict[str, str]:
    """Offline, pip and uv must see only our flags: no PIP_*/UV_* variables, no config files."""
    env = dict(os.environ)
    if offline:
        env = {k: v for k, v in env.items() if not k.startswith(("PIP_", "UV_"))}
        env["PIP_CONFIG_FILE"] = os.devnull
        env["UV_NO_CONFIG"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip_tools_argv(input_name: str, output_name: str, sources: Sources) -> list[str]:
    argv = [sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--allow-unsafe",
            "--strip-extras", "--no-header", "--no-emit-options", "--resolver=backtracking",
            "--output-file", output_name]
    return argv + _source_flags(sources) + [input_name]


def uv_argv(input_name: str, output_name: str, sources: Sources) -> list[str]:
    # pip-tools judges markers for the interpreter running it; uv must judge them for the same
    # full version (python_full_version < "3.11.3" markers exist: redis -> async-timeout).
    argv = [uv_path(), "pip", "compile", "--quiet", "--generate-hashes", "--no-header", "--no-config",
            "--python-version", platform.python_version(), "--output-file", output_name]
    if sources.offline:
        argv.append("--offline")
    return argv + _source_flags(sources) + [input_name]


def _source_flags(sources: Sources) -> list[str]:
    flags = ["--no-index"] if sources.offline else []
    if sources.find_links is not None:
        flags += ["--find-links", str(Path(sources.find_links).resolve())]
    return flags


def uv_path() -> str:
    found = proc.which("uv")
    if found is None:
        raise AdapterUnavailable("uv is not installed; the uv resolver needs it",
                                 hint="pip install uv, or use --resolver pip-tools")
    return found


def label(resolver: str) -> str:
    """The resolver and its version, for the lock's header."""
    if resolver == UV:
        return proc.run([uv_path(), "--version"]).stdout.strip()
    return f"pip-tools {metadata.version('pip-tools')}"


def compile_lock(resolver: str, input_text: str, input_name: str, previous_lock: Path | None,
                 sources: Sources, timeout: float = 900) -> str:
    """Resolve `input_text`; return the lock body (requirements with hashes, no header).

    Runs in a scratch directory so the tool's annotations read `-r <suite>.in` whatever the
    repo's path, and given the previous lock so unchanged pins are kept where they still fit.
    """
    output_name = Path(input_name).with_suffix(".txt").name
    with tempfile.TemporaryDirectory(prefix="revops-lock-") as scratch:
        work = Path(scratch)
        (work / input_name).write_text(input_text, encoding="utf-8")
        if previous_lock is not None and previous_lock.is_file():
            shutil.copyfile(previous_lock, work / output_name)
        build = uv_argv if resolver == UV else pip_tools_argv
        done = proc.run(build(input_name, output_name, sources), cwd=work, env=hermetic_env(sources.offline),
                        check=False, timeout=timeout)
        if done.returncode != 0:
            raise ResolverFailed(f"{resolver} could not resolve {input_name}:\n{explain(done.stderr or done.stdout)}")
        return strip_tool_header((work / output_name).read_text(encoding="utf-8"))


def strip_tool_header(text: str) -> str:
    """Drop leading comment lines (a previous revops header the tool copied, or its own)."""
    lines = text.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines) + "\n"


_CAUSE = re.compile(r"SpecifierRequirement\('(?P<req>[^']+)'\), parent=(?:None|\w+\('(?P<parent>[^']+)'\))")


def explain(stderr: str) -> str:
    """The resolver's own explanation, without Python tracebacks, its tail when long.

    pip-tools ends a failed resolution with pip's chained traceback; what matters in it is
    the message before it, the pairs of requirements that clash, and the last exception line.
    """
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        first = next(i for i, line in enumerate(lines) if line.startswith("Traceback"))
        causes = [_cause(m) for m in _CAUSE.finditer(stderr)]
        last = [line for line in lines[first:] if not line.startswith((" ", "Traceback"))][-1:]
        lines = [line.strip() for line in lines[:first]] + causes + last
    if len(lines) > _STDERR_LINES:
        lines = [f"... ({len(lines) - _STDERR_LINES} lines before)"] + lines[-_STDERR_LINES:]
    return "\n".join(lines) if lines else "(no explanation printed)"


def _cause(match: re.Match) -> str:
    parent = match.group("parent")
    if parent is None:
        return f"  {match.group('req')} is asked for by the input"
    return f"  {match.group('req')} is asked for by {Path(parent).name.split('-py')[0].replace('-', ' ', 1)}"
