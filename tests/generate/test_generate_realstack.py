"""The generated stack works for real: on a fresh example host, `revops build` makes the phase-1
images from the local base image and wheelhouse (no index), and `docker-compose up` on the
generated top-level file brings every core container to healthy, /health answering 200 on the
ports published on 127.0.0.1."""

from __future__ import annotations

import re
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from revops.adapters import proc

pytestmark = pytest.mark.realstack

# Other tests may run the example host's phase 1 (ports 8004, 8550, ...) on this machine at the
# same time; this host's API ports are moved by PORT_SHIFT and its network gets its own name.
PORT_SHIFT = 20000
CORE_PORTS = {"revcore-gateway": 8004, "revpublish": 8550, "revaudit-v6": 8560, "revscore-iq": 8570}
HEALTHY_WITHIN_S = 120


def revops(host: Path, *args: str, timeout: float = 600) -> proc.Completed:
    done = proc.run([sys.executable, "-m", "revops", *args], cwd=host, check=False, timeout=timeout)
    assert done.returncode == 0, f"revops {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def shift_ports(host: Path) -> None:
    for path in (host / "etc/systemd/system").glob("*.service"):
        text = path.read_text()
        shifted = re.sub(r"--port (8004|8550|8560|8570)\b", lambda m: f"--port {int(m.group(1)) + PORT_SHIFT}", text)
        if shifted != text:
            path.write_text(shifted)


@pytest.fixture(scope="module")
def host(testbed, tmp_path_factory):
    wheelhouse = str(testbed.wheelhouse)
    root = tmp_path_factory.mktemp("generate-host")
    revops(root, "example-host", str(root))
    shift_ports(root)
    network = f"revops-test-{uuid.uuid4().hex[:8]}"
    config = root / "revops.yaml"
    config.write_text(config.read_text().replace("network: revflow-network", f"network: {network}"))
    config.write_text(re.sub(r"(?m)^  base: .*$", f"  base: {testbed.base_image}", config.read_text()))
    revops(root, "inventory", "scan")
    revops(root, "lock", "--suite", "core", "--offline", "--find-links", wheelhouse)
    revops(root, "generate")
    return root


@pytest.fixture(scope="module")
def stack(host, testbed):
    project = f"revopsgen{uuid.uuid4().hex[:8]}"
    compose_file = host / "compose/docker-compose.yml"
    top = yaml.safe_load(compose_file.read_text())
    # The long-running core services: a job (profile `jobs`) runs on its timer, not under `up`.
    core = sorted(name for name, svc in top["services"].items()
                  if svc["labels"]["revops.suite"] == "core" and not svc.get("profiles"))
    revops(host, "build", "--suite", "core", "--find-links", str(testbed.wheelhouse), timeout=900)
    write_secret_copies(host, compose_file)
    compose = ["docker-compose", "-p", project, "-f", str(compose_file)]
    try:
        up = proc.run([*compose, "up", "-d", *core], check=False, timeout=600)
        assert up.returncode == 0, up.stderr[-3000:]
        yield project, core, top
    finally:
        proc.run([*compose, "down", "-v", "--remove-orphans"], check=False, timeout=300)


def write_secret_copies(host: Path, compose_file: Path) -> None:
    """What `migrate` writes before a container's first start (its write-secret step): each
    service's copy of what it may read, owned by its uid, mode 0400. compose 1.29 refuses a
    project whose secret files are missing, and the apps refuse /health without their values."""
    from revops import config as config_mod
    from revops import model
    from revops.migrate import composefile
    from revops.migrate import plan as P
    from revops.secrets import bundle
    from revops.secrets.copies import Copies

    cfg = config_mod.load(host / "revops.yaml")
    inventory = model.load(cfg.out("inventory"), cache_dir=cfg.cache_dir)
    copies = Copies(cfg.secrets_path)
    for unit_name, svc in composefile.services([str(compose_file)]).items():
        unit = inventory.unit(unit_name)
        if unit is None or svc.uid is None:
            continue
        sp = P.service_plan(unit, cfg, [str(compose_file)])
        for name, _path in svc.secret_files:
            found = bundle.read(cfg.root, cfg.unit_dirs, unit_name, sp.secret_keys)
            copies.write(name, svc.uid, found.text())


def container_health(project: str) -> dict[str, str]:
    from revops.adapters import docker_engine

    engine = docker_engine.connect()
    rows = engine.list_containers([f"com.docker.compose.project={project}"])
    return {row.labels["com.docker.compose.service"]: (engine.container_state(row.id).health or row.state)
            for row in rows}


def test_generated_files_validate_including_the_host_compose(host):
    done = proc.run([sys.executable, "-m", "revops", "validate", "--format", "json"], cwd=host, check=False)
    result = yaml.safe_load(done.stdout)
    assert done.returncode == 0 and result["errors"] == 0, [f for f in result["findings"] if f["severity"] == "error"]
    for name in sorted(p.name for p in (host / "compose").glob("*.yml")):
        checked = proc.run(["docker-compose", "-f", str(host / "compose" / name), "config", "-q"], check=False)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


def test_phase1_containers_become_healthy_and_answer_health(stack):
    project, core, top = stack
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    health = container_health(project)
    while set(health.values()) != {"healthy"} or set(health) != set(core):
        assert time.monotonic() < deadline, f"not all healthy after {HEALTHY_WITHIN_S}s: {health}"
        time.sleep(2)
        health = container_health(project)
    for service, port in CORE_PORTS.items():
        assert top["services"][service]["ports"] == [f"127.0.0.1:{port + PORT_SHIFT}:{port + PORT_SHIFT}"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port + PORT_SHIFT}/health", timeout=5) as response:
            assert response.status == 200
            assert yaml.safe_load(response.read())["service"] == service


def test_containers_run_as_the_non_root_user_with_the_mapped_command(stack):
    project, core, top = stack
    from revops.adapters import docker_engine

    engine = docker_engine.connect()
    rows = {r.labels["com.docker.compose.service"]: r for r in engine.list_containers([f"com.docker.compose.project={project}"])}
    inspect = engine.api.inspect_container(rows["revpublish"].id)
    # The numeric uid:gid of the image's revflow user (its secret copy is owned by that uid).
    uid, _, gid = inspect["Config"]["User"].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, inspect["Config"]["User"]
    assert inspect["Config"]["Cmd"] == ["/opt/venv/bin/uvicorn", "app:app", "--host", "0.0.0.0", "--port", str(8550 + PORT_SHIFT)]
    assert rows["revpublish"].labels["revops.unit"] == "revpublish.service"
    assert rows["revpublish"].labels["revops.managed"] == "true"
    assert "API_KEY" not in str(inspect["Config"]["Labels"])  # env values are in Env, never in labels/images


def test_a_second_build_reuses_every_image(host, stack, testbed):
    done = revops(host, "build", "--suite", "core", "--json", "--find-links", str(testbed.wheelhouse))
    result = yaml.safe_load(done.stdout)
    assert {i["state"] for s in result["suites"] for i in s["images"]} == {"reused"}
