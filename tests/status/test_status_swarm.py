"""Status on a Swarm target, from a scripted cluster: replicas, tasks' nodes, a node down."""

from revops.adapters.swarm import Node, Service, Task
from revops.status import gather
from revops.status.figures import LIVE, UNAVAILABLE
from revops.status.swarm import SwarmReplacements

LABELS = {"revops.managed": "true", "revops.unit": "revpublish.service"}


def node(i, state="ready", message=""):
    return Node(f"n{i}", f"swarm-{i}", "worker", state, "active", f"10.0.0.{i}", message, "2026-01-01T00:00:00Z")


def task(i, node_id, state="running", desired="running"):
    return Task(f"task{i}xxxxxxxxxxxx", "svc1", i, node_id, desired, state, state, None, "2026-01-01T00:00:0%dZ" % i, "")


class Cluster:
    def __init__(self, nodes, tasks, update_state=None):
        self._nodes, self._tasks, self.update_state = nodes, tasks, update_state
        self.closed = False

    def nodes(self): return self._nodes
    def services(self, labels=()):
        return [Service("svc1", "revflow_revpublish", dict(LABELS), dict(LABELS), "replicated", 2, "img", (),
                        self.update_state, "rolled back" if self.update_state else None, None, None, "", "")]
    def tasks(self, service=None, labels=()): return self._tasks
    def close(self): self.closed = True


def read(cluster):
    return gather.read_docker(["revpublish.service", "revaudit.service"], SwarmReplacements(cluster, "now"))


def test_every_replica_running_is_a_healthy_running_service():
    cluster = Cluster([node(1), node(2)], [task(1, "n1"), task(2, "n2"), task(3, "n1", "shutdown", "shutdown")])
    fig = read(cluster).figures["revpublish.service"]
    assert (fig.present, fig.state, fig.health, fig.provenance) == (True, "running", "healthy", LIVE)
    assert (fig.cluster["desired"], fig.cluster["running"]) == (2, 2)
    assert [t["node"] for t in fig.cluster["tasks"]] == ["swarm-1", "swarm-2"]
    assert read(cluster).figures["revaudit.service"].present is False and cluster.closed


def test_a_node_down_makes_its_task_unavailable_and_the_service_not_healthy():
    cluster = Cluster([node(1), node(2, "down", "heartbeat failure")], [task(1, "n1"), task(2, "n2")])
    fig = read(cluster).figures["revpublish.service"]
    assert fig.health == "starting" and fig.state == "restarting" and fig.cluster["running"] == 1
    down = next(t for t in fig.cluster["tasks"] if t["node"] == "swarm-2")
    assert down["provenance"] == UNAVAILABLE and down["state"] is None
    assert down["reason"] == "node swarm-2 is down (heartbeat failure)"


def test_an_update_paused_or_being_rolled_back_is_unhealthy():
    for state in ("paused", "rollback_started", "rollback_paused"):
        cluster = Cluster([node(1), node(2)], [task(1, "n1"), task(2, "n2")], state)
        fig = read(cluster).figures["revpublish.service"]
        assert fig.health == "unhealthy" and fig.cluster["update_state"] == state


def test_a_completed_rollback_is_judged_by_its_tasks_and_still_shown():
    # The previous spec runs again (a rotation Swarm rolled back): healthy when its tasks are.
    cluster = Cluster([node(1), node(2)], [task(1, "n1"), task(2, "n2")], "rollback_completed")
    fig = read(cluster).figures["revpublish.service"]
    assert fig.health == "healthy" and fig.cluster["update_state"] == "rollback_completed"
    cluster = Cluster([node(1), node(2)], [task(1, "n1")], "rollback_completed")
    assert read(cluster).figures["revpublish.service"].health == "starting"


def test_a_global_task_shut_down_on_a_node_that_went_down_is_shown_unavailable_not_left_out():
    # Swarm's global orchestrator sets a down node's task to desired "shutdown" at once; the
    # node cannot confirm, so the last state ("running") is stale.
    cluster = Cluster([node(1), node(2, "down", "heartbeat failure")],
                      [task(1, "n1"), task(2, "n2", "running", "shutdown"), task(3, "n2", "shutdown", "shutdown")])
    fig = read(cluster).figures["revpublish.service"]
    rows = {t["task"][:5]: t for t in fig.cluster["tasks"]}
    assert set(rows) == {"task1", "task2"}  # the ended one is history, not shown
    assert rows["task2"]["provenance"] == UNAVAILABLE and rows["task2"]["state"] is None
    assert rows["task2"]["reason"] == "node swarm-2 is down (heartbeat failure)"
    assert fig.cluster["running"] == 1 and fig.health != "healthy"
