"""Reading the generated compose file(s): which unit each service replaces, and its image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from revops.errors import CheckFailed


@dataclass(frozen=True)
class ComposeService:
    name: str
    unit: str
    image: str | None
    file: str
    env_files: tuple[str, ...] = ()  # absolute: what compose reads into the container


def services(files: list[str]) -> dict[str, ComposeService]:
    """{unit: ComposeService} from the revops.unit labels of every file."""
    found: dict[str, ComposeService] = {}
    for path in files:
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CheckFailed(f"{path}: cannot read the compose file: {exc}") from None
        for name, body in (doc.get("services") or {}).items():
            body = body or {}
            unit = labels(body).get("revops.unit")
            if unit:
                found[unit] = ComposeService(str(name), unit, body.get("image"), path,
                                             env_files(body, Path(path).parent))
    return found


def env_files(body: dict, compose_dir: Path) -> tuple[str, ...]:
    """The service's env_file entries (a string, a list, or the spec's {path: ...} items),
    resolved against the compose file's directory as compose does."""
    raw = body.get("env_file") or []
    items = [raw] if isinstance(raw, str) else list(raw)
    paths = [item.get("path") if isinstance(item, dict) else item for item in items]
    return tuple(str(compose_dir / p) for p in paths if isinstance(p, str) and p)


def labels(body: dict) -> dict[str, str]:
    raw = body.get("labels") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw if "=" in item)
    return {str(k): str(v) for k, v in raw.items()}
