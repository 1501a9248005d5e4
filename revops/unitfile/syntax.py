"""The generic file syntax of systemd.syntax(7): sections, keys, comments, continuations.

Produces the assignments in file order, each with its line, plus the problems systemd would log.
A header that does not close (`[Service`) makes systemd refuse the whole file (`fatal`);
everything else it merely ignores, and so do we, after noting it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from revops.model import Problem

COMMENTS = "#;"
_BOM = "\ufeff"
KNOWN_SECTIONS = {"Unit", "Service", "Install"}


@dataclass(frozen=True)
class Assignment:
    section: str
    key: str
    value: str
    file: str  # as the host sees it
    line: int


@dataclass
class ParsedFile:
    file: str
    assignments: list[Assignment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fatal: bool = False


def decode_lines(data: bytes) -> tuple[list[str], dict[int, int]]:
    """Split into lines (bad bytes replaced); also {line number: offset of invalid UTF-8}."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out, bad = [], {}
    for number, raw in enumerate(lines, start=1):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad[number] = exc.start
            out.append(raw.decode("utf-8", errors="replace"))
    return out, bad


def logical_lines(lines: list[str]) -> list[tuple[int, int, str]]:
    """Join continued lines: a trailing unescaped backslash becomes a space; comment lines
    inside a continuation are skipped. Returns (first line, last line, text)."""
    result: list[tuple[int, int, str]] = []
    pending: str | None = None
    start = 0
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        if pending is not None:
            if line.lstrip(" \t").startswith(tuple(COMMENTS)):
                continue
            text = pending + line
        else:
            text, start = line, number
        if _ends_in_escape(text):
            pending = text[:-1] + " "
            continue
        pending = None
        result.append((start, number, text))
    if pending is not None:
        result.append((start, len(lines), pending))
    return result


def _ends_in_escape(text: str) -> bool:
    escaped = False
    for char in text:
        escaped = (not escaped) and char == "\\"
    return escaped


def parse(data: bytes, file: str, sections: frozenset[str] | set[str] = KNOWN_SECTIONS) -> ParsedFile:
    """The assignments of the sections systemd knows for this kind of unit (`sections`:
    [Unit], [Service], [Install] for a service; [Timer] instead of [Service] for a timer)."""
    parsed = ParsedFile(file)
    lines, bad_utf8 = decode_lines(data)
    section: str | None = None
    ignoring = False
    for number, last, raw in logical_lines(lines):
        line = raw.strip(" \t\r\n")
        if not line or line[0] in COMMENTS:
            continue  # invalid UTF-8 in a comment is harmless to systemd
        bad = next((n for n in range(number, last + 1) if n in bad_utf8), None)
        if bad is not None:
            parsed.problems.append(Problem("invalid-utf8", f"invalid UTF-8 at byte {bad_utf8[bad]} of a "
                                           "setting; systemd refuses the file", file, bad, True))
            parsed.fatal = True
            return parsed
        if line.startswith("["):
            section, ignoring = _section(line, file, number, parsed, sections)
            if parsed.fatal:
                return parsed
            continue
        if ignoring:
            continue
        _assignment(line, section, file, number, parsed)
    return parsed


def _section(line: str, file: str, number: int, parsed: ParsedFile,
             sections: frozenset[str] | set[str] = KNOWN_SECTIONS) -> tuple[str | None, bool]:
    if not line.endswith("]") or len(line) < 3:
        parsed.problems.append(Problem("bad-section-header", f"invalid section header {line!r}; "
                                       "systemd refuses the file", file, number, True))
        parsed.fatal = True
        return None, True
    name = line[1:-1]
    if name in sections:
        return name, False
    if not name.startswith("X-"):
        parsed.problems.append(Problem("unknown-section", f"unknown section [{name}], its lines are ignored",
                                       file, number))
    return name, True


def _assignment(line: str, section: str | None, file: str, number: int, parsed: ParsedFile) -> None:
    if "=" not in line:
        parsed.problems.append(Problem("garbage-line", f"no '=' in {_clip(line)!r}; ignored", file, number))
        return
    key, value = line.split("=", 1)
    key, value = key.strip(" \t"), value.strip(" \t")
    if not key:
        parsed.problems.append(Problem("garbage-line", f"no key before '=' in {_clip(line)!r}; ignored",
                                       file, number))
        return
    if section is None:
        parsed.problems.append(Problem("assignment-outside-section",
                                       f"{key}= before any [Section]; ignored", file, number))
        return
    parsed.assignments.append(Assignment(section, key, value, file, number))


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width] + "..."
