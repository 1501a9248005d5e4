"""SwarmHost's judgement on data: what counts as healthy on a cluster, what preflight refuses.

The cluster here is scripted (the adapter's dataclasses, filled by hand); the real cluster is
test_migrate_swarm_realstack.py's. No HTTP: the services here publish no port.
"""

from __future__ import annotations

import dataclasses

from pathlib import Path

import pytest

from revops import config as config_mod
from revops.adapters.swarm import Node, PublishedPort, Service, Task
from revops.adapters.systemd import UnitState
from revops.errors import CheckFailed
from revops.migrate import plan as P
from revops.migrate.stackfile import StackFile
from revops.migrate.swarmhost import SwarmHost

STACK = {"version": "3.9", "services": {"revpublish": {
    "image": "10.0.0.5:5000/revflow/revpublish:abc", "labels": {"revops.unit": "revpublish.service"},
    "networks": ["revflow-network"], "secrets": [{"source": "revpublish.env-0123456789ab", "target": "revpublish.env"}],
    "deploy": {"mode": "replicated", "replicas": 2, "placement": {"max_replicas_per_node": 1}}}},
    "networks": {"revflow-network": {"external": True, "name": "revflow-network"}},
    "secrets": {"revpublish.env-0123456789ab": {"external": True, "name": "revpublish.env-0123456789ab"}}}


def node(i, state="ready"):
    return Node(f"n{i}", f"swarm-{i}", "worker", state, "active", f"10.0.0.{i}", "", "2026-01-01T00:00:00Z")


def task(i, node_id, state="running", desired="running", error=None, ts="2026-01-01T00:00:01Z"):
    return Task(f"t{i}", "svc", i, node_id, desired, state, state, error, ts, ts)


def service(update_state=None, ports=()):
    return Service("svc", "revflow_revpublish", {}, {}, "replicated", 2, "img", tuple(ports), update_state,
                   "update rolled back due to failure or early termination of task t9" if update_state else None,
                   None, None, "", "")


class Cluster:
    def __init__(self, nodes, tasks, svc=None):
        self._nodes, self._tasks, self._svc = nodes, tasks, svc
        self.removed, self.secrets, self.created = [], set(), []

    def nodes(self): return self._nodes
    def service(self, name): return self._svc
    def tasks(self, service=None, labels=()): return self._tasks
    def logs_tail(self, service, lines=15): return ["boom: DATABASE_PASSWORD=hunter22 refused"]
    def remove_service(self, name):
        self.removed.append(name)
        self._svc = None
        return True
    def ensure_network(self, name, labels): return f"network {name} present"
    def secret_names(self, labels=()): return self.secrets
    def create_secret(self, name, data, labels): self.created.append((name, data))


class Registry:
    def __init__(self, present=True): self.present = present
    def manifest_digest(self, repository, tag): return "sha256:x" if self.present else None


class Systemd:
    def states(self, names):
        return {n: UnitState(n, "loaded", "active", "running", None, 0, 1, "enabled", None) for n in names}


def make(tmp_path, cluster, registry=Registry(), content=(("DATABASE_PASSWORD", "hunter22"),), deployed=None):
    from revops.secrets.bundle import Bundle
    cfg = config_mod.Config(path=tmp_path / "revops.yaml", root=tmp_path)
    host = SwarmHost(cfg, Systemd(), cluster, registry, StackFile(str(tmp_path / "s.stack.yml"), STACK),
                     deploy=lambda path: (deployed.append(Path(path).read_text()) if deployed is not None else None) or "ok",
                     stack_name="revflow", registry_address="10.0.0.5:5000", network="revflow-network")
    # What the service may read, as revops.secrets.bundle reads it from the unit's files.
    host._bundles["revpublish.service"] = Bundle("revpublish.service", content, ("EnvironmentFile=/x/.env",))
    host._bundle = lambda sp, fresh=False: host._bundles[sp.unit]
    return host


SP = P.ServicePlan("revpublish.service", "revpublish", "core", 1, None, None, 0.5, secret="revpublish.env")


def test_all_replicas_running_on_ready_nodes_is_healthy(tmp_path):
    host = make(tmp_path, Cluster([node(1), node(2), node(3)], [task(1, "n1"), task(2, "n2")], service()))
    verdict = host.replacement_verdict(SP)
    assert verdict.ok and "2/2 tasks running and healthy on swarm-1, swarm-2" in verdict.reason


def test_a_task_on_a_node_that_is_down_is_never_counted_healthy(tmp_path):
    host = make(tmp_path, Cluster([node(1), node(2, "down"), node(3)], [task(1, "n1"), task(2, "n2")], service()))
    verdict = host.replacement_verdict(SP)
    assert not verdict.ok and "1/2 tasks running (swarm-1); 1 on node(s) down" in verdict.reason


def test_a_task_still_starting_is_not_healthy_and_says_why(tmp_path):
    tasks = [task(1, "n1"), task(2, "n2", state="starting")]
    verdict = make(tmp_path, Cluster([node(1), node(2)], tasks, service())).replacement_verdict(SP)
    assert not verdict.ok and "starting" in verdict.reason


def test_an_update_rolled_back_after_this_run_deployed_it_is_not_healthy(tmp_path):
    svc = service("rollback_completed")
    svc = dataclasses.replace(svc, update_completed="2026-11-29T21:00:02.05Z")
    host = make(tmp_path, Cluster([node(1), node(2)], [task(1, "n1"), task(2, "n2")], svc))
    host._deployed_at[SP.service] = "2026-11-29T21:00:00.00Z"
    verdict = host.replacement_verdict(SP)
    assert not verdict.ok and "rollback_completed" in verdict.reason


def test_a_rollback_completed_before_this_run_is_history_judged_by_the_tasks(tmp_path):
    # A rotation Swarm rolled back earlier: the previous spec runs; an earlier phase's gate
    # must not stay closed for it.
    host = make(tmp_path, Cluster([node(1), node(2)], [task(1, "n1"), task(2, "n2")], service("rollback_completed")))
    assert host.replacement_verdict(SP).ok


def test_a_paused_update_is_not_healthy(tmp_path):
    host = make(tmp_path, Cluster([node(1), node(2)], [task(1, "n1"), task(2, "n2")], service("paused")))
    verdict = host.replacement_verdict(SP)
    assert not verdict.ok and "paused" in verdict.reason


def test_tasks_that_keep_failing_end_the_wait_with_their_errors_redacted(tmp_path):
    tasks = [task(i, "n1", state="failed", desired="shutdown", error="task: non-zero exit (1)", ts="2099-01-01T00:00:00Z")
             for i in range(3)]
    host = make(tmp_path, Cluster([node(1), node(2)], tasks, service()))
    verdict = host.wait_replacement_healthy(SP, 60, lambda: False)
    assert not verdict.ok and "3 tasks of revflow_revpublish failed" in verdict.reason
    assert "non-zero exit (1)" in verdict.reason and "hunter22" not in verdict.reason


def test_preflight_refuses_an_image_missing_from_the_registry(tmp_path):
    cluster = Cluster([node(1), node(2)], [], None)
    with pytest.raises(CheckFailed, match="not in registry 10.0.0.5:5000") as info:
        make(tmp_path, cluster, Registry(present=False)).preflight(SP)
    assert "revops build --push" in (info.value.hint or "")
    assert cluster.created == [] and cluster.removed == []


def test_preflight_refuses_too_few_ready_nodes(tmp_path):
    cluster = Cluster([node(1), node(2, "down")], [], None)
    with pytest.raises(CheckFailed, match="needs 2 ready node"):
        make(tmp_path, cluster).preflight(SP)


def test_write_secret_refuses_content_changed_since_generate(tmp_path):
    cluster = Cluster([node(1), node(2)], [], None)
    with pytest.raises(CheckFailed, match="changed since `revops generate`"):
        make(tmp_path, cluster).write_secret(SP)
    assert cluster.created == []


def test_secret_then_a_candidate_that_never_gets_healthy_is_removed(tmp_path, monkeypatch):
    from revops.generate import stack
    from revops.migrate import swarmhost
    from revops.secrets.bundle import Bundle
    monkeypatch.setattr(swarmhost, "PULL_ALLOWANCE_S", 0.0)
    pairs = (("A", "1"),)
    content = Bundle("u", pairs, ()).text()
    name = f"revpublish.env-{stack.env_digest(content)[:12]}"
    doc = {**STACK, "secrets": {name: {"external": True, "name": name}}}
    doc["services"] = {"revpublish": {**STACK["services"]["revpublish"], "secrets": [{"source": name, "target": "revpublish.env"}]}}
    cluster = Cluster([node(1), node(2)], [task(1, "n1", state="starting")], service())
    deployed = []
    host = make(tmp_path, cluster, content=pairs, deployed=deployed)
    host.stack = StackFile(str(tmp_path / "s.stack.yml"), doc)
    said = host.write_secret(SP)
    assert said == f"secret {name} created; sha256:{stack.env_digest(content)[:12]}" and cluster.created == [(name, content)]
    verdict = host.verify_candidate(SP, 0.5, lambda: False)
    assert not verdict.ok and len(deployed) == 1 and '"revpublish"' in deployed[0]
    assert cluster.removed == ["revflow_revpublish"]
    assert "not healthy within 0.5s" in verdict.reason and "revpublish.service was not stopped" in verdict.reason


def test_preflight_changes_nothing(tmp_path):
    cluster = Cluster([node(1), node(2)], [], None)
    said = make(tmp_path, cluster).preflight(SP)
    assert "image 10.0.0.5:5000/revflow/revpublish:abc in the registry" in said and "2 ready node(s)" in said
    assert cluster.created == [] and cluster.removed == []


def test_the_units_stop_in_its_outage_waits_for_nothing(tmp_path):
    """The executor stops the unit inside host.outage (LiveHost orders its engine's work
    there); on a cluster the service already runs, so the outage is the stop alone."""
    stopped = []

    class Stopping(Systemd):
        def start(self, name, timeout, mode): raise AssertionError("started")
        def stop(self, name, timeout, mode): stopped.append((name, mode))
        def wait_for(self, name, states, timeout): return "inactive"

    host = make(tmp_path, Cluster([node(1)], [], None))
    host.systemd = Stopping()
    with host.outage(SP):
        said = host.stop_unit(SP)
    assert stopped == [("revpublish.service", "ignore-requirements")]
    assert said.startswith("revpublish.service inactive after ") and "waited" not in said
