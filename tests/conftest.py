"""Fixtures every test shares: the real-stack test bed, and a fence around the real home.

The test bed is started outside pytest (`scripts/testbed start`, as root); `testbed` only
checks that each piece answers and exports its variables. Under CI=true a missing piece
fails the run; elsewhere the real-stack tests are skipped with the same message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from revops.adapters import docker_engine, proc
from revops.errors import RevopsError

STATE_DIR = Path(os.environ.get("REVOPS_TESTBED_DIR", "/var/lib/revops-testbed"))
START_HINT = "start it with `sudo scripts/testbed install && sudo scripts/testbed start`"
# A shared manager runs other tests' failing units too, which makes it "degraded".
MANAGER_UP_STATES = ('"running"', '"degraded"')


@dataclass(frozen=True)
class Testbed:
    state_dir: Path
    docker_host: str
    xdg_runtime_dir: Path
    xdg_config_home: Path
    dbus_session_bus_address: str
    database_url: str
    base_image: str
    wheelhouse: Path
    env: dict[str, str]

    @property
    def user_unit_dir(self) -> Path:
        """Where unit files for the test bed's systemd user manager go."""
        return self.xdg_config_home / "systemd" / "user"


def _read_env(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LookupError(f"{path} does not exist (the test bed was never started)") from None
    except ValueError as exc:
        raise LookupError(f"{path} is not JSON: {exc}") from None


def _from_env(env: dict[str, str]) -> Testbed:
    return Testbed(
        state_dir=Path(env["REVOPS_TESTBED_DIR"]), docker_host=env["DOCKER_HOST"],
        xdg_runtime_dir=Path(env["XDG_RUNTIME_DIR"]), xdg_config_home=Path(env["XDG_CONFIG_HOME"]),
        dbus_session_bus_address=env["DBUS_SESSION_BUS_ADDRESS"],
        database_url=env["REVOPS_TEST_DATABASE_URL"], base_image=env["REVOPS_BASE_IMAGE"],
        wheelhouse=Path(env["REVOPS_WHEELHOUSE"]), env=dict(env),
    )


def _docker_problem(bed: Testbed) -> str | None:
    try:
        engine = docker_engine.connect(timeout=10)
        if not engine.image_exists(bed.base_image):
            return f"base image {bed.base_image} missing from the engine at {bed.docker_host}"
    except RevopsError as exc:
        return exc.message
    return None


def _manager_problem(bed: Testbed) -> str | None:
    bus = bed.xdg_runtime_dir / "bus"
    if not bus.is_socket():
        return f"systemd user manager: no session bus socket at {bus}"
    done = proc.run(["busctl", "--user", "--timeout=5", "get-property", "org.freedesktop.systemd1",
                     "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "SystemState"],
                    env=os.environ, check=False, timeout=15)
    if not done.stdout.strip().endswith(MANAGER_UP_STATES):
        return f"systemd user manager on {bus}: SystemState {done.stdout.strip() or done.stderr.strip()!r}"
    return None


def _postgres_problem(bed: Testbed) -> str | None:
    import psycopg  # only to see that the throwaway cluster takes connections

    try:
        with psycopg.connect(bed.database_url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {bed.database_url}: {' '.join(str(exc).split())}"
    return None


def _wheelhouse_problem(bed: Testbed) -> str | None:
    if not any(bed.wheelhouse.glob("*.whl")):
        return f"wheelhouse {bed.wheelhouse} holds no wheel"
    return None


def _missing_pieces(bed: Testbed) -> list[str]:
    checks = (_docker_problem, _manager_problem, _postgres_problem, _wheelhouse_problem)
    return [problem for check in checks if (problem := check(bed)) is not None]


def _unavailable(message: str) -> None:
    text = f"test bed not usable: {message}; {START_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(text, pytrace=False)
    pytest.skip(text)


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    """The running test bed, its variables exported to os.environ for the session."""
    try:
        env = _read_env(STATE_DIR / "env.json")
        bed = _from_env(env)
    except LookupError as exc:
        _unavailable(str(exc))
    except KeyError as exc:
        _unavailable(f"{STATE_DIR / 'env.json'} lacks {exc} (written by an older scripts/testbed?)")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        missing = _missing_pieces(bed)
        if missing:
            _unavailable("; ".join(missing))
        yield bed


@dataclass(frozen=True)
class SwarmNode:
    name: str  # the engine's hostname, as `docker node ls` shows it
    address: str  # its address on the test bed's bridge (advertise and publish address)
    docker_host: str


@dataclass(frozen=True)
class Swarm:
    """The test bed's cluster: three engines in network namespaces, the first the manager,
    and a plain-HTTP registry on the manager's address holding the base image."""

    nodes: tuple[SwarmNode, ...]
    subnet: str
    registry: str  # host:port
    base_image: str  # the base image by its registry name, pullable by every node
    docker_cli: str  # the CLI to drive it with (has `stack deploy --detach` when one here does)
    env: dict[str, str]

    @property
    def manager(self) -> SwarmNode:
        return self.nodes[0]

    def docker(self, *args: str, node: SwarmNode | None = None, check: bool = True,
               timeout: float = 120, input: str | None = None) -> proc.Completed:
        """Run the test bed's docker CLI against node's engine (the manager's by default)."""
        env = {**os.environ, "DOCKER_HOST": (node or self.manager).docker_host}
        return proc.run([self.docker_cli, *args], env=env, check=check, timeout=timeout, input=input)


def _swarm_from_env(env: dict[str, str]) -> Swarm:
    nodes = []
    for entry in env["REVOPS_SWARM_NODES"].split():
        name, address, docker_host = entry.split(",", 2)
        nodes.append(SwarmNode(name, address, docker_host))
    return Swarm(nodes=tuple(nodes), subnet=env["REVOPS_SWARM_SUBNET"], registry=env["REVOPS_REGISTRY"],
                 base_image=env["REVOPS_SWARM_BASE_IMAGE"], docker_cli=env["REVOPS_SWARM_DOCKER_CLI"],
                 env=dict(env))


def _swarm_node_problems(bed: Swarm) -> list[str]:
    problems = []
    for node in bed.nodes:
        done = bed.docker("version", "--format", "{{.Server.Version}}", node=node, check=False, timeout=15)
        if done.returncode != 0:
            problems.append(f"swarm node {node.name}: no engine at {node.docker_host}")
    if problems:
        return problems
    listed = bed.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}}",
                        check=False, timeout=15)
    if listed.returncode != 0:
        return [f"swarm manager {bed.manager.name}: {listed.stderr.strip()}"]
    ready = {line.split()[0] for line in listed.stdout.splitlines() if line.split()[1:] == ["Ready", "Active"]}
    return [f"swarm node {node.name} is not Ready/Active" for node in bed.nodes if node.name not in ready]


def _registry_problem(bed: Swarm) -> str | None:
    import httpx  # the registry speaks plain HTTP on the bed's own address

    name, _, tag = bed.base_image.removeprefix(bed.registry + "/").rpartition(":")
    url = f"http://{bed.registry}/v2/{name}/manifests/{tag}"
    try:
        answer = httpx.head(url, timeout=10, trust_env=False,
                            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    except httpx.HTTPError as exc:
        return f"registry at {bed.registry}: {exc}"
    if answer.status_code != 200:
        return f"registry at {bed.registry}: {bed.base_image} not there (HTTP {answer.status_code})"
    return None


@pytest.fixture(scope="session")
def swarm() -> Swarm:
    """The running Swarm cluster of the test bed; checks its nodes and registry, exports nothing
    (each call says which engine it means, through Swarm.docker or a node's docker_host)."""
    try:
        bed = _swarm_from_env(_read_env(STATE_DIR / "env.json"))
    except LookupError as exc:
        _unavailable(str(exc))
    except KeyError as exc:
        _unavailable(f"{STATE_DIR / 'env.json'} lacks {exc} (written by a scripts/testbed without the cluster?)")
    except ValueError as exc:
        _unavailable(f"{STATE_DIR / 'env.json'}: REVOPS_SWARM_NODES unreadable: {exc}")
    try:
        problems = _swarm_node_problems(bed)
    except RevopsError as exc:  # the CLI missing, or an engine that accepts but never answers
        _unavailable(exc.message)
    if (problem := _registry_problem(bed)) is not None:
        problems.append(problem)
    if problems:
        _unavailable("; ".join(problems))
    return bed


@pytest.fixture(autouse=True)
def _no_real_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see an empty home and no PIP_* settings, so nothing reads or writes the
    developer's own configuration (pip, docker, git) by accident."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def fresh_python():
    """Run a script in a new interpreter (what it imports is then its own); asserts exit 0
    and returns its stdout lines."""

    def run(script: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    return run


HANG_BOUND = 30.0  # seconds: far beyond any honest answer in these tests; only a hang gets near it


def _ends(fn):
    """fn()'s result, fn run in a thread. Fails the test, instead of stalling the suite, when fn
    is still running after HANG_BOUND (a read blocked on a FIFO, a YAML bomb expanding); an
    exception fn raises is raised here."""
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HANG_BOUND)
    assert not worker.is_alive(), f"still running after {HANG_BOUND:g}s: it blocks or explodes"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def ends():
    """`ends(fn)`: fn's result, or a failure when fn does not end in HANG_BOUND seconds."""
    return _ends
