"""Where each service's requirements come from: its requirements.txt, else its venv.

Everything here reads files only. A venv is read through its dist-info metadata, never by
running its interpreter, so a venv whose python is broken or missing still tells us what
was installed in it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path

from packaging.markers import Marker, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from revops.lock.reqfile import Reader

REQUIREMENTS_FILE = "requirements.txt"
SOURCE_FILE = "requirements.txt"
SOURCE_VENV = "venv"
SOURCE_NONE = "none"


@dataclass(frozen=True)
class Wanted:
    """One requirement one service asked for, and where it was written."""

    service: str  # the unit name
    requirement: str  # normalised text: "requests==2.31.0", "uvicorn[standard]>=0.29"
    origin: str  # "/opt/.../requirements.txt:3" or "/opt/.../venv (installed 2.31.0)"
    hashes: frozenset[str] = frozenset()  # sha256 digests the service's --hash options allow

    @functools.cached_property
    def parsed(self) -> Requirement:
        return Requirement(self.requirement)

    @functools.cached_property
    def name(self) -> str:
        return canonicalize_name(self.parsed.name)


@dataclass
class InputError:
    """A line we could not read; names the file, the line and the unit."""

    service: str
    file: str
    line: int | None
    detail: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.detail} (unit {self.service})"


@dataclass
class ServiceRequirements:
    service: str
    source: str  # requirements.txt, venv or none
    source_path: str | None  # as the host sees it
    wanted: list[Wanted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    warnings: list[InputError] = field(default_factory=list)  # what the lock does not honour
    constraints: list[Wanted] = field(default_factory=list)  # from -c files: narrow, never add
    local: list[LocalProject] = field(default_factory=list)  # built into wheels at lock time


@dataclass(frozen=True)
class LocalProject:
    """A local project one service installs from a path (see revops.lock.localproject)."""

    service: str
    host_path: str
    real: str  # on this machine
    digest: str
    extras: tuple[str, ...]
    marker: str | None
    origin: str  # "/opt/.../requirements.txt:2"
    written: str  # the line as written


def on_disk(root: Path, host_path: str) -> Path:
    """A path as the host sees it, under the root we were given."""
    return root / host_path.lstrip("/")


def gather(service: str, working_directory: str | None, venv: str | None, root: Path,
           reader: Reader | None = None) -> ServiceRequirements:
    """The requirements of one service, from the best source it has: its requirements.txt
    (any file there that is not missing: a symlink, a FIFO, a directory are errors), else its venv."""
    reader = reader or Reader(root)
    if working_directory:
        host_path = f"{working_directory.rstrip('/')}/{REQUIREMENTS_FILE}"
        if reader.fs.resolve(host_path).error != "missing":
            return from_requirements_file(service, host_path, reader)
    if venv and on_disk(root, venv).is_dir():
        return from_venv(service, on_disk(root, venv), venv)
    missing = "no requirements.txt in its working directory" if working_directory else "no working directory"
    missing += " and no venv on disk" if venv else " and no venv"
    return ServiceRequirements(service, SOURCE_NONE, None, notes=[missing])


# ---- requirements.txt ------------------------------------------------------------------


def from_requirements_file(service: str, host_path: str, reader: Reader) -> ServiceRequirements:
    """The requirements of a service's requirements.txt, read as pip reads it (revops.lock.reqfile)."""
    result = ServiceRequirements(service, SOURCE_FILE, host_path)
    reading = reader.read(host_path)
    for item in reading.requested:
        target = result.constraints if item.constraint else result.wanted
        target.append(Wanted(service, item.requirement, item.origin, item.hashes))
    result.local = [LocalProject(service, x.host_path, x.real, x.digest, x.extras, x.marker, x.origin, x.written)
                    for x in reading.local]
    result.errors = [InputError(service, p.file, p.line, p.detail) for p in reading.errors]
    result.warnings = [InputError(service, p.file, p.line, p.detail) for p in reading.warnings]
    result.notes += [str(InputError(service, p.file, p.line, p.detail)) for p in reading.notes]
    return result


# ---- venv -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstalledDist:
    name: str  # canonical
    display_name: str
    version: str
    requires: tuple[Requirement, ...]


def from_venv(service: str, venv_dir: Path, host_path: str) -> ServiceRequirements:
    """The venv's top-level distributions (installed, not required by another installed one)."""
    result = ServiceRequirements(service, SOURCE_VENV, host_path)
    installed, unreadable = read_installed(venv_dir)
    result.notes.extend(f"{host_path}: {why}" for why in unreadable)
    if not installed:
        result.notes.append(f"{host_path}: no readable installed distribution")
        return result
    environment = marker_environment(venv_dir)
    for dist, extras in top_level(installed, environment):
        extra = f"[{','.join(sorted(extras))}]" if extras else ""
        result.wanted.append(Wanted(service, f"{dist.display_name}{extra}=={dist.version}",
                                    f"{host_path} (installed)"))
    return result


_IGNORED_DISTS = {"pip", "setuptools", "wheel", "distribute", "pkg-resources"}


def site_packages(venv_dir: Path) -> list[Path]:
    found = []
    for lib in ("lib", "lib64"):
        found.extend(sorted((venv_dir / lib).glob("python*/site-packages")))
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def read_installed(venv_dir: Path) -> tuple[dict[str, InstalledDist], list[str]]:
    """Every readable dist-info in the venv; half-installed ones are named, not fatal."""
    installed: dict[str, InstalledDist] = {}
    unreadable: list[str] = []
    for site in site_packages(venv_dir):
        for info in sorted(site.glob("*.dist-info")):
            dist = _read_dist_info(info)
            if isinstance(dist, str):
                unreadable.append(f"{info.name}: {dist}")
            elif dist.name not in _IGNORED_DISTS:
                installed.setdefault(dist.name, dist)
    return installed, unreadable


def _read_dist_info(info: Path) -> InstalledDist | str:
    metadata = info / "METADATA"
    try:
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return "METADATA missing (half-installed)"
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return "METADATA has no Name or Version (half-installed)"
    try:
        Version(version)
    except InvalidVersion:
        return f"METADATA has an invalid Version {version!r}"
    requires = []
    for line in headers.get_all("Requires-Dist") or []:
        try:
            requires.append(Requirement(line))
        except InvalidRequirement:
            continue  # one bad line in a third party's metadata should not hide the dist
    return InstalledDist(canonicalize_name(name), name.strip(), version.strip(), tuple(requires))


def marker_environment(venv_dir: Path) -> dict[str, str]:
    """The venv's Python version, from pyvenv.cfg or its lib/pythonX.Y directory."""
    version = None
    cfg = venv_dir / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info") and value.strip():
                version = value.strip()
                break
    if version is None:
        for site in site_packages(venv_dir):
            version = site.parent.name.removeprefix("python")
            break
    if not version:
        return {}
    parts = version.split(".")
    return {"python_version": ".".join(parts[:2]), "python_full_version": ".".join(parts[:3])}


def _applies(req: Requirement, environment: dict[str, str], extra: str = "") -> bool:
    if req.marker is None:
        return True
    try:
        return req.marker.evaluate({**environment, "extra": extra})
    except UndefinedEnvironmentName:  # a variable we could not learn from the venv: count the edge
        return True


def _extras_in_use(dist: InstalledDist, installed: dict[str, InstalledDist], environment: dict[str, str]) -> set[str]:
    """Extras of `dist` whose every requirement is installed: it was installed with them."""
    extras = set()
    for req in dist.requires:
        if req.marker is None or "extra" not in str(req.marker):
            continue
        for extra in _marker_extras(req.marker):
            members = [r for r in dist.requires if r.marker is not None and _applies(r, environment, extra)
                       and not _applies(r, environment, "")]
            if members and all(canonicalize_name(r.name) in installed for r in members):
                extras.add(extra)
    return extras


_EXTRA_NAME = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def _marker_extras(marker: Marker) -> set[str]:
    return set(_EXTRA_NAME.findall(str(marker)))


def top_level(installed: dict[str, InstalledDist], environment: dict[str, str]) -> list[tuple[InstalledDist, set[str]]]:
    """Installed distributions no other installed distribution depends on, with their extras."""
    extras_of = {name: _extras_in_use(dist, installed, environment) for name, dist in installed.items()}
    required: set[str] = set()
    for name, dist in installed.items():
        active = [""] + sorted(extras_of[name])
        for req in dist.requires:
            dep = canonicalize_name(req.name)
            if dep != name and dep in installed and any(_applies(req, environment, e) for e in active):
                required.add(dep)
    roots = [name for name in sorted(installed) if name not in required]
    # Distributions that only require each other (a cycle) are reachable from no root: keep them.
    unreached = set(installed) - _reachable(roots, installed, environment, extras_of)
    return [(installed[name], extras_of[name]) for name in sorted(set(roots) | unreached)]


def _reachable(roots: list[str], installed: dict[str, InstalledDist], environment: dict[str, str],
               extras_of: dict[str, set[str]]) -> set[str]:
    seen, todo = set(roots), list(roots)
    while todo:
        name = todo.pop()
        active = [""] + sorted(extras_of[name])
        for req in installed[name].requires:
            dep = canonicalize_name(req.name)
            if dep in installed and dep not in seen and any(_applies(req, environment, e) for e in active):
                seen.add(dep)
                todo.append(dep)
    return seen
