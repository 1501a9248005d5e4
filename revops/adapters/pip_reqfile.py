"""pip's own reading of one requirements file: the only module that imports pip.

pip has no public Python API for requirements files, so this drives the functions of
`pip._internal.req.req_file` that pip itself (and pip-tools, which revops locks with) reads
them with: line continuations, comments, `${VAR}` references, the split between a
requirement and its options, and pip's option parser. Only one file is read per call and
nothing is fetched or opened: `-r`/`-c` come back as options for the caller to follow
inside the host root.

Options that older pips accepted on a requirement line and newer ones dropped
(`--global-option`, `--install-option`, `--build-option`) or that older ones lack
(`--config-settings`) are added to the parser, so a field file reads the same whatever pip
is installed; the lock decides what it can honour. Importing pip costs about half a second,
so callers cache what this returns (revops.lock.reqfile).
"""

from __future__ import annotations

import functools
import optparse
import shlex
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

# pip's option destinations whose values are plain data worth reporting; the rest are defaults.
_DESTS = ("requirements", "constraints", "editables", "index_url", "extra_index_urls", "no_index", "find_links",
          "prefer_binary", "require_hashes", "pre", "trusted_hosts", "features_enabled", "hashes",
          "config_settings", "global_options", "install_options", "build_options")
# Per-requirement options some pip accepted; added where the installed pip lacks them.
_PORTABLE = (("--config-settings", "config_settings"), ("--global-option", "global_options"),
             ("--install-option", "install_options"), ("--build-option", "build_options"))


@dataclass(frozen=True)
class RawLine:
    """One logical line as pip reads it."""

    number: int  # the first physical line of a continued line
    text: str  # as written: continuations joined, comment removed, ${VAR} NOT expanded (for messages)
    args: str  # the requirement part, ${VAR} expanded; "" on an option-only line
    options: dict[str, Any] = field(default_factory=dict)  # pip's dest -> value, only those set
    error: str | None = None  # pip's parser refused the line

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "text": self.text, "args": self.args, "options": self.options,
                "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RawLine":
        return cls(data["number"], data["text"], data["args"], dict(data["options"]), data["error"])


@functools.lru_cache(maxsize=1)
def version() -> str:
    """The installed pip's version: what a cached reading depends on (asked once per process)."""
    return metadata.version("pip")


def read(content: str) -> list[RawLine]:
    """pip's reading of a requirements file's text, line by line (no file is opened)."""
    from pip._internal.req import req_file

    as_written = dict(req_file.ignore_comments(req_file.join_lines(enumerate(content.splitlines(), start=1))))
    lines = []
    for number, line in req_file.preprocess(content):
        args, options_text = req_file.break_args_options(line)
        try:
            values = _parse_options(req_file, options_text)
        except (req_file.OptionParsingError, ValueError) as exc:
            lines.append(RawLine(number, as_written.get(number, line), args, {}, _message(exc)))
            continue
        lines.append(RawLine(number, as_written.get(number, line), args, _plain(values)))
    return lines


def decode(data: bytes) -> str:
    """Bytes to text as pip decodes a requirements file (BOM, `# -*- coding:` line, else UTF-8/locale)."""
    from pip._internal.utils.encoding import auto_decode

    return auto_decode(data)


def _parse_options(req_file: Any, options_text: str) -> optparse.Values:
    parser = req_file.build_parser()

    def refuse(message: str) -> None:  # optparse would print its usage to stderr first
        raise req_file.OptionParsingError(message)

    parser.error = refuse
    for flag, dest in _PORTABLE:
        if not parser.has_option(flag):
            parser.add_option(optparse.Option(flag, dest=dest, action="append", metavar="VALUE"))
    defaults = parser.get_default_values()
    defaults.index_url = None
    values, _ = parser.parse_args(shlex.split(options_text), defaults)
    return values


def _plain(values: optparse.Values) -> dict[str, Any]:
    """The options set on a line, as JSON-safe data (pip's format_control split in two)."""
    found: dict[str, Any] = {}
    for dest in _DESTS:
        value = getattr(values, dest, None)
        if value:
            found[dest] = {k: list(v) for k, v in value.items()} if isinstance(value, dict) else value
    control = getattr(values, "format_control", None)
    if control is not None:
        for kind in ("no_binary", "only_binary"):
            chosen = sorted(getattr(control, kind, ()) or ())
            if chosen:
                found[kind] = chosen
    return found


def _message(exc: Exception) -> str:
    text = getattr(exc, "msg", None) or str(exc)
    return text.strip().splitlines()[-1] if text.strip() else type(exc).__name__
