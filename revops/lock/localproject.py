"""Local projects a service installs from a path (`-e ../libs/common`, `./vendor/lib`, a wheel
file): carried into the image as wheels that `revops lock` builds and pins by hash.

The air-gapped image build installs only hash-pinned wheels from the wheelhouse, so a local
project becomes one: its tree (regular files only, never a symlink, never venvs, caches,
VCS data or env files) is copied to a scratch directory and built with `pip wheel --no-deps`
under the target interpreter, reproducibly (SOURCE_DATE_EPOCH), into the wheelhouse that
`revops build` reads (paths.wheelhouse). The lock then pins it as `name==version` with that
wheel's hash, like any other wheel. The input file names the project with a digest of its
tree, so a change to the project re-locks the suite and nothing else does.

Building runs the project's own build code (setup.py, a build backend). Run as root, revops
drops to user nobody for it (setpriv) whenever the interpreter and the packages it imports
are readable by others, so that code can neither read the machine's secrets nor write
outside its scratch directory; otherwise the build runs as revops does and the result says so.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from revops.adapters import proc
from revops.lock import resolver

# Never part of a build: old venvs, caches, VCS data, build output, and env files (secrets).
IGNORE = ("venv", "venv.*", ".venv", "__pycache__", "*.pyc", ".git", ".hg", ".svn", ".tox", ".nox",
          ".mypy_cache", ".pytest_cache", "build", "dist", "*.egg-info", ".env", ".env.*", "*.env")
MAX_FILES = 20000
PROJECT_FILES = ("pyproject.toml", "setup.py")  # what makes a directory installable, as pip decides
# 1980-01-01: the earliest time a zip (wheel) can record; builds are the same bytes each time.
SOURCE_DATE_EPOCH = "315532800"


class LocalProjectError(Exception):
    """A local project that cannot be read or built; the message says why and what to do."""


NOBODY = 65534


@dataclass(frozen=True)
class Built:
    name: str  # the distribution's name, from the wheel
    version: str
    wheel: Path  # in the wheelhouse
    sha256: str
    privileged: bool = False  # the project's build code ran with revops' own (root) privileges


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORE)


def files(directory: Path) -> list[str]:
    """The project's files relative to `directory`, sorted; LocalProjectError for anything but
    regular files and directories (a symlink could point anywhere on this machine)."""
    found: list[str] = []
    todo = [""]
    while todo:
        rel = todo.pop()
        with os.scandir(directory / rel if rel else directory) as entries:
            for entry in entries:
                if _ignored(entry.name):
                    continue
                path = f"{rel}/{entry.name}" if rel else entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    if not (directory / path / "pyvenv.cfg").exists():
                        todo.append(path)
                elif stat.S_ISREG(mode):
                    found.append(path)
                else:
                    what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                    raise LocalProjectError(f"{path} is {what}; revops builds local projects from regular files only")
                if len(found) > MAX_FILES:
                    raise LocalProjectError(f"more than {MAX_FILES} files: not built")
    return sorted(found)


def digest(path: Path) -> str:
    """sha256 over a project's files (relative path and bytes), or of an archive's bytes."""
    if path.is_file():
        return sha256_file(path)
    total = hashlib.sha256()
    for rel in files(path):
        total.update(f"{rel}\0{sha256_file(path / rel)}\n".encode())
    return total.hexdigest()


def is_project(directory: Path) -> bool:
    return any(os.path.isfile(directory / name) and not os.path.islink(directory / name) for name in PROJECT_FILES)


def build(source: Path, python: str | None, sources: resolver.Sources, wheelhouse: Path,
          timeout: float = 900) -> Built:
    """A wheel of `source` (a project directory, an sdist or a wheel file) in `wheelhouse`.

    The build's own requirements (setuptools, hatchling, ...) come from the lock's sources; when
    those lack them offline, the backend importable by revops' environment is used instead.
    """
    wheelhouse.mkdir(parents=True, exist_ok=True)
    if source.is_file() and source.name.endswith(".whl"):
        return _place(source, wheelhouse)
    python = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="revops-local-") as scratch:
        work = Path(scratch)
        if source.is_dir():
            target = work / "src"
            for rel in files(source):
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, target / rel)
        else:
            target = work / source.name
            shutil.copyfile(source, target)
        out = work / "out"
        done = None
        for attempt in _attempts(python, sources):
            shutil.rmtree(out, ignore_errors=True)
            interpreter, isolated = attempt
            env = resolver.borrowed_env(interpreter, resolver.hermetic_env(sources.offline))
            env.update(SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, HOME=str(work), TMPDIR=str(work))
            argv = [interpreter, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                    "--no-cache-dir", "--wheel-dir", out, *([] if isolated else ["--no-build-isolation"]),
                    *resolver.source_flags(sources), target]
            drop = _as_nobody(work, interpreter, env)
            done = proc.run([*drop, *argv], cwd=work, env=env, check=False, timeout=timeout)
            if done.returncode == 0:
                (wheel,) = out.glob("*.whl")
                return _place(wheel, wheelhouse, privileged=os.geteuid() == 0 and not drop)
        raise LocalProjectError("pip wheel failed:\n" + resolver.explain(done.stderr or done.stdout))


def _as_nobody(work: Path, interpreter: str, env: dict[str, str]) -> list[str]:
    """The setpriv prefix that runs the build as nobody, when revops is root and nobody can run
    the interpreter and read what it imports; [] otherwise. Hands the scratch directory over."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return []
    needed = [os.path.realpath(interpreter), *env.get("PYTHONPATH", "").split(os.pathsep)]
    if not all(_others_can_use(Path(p)) for p in needed if p):
        return []
    for directory, dirs, names in os.walk(work):
        for name in [directory, *(os.path.join(directory, n) for n in dirs + names)]:
            os.lchown(name, NOBODY, NOBODY)
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


def _others_can_use(path: Path) -> bool:
    """Every directory on the way is searchable by others, and the path itself readable."""
    try:
        if not path.stat().st_mode & stat.S_IROTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False


def _attempts(python: str, sources: resolver.Sources) -> list[tuple[str, bool]]:
    """(interpreter, build isolation) to try in turn: the project's own build requirements from the
    lock's sources; offline, when those lack them, the build backend revops' environment has,
    under the target interpreter, then under revops' own (whose setuptools may be patched for it)."""
    attempts = [(python, True)]
    if sources.offline:
        attempts.append((python, False))
        if python != sys.executable:
            attempts.append((sys.executable, False))
    return attempts


def _place(wheel: Path, wheelhouse: Path, privileged: bool = False) -> Built:
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as exc:
        raise LocalProjectError(f"{wheel.name}: {exc}") from None
    target = wheelhouse / wheel.name
    if target.resolve() != wheel.resolve():
        tmp = wheelhouse / f".{wheel.name}.{os.getpid()}"
        shutil.copyfile(wheel, tmp)
        os.replace(tmp, target)
    return Built(str(name), str(version), target, sha256_file(target), privileged)


def sha256_file(path: Path) -> str:
    """The hash `revops build` matches a wheel by (hashlib.file_digest: no generate import here,
    which would cost a no-change re-lock 160 ms of jsonschema)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def find_in(wheelhouse: Path, name: str, sha256: str) -> Path | None:
    """The wheel of distribution `name` with that hash in the wheelhouse, if still there."""
    prefix = name.replace("-", "_").lower() + "-"
    if not wheelhouse.is_dir():
        return None
    for path in sorted(wheelhouse.glob("*.whl")):
        if path.name.lower().startswith(prefix) and sha256_file(path) == sha256:
            return path
    return None

