"""Moving files into the quarantine and back, byte for byte.

A run's quarantine is `.revops/quarantine/<run>/` under the ops repo: `files/` mirrors the
host paths, `manifest.json` lists every moved entry (file, directory or symlink) with its
sha256, mode, mtime and symlink target, so `undo` can put each back and prove it did.
Nothing outside the configured unit and venv directories is ever moved, in either direction.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from revops.config import Config
from revops.errors import CheckFailed, UsageError

MANIFEST = "manifest.json"
FILES = "files"
MANIFEST_VERSION = 1


@dataclass
class Entry:
    path: str  # as the host sees it
    type: str  # file, dir, symlink
    mode: int
    mtime_ns: int
    sha256: str | None = None
    target: str | None = None  # symlink target, as written


@dataclass
class Moved:
    kind: str
    name: str
    why: str
    path: str  # the top path moved (a file, a symlink or a directory)
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Manifest:
    run: str
    created_at: str
    root: str
    items: list[Moved] = field(default_factory=list)
    version: int = MANIFEST_VERSION
    restored_at: str | None = None


# ---------------------------------------------------------------------------------------
# Where things may be


def allowed_roots(config: Config) -> list[Path]:
    return [config.root / d for d in (*config.unit_dirs, *config.venv_search)]


def on_host(config: Config, host_path: str) -> Path:
    """The real path of a host path under config.root; refused when outside the allowed dirs.

    The parent is resolved (a symlinked directory cannot smuggle a path out); the entry itself
    is not, because a symlink is moved as a symlink.
    """
    relative = host_path.lstrip("/")
    candidate = config.root / relative
    parent = Path(os.path.realpath(candidate.parent))
    real = parent / candidate.name
    for base in allowed_roots(config):
        base_real = Path(os.path.realpath(base))
        if real != base_real and real.is_relative_to(base_real):
            return real
    raise UsageError(f"{host_path}: outside the unit and venv directories of {config.path} "
                     f"({', '.join('/' + str(b.relative_to(config.root)) for b in allowed_roots(config))}); refused")


def host_path(config: Config, real: Path) -> str:
    return "/" + str(real.relative_to(Path(os.path.realpath(config.root))))


# ---------------------------------------------------------------------------------------
# What a unit brings along


def unit_paths(config: Config, unit_name: str, fragment: str | None) -> list[str]:
    """The fragment, its drop-in directories, and the symlinks naming or pointing at it
    (aliases, *.wants/, *.requires/): everything systemd would still find."""
    found: list[str] = []
    for unit_dir in config.unit_dirs:
        base = config.root / unit_dir
        if not base.is_dir():
            continue
        for entry in _unit_dir_entries(base):
            if _belongs(entry, unit_name, fragment):
                found.append(host_path(config, entry))
    if fragment:
        frag = "/" + fragment.lstrip("/")
        if frag not in found and (config.root / fragment.lstrip("/")).exists():
            found.append(frag)
    return sorted(set(found))


def _unit_dir_entries(base: Path) -> Iterable[Path]:
    for entry in base.iterdir():
        yield entry
        if entry.is_dir() and not entry.is_symlink() and entry.name.endswith((".wants", ".requires", ".upholds")):
            yield from entry.iterdir()


def _belongs(entry: Path, unit_name: str, fragment: str | None) -> bool:
    if entry.name in (unit_name, f"{unit_name}.d"):
        return True
    if entry.is_symlink():
        return os.path.basename(os.readlink(entry)) == unit_name
    return False


# ---------------------------------------------------------------------------------------
# Recording and verifying


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(real: Path, shown: str) -> list[Entry]:
    """Every entry under `real` (itself included), parents before children."""
    entries = [_entry(real, shown)]
    if real.is_dir() and not real.is_symlink():
        for dirpath, dirnames, filenames in os.walk(real):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = Path(dirpath) / name
                entries.append(_entry(full, shown + "/" + str(full.relative_to(real))))
    return entries


def _entry(path: Path, shown: str) -> Entry:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return Entry(shown, "symlink", stat.S_IMODE(st.st_mode), st.st_mtime_ns, target=os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return Entry(shown, "dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    if stat.S_ISREG(st.st_mode):
        return Entry(shown, "file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, sha256=sha256(path))
    raise CheckFailed(f"{shown}: neither file, directory nor symlink; not moved")


def differences(expected: list[Entry], actual: list[Entry]) -> list[str]:
    """What differs between the manifest and the disk (mtimes of directories aside: moving
    entries in and out of a directory touches it)."""
    want = {e.path: e for e in expected}
    have = {e.path: e for e in actual}
    out = [f"{p}: missing" for p in want if p not in have]
    out += [f"{p}: not in the manifest" for p in have if p not in want]
    for p in want.keys() & have.keys():
        a, b = want[p], have[p]
        for key in ("type", "mode", "sha256", "target"):
            if getattr(a, key) != getattr(b, key):
                out.append(f"{p}: {key} {getattr(a, key)!r} != {getattr(b, key)!r}")
        if a.type != "dir" and a.mtime_ns != b.mtime_ns:
            out.append(f"{p}: mtime changed")
    return sorted(out)


# ---------------------------------------------------------------------------------------
# Moving


def move(src: Path, dst: Path) -> None:
    """rename() when both are on one filesystem; else copy (symlinks as symlinks, modes and
    times kept) and remove the source."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        raise CheckFailed(f"{dst}: already exists; not overwritten")
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another filesystem
            raise
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
        _copy_dir_times(src, dst)
        shutil.rmtree(src)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
        os.unlink(src)


def _copy_dir_times(src: Path, dst: Path) -> None:
    for dirpath, dirnames, _files in os.walk(src, topdown=False):
        for name in [*dirnames, ""]:
            s = Path(dirpath) / name
            d = dst / s.relative_to(src)
            st = s.lstat()
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def quarantine_dir(config: Config, run: str) -> Path:
    return config.base_dir / ".revops" / "quarantine" / run


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_manifest(directory: Path, manifest: Manifest) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, directory / MANIFEST)


def read_manifest(config: Config, run: str) -> tuple[Path, Manifest]:
    directory = quarantine_dir(config, run)
    path = directory / MANIFEST
    if not path.is_file():
        known = sorted(p.name for p in directory.parent.glob("*") if (p / MANIFEST).is_file()) if directory.parent.is_dir() else []
        raise UsageError(f"no quarantine run {run!r} ({path} missing)",
                         hint=f"known runs: {', '.join(known) or 'none'}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = [Moved(i["kind"], i["name"], i["why"], i["path"], [Entry(**e) for e in i["entries"]])
                 for i in data["items"]]
        return directory, Manifest(data["run"], data["created_at"], data["root"], items,
                                   data.get("version", 1), data.get("restored_at"))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(f"{path}: not a revops quarantine manifest ({exc})") from None


def put_away(config: Config, directory: Path, manifest: Manifest, kind: str, name: str, why: str,
             shown: str) -> Moved:
    """Record then move one path into the quarantine; the manifest on disk is updated first,
    so a crash leaves at worst an entry whose file is still in place."""
    real = on_host(config, shown)
    if not (real.exists() or real.is_symlink()):
        raise CheckFailed(f"{shown}: gone since the inventory was taken")
    moved = Moved(kind, name, why, shown, record(real, shown))
    manifest.items.append(moved)
    write_manifest(directory, manifest)
    move(real, directory / FILES / shown.lstrip("/"))
    return moved


def bring_back(config: Config, directory: Path, moved: Moved) -> list[str]:
    """Move one item back and compare it with its manifest entries; returns the differences."""
    real = on_host(config, moved.path)
    stored = directory / FILES / moved.path.lstrip("/")
    if not (stored.exists() or stored.is_symlink()):
        if real.exists() or real.is_symlink():
            return differences(moved.entries, record(real, moved.path))  # restored already
        raise CheckFailed(f"{moved.path}: not in the quarantine ({stored}) nor on the host")
    move(stored, real)
    return differences(moved.entries, record(real, moved.path))


def check_run_name(run: str) -> str:
    if not run or "/" in run or run.startswith("."):
        raise UsageError(f"--undo {run!r}: expected a quarantine run name such as 12")
    return run


ProgressFn = Callable[[int], None]
