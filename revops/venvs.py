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
import re
from dataclasses import dataclass, field
from pathlib import Path

from revops.model import Venv
from revops.unitfile.rootfs import RootFS

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


def is_candidate(real: Path) -> bool:
    """A venv candidate: pyvenv.cfg, bin/activate, or lib/python3*/site-packages."""
    if os.path.exists(real / "pyvenv.cfg") or os.path.exists(real / "bin" / "activate"):
        return True
    try:
        libs = os.listdir(real / "lib")
    except OSError:
        return False
    return any(name.startswith("python3") and os.path.isdir(real / "lib" / name / "site-packages") for name in libs)


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
            if is_candidate(fs.real(home)):
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
            _walk(fs, resolved.real, depth, found)
    return sorted(found)


def _walk(fs: RootFS, real: Path, depth: int, found: set[str]) -> None:
    if is_candidate(real):
        found.add(fs.host(real))
        return  # a venv's insides are not searched for more venvs
    if depth <= 0:
        return
    try:
        with os.scandir(real) as it:
            children = [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for child in children:
        _walk(fs, child, depth - 1, found)


@dataclass
class _Check:
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    python_version: str | None = None

    def add(self, code: str, detail: str) -> None:
        if code not in self.problems:
            self.problems.append(code)
        self.details.append(f"{code}: {detail}")


def check(fs: RootFS, host_path: str, used_by: list[str], *, deep: bool = False) -> Venv:
    real = fs.real(host_path)
    c = _Check()
    cfg = _pyvenv_cfg(real, c)
    interp_version = _interpreter(fs, host_path, c)
    lib_versions = _lib_versions(real)
    _home(fs, cfg, c)
    _drift(cfg, interp_version, lib_versions, c)
    site = _site_packages(real, lib_versions, c)
    if site is not None:
        _packages(site, c, deep)
    return Venv(path=host_path, healthy=not c.problems, problems=c.problems, details=c.details,
                used_by=sorted(used_by), python_version=c.python_version)


def _pyvenv_cfg(real: Path, c: _Check) -> dict[str, str]:
    try:
        text = (real / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        c.add(PYVENV_CFG_MISSING, "no readable pyvenv.cfg")
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
        if not os.path.lexists(fs.real(link)):
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


def _lib_versions(real: Path) -> list[tuple[int, int]]:
    try:
        names = os.listdir(real / "lib")
    except OSError:
        return []
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


def _site_packages(real: Path, libs: list[tuple[int, int]], c: _Check) -> Path | None:
    for major, minor in reversed(libs):
        site = real / "lib" / f"python{major}.{minor}" / "site-packages"
        if site.is_dir():
            return site
    c.add(SITE_PACKAGES_MISSING, "no lib/pythonX.Y/site-packages")
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _packages(site: Path, c: _Check, deep: bool) -> None:
    try:
        entries = sorted(os.listdir(site))
    except OSError as exc:
        c.add(SITE_PACKAGES_MISSING, f"site-packages unreadable: {exc.strerror}")
        return
    owners: dict[str, list[str]] = {}
    for entry in entries:
        if entry.startswith("~"):
            c.add(HALF_INSTALLED, f"site-packages/{entry} left by an interrupted pip")
        if entry.endswith((".dist-info", ".egg-info")):
            stem = entry.rsplit(".", 1)[0]  # "name-1.0" of "name-1.0.dist-info"
            owners.setdefault(_normalize(stem.split("-", 1)[0]), []).append(entry)
            if entry.endswith(".dist-info"):
                _dist(site, entry, c, deep)
    for name, infos in sorted(owners.items()):
        if len(infos) > 1:
            c.add(DUPLICATE_DIST, f"{name} installed {len(infos)} times: {', '.join(infos)}")


def _dist(site: Path, info: str, c: _Check, deep: bool) -> None:
    try:
        metadata = (site / info / "METADATA").read_bytes()
        text = metadata.decode("utf-8")
        if not re.search(r"^Name:\s*\S", text, re.M):
            raise ValueError("no Name: header")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        c.add(METADATA_UNREADABLE, f"{info}/METADATA: {getattr(exc, 'strerror', None) or exc}")
    try:
        record = (site / info / "RECORD").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # distributions installed without RECORD (distro packages) cannot be verified
    _verify_record(site, info, record, c, deep)


def _verify_record(site: Path, info: str, record: str, c: _Check, deep: bool) -> None:
    rows = []
    for line in record.splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[0]:
            rows.append(parts)
    checked = rows if deep else rows[:RECORD_EXIST_LIMIT]
    hashed = {r[0] for r in (rows if deep else _sample(rows))}
    for path, digest, _size in checked:
        target = site / path
        if not os.path.lexists(target):
            c.add(RECORD_FILE_MISSING, f"{info}: {path} listed in RECORD is missing")
            continue
        if path in hashed and digest.startswith("sha256="):
            _verify_hash(target, path, digest, info, c)


def _sample(rows: list[list[str]]) -> list[list[str]]:
    with_hash = [r for r in rows if r[1]]
    with_hash.sort(key=lambda r: hashlib.sha1(r[0].encode()).digest())
    return with_hash[:RECORD_HASH_SAMPLE]


def _verify_hash(target: Path, path: str, digest: str, info: str, c: _Check) -> None:
    try:
        if target.stat().st_size > RECORD_HASH_MAX_BYTES:
            return
        data = target.read_bytes()
    except OSError:
        return
    actual = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if actual != digest:
        c.add(RECORD_HASH_MISMATCH, f"{info}: {path} does not match its RECORD hash")
