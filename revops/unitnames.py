"""Unit names: prefix, instance, template, and systemd's name escaping (systemd.unit(5))."""

from __future__ import annotations

import re

UNIT_SUFFIXES = (".service", ".socket", ".target", ".timer", ".path", ".mount", ".automount",
                 ".swap", ".slice", ".scope", ".device")
_VALID_CHARS = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")


class BadName(ValueError):
    """A unit name or an escaped string that systemd would refuse."""


def split_suffix(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:]


def is_valid(name: str) -> bool:
    stem, suffix = split_suffix(name)
    return bool(stem) and suffix in UNIT_SUFFIXES and len(name) <= 255 and bool(_VALID_CHARS.match(name))


def is_template(name: str) -> bool:
    stem, _ = split_suffix(name)
    return stem.endswith("@") and stem.count("@") >= 1


def is_instance(name: str) -> bool:
    stem, _ = split_suffix(name)
    at = stem.find("@")
    return at > 0 and at < len(stem) - 1


def prefix(name: str) -> str:
    """"foo@bar.service" -> "foo"; "foo.service" -> "foo"."""
    stem, _ = split_suffix(name)
    at = stem.find("@")
    return stem if at < 0 else stem[:at]


def instance(name: str) -> str | None:
    stem, _ = split_suffix(name)
    at = stem.find("@")
    return None if at < 0 else stem[at + 1:]


def template_of(name: str) -> str:
    """"foo@bar.service" -> "foo@.service"."""
    stem, suffix = split_suffix(name)
    return stem[: stem.find("@") + 1] + suffix


def unescape(text: str) -> str:
    """Undo systemd's name escaping: "-" is "/", "\\xNN" a byte."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "-":
            out += b"/"
            i += 1
        elif c == "\\":
            digits = text[i + 2:i + 4]
            if text[i + 1:i + 2] != "x" or len(digits) != 2:
                raise BadName(f"bad escape in {text!r}")
            try:
                out.append(int(digits, 16))
            except ValueError:
                raise BadName(f"bad escape in {text!r}") from None
            i += 4
        else:
            out += c.encode()
            i += 1
    return out.decode("utf-8", errors="replace")


def path_unescape(text: str) -> str:
    """The path a name part stands for ("-" is "/", "var-lib" is "/var/lib")."""
    if not text:
        raise BadName("empty path name")
    if text == "-":
        return "/"
    plain = unescape(text)
    if plain.startswith("/") or plain.endswith("/"):
        raise BadName(f"{text!r} does not escape a normalized path")
    path = "/" + plain
    if "//" in path or any(part in (".", "..") for part in path.split("/")):
        raise BadName(f"{text!r} does not escape a normalized path")
    return path


def dropin_dir_names(name: str) -> list[str]:
    """Names whose NAME.d directories hold drop-ins for `name`, most specific first.

    The unit, its template, then each dash prefix ("foo-bar-baz.service" -> "foo-bar-.service",
    "foo-.service") with the instance kept, each followed by its own template.
    """
    found: list[str] = []
    _collect_dropin_names(name, found)
    return found


def _collect_dropin_names(name: str, found: list[str]) -> None:
    found.append(name)
    if is_instance(name):
        found.append(template_of(name))
    shorter = _dash_prefix(prefix(name))
    if shorter is None:
        return
    _, suffix = split_suffix(name)
    inst = instance(name)
    built = f"{shorter}@{inst}{suffix}" if inst is not None else f"{shorter}{suffix}"
    _collect_dropin_names(built, found)


def _dash_prefix(stem: str) -> str | None:
    """"foo-bar-baz" -> "foo-bar-"; "foo-bar-" -> "foo-"; None when no dash is left."""
    chopped = False
    text = stem
    while True:
        dash = text.rfind("-")
        if dash <= 0:
            return None
        if dash + 1 < len(text) or chopped:
            return text[: dash + 1]
        text = text[:dash]
        chopped = True
