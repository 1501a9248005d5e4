"""The compose adapter against the host's compose tool and the test bed's dockerd."""

from __future__ import annotations

import shutil
import uuid

import httpx
import pytest

from revops.adapters import compose, docker_engine, proc
from . import TINYAPP_SOURCES, build_tinyapp, published_ports, wait_until


@pytest.fixture(scope="module")
def engine(testbed) -> docker_engine.Engine:
    return docker_engine.connect()


@pytest.fixture(scope="module")
def tinyapp_image(engine, testbed, tmp_path_factory) -> str:
    return build_tinyapp(engine, testbed.base_image, testbed.wheelhouse, tmp_path_factory.mktemp("build"))


@pytest.fixture
def project(tmp_path, tinyapp_image):
    """A compose client for a project of its own, torn down after the test."""
    shutil.copy2(TINYAPP_SOURCES / "compose.yml", tmp_path / "compose.yml")
    client = compose.connect(cwd=tmp_path, project=f"revopst{uuid.uuid4().hex[:10]}",
                             env={"TINYAPP_IMAGE": tinyapp_image})
    yield client, [str(tmp_path / "compose.yml")]
    client.run([str(tmp_path / "compose.yml")], "down", "--remove-orphans")


def test_detects_the_hosts_compose_tool():
    docker = proc.which("docker")
    has_v2 = docker is not None and proc.run([docker, "compose", "version"], check=False).returncode == 0
    expected = (docker, "compose") if has_v2 else (proc.which("docker-compose"),)
    assert compose.detect() == expected
    assert proc.run([*expected, "version"], check=False).returncode == 0


def test_commands_are_exec_form_with_project_and_files():
    client = compose.Compose(("docker-compose",), project="p1")
    assert client.command(["a.yml", "b.yml"], "up", "-d") == [
        "docker-compose", "-p", "p1", "-f", "a.yml", "-f", "b.yml", "up", "-d"]


@pytest.mark.realstack
def test_up_brings_a_service_to_healthy_and_stop_rm_remove_it(project, engine):
    client, files = project
    client.up(files, "tinyapp", no_deps=True, detach=True)
    [container] = client.ps(files, "tinyapp")

    state = wait_until(lambda: engine.container_state(container),
                       lambda s: s.health in ("healthy", "unhealthy"), timeout=120)
    assert state.health == "healthy", engine.logs_tail(container, 20)
    assert state.last_probe is not None and state.last_probe.exit_code == 0
    [published] = published_ports(engine, container)
    assert published.host_ip == "127.0.0.1"
    answer = httpx.get(f"http://127.0.0.1:{published.host_port}/health", timeout=5, trust_env=False)
    assert answer.status_code == 200

    client.run(files, "stop", "-t", "5", "tinyapp")
    assert engine.container_state(container).status == "exited"
    client.rm(files, "tinyapp")
    assert client.ps(files, "tinyapp") == []
    assert engine.container_state(container) is None


@pytest.mark.realstack
def test_config_check_reports_what_is_wrong_with_a_broken_file(testbed, tmp_path):
    client = compose.connect(cwd=tmp_path, env={"TINYAPP_IMAGE": "revops-test/tinyapp:any"})
    broken = TINYAPP_SOURCES / "broken-compose.yml"
    errors = client.config_errors([broken])
    assert errors is not None and "imagee" in errors and "ports" in errors
    assert client.config_errors([TINYAPP_SOURCES / "compose.yml"]) is None
