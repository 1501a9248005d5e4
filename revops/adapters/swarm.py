"""A Docker Swarm cluster: its manager's API through the docker SDK (nodes, services, tasks,
networks, secrets, service logs), its registry over HTTP (the distribution API v2), and
`docker stack deploy` through the CLI (the one place the stack file's compose format is turned
into service specs, as an operator's own deploy would).

The one place revops talks to a cluster. A manager that cannot be reached, or an engine that
is not a Swarm manager, is an AdapterUnavailable naming the address; a request the manager
refuses is a CheckFailed with the manager's own words. Results are plain dataclasses.

Words are Swarm's own (docker/api/types/swarm): a task's `state` is one of new, pending,
assigned, accepted, preparing, starting, running, complete, shutdown, failed, rejected,
remove, orphaned; a node's `state` unknown, down, ready, disconnected; a service's update
state updating, paused, completed, rollback_started, rollback_paused, rollback_completed.
A task whose container has a health check is reported `running` only once Docker judged it
healthy, and is failed when it turns unhealthy (daemon/cluster/executor/container/controller.go):
on a cluster, `running` is the engine's health verdict.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence
from urllib.parse import quote

from revops.adapters import httpx_loader, proc
from revops.errors import AdapterUnavailable, CheckFailed

if TYPE_CHECKING:
    import docker

START_HINT = ("check swarm.manager in revops.yaml (or DOCKER_HOST): it must reach a Swarm manager's "
              "Docker API (for the test bed: scripts/testbed start)")
REGISTRY_HINT = "check swarm.registry in revops.yaml and that the registry runs"
# What a registry answers a manifest HEAD with for an image pushed by docker (v2 schema 2),
# an OCI image, or a multi-platform list.
MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))
STACK_LABEL = "com.docker.stack.namespace"  # what `docker stack deploy` labels a stack's objects with
# How long a refused network create may wait for the network to show in the manager's list.
NETWORK_SETTLE_S = 15.0
TASK_ENDED = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    role: str  # manager, worker
    state: str  # ready, down, unknown, disconnected
    availability: str  # active, pause, drain
    address: str  # where the node is reached (its published ports answer there)
    message: str  # the manager's word on the state ("heartbeat failure", ...)
    updated_at: str  # when the manager last changed its record of the node
    leader: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self.availability == "active"


@dataclass(frozen=True)
class Task:
    id: str
    service_id: str
    slot: int | None  # replicated services; None for global ones
    node_id: str | None
    desired_state: str
    state: str
    message: str
    error: str | None
    timestamp: str  # when the task reached `state`
    created_at: str
    exit_code: int | None = None
    image: str = ""
    secrets: tuple[str, ...] = ()  # the names of the Docker secrets its spec mounts

    @property
    def ended(self) -> bool:
        return self.state in TASK_ENDED


@dataclass(frozen=True)
class PublishedPort:
    target: int
    published: int
    protocol: str
    mode: str  # host or ingress


@dataclass(frozen=True)
class SecretRef:
    """A Docker secret as a service's spec mounts it (ContainerSpec.Secrets[]): the secret's
    name and id, and the file it becomes under /run/secrets with its owner and mode."""

    name: str
    id: str
    file: str
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444


@dataclass(frozen=True)
class Service:
    id: str
    name: str  # <stack>_<service>
    labels: dict[str, str]  # the service's own labels (deploy.labels)
    container_labels: dict[str, str]  # labels of its containers (the compose service's labels)
    mode: str  # replicated, global
    replicas: int | None  # desired replicas of a replicated service; None for a global one
    image: str
    ports: tuple[PublishedPort, ...]
    update_state: str | None  # updating, paused, completed, rollback_started, rollback_paused, rollback_completed
    update_message: str | None
    update_started: str | None
    update_completed: str | None
    created_at: str
    updated_at: str
    has_healthcheck: bool = False
    secrets: tuple[SecretRef, ...] = ()


@dataclass(frozen=True)
class Info:
    engine: str  # the manager's engine version
    node_id: str
    node_address: str
    is_manager: bool


def address(manager: str | None) -> str:
    return manager or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(manager: str | None = None, timeout: float = 30) -> "Cluster":
    """A Cluster for the manager at `manager` (unix://, tcp://, ssh://; None: DOCKER_HOST).
    AdapterUnavailable when nothing answers there, or the engine is not a Swarm manager."""
    import docker
    import requests.exceptions

    where = address(manager)
    try:
        if manager is None:
            client = docker.from_env(timeout=int(timeout))
        else:
            client = docker.DockerClient(base_url=manager, timeout=int(timeout))
        client.ping()
        info = client.api.info()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise AdapterUnavailable(f"Swarm manager at {where}: {_reason(exc)}", hint=START_HINT) from None
    swarm = info.get("Swarm") or {}
    if not swarm.get("ControlAvailable"):
        client.close()
        state = swarm.get("LocalNodeState") or "inactive"
        raise AdapterUnavailable(f"the engine at {where} is not a Swarm manager (swarm state {state})",
                                 hint=START_HINT)
    return Cluster(client, where, Info(info.get("ServerVersion", ""), swarm.get("NodeID", ""),
                                       swarm.get("NodeAddr", ""), True))


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())


class Cluster:
    """The manager's API: reads (nodes, services, tasks, logs) and the few writes revops makes
    itself (the overlay network, secrets, removing a service). Deploying goes through
    `stack_deploy`, the CLI's conversion of the stack file."""

    def __init__(self, client: "docker.DockerClient", where: str, info: Info) -> None:
        self.client = client
        self.api = client.api
        self.where = where
        self.info = info

    def close(self) -> None:
        self.client.close()

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import docker.errors
        import requests.exceptions

        try:
            yield
        except docker.errors.APIError as exc:
            raise CheckFailed(f"Swarm manager at {self.where}: {what}: {_reason(exc)}") from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise AdapterUnavailable(f"Swarm manager at {self.where}: {what}: {_reason(exc)}",
                                     hint=START_HINT) from None

    # -- reading ------------------------------------------------------------------------

    def nodes(self) -> list[Node]:
        with self._errors("list nodes"):
            rows = self.api.nodes()
        return sorted((_node(r) for r in rows), key=lambda n: n.hostname)

    def services(self, labels: Sequence[str] = ()) -> list[Service]:
        """Services carrying every label given ("key" or "key=value"); one request."""
        filters = {"label": list(labels)} if labels else None
        with self._errors("list services"):
            rows = self.api.services(filters=filters)
        return [_service(r) for r in rows]

    def service(self, name: str) -> Service | None:
        import docker.errors

        with self._errors(f"inspect service {name}"):
            try:
                return _service(self.api.inspect_service(name))
            except docker.errors.NotFound:
                return None

    def tasks(self, service: str | None = None, labels: Sequence[str] = ()) -> list[Task]:
        """Tasks of one service (by name or id), or of every service carrying `labels`;
        the manager keeps a few ended tasks per slot (its task history) beside the live ones."""
        filters: dict[str, Any] = {}
        if service is not None:
            filters["service"] = service
        if labels:
            filters["label"] = list(labels)
        with self._errors(f"list tasks{f' of {service}' if service else ''}"):
            rows = self.api.tasks(filters=filters)
        return sorted((_task(r) for r in rows), key=lambda t: (t.created_at, t.id))

    def logs_tail(self, service: str, lines: int = 15) -> list[str]:
        """The last lines of the service's tasks' output, oldest first (`docker service logs`)."""
        with self._errors(f"logs of service {service}"):
            raw = self.api.service_logs(service, stdout=True, stderr=True, tail=lines, follow=False)
            data = b"".join(raw) if not isinstance(raw, (bytes, bytearray)) else bytes(raw)
        return data.decode("utf-8", errors="replace").splitlines()

    # -- changing -----------------------------------------------------------------------

    def remove_service(self, name: str) -> bool:
        """Remove the service (its tasks stop on every node); False when there was none."""
        import docker.errors

        with self._errors(f"remove service {name}"):
            try:
                self.api.remove_service(name)
            except docker.errors.NotFound:
                return False
        return True

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """The attachable overlay network `name`, created when missing; CheckFailed when a
        network of that name exists with another driver or scope. Returns what was done.

        Two creators can race (a run's parallel preflights, a second operator): the manager
        refuses the second create ("already exists"), which then finds the first one's."""
        import docker.errors

        with self._errors(f"network {name}"):
            net = self._network(name)
            if net is None:
                try:
                    self.api.create_network(name, driver="overlay", attachable=True, labels=dict(labels),
                                            check_duplicate=True)
                    return f"network {name} created (overlay, attachable)"
                except docker.errors.APIError:
                    net = self._network_after_conflict(name)
                    if net is None:
                        raise
            if net.get("Driver") != "overlay" or net.get("Scope") != "swarm":
                raise CheckFailed(f"network {name} exists as a {net.get('Scope')} {net.get('Driver')} "
                                  "network; the stack needs a swarm-scoped overlay network of that name",
                                  hint=f"remove or rename the other network {name}")
            return f"network {name} present"

    def _network(self, name: str) -> dict | None:
        found = [n for n in self.api.networks(names=[name]) if n.get("Name") == name]
        return found[0] if found else None

    def _network_after_conflict(self, name: str) -> dict | None:
        """The network a refused create says exists. On the test bed a manager was seen to
        refuse the create while its list, read just before, lacked the network (why is not
        known: an engine restart did not reproduce it): look again, by name in the swarm scope
        too, for NETWORK_SETTLE_S seconds."""
        import docker.errors

        end = time.monotonic() + NETWORK_SETTLE_S
        while True:
            net = self._network(name)
            if net is None:
                try:
                    net = self.api.inspect_network(name, scope="swarm")
                except docker.errors.NotFound:
                    net = None
            if net is not None or time.monotonic() >= end:
                return net
            time.sleep(0.5)

    def secret_names(self, labels: Sequence[str] = ()) -> set[str]:
        filters = {"label": list(labels)} if labels else None
        with self._errors("list secrets"):
            return {s["Spec"]["Name"] for s in self.api.secrets(filters=filters)}

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> None:
        """A Docker secret (kept encrypted in the managers' Raft log; given to a task as a
        file under /run/secrets, never in its environment or `docker inspect`)."""
        with self._errors(f"create secret {name}"):
            self.api.create_secret(name, data, labels=dict(labels))

    def secret_id(self, name: str) -> str | None:
        """The id of the secret named exactly `name` (the API's name filter also matches
        prefixes); None when there is none."""
        with self._errors(f"inspect secret {name}"):
            rows = self.api.secrets(filters={"name": name})
        return next((r["ID"] for r in rows if (r.get("Spec") or {}).get("Name") == name), None)

    def remove_secret(self, name: str) -> bool:
        """Remove the secret `name`; False when there was none. The manager refuses (CheckFailed
        with its words) while a service's spec mounts it."""
        found = self.secret_id(name)
        if found is None:
            return False
        with self._errors(f"remove secret {name}"):
            self.api.remove_secret(found)
        return True

    def swap_secret(self, service: str, new: SecretRef) -> None:
        """Update `service` so that the file `new.file` comes from the secret `new` instead of
        whatever secret gave it before; the service's other secrets and the rest of its spec
        stay as they are (the SDK's Service.update fetches the current spec and sends it back
        with the secrets replaced, under the spec's version: a concurrent change is refused).
        Swarm then replaces the tasks as the spec's UpdateConfig says (parallelism, order,
        monitor, failure_action), as `docker service update --secret-rm --secret-add` would."""
        import docker.types

        with self._errors(f"update service {service}"):
            model = self.client.services.get(service)
            spec = model.attrs["Spec"]["TaskTemplate"].get("ContainerSpec") or {}
            refs = [docker.types.SecretReference(r["SecretID"], r["SecretName"], r["File"]["Name"],
                                                 r["File"].get("UID"), r["File"].get("GID"),
                                                 r["File"].get("Mode", 0o444))
                    for r in spec.get("Secrets") or [] if (r.get("File") or {}).get("Name") != new.file]
            refs.append(docker.types.SecretReference(new.id, new.name, new.file, new.uid, new.gid, new.mode))
            model.update(secrets=refs)


def _node(row: Mapping[str, Any]) -> Node:
    spec, status = row.get("Spec") or {}, row.get("Status") or {}
    manager = row.get("ManagerStatus") or {}
    addr = status.get("Addr") or ""
    if addr in ("", "0.0.0.0") and manager.get("Addr"):
        addr = manager["Addr"].rsplit(":", 1)[0]  # a manager may report 0.0.0.0 (moby#35437)
    return Node(
        id=row["ID"], hostname=(row.get("Description") or {}).get("Hostname", ""),
        role=spec.get("Role", ""), state=status.get("State", "unknown"),
        availability=spec.get("Availability", ""), address=addr, message=status.get("Message", ""),
        updated_at=row.get("UpdatedAt", ""), leader=bool(manager.get("Leader")),
        labels=dict(spec.get("Labels") or {}),
    )


def _task(row: Mapping[str, Any]) -> Task:
    status = row.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    spec = ((row.get("Spec") or {}).get("ContainerSpec") or {})
    return Task(
        id=row["ID"], service_id=row.get("ServiceID", ""), slot=row.get("Slot"), node_id=row.get("NodeID"),
        desired_state=row.get("DesiredState", ""), state=status.get("State", ""),
        message=status.get("Message", ""), error=status.get("Err"), timestamp=status.get("Timestamp", ""),
        created_at=row.get("CreatedAt", ""), exit_code=container.get("ExitCode"),
        image=spec.get("Image", ""),
        # The task's own spec: during a rolling update old and new tasks mount different secrets.
        secrets=tuple(r["SecretName"] for r in spec.get("Secrets") or [] if r.get("SecretName")),
    )


def _service(row: Mapping[str, Any]) -> Service:
    spec = row.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    update = row.get("UpdateStatus") or {}
    ports = ((row.get("Endpoint") or {}).get("Ports") or ((spec.get("EndpointSpec") or {}).get("Ports")) or [])
    health = container.get("Healthcheck") or {}
    return Service(
        id=row["ID"], name=spec.get("Name", ""), labels=dict(spec.get("Labels") or {}),
        container_labels=dict(container.get("Labels") or {}),
        mode="global" if "Global" in mode else "replicated",
        replicas=None if "Global" in mode else int((mode.get("Replicated") or {}).get("Replicas", 0)),
        image=container.get("Image", ""),
        ports=tuple(PublishedPort(int(p.get("TargetPort", 0)), int(p.get("PublishedPort", 0)),
                                  p.get("Protocol", "tcp"), p.get("PublishMode", "ingress")) for p in ports),
        update_state=update.get("State"), update_message=update.get("Message"),
        update_started=update.get("StartedAt"), update_completed=update.get("CompletedAt"),
        created_at=row.get("CreatedAt", ""), updated_at=row.get("UpdatedAt", ""),
        has_healthcheck=bool(health.get("Test")) and health.get("Test") != ["NONE"],
        secrets=tuple(_secret_ref(r) for r in container.get("Secrets") or []),
    )


def _secret_ref(row: Mapping[str, Any]) -> SecretRef:
    file = row.get("File") or {}
    return SecretRef(row.get("SecretName", ""), row.get("SecretID", ""), file.get("Name", ""),
                     str(file.get("UID", "0")), str(file.get("GID", "0")), int(file.get("Mode", 0o444)))


# ---------------------------------------------------------------------------------------
# The stack CLI


def stack_deploy_argv(cli: str, stack_file: str, stack: str, *, detach_flag: bool) -> list[str]:
    """`docker stack deploy` of one stack file, without pruning (other services of the stack
    stay as they are), resolving each image's digest from the registry so every node runs the
    same bytes. A CLI of Docker 23+ waits for convergence unless told --detach=true; 20.10's has
    no such flag and never waits: revops waits itself, with its own reasons."""
    argv = [cli, "stack", "deploy", "--compose-file", stack_file, "--resolve-image", "always"]
    if detach_flag:
        argv.append("--detach=true")
    return argv + [stack]


def stack_deploy(cli: str, manager: str | None, stack_file: str, stack: str, timeout: float = 300) -> str:
    """Deploy `stack_file` as stack `stack` on the manager; returns the CLI's own words.
    CheckFailed with its output when it refuses (a bad file, an image not found, ...)."""
    env = dict(os.environ)
    if manager is not None:
        env["DOCKER_HOST"] = manager
    helped = proc.run([cli, "stack", "deploy", "--help"], env=env, check=False, timeout=60)
    argv = stack_deploy_argv(cli, stack_file, stack, detach_flag="--detach" in helped.stdout)
    done = proc.run(argv, env=env, check=False, timeout=timeout)
    words = " ".join((done.stdout + " " + done.stderr).split())
    if done.returncode != 0:
        raise CheckFailed(f"{cli} stack deploy {stack} exited {done.returncode}: {words or 'no output'}")
    return words


# ---------------------------------------------------------------------------------------
# The registry (distribution API v2)


class Registry:
    """A registry's HTTP API: is an image there? `insecure` registries speak plain HTTP (as
    the engines' "insecure-registries" allows); others HTTPS."""

    def __init__(self, address: str, *, insecure: bool = False, timeout: float = 10) -> None:
        httpx = httpx_loader.load()
        self.address = address
        self.base = f"{'http' if insecure else 'https'}://{address}/v2"
        self._client = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def check(self) -> str:
        """That the registry answers its API (GET /v2/: 200, or 401 when it wants a login);
        AdapterUnavailable naming the address otherwise. Returns what it said."""
        httpx = httpx_loader.load()
        try:
            answer = self._client.get(f"{self.base}/")
        except httpx.HTTPError as exc:
            raise AdapterUnavailable(f"registry {self.address} does not answer ({self.base}/): "
                                     f"{_reason(exc) or type(exc).__name__}", hint=REGISTRY_HINT) from None
        if answer.status_code not in (200, 401):
            raise AdapterUnavailable(f"registry {self.address}: GET {self.base}/ answered HTTP {answer.status_code}: "
                                     "not a registry's v2 API", hint=REGISTRY_HINT)
        return f"registry {self.address} answers (HTTP {answer.status_code})"

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """The digest of repository:tag in the registry; None when it has no such image.
        AdapterUnavailable when the registry does not answer; CheckFailed when it refuses."""
        httpx = httpx_loader.load()
        url = f"{self.base}/{quote(repository, safe='/')}/manifests/{quote(tag, safe='')}"
        try:
            answer = self._client.head(url, headers={"Accept": MANIFEST_TYPES})
        except httpx.HTTPError as exc:
            raise AdapterUnavailable(f"registry {self.address}: {_reason(exc) or type(exc).__name__}",
                                     hint=REGISTRY_HINT) from None
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise CheckFailed(f"registry {self.address}: HEAD {repository}:{tag}: HTTP {answer.status_code}",
                              hint=REGISTRY_HINT)
        return answer.headers.get("Docker-Content-Digest") or "present"


def split_reference(image: str, registry: str) -> tuple[str, str]:
    """'REGISTRY/revflow/x:tag' -> ('revflow/x', 'tag'); ValueError when the image is not
    in `registry` or has no tag."""
    prefix = registry.rstrip("/") + "/"
    if not image.startswith(prefix):
        raise ValueError(f"{image} is not in registry {registry}")
    name, _, tag = image[len(prefix):].partition("@")[0].rpartition(":")
    if not name or "/" in tag:
        raise ValueError(f"{image} has no tag")
    return name, tag
