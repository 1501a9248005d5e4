"""The docker_engine adapter against the test bed's real dockerd."""

from __future__ import annotations

import uuid

import httpx
import pytest

from revops.adapters import docker_engine
from revops.errors import AdapterUnavailable, CheckFailed
from . import CONTEXT_LABEL, TINYAPP_UID, build_tinyapp, published_ports, sources_digest, wait_until

TEST_LABEL = "revops.test"


@pytest.fixture(scope="module")
def engine(testbed) -> docker_engine.Engine:
    return docker_engine.connect()


@pytest.fixture(scope="module")
def built(engine, testbed, tmp_path_factory) -> tuple[str, list[str]]:
    """The tinyapp image's tag, and the progress lines its build reported."""
    lines: list[str] = []
    tag = build_tinyapp(engine, testbed.base_image, testbed.wheelhouse,
                        tmp_path_factory.mktemp("build"), progress=lines.append)
    return tag, lines


@pytest.fixture
def run_label(engine):
    """A label unique to one test; every container carrying it is removed afterwards."""
    value = f"{TEST_LABEL}={uuid.uuid4().hex[:12]}"
    yield value
    for container in engine.list_containers(labels=[value]):
        engine.remove(container.id)


def test_unreachable_engine_is_unavailable_naming_the_address(monkeypatch, tmp_path):
    address = f"unix://{tmp_path}/no-dockerd.sock"
    monkeypatch.setenv("DOCKER_HOST", address)
    with pytest.raises(AdapterUnavailable) as raised:
        docker_engine.connect(timeout=5)
    assert address in raised.value.message
    assert "scripts/testbed start" in raised.value.hint


@pytest.mark.realstack
def test_engine_answers_through_docker_host(engine, testbed):
    version = engine.version()
    assert engine.ping() is True
    assert version.version and version.os == "linux"
    # The SDK negotiated down to what the engine speaks (20.10 speaks 1.41).
    assert engine.api.api_version == version.api_version


@pytest.mark.realstack
def test_build_streams_progress_and_labels_the_image(engine, built):
    tag, lines = built
    assert any(line.startswith("Step ") for line in lines), lines[-5:]
    assert engine.image_exists(tag)
    assert engine.image_labels(tag)[CONTEXT_LABEL] == sources_digest()
    assert engine.image_labels("revops-test/never-built:none") is None
    assert engine.image_exists("revops-test/never-built:none") is False


@pytest.mark.realstack
def test_failed_build_raises_with_the_builds_last_lines(engine, testbed, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {testbed.base_image}\nRUN echo about-to-fail && exit 3\n", encoding="utf-8")
    seen: list[str] = []
    with pytest.raises(CheckFailed) as raised:
        engine.build(tmp_path, "Dockerfile", "revops-test/fails:latest", progress=seen.append)
    assert "returned a non-zero code: 3" in raised.value.message
    assert "about-to-fail" in raised.value.message
    assert "about-to-fail" in seen


@pytest.mark.realstack
def test_image_from_the_local_base_serves_health_on_loopback(engine, built, run_label):
    tag, _ = built
    key, value = run_label.split("=")
    container = engine.create(tag, f"revops-test-tinyapp-{value}", labels={key: value},
                              ports={8000: ("127.0.0.1", None)})
    engine.start(container)

    [published] = published_ports(engine, container)
    assert (published.container_port, published.host_ip) == ("8000/tcp", "127.0.0.1")
    url = f"http://127.0.0.1:{published.host_port}/health"
    answer = wait_until(lambda: _get(url), lambda r: r is not None and r.status_code == 200, timeout=60)
    assert answer is not None and answer.status_code == 200, engine.logs_tail(container, 20)
    assert answer.json() == {"status": "ok", "uid": TINYAPP_UID}

    [listed] = engine.list_containers(labels=[run_label])
    assert (listed.id, listed.state, listed.image, listed.health) == (container, "running", tag, None)
    state = engine.container_state(container)
    assert (state.status, state.health, state.restart_count) == ("running", None, 0)
    assert any("Uvicorn running" in line for line in engine.logs_tail(container, 50))

    engine.stop(container, timeout=5)
    assert engine.container_state(container).status == "exited"
    engine.remove(container)
    assert engine.container_state(container) is None


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2, trust_env=False)
    except httpx.TransportError:
        return None
