"""What a value must look like before revops writes it into a Dockerfile or a compose file.

Each check returns None when the value is fine, else a short reason ("contains '$'"). They are
pure and shared: the unit reader flags the same values as problems (file, line) when it reads
them, generate skips a unit whose values fail (with the reason) and refuses a revops.yaml
value that fails. Sources of the rules:
- user names: systemd's strict form (revops.unitfile.accounts, systemd.io/USER_NAMES);
- paths: absolute and normalised as systemd.exec(5) wants for WorkingDirectory=, and plain
  enough for Dockerfile instructions that have no JSON form (WORKDIR expands `$VAR` and takes
  the rest of the line): no whitespace, quotes, `$`, backslashes or control characters;
- compose service, network and suite names: the compose specification's `[a-zA-Z0-9._-]`,
  lower case, starting with a letter or digit (a Dockerfile build stage name is lower case);
- image references: the distribution reference grammar (distribution/reference, regexp.go);
- ports: integers 1-65535; durations: Go durations as compose takes them ("30s", "1m30s").
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_STRICT_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,30}$")
_UID = re.compile(r"^[0-9]+$")
_PATH_CHARS = re.compile(r"^[A-Za-z0-9._@%+=:,~/-]+$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")
# distribution/reference: [domain[:port]/]path-component(/path-component)*[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
# As docker's ParseNormalizedNamed: the first component is a registry host only when it has a
# "." or ":" or is "localhost"; otherwise it is a (lower-case) path component.
_HOST = rf"(?:{_DOMAIN}(?<=localhost)|(?=[^/]*[.:]){_DOMAIN})"
_REPOSITORY = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
_REFERENCE = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                        r"(?:@sha256:[0-9a-f]{64})?$")


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def parse_uid(text: str) -> int | None:
    """A numeric UID as systemd's parse_uid() takes it: decimal, 32 bits, not 65535 or -1."""
    if not _UID.fullmatch(text) or (len(text) > 1 and text[0] == "0"):
        return None
    value = int(text)
    if value >= 0xFFFFFFFF or value == 0xFFFF:
        return None
    return value


def is_strict_name(name: str) -> bool:
    """A user or group name safe to create and to write anywhere (Dockerfile, compose)."""
    return bool(_STRICT_USER.fullmatch(name))


def user_name(value: Any) -> str | None:
    """A user an image can be given: a strict name or a numeric UID."""
    if not isinstance(value, str):
        return f"not a string ({type(value).__name__})"
    if parse_uid(value) is not None or is_strict_name(value):
        return None
    return "not a strict user name ([A-Za-z_][A-Za-z0-9_-], at most 31 characters)"


def abs_path(value: Any) -> str | None:
    """An absolute, normalised path, plain enough to stand in any Dockerfile instruction."""
    if not isinstance(value, str):
        return f"not a string ({type(value).__name__})"
    if not value.startswith("/"):
        return "not an absolute path"
    if _control(value):
        return "contains a control character"
    if not _PATH_CHARS.fullmatch(value):
        bad = sorted({c for c in value if not _PATH_CHARS.fullmatch(c)})
        return "contains " + " ".join(repr(c) for c in bad)
    parts = value.split("/")[1:]
    if value != "/" and ("" in parts or "." in parts or ".." in parts):
        return "not normalised (empty, '.' or '..' components)"
    return None


def file_path(value: Any) -> str | None:
    """A path a compose file names (absolute, or relative to the compose file): no control
    characters, no NUL, no empty value."""
    if not isinstance(value, str) or not value:
        return "not a non-empty string"
    return "contains a control character" if _control(value) else None


def name(value: Any) -> str | None:
    """A compose service/network name or a suite name that is also a build stage and a file name."""
    if not isinstance(value, str):
        return f"not a string ({type(value).__name__})"
    if not _NAME.fullmatch(value):
        return "not a name of [a-z0-9._-] starting with a letter or digit (at most 63 characters)"
    return None


def _pattern(pattern: re.Pattern[str], value: Any, why: str, limit: int = 4096) -> str | None:
    return None if isinstance(value, str) and len(value) <= limit and pattern.fullmatch(value) else why


def env_key(value: Any) -> str | None:
    return _pattern(_ENV_KEY, value, "not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")


def text(value: Any) -> str | None:
    """Any string that JSON quoting carries safely (a NUL byte never reaches an exec argv)."""
    if not isinstance(value, str):
        return f"not a string ({type(value).__name__})"
    return "contains a NUL byte" if "\x00" in value else None


def argv(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not value:
        return "not a non-empty list of strings"
    for word in value:
        problem = text(word)
        if problem:
            return f"{word!r}: {problem}"
    return None


def port(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        return f"{value!r} is not a port number (1-65535)"
    return None


def image_reference(value: Any) -> str | None:
    return _pattern(_REFERENCE, value, "not an image reference (name[:tag][@sha256:digest], lower-case path "
                    "components)", limit=255)


def image_repository(value: Any) -> str | None:
    return _pattern(_REPOSITORY, value.rstrip("/") if isinstance(value, str) else value,
                    "not an image repository (lower-case path components, an optional registry host)", limit=255)


def duration(value: Any) -> str | None:
    return _pattern(_DURATION, value, "not a duration such as 30s or 1m30s", limit=64)


def ip_address(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return "not an IP address"
    return None


def first_problem(checks: list[tuple[str, Any, Any]]) -> str | None:
    """The first failing check of [(what, value, check)], as "what: reason (value)"."""
    for what, value, check in checks:
        problem = check(value)
        if problem:
            return f"{what} {value!r}: {problem}"
    return None
