"""The lock file on disk: its header (input digest, versions) and what a valid lock looks like."""

from __future__ import annotations

import hashlib
import os
import platform
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


def header(suite: str, input_name: str, input_digest: str, revops_version: str, resolver: str) -> str:
    return "\n".join([
        f"# Lock of suite {suite}, compiled by `revops lock` from {input_name}; do not edit.",
        f"# Re-lock with: revops lock --suite {suite}",
        f"# suite: {suite}",
        f"# {DIGEST_KEY}: {input_digest}",
        f"# revops: {revops_version}",
        f"# resolver: {resolver}",
        # Markers (python_full_version < "3.11.3", ...) were judged for this interpreter.
        f"# python: {platform.python_version()}",
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
