"""The SDK-free container reader (EngineReader) against the test bed's Docker engine: it must
say what the SDK's Engine says, and be as plain about an engine that is not there."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Iterator

import pytest

from revops.adapters import docker_engine, proc
from revops.errors import AdapterUnavailable, CheckFailed


def test_plain_api_address_takes_sockets_and_plain_tcp_only():
    plain = docker_engine._plain_api_address
    assert plain("unix:///run/docker.sock", {}) == ("/run/docker.sock", "http://docker")
    assert plain("tcp://127.0.0.1:2375", {}) == (None, "http://127.0.0.1:2375")
    # TLS and ssh need the SDK's client: the reader declines them.
    assert plain("tcp://127.0.0.1:2376", {"DOCKER_TLS_VERIFY": "1"}) is None
    assert plain("tcp://127.0.0.1:2376", {"DOCKER_CERT_PATH": "/certs"}) is None
    assert plain("ssh://admin@host", {}) is None


@pytest.fixture
def labelled(testbed) -> Iterator[tuple[str, str]]:
    """A stopped container and a running one carrying a label unique to this test."""
    label = f"revops.test.reader={uuid.uuid4().hex[:8]}"
    names = [f"revops-test-reader-{label[-8:]}-{n}" for n in ("created", "running")]
    try:
        proc.run(["docker", "create", "--name", names[0], "--label", label,
                  "--label", f"com.docker.compose.service={names[0]}-svc",
                  testbed.base_image, "true"], timeout=60)
        proc.run(["docker", "run", "-d", "--name", names[1], "--label", label,
                  testbed.base_image, "sleep", "300"], timeout=60)
        yield label, names
    finally:
        proc.run(["docker", "rm", "-f", *names], check=False, timeout=60)


@pytest.mark.realstack
def test_reader_says_what_the_sdk_says(labelled):
    label, names = labelled
    reader = docker_engine.connect_reader(timeout=10)
    engine = docker_engine.connect(timeout=10)
    try:
        assert isinstance(reader, docker_engine.EngineReader)  # the test bed is a unix socket
        listed = reader.list_containers([label])
        # The status text ("Up 3 seconds") moves with the clock; everything else must agree.
        steady = lambda rows: [dataclasses.replace(r, status="") for r in rows]  # noqa: E731
        assert steady(listed) == steady(engine.list_containers([label]))
        assert sorted(c.name for c in listed) == sorted(names)
        assert {c.name: c.state for c in listed} == {names[0]: "created", names[1]: "running"}
        for c in listed:
            assert reader.container_state(c.id) == engine.container_state(c.id)
        by_service = reader.container_state(f"{names[0]}-svc")  # the compose-service label
        assert by_service is not None and by_service.name == names[0]
        assert reader.container_state(f"revops-test-no-such-{uuid.uuid4().hex}") is None
    finally:
        reader.close()
        engine.close()


@pytest.mark.realstack
def test_reader_of_a_dead_engine_is_unavailable_naming_it(testbed, monkeypatch, tmp_path):
    where = f"unix://{tmp_path / 'no-engine.sock'}"
    monkeypatch.setenv("DOCKER_HOST", where)
    reader = docker_engine.connect_reader(timeout=2)
    with pytest.raises(AdapterUnavailable) as caught:
        reader.list_containers(["revops.managed=true"])
    assert caught.value.message.startswith(f"Docker engine at {where}: list containers: ")
    assert "No such file or directory" in caught.value.message
    assert caught.value.hint == docker_engine.START_HINT


@pytest.mark.realstack
def test_a_request_the_engine_refuses_is_check_failed_with_its_words(testbed):
    reader = docker_engine.connect_reader(timeout=10)
    try:
        with pytest.raises(CheckFailed) as caught:
            reader._get("list containers", "/containers/json", {"filters": "not json"})
    finally:
        reader.close()
    # Engine 20.10 answers 500 to a filter that is not JSON; newer ones 400. Its words follow.
    assert re.fullmatch(r"list containers: [45]\d\d [A-Za-z ]+: invalid character .+",
                        caught.value.message)


@pytest.mark.realstack
@pytest.mark.parametrize("volumes", [False, True])
def test_remove_keeps_the_anonymous_volumes_unless_asked(testbed, volumes):
    """A container compose made may carry the anonymous volume of the one it replaced (its
    data): migrate removes such a container as `compose rm -f` does, its volumes kept."""
    name = f"revops-test-rm-{uuid.uuid4().hex[:8]}"
    proc.run(["docker", "create", "--name", name, "-v", "/data", testbed.base_image, "true"], timeout=60)
    volume = proc.run(["docker", "inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", name], timeout=60).stdout.strip()
    engine = docker_engine.connect(timeout=10)
    try:
        assert volume
        engine.remove(name, force=False, volumes=volumes)
        assert engine.container_state(name) is None
        kept = proc.run(["docker", "volume", "inspect", volume], check=False, timeout=60).returncode == 0
        assert kept is (not volumes)
    finally:
        engine.close()
        proc.run(["docker", "rm", "-f", name], check=False, timeout=60)
        proc.run(["docker", "volume", "rm", volume], check=False, timeout=60)
