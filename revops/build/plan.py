"""The build as data: which suites and images a `revops build` (or a preflight) makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from revops import model
from revops.config import Config
from revops.errors import EXIT_FAILED, EXIT_OK, CheckFailed, Failure, UsageError
from revops.generate import drift
from revops.generate.drift import Rendered
from revops.generate.spec import SuiteSpec


@dataclass
class ImageStep:
    service: str
    tag: str
    state: str  # planned, built, reused, failed, skipped (an earlier image of the suite failed), push-failed
    seconds: float | None = None
    reason: str | None = None
    pushed: str | None = None  # --push: REGISTRY/name:tag@sha256:... as the registry holds it


@dataclass
class SuiteStep:
    suite: str
    lock: str
    context_dir: str
    wheelhouse: str
    wheels: str = "planned"  # planned, present, downloaded
    images: list[ImageStep] = field(default_factory=list)


@dataclass
class BuildResult:
    dry_run: bool
    ok: bool = True
    suites: list[SuiteStep] = field(default_factory=list)

    @property
    def failure(self) -> Failure | None:
        failed = [f"{i.service}: {i.reason}" for s in self.suites for i in s.images if i.state == "failed"]
        if failed:
            return Failure("image build failed:\n" + "\n".join(failed))
        unpushed = [f"{i.service}: {i.reason}" for s in self.suites for i in s.images if i.state == "push-failed"]
        return Failure("image push failed:\n" + "\n".join(unpushed)) if unpushed else None

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failure is not None else EXIT_OK


@dataclass(frozen=True)
class Options:
    suites: tuple[str, ...] = ()
    find_links: Path | None = None  # offline: no index, wheels from here
    dry_run: bool = False
    push: bool = False  # tag each image for revops.yaml's swarm.registry and push it there


def plan(config: Config, options: Options, rendered: Rendered | None = None) -> tuple[list[SuiteSpec], BuildResult]:
    """The suites to build and the result to fill. `rendered` is what generate gives now
    (drift.render_now), when the caller has it already; compose/ must match it."""
    if rendered is None:
        rendered = drift.render_now(model.load(config.out("inventory"), cache_dir=config.cache_dir), config)
    if not rendered.drift.ok:
        raise CheckFailed(f"{rendered.drift.compose_dir} is not what the inputs give",
                          hint="run `revops generate` first, so the images match the compose files")
    known = {s.name for s in rendered.plan.suites}
    unknown = [s for s in options.suites if s not in known]
    if unknown:
        raise UsageError(f"--suite {', '.join(unknown)}: no generated services; suites with some: {', '.join(sorted(known))}")
    chosen = [s for s in rendered.plan.suites if not options.suites or s.name in options.suites]
    result = BuildResult(dry_run=options.dry_run)
    for suite in chosen:
        step = SuiteStep(suite.name, suite.lock_path, str(config.out("compose") / suite.name),
                         str(config.base_dir / config.wheelhouse))
        step.images = [ImageStep(s.name, s.image, "planned") for s in suite.services]
        result.suites.append(step)
    return chosen, result
