"""Reading what is validated: compose files (YAML, with the line of every key) and Dockerfiles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from revops.validate.findings import ERROR, Finding

COMPOSE_SUFFIXES = (".yml", ".yaml")


@dataclass
class ComposeDoc:
    path: Path
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)  # dotted key -> 1-based line

    @property
    def name(self) -> str:
        return str(self.path)

    def services(self) -> dict[str, dict[str, Any]]:
        services = self.data.get("services")
        if not isinstance(services, dict):
            return {}
        return {str(k): v if isinstance(v, dict) else {} for k, v in services.items()}

    def line(self, key: str) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rsplit(".", 1)[0] if "." in key else ""
        return None

    def finding(self, service: str | None, key: str, rule: str, severity: str, message: str) -> Finding:
        return Finding(self.name, service, key, rule, severity, message, self.line(key))


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str  # upper case: FROM, RUN, CMD, USER, ...
    args: str


@dataclass
class DockerfileDoc:
    path: Path
    instructions: list[Instruction]

    @property
    def name(self) -> str:
        return str(self.path)


def load_compose(path: Path) -> ComposeDoc | Finding:
    """A compose document, or the finding that says why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        return Finding(str(path), None, None, "unreadable", ERROR, f"cannot read: {exc}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return Finding(str(path), None, None, "yaml-invalid", ERROR, f"not valid YAML: {problem}",
                       mark.line + 1 if mark else None)
    if not isinstance(data, dict):
        return Finding(str(path), None, None, "yaml-invalid", ERROR, "expected a mapping at the top level", 1)
    doc = ComposeDoc(path, data)
    if node is not None:
        _index(node, "", doc.lines)
    return doc


def _index(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            lines[key] = key_node.start_mark.line + 1
            _index(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = f"{prefix}.{i}"
            lines[key] = item.start_mark.line + 1
            _index(item, key, lines)


_CONTINUATION = re.compile(r"\\\s*$")


def load_dockerfile(path: Path) -> DockerfileDoc | Finding:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Finding(str(path), None, None, "unreadable", ERROR, f"cannot read: {exc}")
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped, as docker does
        if not pending:
            start = number
        if _CONTINUATION.search(raw):
            pending.append(_CONTINUATION.sub("", raw))
            continue
        pending.append(raw)
        joined = " ".join(part.strip() for part in pending)
        keyword, _, args = joined.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    return DockerfileDoc(path, instructions)


def is_dockerfile(path: Path) -> bool:
    return path.name == "Dockerfile" or path.name.endswith(".Dockerfile") or path.name.startswith("Dockerfile.")


def collect(paths: list[Path]) -> tuple[list[Path], list[Path], list[Finding]]:
    """Compose files and Dockerfiles under the given files or directories (hidden dirs skipped)."""
    compose: list[Path] = []
    dockerfiles: list[Path] = []
    missing: list[Finding] = []
    for given in paths:
        if given.is_file():
            (dockerfiles if is_dockerfile(given) else compose).append(given)
        elif given.is_dir():
            for path in sorted(given.rglob("*")):
                rel = path.relative_to(given).parts
                if any(part.startswith(".") for part in rel[:-1]) or not path.is_file():
                    continue
                if path.suffix in COMPOSE_SUFFIXES and len(rel) == 1:
                    compose.append(path)
                elif is_dockerfile(path):
                    dockerfiles.append(path)
        else:
            missing.append(Finding(str(given), None, None, "path-missing", ERROR, "no such file or directory"))
    return sorted(set(compose)), sorted(set(dockerfiles)), missing
