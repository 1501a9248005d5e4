"""A file tree held in memory, then written in one pass (sorted, so the same tree, same bytes)."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    data: bytes | None = None  # file content; None for a symlink or a directory
    link: str | None = None  # symlink target, exactly as written
    mode: int = 0o644


@dataclass
class Tree:
    """Paths are as the host sees them ("/opt/revflow-os/...")."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def file(self, path: str, text: str | bytes, mode: int = 0o644) -> None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        self.entries[path] = Entry(data=data, mode=mode)

    def symlink(self, path: str, target: str) -> None:
        self.entries[path] = Entry(link=target)

    def directory(self, path: str) -> None:
        self.entries[path] = Entry(mode=0o755)

    def under(self, prefix: str) -> list[str]:
        return sorted(p for p in self.entries if p.startswith(prefix))


def write(tree: Tree, root: Path, skip: tuple[str, ...] = ()) -> int:
    """Write every entry under root; paths under any `skip` prefix are left alone. Returns bytes."""
    total = 0
    made: set[Path] = set()
    for path in sorted(tree.entries):
        if any(path == s or path.startswith(s + "/") for s in skip):
            continue
        entry = tree.entries[path]
        target = root / path.lstrip("/")
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        if entry.link is not None:
            _replace_with_link(target, entry.link)
        elif entry.data is None:
            target.mkdir(exist_ok=True)
        else:
            _write_file(target, entry.data, entry.mode)
            total += len(entry.data)
    return total


def _replace_with_link(target: Path, link: str) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    os.symlink(link, target)


def _write_file(target: Path, data: bytes, mode: int) -> None:
    if target.is_symlink():
        target.unlink()
    with open(target, "wb") as handle:
        handle.write(data)
    os.chmod(target, mode)


def digest(root: Path) -> str:
    """One sha256 over every path, type, mode, content and link target under root."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                h.update(f"L {rel} -> {os.readlink(path)}\n".encode())
            elif path.is_dir():
                h.update(f"D {rel}\n".encode())
            else:
                h.update(f"F {rel} {path.stat().st_mode & 0o777:o} ".encode())
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
