"""Real-stack tests of the Docker adapters, and the tiny FastAPI service they build.

The service's sources are in tests/data/tinyapp; its image is built FROM the test bed's base
image with wheels from the test bed's wheelhouse, as revops builds the real services.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from revops.adapters.docker_engine import Engine

TINYAPP_SOURCES = Path(__file__).resolve().parents[1] / "data" / "tinyapp"
TINYAPP_FILES = ("Dockerfile", "app.py", "requirements.txt")
TINYAPP_UID = 10001
CONTEXT_LABEL = "revops.test.context"

T = TypeVar("T")


def tinyapp_context(dest: Path, wheelhouse: Path) -> Path:
    """A build context: the tinyapp sources plus every wheel of the wheelhouse."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in TINYAPP_FILES:
        shutil.copy2(TINYAPP_SOURCES / name, dest / name)
    shutil.copytree(wheelhouse, dest / "wheels", ignore=shutil.ignore_patterns(".*"), dirs_exist_ok=True)
    return dest


def sources_digest() -> str:
    digest = hashlib.sha256()
    for name in TINYAPP_FILES:
        digest.update(name.encode() + b"\0" + (TINYAPP_SOURCES / name).read_bytes())
    return digest.hexdigest()[:16]


def build_tinyapp(engine: Engine, base_image: str, wheelhouse: Path, workdir: Path,
                  progress: Callable[[str], None] | None = None) -> str:
    """Build the tinyapp image (the engine's layer cache makes a rebuild quick); its tag."""
    digest = sources_digest()
    tag = f"revops-test/tinyapp:{digest}"
    context = tinyapp_context(workdir / "tinyapp-context", wheelhouse)
    engine.build(context, "Dockerfile", tag, buildargs={"BASE_IMAGE": base_image},
                 labels={CONTEXT_LABEL: digest}, progress=progress)
    return tag


@dataclass(frozen=True)
class PublishedPort:
    container_port: str  # "8000/tcp"
    host_ip: str
    host_port: int


def published_ports(engine: Engine, container: str) -> list[PublishedPort]:
    """The host ports Docker published for the container, from its inspect (NetworkSettings.Ports)."""
    ports = (engine.api.inspect_container(container).get("NetworkSettings") or {}).get("Ports") or {}
    return [PublishedPort(cport, b.get("HostIp", ""), int(b["HostPort"]))
            for cport, binds in sorted(ports.items()) for b in (binds or []) if b.get("HostPort")]


def wait_until(read: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float = 0.5) -> T:
    """Read until done(value) holds or timeout passes; the last value read either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
