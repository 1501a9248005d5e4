"""Helpers shared by the migrate tests (a module, so tests can import it by name)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from revops.cleanup import quarantine as Q


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry of the host part of the tree: type, mode, content digest or link target,
    and mtime for files and symlinks."""
    out = {}
    for top in ("etc", "opt", "srv", "usr"):
        for dirpath, dirnames, filenames in os.walk(root / top):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    out[str(path)] = ("link", os.readlink(path), st.st_mtime_ns)
                elif stat.S_ISDIR(st.st_mode):
                    out[str(path)] = ("dir", stat.S_IMODE(st.st_mode))
                else:
                    out[str(path)] = ("file", stat.S_IMODE(st.st_mode), Q.sha256(path), st.st_mtime_ns)
    return out
