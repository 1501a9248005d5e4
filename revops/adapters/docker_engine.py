"""The Docker Engine through the docker SDK: the one place revops talks to dockerd.

`connect()` reads the engine's address from the environment (DOCKER_HOST, as the docker CLI
does) and negotiates the API version, so a 20.10 engine and a newer one both work. An engine
that cannot be reached is an AdapterUnavailable naming the address; a request the engine
refuses is a CheckFailed carrying the engine's own explanation. Results are plain dataclasses.

Containers are named by id, by name, or by compose service (the `com.docker.compose.service`
label compose puts on what it creates), because the verbs know services, not ids.

The SDK (with requests and urllib3 under it) is imported on first use, not with this module:
`revops status` lists and inspects containers through EngineReader, straight over the
engine's HTTP API with httpx, and never pays those imports.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import quote, urlsplit

from revops.adapters import httpx_loader
from revops.errors import AdapterUnavailable, CheckFailed

if TYPE_CHECKING:
    import docker
    import httpx

COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
BUILD_TAIL_LINES = 30
REMOVAL_WAIT_S = 30.0  # a removal already under way (a killed run's) ends within this
START_HINT = "start dockerd or set DOCKER_HOST (for the test bed: scripts/testbed start)"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EngineVersion:
    version: str
    api_version: str
    os: str
    arch: str


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    image_id: str | None
    log_tail: tuple[str, ...]


@dataclass(frozen=True)
class ContainerSummary:
    """One row of a container listing: what `docker ps` knows without an inspect."""

    id: str
    name: str
    image: str
    state: str  # created, running, restarting, exited, paused, dead
    status: str  # the engine's human text, e.g. "Up 3 minutes (healthy)"
    health: str | None  # healthy, unhealthy, starting; None when the image has no check
    labels: dict[str, str] = field(default_factory=dict)
    # The listing does not carry the restart count; container_state() reads it.
    restart_count: int | None = None


@dataclass(frozen=True)
class HealthProbe:
    exit_code: int
    output: str
    start: str
    end: str


@dataclass(frozen=True)
class ContainerCopy:
    """How a container was created (its inspect's Config and HostConfig), to create another
    exactly like it: the very image (by id), command, entrypoint, environment, user, working
    directory, mounts, limits and security options. Its environment holds the values of the
    service's env files: it is never printed, logged or journaled (repr leaves it out)."""

    source: str  # the container's id
    image_id: str  # sha256:..., not the tag: the very image, even if the tag moves
    command: tuple[str, ...]  # Config.Cmd
    entrypoint: tuple[str, ...]  # Config.Entrypoint
    # container port -> host port, of the tcp ports it publishes ({8550: 8550})
    published: dict[int, int] = field(default_factory=dict)
    networks: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)
    host_config: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ContainerState:
    """What an inspect says about one container (State.*, including State.Health)."""

    id: str
    name: str
    image: str
    status: str
    exit_code: int | None
    health: str | None
    failing_streak: int | None
    last_probe: HealthProbe | None
    restart_count: int
    started_at: str | None
    labels: dict[str, str] = field(default_factory=dict)


def address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(timeout: float = 30) -> "Engine":
    """An Engine for DOCKER_HOST; AdapterUnavailable when nothing answers there."""
    import docker
    import requests.exceptions

    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise AdapterUnavailable(f"Docker engine at {address()}: {_reason(exc)}", hint=START_HINT) from None
    return Engine(client)


def _reason(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(text.split())


@contextlib.contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    """Engine refusals become CheckFailed, a vanished engine AdapterUnavailable."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.APIError as exc:
        raise CheckFailed(f"{what}: {_reason(exc)}") from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise AdapterUnavailable(f"Docker engine at {address()}: {what}: {_reason(exc)}",
                                 hint=START_HINT) from None


class Engine:
    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.api = client.api

    def close(self) -> None:
        self.client.close()

    # -- engine ---------------------------------------------------------------------

    def ping(self) -> bool:
        with _engine_errors("ping"):
            return bool(self.api.ping())

    def version(self) -> EngineVersion:
        with _engine_errors("version"):
            v = self.api.version()
        return EngineVersion(v.get("Version", ""), v.get("ApiVersion", ""), v.get("Os", ""), v.get("Arch", ""))

    # -- images ---------------------------------------------------------------------

    def image_labels(self, tag: str) -> dict[str, str] | None:
        """The image's labels ({} when it has none); None when there is no such image."""
        import docker.errors

        with _engine_errors(f"inspect image {tag}"):
            try:
                found = self.api.inspect_image(tag)
            except docker.errors.ImageNotFound:
                return None
        return dict((found.get("Config") or {}).get("Labels") or {})

    def image_exists(self, tag: str) -> bool:
        return self.image_labels(tag) is not None

    def output_of(self, image: str, command: Sequence[str], timeout: float = 60) -> tuple[int, str]:
        """Run `command` once in a throwaway container of `image` (no network, read-only root,
        user nobody) and return (exit status, stdout). The container is removed either way."""
        with _engine_errors(f"run {command[0]} in {image}"):
            created = self.api.create_container(
                image, command=list(command), user="65534:65534", network_disabled=True,
                host_config=self.api.create_host_config(network_mode="none", read_only=True))
            try:
                self.api.start(created["Id"])
                status = self.api.wait(created["Id"], timeout=timeout).get("StatusCode", -1)
                out = self.api.logs(created["Id"], stdout=True, stderr=False)
            finally:
                self.api.remove_container(created["Id"], force=True, v=True)
        return status, out.decode("utf-8", "replace")

    def build(
        self,
        context_dir: str | os.PathLike[str],
        dockerfile: str,
        tag: str,
        buildargs: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        *,
        target: str | None = None,
        progress: Progress | None = None,
    ) -> BuiltImage:
        """Build context_dir/dockerfile as tag, passing each output line to progress.

        Never pulls: bases come from the local engine. A failed build raises CheckFailed
        with the build's last lines, which say which step broke and why.
        """
        context = Path(context_dir)
        if not context.is_dir():
            raise CheckFailed(f"docker build {tag}: build context {context} is not a directory")
        tail: collections.deque[str] = collections.deque(maxlen=BUILD_TAIL_LINES)
        image_id = None
        with _engine_errors(f"docker build {tag}"):
            chunks = self.api.build(
                path=str(context), dockerfile=dockerfile, tag=tag, buildargs=dict(buildargs or {}),
                labels=dict(labels or {}), target=target, rm=True, forcerm=True, pull=False, decode=True,
            )
            for chunk in chunks:
                image_id = _aux_id(chunk) or image_id
                for line in _chunk_lines(chunk):
                    tail.append(line)
                    if progress is not None:
                        progress(line)
                if "error" in chunk:
                    raise CheckFailed(f"docker build {tag} failed: {_one_line(chunk['error'])}\n"
                                      + "\n".join(tail))
        return BuiltImage(tag, image_id, tuple(tail))

    def push(self, image: str, target: str, progress: Progress | None = None) -> str:
        """Tag the local `image` as `target` (REGISTRY/name:tag) and push it there; returns the
        digest the registry gave it. CheckFailed with the engine's words when the push fails (a
        registry that does not answer, refuses, or wants TLS the engine was not told about)."""
        repository, _, tag = target.rpartition(":")
        if not repository or "/" in tag:
            raise CheckFailed(f"push {target}: no tag to push (expected REGISTRY/name:tag)")
        digest = ""
        with _engine_errors(f"push {target}"):
            self.api.tag(image, repository, tag)
            for chunk in self.api.push(repository, tag, stream=True, decode=True):
                if "error" in chunk:
                    detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                    raise CheckFailed(f"push {target} failed: {_one_line(detail)}")
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = aux["Digest"]
                if progress is not None:
                    for line in _chunk_lines(chunk):
                        progress(line)
        if not digest:
            raise CheckFailed(f"push {target}: the engine reported no digest (nothing was pushed)")
        return digest

    # -- containers -----------------------------------------------------------------

    def create(
        self,
        image: str,
        name: str,
        *,
        command: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        ports: Mapping[int, tuple[str, int | None]] | None = None,
        environment: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> str:
        """Create a container; ports maps container port -> (host ip, host port or None for
        any free port). Returns the container id."""
        bindings = {cport: (ip,) if hport is None else (ip, hport) for cport, (ip, hport) in (ports or {}).items()}
        with _engine_errors(f"create container {name} from {image}"):
            created = self.api.create_container(
                image, command=list(command) if command is not None else None, name=name,
                labels=dict(labels or {}), ports=list(bindings), environment=dict(environment or {}),
                user=user, host_config=self.api.create_host_config(port_bindings=bindings),
            )
        return created["Id"]

    def start(self, container: str) -> None:
        with _engine_errors(f"start container {container}"):
            self.api.start(container)

    def stop(self, container: str, timeout: int = 10) -> None:
        with _engine_errors(f"stop container {container}"):
            self.api.stop(container, timeout=timeout)

    def remove(self, container: str, *, force: bool = True, missing_ok: bool = True, volumes: bool = True) -> None:
        """Remove the container (`docker rm`; with `force`, a running one is killed first); with
        `volumes`, its anonymous volumes too (`-v`). Keep them (volumes=False) for a container
        compose made: compose hands a recreated container the anonymous volumes of the one it
        replaced, so they may hold a service's data; `compose rm -f` keeps them too."""
        import docker.errors

        with _engine_errors(f"remove container {container}"):
            try:
                self.api.remove_container(container, force=force, v=volumes)
            except docker.errors.NotFound:
                if not missing_ok:
                    raise CheckFailed(f"remove container {container}: no such container") from None
            except docker.errors.APIError as exc:
                # 409 "removal ... is already in progress": another request (a killed run's,
                # still carried out by the engine) removes it; done once it is gone.
                if exc.status_code != 409 or "already in progress" not in str(exc):
                    raise
                self._wait_gone(container, REMOVAL_WAIT_S)

    def _wait_gone(self, container: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._inspect(container) is not None:
            if time.monotonic() >= deadline:
                raise CheckFailed(f"remove container {container}: still being removed after {timeout:g}s")
            time.sleep(0.1)

    # -- copies of a container (a cutover's candidate, its import check) --------------

    def copy_of(self, container: str) -> ContainerCopy | None:
        """How `container` (id or name) was created; None when there is no such container."""
        found = self._inspect(container)
        if found is None:
            return None
        config, host = found.get("Config") or {}, found.get("HostConfig") or {}
        published = {}
        for key, binds in (host.get("PortBindings") or {}).items():
            port, _, proto = key.partition("/")
            for bind in binds or []:
                if proto in ("tcp", "") and str(bind.get("HostPort") or "").isdigit():
                    published[int(port)] = int(bind["HostPort"])
        networks = tuple(((found.get("NetworkSettings") or {}).get("Networks") or {}).keys())
        return ContainerCopy(found["Id"], found.get("Image", ""), tuple(config.get("Cmd") or ()),
                             tuple(config.get("Entrypoint") or ()), published, networks, config, host)

    def create_copy(self, copy: ContainerCopy, name: str, *, labels: Mapping[str, str],
                    command: Sequence[str] | None = None, publish_loopback: Sequence[int] = (),
                    network: bool = True, read_only_mounts: bool = False, healthcheck: bool = True) -> str:
        """Create (not start) a container like `copy`, named `name`, carrying only `labels`
        (none of compose's: compose never takes it for its own). Never restarted. `command`
        replaces Config.Cmd (the entrypoint stays, so a wrapper that loads secrets still
        runs); each container port of `publish_loopback` is published on an ephemeral
        127.0.0.1 port (see published_port); every other binding is dropped. With `network`,
        it joins the copy's networks under its own name only (no alias: nothing reaches it by
        the service's name); without, it has none (network mode none). `read_only_mounts`
        mounts every volume and bind read-only; without `healthcheck`, the engine runs no
        health check in it (the caller judges it). Returns the id."""
        host = _copied_host_config(copy.host_config, publish_loopback, network, read_only_mounts)
        nets = [n for n in copy.networks if n not in ("none", "host")] if network else []
        if nets:
            host["NetworkMode"] = nets[0]
        config = copy.config
        ports = [_port_key(k) for k in (config.get("ExposedPorts") or {})]
        with _engine_errors(f"create container {name} like {copy.source[:12]}"):
            created = self.api.create_container(
                copy.image_id, command=list(command) if command is not None else config.get("Cmd"),
                name=name, user=config.get("User") or None, environment=list(config.get("Env") or []),
                entrypoint=config.get("Entrypoint"), working_dir=config.get("WorkingDir") or None,
                labels=dict(labels), ports=ports or None,
                healthcheck=config.get("Healthcheck") if healthcheck else {"Test": ["NONE"]},
                stop_signal=config.get("StopSignal"), stop_timeout=config.get("StopTimeout"),
                host_config=host, use_config_proxy=False,
                networking_config=self.api.create_networking_config(
                    {nets[0]: self.api.create_endpoint_config()}) if nets else None)
            for extra in nets[1:]:
                self.api.connect_container_to_network(created["Id"], extra)
        return created["Id"]

    def published_port(self, container: str, port: int) -> int | None:
        """The host port the engine chose for container tcp `port` (once started), or None."""
        found = self._require(container)
        binds = ((found.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
        for bind in binds:
            if str(bind.get("HostPort") or "").isdigit():
                return int(bind["HostPort"])
        return None

    def wait_exit(self, container: str, timeout: float) -> int:
        """Wait until the container exits; its exit status. CheckFailed after `timeout` s."""
        import requests.exceptions

        with _engine_errors(f"wait for container {container}"):
            try:
                return int(self.api.wait(container, timeout=timeout).get("StatusCode", -1))
            except requests.exceptions.ReadTimeout:
                raise CheckFailed(f"container {container[:12]} still running after {timeout:g}s") from None

    def output(self, container: str) -> tuple[str, str]:
        """(stdout, stderr) of a container, whole (for short-lived containers)."""
        with _engine_errors(f"logs of {container}"):
            out = self.api.logs(container, stdout=True, stderr=False)
            err = self.api.logs(container, stdout=False, stderr=True)
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def list_containers(self, labels: Sequence[str] = (), *, all: bool = True) -> list[ContainerSummary]:
        """Containers carrying every label given ("key" or "key=value"), newest first;
        one request to the engine whatever their number."""
        filters = {"label": list(labels)} if labels else None
        with _engine_errors("list containers"):
            rows = self.api.containers(all=all, filters=filters)
        return [_summary(row) for row in rows]

    def container_state(self, container: str) -> ContainerState | None:
        """The inspect of a container named by id, name or compose service; None if none."""
        found = self._inspect(container)
        return None if found is None else _state(found)

    def logs_tail(self, container: str, lines: int = 50) -> list[str]:
        """The last lines of the container's stdout and stderr, oldest first."""
        found = self._require(container)
        with _engine_errors(f"logs of {container}"):
            raw = self.api.logs(found["Id"], stdout=True, stderr=True, tail=lines)
        return raw.decode("utf-8", errors="replace").splitlines()

    def _require(self, container: str) -> dict[str, Any]:
        found = self._inspect(container)
        if found is None:
            raise CheckFailed(f"no container named {container} (id, name or compose service)")
        return found

    def _inspect(self, container: str) -> dict[str, Any] | None:
        import docker.errors

        with _engine_errors(f"inspect container {container}"):
            try:
                return self.api.inspect_container(container)
            except docker.errors.NotFound:
                pass
            rows = self.api.containers(all=True, filters={"label": [f"{COMPOSE_SERVICE_LABEL}={container}"]})
            if not rows:
                return None
            try:
                return self.api.inspect_container(rows[0]["Id"])
            except docker.errors.NotFound:  # removed between the listing and the inspect
                return None


# ---------------------------------------------------------------------------------------
# Reading without the SDK


def connect_reader(timeout: float = 30) -> "EngineReader | Engine":
    """What reads containers fastest at DOCKER_HOST: an EngineReader for a unix socket or a
    plain tcp:// address, the SDK's Engine for anything else (TLS, ssh://)."""
    base = _plain_api_address(address(), os.environ)
    if base is None:
        return connect(timeout)
    return EngineReader(*base, timeout=timeout)


def _plain_api_address(where: str, env: Mapping[str, str]) -> tuple[str | None, str] | None:
    """(unix socket path or None, base URL) of an engine reachable with plain HTTP; None when
    reaching it takes TLS or ssh, which only the SDK's client sets up."""
    parts = urlsplit(where)
    if parts.scheme == "unix" and parts.path:
        return parts.path, "http://docker"  # the host name is not used on a socket
    if parts.scheme == "tcp" and parts.hostname and not env.get("DOCKER_TLS_VERIFY") \
            and not env.get("DOCKER_CERT_PATH"):
        return None, f"http://{parts.netloc}"
    return None


class EngineReader:
    """list_containers() and container_state() as Engine has them, one HTTP request each.

    The SDK costs about 80 ms of imports and two more round trips (version negotiation and a
    ping) before its first answer. The paths carry no API version, so the engine answers in
    its own, whose container listing and inspect have the fields read here since API 1.24.
    A transport failure is AdapterUnavailable naming the address; an error status is a
    CheckFailed with the engine's own message.
    """

    def __init__(self, socket_path: str | None, base_url: str, *, timeout: float) -> None:
        httpx = httpx_loader.load()

        # Plain HTTP only (a unix socket or http://, redirects not followed), so TLS is never
        # used: verify=False spares building a context from the CA bundle (~25 ms) for nothing.
        transport = httpx.HTTPTransport(uds=socket_path, verify=False) if socket_path else None
        self._client: httpx.Client = httpx.Client(
            base_url=base_url, transport=transport, timeout=timeout, trust_env=False, verify=False)

    def close(self) -> None:
        self._client.close()

    def list_containers(self, labels: Sequence[str] = (), *, all: bool = True) -> list[ContainerSummary]:
        params = {"all": "1" if all else "0"}
        if labels:
            params["filters"] = json.dumps({"label": list(labels)})
        rows = self._get("list containers", "/containers/json", params)
        return [_summary(row) for row in rows]

    def container_state(self, container: str) -> ContainerState | None:
        """The inspect of a container named by id, name or compose service; None if none."""
        found = self._get(f"inspect container {container}",
                          f"/containers/{quote(container, safe='')}/json", missing_ok=True)
        if found is None:
            rows = self.list_containers([f"{COMPOSE_SERVICE_LABEL}={container}"])
            if not rows:
                return None
            found = self._get(f"inspect container {container}", f"/containers/{rows[0].id}/json",
                              missing_ok=True)  # None: removed between the listing and here
        return None if found is None else _state(found)

    def image(self, tag: str) -> dict[str, Any] | None:
        """The engine's inspect of an image (Id, Config.Env, ...); None when there is none."""
        return self._get(f"inspect image {tag}", f"/images/{quote(tag, safe='')}/json", missing_ok=True)

    def _get(self, what: str, path: str, params: Mapping[str, str] | None = None,
             *, missing_ok: bool = False) -> Any:
        httpx = httpx_loader.load()

        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            reason = _reason(exc) or type(exc).__name__
            raise AdapterUnavailable(f"Docker engine at {address()}: {what}: {reason}",
                                     hint=START_HINT) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise CheckFailed(f"{what}: {response.status_code} {response.reason_phrase}: "
                              f"{_engine_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise CheckFailed(f"{what}: the engine's answer is not JSON: "
                              f"{_one_line(response.text)[:200]}") from None


def _engine_message(response: "httpx.Response") -> str:
    """The engine explains an error as {"message": ...}; otherwise its text as it came."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return _one_line(message or response.text)[:500] or "(no explanation)"


# HostConfig fields of an inspect that name the original container or its place, not how it
# runs: a copy must not inherit them.
_NOT_COPIED = ("PortBindings", "PublishAllPorts", "RestartPolicy", "AutoRemove", "Links",
               "ContainerIDFile", "VolumesFrom", "NetworkMode")


def _copied_host_config(original: Mapping[str, Any], publish_loopback: Sequence[int], network: bool,
                        read_only_mounts: bool) -> dict[str, Any]:
    """Pure: the HostConfig of a copy (see Engine.create_copy)."""
    host = {k: v for k, v in original.items() if k not in _NOT_COPIED}
    host["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    host["NetworkMode"] = "default" if network else "none"
    # HostPort "": the engine picks a free ephemeral port on that address.
    host["PortBindings"] = {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}] for port in publish_loopback}
    if read_only_mounts:
        host["Binds"] = [_read_only_bind(b) for b in host.get("Binds") or []] or None
        host["Mounts"] = [{**m, "ReadOnly": True} for m in host.get("Mounts") or []] or None
    return host


def _read_only_bind(bind: str) -> str:
    """"src:dst[:opts]" with "ro" in place of "rw" (or added)."""
    parts = bind.split(":")
    if len(parts) < 3:
        return f"{bind}:ro"
    opts = [o for o in parts[-1].split(",") if o not in ("rw", "ro")] + ["ro"]
    return ":".join(parts[:-1] + [",".join(opts)])


def _port_key(key: str) -> int | tuple[int, str]:
    """"8550/tcp" as the SDK's create_container takes it: 8550, or (53, "udp")."""
    port, _, proto = key.partition("/")
    return int(port) if proto in ("", "tcp") else (int(port), proto)


def _summary(row: Mapping[str, Any]) -> ContainerSummary:
    names = row.get("Names") or []
    status = row.get("Status") or ""
    return ContainerSummary(
        id=row["Id"], name=names[0].lstrip("/") if names else "", image=row.get("Image", ""),
        state=row.get("State", ""), status=status, health=_health_from_status(status),
        labels=dict(row.get("Labels") or {}),
    )


def _health_from_status(status: str) -> str | None:
    """The listing tells health only inside its status text: "Up 5s (health: starting)"."""
    for marker, health in (("(healthy)", "healthy"), ("(unhealthy)", "unhealthy"),
                           ("(health: starting)", "starting")):
        if marker in status:
            return health
    return None


def _state(found: Mapping[str, Any]) -> ContainerState:
    state = found.get("State") or {}
    health = state.get("Health") or {}
    probes = health.get("Log") or []
    last = probes[-1] if probes else None
    return ContainerState(
        id=found["Id"], name=found.get("Name", "").lstrip("/"),
        image=(found.get("Config") or {}).get("Image", ""), status=state.get("Status", ""),
        exit_code=state.get("ExitCode"), health=health.get("Status"),
        failing_streak=health.get("FailingStreak"),
        last_probe=None if last is None else HealthProbe(
            last.get("ExitCode", -1), last.get("Output", ""), last.get("Start", ""), last.get("End", "")),
        restart_count=found.get("RestartCount", 0), started_at=state.get("StartedAt"),
        labels=dict((found.get("Config") or {}).get("Labels") or {}),
    )


def _aux_id(chunk: Mapping[str, Any]) -> str | None:
    aux = chunk.get("aux")
    return aux.get("ID") if isinstance(aux, dict) else None


def _chunk_lines(chunk: Mapping[str, Any]) -> list[str]:
    text = chunk.get("stream") or chunk.get("status") or ""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
