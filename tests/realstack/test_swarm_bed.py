"""The test bed's Swarm cluster is a real one: three Ready nodes, a registry the workers pull
from, tasks spread over the nodes, overlay networks across them, ports published on each.

These prove the bed the Swarm target is tested on, not revops. Everything a test creates
carries a unique name and is removed afterwards; traffic goes only to the bed's own addresses.

This kernel has no IPVS, so Swarm's virtual IPs and its ingress routing mesh do not work
here (see scripts/testbed): services are reached by name with `endpoint_mode: dnsrr`, and
ports are published in `mode: host`, which answers on the nodes that run a task.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from revops.errors import CheckFailed
from . import wait_until

pytestmark = pytest.mark.realstack

TEST_LABEL = "revops.test"
SERVE = "python3 -m http.server --directory /srv 8000"


def _names(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


@pytest.fixture(scope="module")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


def _remove_network(swarm, name: str) -> None:
    """A network goes once its last task's endpoint is gone, which lags `stack rm` a little."""
    def gone() -> bool:
        swarm.docker("network", "rm", name, check=False)
        return name not in _names(swarm.docker("network", "ls", "--format", "{{.Name}}").stdout)

    assert wait_until(gone, bool, timeout=60), f"network {name} still there after 60 s"


@pytest.fixture(scope="module")
def overlay(swarm, run_id):
    """An attachable overlay network; every container on it is removed afterwards, on every node."""
    name = f"revops-test-net-{run_id}"
    swarm.docker("network", "create", "--driver", "overlay", "--attachable",
                 "--label", f"{TEST_LABEL}={run_id}", name)
    yield name
    for node in swarm.nodes:
        ids = _names(swarm.docker("ps", "-aq", "--filter", f"label={TEST_LABEL}={run_id}", node=node).stdout)
        if ids:
            swarm.docker("rm", "-f", *ids, node=node)
    _remove_network(swarm, name)


def _stack_file(swarm, port: int, run_id: str) -> str:
    """Three replicas, each writing its node's hostname where the web server serves it."""
    script = f"mkdir -p /srv && hostname > /srv/node && exec {SERVE}"
    return json.dumps({  # JSON is YAML: no quoting to get wrong
        "version": "3.8",
        "services": {"web": {
            "image": swarm.base_image,
            "command": ["sh", "-c", script],
            "hostname": "{{.Node.Hostname}}",
            "networks": ["net"],
            "ports": [{"target": 8000, "published": port, "protocol": "tcp", "mode": "host"}],
            "labels": {TEST_LABEL: run_id},
            # python as PID 1 ignores SIGTERM: without this, `stack rm` waits 10 s per task
            "stop_grace_period": "1s",
            "deploy": {"replicas": 3, "endpoint_mode": "dnsrr",
                       "restart_policy": {"condition": "on-failure", "max_attempts": 3}},
        }},
        "networks": {"net": {"driver": "overlay", "attachable": True}},
    }, indent=2)


def _running_tasks(swarm, service: str) -> list[tuple[str, str]]:
    """(node, current state) of each task meant to run."""
    done = swarm.docker("service", "ps", service, "--filter", "desired-state=running",
                        "--format", "{{.Node}}\t{{.CurrentState}}", check=False)
    return [tuple(line.split("\t", 1)) for line in _names(done.stdout)]  # type: ignore[misc]


def _all_running(tasks: list[tuple[str, str]]) -> bool:
    return len(tasks) == 3 and all(state.startswith("Running") for _, state in tasks)


@pytest.fixture(scope="module")
def stack(swarm, run_id, tmp_path_factory: pytest.TempPathFactory):
    """A stack deployed with the bed's CLI, as revops will deploy: (stack name, published port)."""
    name = f"revops-test-{run_id}"
    port = 20000 + int(run_id, 16) % 10000
    path: Path = tmp_path_factory.mktemp("stack") / "stack.yml"
    path.write_text(_stack_file(swarm, port, run_id), encoding="utf-8")
    detach = ["--detach=false"] if "--detach" in swarm.docker("stack", "deploy", "--help").stdout else []
    try:
        swarm.docker("stack", "deploy", *detach, "--compose-file", str(path), name, timeout=300)
        yield name, port
    finally:
        swarm.docker("stack", "rm", name, check=False)
        _remove_network(swarm, f"{name}_net")


def test_three_nodes_ready_one_of_them_the_manager(swarm):
    listed = swarm.docker("node", "ls", "--format", "{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}")
    rows = sorted(tuple(line.split("\t")) for line in _names(listed.stdout))
    assert rows == [(swarm.nodes[0].name, "Ready", "Active", "Leader"),
                    (swarm.nodes[1].name, "Ready", "Active", ""),
                    (swarm.nodes[2].name, "Ready", "Active", "")]
    for node in swarm.nodes:
        own = swarm.docker("info", "--format", "{{.Name}} {{.Swarm.NodeAddr}} {{.Swarm.ControlAvailable}}", node=node)
        assert own.stdout.split() == [node.name, node.address, str(node is swarm.manager).lower()]


def test_a_worker_pulls_an_image_pushed_to_the_registry(swarm, run_id):
    worker = swarm.nodes[1]
    tag = f"{swarm.registry}/revops-test/pushed:{run_id}"
    swarm.docker("build", "--label", f"{TEST_LABEL}={run_id}", "--tag", tag, "-",
                 input=f"FROM {swarm.base_image}\nLABEL revops.test.marker={run_id}\n")
    try:
        swarm.docker("push", tag)
        pushed = swarm.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
        with pytest.raises(CheckFailed):  # a fresh tag: the worker cannot have it yet
            swarm.docker("image", "inspect", tag, node=worker)
        swarm.docker("pull", tag, node=worker)
        pulled = swarm.docker("image", "inspect", "--format",
                              '{{.Id}} {{index .Config.Labels "revops.test.marker"}}', tag, node=worker)
        assert pulled.stdout.split() == [pushed, run_id]
    finally:
        for node in (swarm.manager, worker):
            swarm.docker("rmi", "--force", tag, node=node, check=False)
        _delete_from_registry(swarm, "revops-test/pushed", run_id)


def _delete_from_registry(swarm, repository: str, tag: str) -> None:
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    with httpx.Client(base_url=f"http://{swarm.registry}/v2", timeout=10, trust_env=False) as http:
        head = http.head(f"/{repository}/manifests/{tag}", headers=accept)
        if head.status_code == 200:
            http.delete(f"/{repository}/manifests/{head.headers['Docker-Content-Digest']}")


def test_containers_on_different_nodes_reach_each_other_by_name_over_an_overlay(swarm, overlay, run_id):
    server, client = swarm.nodes[1], swarm.nodes[2]
    name = f"revops-test-srv-{run_id}"
    swarm.docker("run", "--detach", "--name", name, "--network", overlay, "--label", f"{TEST_LABEL}={run_id}",
                 swarm.base_image, "sh", "-c", f"mkdir -p /srv && echo {run_id} > /srv/id && exec {SERVE}",
                 node=server)
    fetch = (f"import time, urllib.request\n"
             f"for _ in range(50):\n"
             f"    try:\n"
             f"        print(urllib.request.urlopen('http://{name}:8000/id', timeout=2).read().decode()); break\n"
             f"    except OSError:\n"
             f"        time.sleep(0.2)\n")
    for node in (client, swarm.manager):
        answer = swarm.docker("run", "--rm", "--network", overlay, "--label", f"{TEST_LABEL}={run_id}",
                              swarm.base_image, "python3", "-c", fetch, node=node)
        assert answer.stdout.strip() == run_id, f"from {node.name}: {answer.stdout!r} {answer.stderr!r}"


def test_a_replicated_service_spreads_its_tasks_over_the_nodes(swarm, stack):
    name, _ = stack
    tasks = wait_until(lambda: _running_tasks(swarm, f"{name}_web"), _all_running, timeout=120)
    assert _all_running(tasks), tasks
    assert sorted(node for node, _ in tasks) == sorted(node.name for node in swarm.nodes)


def test_a_published_port_answers_on_each_nodes_address(swarm, stack):
    name, port = stack
    assert _all_running(wait_until(lambda: _running_tasks(swarm, f"{name}_web"), _all_running, timeout=120))
    with httpx.Client(timeout=5, trust_env=False) as http:
        for node in swarm.nodes:
            answer = wait_until(lambda: _get(http, f"http://{node.address}:{port}/node"),
                                lambda r: r is not None and r.status_code == 200, timeout=30)
            assert answer is not None and answer.status_code == 200, node.name
            # mode: host: the node's own task answers, not one elsewhere through a mesh
            assert answer.text.strip() == node.name


def _get(http: httpx.Client, url: str) -> httpx.Response | None:
    try:
        return http.get(url)
    except httpx.TransportError:
        return None
