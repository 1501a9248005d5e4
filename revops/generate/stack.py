"""The Swarm target's stack file as data: what each generated service becomes on a cluster.

Pure: the plan generate made for compose (revops.generate.spec), the `swarm:` block of
revops.yaml and the digests of the env files come in; StackServices come out, which the
template `stack-file.yml.j2` lays out for `docker stack deploy` (compose file format 3.9, the
last one the docker CLI's stack command reads; `deploy.resources.limits.pids` needs it).

Decisions, and why:
- Images by their registry tag (`REGISTRY/revflow/SERVICE:TAG`): a worker pulls what the
  manager names; `revops build --push` puts them there.
- `endpoint_mode: dnsrr`: services are reached by name over the overlay network. The default
  virtual IP needs the kernel's IPVS, which not every host has; DNS round robin needs nothing.
- Only the units under `swarm.publish` publish their API port, in `mode: host`: the ingress
  routing mesh needs IPVS too, and a port published in host mode answers on each node that
  runs a task of the service, on every interface of that node. Such a service runs one task
  per node (`deploy.mode: global`), so it answers on every node's address.
- `update_config.order`: start-first for a service whose API port is not published (two tasks
  of it may serve at once); stop-first for a published one (the node's port is held by the old
  task) and for a port-less one (a worker or scheduler must not run twice).
- `monitor` is the health check's verdict window (config.Health.verdict_window_s): shorter,
  and Swarm would call an update done before the health check could fail it.
- Reservations are a share of the limits (half the memory, a quarter of the CPUs), so the
  scheduler places a task only where it can start, without reserving a whole limit per task.
- What a service may read travels as it does on compose: one secret per service, mounted at
  /run/secrets/<service>.env (the compose secret's name, spec.secret) for its own uid, mode
  0400, which revops' entrypoint in the image loads before it execs the service's argv. On a
  cluster it is a Docker secret per version of that content (revops.secrets.bundle, the same
  bytes compose's copy holds): its name carries their digest (a changed env file or value is a
  new secret, so a new deploy). The values never
  stand in the stack file, a service spec or `docker inspect` (an `env_file:` would put them
  in the service's environment).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from revops.config import Config, Placement, Swarm
from revops.configschema import size_bytes
from revops.generate.spec import SERVICE, Plan, ServiceSpec

STACK_VERSION = "3.9"
STACK_SUFFIX = ".stack.yml"  # a suite's name has no dot, so a suite's file never clashes with it
SECRET_MODE = 0o400
RESTART_DELAY = "5s"
MIN_MEMORY_MB = 6  # Docker refuses less
SECRET_LIMIT = 500 * 1024  # a Docker secret holds at most 500 KB (docker secret create)
_SECRET_STEM = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True)
class EnvSecret:
    name: str  # the secret's name on the cluster and its key in the stack file
    target: str  # the file under /run/secrets in the container: the compose secret's name
    host_paths: tuple[str, ...]  # the env files it holds, as the host names them, in order
    digest: str | None  # sha256 of their bytes (env_digest); None when one could not be read


@dataclass(frozen=True)
class StackService:
    spec: ServiceSpec
    image: str  # by its registry tag
    mode: str  # replicated, global
    replicas: int | None  # None for a global service
    published: bool
    order: str  # update and rollback order: start-first, stop-first
    placement: Placement
    reserve_memory: str
    reserve_cpus: str
    limit_cpus: str
    secret: EnvSecret | None


@dataclass(frozen=True)
class StackSettings:
    registry: str
    stack: str
    network: str
    monitor: str  # update/rollback monitor, a duration
    restart_delay: str = RESTART_DELAY

    @property
    def filename(self) -> str:
        return stack_file_name(self.stack)


def stack_file_name(stack: str) -> str:
    return f"{stack}{STACK_SUFFIX}"


def settings(config: Config, swarm: Swarm) -> StackSettings:
    return StackSettings(swarm.registry, swarm.stack, config.network,
                         _duration(config.health.verdict_window_s()))


def registry_image(registry: str, image: str) -> str:
    """The local tag `revflow/x:TAG` as the cluster pulls it: `REGISTRY/revflow/x:TAG`."""
    return f"{registry.rstrip('/')}/{image}"


def secret_name(compose_secret: str, digest: str | None) -> str:
    """`revpublish.env-<12 hex>`: the compose secret's name (what an operator recognises), then
    the digest of its content (what makes each version its own secret). A Docker secret's name
    is at most 64 characters of [a-zA-Z0-9_.-]."""
    stem = _SECRET_STEM.sub("-", compose_secret.lower()).strip("-.") or "env"
    return f"{stem[:48]}-{digest[:12] if digest else 'unread'}"


def env_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plan_stack(plan: Plan, config: Config, swarm: Swarm, env_digests: dict[str, str | None]) -> list[StackService]:
    """Every generated long-running service as the cluster runs it, in the plan's order;
    `env_digests` maps each service's name to the digest of its secret's content (None: not
    readable). Jobs and set-up steps are left out: a stack has no `profiles:` (stack deploy
    would start a job as a service and restart it for ever) and no order between services;
    they stay with the compose target."""
    out = []
    for suite in plan.suites:
        placement = swarm.placement_of(suite.name)
        for spec in suite.services:
            if spec.kind != SERVICE:
                continue
            published = spec.port is not None and swarm.publishes(spec.unit)
            digest = env_digests.get(spec.name)
            secret = (EnvSecret(secret_name(spec.secret, digest), spec.secret, spec.env_file_hosts, digest)
                      if spec.secret else None)
            out.append(StackService(
                spec=spec, image=registry_image(swarm.registry, spec.image),
                mode="global" if published else "replicated",
                replicas=None if published else placement.replicas, published=published,
                order="start-first" if spec.port is not None and not published else "stop-first",
                placement=placement, reserve_memory=_half_memory(spec.mem_limit),
                reserve_cpus=_cpus(spec.cpus / 4), limit_cpus=_cpus(spec.cpus),
                secret=secret))
    return out


def secrets_of(services: list[StackService]) -> list[EnvSecret]:
    """Every secret the stack file declares, once, by name."""
    seen = {s.secret.name: s.secret for s in services if s.secret is not None}
    return [seen[k] for k in sorted(seen)]


def _half_memory(limit: str) -> str:
    return f"{max(MIN_MEMORY_MB, size_bytes(limit) // 2 // (1 << 20))}M"


def _cpus(value: float) -> str:
    return f"{max(0.01, round(value, 2)):g}"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole}s" if whole == seconds else f"{int(seconds * 1000)}ms"
