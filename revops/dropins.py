"""Drop-ins revops writes to repoint a unit: their names, paths and text. Pure.

A drop-in (`UNIT.d/NAME.conf`, systemd.unit(5) "DESCRIPTION") changes a unit without touching
its unit file, and taking it away gives the unit back exactly as it was. revops writes one per
purpose, `50-revops-<purpose>.conf`: after the host's own (`10-override.conf`), before the
usual `override.conf` of `systemctl edit` (drop-ins apply in the order of their file names,
whatever directory they are in). To replace a command the drop-in first assigns the empty
string, which resets the list (systemd.service(5) "ExecStart="), then sets the new one:

    [Service]
    ExecStart=
    ExecStart=/opt/revflow-os/suite-venvs/core-3f2a9c1b0d4e/bin/uvicorn app:app --port 8550

The command is written with systemd's own quoting rules (systemd.service(5) "COMMAND LINES"),
so the manager reads back exactly the argv given: a word with white space, quotes, a backslash
or a control character is double-quoted with C escapes (which systemd decodes inside quotes),
`%` is doubled (specifiers are resolved after unquoting, so `%%` is one `%`), and a lone `;`
(a command separator) is written `\\;`. `$VAR` is written as it is: systemd substitutes it
when it starts the process, exactly as it did for the original line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from revops import unitnames

PRIORITY = 50
# Settings a drop-in may reset, with the value that means "the default": the empty assignment
# for user and list settings; a boolean's parser takes no empty value, so it is named. A fixed
# table: a drop-in's lines never come from input.
RESETTABLE = {"User": "", "Group": "", "DynamicUser": "no", "SupplementaryGroups": "", "Environment": "",
              "EnvironmentFile": "", "RestrictAddressFamilies": ""}
HEADER = "# revops:"  # the first line of every drop-in revops writes: "# revops: <purpose>"
_PURPOSE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?$")
# The prefixes an ExecStart= command may carry, in execline's canonical order.
_PREFIXES = re.compile(r"^-?@?:?(\+|!!|!)?$")
_NEEDS_QUOTES = re.compile(r"[\s\"'\\\x00-\x1f\x7f]")
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a",
              "\b": "\\b", "\f": "\\f", "\v": "\\v"}


class DropinError(ValueError):
    """A drop-in cannot be written for these values (a bad unit name, purpose or argv)."""


@dataclass(frozen=True)
class Dropin:
    """One drop-in revops owns: which unit, why, and the text of the file."""

    unit: str
    purpose: str
    text: str

    @property
    def filename(self) -> str:
        return filename(self.purpose)

    def path(self, unit_dir: Path | PurePosixPath) -> Path | PurePosixPath:
        return path(unit_dir, self.unit, self.purpose)


def filename(purpose: str) -> str:
    """'stabilize' -> '50-revops-stabilize.conf'; DropinError for a purpose that is not a
    short lowercase word (letters, digits, '-'): it becomes part of a file name."""
    if not _PURPOSE.match(purpose):
        raise DropinError(f"drop-in purpose {purpose!r}: expected lowercase letters, digits and '-'")
    return f"{PRIORITY}-revops-{purpose}.conf"


def directory(unit_dir: Path | PurePosixPath, unit: str) -> Path | PurePosixPath:
    """UNIT_DIR/UNIT.d: where the manager looks for the unit's drop-ins in that directory."""
    if not unitnames.is_valid(unit):
        raise DropinError(f"{unit!r}: not a valid unit name")
    return unit_dir / f"{unit}.d"


def path(unit_dir: Path | PurePosixPath, unit: str, purpose: str) -> Path | PurePosixPath:
    """UNIT_DIR/UNIT.d/50-revops-PURPOSE.conf.

    unit_dir is the manager's own directory for the administrator's units: /etc/systemd/system
    for the system manager, $XDG_CONFIG_HOME/systemd/user for a user manager (as `systemctl
    [--user] edit` writes them; systemd.unit(5) "UNIT FILE LOAD PATH")."""
    return directory(unit_dir, unit) / filename(purpose)


def quote_word(word: str) -> str:
    """One argv word as systemd's command-line parser reads it back unchanged."""
    escaped = word.replace("%", "%%")
    if word == ";":
        return "\\;"
    if word and not _NEEDS_QUOTES.search(word):
        return escaped
    inner = "".join(_C_ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 32 or c == "\x7f" else c)
                    for c in escaped)
    return f'"{inner}"'


def exec_line(argv: Sequence[str], prefixes: str = "") -> str:
    """The value of an ExecStart= line running `argv` ([program, arg1, ...]; with the `@`
    prefix [program, argv0, arg1, ...]), prefixes (`-`, `@`, `:`, `+`, `!`, `!!`) kept.

    DropinError when systemd would refuse the line: no program, a program that is neither an
    absolute path nor a plain name, or one holding quotes, backslashes or control characters
    (systemd.service(5): the executable path may hold no special characters)."""
    if not argv:
        raise DropinError("an empty command")
    if not _PREFIXES.match(prefixes):
        raise DropinError(f"prefixes {prefixes!r}: expected some of - @ : and one of + ! !!, in that order")
    program = argv[0]
    if not program or _NEEDS_QUOTES.search(program) or program.endswith("/") \
            or (not program.startswith("/") and "/" in program):
        raise DropinError(f"executable {program!r}: an absolute path or a plain name without "
                          "white space, quotes, backslashes or control characters")
    if "@" in prefixes and len(argv) < 2:
        raise DropinError("an '@' command needs argv[0] after the program")
    return " ".join([prefixes + program.replace("%", "%%"), *(quote_word(w) for w in argv[1:])])


def _comment(text: str) -> str:
    """One comment line's text: no line breaks or control characters can end the comment."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def exec_start_dropin(unit: str, purpose: str, argv: Sequence[str], prefixes: str = "",
                      note: str = "", resets: Sequence[str] = ()) -> Dropin:
    """The drop-in that replaces the unit's ExecStart= with `argv` (see exec_line), its first
    line `# revops: PURPOSE` so that revops removes only files it wrote. `resets` are [Service]
    settings set back to their defaults (RESETTABLE: the empty assignment, which systemd.unit(5)
    and systemd.exec(5) read as a reset of a list or user setting; `no` for a boolean); other
    names raise DropinError."""
    filename(purpose)
    directory(PurePosixPath("/"), unit)
    lines = [f"{HEADER} {purpose}",
             f"# Written by revops for {_comment(unit)}; removing this file (then daemon-reload) "
             "puts the unit back as its own files say."]
    if note:
        lines.append(f"# {_comment(note)}")
    unknown = [name for name in resets if name not in RESETTABLE]
    if unknown:
        raise DropinError(f"{unit}: revops does not reset {', '.join(unknown)} in a drop-in")
    lines += ["[Service]", *(f"{name}={RESETTABLE[name]}" for name in resets), "ExecStart=", f"ExecStart={exec_line(argv, prefixes)}"]
    return Dropin(unit, purpose, "\n".join(lines) + "\n")


def written_by_revops(text: str, purpose: str) -> bool:
    """Whether a drop-in's text is one revops wrote for `purpose` (its first line says so)."""
    first = text.split("\n", 1)[0]
    return first == f"{HEADER} {purpose}"
