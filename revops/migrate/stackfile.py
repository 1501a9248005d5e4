"""Reading the generated stack file of a Swarm target: which unit each service replaces, what
it deploys, and the one-service stack file revops hands `docker stack deploy` per cutover.

Swarm deploys a whole stack file at once and orders nothing; revops cuts over one service at a
time, so each deploy is the stack file cut down to that service (with the networks and
secrets it names), deployed without pruning: the stack's other services stay as they are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from revops import yamlsafe
from revops.errors import ConfigError
from revops.migrate.composefile import labels


@dataclass(frozen=True)
class StackService:
    name: str  # the service's key in the stack file; on the cluster: <stack>_<name>
    unit: str
    image: str | None
    mode: str  # replicated, global
    replicas: int | None
    max_per_node: int | None
    published: tuple[int, ...]  # ports published in mode host
    secrets: tuple[str, ...]  # names of the external secrets it mounts
    body: dict[str, Any]  # the service as the file has it

    def nodes_needed(self) -> int:
        """Ready nodes the service needs to run every replica: one for a global service (it
        runs where nodes are), ceil(replicas / max_replicas_per_node) otherwise."""
        if self.mode == "global" or not self.replicas:
            return 1
        return math.ceil(self.replicas / self.max_per_node) if self.max_per_node else 1


@dataclass(frozen=True)
class StackFile:
    path: str
    data: dict[str, Any]

    @cached_property
    def services(self) -> dict[str, StackService]:
        """{unit: StackService} by the revops.unit labels."""
        found: dict[str, StackService] = {}
        for name, body in (self.data.get("services") or {}).items():
            if not isinstance(body, dict):
                raise ConfigError(self.path, f"services.{name}", "expected a mapping")
            unit = labels(body).get("revops.unit")
            if unit:
                found[unit] = _service(str(name), unit, body)
        return found

    def network_names(self, service: StackService) -> list[str]:
        """The cluster names of the networks the service joins (their `name:`, else their key)."""
        declared = self.data.get("networks") or {}
        keys = service.body.get("networks") or []
        keys = list(keys) if isinstance(keys, (list, dict)) else []
        return [str((declared.get(k) or {}).get("name") or k) for k in keys]

    def single(self, service: StackService) -> str:
        """The stack file cut down to `service`: what one cutover deploys (JSON, which is YAML)."""
        networks = self.data.get("networks") or {}
        secrets = self.data.get("secrets") or {}
        keys = service.body.get("networks") or []
        doc: dict[str, Any] = {"version": self.data.get("version", "3.9"),
                               "services": {service.name: service.body}}
        if keys:
            doc["networks"] = {k: networks.get(k) for k in keys}
        if service.secrets:
            doc["secrets"] = {k: secrets.get(k) for k in service.secrets}
        return json.dumps(doc, indent=2, sort_keys=True)


def _service(name: str, unit: str, body: dict[str, Any]) -> StackService:
    deploy = body.get("deploy") if isinstance(body.get("deploy"), dict) else {}
    placement = deploy.get("placement") if isinstance(deploy.get("placement"), dict) else {}
    ports = body.get("ports") if isinstance(body.get("ports"), list) else []
    published = tuple(int(p["published"]) for p in ports
                      if isinstance(p, dict) and p.get("mode") == "host" and str(p.get("published", "")).isdigit())
    secrets = tuple(str(s.get("source") if isinstance(s, dict) else s) for s in body.get("secrets") or [])
    image = body.get("image")
    replicas = deploy.get("replicas")
    per_node = placement.get("max_replicas_per_node")
    return StackService(name, unit, image if isinstance(image, str) else None, str(deploy.get("mode", "replicated")),
                        replicas if isinstance(replicas, int) else (None if deploy.get("mode") == "global" else 1),
                        per_node if isinstance(per_node, int) else None, published, secrets, body)


def read(path: str | Path) -> StackFile:
    """The stack file at `path`, read by revops' one YAML loader; ConfigError when it is missing
    or not a mapping of services."""
    path = str(path)
    if not Path(path).is_file():
        raise ConfigError(path, None, "no stack file: run `revops generate` with a `swarm:` block in revops.yaml")
    doc = yamlsafe.load_file(path)
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("services"), dict):
        raise ConfigError(path, "services", "expected a stack file (a mapping with services:)", doc.line("services"))
    return StackFile(path, doc.data)
