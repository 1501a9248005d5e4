"""Preflight's checks of the ops repo, computed once per run and shared by every service.

A migrate run checks, before the first service of each suite is touched: the suite's lock is
current, compose/ is what generate renders from the current inventory, locks and config, and
compose/ passes validate; when an image is missing, it builds it. The rendering and the
validation concern the whole stack, so they are done once per run (by the first service that
needs them), from the inventory the run already loaded, and a build uses that same rendering
and the host's own engine connection.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from revops.build import images
from revops.build.images import BuildEngine
from revops.config import Config
from revops.errors import CheckFailed
from revops.generate import drift
from revops.lock.check import check_suite
from revops.model import Inventory
from revops.validate import validate_paths
from revops.validate.findings import ValidationResult


class RepoChecks:
    """The ops repo as one run finds it. `check(suite)` and `build(suite)` are what LiveHost's
    preflight calls; each raises CheckFailed naming the fix."""

    def __init__(self, config: Config, inventory: Inventory, engine: BuildEngine,
                 find_links: Path | None = None, project: list[Path] | None = None) -> None:
        self.config = config
        self.inventory = inventory
        self.engine = engine
        self.find_links = find_links  # offline builds: wheels from here (default $REVOPS_WHEELHOUSE)
        self.project = project  # the compose files the run drives as one project (None: each file alone)

    @cached_property
    def rendered(self) -> drift.Rendered:
        """What generate gives now, and how compose/ differs from it (once per run)."""
        return drift.render_now(self.inventory, self.config)

    @cached_property
    def validation(self) -> ValidationResult:
        """revops validate of compose/ (once per run). The compose tool's own `config -q` reads
        the project the run drives, in one process: the per-suite files hold the same services
        and are the verb's to check one by one (ten v1 processes took 10 s of a 19 s preflight)."""
        return validate_paths([self.config.out("compose")], self.config, project=self.project)

    def check(self, suite: str) -> str:
        """Lock of the suite current, compose current and valid; what was checked, in words."""
        locked = check_suite(self.config.out("lockfiles"), suite, self.config.base_dir)
        if not locked.ok:
            raise CheckFailed(f"lock of suite {suite}: {locked.error}")
        if not self.rendered.drift.ok:
            raise CheckFailed(f"compose files differ from what generate writes now: "
                              f"{', '.join(self.rendered.drift.changed)}",
                              hint="run `revops generate` and review the diff")
        found = self.validation
        if not found.ok:
            first = "; ".join(f"{f.file}: {f.message}" for f in found.findings[:3])
            raise CheckFailed(f"revops validate: {found.errors} error(s): {first}")
        return f"lock {suite} current, compose current and valid"

    def build(self, suite: str) -> str:
        """Build the suite's images (one line saying what was built or reused)."""
        return images.build_suite(self.config, suite, self.find_links, rendered=self.rendered,
                                  engine=self.engine)
