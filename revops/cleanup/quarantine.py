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
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from revops import venvs
from revops.config import Config
from revops.errors import CheckFailed, UsageError
from revops.unitfile.rootfs import RootFS, RootReadError

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


def host_fs(config: Config) -> RootFS:
    """The host root, resolved as a chroot would (no cache: cleanup moves things)."""
    return RootFS(config.root, cache=False)


def _allowed_hosts(fs: RootFS, config: Config) -> list[str]:
    """The unit and venv directories as the host resolves them (symlinks followed inside the root)."""
    found = []
    for d in (*config.unit_dirs, *config.venv_search):
        resolved = fs.resolve("/" + d.strip("/"))
        if resolved.ok and resolved.host_path != "/":
            found.append(resolved.host_path)
    return found


def confine(config: Config, host_path: str) -> str:
    """The host path of `host_path` with its parents resolved inside the root (the entry itself
    is not followed: a symlink is moved as a symlink). UsageError unless it lies strictly under
    one of the configured unit and venv directories."""
    fs = host_fs(config)
    parts = [p for p in host_path.split("/") if p not in ("", ".")]
    if not parts or parts[-1] == ".." or any(ord(c) < 32 for c in host_path):
        raise UsageError(f"{host_path!r}: not a path revops moves; refused")
    parent = fs.resolve("/" + "/".join(parts[:-1]))
    shown = ", ".join("/" + d.strip("/") for d in (*config.unit_dirs, *config.venv_search))
    if not parent.ok:
        raise UsageError(f"{host_path}: its directory does not resolve inside the host root "
                         f"({parent.error}); refused")
    resolved = f"{parent.host_path.rstrip('/')}/{parts[-1]}"
    for base in _allowed_hosts(fs, config):
        if resolved.startswith(base.rstrip("/") + "/"):
            return resolved
    raise UsageError(f"{host_path}: outside the unit and venv directories of {config.path} ({shown}); refused")


def on_host(config: Config, host_path: str) -> Path:
    """The machine path of a host path under config.root; refused when outside the allowed dirs
    (see `confine`: parents resolved inside the root, never on this machine)."""
    return host_fs(config).real(confine(config, host_path))


def check_candidate(config: Config, kind: str, path: str) -> str:
    """`path` confined (see `confine`) and, for a venv, a venv by its whole shape on disk now
    (revops.venvs.is_venv): a directory with a stray pyvenv.cfg is never moved as a venv."""
    confined = confine(config, path)
    if kind == "venv":
        fs = host_fs(config)
        parts = venvs.shape(fs, confined)
        if not venvs.is_venv(fs, confined):
            has = ", ".join(sorted(parts)) or "none of pyvenv.cfg, bin/, lib/pythonX.Y/"
            raise CheckFailed(f"{path}: not a venv by its shape (has {has}); not moved")
    return confined


def host_path(config: Config, real: Path) -> str:
    return "/" + str(real.relative_to(Path(os.path.realpath(config.root))))


# ---------------------------------------------------------------------------------------
# What a unit brings along


def unit_paths(config: Config, unit_name: str, fragment: str | None) -> list[str]:
    """The fragment, its drop-in directories, and the symlinks naming or pointing at it
    (aliases, *.wants/, *.requires/): everything systemd would still find."""
    fs = host_fs(config)
    found: list[str] = []
    for unit_dir in config.unit_dirs:
        resolved = fs.resolve("/" + unit_dir.strip("/"))
        if not resolved.ok or not fs.is_dir(resolved.host_path):
            continue
        for entry in _unit_dir_entries(fs, resolved.host_path):
            if _belongs(fs, entry, unit_name):
                found.append(entry)
    if fragment:
        frag = "/" + fragment.lstrip("/")
        if frag not in found and fs.lexists(frag):
            found.append(frag)
    return sorted(set(found))


def _unit_dir_entries(fs: RootFS, base: str) -> Iterable[str]:
    for entry in fs.scandir(base):
        path = f"{base.rstrip('/')}/{entry.name}"
        yield path
        if entry.is_dir(follow_symlinks=False) and entry.name.endswith((".wants", ".requires", ".upholds")):
            yield from (f"{path}/{child.name}" for child in fs.scandir(path))


def _belongs(fs: RootFS, entry: str, unit_name: str) -> bool:
    name = entry.rsplit("/", 1)[1]
    if name in (unit_name, f"{unit_name}.d"):
        return True
    try:
        return stat.S_ISLNK(fs.lstat(entry).st_mode) and os.path.basename(fs.readlink(entry)) == unit_name
    except OSError:
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


MANIFEST_LIMIT = 256 << 20  # bytes; a manifest of every file of 250 venvs is a few MiB
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TYPES = ("file", "dir", "symlink")


def read_manifest(config: Config, run: str) -> tuple[Path, Manifest]:
    """A run's manifest, checked whole before anything is moved: its shape, its run and root,
    and every path confined to the configured unit and venv directories under the root.
    UsageError (exit 2) naming the manifest and what is wrong."""
    directory = quarantine_dir(config, run)
    path = directory / MANIFEST
    if not os.path.lexists(path):
        known = sorted(p.name for p in directory.parent.glob("*") if (p / MANIFEST).is_file()) if directory.parent.is_dir() else []
        raise UsageError(f"no quarantine run {run!r} ({path} missing)",
                         hint=f"known runs: {', '.join(known) or 'none'}")
    try:
        raw = RootFS(directory).read_bytes("/" + MANIFEST, MANIFEST_LIMIT)
        data = json.loads(raw.decode("utf-8"))
    except RootReadError as exc:
        raise UsageError(f"{path}: not read: {exc.reason}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not a revops quarantine manifest (not JSON: {type(exc).__name__})") from None
    try:
        manifest = _manifest(data, config, run)
    except _Bad as exc:
        raise UsageError(f"{path}: {exc}", hint="a manifest is written by `revops cleanup --apply` only; "
                         "restore by hand from files/ if it was edited") from None
    return directory, manifest


class _Bad(ValueError):
    pass


def _need(value: Any, kind: type | tuple[type, ...], where: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise _Bad(f"{where}: expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def _manifest(data: Any, config: Config, run: str) -> Manifest:
    _need(data, dict, "manifest")
    version = data.get("version", 1)
    if version != MANIFEST_VERSION:
        raise _Bad(f"version: {version!r}, this revops reads version {MANIFEST_VERSION}")
    if _need(data.get("run"), str, "run") != run:
        raise _Bad(f"run: {data['run']!r} is not this run ({run!r})")
    root = _need(data.get("root"), str, "root")
    if "\x00" in root or os.path.realpath(root) != os.path.realpath(config.root):
        raise _Bad(f"root: {root!r} is not the host root of {config.path} ({config.root})")
    items = [_item(item, config, f"items[{i}]") for i, item in enumerate(_need(data.get("items"), list, "items"))]
    return Manifest(run, _need(data.get("created_at"), str, "created_at"), root, items, version,
                    _need(data.get("restored_at"), str, "restored_at", optional=True))


def _item(item: Any, config: Config, where: str) -> Moved:
    _need(item, dict, where)
    kind = _need(item.get("kind"), str, f"{where}.kind")
    if kind not in ("unit", "venv"):
        raise _Bad(f"{where}.kind: {kind!r}, expected unit or venv")
    top = _need(item.get("path"), str, f"{where}.path")
    try:
        confined = confine(config, top)
    except UsageError as exc:
        raise _Bad(f"{where}.path: {exc.message}") from None
    if confined != _normal(top):
        raise _Bad(f"{where}.path: {top} resolves to {confined} on the host; refused")
    entries = [_entry_of(e, top, f"{where}.entries[{j}]")
               for j, e in enumerate(_need(item.get("entries"), list, f"{where}.entries"))]
    if not entries or entries[0].path != top:
        raise _Bad(f"{where}.entries: the first entry must be {top} itself")
    return Moved(kind, _need(item.get("name"), str, f"{where}.name"), _need(item.get("why"), str, f"{where}.why"),
                 top, entries)


def _normal(path: str) -> str:
    return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))


def _entry_of(e: Any, top: str, where: str) -> Entry:
    _need(e, dict, where)
    path = _need(e.get("path"), str, f"{where}.path")
    parts = path.split("/")
    if ".." in parts or "." in parts or "" in parts[1:] or any(ord(c) < 32 for c in path) or \
            not (path == top or path.startswith(top.rstrip("/") + "/")):
        raise _Bad(f"{where}.path: {path!r} is not {top} or a normal path under it")
    kind = _need(e.get("type"), str, f"{where}.type")
    if kind not in _TYPES:
        raise _Bad(f"{where}.type: {kind!r}, expected one of {', '.join(_TYPES)}")
    mode = _need(e.get("mode"), int, f"{where}.mode")
    if not 0 <= mode <= 0o7777:
        raise _Bad(f"{where}.mode: {mode!r} is not a permission mode")
    digest = _need(e.get("sha256"), str, f"{where}.sha256", optional=kind != "file")
    if kind == "file" and not _HEX64.fullmatch(digest or ""):
        raise _Bad(f"{where}.sha256: a file needs its sha256 (64 hex digits)")
    target = _need(e.get("target"), str, f"{where}.target", optional=kind != "symlink")
    return Entry(path, kind, mode, _need(e.get("mtime_ns"), int, f"{where}.mtime_ns"), digest, target)


def check_stored(config: Config, directory: Path, manifest: Manifest) -> list[str]:
    """What differs between the quarantine's files and the manifest, checked before anything is
    restored (content hashes, modes, types, symlink targets). Items put back earlier (stored copy
    gone, host path present) are skipped: bring_back compares those on the host."""
    found: list[str] = []
    for moved in manifest.items:
        stored = directory / FILES / moved.path.lstrip("/")
        if not (stored.exists() or stored.is_symlink()):
            continue
        try:
            actual = record(stored, moved.path)
        except CheckFailed as exc:
            found.append(f"{moved.path}: {exc.message}")
            continue
        found += differences(moved.entries, actual)
    return found


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
