"""A service's requirements file read as pip reads it, inside the host root, line by line.

pip's own reading (revops.adapters.pip_reqfile) gives each logical line's requirement text
and options; this module follows `-r`/`-c` through the host root as a chroot would
(revops.unitfile.rootfs), classifies every requirement, and says for each line what the lock
does with it:

- a named requirement (PEP 508, with its markers and `--hash` values) is locked;
- a constraint (from a `-c` file) narrows the suite's resolution without adding a package;
- a line the lock cannot hash-pin from a wheelhouse (an editable or local project, a VCS or
  direct URL) stops the suite with an error naming the file, the line and the way out;
- an option is honoured (`--only-binary`, `--require-hashes`: the images install hashed
  wheels only) or reported as not honoured (index URLs, `--pre`, build options).

Paths in requirement lines are taken relative to the requirements file's directory (pip
takes them relative to its working directory, which for a unit is its WorkingDirectory,
where the file is). pip's reading of an unchanged file is cached in the ops repo's cache
directory, keyed by the file's bytes and pip's version, so a re-lock with nothing changed
does not import pip; a file with `${VAR}` references is never cached (values may be secret).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement

from revops.lock import localproject
from revops.unitfile.rootfs import RootFS

MAX_BYTES = 1 << 20  # a requirements file larger than 1 MiB is not one
MAX_FILES = 200  # files read for one service, includes counted: bounds a hostile -r fan-out
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")  # pip's rule: ${NAME}, upper case, digits, underscore
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_VCS = ("git", "hg", "svn", "bzr")
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".tlz", ".tar.lz",
             ".tar.lzma")
_EXTRAS = re.compile(r"^(?P<path>.+?)(?P<extras>\[[^\]]+\])$")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_CACHE_FORMAT = "1"


@dataclass(frozen=True)
class Problem:
    """Something about one line: an error stops the suite, a warning is shown."""

    file: str  # as the host sees it
    line: int | None
    detail: str


@dataclass(frozen=True)
class Requested:
    """One named requirement, or constraint, as a line asked for it."""

    requirement: str  # normalised PEP 508 text: "uvicorn[standard]>=0.29; python_version >= \"3.8\""
    file: str
    line: int
    hashes: frozenset[str] = frozenset()  # sha256 hex digests from --hash
    constraint: bool = False

    @property
    def origin(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class LocalRequest:
    """A local project a line asks for: built into a wheel at lock time."""

    host_path: str  # the project directory or archive, as the host sees it (symlinks followed)
    real: str  # where it is on this machine
    digest: str  # revops.lock.localproject.digest: what decides whether to rebuild
    extras: tuple[str, ...]
    marker: str | None
    file: str
    line: int
    written: str  # the line as written, for messages

    @property
    def origin(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Reading:
    """What one service's requirements file (and what it includes) asks for."""

    requested: list[Requested] = field(default_factory=list)
    local: list[LocalRequest] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file read, as the host sees it


class Reader:
    """Reads requirements files under one host root, caching pip's reading in cache_dir."""

    def __init__(self, root: Path, cache_dir: Path | None = None) -> None:
        self.fs = RootFS(root)
        self.cache_dir = cache_dir

    def read(self, host_path: str) -> Reading:
        """The requirements file at `host_path` (absolute, as the host sees it) and its includes."""
        reading = Reading()
        self._read(reading, host_path, constraint=False, chain=(), via=None)
        return reading

    # ---- files ------------------------------------------------------------------------------

    def _read(self, reading: Reading, host_path: str, constraint: bool, chain: tuple[str, ...],
              via: Problem | None) -> None:
        where = via or Problem(host_path, None, "")
        if len(reading.files) >= MAX_FILES:
            reading.errors.append(Problem(where.file, where.line, f"more than {MAX_FILES} files included; not read"))
            return
        resolved = self.fs.resolve(host_path)
        if resolved.host_path in chain:
            loop = " -> ".join([*chain[chain.index(resolved.host_path):], resolved.host_path])
            reading.errors.append(Problem(where.file, where.line, f"includes itself (a loop): {loop}"))
            return
        data = _read_regular(resolved)
        if isinstance(data, str):
            reading.errors.append(Problem(where.file, where.line, f"{host_path}: {data}"))
            return
        reading.files.append(resolved.host_path)
        for raw in self._pip_reading(data):
            self._line(reading, resolved.host_path, raw, constraint, (*chain, resolved.host_path))

    def _pip_reading(self, data: bytes) -> list:
        from revops.adapters import pip_reqfile  # imports pip only when the cache misses

        cacheable = self.cache_dir is not None and b"${" not in data
        key = None
        if cacheable:
            key = hashlib.sha256(b"\0".join([_CACHE_FORMAT.encode(), pip_reqfile.version().encode(), data])).hexdigest()
            cached = _load(self.cache_dir / "requirements" / f"{key}.json")
            if cached is not None:
                return [pip_reqfile.RawLine.from_dict(item) for item in cached]
        lines = pip_reqfile.read(pip_reqfile.decode(data))
        if key is not None:
            _store(self.cache_dir / "requirements" / f"{key}.json", [line.to_dict() for line in lines])
        return lines

    # ---- lines ------------------------------------------------------------------------------

    def _line(self, reading: Reading, host_file: str, raw, constraint: bool, chain: tuple[str, ...]) -> None:
        shown = _redact(raw.text)
        if raw.error:
            reading.errors.append(Problem(host_file, raw.number, f"pip cannot read {shown!r}: {raw.error}"))
            return
        options = dict(raw.options)
        editables = options.pop("editables", None)
        if raw.args or editables:
            self._requirement(reading, host_file, raw.number, raw.args, editables, options, constraint, shown)
            return
        for kind in ("requirements", "constraints"):
            for target in options.pop(kind, ()):
                # as pip: -r inside a constraints file still names requirements
                self._include(reading, host_file, raw.number, target, kind == "constraints", chain)
        _report_options(reading, host_file, raw.number, options)

    def _include(self, reading: Reading, host_file: str, number: int, target: str, constraint: bool,
                 chain: tuple[str, ...]) -> None:
        flag = "-c" if constraint else "-r"
        scheme = _scheme(target)
        if scheme == "file":
            target = _file_url_path(target)
        elif scheme is not None:
            reading.errors.append(Problem(host_file, number, f"{flag} {_redact(target)}: a requirements file is read "
                                                             "from the host root only, never from a URL"))
            return
        child = _join(host_file, target)
        if child is None:
            reading.errors.append(Problem(host_file, number, f"{flag} {target}: leaves the host root (too many '..')"))
            return
        self._read(reading, child, constraint, chain, Problem(host_file, number, ""))

    def _requirement(self, reading: Reading, host_file: str, number: int, args: str, editables: list[str] | None,
                     options: dict, constraint: bool, shown: str) -> None:
        unset = _ENV_VAR.findall(args or editables[0])
        if unset:
            reading.errors.append(Problem(host_file, number, f"{shown!r} refers to ${{{unset[0]}}}, which is not set "
                                                             "in revops' environment (pip expands it from its own)"))
            return
        if editables:  # pip's parse_editable: a local directory, a file: URL, or a VCS URL
            target = editables[0].strip()
            if _scheme(target) not in (None, "file"):
                reading.errors.append(Problem(host_file, number, _unlockable(shown, "an editable VCS or URL requirement")))
                return
            self._local(reading, host_file, number, target, None, constraint, shown)
            return
        kind = _kind(args.strip())
        if kind == "a local path":
            head, _, marker = args.strip().partition("; " if _is_url(args.strip()) else ";")
            self._local(reading, host_file, number, head.strip(), marker.strip() or None, constraint, shown)
            return
        if kind is not None:
            reading.errors.append(Problem(host_file, number, _unlockable(shown, kind)))
            return
        try:
            req = Requirement(args.strip())
        except InvalidRequirement as exc:
            reading.errors.append(Problem(host_file, number, f"not a requirement: {shown!r} ({exc})"))
            return
        if req.url:
            if _url_kind(req.url) == "a local path":
                extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
                self._local(reading, host_file, number, req.url + extras,
                            str(req.marker) if req.marker else None, constraint, shown)
            else:
                reading.errors.append(Problem(host_file, number, _unlockable(shown, _url_kind(req.url))))
            return
        hashes = options.pop("hashes", {})
        for algorithm in sorted(set(hashes) - {"sha256"}):
            reading.warnings.append(Problem(host_file, number, f"--hash={algorithm}:... not compared: "
                                                               "the lock pins sha256 hashes"))
        _report_options(reading, host_file, number, options)
        reading.requested.append(Requested(str(req), host_file, number, frozenset(hashes.get("sha256", ())),
                                           constraint))

    def _local(self, reading: Reading, host_file: str, number: int, target: str, marker: str | None,
               constraint: bool, shown: str) -> None:
        """A project directory or archive named by path (relative to the requirements file) or file: URL."""
        def fail(why: str) -> None:
            reading.errors.append(Problem(host_file, number, f"{shown!r}: {why}"))

        if constraint:
            return fail("a constraint must name a distribution, not a path (pip refuses it too)")
        match = _EXTRAS.match(target)
        path, extras_text = (match.group("path"), match.group("extras")) if match else (target, "")
        if _scheme(path) == "file":
            path = _file_url_path(path)
        try:
            extras = tuple(sorted(Requirement(f"x{extras_text}").extras))
            marker = str(Marker(marker)) if marker else None
        except (InvalidRequirement, InvalidMarker) as exc:
            return fail(f"not a requirement ({exc})")
        host_path = _join(host_file, path)
        if host_path is None:
            return fail("leaves the host root (too many '..')")
        resolved = self.fs.resolve(host_path)
        if not resolved.ok:
            return fail(f"{host_path}: {_WHY.get(resolved.error, resolved.error)}")
        real = Path(resolved.real)
        if real.is_dir() and not localproject.is_project(real):
            return fail(f"{resolved.host_path} is not a Python project (no pyproject.toml or setup.py)")
        if not real.is_dir() and not (real.is_file() and real.name.lower().endswith(_ARCHIVES)):
            return fail(f"{resolved.host_path} is neither a project directory nor a wheel or sdist file")
        try:
            tree = localproject.digest(real)
        except (localproject.LocalProjectError, OSError) as exc:
            return fail(f"{resolved.host_path}: {exc}")
        reading.local.append(LocalRequest(resolved.host_path, str(real), tree, extras, marker, host_file, number, shown))


# ---- what the lock honours ----------------------------------------------------------------------

_NOT_HONOURED = {
    "index_url": "--index-url not honoured: the lock resolves from the default index or --find-links; "
                 "a package found only on that index will not resolve",
    "extra_index_urls": "--extra-index-url not honoured: the lock resolves from the default index or --find-links; "
                        "a package found only on that index will not resolve",
    "no_index": "--no-index not honoured: the lock's sources are revops lock's (--offline, --find-links)",
    "find_links": "--find-links not honoured: put those files in the wheelhouse (paths.wheelhouse) or pass "
                  "--find-links to revops lock",
    "trusted_hosts": "--trusted-host not honoured: the lock uses only its own sources",
    "pre": "--pre not honoured: a pre-release is locked only where a requirement names one",
    "no_binary": "--no-binary not honoured: the images install wheels only",
    "config_settings": "--config-settings not honoured: the lock pins wheels; build settings apply only when "
                       "building from source",
    "global_options": "--global-option not honoured: the lock pins wheels; build options apply only when "
                      "building from source",
    "install_options": "--install-option not honoured: the lock pins wheels, installed without setup.py",
    "build_options": "--build-option not honoured: the lock pins wheels; build options apply only when "
                     "building from source",
    "features_enabled": "--use-feature ignored: the lock runs pip-tools with its own settings",
}
_HONOURED = {
    "only_binary": "--only-binary: honoured, the images install wheels only",
    "prefer_binary": "--prefer-binary: honoured, the images install wheels only",
    "require_hashes": "--require-hashes: honoured, every lock entry is hash-pinned",
}


def _report_options(reading: Reading, host_file: str, number: int, options: dict) -> None:
    for dest in sorted(options):
        if dest in _NOT_HONOURED:
            reading.warnings.append(Problem(host_file, number, _NOT_HONOURED[dest]))
        elif dest in _HONOURED:
            reading.notes.append(Problem(host_file, number, _HONOURED[dest]))


# ---- requirement kinds (pip's req/constructors.py rules) ------------------------------------------

def _scheme(text: str) -> str | None:
    match = _SCHEME.match(text)
    # "c:\..." is a Windows drive, not a scheme; a PEP 508 name never holds ':'
    return match.group(1).lower() if match and len(match.group(1)) > 1 else None


def _is_url(text: str) -> bool:
    scheme = _scheme(text)
    return scheme is not None and (scheme in ("http", "https", "file", "ftp") or scheme.split("+")[0] in _VCS)


def _url_kind(url: str) -> str:
    scheme = _scheme(url) or ""
    if scheme == "file":
        return "a local path"
    if "+" in scheme or scheme in _VCS:
        return "a VCS URL"
    return "a direct URL"


def _kind(args: str) -> str | None:
    """What a requirement that is not PEP 508 `name...` is, as pip tells them apart; None if it is."""
    separator = "; " if _is_url(args) else ";"
    head = args.split(separator, 1)[0].strip()
    if _is_url(head):
        return _url_kind(head)
    match = _EXTRAS.match(head)
    path = match.group("path") if match else head
    before_at = path.split("@", 1)[0]
    if "@" in path and not _looks_like_path(before_at):
        return None  # "name @ url": PEP 508, told apart by packaging
    if _looks_like_path(path) or path.lower().endswith(_ARCHIVES):
        return "a local path"
    return None


def _looks_like_path(text: str) -> bool:
    return "/" in text or text.startswith(".")


def _unlockable(shown: str, kind: str) -> str:
    return (f"{shown!r} is {kind}, which a lock cannot pin by hash from a wheelhouse, so the image would lack it. "
            "Way out: build it into a wheel (`pip wheel --no-deps -w WHEELHOUSE ...`), put the wheel in the "
            "wheelhouse (paths.wheelhouse, or --find-links) and require it here by name==version, or check the "
            "project out under the host root and require it by path (revops lock builds it)")


_WHY = {"missing": "no such file or directory", "loop": "too many symbolic links (a loop)",
        "not-a-directory": "a path component is not a directory"}


# ---- paths ------------------------------------------------------------------------------------------

def _join(host_file: str, target: str) -> str | None:
    """The include's host path, relative to the including file; None when '..' climbs above /."""
    base = [] if target.startswith("/") else [p for p in posixpath.dirname(host_file).split("/") if p]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not base:
                return None
            base.pop()
        else:
            base.append(part)
    return "/" + "/".join(base)


def _file_url_path(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).path)


def _read_regular(resolved) -> bytes | str:
    """The file's bytes, or why not: only a regular file is read (a FIFO would block), never a huge one."""
    if not resolved.ok:
        return _WHY.get(resolved.error, resolved.error).replace("no such file or directory", "no such file")
    try:
        fd = os.open(resolved.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"cannot open: {exc.strerror}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > MAX_BYTES:
            return f"larger than {MAX_BYTES} bytes: not a requirements file"
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)


def _redact(text: str) -> str:
    """A line fit for a message: credentials in URLs hidden (the line itself is shown unexpanded)."""
    return _USERINFO.sub("****@", text)


def _load(path: Path) -> list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _store(path: Path, data: list) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time
