"""Building a suite venv from its lock, beside the old venvs, and renaming it into place.

The venv is made in a hidden sibling (`.NAME.tmp-PID`), filled by hash from the lock and proven
exactly as `lock --prove` proves a lock (revops.lock.proof: pip check, each service's app module
imported with that venv's interpreter); only a proven venv is renamed to its final name, one
rename(2) on the same file system, so a crash leaves either no venv there or a whole one. pip
writes the venv's own path into its console scripts' `#!` lines: they are rewritten to the
final path before the rename (the interpreter itself finds its prefix from where it runs).
A venv already at the final name (a lock's content names it) is proven again, not rebuilt.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from revops.lock import proof as proof_mod
from revops.lock.proof import AppUnderTest, Proof

TMP_MARK = ".tmp-"


def build(lock: Path, final: Path, find_links: list[Path], apps: list[AppUnderTest], *,
          python: str | None = None, offline: bool = True, timeout: float = 900,
          root: Path | None = None) -> tuple[Proof, bool]:
    """The suite venv at `final`, proven; returns the proof and whether it was built now
    (False: it was there already). A failed proof leaves nothing at `final`. With `root` (the
    host's root), a `final` that leads outside it or that others could plant is refused (see
    unsafe_place): an unproven Proof saying why, and nothing made, run or renamed."""
    leads = unsafe_place(final, root) if root is not None else None
    if leads is not None:
        return Proof(lockfile=str(lock), detail=leads), False
    if (final / "bin" / "python").exists():
        return reprove(final, lock, apps, timeout), False
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(final)
    scratch = final.parent / f".{final.name}{TMP_MARK}{os.getpid()}"
    made = proof_mod.make_venv(scratch, python, timeout)
    if made is not None:
        shutil.rmtree(scratch, ignore_errors=True)
        return Proof(lockfile=str(lock), detail=made), False
    proof = proof_mod.fill_and_prove(scratch, lock, find_links, apps, offline=offline, timeout=timeout)
    if not proof.ok:
        shutil.rmtree(scratch, ignore_errors=True)
        return proof, False
    relocate_scripts(scratch / "bin", str(scratch), str(final))
    os.rename(scratch, final)
    _fsync_dir(final.parent)
    return proof, True


def outside_root(final: Path, root: Path) -> str | None:
    """Why `final` (a venv path under `root`) is not inside the root once symlinks are followed,
    or None. The deepest part of the path that exists is resolved: a stabilize.path directory
    (or a venv already at the final name) that is a symlink leading elsewhere would have revops
    build, run and rename venvs outside the host it was given, so it is not followed."""
    top = Path(root).resolve()
    here = Path(final)
    while not os.path.lexists(here) and here != here.parent:
        here = here.parent
    real = here.resolve()
    if real == top or real.is_relative_to(top):
        return None
    return f"{here} leads to {real}, outside the host root {top}: no suite venv is built there"


def unsafe_place(final: Path, root: Path) -> str | None:
    """Why revops must not build or use a venv at `final`, or None: it leads outside the root
    (outside_root), or someone other than us could have put a venv there first. A venv's name
    is its lock's digest, known in advance, and a venv found at it is proven by running its
    python and pointed at by units that may run as root. So, from the root down: each existing
    directory is owned by root or us; one writable by others is passed only when it has the
    sticky bit and the next directory on the way already exists (chmod(1) "RESTRICTED DELETION
    FLAG": others cannot rename or remove it, as /tmp/pytest-of-root under /tmp), never as the
    directory the venv is made in (anyone may create the name first); and a venv already at
    `final` is ours (owned by our effective uid)."""
    leads = outside_root(final, root)
    if leads is not None:
        return leads
    top, here = Path(root).resolve(), Path(final).resolve()
    down = [d for d in reversed([here, *here.parents]) if d == top or d.is_relative_to(top)]
    existing = []
    for directory in down:
        try:
            existing.append((directory, directory.lstat()))
        except FileNotFoundError:
            break
    us = os.geteuid()
    for i, (directory, st) in enumerate(existing):
        if st.st_uid not in (0, us):
            return f"{directory} is owned by uid {st.st_uid}, not by root or us: no suite venv is built or used there"
        if directory == here and st.st_uid != us:
            return f"{directory} is already there and owned by uid {st.st_uid}, not ours: it is not used as a suite venv"
        if st.st_mode & 0o022 and not (st.st_mode & 0o1000 and i + 1 < len(existing)):
            return (f"{directory} is writable by others (mode {st.st_mode & 0o7777:04o}): a venv there could be "
                    "planted before revops builds it; choose a stabilize.path writable by its owner alone")
    return None


def reprove(venv: Path, lock: Path, apps: list[AppUnderTest], timeout: float = 900) -> Proof:
    """pip check and the imports again, on a venv built earlier (its files may have been
    changed since: a proof is only as old as the run)."""
    return proof_mod.prove_installed(venv, Proof(lockfile=str(lock), installed=True), apps, timeout)


def relocate_scripts(bin_dir: Path, old: str, new: str) -> list[str]:
    """Rewrite `#!OLD/bin/...` lines of the scripts in bin_dir to NEW; returns the names
    rewritten. Only the first line of a regular file is touched, and only when it names OLD."""
    changed = []
    prefix = f"#!{old}/".encode()
    for entry in sorted(bin_dir.iterdir()):
        if entry.is_symlink() or not entry.is_file():
            continue
        with open(entry, "rb") as f:
            head = f.read(len(prefix))
            if head != prefix:
                continue
            data = head + f.read()
        first, _, rest = data.partition(b"\n")
        tmp = entry.with_name(f".{entry.name}{TMP_MARK}")
        tmp.write_bytes(f"#!{new}/".encode() + first[len(prefix):] + b"\n" + rest)
        os.chmod(tmp, entry.stat().st_mode & 0o7777)
        os.replace(tmp, entry)
        changed.append(entry.name)
    return changed


def _remove_leftovers(final: Path) -> None:
    """A killed build's scratch venvs of this name (never a venv a unit points at: units
    point at final names only)."""
    for stale in final.parent.glob(f".{final.name}{TMP_MARK}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
