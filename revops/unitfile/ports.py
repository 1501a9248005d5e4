"""The TCP port a service listens on, from its command line or its environment."""

from __future__ import annotations

import re

_PORT_FLAGS = ("--port", "-p", "--http-port", "--listen-port")
_BIND_FLAGS = ("--bind", "-b", "--listen", "--address", "--host-port")
_HOST_PORT = re.compile(r"^(?:\[[0-9a-fA-F:.]*\]|[A-Za-z0-9_.-]*):(\d{1,5})$")


def _port(text: str) -> int | None:
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    return None


def _bind_port(text: str) -> int | None:
    match = _HOST_PORT.match(text)
    return _port(match.group(1)) if match else None


def port_of_argv(argv: list[str]) -> int | None:
    """`--port N`, `--port=N`, `-p N`, `-pN`, `--bind host:N`, `--bind=:N`, a bare `:N` word."""
    for i, word in enumerate(argv[1:], start=1):
        following = argv[i + 1] if i + 1 < len(argv) else ""
        flag, eq, value = word.partition("=")
        if flag in _PORT_FLAGS:
            found = _port(value if eq else following)
        elif flag in _BIND_FLAGS:
            found = _bind_port(value if eq else following)
        elif word.startswith("-p") and word[2:].isdigit():
            found = _port(word[2:])
        elif word.startswith(":"):
            found = _bind_port(word)
        else:
            found = None
        if found is not None:
            return found
    return None


def port_of(commands: list[list[str]], environment: dict[str, str]) -> int | None:
    """The first port found on a command line, else PORT= of the unit's environment."""
    for argv in commands:
        found = port_of_argv(argv)
        if found is not None:
            return found
    return _port(environment.get("PORT", ""))
