"""Status on a Swarm target: the cluster's services answer status's one query seam
(gather.Replacements) as if each service were one container, and say more per service
(desired and running replicas, each task's node, state and since when, the update state).

Three requests to the manager whatever the number of services (nodes, services by the
revops.managed label, every task), against the loop an operator runs (`docker node ls`,
`docker service ls`, `docker service ps` per service). A task counts as running only on a
node the manager sees `ready`: a task on a node that is down is UNAVAILABLE (the manager
cannot know it runs; Swarm reschedules it after the node's heartbeat fails), never healthy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from revops.adapters.swarm import TASK_ENDED
from revops.adapters.docker_engine import ContainerState, ContainerSummary
from revops.status.figures import LIVE, UNAVAILABLE

if TYPE_CHECKING:
    from revops.adapters.swarm import Cluster, Node, Service, Task

# An update stuck or being undone: the service is not what either spec says. A rollback that
# completed is history (the previous spec runs again): its tasks say whether it is healthy,
# and update_state still shows it.
UPDATE_FAILED = ("paused", "rollback_started", "rollback_paused")


@dataclass
class ServiceView:
    """One service as status shows it (ContainerFigure.cluster, JSON)."""

    service: str
    mode: str
    desired: int
    running: int
    update_state: str | None
    update_message: str | None
    tasks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.running >= self.desired > 0 and self.update_state not in UPDATE_FAILED

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "mode": self.mode, "desired": self.desired, "running": self.running,
                "update_state": self.update_state, "update_message": self.update_message, "tasks": self.tasks}


def view(service: "Service", tasks: list["Task"], nodes: dict[str, "Node"], checked_at: str) -> ServiceView:
    """A service's figures from one reading of the cluster."""
    live = [t for t in tasks if t.desired_state == "running" or _stranded(t, nodes)]
    rows, running, up = [], 0, 0
    for t in live:
        node = nodes.get(t.node_id or "")
        ready = node is not None and node.ready
        up += ready
        counted = ready and t.state == "running"
        running += counted
        rows.append({
            "task": t.id[:12], "slot": t.slot, "node": node.hostname if node else t.node_id,
            "node_state": node.state if node else "unknown", "state": t.state if ready else None,
            "since": t.timestamp, "error": t.error,
            "provenance": LIVE if ready else UNAVAILABLE, "checked_at": checked_at,
            "reason": None if ready else (f"node {node.hostname} is {node.state}" + (f" ({node.message})" if node.message else "")
                                          if node else "the task has no node yet"),
        })
    desired = service.replicas if service.mode == "replicated" and service.replicas is not None else max(1, up)
    return ServiceView(service.name, service.mode, desired, running, service.update_state, service.update_message,
                       sorted(rows, key=lambda r: (str(r["node"]), r["task"])))


def _stranded(task: "Task", nodes: dict[str, "Node"]) -> bool:
    """A task the orchestrator has asked to stop (a global service's task on a node that went
    down is shut down at once) on a node that cannot say it did: its last state is stale, so
    it is shown UNAVAILABLE rather than left out, and never counted as running."""
    node = nodes.get(task.node_id or "")
    return node is not None and node.state != "ready" and task.state not in TASK_ENDED


class SwarmReplacements:
    """gather.Replacements on a cluster: a service is listed as one "container" whose state is
    running when every desired task runs on a ready node, and whose health is healthy then
    (Swarm reports a task running only once its health check passed), starting while fewer
    run, unhealthy when Swarm's update failed or rolled back."""

    def __init__(self, cluster: "Cluster", checked_at: str) -> None:
        self.cluster = cluster
        self.checked_at = checked_at
        self.views: dict[str, ServiceView] = {}
        self._states: dict[str, ContainerState] = {}

    def list_containers(self, labels: Sequence[str] = (), *, all: bool = True) -> list[ContainerSummary]:
        nodes = {n.id: n for n in self.cluster.nodes()}
        services = self.cluster.services(labels)
        by_service: dict[str, list[Task]] = {}
        for t in self.cluster.tasks():
            by_service.setdefault(t.service_id, []).append(t)
        out = []
        for svc in sorted(services, key=lambda s: s.updated_at, reverse=True):  # newest first, as `docker ps`
            v = view(svc, by_service.get(svc.id, []), nodes, self.checked_at)
            self.views[svc.id] = v
            state = "running" if v.running >= v.desired else ("restarting" if v.running else "created")
            health = "unhealthy" if v.update_state in UPDATE_FAILED else ("healthy" if v.healthy else "starting")
            failed = sum(1 for t in by_service.get(svc.id, []) if t.state in ("failed", "rejected"))
            labels_of = {**svc.container_labels, **svc.labels}
            out.append(ContainerSummary(svc.id, svc.name, svc.image, state, f"{v.running}/{v.desired} tasks running",
                                        health, labels_of, failed))
            self._states[svc.id] = ContainerState(svc.id, svc.name, svc.image, state, None, health, None, None,
                                                  failed, svc.update_completed or svc.created_at, labels_of)
        return out

    def container_state(self, container: str) -> ContainerState | None:
        return self._states.get(container)

    def cluster_detail(self, container: str) -> dict[str, Any] | None:
        v = self.views.get(container)
        return v.as_dict() if v else None

    def close(self) -> None:
        self.cluster.close()
