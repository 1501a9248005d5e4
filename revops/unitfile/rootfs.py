"""Paths of a host seen through a directory holding its root, as a chroot would see them, and
THE one reader of files under it.

An absolute symlink target ("/usr/bin/python3.11") points under the root, not at this machine's
own file; ".." never leaves the root. Loops are detected (as the kernel does, after 40 links).

Every file revops reads under `--root` (unit files, drop-ins, etc/hostname, etc/passwd,
pyvenv.cfg, RECORD, requirements files...) goes through `RootFS.read_bytes`/`read_text`/`open`:
the path is resolved inside the root, the final component is opened with O_NOFOLLOW and
O_NONBLOCK (a FIFO, socket or device never blocks the read: only regular files are read),
the opened file is checked to lie under the root (/proc/self/fd, against a swap between
resolving and opening), and reads are bounded in size. Failures raise `RootReadError`, whose
`reason` is short and printable ("not a regular file (fifo)", "missing", ...).
"""

from __future__ import annotations

import errno
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

MAX_LINKS = 40
DEFAULT_LIMIT = 4 << 20  # bytes read at most from one file unless the caller says otherwise
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISLNK, "symlink"))


class RootReadError(OSError):
    """A file under the root that was not read, and why (`reason`: short, printable)."""

    def __init__(self, host_path: str, reason: str) -> None:
        super().__init__(f"{host_path}: {reason}")
        self.host_path = host_path
        self.reason = reason
        self.strerror = reason


def file_kind(mode: int) -> str:
    """"regular file", "fifo", "directory", ... of an st_mode."""
    if stat.S_ISREG(mode):
        return "regular file"
    return next((name for test, name in _KINDS if test(mode)), "special file")


@dataclass(frozen=True)
class Resolved:
    host_path: str  # the final path as the host sees it (symlinks followed)
    real_path: str  # where it is on this machine
    error: str | None = None  # None, "missing", "loop", "not-a-directory" or an OSError text
    mode: int | None = None  # st_mode of the final entry when the walk looked at it (lstat)

    @property
    def real(self) -> Path:
        return Path(self.real_path)

    @property
    def ok(self) -> bool:
        return self.error is None


class RootFS:
    """A host root. `cache=True` (for reading a host that does not change meanwhile, as a scan
    does) remembers where each directory resolves; anything that moves files uses cache=False."""

    def __init__(self, root: "Path | str", *, cache: bool = True) -> None:
        self.root = Path(os.path.abspath(root))
        self._identity = self.root == Path("/")
        self._prefix = str(self.root).rstrip("/") + "/"
        real_root = os.path.realpath(self.root)
        self._real_prefix = real_root.rstrip("/") + "/"
        self._dirs: dict[str, str] | None = {"/": "/"} if cache else None

    def real(self, host_path: str) -> Path:
        """The machine path of a host path, without following symlinks."""
        return Path(self._real(host_path))

    def _real(self, host_path: str) -> str:
        if self._identity:
            return host_path
        return self._prefix + host_path.lstrip("/")

    def host(self, real: Path) -> str:
        """The host path of a machine path under the root."""
        if self._identity:
            return str(real)
        rel = os.path.relpath(real, self.root)
        return "/" if rel == "." else "/" + rel

    def resolve(self, host_path: str) -> Resolved:
        """Follow every symlink of `host_path` inside the root."""
        parts = [p for p in host_path.split("/") if p not in ("", ".")]
        if self._dirs is None or not parts or ".." in parts:
            return self._walk(parts, [])
        parent = "/" + "/".join(parts[:-1])
        base = self._dirs.get(parent)
        if base is None:
            above = self.resolve(parent)
            if not above.ok:
                return self._walk(parts, [])  # the full walk names the precise failure
            base = self._dirs[parent] = above.host_path
        return self._walk([parts[-1]], [p for p in base.split("/") if p])

    def _walk(self, parts: list[str], done: list[str]) -> Resolved:
        links = 0
        mode = None
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            current = "/" + "/".join([*done, part])
            real = self._real(current)
            try:
                st = os.lstat(real)
            except FileNotFoundError:
                return Resolved(current + _rest(parts), real, "missing")
            except NotADirectoryError:
                return Resolved(current, real, "not-a-directory")
            except OSError as exc:
                return Resolved(current, real, exc.strerror or str(exc))
            if not stat.S_ISLNK(st.st_mode):
                if parts and not stat.S_ISDIR(st.st_mode):
                    return Resolved(current, real, "not-a-directory")
                done.append(part)
                mode = st.st_mode
                continue
            links += 1
            if links > MAX_LINKS:
                return Resolved(current, real, "loop")
            try:
                target = os.readlink(real)
            except OSError as exc:
                return Resolved(current, real, exc.strerror or str(exc))
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            mode = None
        host = "/" + "/".join(done)
        return Resolved(host, self._real(host), mode=mode if done else None)

    # -- reading: the one way revops reads a file under the root ----------------------------

    def open(self, host_path: str) -> BinaryIO:
        """A binary file object on the regular file `host_path` resolves to inside the root.

        Raises RootReadError when the path does not resolve inside the root, is not a regular
        file (a FIFO is never opened for a blocking read) or cannot be opened."""
        resolved = self.resolve(host_path)
        if not resolved.ok:
            raise RootReadError(host_path, "too many levels of symbolic links" if resolved.error == "loop"
                                else resolved.error or "unreadable")
        mode = resolved.mode
        if mode is None:  # look before opening: a device or FIFO is never opened at all
            try:
                mode = os.lstat(resolved.real_path).st_mode
            except OSError as exc:
                raise RootReadError(host_path, exc.strerror or str(exc)) from None
        if not stat.S_ISREG(mode):
            raise RootReadError(host_path, f"not a regular file ({file_kind(mode)})")
        try:
            fd = os.open(resolved.real_path, _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the last component turned into a symlink meanwhile
                raise RootReadError(host_path, "changed while being read (now a symlink)") from None
            if exc.errno == errno.ENXIO:  # a socket, or a FIFO nobody writes to (O_NONBLOCK)
                raise RootReadError(host_path, "not a regular file") from None
            raise RootReadError(host_path, exc.strerror or str(exc)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise RootReadError(host_path, f"not a regular file ({file_kind(st.st_mode)})")
            self._check_inside(fd, host_path)
            os.set_blocking(fd, True)
            return io.open(fd, "rb", closefd=True)  # type: ignore[return-value]
        except BaseException:
            os.close(fd)
            raise

    def _check_inside(self, fd: int, host_path: str) -> None:
        if self._identity:
            return
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return  # no /proc: resolve() alone decided
        if not where.startswith(self._real_prefix):
            raise RootReadError(host_path, "resolves outside the host root; not read")

    def read_bytes(self, host_path: str, limit: int = DEFAULT_LIMIT) -> bytes:
        """The bytes of a regular file under the root, at most `limit` of them (RootReadError
        "larger than N bytes" beyond)."""
        chunks, size = [], 0
        with self.open(host_path) as handle:
            while size <= limit:
                chunk = handle.read(min(1 << 16, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        if size > limit:
            raise RootReadError(host_path, f"larger than {limit} bytes; not read")
        return b"".join(chunks)

    def read_text(self, host_path: str, limit: int = DEFAULT_LIMIT, errors: str = "replace") -> str:
        """read_bytes() decoded as UTF-8 (undecodable bytes replaced unless errors="strict",
        which raises UnicodeDecodeError)."""
        return self.read_bytes(host_path, limit).decode("utf-8", errors=errors)

    def first_line(self, host_path: str, limit: int = 64 << 10) -> str | None:
        """The first line, stripped, of a small file; None when empty. RootReadError as above."""
        with self.open(host_path) as handle:
            line = handle.readline(limit).decode("utf-8", errors="replace").strip()
        return line or None

    # -- looking, without reading -----------------------------------------------------------

    def lstat(self, host_path: str) -> os.stat_result:
        """lstat() of the entry itself (its parents resolved inside the root); OSError if none."""
        parent, name = self._split(host_path)
        if not name or name == "..":
            resolved = self.resolve(host_path)
            if not resolved.ok:
                raise FileNotFoundError(errno.ENOENT, resolved.error or "missing", host_path)
            return os.lstat(resolved.real_path)
        resolved = self.resolve(parent)
        if not resolved.ok:
            raise FileNotFoundError(errno.ENOENT, resolved.error or "missing", host_path)
        return os.lstat(resolved.real_path + "/" + name)

    def stat(self, host_path: str) -> os.stat_result | None:
        """stat() of what `host_path` resolves to inside the root; None when it does not resolve."""
        resolved = self.resolve(host_path)
        if not resolved.ok:
            return None
        try:
            return os.stat(resolved.real_path)
        except OSError:
            return None

    def is_dir(self, host_path: str) -> bool:
        st = self.stat(host_path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def is_file(self, host_path: str) -> bool:
        st = self.stat(host_path)
        return st is not None and stat.S_ISREG(st.st_mode)

    def exists(self, host_path: str) -> bool:
        return self.stat(host_path) is not None

    def lexists(self, host_path: str) -> bool:
        try:
            self.lstat(host_path)
        except OSError:
            return False
        return True

    def readlink(self, host_path: str) -> str:
        parent, name = self._split(host_path)
        if not name or name == "..":
            raise OSError(errno.EINVAL, "not a symbolic link", host_path)
        resolved = self.resolve(parent)
        if not resolved.ok:
            raise FileNotFoundError(errno.ENOENT, resolved.error or "missing", host_path)
        return os.readlink(resolved.real_path + "/" + name)

    def listdir(self, host_path: str) -> list[str]:
        """Names in the directory `host_path` resolves to inside the root; [] when none."""
        resolved = self.resolve(host_path)
        if not resolved.ok:
            return []
        try:
            return os.listdir(resolved.real_path)
        except OSError:
            return []

    def scandir(self, host_path: str) -> Iterator[os.DirEntry]:
        """os.scandir() of the directory `host_path` resolves to (entries are not followed)."""
        resolved = self.resolve(host_path)
        if not resolved.ok:
            return iter(())
        try:
            with os.scandir(resolved.real_path) as it:
                return iter(list(it))
        except OSError:
            return iter(())

    def inside(self, real: "Path | str") -> bool:
        """Whether a machine path lies under the root (the root itself included)."""
        text = os.path.abspath(real)
        return self._identity or text == str(self.root) or text.startswith(self._prefix)

    @staticmethod
    def _split(host_path: str) -> tuple[str, str]:
        parts = [p for p in host_path.split("/") if p not in ("", ".")]
        if not parts:
            return "/", ""
        return "/" + "/".join(parts[:-1]), parts[-1]


def _rest(parts: list[str]) -> str:
    return "".join("/" + p for p in parts)
