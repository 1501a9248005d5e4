"""The one loader of `revops.yaml`.

Every error names the file, the line, the key and what was expected, and is a ConfigError
(exit 2). `revops validate` and every verb go through `load()`.

A minimal file::

    host:
      root: /                       # or a copy of one; relative paths are from this file
    suites:
      core:
        phase: 1
        units: [revcore-gateway.service, revpublish.service]

Everything else has a default; see `Config` and its parts below.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from revops import unitnames
from revops.errors import ConfigError

CONFIG_NAME = "revops.yaml"
# systemd.unit(5) "UNIT FILE LOAD PATH" of a system manager, highest precedence first (the
# generator and control directories exist only on a running system). On merged-usr hosts
# lib/ is usr/lib/: the scan reads a directory reached twice only once.
DEFAULT_UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "usr/local/lib/systemd/system",
                     "lib/systemd/system", "usr/lib/systemd/system")
_DURATION = re.compile(r"^(\d+(\.\d+)?(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MEMORY = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")


@dataclass(frozen=True)
class Suite:
    name: str
    phase: int
    units: tuple[str, ...]  # unit names or fnmatch patterns ("revflow-leadgen-*.service")
    memory: str = "512m"  # compose mem_limit default for the suite's services
    cpus: float = 0.5
    # Pins the operator chose to settle a conflict inside the suite: {"requests": "==2.32.3"}.
    overrides: tuple[tuple[str, str], ...] = ()

    def matches(self, unit_name: str) -> bool:
        return any(fnmatch.fnmatchcase(unit_name, pattern) for pattern in self.units)


@dataclass(frozen=True)
class Health:
    path: str = "/health"
    interval: str = "30s"
    timeout: str = "10s"
    retries: int = 3
    start_period: str = "10s"
    bind_address: str = "127.0.0.1"  # where API ports are published
    probe_timeout: float = 2.0  # revops' own /health probe, seconds

    def url(self, port: int | None) -> str | None:
        """Where revops probes a service on `port` (migrate, rollback and status alike):
        the address its container publishes on. None without a port."""
        return None if port is None else f"http://{self.bind_address}:{port}{self.path}"


@dataclass(frozen=True)
class Config:
    path: Path  # the revops.yaml this came from
    root: Path  # the host's filesystem root ("/" on a real host)
    unit_dirs: tuple[str, ...] = DEFAULT_UNIT_DIRS  # relative to root, in systemd's precedence order
    unit_pattern: str = "*"
    venv_search: tuple[str, ...] = ("opt", "srv")
    venv_search_depth: int = 4
    bus: str = "system"  # "system", or "user" as `systemctl --user`
    mask_on_migrate: bool = False
    suites: tuple[Suite, ...] = ()
    deprecated: tuple[str, ...] = ()
    shared_env_file: str = "/opt/shared-api-engine/.env"
    image_base: str = "revflow/python-base:latest"
    image_prefix: str = "revflow"
    # The base image's Python (X.Y.Z): what `revops lock` resolves markers for; None: the host venvs'.
    image_python: str | None = None
    network: str = "revflow-network"
    health: Health = field(default_factory=Health)
    ledger: str = ".revops/ledger.sqlite"  # SQLite file; REVOPS_DATABASE_URL overrides
    inventory_dir: str = "inventory"
    lockfiles_dir: str = "lockfiles"
    compose_dir: str = "compose"
    templates_dir: str = "templates"
    wheelhouse: str = ".revops/wheelhouse"
    # Units the quick wins restart (the fix plan's "systemctl restart revflow-revwins").
    quick_wins_restart: tuple[str, ...] = ("revflow-revwins.service",)
    # Leftover units (fnmatch patterns) the operator names for `revops cleanup`, beside the
    # migrated, deprecated and duplicate units it finds itself.
    cleanup_leftovers: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Path:
        """The ops repo: the directory holding revops.yaml; outputs are written under it."""
        return self.path.parent

    @property
    def cache_dir(self) -> Path:
        """Derived data revops may drop at any time (parsed copies of the inventory)."""
        return self.base_dir / ".revops" / "cache"

    def out(self, name: str) -> Path:
        return self.base_dir / getattr(self, f"{name}_dir")

    def suite_of(self, unit_name: str) -> Suite | None:
        """The suite a unit belongs to: the first whose patterns match its name, or, for an
        instance (worker@1.service), its template's name (worker@.service). The one answer
        every verb uses, from revops.yaml as it is now."""
        candidates = [unit_name]
        if unitnames.is_instance(unit_name):
            candidates.append(unitnames.template_of(unit_name))
        for name in candidates:
            for suite in self.suites:
                if suite.matches(name):
                    return suite
        return None

    def is_deprecated(self, unit_name: str) -> bool:
        return any(fnmatch.fnmatchcase(unit_name, p) for p in self.deprecated)

    @property
    def database_url(self) -> str:
        url = os.environ.get("REVOPS_DATABASE_URL")
        if url:
            return url
        return f"sqlite:///{(self.base_dir / self.ledger).resolve()}"


def duration_seconds(duration: str) -> float:
    """'1m30s' -> 90.0, for a duration this loader has already checked."""
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(duration))


def find(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The config to use: `--config`, else `revops.yaml` in the current directory."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(str(path), None, "no such file (given with --config)")
        return path
    path = (cwd or Path.cwd()) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            str(path), None,
            "no revops.yaml here; run inside an ops repo, pass --config FILE, "
            "or create an example with `revops example-host DIR`",
        )
    return path


def load(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Config:
    path = find(explicit, cwd)
    return parse(path.read_text(encoding="utf-8"), path)


class _Reader:
    """Walks the YAML tree, remembering each key's line so errors can point at it."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            raise ConfigError(str(path), None, f"not valid YAML: {getattr(exc, 'problem', exc)}", line) from None
        self.lines: dict[str, int] = {}
        if node is not None:
            self._index(node, "")
        if self.data is None:
            self.data = {}
        if not isinstance(self.data, dict):
            raise ConfigError(str(path), None, "expected a mapping at the top level", 1)

    def _index(self, node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
                self.lines[key] = key_node.start_mark.line + 1
                self._index(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                key = f"{prefix}[{i}]"
                self.lines[key] = item.start_mark.line + 1
                self._index(item, key)

    def fail(self, key: str, message: str) -> ConfigError:
        line = self.lines.get(key)
        if line is None and "." in key:
            line = self.lines.get(key.rsplit(".", 1)[0])
        return ConfigError(str(self.path), key, message, line)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, what: str | None = None) -> Any:
        value: Any = self.data
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        if value is None:
            return default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(key, f"expected {what or _kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {what or _kind_name(kind)}, got {type(value).__name__} {value!r}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, None, "a list of strings")
        if value is None:
            return default
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{i}]", f"expected a string, got {item!r}")
        return tuple(value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             dict: "a mapping", list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_KNOWN_TOP = {"host", "systemd", "suites", "deprecated", "shared_env_file", "image", "network", "quick_wins", "cleanup",
              "health", "ledger", "paths"}


def parse(text: str, path: Path) -> Config:
    r = _Reader(text, path)
    for key in r.data:
        if key not in _KNOWN_TOP:
            raise r.fail(str(key), f"unknown key; expected one of: {', '.join(sorted(_KNOWN_TOP))}")
    root_text = r.get("host.root", str, "/")
    root = Path(root_text)
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    bus = r.get("systemd.bus", str, "system")
    if bus not in ("system", "user"):
        raise r.fail("systemd.bus", f"expected 'system' or 'user', got {bus!r}")
    health = _health(r)
    return Config(
        path=path.resolve(),
        root=root,
        unit_dirs=r.strings("host.unit_dirs", DEFAULT_UNIT_DIRS),
        unit_pattern=r.get("host.unit_pattern", str, "*"),
        venv_search=r.strings("host.venv_search", ("opt", "srv")),
        venv_search_depth=_positive(r, "host.venv_search_depth", 4),
        bus=bus,
        mask_on_migrate=r.get("systemd.mask_on_migrate", bool, False),
        suites=_suites(r),
        deprecated=r.strings("deprecated", ()),
        shared_env_file=r.get("shared_env_file", str, Config.shared_env_file),
        image_base=r.get("image.base", str, Config.image_base),
        image_prefix=r.get("image.prefix", str, Config.image_prefix),
        image_python=_python_version(r, "image.python"),
        network=r.get("network", str, Config.network),
        health=health,
        ledger=r.get("ledger.path", str, Config.ledger),
        inventory_dir=r.get("paths.inventory", str, "inventory"),
        lockfiles_dir=r.get("paths.lockfiles", str, "lockfiles"),
        compose_dir=r.get("paths.compose", str, "compose"),
        templates_dir=r.get("paths.templates", str, "templates"),
        wheelhouse=r.get("paths.wheelhouse", str, Config.wheelhouse),
        quick_wins_restart=r.strings("quick_wins.restart", Config.quick_wins_restart),
        cleanup_leftovers=r.strings("cleanup.leftovers", ()),
    )


def _python_version(r: _Reader, key: str) -> str | None:
    """A full interpreter version such as "3.11.2": markers like python_full_version need all three parts."""
    value = r.get(key, str, None)
    if value is not None and not re.fullmatch(r"\d+\.\d+\.\d+", value):
        raise r.fail(key, f"expected a full Python version such as \"3.11.2\", got {value!r}")
    return value


def _positive(r: _Reader, key: str, default: int) -> int:
    value = r.get(key, int, default)
    if value < 1:
        raise r.fail(key, f"expected a positive integer, got {value}")
    return value


def _duration(r: _Reader, key: str, default: str) -> str:
    value = r.get(key, str, default, "a duration such as 30s or 1m30s")
    if not _DURATION.match(value):
        raise r.fail(key, f"expected a duration such as 30s or 1m30s, got {value!r}")
    return value


def _health(r: _Reader) -> Health:
    path = r.get("health.path", str, "/health")
    if not path.startswith("/"):
        raise r.fail("health.path", f"expected an absolute URL path such as /health, got {path!r}")
    return Health(
        path=path,
        interval=_duration(r, "health.interval", "30s"),
        timeout=_duration(r, "health.timeout", "10s"),
        retries=_positive(r, "health.retries", 3),
        start_period=_duration(r, "health.start_period", "10s"),
        bind_address=r.get("health.bind_address", str, "127.0.0.1"),
        probe_timeout=r.get("health.probe_timeout", float, 2.0),
    )


def _suites(r: _Reader) -> tuple[Suite, ...]:
    raw = r.get("suites", dict, {}, "a mapping of suite name to {phase, units}")
    suites = []
    for name, body in raw.items():
        key = f"suites.{name}"
        if not isinstance(body, dict):
            raise r.fail(key, "expected a mapping with 'phase' and 'units'")
        phase = r.get(f"{key}.phase", int, None)
        if phase is None or phase < 1:
            raise r.fail(f"{key}.phase", "expected a phase number (1, 2, ...)")
        units = r.strings(f"{key}.units", ())
        if not units:
            raise r.fail(f"{key}.units", "expected a non-empty list of unit names or patterns")
        memory = str(r.get(f"{key}.memory", (str, int), "512m"))
        if not _MEMORY.match(memory):
            raise r.fail(f"{key}.memory", f"expected a size such as 256m or 1g, got {memory!r}")
        cpus = r.get(f"{key}.cpus", float, 0.5)
        if cpus <= 0:
            raise r.fail(f"{key}.cpus", f"expected a positive number of CPUs, got {cpus}")
        overrides = r.get(f"{key}.overrides", dict, {}, "a mapping of distribution to specifier")
        for dist, spec in overrides.items():
            if not isinstance(spec, str) or not spec.strip():
                raise r.fail(f"{key}.overrides.{dist}", f"expected a specifier such as '==2.32.3', got {spec!r}")
        suites.append(Suite(name=str(name), phase=phase, units=units, memory=memory, cpus=cpus,
                            overrides=tuple(sorted((str(k), v.strip()) for k, v in overrides.items()))))
    return tuple(suites)
