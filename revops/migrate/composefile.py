"""Reading the generated compose file(s): which unit each service replaces, and its image."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from revops import yamlsafe
from revops.errors import ConfigError


@dataclass(frozen=True)
class ComposeService:
    name: str
    unit: str
    image: str | None
    file: str
    env_files: tuple[str, ...] = ()  # absolute: what compose reads into the container
    uid: int | None = None  # the numeric uid of `user:` ("10001:10001"), None when not numeric
    secret_files: tuple[tuple[str, str], ...] = ()  # (secret, its file resolved as compose does)
    # A replicated template's service (revops.unit names the template): the instances its
    # replicas replace, as generate labelled them (revops.instances).
    instances: tuple[str, ...] = ()


def services(files: list[str]) -> dict[str, ComposeService]:
    """{unit: ComposeService} from the revops.unit labels of every file."""
    found: dict[str, ComposeService] = {}
    for path in files:
        doc = yamlsafe.load_file(path)  # YamlError (exit 2) names the file and line
        if not isinstance(doc.data or {}, dict):
            raise ConfigError(path, None, "expected a compose file (a mapping at the top level)", 1)
        services_of = (doc.data or {}).get("services")
        if not isinstance(services_of or {}, dict):
            raise ConfigError(path, "services", "expected a mapping of service name to service", doc.line("services"))
        defined = secret_definitions(doc.data or {}, Path(path).parent)
        for name, body in (services_of or {}).items():
            body = body or {}
            if not isinstance(body, dict):
                raise ConfigError(path, f"services.{name}", "expected a mapping", doc.line("services", name))
            unit = labels(body).get("revops.unit")
            if unit:
                image = body.get("image")
                found[unit] = ComposeService(str(name), unit, image if isinstance(image, str) else None, path,
                                             env_files(body, Path(path).parent), user_uid(body.get("user")),
                                             tuple((s, defined[s]) for s in secrets_used(body) if s in defined),
                                             tuple(labels(body).get("revops.instances", "").split()))
    return found


def env_files(body: dict, compose_dir: Path) -> tuple[str, ...]:
    """The service's env_file entries (a string, a list, or the spec's {path: ...} items),
    resolved against the compose file's directory as compose does."""
    raw = body.get("env_file") or []
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    paths = [item.get("path") if isinstance(item, dict) else item for item in items]
    return tuple(str(compose_dir / p) for p in paths if isinstance(p, str) and p)


def secret_definitions(data: dict, compose_dir: Path) -> dict[str, str]:
    """{secret: file} of the top-level file-backed secrets, resolved against the compose
    file's directory as compose does."""
    raw = data.get("secrets")
    return {str(k): str(compose_dir / v["file"]) for k, v in (raw.items() if isinstance(raw, dict) else [])
            if isinstance(v, dict) and isinstance(v.get("file"), str) and v["file"]}


def secrets_used(body: dict) -> list[str]:
    """The secrets a service mounts: names, or the long form's `source`."""
    raw = body.get("secrets")
    items = raw if isinstance(raw, list) else []
    names = [item.get("source") if isinstance(item, dict) else item for item in items]
    return [str(n) for n in names if isinstance(n, str) and n]


def user_uid(user: object) -> int | None:
    """The uid of a compose `user:` ("UID" or "UID:GID"), None unless it is numeric."""
    text = str(user).split(":", 1)[0] if isinstance(user, (str, int)) else ""
    return int(text) if text.isdigit() and int(text) < 2**31 else None


def labels(body: dict) -> dict[str, str]:
    raw = body.get("labels") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw if isinstance(item, str) and "=" in item)
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


@dataclass(frozen=True)
class Project:
    """The generated compose file(s) of one run, parsed once (when first asked): which unit
    each service replaces."""

    files: list[str]

    @cached_property
    def services(self) -> dict[str, ComposeService]:
        """{unit: ComposeService} (the revops.unit labels); CheckFailed for an unreadable file."""
        return services(self.files) if self.files else {}

    @property
    def units(self) -> dict[str, str] | None:
        """{unit: compose service}; None when there is no compose file."""
        return {unit: svc.name for unit, svc in self.services.items()} if self.files else None


def read(files: list[str]) -> Project:
    return Project(list(files))
