"""Executing a build plan: wheelhouse, staged context and each image through the docker SDK."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Callable, Protocol

from revops import output
from revops.adapters import docker_engine, proc
from revops.adapters.docker_engine import BuiltImage
from revops.build.plan import BuildResult, ImageStep, Options, SuiteStep, plan
from revops.config import Config
from revops.errors import CheckFailed, ConfigError
from revops.generate import context, mapping
from revops.generate.drift import Rendered
from revops.generate.render import dockerfile_path
from revops.generate.spec import SuiteSpec
from revops.unitfile.rootfs import RootReadError

CONTEXT_LABEL = "revops.context"


class BuildEngine(Protocol):
    """What a build needs of the Docker engine (revops.adapters.docker_engine.Engine)."""

    def image_labels(self, tag: str) -> dict[str, str] | None: ...
    def build(self, context: Path, dockerfile: str, tag: str, *, target: str | None = None,
              labels: dict[str, str] | None = None,
              progress: Callable[[str], None] | None = None) -> BuiltImage: ...


def run(config: Config, options: Options, *, rendered: Rendered | None = None,
        engine: BuildEngine | None = None) -> BuildResult:
    """Plan and build. `rendered` (what generate gives now) and `engine` (a connection) are
    passed by a caller that has them already: migrate's preflight."""
    suites, result = plan(config, options, rendered)
    registry = push_registry(config) if options.push else None
    if options.dry_run:
        return result
    if registry is not None:
        _registry_answers(config)  # before minutes of building: a registry that is down is said now
    if engine is None:
        engine = docker_engine.connect()
    total = sum(len(s.images) for s in result.suites)
    with output.progress("building images", total) as advance:
        for suite, step in zip(suites, result.suites):
            _build_suite(config, suite, step, options, engine, advance)
    if registry is not None:
        push_images(engine, result, registry)
    result.ok = all(i.state in ("built", "reused") for s in result.suites for i in s.images)
    return result


class PushEngine(Protocol):
    def push(self, image: str, target: str, progress: Callable[[str], None] | None = None) -> str: ...


def push_registry(config: Config) -> str:
    """The registry `--push` pushes to: revops.yaml's swarm.registry (ConfigError without one)."""
    if config.swarm is None:
        raise ConfigError(str(config.path), "swarm.registry", "--push needs the registry every node pulls "
                          "from: add a `swarm:` block with `registry: HOST:PORT` to revops.yaml")
    return config.swarm.registry


def _registry_answers(config: Config) -> None:
    from revops.adapters import swarm

    assert config.swarm is not None
    registry = swarm.Registry(config.swarm.registry, insecure=config.swarm.insecure_registry)
    try:
        registry.check()
    finally:
        registry.close()


def push_images(engine: PushEngine, result: BuildResult, registry: str) -> None:
    """Tag and push every image that is built (or reused). After the first failure the rest
    are not tried: they would fail the same way, each after its own timeout."""
    from revops.generate.stack import registry_image

    down: str | None = None
    for image in (i for s in result.suites for i in s.images if i.state in ("built", "reused")):
        target = registry_image(registry, image.tag)
        if down is not None:
            image.state, image.reason = "push-failed", f"not pushed: {down}"
            continue
        try:
            image.pushed = f"{target}@{engine.push(image.tag, target)}"
        except CheckFailed as exc:
            image.state, image.reason = "push-failed", exc.message
            down = exc.message


def _build_suite(config: Config, suite: SuiteSpec, step: SuiteStep, options: Options, engine: BuildEngine,
                 advance: Callable[[int], None]) -> None:
    lock_path = config.base_dir / suite.lock_path
    lock_text = lock_path.read_text(encoding="utf-8")
    wheels = _ensure_wheels(lock_path, lock_text, Path(step.wheelhouse), options.find_links, step)
    code_dirs = {s.name: code_dir(s.code_dir, config) for s in suite.services}
    absent = [f"{name}: {path}" for name, path in code_dirs.items() if not path.is_dir()]
    if absent:
        raise CheckFailed("service code not found (WorkingDirectory): " + "; ".join(absent))
    context_dir = Path(step.context_dir)
    scripts = {s.name: s.scripts for s in suite.services if s.scripts}
    try:
        stage_dir = context.stage(context_dir, lock_text, wheels, code_dirs, scripts, Path(config.root))
    except RootReadError as exc:
        raise CheckFailed(f"a script ExecStart= runs, outside its WorkingDirectory: {exc}") from None
    dockerfile = config.out("compose") / dockerfile_path(suite.name)
    shared = context.tree_digest(dockerfile, stage_dir / "requirements.lock", stage_dir / "wheelhouse",
                                 stage_dir / context.STAGED_ENTRYPOINT)
    failed: str | None = None
    for service, image in zip(suite.services, step.images):
        if failed is not None:
            # the stages share the venv stage: what broke one breaks the rest the same way
            image.state, image.reason = "skipped", f"not built: {failed} failed first"
        else:
            code = context.tree_digest(stage_dir / "services" / service.name, stage_dir / context.SCRIPTS / service.name)
            wanted = shared[:32] + code[:32]
            _build_image(engine, context_dir, service.name, image, wanted, lock_text)
            failed = service.name if image.state == "failed" else None
        advance(1)


def _ensure_wheels(lock_path: Path, lock_text: str, wheelhouse: Path, find_links: Path | None,
                   step: SuiteStep) -> dict[str, Path]:
    """The wheelhouse files matching the lock's hashes, downloading what is missing."""
    requirements = context.locked_requirements(lock_text)
    wheels, missing = context.matching_wheels(wheelhouse, requirements)
    step.wheels = "present"
    if missing:
        fill_wheelhouse(lock_path, wheelhouse, find_links)
        wheels, missing = context.matching_wheels(wheelhouse, requirements)
        step.wheels = "downloaded"
        if missing:
            raise CheckFailed(f"{lock_path}: no wheel with a locked hash for {', '.join(missing)} in {wheelhouse}")
    return wheels


def _build_image(engine: BuildEngine, context_dir: Path, target: str, image: ImageStep, wanted: str,
                 lock_text: str) -> None:
    """Reuse the image when its label says it was built from these very inputs, else build it."""
    labels = engine.image_labels(image.tag)
    if labels is not None and labels.get(CONTEXT_LABEL) == wanted:
        image.state = "reused"
        return
    started = time.monotonic()
    try:
        engine.build(context_dir, "Dockerfile", image.tag, target=target,
                     labels={CONTEXT_LABEL: wanted}, progress=lambda line: None)
    except CheckFailed as exc:
        image.state, image.reason = "failed", explain_failure(exc.message, lock_text)
    else:
        image.state = "built"
    image.seconds = round(time.monotonic() - started, 1)


def explain_failure(message: str, lock_text: str) -> str:
    """Add what a sysadmin can do about the failures we recognise."""
    missing = re.findall(r"^(\S+ \S+ requires \S+, which is not installed\.)$", message, re.MULTILINE)
    if not missing:
        return message
    locked_for = re.search(r"^# python: (\S+)$", lock_text, re.MULTILINE)
    return (f"{message}\n`pip check` in the image: {' '.join(missing)} The lock is not a complete closure "
            f"for the image's Python (it was resolved for Python {locked_for.group(1) if locked_for else '?'}); "
            "re-lock the suite for the interpreter of the base image.")


def code_dir(path: str, config: Config) -> Path:
    """Where a unit's WorkingDirectory is on disk: under the host root (a copy, or / itself)."""
    return Path(config.root) / mapping.host_path(path, config).lstrip("/")


def fill_wheelhouse(lock: Path, wheelhouse: Path, find_links: Path | None) -> None:
    wheelhouse.mkdir(parents=True, exist_ok=True)
    # The wheelhouse is a source too: `revops lock` builds local projects' wheels into it.
    argv = [sys.executable, "-m", "pip", "download", "--require-hashes", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-r", str(lock), "-d", str(wheelhouse), "--find-links", str(wheelhouse)]
    if find_links is not None:
        argv += ["--no-index", "--find-links", str(find_links)]
    proc.run(argv, timeout=900)


def build_suite(config: Config, suite: str, find_links: Path | None = None, *,
                rendered: Rendered | None = None, engine: BuildEngine | None = None) -> str:
    """Build one suite's images (what migrate's preflight calls); returns a one-line summary.

    Offline when find_links is given, or when REVOPS_WHEELHOUSE names a wheelhouse.
    """
    if find_links is None and os.environ.get("REVOPS_WHEELHOUSE"):
        find_links = Path(os.environ["REVOPS_WHEELHOUSE"])
    result = run(config, Options((suite,), find_links), rendered=rendered, engine=engine)
    if result.failure is not None:
        raise CheckFailed(result.failure.message)
    images = [i for s in result.suites for i in s.images]
    return f"suite {suite}: " + ", ".join(f"{i.service} {i.state}" for i in images)

