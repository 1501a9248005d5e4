"""Virtualenvs on a host: where they are, who uses them, and whether they are intact.

Everything is judged by reading files (no interpreter is run), through `RootFS` so that a
copied root resolves `bin/python -> /usr/bin/python3` inside the copy, as a chroot would.

RECORD verification budget (the scan of 250+ venvs must stay well under 2 s): every RECORD
entry of a distribution is checked for existence up to `RECORD_EXIST_LIMIT` entries, and the
sha256 of at most `RECORD_HASH_SAMPLE` entries per distribution is verified, chosen
deterministically (the entries whose path hashes lowest, so a rescan checks the same files),
skipping files over `RECORD_HASH_MAX_BYTES`. `deep=True` checks and hashes every entry.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass, field

from revops.model import Venv
from revops.unitfile.rootfs import RootFS, RootReadError

# Problem codes (stable; other verbs and scripts match on them).
INTERPRETER_MISSING = "interpreter-missing"  # bin/python absent or a dangling link
INTERPRETER_LOOP = "interpreter-loop"  # bin/python's links loop
PYVENV_CFG_MISSING = "pyvenv-cfg-missing"
HOME_MISSING = "home-missing"  # pyvenv.cfg `home` is gone
VERSION_DRIFT = "version-drift"  # pyvenv.cfg, interpreter and lib/pythonX.Y disagree
SITE_PACKAGES_MISSING = "site-packages-missing"
HALF_INSTALLED = "half-installed"  # "~name" leftovers of an interrupted pip
DUPLICATE_DIST = "duplicate-dist"  # one distribution installed twice
RECORD_FILE_MISSING = "record-file-missing"
RECORD_HASH_MISMATCH = "record-hash-mismatch"
METADATA_UNREADABLE = "metadata-unreadable"

RECORD_EXIST_LIMIT = 200
RECORD_HASH_SAMPLE = 8
RECORD_HASH_MAX_BYTES = 1 << 20

# A unit whose WorkingDirectory is "/" (or a kernel filesystem) does not make them venv homes.
_NOT_SEARCHED = {"", "/proc", "/sys", "/dev", "/run"}
_PYVER = re.compile(r"python(\d+)\.(\d+)$")
_BIN_NAMES = re.compile(r"^(python(\d+(\.\d+)?)?|activate)$")

# The three parts of a venv's shape (PEP 405 and what `python -m venv` lays out).
CFG, BIN, LIB = "pyvenv.cfg", "bin", "lib"
PYVENV_CFG_LIMIT = 64 << 10
METADATA_LIMIT = 4 << 20
RECORD_LIMIT = 16 << 20


def shape(fs: RootFS, host_path: str) -> set[str]:
    """Which parts of a venv's shape `host_path` has, judged without following its entries:
    "pyvenv.cfg" (a regular file), "bin" (a directory holding python, pythonX[.Y] or
    activate) and "lib" (a directory holding a pythonX.Y directory)."""
    found = set()
    base = host_path.rstrip("/")
    try:
        if stat.S_ISREG(fs.lstat(f"{base}/{CFG}").st_mode):
            found.add(CFG)
    except OSError:
        pass
    if _real_dir(fs, f"{base}/{BIN}") and any(_BIN_NAMES.match(n) for n in fs.listdir(f"{base}/{BIN}")):
        found.add(BIN)
    if _real_dir(fs, f"{base}/{LIB}") and any(_PYVER.match(n) for n in fs.listdir(f"{base}/{LIB}")):
        found.add(LIB)
    return found


def _real_dir(fs: RootFS, host_path: str) -> bool:
    try:
        return stat.S_ISDIR(fs.lstat(host_path).st_mode)
    except OSError:
        return False


def is_venv(fs: RootFS, host_path: str) -> bool:
    """A venv by its whole shape: at least two of pyvenv.cfg, bin/ and lib/pythonX.Y/. A stray
    pyvenv.cfg alone (an empty file dropped in a directory of modules) does not make a venv,
    nor does a bin/ or a lib/ alone; every kind of damage the example host shows keeps two."""
    return len(shape(fs, host_path)) >= 2


def is_candidate(fs: RootFS, host_path: str) -> bool:
    """What discovery lists (and `check` judges): the same whole shape as `is_venv`."""
    return is_venv(fs, host_path)


def venv_of_command(argv: list[str], fs: RootFS) -> str | None:
    """The venv whose bin/ holds the program (or an interpreter named in the command)."""
    for word in argv:
        if not word.startswith("/"):
            continue
        parent = os.path.dirname(word)
        if os.path.basename(parent) != "bin":
            continue
        if word is argv[0] or os.path.basename(word).startswith("python"):
            home = os.path.dirname(parent)
            if is_candidate(fs, home):
                return home
    return None


def discover(fs: RootFS, search: list[str], depth: int) -> list[str]:
    """Host paths of the venvs under each search directory, to `depth` levels below it."""
    found: set[str] = set()
    for start in search:
        if start.rstrip("/") in _NOT_SEARCHED:
            continue
        resolved = fs.resolve(start)
        if resolved.ok and resolved.real.is_dir():
            _walk(fs, resolved.host_path, depth, found)
    return sorted(found)


def _walk(fs: RootFS, host_path: str, depth: int, found: set[str]) -> None:
    if is_candidate(fs, host_path):
        found.add(host_path)
        return  # a venv's insides are not searched for more venvs
    if depth <= 0:
        return
    children = [e.name for e in fs.scandir(host_path) if e.is_dir(follow_symlinks=False)]
    for child in children:
        _walk(fs, f"{host_path.rstrip('/')}/{child}", depth - 1, found)


@dataclass
class _Check:
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    python_version: str | None = None
    installed: list[str] = field(default_factory=list)

    def add(self, code: str, detail: str) -> None:
        if code not in self.problems:
            self.problems.append(code)
        self.details.append(f"{code}: {detail}")


def check(fs: RootFS, host_path: str, used_by: list[str], *, deep: bool = False) -> Venv:
    """A venv's health, every file read through the root-confined reader."""
    c = _Check()
    cfg = _pyvenv_cfg(fs, host_path, c)
    interp_version = _interpreter(fs, host_path, c)
    lib_versions = _lib_versions(fs, host_path)
    _home(fs, cfg, c)
    _drift(cfg, interp_version, lib_versions, c)
    site = _site_packages(fs, host_path, lib_versions, c)
    if site is not None:
        _packages(fs, site, c, deep)
    return Venv(path=host_path, healthy=not c.problems, problems=c.problems, details=c.details,
                used_by=sorted(used_by), python_version=c.python_version, installed=sorted(set(c.installed)))


def _pyvenv_cfg(fs: RootFS, host_path: str, c: _Check) -> dict[str, str]:
    try:
        text = fs.read_text(f"{host_path}/{CFG}", PYVENV_CFG_LIMIT)
    except RootReadError as exc:
        c.add(PYVENV_CFG_MISSING, "no readable pyvenv.cfg" + ("" if exc.reason == "missing" else f" ({exc.reason})"))
        return {}
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    version = values.get("version") or values.get("version_info")
    if version:
        c.python_version = version
    return values


def _interpreter(fs: RootFS, host_path: str, c: _Check) -> tuple[int, int] | None:
    for name in ("python", "python3"):
        link = f"{host_path}/bin/{name}"
        if not fs.lexists(link):
            continue
        resolved = fs.resolve(link)
        if resolved.error == "loop":
            c.add(INTERPRETER_LOOP, f"bin/{name}: symbolic links loop")
            return None
        if not resolved.ok:
            c.add(INTERPRETER_MISSING, f"bin/{name} -> {resolved.host_path}: {resolved.error}")
            return None
        match = _PYVER.search(os.path.basename(resolved.host_path))
        return (int(match.group(1)), int(match.group(2))) if match else None
    c.add(INTERPRETER_MISSING, "no bin/python or bin/python3")
    return None


def _home(fs: RootFS, cfg: dict[str, str], c: _Check) -> None:
    home = cfg.get("home")
    if home and not fs.resolve(home).ok:
        c.add(HOME_MISSING, f"pyvenv.cfg home {home} does not exist")


def _lib_versions(fs: RootFS, host_path: str) -> list[tuple[int, int]]:
    names = fs.listdir(f"{host_path}/{LIB}")
    return sorted((int(m.group(1)), int(m.group(2))) for m in map(_PYVER.match, names) if m)


def _drift(cfg: dict[str, str], interp: tuple[int, int] | None, libs: list[tuple[int, int]], c: _Check) -> None:
    seen: dict[str, tuple[int, int]] = {}
    cfg_version = re.match(r"(\d+)\.(\d+)", cfg.get("version") or cfg.get("version_info") or "")
    if cfg_version:
        seen["pyvenv.cfg"] = (int(cfg_version.group(1)), int(cfg_version.group(2)))
    if interp:
        seen["interpreter"] = interp
    if len(libs) == 1:
        seen["lib/"] = libs[0]
    if len(set(seen.values())) > 1 or len(libs) > 1:
        text = ", ".join(f"{k} {v[0]}.{v[1]}" for k, v in seen.items())
        if len(libs) > 1:
            text += ", lib/ has " + " ".join(f"python{a}.{b}" for a, b in libs)
        c.add(VERSION_DRIFT, text)


def _site_packages(fs: RootFS, host_path: str, libs: list[tuple[int, int]], c: _Check) -> str | None:
    for major, minor in reversed(libs):
        site = f"{host_path}/{LIB}/python{major}.{minor}/site-packages"
        if fs.is_dir(site):
            return site
    c.add(SITE_PACKAGES_MISSING, "no lib/pythonX.Y/site-packages")
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _packages(fs: RootFS, site: str, c: _Check, deep: bool) -> None:
    entries = sorted(fs.listdir(site))
    owners: dict[str, list[str]] = {}
    for entry in entries:
        if entry.startswith("~"):
            c.add(HALF_INSTALLED, f"site-packages/{entry} left by an interrupted pip")
        if entry.endswith((".dist-info", ".egg-info")):
            stem = entry.rsplit(".", 1)[0]  # "name-1.0" of "name-1.0.dist-info"
            name, _, version = stem.partition("-")
            owners.setdefault(_normalize(name), []).append(entry)
            c.installed.append(f"{_normalize(name)}=={version.split('-', 1)[0] or '?'}")
            if entry.endswith(".dist-info"):
                _dist(fs, site, entry, c, deep)
    for name, infos in sorted(owners.items()):
        if len(infos) > 1:
            c.add(DUPLICATE_DIST, f"{name} installed {len(infos)} times: {', '.join(infos)}")


def _dist(fs: RootFS, site: str, info: str, c: _Check, deep: bool) -> None:
    try:
        metadata = fs.read_bytes(f"{site}/{info}/METADATA", METADATA_LIMIT)
        text = metadata.decode("utf-8")
        if not re.search(r"^Name:\s*\S", text, re.M):
            raise ValueError("no Name: header")
    except RootReadError as exc:
        c.add(METADATA_UNREADABLE, f"{info}/METADATA: {exc.reason}")
    except (UnicodeDecodeError, ValueError) as exc:
        c.add(METADATA_UNREADABLE, f"{info}/METADATA: {exc}")
    try:
        record = fs.read_text(f"{site}/{info}/RECORD", RECORD_LIMIT)
    except RootReadError:
        return  # distributions installed without RECORD (distro packages) cannot be verified
    _verify_record(fs, site, info, record, c, deep)


def _verify_record(fs: RootFS, site: str, info: str, record: str, c: _Check, deep: bool) -> None:
    rows = []
    for line in record.splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[0]:
            rows.append(parts)
    checked = rows if deep else rows[:RECORD_EXIST_LIMIT]
    hashed = {r[0] for r in (rows if deep else _sample(rows))}
    # RECORD paths are relative to site-packages ("../../../bin/x" for scripts); one that climbs
    # out of the venv is not looked at (a hostile RECORD cannot make revops read the host).
    venv = site.rsplit(f"/{LIB}/", 1)[0]
    real_site = fs.resolve(site).real
    for path, digest, _size in checked:
        host = posixpath.normpath(f"{site}/{path}")
        if not host.startswith(venv + "/"):
            continue
        if not os.path.lexists(real_site / path):
            c.add(RECORD_FILE_MISSING, f"{info}: {path} listed in RECORD is missing")
            continue
        if path in hashed and digest.startswith("sha256="):
            _verify_hash(fs, host, path, digest, info, c)


def _sample(rows: list[list[str]]) -> list[list[str]]:
    with_hash = [r for r in rows if r[1]]
    with_hash.sort(key=lambda r: hashlib.sha1(r[0].encode()).digest())
    return with_hash[:RECORD_HASH_SAMPLE]


def _verify_hash(fs: RootFS, host: str, path: str, digest: str, info: str, c: _Check) -> None:
    try:
        data = fs.read_bytes(host, RECORD_HASH_MAX_BYTES)
    except RootReadError:
        return  # too large to sample, not a regular file or gone: the existence check spoke
    actual = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if actual != digest:
        c.add(RECORD_HASH_MISMATCH, f"{info}: {path} does not match its RECORD hash")
