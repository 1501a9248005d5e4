"""Reading what is validated: compose files (YAML, with the line of every key) and Dockerfiles."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revops import regularfile, yamlsafe
from revops.generate.spec import GENERATED_MARK
from revops.validate.findings import ERROR, Finding

COMPOSE_SUFFIXES = (".yml", ".yaml")


@dataclass
class ComposeDoc:
    path: Path
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)  # dotted key -> 1-based line
    generated: bool = False  # the file starts with generate's mark: revops wrote it
    stack: bool = False  # a stack file, for `docker stack deploy` (is_stack_file)

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
    """A compose document, or the finding that says why it cannot be read: read by the
    bounded loader (revops.yamlsafe), so a FIFO, a YAML bomb, a document nested too deep or
    a duplicate key is a finding at its line (rule yaml-invalid, yaml-bomb, yaml-too-deep,
    duplicate-key, not-regular-file, ...), never a hang or a crash."""
    try:
        text = regularfile.read_text(path, yamlsafe.DEFAULT_MAX_BYTES)
        doc = yamlsafe.load_text(text, str(path))
    except regularfile.FileRefused as exc:
        return Finding(str(path), None, None, exc.rule, ERROR, exc.reason, None)
    except yamlsafe.YamlError as exc:
        return Finding(str(path), None, exc.key, exc.rule, ERROR, exc.detail, exc.line)
    if not isinstance(doc.data, dict):
        return Finding(str(path), None, None, "yaml-invalid", ERROR, "expected a mapping at the top level", 1)
    return ComposeDoc(path, doc.data, doc.key_lines(".{}"), text.startswith(GENERATED_MARK),
                      stack=is_stack_file(path))


STACK_NAMES = ("stack.yml", "stack.yaml", "docker-stack.yml", "docker-stack.yaml")


def is_stack_file(path: Path) -> bool:
    """A compose document meant for `docker stack deploy`, by its name: `*.stack.yml` (what
    revops generate writes for a Swarm target), `stack.yml` or `docker-stack.yml`."""
    return path.name in STACK_NAMES or path.name.endswith((".stack.yml", ".stack.yaml"))


_CONTINUATION = re.compile(r"\\\s*$")


def load_dockerfile(path: Path) -> DockerfileDoc | Finding:
    try:
        text = regularfile.read_text(path, yamlsafe.DEFAULT_MAX_BYTES)
    except regularfile.FileRefused as exc:
        return Finding(str(path), None, None, exc.rule, ERROR, exc.reason)
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
                if any(part.startswith(".") for part in rel[:-1]) or path.is_dir():
                    continue
                if not path.is_file():
                    if path.suffix in COMPOSE_SUFFIXES or is_dockerfile(path):
                        missing.append(_not_regular(path))
                    continue
                if path.suffix in COMPOSE_SUFFIXES and len(rel) == 1:
                    compose.append(path)
                elif is_dockerfile(path):
                    dockerfiles.append(path)
        elif os.path.lexists(given):
            missing.append(_not_regular(given))
        else:
            missing.append(Finding(str(given), None, None, "path-missing", ERROR, "no such file or directory"))
    return sorted(set(compose)), sorted(set(dockerfiles)), missing


def _not_regular(path: Path) -> Finding:
    """A FIFO, socket, device or dangling link where a file to validate should be: never opened."""
    try:
        what = regularfile.kind(os.stat(path).st_mode)
    except OSError as exc:
        what = exc.strerror or str(exc)
    return Finding(str(path), None, None, "not-regular-file", ERROR, f"not a regular file ({what}); not read")
