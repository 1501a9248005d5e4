"""The values of an env file, read only to keep them out of what revops writes.

revops never copies these files (compose hands them to the container itself), but a
container's log or a /health body can echo one of their values (a DSN in a stack trace, say),
and such texts become reasons in the ledger and lines on the terminal. A Redactor replaces
every value found in the files with ***, in memory; nothing read here is stored.

Two programs read the file, with different rules: systemd (EnvironmentFile=, systemd.exec(5):
# and ; comments, "" and '' quotes, a trailing backslash continues the line) for the unit, and
compose (env_file: python-dotenv's rules in compose v1: inline " #" comments, escapes inside
double quotes, quoted values over several lines) for the container. A value is hidden in
every spelling either would give it, and each line of a value spread over several lines is
hidden on its own, since logs are hidden line by line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from revops.unitfile.rootfs import RootFS

MASK = "***"
# Shorter values (a port, "1", "on", "prod") are settings rather than secrets, and hiding
# them would blank out every port number and common word of a log line.
MIN_SECRET_LENGTH = 6
ENV_FILE_LIMIT = 4 << 20  # bytes read at most from one env file
# The start of a value cut off at the end of a truncated text, hidden all the same.
MIN_CUT_PREFIX = 4
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.]*\s*=\s*(?P<value>.*?)\s*$")
_INLINE_COMMENT = re.compile(r"\s+#.*$")
_ESCAPE = re.compile(r"\\(.)")


def _is_comment(line: str) -> bool:
    return not line.strip() or line.lstrip()[:1] in ("#", ";")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _spellings(value: str) -> set[str]:
    """A value as each reader could take it: raw, unquoted, without an inline comment, with
    backslash escapes resolved."""
    found = {value, _unquote(value)}
    uncommented = _INLINE_COMMENT.sub("", value)
    found |= {uncommented, _unquote(uncommented)}
    found |= {_ESCAPE.sub(r"\1", v) for v in list(found)}
    return found


def _systemd_lines(text: str) -> list[str]:
    """Logical lines: a line ending in a backslash continues on the next."""
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


def values_in(text: str) -> set[str]:
    """Every spelling of every assigned value of an env file's text."""
    found: set[str] = set()
    for lines in (_systemd_lines(text), text.splitlines()):
        for line in lines:
            if _is_comment(line):
                continue
            match = _ASSIGNMENT.match(line)
            if match:
                found |= _spellings(match["value"])
    found |= _quoted_continuations(text)
    return found


def _quoted_continuations(text: str) -> set[str]:
    """Each line of a quoted value that goes on over several lines (a PEM key, say)."""
    found: set[str] = set()
    quote = None
    for line in text.splitlines():
        bare = _ESCAPE.sub("", line)  # an escaped quote neither opens nor closes
        if quote is None:
            match = _ASSIGNMENT.match(bare)
            value = match["value"] if match else ""
            if value[:1] in ("'", '"') and value.count(value[0]) % 2 == 1:
                quote = value[0]
                found.add(_ASSIGNMENT.match(line)["value"][1:].strip())
            continue
        if bare.count(quote) % 2 == 1:
            found.add(line.rsplit(quote, 1)[0].strip())
            quote = None
        else:
            found.add(line.strip())
    return found


def read_values(paths: Iterable[str | Path]) -> tuple[set[str], list[str]]:
    """(values, problems): the values of every readable file; each file that cannot be read
    is named in problems."""
    values: set[str] = set()
    problems: list[str] = []
    machine = RootFS("/")
    for path in paths:
        try:  # regular files only: an env file that is a FIFO must not hang a cutover
            values |= values_in(machine.read_text(os.path.abspath(path), ENV_FILE_LIMIT))
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

    def apply(self, text: str, *, cut: bool = False) -> str:
        """`text` with every value replaced by ***. With cut=True (text truncated by whoever
        read it), a value's first characters left at the very end are hidden too."""
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        if cut:
            text = self._hide_cut_end(text)
        return text

    def _hide_cut_end(self, text: str) -> str:
        for value in self.values:
            for size in range(min(len(value) - 1, len(text)), MIN_CUT_PREFIX - 1, -1):
                if text.endswith(value[:size]):
                    return text[:-size] + MASK
        return text
