"""`revops build --push`: the registry of revops.yaml `swarm:`, asked before anything is built."""

import socket

import pytest

from revops import config as config_mod
from revops.build import images
from revops.build.plan import BuildResult, ImageStep, Options, SuiteStep
from revops.errors import AdapterUnavailable, CheckFailed, ConfigError

import generate_minihost as minihost


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_registry_down_is_a_clear_error_before_any_build(tmp_path, monkeypatch):
    config = minihost.write(tmp_path)
    config.write_text(config.read_text() + f"swarm:\n  registry: 127.0.0.1:{closed_port()}\n  insecure_registry: true\n")
    monkeypatch.chdir(tmp_path)
    from revops.commands import generate
    generate.run(config_mod.load())
    monkeypatch.setattr(images.docker_engine, "connect", lambda: pytest.fail("no engine before the registry answered"))
    with pytest.raises(AdapterUnavailable, match=r"registry 127\.0\.0\.1:\d+ does not answer"):
        images.run(config_mod.load(), Options(push=True))


def test_push_needs_a_swarm_block(tmp_path, monkeypatch):
    minihost.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="swarm.registry"):
        images.push_registry(config_mod.load())


class Engine:
    def __init__(self, fail_first=False):
        self.pushed, self.fail_first = [], fail_first

    def push(self, image, target, progress=None):
        if self.fail_first:
            raise CheckFailed(f"push {target} failed: connection refused")
        self.pushed.append((image, target))
        return "sha256:" + "a" * 64


def result():
    steps = [ImageStep("a", "revflow/a:1", "built"), ImageStep("b", "revflow/b:1", "reused"),
             ImageStep("c", "revflow/c:1", "failed", reason="x")]
    return BuildResult(dry_run=False, suites=[SuiteStep("core", "lock", "ctx", "wh", images=steps)])


def test_every_built_image_is_tagged_for_the_registry_and_pushed():
    engine, res = Engine(), result()
    images.push_images(engine, res, "10.0.0.5:5000")
    assert engine.pushed == [("revflow/a:1", "10.0.0.5:5000/revflow/a:1"), ("revflow/b:1", "10.0.0.5:5000/revflow/b:1")]
    assert res.suites[0].images[0].pushed == "10.0.0.5:5000/revflow/a:1@sha256:" + "a" * 64


def test_after_a_failed_push_the_rest_are_not_tried_and_the_build_fails():
    res = result()
    images.push_images(Engine(fail_first=True), res, "10.0.0.5:5000")
    a, b, _ = res.suites[0].images
    assert a.state == b.state == "push-failed" and "connection refused" in a.reason and b.reason.startswith("not pushed")
    assert res.exit_code == 1 and "image build failed" in res.failure.message  # c failed to build
