"""What generation decides, as plain data: one ServiceSpec per migrated unit, one SuiteSpec per suite.

The templates only lay these out; every decision (command mapping, limits, dependencies, what
is skipped and why) is made in `mapping.py` and lands here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VENV_IN_IMAGE = "/opt/venv"  # where the suite's locked venv lives inside every image
DEFAULT_RUN_USER = "revflow"  # non-root user for units with no User= (or User=root)


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]  # exec form: ("CMD", program, arg, ...)
    interval: str
    timeout: str
    retries: int
    start_period: str
    kind: str  # "http" (GET the health path on the API port) or "process" (no port: PID 1 alive)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # compose service name: the unit name without ".service"
    unit: str
    suite: str
    phase: int
    image: str
    command: tuple[str, ...]
    working_dir: str
    user: str
    env_files: tuple[str, ...]  # paths only, as the compose file must name them
    environment: tuple[tuple[str, str], ...]  # Environment= of the unit, secret-looking keys removed
    port: int | None
    bind_address: str
    mem_limit: str
    cpus: float
    depends_on: tuple[str, ...]  # compose service names (all suites)
    healthcheck: Healthcheck
    code_dir: str  # host path of the service's code (WorkingDirectory), as the host sees it
    notes: tuple[str, ...] = ()
    # compose pids_limit (CIS 5.29). A small FastAPI or worker process runs a few dozen
    # threads; systemd's own DefaultTasksMax is 15% of the kernel's pid_max (4915 by default),
    # far more than one service needs. This bounds a fork bomb without touching real load.
    pids_limit: int = 512  # what generation changed or could not carry over, and why

    @property
    def labels(self) -> dict[str, str]:
        labels = {
            "revops.managed": "true",
            "revops.phase": str(self.phase),
            "revops.suite": self.suite,
            "revops.unit": self.unit,
        }
        if self.port is not None:
            labels["revops.port"] = str(self.port)
        return labels


@dataclass(frozen=True)
class Skipped:
    unit: str
    reason: str


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    phase: int
    lock_path: str  # relative to the ops repo, e.g. "lockfiles/core.txt"
    lock_digest: str  # sha256 hex of the lock's bytes
    services: tuple[ServiceSpec, ...]
    users: tuple[tuple[str, int], ...]  # (user name, uid) created in the image


@dataclass
class Plan:
    suites: list[SuiteSpec] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
