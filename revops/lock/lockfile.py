"""The lock file on disk: its header (input digest, versions) and what a valid lock looks like."""

from __future__ import annotations

import hashlib
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

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


def recorded_digest(lock_path: Path) -> str | None:
    try:
        return header_fields(lock_path.read_text(encoding="utf-8")).get(DIGEST_KEY)
    except (OSError, UnicodeDecodeError):
        return None


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
