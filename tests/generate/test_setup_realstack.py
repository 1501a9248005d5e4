"""A one-shot set-up as generate writes it, for real under the host's compose tool: its
ExecStart lines run in order as services, each waiting for the one before to complete
successfully, and the services that were After= it start only once the last one exited 0;
when a step fails, nothing after it starts."""

from __future__ import annotations

import json
import uuid

import pytest

from revops.adapters import compose, docker_engine

pytestmark = pytest.mark.realstack


def stack(image: str, seed_exit: int) -> dict:
    def once(code: str) -> dict:
        return {"image": image, "command": ["/usr/bin/python3", "-c", code], "restart": "no",
                "labels": {"revops.kind": "setup"}, "network_mode": "none"}

    return {"services": {
        "db-migrate-step1": once("print('migrate', flush=True)"),
        "db-migrate": {**once(f"import sys; print('seed', flush=True); sys.exit({seed_exit})"),
                       "depends_on": {"db-migrate-step1": {"condition": "service_completed_successfully"}}},
        "worker": {"image": image, "command": ["/usr/bin/python3", "-c", "import time; time.sleep(120)"],
                   "restart": "unless-stopped", "network_mode": "none",
                   "depends_on": {"db-migrate": {"condition": "service_completed_successfully"}}},
    }}


@pytest.mark.parametrize("seed_exit", [0, 3])
def test_dependents_start_only_after_the_set_up_completed(testbed, tmp_path, seed_exit):
    files = [str(tmp_path / "docker-compose.yml")]
    (tmp_path / "docker-compose.yml").write_text(json.dumps(stack(testbed.base_image, seed_exit)))
    project = f"revopssetup{uuid.uuid4().hex[:8]}"
    client = compose.connect(cwd=tmp_path, project=project)
    engine = docker_engine.connect()
    try:
        done = client.run(files, "up", "-d", "worker", check=False)
        states = {}
        for service in ("db-migrate-step1", "db-migrate", "worker"):
            ids = client.ps(files, service)
            states[service] = engine.container_state(ids[0]) if ids else None
        assert states["db-migrate-step1"].status == "exited" and states["db-migrate-step1"].exit_code == 0
        assert states["db-migrate"].status == "exited" and states["db-migrate"].exit_code == seed_exit
        if seed_exit == 0:
            assert done.returncode == 0 and states["worker"].status == "running"
        else:
            assert done.returncode != 0 and (states["worker"] is None or states["worker"].status != "running")
    finally:
        client.run(files, "down", "--remove-orphans", "-t", "1", check=False)
