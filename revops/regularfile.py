"""Reading one of revops' own files (config, inventory, cache, lock, compose) without blocking.

A FIFO, socket or device where a file should be would hang a plain `open()`/`read()` (a FIFO
with no writer blocks the open forever) or stream without end (`/dev/zero`). So the path is
checked with stat(2) before it is opened, opened with O_NONBLOCK in case it was swapped in
between, checked again on the open descriptor, and read up to a size limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from revops.errors import UsageError

# Large enough for a 10,000-unit inventory (149 units take 170 kB); small enough that a
# runaway file is refused before it is read into memory.
DEFAULT_LIMIT = 64 * 1024 * 1024

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class FileRefused(UsageError):
    """The path is not a regular file revops can read (exit 2). `rule` is the finding id
    validate reports it under; `reason` the text after the path."""

    def __init__(self, path: str | os.PathLike[str], reason: str, rule: str = "unreadable") -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.rule = rule


def kind(mode: int) -> str:
    """What a stat mode is, in words: "a FIFO", "a directory", ..."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_bytes(path: str | os.PathLike[str], limit: int = DEFAULT_LIMIT) -> bytes:
    """The bytes of the regular file `path` (symlinks followed), at most `limit` of them.

    Raises FileRefused when the path is missing, not a regular file, unreadable or larger
    than `limit`. Never blocks: only a regular file is ever read.
    """
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise FileRefused(path, "no such file", "path-missing") from None
    except OSError as exc:
        raise FileRefused(path, f"cannot read: {exc.strerror or exc}") from None
    _check(path, before, limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise FileRefused(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        _check(path, os.fstat(fd), limit)  # what was opened, in case the path changed since
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileRefused(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:  # it grew while being read
        raise FileRefused(path, f"larger than {limit} bytes", "too-large")
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str], limit: int = DEFAULT_LIMIT) -> str:
    """read_bytes() decoded as UTF-8; FileRefused (rule "not-utf8") naming the line otherwise."""
    raw = read_bytes(path, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FileRefused(f"{path}:{line}", f"not UTF-8 (byte {exc.start})", "not-utf8") from None


def is_regular(path: Path) -> bool:
    """True for a regular file (symlinks followed); False for anything else or nothing."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _check(path: str | os.PathLike[str], st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(path, f"not a regular file ({kind(st.st_mode)}); revops reads only regular files",
                          "not-regular-file")
    if st.st_size > limit:
        raise FileRefused(path, f"{st.st_size} bytes, larger than the {limit} revops reads", "too-large")
