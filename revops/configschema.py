"""The schema of `revops.yaml`: one JSON Schema (draft 2020-12), checked with jsonschema.

To add a setting, add an entry to SCHEMA where it belongs (and a field to config.Config):
every mapping is closed (`additionalProperties: false`), so a key the schema does not name
is refused with a "did you mean". Each leaf says in `expected` what it takes, in the words
of the error an operator sees ("expected a duration such as 30s or 1m30s, got 'soon'").
Keys absent or null take the default of config.Config.

Formats (`format`) are checked by FORMATS below, not by jsonschema's optional ones, so the
result does not depend on which extras jsonschema was installed with.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

from revops.yamlsafe import describe

# -- reusable parts ------------------------------------------------------------------------

_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"  # a path component of a Docker image name
_REGISTRY = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?"

STRING = {"type": "string", "minLength": 1, "expected": "a string"}
UNIT_NAMES = {
    "type": "array",
    "items": {"type": "string", "pattern": r"^[^/\s]+$",
              "expected": "a string: a unit name or fnmatch pattern such as revprospect-*.service"},
    "expected": "a list of unit names or fnmatch patterns",
}
# Inside the host's root or the ops repo: relative, no "..", no control characters.
INSIDE = {"type": "string", "pattern": r"^(?!/)(?!(?:.*/)?\.\.(?:/|$))[^\x00-\x1f]+$",
          "expected": "a relative path with no '..' (it is joined to the root or the ops repo)"}
INSIDE_LIST = {"type": "array", "items": INSIDE, "expected": "a list of relative paths"}
DURATION = {"type": "string", "pattern": r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$",
            "expected": "a duration such as 30s or 1m30s"}
POSITIVE_INT = {"type": "integer", "minimum": 1, "expected": "a positive integer"}
POSITIVE_NUMBER = {"type": "number", "exclusiveMinimum": 0, "expected": "a positive number"}
# Units with a reason each: `keep_on_host:` and `retire:` say why a unit gets no container.
UNIT_REASONS = {
    "type": "object", "expected": "a mapping of unit name (or fnmatch pattern) to the reason, in words",
    "propertyNames": {"type": "string", "pattern": r"^[^/\s]+$",
                      "expected": "a unit name or fnmatch pattern such as revflow-tmp-clean.service"},
    "additionalProperties": {"type": "string", "pattern": r"\S", "maxLength": 500,
                             "expected": "the reason, in words (a non-empty string)"},
}

# Swarm's placement words (docker service create --constraint, --placement-pref): a node
# attribute or label, == or !=, a plain value.
_NODE_ATTRIBUTE = r"(?:node\.(?:id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9_.-]+)|engine\.labels\.[A-Za-z0-9_.-]+)"
CONSTRAINT = {"type": "string", "pattern": rf"^{_NODE_ATTRIBUTE}\s*(?:==|!=)\s*[A-Za-z0-9_.-]+$",
              "expected": "a placement constraint such as node.role==worker or node.labels.zone==east"}
SPREAD = {"type": "string", "pattern": r"^(?:node|engine)\.labels\.[A-Za-z0-9_.-]+$",
          "expected": "a node label to spread over, such as node.labels.zone"}
PLACEMENT = {
    "type": "object", "additionalProperties": False, "expected": "a mapping of placement settings",
    "properties": {
        "replicas": {"type": "integer", "minimum": 0, "maximum": 100,
                     "expected": "a number of replicas (an integer from 0 to 100)"},
        "constraints": {"type": "array", "items": CONSTRAINT, "expected": "a list of placement constraints"},
        "spread": {"type": "array", "items": SPREAD, "expected": "a list of node labels to spread over"},
        "max_replicas_per_node": {**POSITIVE_INT, "expected": "a positive number of replicas per node"},
    },
}
SWARM = {
    "type": "object", "additionalProperties": False, "required": ["registry"],
    "expected": "a mapping with at least 'registry'",
    "properties": {
        # host[:port] (a registry host name, an IP address, [IPv6]), as an image reference's domain
        "registry": {"type": "string",
                     "pattern": r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
                                r"|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$",
                     "expected": "a registry address such as 10.0.0.5:5000 (host[:port], no scheme)"},
        "insecure_registry": {"type": "boolean",
                              "expected": "true when the registry speaks plain HTTP (declared insecure to every engine)"},
        "manager": {"type": "string", "pattern": r"^(?:unix:///[^\x00-\x1f\s]+|(?:tcp|ssh)://[^\x00-\x1f\s/]+)$",
                    "expected": "a manager's Docker API address: unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST"},
        "stack": {"type": "string", "pattern": r"^[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?$",
                  "expected": "a stack name: lowercase letters, digits, '-' and '_', at most 32 characters"},
        "cli": {"type": "string", "pattern": r"^(?:/[^\x00-\x1f]+|[A-Za-z0-9._-]+)$",
                "expected": "the docker CLI to run `stack deploy` with: an absolute path or a program name"},
        "publish": {**UNIT_NAMES, "expected": "a list of unit names or patterns whose API port is published"},
        "placement": {
            "type": "object", "expected": "a mapping of suite name to its placement",
            "additionalProperties": PLACEMENT,
        },
    },
}

# -- the schema ----------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "expected": "a mapping of settings (host, suites, health, ...)",
    "additionalProperties": False,
    "required": ["suites"],
    "properties": {
        "host": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {
                "root": {**STRING, "expected": "a directory: the host's filesystem root, / on the host itself"},
                "unit_dirs": INSIDE_LIST,
                "unit_pattern": {**STRING, "expected": "an fnmatch pattern of unit file names"},
                "venv_search": INSIDE_LIST,
                "venv_search_depth": POSITIVE_INT,
            },
        },
        "systemd": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {
                "bus": {"enum": ["system", "user"], "expected": "'system' or 'user'"},
                "mask_on_migrate": {"type": "boolean", "expected": "true or false"},
            },
        },
        "suites": {
            "type": "object", "minProperties": 1,
            "expected": "a mapping of suite name to {phase, units}",
            # A suite's name names lockfiles/<suite>.txt, compose/<suite>.yml and its image.
            "propertyNames": {"type": "string", "pattern": r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$",
                              "expected": "a suite name that is a safe file and image name: lowercase "
                                          "letters, digits, '-' and '_', starting and ending with a "
                                          "letter or digit, at most 63 characters"},
            "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["phase", "units"],
                "expected": "a mapping with 'phase' and 'units'",
                "properties": {
                    "phase": {"type": "integer", "minimum": 1, "expected": "a phase number (an integer: 1, 2, ...)"},
                    "units": {**UNIT_NAMES, "minItems": 1,
                              "expected": "a non-empty list of unit names or patterns"},
                    "memory": {"type": "string", "format": "memory",
                               "expected": "a size with a unit such as 256m or 1g (at least 6m)"},
                    "cpus": {**POSITIVE_NUMBER, "expected": "a positive number of CPUs"},
                    # How migrate proves a service's container before its unit stops (README,
                    # "Pre-verified cutover"); absent: full for an API, import for the rest.
                    # YAML 1.1 reads a bare `off` as false: both mean "off".
                    "preverify": {"enum": ["full", "import", "off", False],
                                  "expected": "'full' (a candidate container beside the unit), "
                                              "'import' (a side-effect-free import check) or 'off'"},
                    # Set by `revops suites suggest --write` on the suites it proposes: migrate
                    # refuses such a suite until the operator has reviewed it and removed the key.
                    "suggested": {"type": "boolean", "expected": "true or false (remove it once reviewed)"},
                    "overrides": {
                        "type": "object", "expected": "a mapping of distribution to specifier",
                        "propertyNames": {"pattern": r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$",
                                          "expected": "a distribution name such as requests"},
                        "additionalProperties": {"type": "string", "format": "pip-specifier",
                                                 "expected": "a version specifier such as '==2.32.3'"},
                    },
                },
            },
        },
        "deprecated": UNIT_NAMES,
        # Units that stay under systemd for good, and why (a destination of their own).
        "keep_on_host": UNIT_REASONS,
        # Units of the old world (a venv healer, a venv cleanup timer): stopped and disabled, not
        # migrated, once no unit left under systemd runs from a venv; and why.
        "retire": UNIT_REASONS,
        "target": {"enum": ["compose", "swarm"],
                   "expected": "'compose' (this host's engine) or 'swarm' (the cluster of `swarm:`)"},
        "swarm": SWARM,
        "shared_env_file": {"type": "string", "pattern": r"^/[^\x00-\x1f]*$", "expected": "an absolute path"},
        "image": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {
                "base": {"type": "string",
                         "pattern": rf"^{_REGISTRY}{_NAME}(?:/{_NAME})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
                                    r"(?:@sha256:[0-9a-f]{64})?$",
                         "expected": "an image reference such as revflow/python-base:bookworm"},
                "prefix": {"type": "string", "pattern": rf"^{_REGISTRY}{_NAME}(?:/{_NAME})*$",
                           "expected": "an image repository prefix such as revflow"},
                # What `revops lock` resolves markers for: python_full_version needs all three parts.
                "python": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$",
                           "expected": 'a full Python version such as "3.11.2"'},
            },
        },
        "network": {"type": "string", "pattern": r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$",
                    "expected": "a network name: letters, digits, '_', '.', '-'"},
        "quick_wins": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {"restart": UNIT_NAMES},
        },
        "cleanup": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {"leftovers": UNIT_NAMES},
        },
        "secrets": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {
                "allow": {"type": "array",
                          "items": {"type": "string", "pattern": r"^[A-Za-z0-9_*?\[\]!-]+$",
                                    "expected": "a variable name or fnmatch pattern such as LOG_LEVEL or FEATURE_*"},
                          "expected": "a list of variable names (or patterns) that are not secrets"},
                # Not "..": the copies are the ops repo's or an absolute directory revops owns.
                "dir": {"type": "string", "pattern": r"^(?!(?:.*/)?\.\.(?:/|$))[^\x00-\x1f]+$",
                        "expected": "a directory for the services' secret copies, absolute or relative to the "
                                    "ops repo, with no '..'"},
            },
        },
        # `revops stabilize`: suite venvs built from the locks, units repointed at them.
        "stabilize": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {
                "venvs": {"enum": ["per-suite", "shared"],
                          "expected": "'per-suite' (one venv per suite lock) or 'shared' (one for every "
                                      "suite whose pins can live together)"},
                # Absolute, as the host sees it (under host.root); plain: no '..', '.', '//'
                # or control characters, since it is written into units' ExecStart=.
                "path": {"type": "string",
                         "pattern": r"^(/[A-Za-z0-9_@+=,-][A-Za-z0-9._@+=,-]*)+$",
                         "expected": "an absolute directory path such as /opt/revflow-os/suite-venvs "
                                     "(letters, digits and ._@+=,- only; no '..')"},
                "settle": {**DURATION, "expected": "a duration such as 10s: how long a repointed unit "
                                                   "without a port must stay active and unrestarted"},
                "timeout": {**DURATION, "expected": "a duration such as 60s: how long a repointed unit "
                                                    "with a port may take to answer /health"},
            },
        },
        "health": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {
                "path": {"type": "string", "pattern": r"^/[^\s#?]*$",
                         "expected": "an absolute URL path such as /health"},
                "interval": DURATION,
                "timeout": DURATION,
                "start_period": DURATION,
                "retries": POSITIVE_INT,
                "bind_address": {"type": "string", "format": "ip-address",
                                 "expected": "an IP address such as 127.0.0.1"},
                "probe_timeout": {**POSITIVE_NUMBER, "expected": "a positive number of seconds"},
            },
        },
        "ledger": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {"path": {**STRING, "expected": "a file path for the SQLite ledger"}},
        },
        "paths": {
            "type": "object", "additionalProperties": False, "expected": "a mapping",
            "properties": {
                "inventory": INSIDE,
                "lockfiles": INSIDE,
                "compose": INSIDE,
                "templates": INSIDE,
                "wheelhouse": {**STRING, "expected": "a directory of wheels"},
            },
        },
    },
}

# -- formats -------------------------------------------------------------------------------

_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([bkmg])$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
MIN_MEMORY = 6 * (1 << 20)  # Docker refuses a memory limit under 6 MB


def size_bytes(size: str) -> int:
    """'256m' -> 268435456; ValueError for anything but a number and one unit of b, k, m, g."""
    match = _SIZE.match(size)
    if not match:
        raise ValueError(size)
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _memory(value: str) -> bool:
    try:
        return size_bytes(value) >= MIN_MEMORY
    except ValueError:
        return False


def _ip_address(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _pip_specifier(value: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return bool(SpecifierSet(value.strip()))
    except InvalidSpecifier:
        return False


FORMATS: dict[str, Callable[[str], bool]] = {
    "memory": _memory,
    "ip-address": _ip_address,
    "pip-specifier": _pip_specifier,
}

# -- checking ------------------------------------------------------------------------------


def problems(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every way `data` (loaded revops.yaml, nulls already dropped) breaks SCHEMA, as
    (path of the key, message). Imports jsonschema (about 0.25 s): call only when needed."""
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    for name, check in FORMATS.items():
        checker.checks(name)(lambda value, check=check: not isinstance(value, str) or check(value))
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=checker)
    for error in validator.iter_errors(data):
        yield from _explain(error)


def _explain(error: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    path = tuple(error.absolute_path)
    schema, kind = error.schema, error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(schema.get("properties", {}))
        for key in error.instance:
            if key not in known:
                yield (*path, key), _unknown(key, known)
    elif kind == "required":
        missing = next((r for r in error.validator_value if repr(r) in error.message), "?")
        wanted = schema.get("properties", {}).get(missing, {}).get("expected", "a value")
        yield (*path, missing), f"missing; expected {wanted}"
    elif "propertyNames" in error.relative_schema_path:
        yield (*path, error.instance), f"expected {_expected(error)}"
    elif kind == "minProperties" and not error.instance:
        yield path, f"expected {schema.get('expected', 'at least one entry')}, got an empty mapping"
    else:
        yield path, f"expected {_expected(error)}, got {describe(error.instance)}"


def _expected(error: Any) -> str:
    return error.schema.get("expected") or error.message


def _unknown(key: Any, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; expected one of: {', '.join(known)}"
