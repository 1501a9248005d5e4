"""The values of an EnvironmentFile=, read only to keep them out of what revops writes.

revops never copies these files (compose hands them to the container itself), but a
container's log or a /health body can echo one of their values (a DSN in a stack trace, say),
and such texts become reasons in the ledger and lines on the terminal. A Redactor replaces
every value found in the files with ***, in memory; nothing read here is stored.

The syntax is systemd.exec(5)'s for EnvironmentFile=: one KEY=VALUE per line, blank lines and
lines starting with # or ; ignored, a value may be quoted with "" or '', and a backslash at
the end of a line continues it on the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

MASK = "***"
# Shorter values (a port, "1", "on", "prod") are settings rather than secrets, and hiding
# them would blank out every port number and common word of a log line.
MIN_SECRET_LENGTH = 6
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*(?P<value>.*?)\s*$")


def logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined."""
    lines: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def values_in(text: str) -> list[str]:
    """Every assigned value of an env file's text, unquoted."""
    found = []
    for line in logical_lines(text):
        if not line.strip() or line.lstrip()[:1] in ("#", ";"):
            continue
        match = _ASSIGNMENT.match(line)
        if match:
            found.append(unquote(match["value"]))
    return found


def read_values(paths: Iterable[str | Path]) -> tuple[list[str], list[str]]:
    """(values, problems): the values of every readable file; a file that cannot be read is
    named in problems (compose fails on it first when it is required)."""
    values: list[str] = []
    problems: list[str] = []
    for path in paths:
        try:
            values += values_in(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    return values, problems


@dataclass(frozen=True)
class Redactor:
    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> "Redactor":
        kept = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
        # Longest first: a value that contains another is hidden whole.
        return cls(tuple(sorted(kept, key=lambda v: (-len(v), v))))

    def apply(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text
