"""The root-only directory of the services' copies, which compose mounts as file-backed secrets.

A compose file-backed secret is a bind mount of the host file (compose 1.29 ignores a secret's
uid/gid/mode outside Swarm), so the container sees the host file's owner and mode: the copy
must belong to the container's uid, and be readable by it alone (0400). The directory is
root's with mode 0700: nobody else on the host reaches any copy, and a bind mount does not
need the container to traverse the host directory.

Layout (the Swarm target reuses it): `<secrets.dir>/<service>.env` per service, its previous
version `<service>.env.previous` while a rotation may still roll back, and `.digest-key`
(random, 0400) keying the digests shown in status and the ledger (digest.keyed).

Every write is atomic (a temporary file in the directory, owner and mode set on its descriptor
before any byte is written, fsync, rename, fsync of the directory), and paths are opened
relative to the directory's descriptor without following symlinks.
"""

from __future__ import annotations

import os
import re
import secrets as random
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from revops.errors import CheckFailed
from revops.secrets.digest import keyed

DIR_MODE = 0o700
COPY_MODE = 0o400
KEY_FILE = ".digest-key"
KEY_BYTES = 32
PREVIOUS = ".previous"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def check_name(name: str) -> str:
    """A copy's file name as compose names the secret: one plain component."""
    if not _NAME.fullmatch(name) or name.endswith(PREVIOUS):
        raise _refuse(f"secret {name!r}: not a plain file name revops writes copies as",
                          "regenerate the compose files (`revops generate`)")
    return name


class Copies:
    """The directory `path` (revops.yaml secrets.dir). Methods raise CheckFailed naming the
    path and the command that fixes it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def copy_path(self, name: str) -> Path:
        return self.path / check_name(name)

    # -- checks (preflight): read only ------------------------------------------------

    def check(self, name: str, uid: int) -> str:
        """The directory (when it exists) is a directory of ours with mode 0700, and the copy
        (when it exists) is a regular file owned by `uid` that no other uid can read."""
        said = self._check_dir()
        if said is None:
            return f"{self.path} absent (written with mode 0700)"
        path = self.copy_path(name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return f"{self.path} mode 0700; {name} not written yet"
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(f"{path}: not a regular file", f"remove it (`rm -r {path}`); migrate writes the copy")
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != uid or mode & 0o077:
            who = (f"owned by uid {st.st_uid}, not the container's uid {uid}" if st.st_uid != uid
                   else f"mode {mode:04o}: readable by other uids")
            raise _refuse(f"{path}: {who}",
                          f"`chown {uid}:{uid} {path} && chmod 0400 {path}`, or `rm {path}` "
                          "and migrate writes it again")
        return f"{self.path} mode 0700; {name} uid {uid} mode {mode:04o}"

    def _check_dir(self) -> str | None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            raise _refuse(f"{self.path}: not a directory (the secret copies' directory, secrets.dir)",
                          f"move it away; revops creates {self.path} with mode 0700")
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != os.geteuid():
            raise _refuse(f"{self.path}: owned by uid {st.st_uid}, not by uid {os.geteuid()} running revops",
                          f"`chown {os.geteuid()}:{os.getegid()} {self.path} && chmod 0700 {self.path}`")
        if mode != DIR_MODE:
            raise _refuse(f"{self.path}: mode {mode:04o}, expected 0700 (only its owner may enter it)",
                          f"`chmod 0700 {self.path}`")
        return "ok"

    # -- changes --------------------------------------------------------------------

    def write(self, name: str, uid: int, data: bytes, *, keep_previous: bool = False) -> str:
        """Write the copy atomically, owned by uid:uid with mode 0400; return its keyed digest.
        `keep_previous` keeps the copy it replaces as `<name>.previous` (restore_previous)."""
        check_name(name)
        with self._dir() as dfd:
            if keep_previous and _exists(name, dfd):
                _unlink(name + PREVIOUS, dfd)
                os.link(name, name + PREVIOUS, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
            _atomic(dfd, name, data, uid, COPY_MODE)
        return self.digest(data)

    def restore_previous(self, name: str) -> bool:
        """Put `<name>.previous` back in place of the copy; False when there is none."""
        check_name(name)
        with self._dir() as dfd:
            if not _exists(name + PREVIOUS, dfd):
                return False
            os.rename(name + PREVIOUS, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            os.fsync(dfd)
        return True

    def drop_previous(self, name: str) -> None:
        with self._dir() as dfd:
            _unlink(check_name(name) + PREVIOUS, dfd)

    def placeholder(self, name: str, uid: int) -> bool:
        """An empty copy for a service not migrated yet, when it has none: compose (1.29)
        refuses every command on a project whose secret files are missing. True if made."""
        check_name(name)
        with self._dir() as dfd:
            if _exists(name, dfd):
                return False
            try:
                _atomic(dfd, name, b"", uid, COPY_MODE, replace=False)
            except FileExistsError:
                return False
        return True

    def empty(self, name: str, uid: int) -> None:
        """Replace the copy (and drop its previous version) by an empty one: no value is left,
        and compose still finds the file."""
        self.write(name, uid, b"")
        self.drop_previous(name)

    def remove(self, name: str) -> bool:
        """Remove the copy (and any previous version); False when there was none."""
        check_name(name)
        if not self.path.is_dir():
            return False
        with self._dir() as dfd:
            _unlink(name + PREVIOUS, dfd)
            return _unlink(name, dfd)

    def read(self, name: str) -> bytes | None:
        """The copy's bytes (root only), or None when it is not there."""
        check_name(name)
        if not self.path.is_dir():
            return None
        with self._dir() as dfd:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
            except FileNotFoundError:
                return None
            with os.fdopen(fd, "rb") as handle:
                return handle.read()

    def digest(self, data: bytes) -> str:
        """`hmac-sha256:` and 16 hex of `data`, keyed with the directory's own key (made when
        missing)."""
        key = self._key()
        assert key is not None
        return keyed(key, data)

    def peek_digest(self, data: bytes) -> str | None:
        """digest() without creating anything: None when no key was ever made (no copy written).
        Raises CheckFailed when the directory is unsafe, PermissionError without root."""
        if not os.path.lexists(self.path):
            return None
        key = self._key(create=False)
        return None if key is None else keyed(key, data)

    def _key(self, create: bool = True) -> bytes | None:
        with self._dir() as dfd:
            try:
                fd = os.open(KEY_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    _atomic(dfd, KEY_FILE, random.token_bytes(KEY_BYTES), os.geteuid(), COPY_MODE, replace=False)
                except FileExistsError:
                    pass  # another run made it meanwhile: use that one
                fd = os.open(KEY_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            with os.fdopen(fd, "rb") as handle:
                key = handle.read(KEY_BYTES + 1)
        if len(key) != KEY_BYTES:
            raise _refuse(f"{self.path / KEY_FILE}: not a digest key of {KEY_BYTES} bytes",
                          f"remove it (`rm {self.path / KEY_FILE}`): digests shown so far will change")
        return key

    @contextmanager
    def _dir(self) -> Iterator[int]:
        """The directory's descriptor: created with mode 0700 when missing, else checked."""
        if not os.path.lexists(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(self.path, DIR_MODE)
            except FileExistsError:
                pass
            os.chmod(self.path, DIR_MODE, follow_symlinks=False)  # umask may have narrowed it
        self._check_dir()
        dfd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            yield dfd
        finally:
            os.close(dfd)


def _atomic(dfd: int, name: str, data: bytes, uid: int, mode: int, *, replace: bool = True) -> None:
    tmp = f".{name}.{random.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    try:
        os.fchmod(fd, mode)  # before any byte: no moment where the file is open to more
        os.fchown(fd, uid, uid)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(tmp, dfd)
        raise
    os.close(fd)
    if replace:
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    else:
        try:
            os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        finally:
            _unlink(tmp, dfd)
    os.fsync(dfd)


def _refuse(what: str, fix: str) -> CheckFailed:
    """A refusal naming the path and the fix in its message (the ledger keeps the message)."""
    return CheckFailed(f"{what}; fix: {fix}", hint=fix)


def _exists(name: str, dfd: int) -> bool:
    try:
        os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return False
    return True


def _unlink(name: str, dfd: int) -> bool:
    try:
        os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        return False
    return True
