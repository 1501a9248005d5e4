"""The lock file on disk: its header (input digest, versions) and what a valid lock looks like."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from revops import regularfile
from revops.errors import UsageError

DIGEST_KEY = "input-sha256"
_HEADER_FIELD = re.compile(r"^#\s*(?P<key>[a-z0-9-]+):\s*(?P<value>.*?)\s*$")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def digest(text: str) -> str:
    """sha256 of the input file's bytes, so `sha256sum lockfiles/<suite>.in` can verify it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


PYTHON_KEY, PYTHON_FROM_KEY = "python", "python-from"


def header(suite: str, input_name: str, input_digest: str, revops_version: str, resolver: str,
           python: str, python_from: str) -> str:
    """The lock's header; python is the target interpreter's version, python_from where it came from."""
    return "\n".join([
        f"# Lock of suite {suite}, compiled by `revops lock` from {input_name}; do not edit.",
        f"# Re-lock with: revops lock --suite {suite}",
        f"# suite: {suite}",
        f"# {DIGEST_KEY}: {input_digest}",
        f"# revops: {revops_version}",
        f"# resolver: {resolver}",
        # Markers (python_full_version < "3.11.3", ...) were judged for this interpreter, the
        # one that installs the lock (revops.lock.target), whatever Python ran revops.
        f"# {PYTHON_KEY}: {python}",
        f"# {PYTHON_FROM_KEY}: {python_from}",
    ]) + "\n"


def header_fields(text: str) -> dict[str, str]:
    """The `# key: value` lines at the top of a lock, up to the first non-comment line."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        match = _HEADER_FIELD.match(line)
        if match:
            fields.setdefault(match.group("key"), match.group("value"))
    return fields


def recorded_digest(lock_path: Path, suite: str | None = None) -> str | None:
    """The input digest the lock records; None when there is no lock (LockfileError when
    there is one that is not a lock revops wrote: see read_lock)."""
    if not os.path.lexists(lock_path):
        return None
    return header_fields(read_lock(lock_path, suite)).get(DIGEST_KEY)


class LockfileError(UsageError):
    """A lock (or its .in) revops cannot take as its own: exit 2, naming the file and line."""


MAX_BYTES = 16 * 1024 * 1024
# What each header field holds when revops wrote it (see header()).
_FIELD_SHAPES = {
    DIGEST_KEY: (re.compile(r"^[0-9a-f]{64}$"), "a sha256 digest (64 hex digits)"),
    "python": (re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+)?[0-9A-Za-z.+]*$"), "a Python version such as 3.11.2"),
    "suite": (re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$"), "a suite name"),
}


def read_lock(path: Path, suite: str | None = None) -> str:
    """The text of lockfiles/<suite>.txt (or .in), checked on read: a regular file (never a
    FIFO), UTF-8, at most MAX_BYTES, and header fields as header() writes them, of `suite`
    when given. Raises LockfileError (exit 2) naming the file, the line and what is wrong."""
    try:
        text = regularfile.read_text(path, MAX_BYTES)
    except regularfile.FileRefused as exc:
        raise LockfileError(exc.message) from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("#"):
            break
        match = _HEADER_FIELD.match(line)
        if not match or match.group("key") not in _FIELD_SHAPES:
            continue
        key, value = match.group("key"), match.group("value")
        shape, wanted = _FIELD_SHAPES[key]
        if not shape.match(value):
            raise LockfileError(f"{path}:{number}: header {key}: expected {wanted}, got {value[:80]!r}",
                                hint="revops did not write this header; re-lock with `revops lock`")
        if key == "suite" and suite is not None and value != suite:
            raise LockfileError(f"{path}:{number}: header suite: this is the lock of suite {value!r}, "
                                f"not {suite!r}", hint=f"re-lock with `revops lock --suite {suite}`")
    return text


# One entry of a lock as `revops lock` writes it (pip-compile --generate-hashes, then pin_local):
# `name[extras]==version`, an optional `; marker` holding no option, then sha256 hashes only.
_INSTALLABLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._, -]*\])?==[A-Za-z0-9.+!_-]+"
                          r"(\s*;(?:(?!\s-)[^#\\$])*)?(\s+--hash=sha256:[0-9a-f]{64})+$")


def check_installable(path: Path, text: str) -> None:
    """LockfileError (exit 2) naming the file and line of the first entry that is not a hashed
    `name==version` pin, before pip is given the lock (`pip install -r`).

    pip's requirements file format ("Structure": `[[--option]...]`, `-r`/`-c` files, `-e`,
    archive URLs and paths, `${VAR}` expanded from the environment) lets one line change where
    every package comes from or make pip read another file (and quote its lines in an error);
    a lock revops wrote holds none of that, so one that does was written by someone else."""
    number, start, current = 0, 0, ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        start = start if current else number
        current += " " + line.rstrip("\\").strip()
        if line.endswith("\\"):
            continue
        if not _INSTALLABLE.match(current.strip()):
            shown = current.strip()
            raise LockfileError(f"{path}:{start}: {shown[:120]!r}: not a hashed name==version pin "
                                "(a lock revops wrote holds no pip options, files, URLs or variables)",
                                hint="re-lock with `revops lock`; nothing was installed")
        current = ""
    if current:
        raise LockfileError(f"{path}:{start}: the last entry ends in a line continuation", hint="re-lock with `revops lock`")


@dataclass
class Pin:
    name: str
    version: str
    hashes: int


def requirement_blocks(body: str) -> list[str]:
    """Requirement entries with their backslash-continued hash lines joined, comments dropped."""
    blocks, current = [], ""
    for raw in body.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            blocks.append(current.strip())
            current = ""
    if current.strip():
        blocks.append(current.strip())
    return blocks


def unpinned_entries(body: str) -> list[str]:
    """Entries that are not `name==version` with at least one `--hash=sha256:`."""
    bad = []
    for block in requirement_blocks(body):
        if not _PIN.match(block) or not _HASH.search(block):
            bad.append(block.split()[0])
    return bad


def pins(body: str) -> list[Pin]:
    found = []
    for block in requirement_blocks(body):
        match = _PIN.match(block)
        if match:
            found.append(Pin(match.group("name"), match.group("version"), len(_HASH.findall(block))))
    return found


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


_ENTRY_NAME = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")


def restrict_hashes(body: str, allowed: dict[str, frozenset[str]]) -> tuple[str, list[str]]:
    """Keep, for each pinned distribution named in `allowed` (canonical name -> sha256 digests
    the services' `--hash` options accept), only the lock hashes those options accept too.

    Returns the new body and the distributions left with no hash at all (the artifact the
    lock found is not one the service pinned). Comment and annotation lines are kept as they are.
    """
    from packaging.utils import canonicalize_name

    out: list[str] = []
    emptied: list[str] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _ENTRY_NAME.match(line)
        name = canonicalize_name(match.group("name")) if match else None
        if name not in allowed:
            out.append(line)
            i += 1
            continue
        entry = [line.rstrip(" \\")]
        i += 1
        hashes = []
        while i < len(lines) and lines[i].strip().startswith("--hash="):
            hashes.append(lines[i].strip().rstrip(" \\"))
            i += 1
        kept = [h for h in hashes if h.removeprefix("--hash=sha256:") in allowed[name]]
        if not kept:
            emptied.append(name)
            kept = hashes
        rows = entry + [f"    {h}" for h in kept]
        out.extend(f"{row} \\" for row in rows[:-1])
        out.append(rows[-1])
    return "\n".join(out) + "\n", emptied


LOCAL_NOTE = "    # local project {host_path}, built by revops lock"
_LOCAL_NOTE = re.compile(r"^    # local project (?P<host_path>\S+), built by revops lock$")
_DIRECT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])? @ file:")


@dataclass(frozen=True)
class LocalPin:
    host_path: str
    name: str
    version: str
    sha256: str


def pin_local(body: str, wheels: dict[str, LocalPin]) -> tuple[str, list[str]]:
    """Turn the resolver's `name @ file:///scratch/...whl` entries into `name==version` pinned to
    the built wheel's hash, noted with the project's path. wheels: canonical name -> LocalPin.

    Returns the body and the names of wheels the resolver did not place in the lock at all.
    """
    from packaging.utils import canonicalize_name

    out: list[str] = []
    placed: set[str] = set()
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        match = _DIRECT.match(lines[i])
        name = canonicalize_name(match.group("name")) if match else None
        if name not in wheels:
            out.append(lines[i])
            i += 1
            continue
        pin = wheels[name]
        marker = lines[i].rstrip(" \\").partition(" ; ")[2]
        out.append(f"{pin.name}=={pin.version}" + (f" ; {marker}" if marker else "") + " \\")
        out.append(f"    --hash=sha256:{pin.sha256}")
        i += 1
        while i < len(lines) and lines[i].strip().startswith("--hash="):
            i += 1
        while i < len(lines) and lines[i].startswith("    #"):
            out.append(lines[i])
            i += 1
        out.append(LOCAL_NOTE.format(host_path=pin.host_path))
        placed.add(name)
    return "\n".join(out) + "\n", sorted(set(wheels) - placed)


def local_pins(text: str) -> list[LocalPin]:
    """The pins `pin_local` wrote, read back from a lock."""
    found, current = [], None
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            current = [match.group("name"), match.group("version"), None]
        elif current and line.strip().startswith("--hash=sha256:") and current[2] is None:
            current[2] = line.strip().removeprefix("--hash=sha256:").rstrip(" \\")
        note = _LOCAL_NOTE.match(line)
        if note and current and current[2]:
            found.append(LocalPin(note.group("host_path"), current[0], current[1], current[2]))
    return found
