"""The build context of a suite: what `revops build` stages beside the generated Dockerfile.

compose/<suite>/.stage/ holds the suite's lock, a wheelhouse with exactly the wheels the lock
pins (matched by hash), and a copy of each service's code (venvs, caches and .env files left
out). compose's `build.context` is compose/<suite>, so `docker-compose build` works once staged.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from revops import entrypoint
from revops.unitfile.rootfs import RootFS, RootReadError

STAGE = ".stage"
# revops' entrypoint, copied as it is into every build context (under STAGE); the Dockerfile
# names its digest, so a change to it gives every image a new tag.
ENTRYPOINT_SOURCE = Path(entrypoint.__file__)
STAGED_ENTRYPOINT = "revops/entrypoint.py"
SCRIPTS = "scripts"  # .stage/scripts/<service>/<n>: ServiceSpec.scripts, in order from 1
SCRIPT_MODE = 0o644  # a staged script's mode, as the image holds it
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
# Never copied into an image: old venvs, caches, VCS data, and env files (secrets).
CODE_IGNORE = ("venv", "venv.*", ".venv", "__pycache__", "*.pyc", ".git", ".env", ".env.*", "*.env")


@dataclass(frozen=True)
class LockedRequirement:
    line: str  # "fastapi==0.115.12"
    hashes: frozenset[str]


def locked_requirements(lock_text: str) -> list[LockedRequirement]:
    """Each requirement of a pip-tools lock with its sha256 hashes (continuations joined)."""
    entries, current = [], ""
    for raw in lock_text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        current += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            entries.append(current.strip())
            current = ""
    if current.strip():
        entries.append(current.strip())
    result = []
    for entry in entries:
        if entry.startswith("-"):
            continue  # options such as --find-links: the build decides those
        result.append(LockedRequirement(entry.split()[0], frozenset(_HASH.findall(entry))))
    return result


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def matching_wheels(wheelhouse: Path, requirements: list[LockedRequirement]) -> tuple[dict[str, Path], list[str]]:
    """{requirement line: file in the wheelhouse whose hash the lock allows}, and the lines with none."""
    wanted = {h: r.line for r in requirements for h in r.hashes}
    found: dict[str, Path] = {}
    if wheelhouse.is_dir():
        for path in sorted(wheelhouse.iterdir()):
            if path.is_file() and _could_be(path.name, requirements):
                line = wanted.get(sha256_file(path))
                if line and line not in found:
                    found[line] = path
    missing = [r.line for r in requirements if r.line not in found]
    return found, missing


def _could_be(filename: str, requirements: list[LockedRequirement]) -> bool:
    """Hash only files whose name starts like a locked distribution (cheap pre-filter)."""
    norm = re.sub(r"[-_.]+", "_", filename).lower()
    return any(norm.startswith(re.sub(r"[-_.]+", "_", r.line.split("==")[0]).lower() + "_") for r in requirements)


def _ignore(directory: str, names: list[str]) -> set[str]:
    skipped = {n for n in names for pattern in CODE_IGNORE if fnmatch.fnmatchcase(n, pattern)}
    # any directory holding pyvenv.cfg is a venv, whatever its name
    skipped |= {n for n in names if (Path(directory) / n / "pyvenv.cfg").exists()}
    return skipped


def stage(context_dir: Path, lock_text: str, wheels: dict[str, Path], code_dirs: dict[str, Path],
          scripts: dict[str, tuple[str, ...]] | None = None, root: Path | None = None) -> Path:
    """(Re)write context_dir/.stage from the lock, the matched wheels and each service's code dir,
    and each service's scripts outside it (ServiceSpec.scripts, read inside the host `root`
    only) as .stage/scripts/<service>/<n>, n from 1 in their order, which the Dockerfile copies
    to their paths. Raises RootReadError when a script is not a regular file inside the root."""
    stage_dir = context_dir / STAGE
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    (stage_dir / "wheelhouse").mkdir(parents=True)
    (stage_dir / "requirements.lock").write_text(lock_text, encoding="utf-8")
    staged = stage_dir / STAGED_ENTRYPOINT
    staged.parent.mkdir(parents=True)
    shutil.copyfile(ENTRYPOINT_SOURCE, staged)
    staged.chmod(SCRIPT_MODE)  # run by every service's user: not left to the umask
    for path in wheels.values():
        _link_or_copy(path, stage_dir / "wheelhouse" / path.name)
    for service, code in sorted(code_dirs.items()):
        shutil.copytree(code, stage_dir / "services" / service, ignore=_ignore, symlinks=True)
        _readable_by_all(stage_dir / "services" / service)
    fs = RootFS(root or "/", cache=False)
    for service, paths in sorted((scripts or {}).items()):
        for number, script in enumerate(paths, start=1):
            target = stage_dir / SCRIPTS / service / str(number)
            target.parent.mkdir(parents=True, exist_ok=True)
            with fs.open(script) as handle, open(target, "wb") as out:
                shutil.copyfileobj(handle, out)
            # COPY gives it to root with this mode and the service runs as its own user: readable
            # by all, whatever the builder's umask or the host file's group (0640 root:app)
            target.chmod(SCRIPT_MODE)
    return stage_dir


def scripts_digest(fs: RootFS, code: str | None, scripts: tuple[str, ...]) -> str | None:
    """`code` (a code_digest) extended by each script's path and bytes, read inside `fs`'s root;
    `code` itself when there are none; None when the code or any script cannot be read."""
    if code is None or not scripts:
        return code
    digest = hashlib.sha256(code.encode())
    for script in scripts:
        try:
            with fs.open(script) as handle:
                digest.update(f"{script}\0{_sha256_of(handle)}\n".encode())
        except (RootReadError, OSError):
            return None
    return digest.hexdigest()


def _readable_by_all(tree: Path) -> None:
    """Directories 0755, files 0644 (0755 where the host gave any execute bit); symlinks as
    they are. COPY gives the code to root with the modes it has here, and the service runs as
    its own user: a 0640 root:app file or a 0700 directory on the host (or a builder's umask)
    would leave its own code unreadable to it."""
    for directory, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                os.chmod(path, 0o755)
            elif stat.S_ISREG(st.st_mode):
                os.chmod(path, 0o755 if st.st_mode & 0o111 else 0o644)
    os.chmod(tree, 0o755)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def entrypoint_digest() -> str:
    """sha256 (hex) of the entrypoint shipped into the images."""
    return sha256_file(ENTRYPOINT_SOURCE)


def tree_digest(*paths: Path) -> str:
    """A digest of files' relative paths and bytes: what decides whether an image is current."""
    digest = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            rel = path.name if root.is_file() else path.relative_to(root).as_posix()
            digest.update(f"{rel}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def code_digest(code: Path) -> str | None:
    """A digest of what `stage` would copy from a service's code dir (same exclusions), or None
    when the directory is not on disk or cannot be read (e.g. generating in the repo, off the host).

    As `stage` copies symlinks as symlinks, a symlink counts by its target text and is never
    followed (a link in the code to a file outside the host root is not read); only regular
    files are read, each opened without following links and without blocking (never a FIFO)."""
    if code.is_symlink() or not code.is_dir():
        return None
    digest = hashlib.sha256()
    try:
        for directory, dirs, files in os.walk(code, onerror=_raise):
            skipped = _ignore(directory, dirs + files)
            dirs[:] = sorted(d for d in dirs if d not in skipped)
            linked = [d for d in dirs if os.path.islink(os.path.join(directory, d))]  # walk does not follow
            for name in sorted([*linked, *(f for f in files if f not in skipped)]):
                path = Path(directory) / name
                rel = path.relative_to(code).as_posix()
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    digest.update(f"{rel}\0->{os.readlink(path)}\n".encode())
                elif stat.S_ISREG(st.st_mode):
                    with RootFS(directory, cache=False).open("/" + name) as handle:
                        digest.update(f"{rel}\0{_sha256_of(handle)}\n".encode())
    except OSError:
        return None
    return digest.hexdigest()


def _sha256_of(handle) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _raise(error: OSError) -> None:
    raise error
