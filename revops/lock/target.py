"""The interpreter a lock is for: the Python that will install and run it, not the one running revops.

Markers such as `python_full_version < "3.11.3"` (redis needs async-timeout below it) make a
lock depend on the exact interpreter. The target comes from, in this order:
1. `image.python` in revops.yaml, when the operator names it;
2. the base image (`image.base`), when the local engine has it (revops.lock.baseimage);
3. the host's venvs: the full version their `pyvenv.cfg` records (the services' own Python),
   the most common one among the suites' venvs;
4. the interpreter running revops, as a last resort, said so in the lock header.
"""

from __future__ import annotations

import functools
import platform
import re
from collections import Counter
from dataclasses import dataclass

from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement

FULL_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
FROM_CONFIG = "revops.yaml image.python"
FROM_IMAGE = "base image {image}"
FROM_VENVS = "host venvs (pyvenv.cfg)"
FROM_RUNNING = "the interpreter running revops (no image.python in revops.yaml, no host venv names a version)"


@dataclass(frozen=True)
class Target:
    version: str  # "3.11.2": always major.minor.micro
    source: str  # where the version came from, for the lock header and the report

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def environment(self) -> dict[str, str]:
        """PEP 508 marker variables for this interpreter in a Linux container.

        The platform variables are this machine's (the images are built on it, for its
        architecture) except the ones a Linux image fixes; the version variables are the target's.
        """
        return dict(_environment(self.version))

    def applies(self, marker: Marker | None) -> bool:
        """Does a requirement guarded by `marker` apply on this interpreter? (PEP 508; extra is "".)"""
        return marker is None or marker.evaluate({**self.environment(), "extra": ""})

    def requirement_applies(self, requirement: str) -> bool:
        return self.applies(Requirement(requirement).marker)


@functools.lru_cache(maxsize=8)
def _environment(version: str) -> tuple[tuple[str, str], ...]:
    env = dict(default_environment())
    env.update(python_version=".".join(version.split(".")[:2]), python_full_version=version,
               sys_platform="linux", platform_system="Linux", os_name="posix")
    if env.get("implementation_name") == "cpython":
        env["implementation_version"] = version
    return tuple(env.items())


def choose(configured: str | None, venv_versions: list[str], image: tuple[str, str | None] | None = None
           ) -> tuple[Target, list[str]]:
    """The target and the warnings worth showing about the choice.

    configured: `image.python` from revops.yaml (already validated as X.Y.Z) or None.
    image: (the base image's name, its Python's version or None when it could not be read).
    venv_versions: the `python_version` of each venv a suite's unit uses ("3.11.2", or "3.11"
    when only the lib/pythonX.Y directory told); versions without a micro part cannot pin
    `python_full_version` and are not counted.
    """
    if configured:
        return Target(configured, FROM_CONFIG), []
    if image is not None and image[1]:
        return Target(image[1], FROM_IMAGE.format(image=image[0])), []
    full = Counter(v for v in venv_versions if FULL_VERSION.match(v))
    if full:
        version, _ = max(full.items(), key=lambda item: (item[1], _key(item[0])))
        others = {v: n for v, n in sorted(full.items()) if v != version}
        warnings = []
        if others:
            detail = ", ".join(f"{n} at {v}" for v, n in others.items())
            warnings.append(f"the suites' venvs run several Pythons ({full[version]} at {version}, {detail}): "
                            f"locking for {version}; set image.python in revops.yaml to choose")
        return Target(version, FROM_VENVS), warnings
    running = platform.python_version()
    return Target(running, FROM_RUNNING), [
        f"no target Python known: locking for {running}, the interpreter running revops; "
        "set image.python in revops.yaml to the base image's Python"]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def running() -> Target:
    """The interpreter running revops: the default when nothing names a target (pure tests)."""
    return Target(platform.python_version(), FROM_RUNNING)
