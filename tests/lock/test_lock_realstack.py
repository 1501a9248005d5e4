"""A lock written by revops on a newer Python installs in the base image and passes `pip check`
(issue 14, case 5, with a local project from case 3): the image is built for real from the
test bed's base image and wheelhouse, air-gapped, as `revops build` does."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from test_lock_issue14 import NEWER, OLDER, host, local_project, lock_text, newer_python_running_revops, run_revops

from revops.errors import CheckFailed
from revops.lock import lockfile

pytestmark = pytest.mark.realstack

DOCKERFILE = """\
FROM {base}
COPY requirements.lock /tmp/revops/requirements.lock
COPY wheelhouse/ /tmp/revops/wheelhouse/
RUN python3 -m venv /opt/venv \\
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/revops/wheelhouse \\
       --require-hashes --no-deps -r /tmp/revops/requirements.lock \\
    && /opt/venv/bin/pip check \\
    && /opt/venv/bin/python -c "import {imports}"
"""


def build_image(testbed, lock: str, wheelhouses: list[Path], context: Path, imports: str) -> None:
    """The lock installed, by hash only, in a venv of the base image; CheckFailed when it does not."""
    from revops.adapters import docker_engine

    (context / "wheelhouse").mkdir(parents=True)
    for directory in wheelhouses:
        for wheel in directory.glob("*.whl"):
            shutil.copyfile(wheel, context / "wheelhouse" / wheel.name)
    (context / "requirements.lock").write_text(lock)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=testbed.base_image, imports=imports))
    engine = docker_engine.connect()
    tag = f"revops-test-lock:{uuid.uuid4().hex[:12]}"
    try:
        engine.build(context, "Dockerfile", tag)
    finally:
        try:
            engine.api.remove_image(tag, force=True)
        except Exception:  # noqa: BLE001  (nothing to remove when the build failed)
            pass


def test_a_lock_from_a_newer_python_installs_and_passes_pip_check_in_the_base_image(testbed, tmp_path):
    newer = newer_python_running_revops(tmp_path)
    config = host(tmp_path, {"svc": "redis==6.2.0\n-e ../libs/common\n"}, image_python=None)
    venvs = [{"path": "/opt/mods/svc/venv", "healthy": True, "used_by": ["svc.service"], "python_version": OLDER}]
    (tmp_path / "inventory/venvs.yaml").write_text(yaml.safe_dump({"venvs": venvs}))
    local_project(tmp_path, requires="idna>=3")
    done = run_revops(newer, config, "lock", "--offline", "--find-links", str(testbed.wheelhouse))
    assert done.returncode == 0, done.stderr
    lock = lock_text(config)
    fields = lockfile.header_fields(lock)
    assert (fields["python"], fields["python-from"]) == (OLDER, "host venvs (pyvenv.cfg)")
    assert {p.name for p in lockfile.pins(lock)} >= {"redis", "async-timeout", "common", "idna"}
    build_image(testbed, lock, [testbed.wheelhouse, tmp_path / ".revops/wheelhouse"], tmp_path / "good",
                imports="redis, common")

    # The issue's failure, kept as the control: the same inputs locked for the newer Python lack
    # async-timeout (redis needs it below 3.11.3), and the base image's `pip check` says so.
    data = yaml.safe_load(config.read_text())
    data["image"] = {"python": NEWER}
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "opt/mods/svc/requirements.txt").write_text("redis==6.2.0\n")
    done = run_revops(newer, config, "lock", "--offline", "--find-links", str(testbed.wheelhouse))
    assert done.returncode == 0, done.stderr
    assert "async-timeout" not in lock_text(config)
    with pytest.raises(CheckFailed, match="redis 6.2.0 requires async-timeout"):
        build_image(testbed, lock_text(config), [testbed.wheelhouse, tmp_path / ".revops/wheelhouse"],
                    tmp_path / "bad", imports="redis")


def test_the_base_images_python_is_read_once_and_cached_by_image_id(testbed, tmp_path, monkeypatch):
    from revops.adapters import docker_engine
    from revops.lock import baseimage

    assert baseimage.python_of(testbed.base_image, tmp_path) == (OLDER, "")
    (image_id, version), = yaml.safe_load((tmp_path / baseimage.CACHE_FILE).read_text()).items()
    assert image_id.startswith("sha256:") and version == OLDER

    def no_container(*args, **kwargs):
        raise AssertionError("a container was run again")

    monkeypatch.setattr(docker_engine, "connect", no_container)
    assert baseimage.python_of(testbed.base_image, tmp_path) == (OLDER, "")
    version, why = baseimage.python_of("revops-test-no-such-image:none", tmp_path)
    assert version is None and "not in the local engine" in why


def test_the_example_hosts_locks_are_for_the_base_images_python(testbed, tmp_path):
    from test_lock_examplehost import revops

    for args in (("example-host", str(tmp_path)), ("inventory", "scan"), ("lock", "--dry-run", "--json")):
        done = revops(tmp_path, *args)
        assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["python"] == {"version": OLDER,
                                                    "source": f"base image {testbed.base_image}"}
