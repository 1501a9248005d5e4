"""The inventory as data: what `inventory scan` writes and every later verb reads.

The JSON contract of design.md is the `to_dict()` of these classes; extend, never rename.
`inventory/units.yaml` and `inventory/venvs.yaml` hold the same dicts under `units:` and
`venvs:` beside `scanned_at` (when the content last changed) and `root`.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from revops import regularfile, yamlsafe
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
class Timer:
    """A .timer unit that fires a service (its Unit=, by default the service of its own name),
    as its files say: the schedule a job keeps when its code moves into a container."""

    name: str  # "revflow-backup.timer"
    path: str | None  # fragment, relative to the root like Unit.path
    on_calendar: list[str] = field(default_factory=list)  # OnCalendar= values, in order
    monotonic: list[str] = field(default_factory=list)  # "OnBootSec=5min", "OnUnitActiveSec=1h", ...
    persistent: bool = False
    randomized_delay_sec: str | None = None
    accuracy_sec: str | None = None
    enabled: bool = False  # linked from a timers.target.wants/ (or other .wants/) directory
    masked: bool = False
    dropins: list[str] = field(default_factory=list)


@dataclass
class Unit:
    name: str  # "revpublish.service", or an instance "revflow-worker@3.service"
    path: str | None  # fragment, relative to the root as in the contract: "etc/systemd/system/x.service"
    exec_start: list[list[str]] = field(default_factory=list)
    working_directory: str | None = None
    user: str | None = None
    environment_files: list[str] = field(default_factory=list)  # "-" prefix removed
    # Environment= of the unit: every name, with its value only when it is known not to be a
    # secret (None: withheld; see revops.secrets.digest), and a digest of every value.
    environment: dict[str, str | None] = field(default_factory=dict)
    environment_digests: dict[str, str] = field(default_factory=dict)
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
    wants: list[str] = field(default_factory=list)  # Wants= of [Unit]
    remain_after_exit: bool = False  # RemainAfterExit= (a oneshot that stays "active" once done)
    timers: list[Timer] = field(default_factory=list)  # the .timer units whose Unit= is this one

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
        values = _known(cls, data)
        values["problems"] = [Problem(**_known(Problem, p)) for p in data.get("problems") or []]
        if data.get("live"):
            values["live"] = LiveState(**_known(LiveState, data["live"]))
        values["timers"] = [Timer(**_known(Timer, t)) for t in data.get("timers") or []]
        return cls(**values)


@dataclass
class Venv:
    path: str  # as the host sees it
    healthy: bool
    problems: list[str] = field(default_factory=list)  # codes: "interpreter-missing", ...
    details: list[str] = field(default_factory=list)  # one human line per problem
    used_by: list[str] = field(default_factory=list)  # unit names
    python_version: str | None = None
    # What is installed, "name==version" per dist-info (or egg-info) directory, names
    # normalised, sorted: venvs with the same list hold the same packages.
    installed: list[str] = field(default_factory=list)

    @property
    def orphan(self) -> bool:
        return not self.used_by

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Venv":
        return cls(**_known(cls, data))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of `data` that are fields of `cls`: keys a newer revops wrote are ignored."""
    return {k: v for k, v in data.items() if k in _field_names(cls)}


@lru_cache(maxsize=None)
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


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
    """Read inventory/units.yaml (and venvs.yaml unless with_venvs is False), checked whole:
    ConfigError (exit 2) naming the file, the line and what is wrong when it is missing,
    not a regular file, not YAML, or not the shape `inventory scan` writes. With cache_dir,
    a JSON copy that store_cache() left there for the very same bytes is read instead."""
    units_doc = _read(inventory_dir / UNITS_FILE, "units", cache_dir)
    venvs_doc = _read(inventory_dir / VENVS_FILE, "venvs", cache_dir) if with_venvs else {}
    units = [Unit.from_dict(u) for u in units_doc.get("units") or []]
    venvs = [Venv.from_dict(v) for v in venvs_doc.get("venvs") or []]
    return Inventory(root=units_doc.get("root", "/"), scanned_at=units_doc.get("scanned_at"), units=units, venvs=venvs)


def _read(path: Path, section: str, cache_dir: Path | None = None) -> dict[str, Any]:
    try:
        raw = regularfile.read_bytes(path)
    except regularfile.FileRefused as exc:
        reason = "missing; run `revops inventory scan` first" if exc.rule == "path-missing" else exc.reason
        raise ConfigError(str(path), None, reason) from None
    if cache_dir is not None:
        cached = _read_cache(_cache_file(cache_dir, path, raw), path, raw, section)
        if cached is not None:
            return cached
    doc = _parse_yaml(path, raw)
    problem = shape_problem(doc.data, section)
    if problem is not None:
        keys, message = problem
        raise ConfigError(str(path), yamlsafe.dotted(keys) or None, message, doc.line(*keys))
    return doc.data


def store_cache(path: Path, cache_dir: Path) -> None:
    """Keep a JSON copy of the inventory file `path` for load(cache_dir=...). Only the verb
    that writes the inventory calls this: every other verb reads, and a dry run writes nothing."""
    raw = path.read_bytes()
    cache = _cache_file(cache_dir, path, raw)
    if not cache.is_file():
        _write_cache(cache, path, raw, _parse_yaml(path, raw).data)


# Parsing units.yaml takes about 35 ms even with libyaml (the constructor is Python); its JSON
# copy about 1 ms. The copy is named by the YAML's sha256 and says inside which file and which
# digest it copies, so an edited inventory is never read from a stale copy: a hand-edited
# file is parsed as YAML until the next scan. A copy is read only when it says it copies
# these very bytes and its data has the inventory's shape; otherwise the YAML is read.
# The cache is derived data: unreadable or unwritable, it is skipped.
def _cache_file(cache_dir: Path, path: Path, raw: bytes) -> Path:
    return cache_dir / f"{path.stem}.{hashlib.sha256(raw).hexdigest()}.json"


def _read_cache(cache: Path, path: Path, raw: bytes, section: str) -> dict[str, Any] | None:
    try:
        copy = json.loads(regularfile.read_bytes(cache))
    except (regularfile.FileRefused, ValueError, RecursionError):
        return None
    if not isinstance(copy, dict) or copy.get("copy_of") != path.name \
            or copy.get("sha256") != hashlib.sha256(raw).hexdigest():
        return None
    data = copy.get("data")
    return data if shape_problem(data, section) is None else None


def _write_cache(cache: Path, path: Path, raw: bytes, data: dict[str, Any]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        for stale in cache.parent.glob(cache.name.split(".")[0] + ".*.json"):
            stale.unlink()  # copies of earlier versions of the same file, derived data only
        if json.loads(json.dumps(data)) != data:
            return  # YAML had what JSON would change (an int key, say): no copy
        text = json.dumps({"copy_of": path.name, "sha256": hashlib.sha256(raw).hexdigest(), "data": data})
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(cache)
    except (OSError, TypeError, ValueError):
        return  # a read-only ops repo, or a value JSON cannot hold: parse the YAML next time


def _parse_yaml(path: Path, raw: bytes) -> yamlsafe.Document:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, f"not UTF-8: {exc}", raw.count(b"\n", 0, exc.start) + 1) from None
    return yamlsafe.load_text(text, str(path))


# -- the inventory's shape, checked on every read ---------------------------------------------
#
# Derived from the dataclasses above, so a field added there is checked here with no second
# list to keep. Keys a newer revops wrote are ignored, as from_dict ignores them.

Check = Callable[[Any], "tuple[tuple[Any, ...], str] | None"]


def shape_problem(data: Any, section: str) -> tuple[tuple[Any, ...], str] | None:
    """None when `data` (a loaded units.yaml or venvs.yaml) has the shape `inventory scan`
    writes; else (path of the first wrong key, "expected ..., got ...")."""
    if not isinstance(data, dict):
        return (), f"expected a mapping with {section!r}, got {yamlsafe.describe(data)}"
    for key, check in (("root", _checker(str)), ("scanned_at", _checker(str | None))):
        found = check(data[key]) if key in data else None
        if found is not None:
            return (key, *found[0]), found[1]
    items = data.get(section)
    if items is None:
        return None
    shape = list[Unit] if section == "units" else list[Venv]
    if _fits(shape)(items):  # the fast yes/no; the slow check below only to say what is wrong
        return None
    found = _checker(shape)(items)
    return None if found is None else ((section, *found[0]), found[1])


@lru_cache(maxsize=None)
def _fits(tp: Any) -> Callable[[Any], bool]:
    """A predicate for `tp`, about 20 times faster than _checker: 151 units in under 1 ms."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    plain = _plain_types(tp)
    if plain is not None:
        return lambda v: type(v) in plain
    if origin in (typing.Union, types.UnionType):
        options = [_fits(a) for a in args if a is not type(None)]
        return lambda v: (v is None and type(None) in args) or any(fits(v) for fits in options)
    if origin is list:
        item_plain = _plain_types(args[0])
        if item_plain is not None:
            return lambda v: type(v) is list and all(type(x) in item_plain for x in v)
        item = _fits(args[0])
        return lambda v: type(v) is list and all(item(x) for x in v)
    if origin is dict:
        value = _fits(args[1])
        return lambda v: type(v) is dict and all(type(k) is str and value(x) for k, x in v.items())
    if is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        checks = {f.name: _fits(hints[f.name]) for f in fields(tp)}
        required = [f.name for f in fields(tp) if f.default is MISSING and f.default_factory is MISSING]

        def record(v: Any) -> bool:
            if type(v) is not dict or any(key not in v for key in required):
                return False
            for key, x in v.items():
                fits = checks.get(key)
                if fits is not None and not fits(x):
                    return False
            return True
        return record
    raise TypeError(f"no shape check for {tp!r}")


def _plain_types(tp: Any) -> frozenset[type] | None:
    """The exact types of a scalar type or a union of scalars (str | None), else None."""
    members = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    if all(m in (str, int, bool, type(None)) for m in members):
        return frozenset(members)
    return None


@lru_cache(maxsize=None)
def _checker(tp: Any) -> Check:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [_checker(a) for a in args if a is not type(None)]
        allows_none = type(None) in args
        if len(options) == 1 and not _plain_types(tp):  # X | None: X's own words, down to the key
            return lambda v: None if v is None and allows_none else options[0](v)
        return lambda v: None if (v is None and allows_none) or any(c(v) is None for c in options) \
            else ((), f"expected {_describe(tp)}, got {yamlsafe.describe(v)}")
    if origin is list:
        return _list_checker(tp, _checker(args[0]))
    if origin is dict:
        return _dict_checker(tp, _checker(args[1]))
    if is_dataclass(tp):
        return _record_checker(tp)
    if tp is bool:
        return lambda v: None if isinstance(v, bool) else ((), f"expected true or false, got {yamlsafe.describe(v)}")
    if tp is int:
        return lambda v: None if isinstance(v, int) and not isinstance(v, bool) \
            else ((), f"expected an integer, got {yamlsafe.describe(v)}")
    if tp is str:
        return lambda v: None if isinstance(v, str) else ((), f"expected a string, got {yamlsafe.describe(v)}")
    raise TypeError(f"no shape check for {tp!r}")  # a new field type: teach _checker about it


def _list_checker(tp: Any, item: Check) -> Check:
    def check(value: Any) -> tuple[tuple[Any, ...], str] | None:
        if not isinstance(value, list):
            return (), f"expected {_describe(tp)}, got {yamlsafe.describe(value)}"
        for i, v in enumerate(value):
            found = item(v)
            if found is not None:
                return (i, *found[0]), found[1]
        return None
    return check


def _dict_checker(tp: Any, value_check: Check) -> Check:
    def check(value: Any) -> tuple[tuple[Any, ...], str] | None:
        if not isinstance(value, dict):
            return (), f"expected {_describe(tp)}, got {yamlsafe.describe(value)}"
        for k, v in value.items():
            found = ((), f"expected string keys, got {yamlsafe.describe(k)}") if not isinstance(k, str) else value_check(v)
            if found is not None:
                return (k, *found[0]), found[1]
        return None
    return check


def _record_checker(cls: type) -> Check:
    hints = typing.get_type_hints(cls)
    known = [(f.name, _checker(hints[f.name])) for f in fields(cls)]
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    name = cls.__name__.lower()

    def check(value: Any) -> tuple[tuple[Any, ...], str] | None:
        if not isinstance(value, dict):
            return (), f"expected a mapping (a {name}), got {yamlsafe.describe(value)}"
        for key in required:
            if key not in value:
                return (key,), f"missing: every {name} has {key!r}"
        for key, field_check in known:
            if key in value:
                found = field_check(value[key])
                if found is not None:
                    return (key, *found[0]), found[1]
        return None
    return check


def _describe(tp: Any, plural: bool = False) -> str:
    """A type in words: list[list[str]] -> "a list of lists of strings"."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        words = " or ".join(_describe(a, plural) for a in args if a is not type(None))
        return words + (" or null" if type(None) in args else "")
    if origin is list:
        return f"{'lists' if plural else 'a list'} of {_describe(args[0], True)}"
    if origin is dict:
        return f"{'mappings' if plural else 'a mapping'} of string to {_describe(args[1], True)}"
    if is_dataclass(tp):
        return f"{tp.__name__.lower()} mappings" if plural else f"a {tp.__name__.lower()} mapping"
    singular, many = {str: ("a string", "strings"), int: ("an integer", "integers"),
                      bool: ("true or false", "booleans")}.get(tp, (str(tp), str(tp)))
    return many if plural else singular
