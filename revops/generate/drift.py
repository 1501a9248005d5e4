"""What is under compose/ against what generate renders now: the locks it renders from, the
files it wrote before (they carry its mark), and the difference between both (the drift).

Pure but for reading: `generate` writes the changes, `generate --check`, `build` and migrate's
preflight refuse to go on while there are any.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from revops.config import Config
from revops.generate import build_files, read_in_repo
from revops.generate.spec import GENERATED_MARK
from revops.generate.spec import Plan
from revops.model import Inventory


@dataclass(frozen=True)
class Entry:
    """One file under compose/: its text now (None: absent) and the text generate gives it."""

    path: str  # relative to the compose directory
    old: str | None
    new: str | None  # None: a file generate wrote earlier and would remove now

    @property
    def unchanged(self) -> bool:
        return self.old == self.new

    @property
    def check_state(self) -> str:
        """How `generate --check` names the difference: stale, missing or differs."""
        return "stale" if self.new is None else ("missing" if self.old is None else "differs")

    def diff(self) -> str:
        lines = difflib.unified_diff(
            (self.old or "").splitlines(keepends=True), (self.new or "").splitlines(keepends=True),
            fromfile=f"a/{self.path}" if self.old is not None else "/dev/null",
            tofile=f"b/{self.path}" if self.new is not None else "/dev/null")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class Drift:
    compose_dir: Path
    entries: list[Entry]  # every file either side, sorted by path

    @property
    def ok(self) -> bool:
        return all(e.unchanged for e in self.entries)

    @property
    def changed(self) -> list[str]:
        return [e.path for e in self.entries if not e.unchanged]

    def diff(self) -> str | None:
        """The unified diff from the files on disk to the rendered ones; None when equal."""
        return "".join(e.diff() for e in self.entries if not e.unchanged) or None


def read_locks(config: Config) -> dict[str, bytes]:
    """{suite: bytes of lockfiles/<suite>.txt} for every suite that has a lock."""
    locks = {}
    for suite in config.suites:
        data = read_in_repo(config.base_dir, config.out("lockfiles") / f"{suite.name}.txt")
        if data is not None:
            locks[suite.name] = data
    return locks


def existing_generated(compose_dir: Path, repo: Path | None = None) -> dict[str, str]:
    """Files under compose/ that generate wrote earlier (they carry its mark), by relative path.
    Each is read inside the ops repo `repo` (default: compose_dir's parent), regular files only."""
    found: dict[str, str] = {}
    if not compose_dir.is_dir():
        return found
    candidates = list(compose_dir.glob("*.yml")) + list(compose_dir.glob("*.yaml")) + \
        list(compose_dir.glob("*/Dockerfile")) + [compose_dir / ".gitignore"]
    for path in candidates:
        data = read_in_repo(repo or compose_dir.parent, path)
        if data is not None:
            text = data.decode("utf-8", errors="replace")
            if text.startswith(GENERATED_MARK):
                found[path.relative_to(compose_dir).as_posix()] = text
    return found


def compare(compose_dir: Path, files: dict[str, str], repo: Path | None = None) -> Drift:
    """The rendered `files` ({relative path: text}) against compose_dir: every file generate
    wrote earlier, and any file at a path generate writes (hand-made or not)."""
    on_disk = existing_generated(compose_dir, repo)
    for rel in files:
        data = read_in_repo(repo or compose_dir.parent, compose_dir / rel) if rel not in on_disk else None
        if data is not None:
            on_disk[rel] = data.decode("utf-8", errors="replace")
    entries = [Entry(rel, on_disk.get(rel), files.get(rel)) for rel in sorted(set(files) | set(on_disk))]
    return Drift(compose_dir, entries)


@dataclass(frozen=True)
class Rendered:
    """What generate gives now from the inventory, the locks and the config, and how the files
    under compose/ differ from it: computed once, read by every check that needs it."""

    plan: Plan
    files: dict[str, str]
    drift: Drift


def render_now(inventory: Inventory, config: Config) -> Rendered:
    """Render the stack from the current inputs and compare it with compose/ (writes nothing)."""
    plan, files = build_files(inventory, config, read_locks(config))
    return Rendered(plan, files, compare(config.out("compose"), files, config.base_dir))
