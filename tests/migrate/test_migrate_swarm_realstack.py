"""Phase 1 of the live example host to the test bed's three-node Swarm cluster: the units on
this host (the bed's systemd user manager), their services on the cluster, the images pushed
to the bed's registry. Real systemd, real engines, real registry, real /health.

The images are built on the manager's engine (DOCKER_HOST): the nodes' engines know the bed's
plain-HTTP registry, the bed's main engine does not. Everything is removed afterwards: the
stack, its secrets, the units.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from revops import config as config_mod
from revops.adapters import http, swarm as swarm_adapter, systemd
from revops.adapters.ledger import open_ledger
from revops.commands import migrate
from revops.migrate import wiring

from test_migrate_realstack import API, FAST_HEALTH, revops

pytestmark = pytest.mark.realstack

STACK = "revflowtest"
GATEWAY = "revcore-gateway.service"


@pytest.fixture(scope="module")
def host(testbed, swarm, tmp_path_factory):
    root = tmp_path_factory.mktemp("swarm-live")
    os.environ.pop("REVOPS_DATABASE_URL", None)
    from revops.example_host import live

    revops(root, "example-host", str(root), "--live")
    try:
        doc = yaml.safe_load((root / "revops.yaml").read_text())
        # Swarm replaces a task whose check fails `retries` times: with the compose tests' 2 s
        # timeout, a check's interpreter start on this loaded 2-core bed (three engines) was
        # seen to time out, and Swarm killed proven tasks (ended 'complete' after SIGTERM).
        # The production timeout (10 s) with the short interval keeps the test quick.
        doc["health"].update({**FAST_HEALTH, "timeout": "10s"})
        # Each bed node offers 2 CPUs. At the suite's 1.0 CPU its six workers reserve 0.25
        # each, and the stack's 19 tasks reserve 4.48 CPUs: more than two nodes hold. With a node
        # killed, Swarm then left one task or another pending on "insufficient resources" (seen
        # in CI), by the order it rescheduled them. At 0.5 the stack reserves 2.98 CPUs on two.
        doc["suites"]["core"]["cpus"] = 0.5
        doc["swarm"] = {"registry": swarm.registry, "insecure_registry": True, "manager": swarm.manager.docker_host,
                        "cli": swarm.docker_cli, "stack": STACK, "publish": [GATEWAY],
                        "placement": {"core": {"replicas": 2, "max_replicas_per_node": 1}}}
        (root / "revops.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        revops(root, "inventory", "scan")
        revops(root, "lock", "--suite", "core", "--offline", "--find-links", os.environ["REVOPS_WHEELHOUSE"])
        revops(root, "generate", "--target", "swarm")
        manager_env = {**os.environ, "DOCKER_HOST": swarm.manager.docker_host}
        done = subprocess.run([os.sys.executable, "-m", "revops", "build", "--suite", "core", "--push",
                               "--find-links", os.environ["REVOPS_WHEELHOUSE"]], cwd=root, env=manager_env,
                              capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "pushed " in done.stdout
        yield root
    finally:
        swarm.docker("stack", "rm", STACK, check=False)
        _wait_no_services(swarm)
        names = swarm.docker("secret", "ls", "-q", "--filter", "label=revops.managed=true", check=False).stdout.split()
        if names:
            swarm.docker("secret", "rm", *names, check=False)
        live.teardown(root)


def _wait_no_services(swarm, timeout: float = 120) -> None:
    """`stack rm` returns at once; a secret in use by a task cannot be removed before it is gone."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = swarm.docker("ps", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}", check=False)
        tasks = [n for n in swarm.nodes
                 if swarm.docker("ps", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}",
                                 node=n, check=False).stdout.strip()]
        if not left.stdout.strip() and not tasks:
            return
        time.sleep(1)


def config(root: Path) -> config_mod.Config:
    return config_mod.load(root / "revops.yaml")


def cluster(swarm):
    return swarm_adapter.connect(swarm.manager.docker_host)


def test_registry_down_at_preflight_is_a_clear_error_and_changes_nothing(host, swarm):
    pid_file = Path(swarm.env["REVOPS_TESTBED_DIR"]) / "swarm/registry/registry.pid"
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    try:
        done = revops(host, "migrate", "--target", "swarm", "--phase", "1", "--yes", check=False, timeout=600)
    finally:
        subprocess.run(["scripts/testbed", "start"], cwd=Path(__file__).resolve().parents[2],
                       capture_output=True, timeout=600, check=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"registry {swarm.registry} does not answer" in done.stderr
    states = systemd.connect("user").states(list(API))
    assert all(s.active_state == "active" for s in states.values()), states
    assert cluster(swarm).services([f"com.docker.stack.namespace={STACK}"]) == []


def test_phase_one_migrates_to_the_cluster(host, swarm):
    result = migrate.run(config(host), 1, yes=True, host_factory=wiring.swarm_host)
    if result.exit_code == 1:
        # Seen once in five runs on this bed: one service's step failed on an error of the
        # manager's API (cause not yet found), its unit untouched. An operator migrates again;
        # the run must converge, and the first run's reasons are printed for the record.
        first = [(r.unit, r.outcome, r.reason) for r in result.services if r.outcome != "migrated"]
        print(f"first run exit 1, migrating again: {first}")
        assert all(o in ("not-started", "candidate-failed", "skipped") for _, o, _ in first), first
        result = migrate.run(config(host), 1, yes=True, host_factory=wiring.swarm_host)
    assert result.exit_code == 0, [(r.unit, r.outcome, r.reason) for r in result.services]
    assert {r.outcome for r in result.services} <= {"migrated"}
    c = cluster(swarm)
    nodes = {n.id: n for n in c.nodes()}
    states = systemd.connect("user").states(list(API))
    for unit in API:
        assert states[unit].active_state == "inactive" and states[unit].unit_file_state in ("disabled", None)
    for unit in API:
        _spread_as_placement_says(c, nodes, unit)
    for node in nodes.values():  # the gateway answers on every node's address
        probe = _answers(f"http://{node.address}:{API[GATEWAY]}/health")
        assert probe.status_code == 200, (node.hostname, probe)
    # status --target swarm: the cluster's figures, every service running its desired tasks
    from revops.commands import status
    for _ in range(30):  # a replaced task is `starting` until its first check passes
        report = status.read(config(host), target="swarm")
        by_unit = {s.name: s for s in report.services}
        if all(by_unit[u].container.health == "healthy" for u in API):
            break
        time.sleep(2)
    for unit in API:
        c = by_unit[unit].container
        assert c.present and c.health == "healthy" and c.cluster["running"] == c.cluster["desired"], (unit, c)
        assert all(t["provenance"] == "LIVE" and t["state"] == "running" for t in c.cluster["tasks"]), c.cluster
    ledger = open_ledger(config(host).database_url)
    assert {u: r.migration_state for u, r in ledger.service_states().items() if u in API} == dict.fromkeys(API, "migrated")
    assert ledger.open_steps() == []
    ledger.close()
    # The env file's values are nowhere in the service's spec (a Docker secret, a file).
    spec = swarm.docker("service", "inspect", f"{STACK}_revpublish").stdout
    env_text = (host / "opt/shared-api-engine/.env").read_text() if (host / "opt/shared-api-engine/.env").exists() else ""
    for line in env_text.splitlines():
        if "=" in line and not line.startswith("#"):
            value = line.split("=", 1)[1].strip().strip('"')
            if len(value) >= 6:
                assert value not in spec



def _answers(url: str, within_s: float = 60):
    """The probe of `url` once it answers 200, or the last one after `within_s`: a task Swarm
    has just replaced is running before its process listens (connection refused meanwhile)."""
    import warnings

    end = time.monotonic() + within_s
    tries = 0
    while True:
        probe, tries = http.probe(url, 5), tries + 1
        if probe.status_code == 200 or time.monotonic() >= end:
            break
        time.sleep(1)
    if tries > 1:
        warnings.warn(f"{url}: answered {probe.status_code} after {tries} probes (first: not yet listening)")
    return probe


def _spread_as_placement_says(c, nodes, unit: str, within_s: float = 120) -> None:
    """The unit's service runs where placement says: the gateway (global, published in host
    mode) one task on every node, the others (replicas 2, at most one per node) on two nodes.
    Swarm replaces a task its health check fails (a 2 s timeout on a loaded 2-core bed was
    seen to fail one on the manager after the run had proven it): the spread must come back
    within `within_s`; each task that ended meanwhile is shown as a warning, with its error."""
    import warnings

    name = f"{STACK}_{unit.removesuffix('.service')}"
    want = sorted(n.hostname for n in nodes.values()) if unit == GATEWAY else None
    end = time.monotonic() + within_s
    while True:
        tasks = c.tasks(name)
        running = [t for t in tasks if t.desired_state == "running" and t.state == "running"]
        hosts = sorted(nodes[t.node_id].hostname for t in running)
        spread = hosts == want if want is not None else len(hosts) == 2 and len(set(hosts)) == 2
        if spread or time.monotonic() >= end:
            break
        time.sleep(2)
    history = [(nodes[t.node_id].hostname if t.node_id in nodes else t.node_id, t.state, t.message, t.error)
               for t in tasks if t.ended]
    if history:
        warnings.warn(f"{name}: ended tasks in the manager's history: {history}")
    assert spread, (unit, hosts, [(t.node_id, t.desired_state, t.state, t.message, t.error) for t in tasks])


def test_rollback_then_a_service_that_never_gets_healthy_keeps_its_unit(host, swarm):
    """revpublish back under systemd (service removed), then migrated again with its secret
    missing JWT_SECRET: its tasks never pass /health, so the candidate (the service, deployed
    beside the unit) is removed with the reason and the unit, never stopped, still answers."""
    from revops.commands import rollback

    unit, name = "revpublish.service", f"{STACK}_revpublish"
    back = rollback.run(config(host), ["revpublish"], None, yes=True, host_factory=wiring.swarm_host)
    assert back.exit_code == 0, back.results
    assert cluster(swarm).service(name) is None
    assert systemd.connect("user").states([unit])[unit].active_state == "active"
    env = next(host.glob("**/opt/shared-api-engine/.env"))
    good = env.read_bytes()
    env.write_bytes(b"".join(l + b"\n" for l in good.splitlines() if not l.startswith(b"JWT_SECRET")))
    try:
        revops(host, "generate", "--target", "swarm")
        result = migrate.run(config(host), 1, ["revpublish"], yes=True, host_factory=wiring.swarm_host)
    finally:
        env.write_bytes(good)
        revops(host, "generate", "--target", "swarm")
    (svc,) = result.services
    assert result.exit_code == 1 and svc.outcome == "candidate-failed", svc
    assert f"{name} not healthy on the cluster" in svc.reason and "was not stopped" in svc.reason, svc.reason
    assert "JWT_SECRET" in svc.reason or "tasks" in svc.reason  # the app's own words or the task errors
    assert cluster(swarm).service(name) is None
    assert systemd.connect("user").states([unit])[unit].active_state == "active"
    assert http.probe(f"http://127.0.0.1:{API[unit]}/health", 5).status_code == 200
    # Migrated again with the file as it was: the cluster serves it, the unit is retired.
    again = migrate.run(config(host), 1, ["revpublish"], yes=True, host_factory=wiring.swarm_host)
    assert again.exit_code == 0, [(r.unit, r.outcome, r.reason) for r in again.services]


def _mounted(swarm, name: str) -> list[str]:
    """The secrets the service's spec mounts, as `docker service inspect` shows them."""
    import json

    spec = json.loads(swarm.docker("service", "inspect", name).stdout)[0]["Spec"]
    return [s["SecretName"] for s in spec["TaskTemplate"]["ContainerSpec"].get("Secrets") or []]


def _version_now(root: Path, unit: str) -> str:
    """The `sha256:` digest a Docker secret of what the unit's env files give now is named by."""
    from revops.commands import secrets as secrets_cmd
    from revops.migrate import plan as P

    inputs = wiring.read_inputs(config(root))
    [found] = [u for u in inputs.inventory.units if u.name == unit]
    return secrets_cmd.current_digest(config(root), "swarm")(P.service_plan(found, config(root), inputs.files))


def test_rotate_swaps_the_secret_by_a_service_update_and_swarm_rolls_a_bad_one_back(host, swarm):
    """After phase 1: a value of revpublish's env file changed, `secrets rotate --target swarm`
    puts its tasks on the new digest-named secret (healthy, no value in `docker service
    inspect`); then the file without JWT_SECRET (the app refuses /health without it): the
    rotation fails and the service ends back on the secret it had, healthy, exit 1."""
    from revops.commands import status

    unit, name = "revpublish.service", f"{STACK}_revpublish"
    env = next(host.glob("**/opt/shared-api-engine/.env"))
    good = env.read_bytes()
    before = _mounted(swarm, name)
    assert len(before) == 1 and before[0].startswith("revpublish.env-")
    changed = b"".join((b"JWT_SECRET=rotated-" + os.urandom(6).hex().encode() if l.startswith(b"JWT_SECRET=") else l)
                       + b"\n" for l in good.splitlines())
    new_value = next(l for l in changed.splitlines() if l.startswith(b"JWT_SECRET=")).split(b"=", 1)[1].decode()
    try:
        env.write_bytes(changed)
        plan = revops(host, "secrets", "rotate", "revpublish", "--target", "swarm", "--dry-run", "--json")
        digest = _version_now(host, unit)
        assert digest in plan.stdout and new_value not in plan.stdout + plan.stderr
        done = revops(host, "secrets", "rotate", "revpublish", "--target", "swarm", "--yes", check=False, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        rotated = f"revpublish.env-{digest.split(':')[1]}"
        assert _mounted(swarm, name) == [rotated]
        inspect = swarm.docker("service", "inspect", name).stdout
        assert new_value not in inspect and new_value not in done.stdout + done.stderr
        running = [t for t in cluster(swarm).tasks(name) if t.desired_state == "running" and t.state == "running"]
        assert len(running) == 2 and all(t.secrets == (rotated,) for t in running), running
        print("rotated:", done.stdout.strip().splitlines()[-3:])
        report = {s.name: s for s in status.read(config(host), target="swarm").services}
        assert report[unit].container.health == "healthy" and "older-secret" not in report[unit].flags
        assert report[unit].secret.held == digest and report[unit].secret.outdated is False
        ledger = open_ledger(config(host).database_url)
        from revops.secrets import versions
        assert versions.held(ledger.last_done(versions.HELD_STEPS))[unit][0] == digest
        ledger.close()

        # The file without JWT_SECRET: the new tasks never pass /health.
        env.write_bytes(b"".join(l + b"\n" for l in changed.splitlines() if not l.startswith(b"JWT_SECRET")))
        broken = f"revpublish.env-{_version_now(host, unit).split(':')[1]}"
        failed = revops(host, "secrets", "rotate", "revpublish", "--target", "swarm", "--yes", check=False, timeout=900)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "restored" in failed.stdout, failed.stdout
        print("bad rotation:", failed.stdout.strip().splitlines()[-4:])
        assert _mounted(swarm, name) == [rotated]
        running = [t for t in cluster(swarm).tasks(name) if t.desired_state == "running" and t.state == "running"]
        assert len(running) == 2 and all(t.secrets == (rotated,) for t in running), running
        report = {s.name: s for s in status.read(config(host), target="swarm").services}
        assert report[unit].container.health == "healthy"
        left = swarm.docker("secret", "ls", "--format", "{{.Name}}").stdout.split()
        print("secrets on the cluster:", left, "failed one:", broken)
    finally:
        env.write_bytes(good)
        # Back to the secret the stack file names, so the tests after this one find it.
        revops(host, "secrets", "rotate", "revpublish", "--target", "swarm", "--yes", check=False, timeout=900)
    assert _mounted(swarm, name) == before


def test_a_worker_killed_makes_its_tasks_unavailable_then_rescheduled(host, swarm):
    """After phase 1: swarm-3's dockerd killed. Its tasks are never counted healthy; Swarm
    reschedules the replicated ones on the ready nodes and the cutover's verdict converges."""
    import time

    from revops.commands import status
    from revops.migrate import plan as P

    worker = swarm.nodes[2]
    c = cluster(swarm)
    ids = {n.hostname: n.id for n in c.nodes()}
    # A replicated service with a task on the worker, when there is one: Swarm must move it.
    moved = next((u for u in API if u != GATEWAY and any(
        t.node_id == ids[worker.name] and t.state == "running"
        for t in c.tasks(f"{STACK}_{u.removesuffix('.service')}"))), "revpublish.service")
    pid_file = Path(swarm.env["REVOPS_TESTBED_DIR"]) / "swarm" / worker.name / "dockerd.pid"
    killed_at = time.time()
    os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the manager notices after its heartbeat period (~15 s)
            if next(n for n in c.nodes() if n.hostname == worker.name).state == "down":
                break
            time.sleep(1)
        else:
            pytest.fail(f"{worker.name} never reported down")
        report = status.read(config(host), target="swarm")
        gateway = next(s for s in report.services if s.name == GATEWAY).container
        on_worker = [t for t in gateway.cluster["tasks"] if t["node"] == worker.name]
        assert on_worker and all(t["provenance"] == "UNAVAILABLE" and t["state"] is None for t in on_worker), on_worker
        assert on_worker[0]["reason"].startswith(f"node {worker.name} is down")
        # A replicated service converges on the two ready nodes (Swarm reschedules its task).
        host_ = wiring.swarm_host(wiring.read_inputs(config(host)))
        unit = moved
        sp = P.ServicePlan(unit, unit.removesuffix(".service"), "core", 1, API[unit], None, 120)
        verdict = host_.wait_replacement_healthy(sp, 150, lambda: False)
        assert verdict.ok, verdict.reason
        tasks = [t for t in c.tasks(f"{STACK}_{sp.service}") if t.desired_state == "running" and t.state == "running"]
        nodes = {n.id: n.hostname for n in c.nodes()}
        assert worker.name not in {nodes[t.node_id] for t in tasks}
        print(f"{worker.name} killed; rescheduled and healthy {time.time() - killed_at:.1f}s later: {verdict.reason}")
    finally:
        subprocess.run(["scripts/testbed", "start"], cwd=Path(__file__).resolve().parents[2],
                       capture_output=True, timeout=900, check=True)
