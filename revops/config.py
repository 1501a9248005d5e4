"""The one loader of `revops.yaml`.

The file is read as bounded YAML (revops.yamlsafe) and checked whole against the schema in
revops.configschema (unknown keys at any depth, types, addresses, sizes, durations, suite
names). Every error names the file, the line, the key and what was expected, and is a
ConfigError (exit 2). `revops validate` and every verb go through `load()`.

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
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revops import regularfile, unitnames, yamlsafe
from revops.errors import ConfigError

CONFIG_NAME = "revops.yaml"
# systemd.unit(5) "UNIT FILE LOAD PATH" of a system manager, highest precedence first (the
# generator and control directories exist only on a running system). On merged-usr hosts
# lib/ is usr/lib/: the scan reads a directory reached twice only once.
DEFAULT_UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "usr/local/lib/systemd/system",
                     "lib/systemd/system", "usr/lib/systemd/system")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_BYTES = 1024 * 1024  # a revops.yaml is a few kB
SCHEMA_MODULE = Path(__file__).with_name("configschema.py")
MINIMAL = """\
host:
  root: /                 # the host's filesystem root, or a copy of one
suites:
  core:
    phase: 1
    units: [my-api.service, "my-worker-*.service"]
"""


@dataclass(frozen=True)
class Suite:
    name: str
    phase: int
    units: tuple[str, ...]  # unit names or fnmatch patterns ("revflow-leadgen-*.service")
    memory: str = "512m"  # compose mem_limit default for the suite's services
    cpus: float = 0.5
    # Pins the operator chose to settle a conflict inside the suite: {"requests": "==2.32.3"}.
    overrides: tuple[tuple[str, str], ...] = ()
    # How migrate proves each service's container before its unit stops: "full", "import" or
    # "off"; None: by kind (revops.migrate.plan.preverify_mode).
    preverify: str | None = None
    # Proposed by `revops suites suggest --write` and not reviewed yet: migrate refuses it.
    suggested: bool = False

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

    def unhealthy_after_s(self) -> float:
        """The longest Docker's health check takes to call a new container unhealthy: its
        start period, then `retries` failed checks an interval apart, the last one timing out
        (Dockerfile reference, HEALTHCHECK). Whoever waits for a verdict waits longer."""
        return (duration_seconds(self.start_period) + duration_seconds(self.interval) * self.retries
                + duration_seconds(self.timeout))

    def verdict_window_s(self) -> float:
        """How long to watch a new container before calling it failed: the unhealthy verdict's
        time plus one more interval (the cutover's deadline, Swarm's update `monitor`)."""
        return self.unhealthy_after_s() + duration_seconds(self.interval)

    def url(self, port: int | None) -> str | None:
        """Where revops probes a service on `port` (migrate, rollback and status alike):
        the address its container publishes on. None without a port."""
        return None if port is None else f"http://{self.bind_address}:{port}{self.path}"


TARGET_COMPOSE = "compose"  # this host's Docker engine through compose
TARGET_SWARM = "swarm"  # a Docker Swarm cluster through a stack file and a registry
TARGETS = (TARGET_COMPOSE, TARGET_SWARM)


@dataclass(frozen=True)
class Placement:
    """Where a suite's services run on a Swarm cluster (the stack file's deploy.placement and
    replicas; docker service create --constraint, --placement-pref, --replicas-max-per-node)."""

    replicas: int = 1
    constraints: tuple[str, ...] = ()  # "node.role==worker", "node.labels.zone==east"
    spread: tuple[str, ...] = ()  # placement preferences: "node.labels.zone"
    max_replicas_per_node: int | None = None


@dataclass(frozen=True)
class Swarm:
    """The `swarm:` block: the cluster a `--target swarm` run deploys to."""

    registry: str  # host[:port] every node pulls the images from
    insecure_registry: bool = False  # plain HTTP (the engines list it under insecure-registries)
    manager: str | None = None  # a manager's Docker API (unix://, tcp://, ssh://); None: DOCKER_HOST
    stack: str = "revflow"  # the stack's name: services are named <stack>_<service>
    cli: str = "docker"  # the docker CLI that runs `stack deploy` (a path, or a name on PATH)
    # Units whose API port is published on the cluster (mode host, one task per node: global).
    publish: tuple[str, ...] = ()
    placement: tuple[tuple[str, Placement], ...] = ()  # per suite

    def placement_of(self, suite: str) -> Placement:
        return dict(self.placement).get(suite, Placement())

    def publishes(self, unit_name: str) -> bool:
        return any(fnmatch.fnmatchcase(unit_name, p) for p in self.publish)


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
    # (unit name or pattern, reason): units that stay under systemd for good.
    keep_on_host: tuple[tuple[str, str], ...] = ()
    # (unit name or pattern, reason): old-world units, retired once no unit runs from a venv.
    retire: tuple[tuple[str, str], ...] = ()
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
    # Variable names (fnmatch, case-insensitive) never taken for secrets: what the detector
    # (revops.secretscan) gets wrong. Their Environment= values are kept in the inventory and
    # written inline in compose files.
    secrets_allow: tuple[str, ...] = ()
    # Where `migrate` writes each service's copy of what it may read (env files and secret
    # Environment= values): a root-only directory revops owns; relative to the ops repo.
    secrets_dir: str = ".revops/secrets"
    # `revops stabilize`: one venv per suite lock ("per-suite") or one for all ("shared"),
    # kept under stabilize_path (as the host sees it), and the gate's settle time and timeout.
    stabilize_venvs: str = "per-suite"
    stabilize_path: str = "/opt/revflow-os/suite-venvs"
    stabilize_settle: str = "10s"
    stabilize_timeout: str = "60s"
    target: str = TARGET_COMPOSE  # what migrate and status work on unless --target says otherwise
    swarm: Swarm | None = None

    def target_of(self, given: str | None) -> str:
        """The target a run is for: `--target` when given, else revops.yaml's `target:`.
        UsageError for an unknown word, ConfigError when swarm is asked and `swarm:` is absent."""
        from revops.errors import UsageError

        target = given or self.target
        if target not in TARGETS:
            raise UsageError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
        if target == TARGET_SWARM and self.swarm is None:
            raise ConfigError(str(self.path), "swarm", "the target is swarm but revops.yaml has no `swarm:` "
                              "block; give at least swarm.registry (the registry every node pulls from)")
        return target

    @property
    def base_dir(self) -> Path:
        """The ops repo: the directory holding revops.yaml; outputs are written under it."""
        return self.path.parent

    @property
    def secrets_path(self) -> Path:
        """The directory of the services' secret copies, absolute (secrets.dir, from the ops repo)."""
        return self.base_dir / self.secrets_dir

    @property
    def cache_dir(self) -> Path:
        """Derived data revops may drop at any time (parsed copies of the inventory)."""
        return self.base_dir / ".revops" / "cache"

    def out(self, name: str) -> Path:
        return self.base_dir / getattr(self, f"{name}_dir")

    def suite_of(self, unit_name: str) -> Suite | None:
        """The suite a unit belongs to: the first whose patterns match its name, or, for an
        instance (worker@1.service), its template's name (worker@.service). The one answer
        every verb uses, from revops.yaml as it is now. A unit `keep_on_host:` or `retire:`
        names is in no suite, whatever the suites' patterns say: the named exception wins."""
        if self.kept_on_host(unit_name) is not None or self.retired(unit_name) is not None:
            return None
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

    def kept_on_host(self, unit_name: str) -> str | None:
        """The reason `keep_on_host:` gives for this unit (its template's for an instance), or None."""
        return _reason(self.keep_on_host, unit_name)

    def retired(self, unit_name: str) -> str | None:
        """The reason `retire:` gives for this unit (its template's for an instance), or None."""
        return _reason(self.retire, unit_name)

    @property
    def database_url(self) -> str:
        url = os.environ.get("REVOPS_DATABASE_URL")
        if url:
            return url
        return f"sqlite:///{(self.base_dir / self.ledger).resolve()}"


def _reason(entries: tuple[tuple[str, str], ...], unit_name: str) -> str | None:
    names = [unit_name, unitnames.template_of(unit_name)] if unitnames.is_instance(unit_name) else [unit_name]
    for name in names:
        for pattern, reason in entries:
            if fnmatch.fnmatchcase(name, pattern):
                return reason
    return None


def duration_seconds(duration: str) -> float:
    """'1m30s' -> 90.0, for a duration this loader has already checked."""
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(duration))


def find(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The config to use: `--config`, else `revops.yaml` in the current directory."""
    if explicit is not None:
        path = Path(explicit)
        if not os.path.lexists(path):
            raise ConfigError(str(path), None, "no such file (given with --config)")
        return path
    path = (cwd or Path.cwd()) / CONFIG_NAME
    if not os.path.lexists(path):
        error = ConfigError(str(path), None, "no revops.yaml here; run inside an ops repo, pass --config FILE, "
                            "or create an example with `revops example-host DIR`")
        error.hint = "a minimal revops.yaml:\n" + MINIMAL
        raise error
    return path


def load(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None, *,
         suites_required: bool = True) -> Config:
    """The checked config (see parse); ConfigError (exit 2) for every way it can be wrong,
    a file that is not a regular file or is over MAX_BYTES included. `suites_required=False`
    is for the one verb that writes `suites:` (`revops suites suggest`): a file without
    suites (or with `suites: {}`) is then accepted, every other key checked as usual."""
    path = find(explicit, cwd)
    try:
        text = regularfile.read_text(path, MAX_BYTES)
    except regularfile.FileRefused as exc:
        raise ConfigError(exc.path, None, exc.reason) from None
    return _checked(yamlsafe.load_text(text, str(path)), path, text, suites_required)


def parse(text: str, path: Path, *, suites_required: bool = True) -> Config:
    """revops.yaml's text to a Config: YAML read by yamlsafe (duplicate keys, bombs and
    depth refused), then the whole of it checked against configschema.SCHEMA. Every problem
    is reported at once, one line each: `FILE:LINE: KEY: expected ..., got ...`."""
    return _checked(yamlsafe.load_text(text, str(path)), path, None, suites_required)


def _checked(doc: yamlsafe.Document, path: Path, text: str | None, suites_required: bool = True) -> Config:
    data = doc.data
    if (data is None or data == {}) and suites_required:
        error = ConfigError(str(path), None, "empty: revops needs at least `suites:`; "
                            "`revops example-host DIR` writes a complete example")
        error.hint = "a minimal revops.yaml:\n" + MINIMAL
        raise error
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, f"expected a mapping of settings, got {yamlsafe.describe(data)}",
                          doc.line())
    data = _without_nulls(data)
    marker = _checked_marker(path, text) if suites_required else None
    if marker is None or not marker.is_file():
        from revops import configschema  # jsonschema: only when these bytes were not checked yet

        problems = list(configschema.problems(data if suites_required else {"suites": {"-": {}}, **data}))
        if not suites_required:
            problems = [p for p in problems if not _about_no_suites(p[0], data)]
        _raise_problems(doc, path, problems)
        _remember_checked(marker)
    _raise_problems(doc, path, _cross_problems(data))
    return _build(data, path)


def _about_no_suites(keys: tuple[Any, ...], data: dict[str, Any]) -> bool:
    """A schema problem that only says there are no suites (the stand-in the check added)."""
    return keys[:1] == ("suites",) and (not data.get("suites") or keys[1:2] == ("-",))
def _cross_problems(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """What the schema cannot see: keys that must name something defined elsewhere."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    swarm = data.get("swarm")
    suites = data.get("suites") if isinstance(data.get("suites"), dict) else {}
    if isinstance(swarm, dict) and isinstance(swarm.get("placement"), dict):
        for name in swarm["placement"]:
            if name not in suites:
                known = ", ".join(sorted(map(str, suites))) or "none"
                problems.append((("swarm", "placement", name), f"no suite named {name!r} (suites: {known})"))
    if data.get("target") == TARGET_SWARM and not isinstance(swarm, dict):
        problems.append((("target",), "swarm needs a `swarm:` block with at least `registry:`"))
    return problems


def _without_nulls(data: dict[Any, Any]) -> dict[Any, Any]:
    """A key left empty (`deprecated:`) means its default, as if it were absent."""
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _raise_problems(doc: yamlsafe.Document, path: Path, problems: list[tuple[tuple[Any, ...], str]]) -> None:
    if not problems:
        return
    located = sorted(((doc.line(*keys), yamlsafe.dotted(keys), message) for keys, message in problems),
                     key=lambda p: (p[0] is None, p[0] or 0, p[1]))
    errors = [ConfigError(str(path), key or None, message, line) for line, key, message in located]
    first = errors[0]
    if len(errors) > 1:
        first.message = "\n".join(e.message for e in errors)
        first.args = (first.message,)
    raise first



# jsonschema costs about 0.25 s to import, more than all of `revops status` spends reading;
# so a config is checked once per content: a marker named by the digest of its bytes and of
# the schema module says these very bytes passed this very schema. Derived data: when the
# cache cannot be written, the config is checked every time.
def _checked_marker(path: Path, text: str | None) -> Path | None:
    if text is None:
        return None
    schema = SCHEMA_MODULE.read_bytes()
    digest = hashlib.sha256(schema + b"\0" + text.encode("utf-8")).hexdigest()
    return path.resolve().parent / ".revops" / "cache" / f"revops-yaml.{digest}.checked"


def _remember_checked(marker: Path | None) -> None:
    if marker is None:
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        for stale in marker.parent.glob("revops-yaml.*.checked"):
            stale.unlink()
        marker.touch()
    except OSError:
        return


def _build(data: dict[str, Any], path: Path) -> Config:
    """The Config of checked data: defaults for what is absent."""
    host, systemd, health = data.get("host", {}), data.get("systemd", {}), data.get("health", {})
    paths, image = data.get("paths", {}), data.get("image", {})
    root = Path(host.get("root", "/"))
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    values: dict[str, Any] = {
        "unit_dirs": host.get("unit_dirs"), "unit_pattern": host.get("unit_pattern"),
        "venv_search": host.get("venv_search"), "venv_search_depth": host.get("venv_search_depth"),
        "bus": systemd.get("bus"), "mask_on_migrate": systemd.get("mask_on_migrate"),
        "deprecated": data.get("deprecated"), "shared_env_file": data.get("shared_env_file"),
        "image_base": image.get("base"), "image_prefix": image.get("prefix"), "image_python": image.get("python"),
        "network": data.get("network"),
        "ledger": data.get("ledger", {}).get("path"),
        "inventory_dir": paths.get("inventory"), "lockfiles_dir": paths.get("lockfiles"),
        "compose_dir": paths.get("compose"), "templates_dir": paths.get("templates"),
        "wheelhouse": paths.get("wheelhouse"),
        "quick_wins_restart": data.get("quick_wins", {}).get("restart"),
        "cleanup_leftovers": data.get("cleanup", {}).get("leftovers"),
        "secrets_allow": data.get("secrets", {}).get("allow"),
        "secrets_dir": data.get("secrets", {}).get("dir"),
        "stabilize_venvs": data.get("stabilize", {}).get("venvs"),
        "stabilize_path": data.get("stabilize", {}).get("path"),
        "stabilize_settle": data.get("stabilize", {}).get("settle"),
        "stabilize_timeout": data.get("stabilize", {}).get("timeout"),
        "keep_on_host": _reasons(data.get("keep_on_host")), "retire": _reasons(data.get("retire")),
    }
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if v is not None}
    health = {k: float(v) if k == "probe_timeout" else v for k, v in health.items()}  # keys: Health's fields
    if "target" in data:
        values["target"] = data["target"]
    if "swarm" in data:
        values["swarm"] = _swarm(data["swarm"])
    return Config(path=path.resolve(), root=root, suites=_suites(data.get("suites", {})), health=Health(**health),
                  **values)


def _reasons(raw: dict[str, Any] | None) -> tuple[tuple[str, str], ...] | None:
    return None if raw is None else tuple((str(k), str(v).strip()) for k, v in raw.items())
def _swarm(raw: dict[str, Any]) -> Swarm:
    placement = []
    for suite, body in raw.get("placement", {}).items():
        placement.append((str(suite), Placement(
            replicas=body.get("replicas", 1), constraints=tuple(body.get("constraints", ())),
            spread=tuple(body.get("spread", ())), max_replicas_per_node=body.get("max_replicas_per_node"))))
    extra = {k: raw[k] for k in ("manager", "stack", "cli", "insecure_registry") if k in raw}
    return Swarm(registry=raw["registry"], publish=tuple(raw.get("publish", ())),
                 placement=tuple(sorted(placement)), **extra)


def _suites(raw: dict[str, Any]) -> tuple[Suite, ...]:
    suites = []
    for name, body in raw.items():
        extra: dict[str, Any] = {}
        if "memory" in body:
            extra["memory"] = body["memory"]
        if "cpus" in body:
            extra["cpus"] = float(body["cpus"])
        if "preverify" in body:
            extra["preverify"] = body["preverify"] or "off"  # YAML 1.1 reads a bare `off` as false
        if body.get("suggested"):
            extra["suggested"] = True
        overrides = body.get("overrides", {})
        suites.append(Suite(name=str(name), phase=body["phase"], units=tuple(body["units"]),
                            overrides=tuple(sorted((str(k), v.strip()) for k, v in overrides.items())), **extra))
    return tuple(suites)


@dataclass(frozen=True)
class SuiteProblem:
    """A way `suites:` disagrees with the units on the host (see suite_problems)."""

    rule: str  # "suite-overlap" or "suite-unmatched"
    suite: str
    index: int  # of the pattern in suites.<suite>.units
    message: str

    @property
    def key(self) -> str:
        return f"suites.{self.suite}.units[{self.index}]"


def suite_problems(config: Config, unit_names: list[str]) -> list[SuiteProblem]:
    """The suites of `config` against the units of a host (the inventory's names):

    - suite-overlap: a pattern that matches units an earlier suite already claims (the first
      match wins, as suite_of() decides, so the later suite silently loses them);
    - suite-unmatched: a pattern that matches no unit at all (a typo, or a unit gone).

    An instance counts under its own name and, when no suite names it, its template's,
    as in suite_of(). Unit names written literally in `suites:` count as units too.
    """
    names = set(unit_names) | {p for s in config.suites for p in s.units if not _is_glob(p)}
    claims: dict[tuple[str, int], dict[str, list[str]]] = {}
    for name in sorted(names):
        matched = _matching(config, name)
        if not matched and unitnames.is_instance(name):
            matched = _matching(config, unitnames.template_of(name))
        for suite, index in matched[1:]:
            claims.setdefault((suite, index), {}).setdefault(matched[0][0], []).append(name)
    problems = []
    for (suite, index), by_winner in sorted(claims.items()):
        pattern = next(s for s in config.suites if s.name == suite).units[index]
        taken = "; ".join(f"{_few(units)} by suite {winner!r}" for winner, units in sorted(by_winner.items()))
        problems.append(SuiteProblem("suite-overlap", suite, index,
                                     f"{pattern!r} also matches units claimed first ({taken}); a unit belongs "
                                     "to the first suite that matches it, so this suite does not get them"))
    present = set(unit_names) | {unitnames.template_of(n) for n in unit_names if unitnames.is_instance(n)}
    for suite in config.suites:
        for index, pattern in enumerate(suite.units):
            if not any(fnmatch.fnmatchcase(name, pattern) for name in present):
                problems.append(SuiteProblem("suite-unmatched", suite.name, index,
                                             f"{pattern!r} matches no unit in the inventory"))
    return problems


def _matching(config: Config, name: str) -> list[tuple[str, int]]:
    """(suite, index of its first pattern matching `name`) for every suite that matches."""
    found = []
    for suite in config.suites:
        index = next((i for i, p in enumerate(suite.units) if fnmatch.fnmatchcase(name, p)), None)
        if index is not None:
            found.append((suite.name, index))
    return found


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _few(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])} and {len(names) - 3} more"
