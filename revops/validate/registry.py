"""The rule registry: each rule is a function of one document (and the context) returning findings.

Rules live in modules by subject (rules: the house rules; cis: the CIS Docker Benchmark's
runtime checks; ports; paths; secrets); each registers itself with `@rule(...)`. RULES lists
them with their severity and a one-line description (SARIF and the docs use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from revops.validate.findings import ERROR, Finding


@dataclass(frozen=True)
class Context:
    """What validation knows beyond the files themselves (from revops.yaml when there is one)."""

    base_image: str | None = None  # the configured base image (revops.yaml image.base), if known
    repo: Path | None = None  # the ops repo; None: the nearest directory above a file holding .git or revops.yaml
    trusted_paths: tuple[Path, ...] = ()  # host files outside the repo a compose file may name (the shared env file)
    read_only_root: bool = False  # every service must run with a read-only root filesystem (CIS 5.13)
    secret_allow: tuple[str, ...] = ()  # variable names (fnmatch) never taken for secrets
    # The directory of the services' secret copies (revops.yaml secrets.dir): `revops migrate`
    # writes them, so a copy not written yet is not a finding (preflight checks each one).
    secrets_dir: Path | None = None
    docker_cli: str = "docker"  # the CLI whose `stack config` reads stack files (revops.yaml swarm.cli)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    description: str
    check: Callable[[Any, Context], list[Finding]]
    target: str  # "compose" or "dockerfile"


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: str, description: str, target: str = "compose"):
    def register(fn: Callable[[Any, Context], list[Finding]]):
        RULES[rule_id] = Rule(rule_id, severity, description, fn, target)
        return fn
    return register


def service_key(service: str, *parts: str) -> str:
    """The dotted key of a service's setting: services.<service>.<part>..."""
    return ".".join(("services", service) + parts)


def check(doc: Any, ctx: Context, target: str) -> list[Finding]:
    return [f for r in RULES.values() if r.target == target for f in _apply(r, doc, ctx)]


def _apply(r: Rule, doc: Any, ctx: Context) -> list[Finding]:
    """A value of an unexpected shape is the schema's finding to report; the rule says it could not run."""
    try:
        return r.check(doc, ctx)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        return [Finding(doc.name, None, None, r.id, ERROR,
                        f"could not apply the rule: a value has an unexpected shape ({type(exc).__name__}: {exc})")]
