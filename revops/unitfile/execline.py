"""ExecStart= and friends (systemd.service(5) "COMMAND LINES"), read as systemd 252 reads them.

One value may hold several commands separated by a lone `;`; `\\;` is a literal ";" argument.
The first word may carry the prefixes `-` `@` `:` `+` `!` `!!` in any order (each at most
once; `+` excludes `!`/`!!`). Specifiers are resolved in the path and in each argument after
unquoting, so `%%` is a percent sign whatever the quoting. `$VAR` stays as written: systemd
substitutes it when it starts the process, and reports it unexpanded over D-Bus too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from revops.unitfile import specifiers
from revops.unitfile.words import WHITESPACE, WordError, extract_word


@dataclass
class ExecCommand:
    path: str  # what systemd executes (simplified, as systemd keeps it)
    argv: list[str]  # the full argv, argv[0] included (the word after the path for "@")
    prefixes: str = ""  # canonical order: "-@:+!" / "!!"
    warnings: list[str] = field(default_factory=list)
    unexpanded: list[str] = field(default_factory=list)  # host specifiers unknown here

    @property
    def ignore_failure(self) -> bool:
        return "-" in self.prefixes

    @property
    def contract(self) -> list[str]:
        """[program, arg1, ...]: the design.md shape (argv[0] dropped, the path in its place)."""
        return [self.path, *self.argv[1:]]


class ExecError(ValueError):
    """The line is invalid; `ignored` is True when a `-` prefix makes systemd skip it quietly."""

    def __init__(self, message: str, ignored: bool) -> None:
        super().__init__(message)
        self.ignored = ignored


@dataclass
class ParsedExec:
    commands: list[ExecCommand] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: ExecError | None = None  # the command systemd refuses (or skips, if error.ignored)


def parse_exec(value: str, ctx: specifiers.UnitContext) -> ParsedExec:
    """The commands of one ExecStart= value (an empty value is handled by the caller).

    Commands before a bad one are kept, as systemd appends each before parsing the next; a
    bad command without `-` makes systemd refuse the unit, with `-` it is skipped.
    """
    parsed = ParsedExec()
    pos = 0
    while True:
        try:
            first, pos = extract_word(value, pos)
        except WordError as exc:
            parsed.warnings.append(f"rest of the line ignored: {exc}")
            return parsed
        if first is None:
            return parsed
        if first.text == ";":
            continue
        if first.unknown_escape:
            parsed.warnings.append(f"unknown escape kept verbatim in {first.text!r}")
        try:
            command, pos, more = _one_command(value, pos, first.text, ctx)
        except ExecError as exc:
            parsed.error = exc
            return parsed
        parsed.commands.append(command)
        parsed.warnings.extend(command.warnings)
        if not more:
            return parsed


def _prefixes(word: str) -> tuple[str, str]:
    """Strip the prefix characters; return (canonical prefixes, rest)."""
    ignore = argv0 = noenv = plus = nosetuid = ambient = False
    i = 0
    while i < len(word):
        c = word[i]
        if c == "-" and not ignore:
            ignore = True
        elif c == "@" and not argv0:
            argv0 = True
        elif c == ":" and not noenv:
            noenv = True
        elif c == "+" and not (plus or nosetuid or ambient):
            plus = True
        elif c == "!" and not (plus or nosetuid or ambient):
            nosetuid = True
        elif c == "!" and not (plus or ambient):
            nosetuid, ambient = False, True
        else:
            break
        i += 1
    flags = ("-" if ignore else "") + ("@" if argv0 else "") + (":" if noenv else "") \
        + ("+" if plus else "") + ("!" if nosetuid else "") + ("!!" if ambient else "")
    return flags, word[i:]


def _one_command(value: str, pos: int, first: str, ctx: specifiers.UnitContext
                 ) -> tuple[ExecCommand, int, bool]:
    prefixes, raw_path = _prefixes(first)
    ignore = "-" in prefixes

    def fail(message: str) -> ExecError:
        return ExecError(message, ignore)

    path, unexpanded = _expand(raw_path, ctx, fail)
    _check_path(path, fail)
    argv = [] if "@" in prefixes else [path]
    warnings: list[str] = []
    more = False
    while pos < len(value):
        rest = value[pos:]
        if rest[0] == ";" and (len(rest) == 1 or rest[1] in WHITESPACE):
            pos = _skip_space(value, pos + 1)
            more = True
            break
        if rest.startswith("\\;") and (len(rest) == 2 or rest[2] in WHITESPACE):
            argv.append(";")
            pos = _skip_space(value, pos + 2)
            continue
        try:
            word, pos = extract_word(value, pos)
        except WordError as exc:
            raise fail(f"cannot split the command line: {exc}") from None
        if word is None:
            break
        if word.unknown_escape:
            warnings.append(f"unknown escape kept verbatim in {word.text!r}")
        text, missing = _expand(word.text, ctx, fail)
        unexpanded += missing
        argv.append(text)
    if not argv:
        raise fail("empty executable name or argv[0] (an '@' line needs a word after the path)")
    return ExecCommand(_simplify(path), argv, prefixes, warnings, unexpanded), pos, more


def _expand(text: str, ctx: specifiers.UnitContext, fail) -> tuple[str, list[str]]:
    try:
        expanded = specifiers.expand(text, ctx)
    except specifiers.SpecifierError as exc:
        raise fail(f"cannot resolve specifiers in {text!r}: {exc}") from None
    return expanded.text, expanded.unknown


def _check_path(path: str, fail) -> None:
    if not path:
        raise fail("empty path in the command line")
    if any(ord(c) < 32 or c == "\x7f" or c in "\"'\\" for c in path):
        raise fail(f"executable name contains special characters: {path!r}")
    if path.endswith("/"):
        raise fail(f"executable path specifies a directory: {path}")
    if not path.startswith("/") and ("/" in path or path in (".", "..")):
        raise fail(f"neither a valid executable name nor an absolute path: {path}")


def _simplify(path: str) -> str:
    """systemd's path_simplify(): drop duplicate slashes and "." components."""
    if not path.startswith("/"):
        return path
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in WHITESPACE:
        pos += 1
    return pos
