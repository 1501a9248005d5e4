"""Docker Compose through the host's own compose CLI: `docker compose` (v2 plugin) when it
answers, else `docker-compose` (v1). Both take the same flags for what revops runs.

Every call is an exec-form argv through revops.adapters.proc; the engine's address reaches
the tool through the environment (DOCKER_HOST), as it reaches the docker SDK.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Mapping, Sequence

from revops.adapters import proc
from revops.errors import AdapterUnavailable

DETECT_TIMEOUT_S = 20
DEFAULT_TIMEOUT_S = 600

Files = Sequence[str | os.PathLike[str]]


@functools.lru_cache(maxsize=None)
def detect(path: str | None = None) -> tuple[str, ...]:
    """The compose command of this host, e.g. ("/usr/bin/docker-compose",).

    `path` is only the cache key (PATH at the time of asking)."""
    docker = proc.which("docker")
    if docker is not None:
        probe = proc.run([docker, "compose", "version"], check=False, timeout=DETECT_TIMEOUT_S)
        if probe.returncode == 0:
            return (docker, "compose")
    legacy = proc.which("docker-compose")
    if legacy is not None:
        return (legacy,)
    raise AdapterUnavailable(
        "no compose tool: neither `docker compose` (v2 plugin) nor `docker-compose` (v1) is on PATH",
        hint="apt-get install docker-compose",
    )


def connect(cwd: str | os.PathLike[str] | None = None, project: str | None = None,
            env: Mapping[str, str] | None = None) -> "Compose":
    """The host's compose tool, run in cwd, for project (-p) when given; env adds to or
    overrides the process environment (DOCKER_HOST passes through either way)."""
    return Compose(detect(os.environ.get("PATH")), cwd=cwd, project=project, env=env)


class Compose:
    def __init__(self, argv: Sequence[str], *, cwd: str | os.PathLike[str] | None = None,
                 project: str | None = None, env: Mapping[str, str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.argv = tuple(argv)
        self.cwd = None if cwd is None else Path(cwd)
        self.project = project
        self.extra_env = dict(env or {})
        self.timeout = timeout

    @property
    def is_v2(self) -> bool:
        return self.argv[-1] == "compose"

    def command(self, files: Files, *args: str) -> list[str]:
        """The argv for one compose invocation (exec form, never a shell string)."""
        argv = list(self.argv)
        if self.project:
            argv += ["-p", self.project]
        for path in files:
            argv += ["-f", str(path)]
        return argv + list(args)

    def run(self, files: Files, *args: str, check: bool = True) -> proc.Completed:
        env = {**os.environ, **self.extra_env}
        return proc.run(self.command(files, *args), cwd=self.cwd, env=env, check=check, timeout=self.timeout)

    def up(self, files: Files, service: str | None = None, *, no_deps: bool = True,
           detach: bool = True) -> None:
        args = ["up"] + (["-d"] if detach else []) + (["--no-deps"] if no_deps and service else [])
        self.run(files, *args, *_one(service))

    def create(self, files: Files, service: str, *more: str) -> None:
        """Create the services' containers without starting them (`up --no-start`: v1 and
        v2), all in one compose process."""
        self.run(files, "up", "--no-start", "--no-deps", service, *more)

    def rm(self, files: Files, service: str) -> None:
        """Remove the service's stopped container(s); a running one is stopped first."""
        self.run(files, "rm", "-f", "-s", service)

    def ps(self, files: Files, service: str | None = None) -> list[str]:
        """Ids of the project's containers (stopped ones included), optionally one service's."""
        all_flag = ["-a"] if self.is_v2 else []  # v1 lists stopped containers by default
        done = self.run(files, "ps", "-q", *all_flag, *_one(service))
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def config_errors(self, files: Files) -> str | None:
        """What `config -q` says is wrong with files; None when they are valid."""
        done = self.run(files, "config", "-q", check=False)
        if done.returncode == 0:
            return None
        return (done.stderr.strip() or done.stdout.strip()
                or f"{' '.join(self.argv)} config -q exited {done.returncode} with no message")


def _one(service: str | None) -> list[str]:
    return [] if service is None else [service]
