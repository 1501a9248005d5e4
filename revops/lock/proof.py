"""Proof that a lock is whole: it installs by hash alone, `pip check` is clean, the apps import.

The venv is made without pip (fast) and filled by this interpreter's pip through
`pip --python`, from the wheelhouse only, exactly as an air-gapped image build would.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from revops.adapters import proc
from revops.lock.resolver import explain, hermetic_env
from revops.lock import lockfile

_APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):[A-Za-z_][\w.]*(\(\))?$")


@dataclass
class ImportCheck:
    service: str
    module: str | None
    ok: bool | None  # None: not tried (nothing to import)
    detail: str | None = None  # why it failed, or why it was not tried


@dataclass
class Proof:
    lockfile: str
    installed: bool = False
    pip_check: bool = False
    imports: list[ImportCheck] = field(default_factory=list)
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.installed and self.pip_check and all(i.ok for i in self.imports if i.ok is not None)


@dataclass(frozen=True)
class AppUnderTest:
    service: str
    directory: Path | None  # the working directory on disk
    module: str | None  # what to import, None when the unit names none we can find


def app_module(exec_start: list[list[str]], directory: Path | None) -> str | None:
    """The module a unit serves: `mod` of `uvicorn mod:app`, `python -m mod`, `python mod.py`, else app.py."""
    for argv in exec_start:
        for arg in argv[1:]:
            match = _APP_SPEC.match(arg)
            if match:
                return match.group("module")
    for argv in exec_start:
        args = argv[1:]
        if "-m" in args and args.index("-m") + 1 < len(args):
            module = args[args.index("-m") + 1]
            if module not in ("uvicorn", "gunicorn", "hypercorn"):
                return module
        scripts = [a for a in args if a.endswith(".py")]
        if scripts and Path(argv[0]).name.startswith("python"):
            return Path(scripts[0]).stem
    if directory is not None and ((directory / "app.py").is_file() or (directory / "app").is_dir()):
        return "app"
    return None


def prove(lock_path: Path, wheelhouse: Path, apps: list[AppUnderTest], timeout: float = 600,
          python: str | None = None, also: list[Path] = ()) -> Proof:
    """Install the lock into a fresh venv of `python` (default: this interpreter) from
    `wheelhouse` (and the `also` directories that exist), `pip check` it, and import each
    app's module in it."""
    with tempfile.TemporaryDirectory(prefix="revops-proof-") as scratch:
        venv = Path(scratch) / "venv"
        proof = Proof(lockfile=str(lock_path))
        made = make_venv(venv, python, timeout)
        if made is not None:
            proof.detail = made
            return proof
        return fill_and_prove(venv, lock_path, links([wheelhouse, *also]), apps, timeout=timeout)


def make_venv(venv: Path, python: str | None = None, timeout: float = 600) -> str | None:
    """A venv of `python` (default: this interpreter) at `venv`, without pip (revops' own pip
    fills it with `--python`); None when made, else why not."""
    made = proc.run([python or sys.executable, "-m", "venv", "--without-pip", venv], check=False, timeout=timeout)
    return None if made.returncode == 0 else f"python -m venv failed: {explain(made.stderr)}"


def links(directories: list[Path]) -> list[Path]:
    """The wheel directories that exist, for `--find-links`."""
    return [Path(d).resolve() for d in directories if Path(d).is_dir()]


def fill_and_prove(venv: Path, lock_path: Path, find_links: list[Path], apps: list[AppUnderTest], *,
                   offline: bool = True, timeout: float = 600) -> Proof:
    """Install the lock by hash into the venv (from `find_links` alone when offline, else the
    index as pip is configured, with `find_links` beside it), then `pip check` it and import
    each app's module with its interpreter. The venv's own path is used as given, so console
    scripts name that path in their `#!` line."""
    # pip is given the lock: nothing in it may be an option, a file, a URL or a variable
    # (lockfile.check_installable: LockfileError, exit 2, naming the file and line).
    lockfile.check_installable(Path(lock_path), Path(lock_path).read_text(encoding="utf-8"))
    proof = Proof(lockfile=str(lock_path))
    env = hermetic_env(offline=offline)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python]
    sources = [arg for d in find_links for arg in ("--find-links", d)]
    install = proc.run(pip + ["install", "--require-hashes", "--no-deps", *(["--no-index"] if offline else []),
                              *sources, "-r", Path(lock_path).resolve()],
                       env=env, check=False, timeout=timeout)
    proof.installed = install.returncode == 0
    if not proof.installed:
        proof.detail = f"pip install --require-hashes failed:\n{explain(install.stderr)}"
        return proof
    return prove_installed(venv, proof, apps, timeout)


def prove_installed(venv: Path, proof: Proof, apps: list[AppUnderTest], timeout: float = 600) -> Proof:
    """`pip check` of the venv and each app's import with its interpreter, into `proof`
    (for a venv filled just now, or one built earlier and proven again)."""
    python = venv / "bin" / "python"
    check = proc.run([sys.executable, "-m", "pip", "--python", python, "check"], env=hermetic_env(offline=True),
                     check=False, timeout=timeout)
    proof.pip_check = check.returncode == 0
    if not proof.pip_check:
        proof.detail = f"pip check:\n{explain(check.stdout + check.stderr)}"
    proof.imports = import_apps(python, apps, timeout)
    return proof


def import_apps(python: Path, apps: list[AppUnderTest], timeout: float = 600) -> list[ImportCheck]:
    """Each app's module imported by `python` in the app's working directory."""
    return [_import(python, app, timeout) for app in apps]


def _import(python: Path, app: AppUnderTest, timeout: float) -> ImportCheck:
    if app.module is None or app.directory is None or not app.directory.is_dir():
        why = "no working directory on disk" if app.module else "no app module named by the unit"
        return ImportCheck(app.service, app.module, None, f"not tried: {why}")
    # A bare environment: the service's secrets (EnvironmentFile) are never read here, and no
    # bytecode is written into the host's module directory.
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    done = proc.run([python, "-c", f"import {app.module}"], cwd=app.directory, env=env, check=False, timeout=timeout)
    if done.returncode == 0:
        return ImportCheck(app.service, app.module, True)
    return ImportCheck(app.service, app.module, False, explain(done.stderr))
