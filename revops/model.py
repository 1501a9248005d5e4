"""The inventory as data: what `inventory scan` writes and every later verb reads.

The JSON contract of design.md is the `to_dict()` of these classes; extend, never rename.
`inventory/units.yaml` and `inventory/venvs.yaml` hold the same dicts under `units:` and
`venvs:` beside `scanned_at` (when the content last changed) and `root`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from revops.errors import ConfigError

LIVE = "LIVE"
CACHED = "CACHED"
UNAVAILABLE = "UNAVAILABLE"


@dataclass
class Problem:
    """Something wrong with a unit, located as precisely as we can: file and line."""

    code: str  # stable, kebab-case: "no-exec-start", "invalid-utf8", "garbage-line", ...
    detail: str
    file: str | None = None  # as the host sees it
    line: int | None = None
    fatal: bool = False  # systemd itself would refuse to load the unit for this


@dataclass
class LiveState:
    """A unit's state as its manager reported it; every field null when UNAVAILABLE."""

    provenance: str  # LIVE, CACHED or UNAVAILABLE
    checked_at: str | None  # ISO 8601, UTC
    reason: str | None = None  # why UNAVAILABLE
    load_state: str | None = None
    active_state: str | None = None
    sub_state: str | None = None
    result: str | None = None
    n_restarts: int | None = None
    main_pid: int | None = None
    unit_file_state: str | None = None  # enabled, disabled, masked, static, ...


@dataclass
class Unit:
    name: str  # "revpublish.service", or an instance "revflow-worker@3.service"
    path: str | None  # fragment, relative to the root as in the contract: "etc/systemd/system/x.service"
    exec_start: list[list[str]] = field(default_factory=list)
    working_directory: str | None = None
    user: str | None = None
    environment_files: list[str] = field(default_factory=list)  # "-" prefix removed
    environment: dict[str, str] = field(default_factory=dict)
    restart: str | None = None
    after: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    port: int | None = None
    venv: str | None = None
    suite: str | None = None
    phase: int | None = None
    deprecated: bool = False
    memory_max: str | None = None
    cpu_quota: str | None = None
    dropins: list[str] = field(default_factory=list)
    masked: bool = False
    template: bool = False  # a "foo@.service" listed because no instance of it was found
    aliases: list[str] = field(default_factory=list)  # other names linked to this unit
    exec_start_prefixes: list[str] = field(default_factory=list)  # per command: "-", "+@", "" ...
    problems: list[Problem] = field(default_factory=list)
    live: LiveState | None = None
    service_type: str | None = None  # Type= (simple, exec, notify, oneshot, ...); None when not read

    @property
    def service_name(self) -> str:
        """The compose service name: the unit name without `.service` ("revpublish")."""
        stem = self.name[: -len(".service")] if self.name.endswith(".service") else self.name
        # Compose service names allow [a-zA-Z0-9._-] only: an instance "revflow-worker@3"
        # becomes "revflow-worker-3".
        return re.sub(r"[^a-zA-Z0-9._-]", "-", stem)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Unit":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["problems"] = [Problem(**p) for p in data.get("problems") or []]
        if data.get("live"):
            values["live"] = LiveState(**data["live"])
        return cls(**values)


@dataclass
class Venv:
    path: str  # as the host sees it
    healthy: bool
    problems: list[str] = field(default_factory=list)  # codes: "interpreter-missing", ...
    details: list[str] = field(default_factory=list)  # one human line per problem
    used_by: list[str] = field(default_factory=list)  # unit names
    python_version: str | None = None

    @property
    def orphan(self) -> bool:
        return not self.used_by

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Venv":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Inventory:
    root: str
    scanned_at: str | None
    units: list[Unit] = field(default_factory=list)
    venvs: list[Venv] = field(default_factory=list)

    def unit(self, name: str) -> Unit | None:
        for unit in self.units:
            if unit.name == name or unit.service_name == name:
                return unit
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"units": [u.to_dict() for u in self.units], "venvs": [v.to_dict() for v in self.venvs]}


UNITS_FILE = "units.yaml"
VENVS_FILE = "venvs.yaml"


def load(inventory_dir: Path, *, with_venvs: bool = True, cache_dir: Path | None = None) -> Inventory:
    """Read inventory/units.yaml (and venvs.yaml unless with_venvs is False); a clear error
    when missing or malformed. With cache_dir, a JSON copy that store_cache() left there for
    the very same bytes is read instead of the YAML."""
    units_doc = _read(inventory_dir / UNITS_FILE, cache_dir)
    venvs_doc = _read(inventory_dir / VENVS_FILE, cache_dir) if with_venvs else {}
    try:
        units = [Unit.from_dict(u) for u in units_doc.get("units") or []]
        venvs = [Venv.from_dict(v) for v in venvs_doc.get("venvs") or []]
    except TypeError as exc:
        raise ConfigError(str(inventory_dir), None, f"inventory does not match this revops version: {exc}") from None
    return Inventory(root=units_doc.get("root", "/"), scanned_at=units_doc.get("scanned_at"), units=units, venvs=venvs)


def _read(path: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(str(path), None, "missing; run `revops inventory scan` first")
    raw = path.read_bytes()
    if cache_dir is not None:
        cached = _read_cache(_cache_file(cache_dir, path, raw))
        if cached is not None:
            return cached
    return _parse_yaml(path, raw)


def store_cache(path: Path, cache_dir: Path) -> None:
    """Keep a JSON copy of the inventory file `path` for load(cache_dir=...). Only the verb
    that writes the inventory calls this: every other verb reads, and a dry run writes nothing."""
    raw = path.read_bytes()
    cache = _cache_file(cache_dir, path, raw)
    if not cache.is_file():
        _write_cache(cache, _parse_yaml(path, raw))


# Parsing units.yaml takes about 35 ms even with libyaml (the constructor is Python); its JSON
# copy about 1 ms. The copy is named by the YAML's sha256, so an edited inventory is never
# read from a stale copy: a hand-edited file is parsed as YAML until the next scan.
# The cache is derived data: unreadable or unwritable, it is skipped.
def _cache_file(cache_dir: Path, path: Path, raw: bytes) -> Path:
    return cache_dir / f"{path.stem}.{hashlib.sha256(raw).hexdigest()}.json"


def _read_cache(cache: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(cache.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_cache(cache: Path, data: dict[str, Any]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        for stale in cache.parent.glob(cache.name.split(".")[0] + ".*.json"):
            stale.unlink()  # copies of earlier versions of the same file, derived data only
        text = json.dumps(data)
        if json.loads(text) != data:
            return  # YAML had what JSON would change (an int key, say): no copy
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(cache)
    except (OSError, TypeError, ValueError):
        return  # a read-only ops repo, or a value JSON cannot hold: parse the YAML next time


def _parse_yaml(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        # libyaml's safe loader when present: the inventory is large, pure-Python YAML is slow.
        data = yaml.load(raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, f"not UTF-8: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(str(path), None, f"not valid YAML: {exc}", mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, "expected a mapping at the top level", 1)
    return data
