"""The Python of the base image the suites' images are built from: a target for `revops lock`.

Read from the local engine, never pulled: the image's inspect (one HTTP request) gives its id
and its environment, where official Python images state PYTHON_VERSION; otherwise the image's
own `python3` is asked once, in a throwaway container without network, and the answer is
cached by image id (an id names immutable content, so the cache cannot go stale).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from revops.errors import AdapterUnavailable, CheckFailed
from revops.lock.target import FULL_VERSION

_PROBE = ["python3", "-c", "import platform; print(platform.python_version())"]
CACHE_FILE = "base-image-python.json"


def python_of(image: str, cache_dir: Path) -> tuple[str | None, str]:
    """(the image's Python version "3.11.2", or None; why not, when None)."""
    from revops.adapters import docker_engine

    try:
        reader = docker_engine.connect_reader(timeout=10)
        try:
            found = reader.image(image) if hasattr(reader, "image") else None
        finally:
            reader.close()
    except (AdapterUnavailable, CheckFailed) as exc:
        return None, f"the engine cannot be asked ({exc.message})"
    if found is None:
        return None, f"{image} is not in the local engine"
    for item in (found.get("Config") or {}).get("Env") or []:
        name, _, value = item.partition("=")
        if name == "PYTHON_VERSION" and FULL_VERSION.match(value):
            return value, ""
    cached = _cache(cache_dir)
    image_id = found.get("Id", "")
    if FULL_VERSION.match(cached.get(image_id, "")):
        return cached[image_id], ""
    try:
        status, out = docker_engine.connect(timeout=30).output_of(image_id, _PROBE)
    except (AdapterUnavailable, CheckFailed) as exc:
        return None, f"python3 in {image} could not be run ({exc.message})"
    version = out.strip()
    if status != 0 or not FULL_VERSION.match(version):
        return None, f"python3 in {image} did not say its version (exit {status})"
    cached[image_id] = version
    _store(cache_dir, cached)
    return version, ""


def _cache(cache_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((cache_dir / CACHE_FILE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store(cache_dir: Path, data: dict[str, str]) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{CACHE_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, cache_dir / CACHE_FILE)
    except OSError:
        pass  # a cache that cannot be written only costs a container run next time
