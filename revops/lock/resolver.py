"""Drives the resolvers as subprocesses: pip-tools (`python -m piptools compile`) or uv.

Both are run with flags that make their output the same shape: no header of their own
(revops writes one holding the input digest), no index or find-links lines, hashes for
every pin, pip and setuptools pinned too so `pip install --require-hashes` needs nothing else.

Both resolve for the target interpreter (revops.lock.target), whatever Python runs revops:
pip-tools judges markers with the interpreter it runs under and has no option to pretend
otherwise (`--pip-args --python-version` changes wheel tags, not markers: pip-tools #1124,
pip #10050), so it is run under an interpreter of exactly the target version found on this
machine, importing pip-tools from revops' own environment; uv takes `--python-version X.Y.Z`.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import sysconfig
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


def pip_tools_argv(input_name: str, output_name: str, sources: Sources, python: str | None = None) -> list[str]:
    """`python -m piptools compile` under `python` (default: this interpreter)."""
    argv = [python or sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--allow-unsafe",
            "--strip-extras", "--no-header", "--no-emit-options", "--resolver=backtracking",
            "--output-file", output_name]
    return argv + source_flags(sources) + [input_name]


def uv_argv(input_name: str, output_name: str, sources: Sources, python_version: str | None = None) -> list[str]:
    # uv judges markers for the full version given (python_full_version < "3.11.3" markers exist:
    # redis -> async-timeout), so the lock is the target's whatever runs revops.
    argv = [uv_path(), "pip", "compile", "--quiet", "--generate-hashes", "--no-header", "--no-config",
            "--python-version", python_version or platform.python_version(), "--output-file", output_name]
    if sources.offline:
        argv.append("--offline")
    return argv + source_flags(sources) + [input_name]


def source_flags(sources: Sources) -> list[str]:
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


# ---- the target interpreter ----------------------------------------------------------------

_VERSION_PROBE = "import platform; print(platform.python_version())"


def interpreter_candidates(version: str) -> list[str]:
    """Where an interpreter of `version` ("3.11.2") may be on this machine, most likely first:
    this one, PATH, the usual system directories, pyenv's and uv's version directories."""
    minor = ".".join(version.split(".")[:2])
    names = (f"python{minor}", "python3", "python")
    found = [sys.executable]
    directories = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]
    found += [os.path.join(d, n) for d in directories if d for n in names]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found.append(str(pyenv / "versions" / version / "bin" / f"python{minor}"))
    uv_pythons = Path(os.environ.get("UV_PYTHON_INSTALL_DIR") or Path.home() / ".local/share/uv/python")
    found += sorted(str(p / "bin" / f"python{minor}") for p in uv_pythons.glob(f"cpython-{version}-*"))
    return found


def find_interpreter(version: str) -> str | None:
    """An interpreter whose platform.python_version() is exactly `version`, or None.

    Each distinct executable is asked once (a few ms each); only when a suite is resolved.
    """
    if platform.python_version() == version:
        return sys.executable
    asked: set[str] = set()
    for candidate in interpreter_candidates(version):
        real = os.path.realpath(candidate)
        if real in asked or not os.path.isfile(real) or not os.access(real, os.X_OK):
            continue
        asked.add(real)
        done = proc.run([candidate, "-I", "-c", _VERSION_PROBE], check=False, timeout=30)
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def borrowed_env(python: str, env: dict[str, str]) -> dict[str, str]:
    """Let another interpreter import pip-tools (pure Python) from revops' own environment."""
    if python == sys.executable:
        return env
    # Every site directory this process imports from (a venv's own, and any a .pth file adds),
    # never the standard library: the other interpreter keeps its own.
    found = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    found += [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]
    paths = dict.fromkeys(p for p in found if os.path.isdir(p))
    return {**env, "PYTHONPATH": os.pathsep.join(paths), "PYTHONNOUSERSITE": "1"}


class NoInterpreter(ResolverFailed):
    """No interpreter of the target version on this machine to run pip-tools under."""


def target_interpreter(version: str, source: str) -> str:
    found = find_interpreter(version)
    if found is None:
        raise NoInterpreter(
            f"pip-tools judges markers with the interpreter it runs under, and no Python {version} "
            f"(the target, from {source}) is on this machine (looked in PATH, /usr/bin, /usr/local/bin, "
            f"pyenv and uv version directories). Install Python {version} (e.g. `pyenv install {version}`), "
            f"or lock with `--resolver uv`, which resolves for any version.")
    return found


def label(resolver: str) -> str:
    """The resolver and its version, for the lock's header."""
    if resolver == UV:
        return proc.run([uv_path(), "--version"]).stdout.strip()
    return f"pip-tools {metadata.version('pip-tools')}"


def compile_lock(resolver: str, input_text: str, input_name: str, previous_lock: Path | None,
                 sources: Sources, python_version: str, python: str | None = None, timeout: float = 900,
                 extra_files: dict[str, str] | None = None) -> str:
    """Resolve `input_text` for Python `python_version`; return the lock body (hashes, no header).

    python: the interpreter to run pip-tools under (one of exactly python_version, from
    target_interpreter()); uv needs none. extra_files: name -> text written beside the input
    (a constraints file the input names with -c). Runs in a scratch directory so the tool's
    annotations read `-r <suite>.in` whatever the repo's path, and given the previous lock so
    unchanged pins are kept where they still fit.
    """
    output_name = Path(input_name).with_suffix(".txt").name
    with tempfile.TemporaryDirectory(prefix="revops-lock-") as scratch:
        work = Path(scratch)
        (work / input_name).write_text(input_text, encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (work / name).write_text(text, encoding="utf-8")
        if previous_lock is not None and previous_lock.is_file():
            shutil.copyfile(previous_lock, work / output_name)
        env = hermetic_env(sources.offline)
        if resolver == UV:
            argv = uv_argv(input_name, output_name, sources, python_version)
        else:
            python = python or sys.executable
            argv, env = pip_tools_argv(input_name, output_name, sources, python), borrowed_env(python, env)
        done = proc.run(argv, cwd=work, env=env, check=False, timeout=timeout)
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
