"""The entrypoint revops ships into every generated image, and the EnvironmentFile= reader.

In the image (`ENTRYPOINT [python, -I, -S, this file, FILE..., --]`, the service's argv after
it as CMD): read each FILE (a compose or Docker secret mounted at /run/secrets/<name>) by
systemd's EnvironmentFile= rules, set its variables, and exec the service's argv unchanged.
No shell is involved; after the exec the service itself is PID 1, so signals reach it and its
exit code is the container's. Nothing is printed but errors, and an error names a file, a
line and a variable, never a value.

On the host, revops reads env files with the same `parse` (revops.envfile uses it), so the
container gets what systemd gives the unit. This module is copied as it is into each build
context, so it imports nothing but the standard library and keeps to Python 3.7's syntax
(whatever python3 the base image has).

systemd's rules (systemd.exec(5) EnvironmentFile=, src/basic/env-file.c of systemd 252, the
version Debian 12 runs):
- a line whose first non-blank character is `#` or `;` is a comment; a backslash in a comment
  escapes the next character, a newline included, so a comment ending in `\\` goes on over the
  next line (systemd 254 changed that: there the next line is read as an assignment);
- `KEY=VALUE`: blanks around KEY and before VALUE are dropped; a line with no `=` is ignored;
- unquoted, a backslash takes the next character literally, a backslash-newline joins the next
  line, and trailing blanks are dropped (an escaped blank is kept);
- in single quotes everything is literal; in double quotes a backslash escapes `"`, `\\`,
  `` ` `` and `$` (other backslashes stay), and a backslash-newline is dropped; quoted and
  unquoted pieces written together make one value (`A="x"'y'z` is `xyz`);
- the text ends at a NUL; invalid UTF-8 in a key or value makes systemd refuse the whole file;
- keys that are not shell names ([A-Za-z_][A-Za-z0-9_]*) are dropped when the service starts;
- a later assignment of the same key wins.
"""

from __future__ import annotations

import os
import re
import stat
import sys

NEWLINE = "\n\r"
BLANKS = " \t\n\r"
COMMENT_START = "#;"
DOUBLE_QUOTE_ESCAPES = '"\\`$'
MAX_FILE = 4 << 20  # bytes read at most from one file; an env file is a few kB
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)

# sysexits.h: what went wrong, for whoever reads the container's exit code.
EX_USAGE, EX_DATAERR, EX_NOINPUT = 64, 65, 66


class EnvFileError(ValueError):
    """A file systemd would refuse (invalid UTF-8 in an assignment); the message names the
    line and the key, never the value."""


def valid_name(key: str) -> bool:
    """A variable name systemd passes to a process: a shell name (env_name_is_valid)."""
    return _NAME.fullmatch(key) is not None


def parse(text: str) -> list:
    """Every assignment of an env file's text, in order, as (key, value) pairs (the key as
    written: keep only valid_name() keys to get what a process receives). `text` may carry
    surrogate escapes (bytes decoded with errors="surrogateescape"); an assignment holding one
    (invalid UTF-8) raises EnvFileError."""
    text = text.split("\0", 1)[0]
    pairs = []
    state = "pre-key"
    key, value = [], []
    key_end = value_end = None  # where trailing blanks begin, in key and value
    line = 1

    def push():
        name = "".join(key if key_end is None else key[:key_end])
        found = "".join(value)
        if _surrogates(name):
            raise EnvFileError(f"line {line}: invalid UTF-8 in a variable's name")
        if _surrogates(found):
            raise EnvFileError(f"line {line}: invalid UTF-8 in the value of {name}")
        pairs.append((name, found))

    for c in text:
        if state == "pre-key":
            if c in COMMENT_START:
                state = "comment"
            elif c not in BLANKS:
                state, key, key_end = "key", [c], None
        elif state == "key":
            if c in NEWLINE:
                state, line = "pre-key", line + 1
            elif c == "=":
                state, value, value_end = "pre-value", [], None
            else:
                if c not in BLANKS:
                    key_end = None
                elif key_end is None:
                    key_end = len(key)
                key.append(c)
        elif state == "pre-value":
            if c in NEWLINE:
                push()
                state, line = "pre-key", line + 1
            elif c == "'":
                state = "single"
            elif c == '"':
                state = "double"
            elif c == "\\":
                state = "escape"
            elif c not in BLANKS:
                state = "value"
                value.append(c)
        elif state == "value":
            if c in NEWLINE:
                if value_end is not None:
                    del value[value_end:]
                push()
                state, line = "pre-key", line + 1
            elif c == "\\":
                state, value_end = "escape", None
            else:
                if c not in BLANKS:
                    value_end = None
                elif value_end is None:
                    value_end = len(value)
                value.append(c)
        elif state == "escape":
            state = "value"
            if c not in NEWLINE:  # a backslash-newline joins the lines
                value.append(c)
        elif state == "single":
            if c == "'":
                state = "pre-value"
            else:
                value.append(c)
        elif state == "double":
            if c == '"':
                state = "pre-value"
            elif c == "\\":
                state = "double-escape"
            else:
                value.append(c)
        elif state == "double-escape":
            state = "double"
            if c in DOUBLE_QUOTE_ESCAPES:
                value.append(c)
            elif c != "\n":
                value.extend(("\\", c))
        elif state == "comment":
            if c == "\\":
                state = "comment-escape"
            elif c in NEWLINE:
                state, line = "pre-key", line + 1
        else:  # comment-escape: the escaped character stays in the comment
            state = "comment"
    if state in ("pre-value", "value", "escape", "single", "double", "double-escape"):
        if state == "value" and value_end is not None:
            del value[value_end:]
        push()
    return pairs


def _surrogates(text: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text)


def quote(value: str) -> str:
    """`value` in double quotes such that parse() gives it back exactly (newlines included)."""
    return '"' + "".join("\\" + c if c in DOUBLE_QUOTE_ESCAPES else c for c in value) + '"'


def render(pairs) -> str:
    """An env file holding `pairs` (valid names, values without NUL), one `KEY="value"` line
    each, that parse() reads back as the same pairs."""
    lines = []
    for key, value in pairs:
        if not valid_name(key) or "\0" in value:
            raise ValueError(f"{key!r}: not a variable systemd can pass")
        lines.append(f"{key}={quote(value)}\n")
    return "".join(lines)


def environment(pairs) -> dict:
    """What a process receives from these assignments: valid names only, the last one wins."""
    env = {}
    for key, value in pairs:
        if valid_name(key):
            env[key] = value
    return env


def read(path: str) -> dict:
    """The variables of one file, read without following a symlink at its end, and never
    from a FIFO or device (which could block the start)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        data = os.read(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE:
        raise OSError(f"{path}: larger than {MAX_FILE} bytes")
    return environment(parse(data.decode("utf-8", "surrogateescape")))


def main(argv) -> int:
    """`entrypoint.py FILE... -- COMMAND ARG...`: returns only on an error (its exit code)."""
    if "--" not in argv:
        return _fail(EX_USAGE, "usage: entrypoint.py FILE... -- COMMAND [ARG...]")
    split = argv.index("--")
    files, command = argv[:split], argv[split + 1:]
    if not command:
        return _fail(EX_USAGE, "no command after --: nothing to run")
    for path in files:
        try:
            os.environ.update(read(path))
        except EnvFileError as exc:
            return _fail(EX_DATAERR, f"{path}: {exc}")
        except OSError as exc:
            return _fail(EX_NOINPUT, f"cannot read {path}: {exc.strerror or exc}")
    try:
        os.execvp(command[0], command)  # exec form, as Docker runs a CMD: PATH searched, no shell
    except OSError as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        return _fail(code, f"cannot run {command[0]}: {exc.strerror or exc}")
    return 0  # not reached: exec replaced this process


def _fail(code: int, message: str) -> int:
    sys.stderr.write(f"revops-entrypoint: {message}\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
