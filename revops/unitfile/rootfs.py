"""Paths of a host seen through a directory holding its root, as a chroot would see them.

An absolute symlink target ("/usr/bin/python3.11") points under the root, not at this machine's
own file; ".." never leaves the root. Loops are detected (as the kernel does, after 40 links).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_LINKS = 40


@dataclass(frozen=True)
class Resolved:
    host_path: str  # the final path as the host sees it (symlinks followed)
    real: Path  # where it is on this machine
    error: str | None = None  # None, "missing", "loop", "not-a-directory" or an OSError text

    @property
    def ok(self) -> bool:
        return self.error is None


class RootFS:
    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._identity = self.root == Path("/")
        self._prefix = str(self.root).rstrip("/") + "/"

    def real(self, host_path: str) -> Path:
        """The machine path of a host path, without following symlinks."""
        if self._identity:
            return Path(host_path)
        return Path(self._prefix + host_path.lstrip("/"))

    def host(self, real: Path) -> str:
        """The host path of a machine path under the root."""
        if self._identity:
            return str(real)
        rel = os.path.relpath(real, self.root)
        return "/" if rel == "." else "/" + rel

    def resolve(self, host_path: str) -> Resolved:
        """Follow every symlink of `host_path` inside the root."""
        parts = [p for p in host_path.split("/") if p not in ("", ".")]
        done: list[str] = []
        links = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            current = "/" + "/".join([*done, part])
            try:
                st = os.lstat(self.real(current))
            except FileNotFoundError:
                return Resolved(current + _rest(parts), self.real(current), "missing")
            except NotADirectoryError:
                return Resolved(current, self.real(current), "not-a-directory")
            except OSError as exc:
                return Resolved(current, self.real(current), exc.strerror or str(exc))
            if not stat.S_ISLNK(st.st_mode):
                if parts and not stat.S_ISDIR(st.st_mode):
                    return Resolved(current, self.real(current), "not-a-directory")
                done.append(part)
                continue
            links += 1
            if links > MAX_LINKS:
                return Resolved(current, self.real(current), "loop")
            try:
                target = os.readlink(self.real(current))
            except OSError as exc:
                return Resolved(current, self.real(current), exc.strerror or str(exc))
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
        host = "/" + "/".join(done)
        return Resolved(host, self.real(host))


def _rest(parts: list[str]) -> str:
    return "".join("/" + p for p in parts)
