"""`revops generate`: write compose/ (Dockerfiles, per-suite and top-level compose files).

With `--check` nothing is written: any difference with what is on disk is shown as a unified
diff and the command fails, which is how CI catches hand edits and forgotten regenerations.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from revops import model
from revops.config import Config
from revops.errors import CheckFailed
from revops.generate import build_files, read_in_repo
from revops.generate.render import GENERATED_MARK
from revops.generate.spec import Skipped


@dataclass
class FileState:
    path: str  # relative to the compose directory
    state: str  # unchanged, written, removed (stale generated file), differs, missing, stale


@dataclass
class GeneratedService:
    name: str
    unit: str
    suite: str
    phase: int
    image: str
    port: int | None
    healthcheck: str  # "http" or "process"
    notes: list[str]


@dataclass
class GenerateResult:
    compose_dir: str
    check: bool
    ok: bool
    files: list[FileState] = field(default_factory=list)
    services: list[GeneratedService] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    diff: str | None = None


def read_locks(config: Config) -> dict[str, bytes]:
    locks = {}
    for suite in config.suites:
        data = read_in_repo(config.base_dir, config.out("lockfiles") / f"{suite.name}.txt")
        if data is not None:
            locks[suite.name] = data
    return locks


def existing_generated(compose_dir: Path, repo: Path | None = None) -> dict[str, str]:
    """Files under compose/ that generate wrote earlier (they carry its mark), by relative path."""
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


def run(config: Config, *, check: bool = False) -> GenerateResult:
    inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
    plan, files = build_files(inventory, config, read_locks(config))
    compose_dir = config.out("compose")
    on_disk = existing_generated(compose_dir, config.base_dir)
    for rel in files:
        data = read_in_repo(config.base_dir, compose_dir / rel) if rel not in on_disk else None
        if data is not None:
            on_disk[rel] = data.decode("utf-8", errors="replace")
    result = GenerateResult(compose_dir=str(compose_dir), check=check, ok=True,
                            services=_services(plan), skipped=list(plan.skipped))
    diffs = []
    for rel in sorted(set(files) | set(on_disk)):
        new, old = files.get(rel), on_disk.get(rel)
        if new == old:
            result.files.append(FileState(rel, "unchanged"))
            continue
        diffs.append(_diff(rel, old, new))
        if check:
            state = "stale" if new is None else ("missing" if old is None else "differs")
            result.files.append(FileState(rel, state))
            result.ok = False
        else:
            _apply(compose_dir / rel, new)
            result.files.append(FileState(rel, "removed" if new is None else "written"))
    result.diff = "".join(diffs) or None
    return result


def _apply(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".revops-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _diff(rel: str, old: str | None, new: str | None) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
        fromfile=f"a/{rel}" if old is not None else "/dev/null",
        tofile=f"b/{rel}" if new is not None else "/dev/null")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _services(plan) -> list[GeneratedService]:
    return [GeneratedService(s.name, s.unit, s.suite, s.phase, s.image, s.port, s.healthcheck.kind, list(s.notes))
            for suite in plan.suites for s in suite.services]


def exit_status(result: GenerateResult) -> None:
    if not result.ok:
        changed = [f.path for f in result.files if f.state != "unchanged"]
        raise CheckFailed(f"{result.compose_dir}: {len(changed)} generated file(s) differ from the inputs: "
                          + ", ".join(changed), hint="run `revops generate` and commit the result")


def render(result: GenerateResult, console: Console) -> None:
    if result.check and result.diff:
        console.out(result.diff, highlight=False, end="")
    table = Table(title=f"{len(result.services)} services generated", show_edge=False)
    for column in ("service", "suite", "phase", "port", "image"):
        table.add_column(column)
    for s in result.services:
        table.add_row(s.name, s.suite, str(s.phase), str(s.port or "-"), s.image)
    if not result.check:
        console.print(table)
    counts: dict[str, int] = {}
    for f in result.files:
        counts[f.state] = counts.get(f.state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    console.print(f"{result.compose_dir}: {summary}; {len(result.skipped)} units not generated "
                  "(see --json for each reason)", highlight=False)
