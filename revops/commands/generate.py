"""`revops generate`: write compose/ (Dockerfiles, per-suite and top-level compose files).

With `--check` nothing is written: any difference with what is on disk is shown as a unified
diff and the command fails, which is how CI catches hand edits and forgotten regenerations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from revops import model
from revops.config import Config
from revops.errors import CheckResult, Failure
from revops.generate import drift
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
    kind: str = "service"  # service, job (fired by a timer), setup (run once before others)
    replicas: int | None = None  # a template's numbered instances as one service
    instances: list[str] = field(default_factory=list)


@dataclass
class GenerateResult(CheckResult):
    compose_dir: str
    check: bool
    ok: bool
    files: list[FileState] = field(default_factory=list)
    services: list[GeneratedService] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    diff: str | None = None
    # Units whose destination is not a container (revops.yaml `retire:`, `keep_on_host:`): not skipped.
    retired: list[Skipped] = field(default_factory=list)
    kept_on_host: list[Skipped] = field(default_factory=list)

    def failed(self) -> Failure:
        changed = [f.path for f in self.files if f.state != "unchanged"]
        return Failure(f"{self.compose_dir}: {len(changed)} generated file(s) differ from the inputs: "
                       + ", ".join(changed), hint="run `revops generate` and commit the result")


def run(config: Config, *, check: bool = False, target: str | None = None) -> GenerateResult:
    """Write (or with `check`, compare) compose/. The stack file of a Swarm target is written
    whenever revops.yaml has a `swarm:` block; `--target swarm` insists on one (exit 2 without)."""
    config.target_of(target)
    inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
    now = drift.render_now(inventory, config)
    compose_dir = now.drift.compose_dir
    result = GenerateResult(compose_dir=str(compose_dir), check=check, ok=True,
                            services=_services(now.plan), skipped=list(now.plan.skipped),
                            retired=list(now.plan.retired), kept_on_host=list(now.plan.kept_on_host))
    for entry in now.drift.entries:
        if entry.unchanged:
            result.files.append(FileState(entry.path, "unchanged"))
        elif check:
            result.files.append(FileState(entry.path, entry.check_state))
            result.ok = False
        else:
            _apply(compose_dir / entry.path, entry.new)
            result.files.append(FileState(entry.path, "removed" if entry.new is None else "written"))
    result.diff = now.drift.diff()
    return result


def _apply(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".revops-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _services(plan) -> list[GeneratedService]:
    return [GeneratedService(s.name, s.unit, s.suite, s.phase, s.image, s.port, s.healthcheck.kind, list(s.notes),
                             s.kind, s.replicas, list(s.instances))
            for suite in plan.suites for s in suite.services]


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
                  f"(see --json for each reason); {len(result.retired)} retired and {len(result.kept_on_host)} "
                  "kept on the host by revops.yaml", highlight=False)
