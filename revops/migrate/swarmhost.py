"""The Swarm target as the cutover sees it: the unit on this host, its service on a cluster.

SwarmHost is executor.Host for a Docker Swarm cluster (revops.adapters.swarm): a service's
replacement is the stack file's service, `<stack>_<service>`, with its tasks on the nodes.
The unit's side (systemd jobs, its probe, the redaction of a service's words, the bundle of
what it may read) is the compose target's own: SwarmHost extends LiveHost and replaces every
step that touches the replacement.

The steps, on a cluster: preflight checks (the unit, the image in the registry, enough ready
nodes, the service's dependencies healthy on the cluster: Swarm orders nothing); write_secret
creates the Docker secret (named by the digest of the bundle, as the stack file names it);
verify_candidate deploys the service itself and proves it healthy (its tasks `running`,
which Swarm reports only once Docker's health check passed, and revops' own GET /health on
the address of every node that runs a published task) while the unit still serves: a
cluster's nodes are other machines, so the unit's port never keeps a task from listening. A
service that never gets healthy is removed with its reason (task errors, last log lines) and
the unit is never stopped. A service without a port must not run twice (a worker would take
jobs beside its unit): it is deployed only after its unit stopped (start_replacement).
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Protocol, Sequence

from revops import envfile
from revops.adapters import http
from revops.config import TARGET_SWARM, Config
from revops.errors import CheckFailed
from revops.migrate import plan as P
from revops.migrate.executor import Verdict
from revops.migrate.host import LOG_TAIL_LINES, LiveHost, UnitManager
from revops.migrate.outages import OutagesFirst
from revops.migrate.stackfile import StackFile, StackService

if TYPE_CHECKING:
    from revops.adapters.swarm import Node, SecretRef, Service, Task

# Tasks of one service that failed (or were rejected) since its deploy before revops calls it
# failing for good rather than waiting out the health window: Swarm restarts a failed task
# after restart_policy.delay, forever, so a broken image never "fails" on its own.
FAILED_TASKS_LIMIT = 3
# On a cluster each node pulls the image from the registry before its task starts (Swarm's
# `preparing`): the health check's window starts only after that. What a first pull of a
# suite image may take on a slow link, added to the window for a deploy's first verdict.
PULL_ALLOWANCE_S = 120.0
UPDATE_FAILED = {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
REVOPS_LABEL = "revops.managed"


class ClusterAPI(Protocol):
    """The manager's API (revops.adapters.swarm.Cluster): what the cutover asks of it."""

    def nodes(self) -> list[Node]: ...
    def service(self, name: str) -> Service | None: ...
    def tasks(self, service: str | None = None, labels: Sequence[str] = ()) -> list[Task]: ...
    def logs_tail(self, service: str, lines: int = 15) -> list[str]: ...
    def remove_service(self, name: str) -> bool: ...
    def ensure_network(self, name: str, labels: dict[str, str]) -> str: ...
    def secret_names(self, labels: Sequence[str] = ()) -> set[str]: ...
    def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> None: ...
    def secret_id(self, name: str) -> str | None: ...
    def remove_secret(self, name: str) -> bool: ...
    def services(self, labels: Sequence[str] = ()) -> list[Service]: ...
    def swap_secret(self, service: str, new: SecretRef) -> None: ...


class RegistryAPI(Protocol):
    def manifest_digest(self, repository: str, tag: str) -> str | None: ...


class SwarmHost(LiveHost):
    """executor.Host on a Swarm cluster. `deploy(path)` runs `docker stack deploy` of a stack
    file (revops.adapters.swarm.stack_deploy). Safe for the executor's threads: deploys run
    one at a time (the CLI), the rest is per service or one request to the manager."""

    target = TARGET_SWARM

    def __init__(self, config: Config, systemd: UnitManager, cluster: ClusterAPI, registry: RegistryAPI,
                 stack: StackFile, deploy: Callable[[str], str], *, stack_name: str, registry_address: str,
                 network: str, services: dict | None = None) -> None:
        # LiveHost's unit side (stop, retire, start, probe, redaction, the bundle) reads these.
        self.config = config
        self.systemd = systemd
        self._services = services or {}
        self._redactors: dict[str, envfile.Redactor | str] = {}
        self._bundles: dict = {}
        self.probe_timeout = config.health.probe_timeout
        self._held: dict[str, float] = {}  # LiveHost.stop_unit reads it; an outage here waits for nothing
        self._outages = OutagesFirst()  # LiveHost.retire_unit's shared work: never held back here
        self.cluster = cluster
        self.registry = registry
        self.stack = stack
        self.deploy = deploy
        self.stack_name = stack_name
        self.registry_address = registry_address
        self.network = network
        self._deployed_at: dict[str, str] = {}  # service -> the first task time that counts (its deploy)
        self._deploy_lock = threading.Lock()
        self._network_lock = threading.Lock()
        self._fresh: set[str] = set()  # deployed by start_replacement, not proven yet
        # secrets rotate: per service, the secret its tasks must hold for the gate (set by a
        # secret swap), the one it held before, the tasks a rolling update replaces, and a
        # secret to remove once the service is healthy without it.
        self._expect: dict[str, str] = {}
        self._previous: dict[str, str] = {}
        self._rolling: dict[str, int] = {}
        self._discard: dict[str, str] = {}

    def service_name(self, sp: P.ServicePlan) -> str:
        return f"{self.stack_name}_{self._stack_service(sp).name}"

    def _stack_service(self, sp: P.ServicePlan) -> StackService:
        found = self.stack.services.get(sp.unit)
        if found is None:
            raise CheckFailed(f"{sp.unit}: no service with label revops.unit={sp.unit} in {self.stack.path}",
                              hint="run `revops generate` with a `swarm:` block in revops.yaml")
        return found

    # -- the run as a whole ------------------------------------------------------------

    def expect(self, services: list[P.ServicePlan]) -> None:
        """Nothing to prepare ahead: a stack service is deployed by its own cutover."""

    def release(self, services: list[P.ServicePlan]) -> list[str]:
        return []

    # -- the cutover steps ----------------------------------------------------------

    def preflight(self, sp: P.ServicePlan) -> str:
        """Checks (unit known, image in the registry, enough ready nodes, dependencies healthy
        on the cluster) and the overlay network; CheckFailed otherwise, nothing changed."""
        state = self.systemd.states([sp.unit])[sp.unit]
        if state.load_state != "loaded":
            raise CheckFailed(f"{sp.unit}: systemd does not know it (LoadState {state.load_state})")
        svc = self._stack_service(sp)
        said = [f"{sp.unit} {state.active_state}", self._image_in_registry(svc), self._enough_nodes(svc)]
        said += self._dependencies_healthy(sp)
        with self._network_lock:  # one look-then-create at a time among this run's preflights
            said.append(self.cluster.ensure_network(self.network, {REVOPS_LABEL: "true"}))
        return "; ".join(said)

    def write_secret(self, sp: P.ServicePlan) -> str:
        """The service's Docker secret: what it may read (the bundle compose's copy holds),
        created when missing under the name the stack file gives it."""
        return "; ".join(self._secrets(sp, self._stack_service(sp))) or "no secret in the stack file"

    def remove_secret(self, sp: P.ServicePlan) -> str:
        """A Docker secret is named by its content and immutable: it stays for the next try
        (the same content, the same name) and goes with the stack."""
        return "secret kept on the cluster (named by its content's digest)"

    def verify_candidate(self, sp: P.ServicePlan, deadline_s: float, cancelled: Callable[[], bool]) -> Verdict:
        """On a cluster the candidate is the service itself: deployed and proven healthy while
        the unit still serves (other machines: no port clash). One that does not get healthy is
        removed, with its reason."""
        said = self._deploy(sp, self._stack_service(sp))
        verdict = self.wait_replacement_healthy(sp, deadline_s + PULL_ALLOWANCE_S, cancelled)
        if not verdict.ok:
            removed = self.remove_replacement(sp)
            return Verdict(False, f"{self.service_name(sp)} not healthy on the cluster: {verdict.reason}; {removed}; "
                                  f"{sp.unit} was not stopped")
        return Verdict(True, f"{said}: {verdict.reason} (before {sp.unit} stops)")

    def check_imports(self, sp: P.ServicePlan) -> Verdict:
        """A service that must not run twice is not run beside its unit on a cluster either:
        it is deployed after its unit stops, and its tasks' health decides (wait-healthy)."""
        self._image_in_registry(self._stack_service(sp))
        return Verdict(True, "deployed only after the unit stops (it must not run twice); image in the registry")

    def discard_candidates(self, sp: P.ServicePlan) -> str:
        """A killed run's candidate is the service deployed beside a unit that still serves:
        removed, so the next try proves it afresh."""
        state = self.systemd.states([sp.unit])[sp.unit]
        if state.active_state == "active" and self.cluster.service(self.service_name(sp)) is not None:
            return self.remove_replacement(sp)
        return "no candidate on the cluster"

    def _image_in_registry(self, svc: StackService) -> str:
        from revops.adapters.swarm import split_reference

        if not svc.image:
            raise CheckFailed(f"service {svc.name} of {self.stack.path} names no image")
        try:
            repository, tag = split_reference(svc.image, self.registry_address)
        except ValueError as exc:
            raise CheckFailed(f"service {svc.name}: {exc}", hint="run `revops generate`") from None
        digest = self.registry.manifest_digest(repository, tag)
        if digest is None:
            raise CheckFailed(f"image {svc.image} is not in registry {self.registry_address}",
                              hint="run `revops build --push`")
        return f"image {svc.image} in the registry"

    def _enough_nodes(self, svc: StackService) -> str:
        ready = [n for n in self.cluster.nodes() if n.ready]
        need = svc.nodes_needed()
        if len(ready) < need:
            raise CheckFailed(f"service {svc.name} needs {need} ready node(s), the cluster has {len(ready)} "
                              f"({', '.join(n.hostname for n in ready) or 'none'})",
                              hint="`docker node ls` on the manager: bring nodes back or lower the placement's replicas")
        return f"{len(ready)} ready node(s)"

    def _dependencies_healthy(self, sp: P.ServicePlan) -> list[str]:
        """Each unit the service follows (After= within the run) that runs on the cluster
        already: wait for it to be healthy there (Swarm starts services in no order)."""
        said = []
        for unit in sp.after:
            dep = self.stack.services.get(unit)
            if dep is None or self.cluster.service(f"{self.stack_name}_{dep.name}") is None:
                continue
            dep_plan = P.ServicePlan(unit, dep.name, None, sp.phase, None, None, sp.deadline_s)
            verdict = self.wait_replacement_healthy(dep_plan, sp.deadline_s, lambda: False)
            if not verdict.ok:
                raise CheckFailed(f"{sp.unit} follows {unit}, which is not healthy on the cluster: {verdict.reason}")
            said.append(f"dependency {dep.name} healthy")
        return said

    def _secrets(self, sp: P.ServicePlan, svc: StackService) -> list[str]:
        """The service's Docker secret, created from its env files when missing; its name
        carries the digest generate saw, so a file changed since is refused, not deployed."""
        if not svc.secrets:
            return []
        from revops.generate.stack import SECRET_LIMIT, env_digest

        present = self.cluster.secret_names()
        said = []
        for name in svc.secrets:
            if name in present:
                said.append(f"secret {name} present; {_digest_of_name(name)}")
                continue
            content = self._bundle(sp, fresh=True).text()  # CheckFailed naming the file it cannot read
            if len(content) > SECRET_LIMIT:
                raise CheckFailed(f"{sp.unit}: what it may read is {len(content)} bytes, more than a Docker "
                                  f"secret's {SECRET_LIMIT}")
            if not name.endswith("-" + env_digest(content)[:12]):
                raise CheckFailed(f"{sp.unit}: its env files changed since `revops generate` named the secret {name}",
                                  hint="run `revops generate` (a new secret, a new deploy)")
            self.cluster.create_secret(name, content, {REVOPS_LABEL: "true", "revops.unit": sp.unit})
            said.append(f"secret {name} created; {_digest_of_name(name)}")
        return said

    def _deploy(self, sp: P.ServicePlan, svc: StackService) -> str:
        self._deployed_at[sp.service] = _now_rfc3339()
        with tempfile.TemporaryDirectory(prefix="revops-stack-") as tmp, self._deploy_lock:
            path = Path(tmp) / f"{svc.name}.stack.yml"
            path.write_text(self.stack.single(svc))
            self.deploy(str(path))
        return f"stack deploy {self.service_name(sp)}"

    def outage(self, sp: P.ServicePlan) -> ContextManager[None]:
        """Nothing to order: the service runs on the cluster since its proof in preflight, so
        its outage is the unit's stop alone, and no engine of this host starts anything."""
        return contextlib.nullcontext()

    def start_replacement(self, sp: P.ServicePlan) -> str:
        """The service was deployed and proven in preflight; deploy it again only when it is
        gone (a run resumed after the service was removed by hand)."""
        found = self.cluster.service(self.service_name(sp))
        if found is not None:
            return f"service {found.name} running since its proof (deployed before {sp.unit} stopped)"
        self._fresh.add(sp.service)  # its nodes pull the image first: wait-healthy allows for it
        return self._deploy(sp, self._stack_service(sp))

    def wait_replacement_healthy(self, sp: P.ServicePlan, deadline_s: float, cancelled: Callable[[], bool]) -> Verdict:
        """Every task running (Docker's health verdict on a cluster) on a ready node and
        revops' own probe on each node's published port; fails at once when the tasks keep
        failing (FAILED_TASKS_LIMIT) or Swarm rolled the update back."""
        if sp.service in self._fresh:
            self._fresh.discard(sp.service)
            deadline_s += PULL_ALLOWANCE_S
        if sp.service in self._expect:  # a rolling update: each task its window, then Swarm's monitor
            deadline_s *= 2 * max(1, self._rolling.get(sp.service, 1)) + 1
        started = time.monotonic()
        delay = 0.2
        while True:
            verdict = self.replacement_verdict(sp)
            if verdict.ok:
                dropped = self._drop_secret(self._discard.pop(sp.service)) if sp.service in self._discard else None
                return Verdict(True, f"healthy after {time.monotonic() - started:.1f}s: {verdict.reason}"
                                     f"{'; ' + dropped if dropped else ''}")
            waited = time.monotonic() - started
            failing = self._failing(sp)
            if failing is not None:
                return Verdict(False, f"{failing} after {waited:.1f}s; {self._log_tail(sp)}")
            if cancelled():
                return Verdict(False, f"interrupted after {waited:.1f}s; last: {verdict.reason}")
            if waited >= deadline_s:
                return Verdict(False, f"not healthy within {deadline_s:g}s: {verdict.reason}; {self._log_tail(sp)}")
            time.sleep(min(delay, max(0.0, deadline_s - waited)))
            delay = min(delay * 1.5, 2.0)

    def _failing(self, sp: P.ServicePlan) -> str | None:
        name = self.service_name(sp)
        found = self.cluster.service(name)
        if found is None:
            return None
        expected = self._expect.get(sp.service)
        if expected is not None:
            gate = self._update_gate(found, sp, expected)
            if gate is not None and gate[0]:
                return gate[1]
        elif self._update_failed(found, sp):
            return f"Swarm's update of {name} is {found.update_state}: {found.update_message or 'no message'}"
        since = self._deployed_at.get(sp.service, "")
        failed = [t for t in self.cluster.tasks(name) if t.state in ("failed", "rejected") and t.timestamp >= since]
        if len(failed) >= FAILED_TASKS_LIMIT:
            errors = sorted({f"{t.state}: {t.error or t.message}" for t in failed})
            return f"{len(failed)} tasks of {name} failed ({'; '.join(errors)[:400]})"
        return None

    # -- rotation (revops secrets rotate): a new secret, swapped in by a service update ----

    def secret_digest_now(self, sp: P.ServicePlan) -> str | None:
        """`sha256:` and the 12 hex a secret's name carries (revops.generate.stack.secret_name)
        of what the unit and env files give now; reads afresh, creates nothing."""
        return secret_digest(self._bundle(sp, fresh=True).text())

    def rewrite_secret(self, sp: P.ServicePlan) -> str:
        """A new Docker secret named by the digest of what the service may read now (immutable:
        a new version is a new secret), then a service update that mounts it in place of the
        old one at the same file, owner and mode (the stack file's). Swarm replaces the tasks
        one by one under the service's update_config (failure_action rollback, monitor);
        wait_replacement_healthy is the gate. CheckFailed with nothing changed when the secret
        cannot be created or the update is refused (a secret created here is removed again)."""
        from revops.adapters.swarm import SecretRef

        svc = self._stack_service(sp)
        mount = _mount(svc)
        name = self.service_name(sp)
        found = self.cluster.service(name)
        if found is None:
            raise CheckFailed(f"no service {name} on the cluster to rotate", hint="run `revops migrate --target swarm`")
        old = _mounted(found, mount["target"])
        content = self._sized(sp)
        digest = secret_digest(content)
        new = secret_name_for(mount["target"], content)
        self._previous[sp.service] = old or ""
        self._expect[sp.service] = new
        self._rolling[sp.service] = (found.replicas or 1 if found.mode == "replicated"
                                     else max(1, sum(n.ready for n in self.cluster.nodes())))
        if old == new:
            return f"service {name} already mounts secret {new}: nothing to update; {digest}"
        created = new not in self.cluster.secret_names()
        if created:
            self.cluster.create_secret(new, content, {REVOPS_LABEL: "true", "revops.unit": sp.unit})
        try:
            secret_id = self.cluster.secret_id(new)
            if secret_id is None:
                raise CheckFailed(f"secret {new} is not on the cluster after its creation")
            self._deployed_at[sp.service] = _now_rfc3339()
            self.cluster.swap_secret(name, SecretRef(new, secret_id, mount["target"], mount["uid"], mount["gid"],
                                                     mount["mode"]))
        except CheckFailed:
            self._expect.pop(sp.service, None)
            if created:  # nothing mounts it: the cluster is left as it was
                self.cluster.remove_secret(new)
            raise
        return (f"service {name} updated: secret {new} {'created and ' if created else ''}mounted in place of "
                f"{old or 'none'} at /run/secrets/{mount['target']}, tasks replaced one by one (update_config); {digest}")

    def restart_replacement(self, sp: P.ServicePlan) -> str:
        """Nothing to restart on a cluster: the service update of rewrite_secret/restore_secret
        replaces the tasks itself (a force update would replace them twice)."""
        return f"tasks of {self.service_name(sp)} replaced by Swarm's rolling update"

    def restore_secret(self, sp: P.ServicePlan) -> str:
        """The service back on the secret it held before rewrite_secret: nothing to do when
        Swarm's own rollback already put it back (its spec says so), a service update
        otherwise. The new secret is removed once the service is healthy without it (no
        service mounts it then; its values made the service fail); a secret a service still
        mounts is kept, and the gate's reason says so."""
        from revops.adapters.swarm import SecretRef

        old, new = self._previous.get(sp.service), self._expect.get(sp.service)
        if not old or new is None:
            raise CheckFailed(f"{sp.unit}: no previous secret recorded by this run to put back")
        mount = _mount(self._stack_service(sp))
        name = self.service_name(sp)
        found = self.cluster.service(name)
        if found is None:
            raise CheckFailed(f"no service {name} on the cluster to put back on {old}")
        self._expect[sp.service] = old
        self._discard[sp.service] = new
        on = _mounted(found, mount["target"])
        if on == old:
            said = f"service {name} already back on secret {old} (Swarm's update {found.update_state or 'rolled back'})"
        else:
            secret_id = self.cluster.secret_id(old)
            if secret_id is None:
                raise CheckFailed(f"secret {old} is no longer on the cluster: {name} cannot be put back on it",
                                  hint="fix the env file, then `revops secrets rotate` again")
            self._deployed_at[sp.service] = _now_rfc3339()
            self.cluster.swap_secret(name, SecretRef(old, secret_id, mount["target"], mount["uid"], mount["gid"],
                                                     mount["mode"]))
            said = f"service {name} updated back to secret {old}"
        return f"{said}; {_digest_of_name(old)}"

    def keep_secret(self, sp: P.ServicePlan) -> str | None:
        """The new secret holds: the one it replaced is removed when no service mounts it any
        more (as compose drops its previous copy: an old value does not linger on the cluster)."""
        old, new = self._previous.pop(sp.service, ""), self._expect.pop(sp.service, None)
        self._rolling.pop(sp.service, None)
        if not old or old == new:
            return None
        return self._drop_secret(old)

    def _drop_secret(self, name: str) -> str:
        users = sorted(s.name for s in self.cluster.services() if any(r.name == name for r in s.secrets))
        if users:
            return f"secret {name} kept: mounted by {', '.join(users)}"
        try:
            removed = self.cluster.remove_secret(name)
        except CheckFailed as exc:  # the manager's word (a task still on it); the rotation stands
            return f"secret {name} kept: {exc.message}"
        return f"secret {name} removed (no service mounts it)" if removed else f"secret {name} already gone"

    def _sized(self, sp: P.ServicePlan) -> bytes:
        from revops.generate.stack import SECRET_LIMIT

        content = self._bundle(sp, fresh=True).text()  # CheckFailed naming the file it cannot read
        if len(content) > SECRET_LIMIT:
            raise CheckFailed(f"{sp.unit}: what it may read is {len(content)} bytes, more than a Docker "
                              f"secret's {SECRET_LIMIT}")
        return content

    def _update_failed(self, found: "Service", sp: P.ServicePlan) -> bool:
        """Swarm's update of the service is stuck, being undone, or was rolled back after this
        run deployed it. A rollback completed before (a failed rotation, an earlier run) is
        history: the previous spec runs again, and its tasks are judged as they are."""
        if found.update_state not in UPDATE_FAILED:
            return False
        if found.update_state != "rollback_completed":
            return True
        since = self._deployed_at.get(sp.service)
        return since is not None and (found.update_completed or since) >= since

    def _update_gate(self, found: "Service", sp: P.ServicePlan, expected: str) -> tuple[bool, str] | None:
        """While a swap is awaited: (failed, why) when the service is not done with it yet
        (failed: Swarm rolled it back or paused), None when the update is over on `expected`."""
        on = _mounted(found, _mount(self._stack_service(sp))["target"])
        state, message = found.update_state, found.update_message or "no message"
        if on != expected:
            return True, (f"Swarm's update of {found.name} is {state or 'not started'}: {message}; "
                          f"the service mounts {on or 'no secret'}, not {expected}")
        if state in ("paused", "rollback_paused"):
            return True, f"Swarm's update of {found.name} is {state}: {message}"
        if state in ("updating", "rollback_started"):
            return False, f"update {state}"
        return None

    # -- rollback -------------------------------------------------------------------

    def remove_replacement(self, sp: P.ServicePlan) -> str:
        name = self.service_name(sp)
        removed = self.cluster.remove_service(name)
        return f"service {name} removed from the cluster" if removed else f"no service {name} to remove"

    # -- reading --------------------------------------------------------------------

    def replacement_verdict(self, sp: P.ServicePlan) -> Verdict:
        name = self.service_name(sp)
        found = self.cluster.service(name)
        if found is None:
            return Verdict(False, f"no service {name} on the cluster")
        expected, updating = self._expect.get(sp.service), None
        if expected is not None:  # a secret swap: only its tasks count, and only once the update is over
            gate = self._update_gate(found, sp, expected)
            if gate is not None and gate[0]:
                return Verdict(False, gate[1])
            updating = gate[1] if gate is not None else None
        elif self._update_failed(found, sp):
            return Verdict(False, f"update {found.update_state}: {found.update_message or 'no message'}")
        nodes = {n.id: n for n in self.cluster.nodes()}
        live = [t for t in self.cluster.tasks(name) if t.desired_state == "running"]
        up = [t for t in live if t.node_id in nodes and nodes[t.node_id].ready]
        desired = found.replicas if found.mode == "replicated" else max(1, len(up))
        if expected is not None:
            live = [t for t in live if expected in t.secrets]
            up = [t for t in up if expected in t.secrets]
        running = [t for t in up if t.state == "running"]
        where = ", ".join(sorted(nodes[t.node_id].hostname for t in running)) or "no node"
        if desired is None or len(running) < desired:
            waiting = sorted({f"{t.state}{': ' + (t.error or t.message) if (t.error or t.message) else ''}"
                              for t in live if t.state != "running"})
            down = [t for t in live if t.node_id in nodes and not nodes[t.node_id].ready]
            gone = f"; {len(down)} on node(s) down" if down else ""
            on = f" on secret {expected}" if expected is not None else ""
            return Verdict(False, f"{updating + ': ' if updating else ''}{len(running)}/{desired} tasks running{on} "
                                  f"({where}){gone}"
                                  f"{'; ' + '; '.join(waiting) if waiting else ''}")
        published = [p.published for p in found.ports if p.mode == "host"]
        failed_probes = []
        for port in published:
            for task in running:
                node = nodes[task.node_id]
                url = f"http://{node.address}:{port}{self.config.health.path}"
                probe = http.probe(url, self.probe_timeout)
                if not probe.healthy:
                    failed_probes.append(f"GET {url}: {self._probe_words(sp, probe)}")
        if failed_probes:
            return Verdict(False, "; ".join(failed_probes))
        probed = f"; GET /health answered on {len(running)} node(s)" if published else ""
        on = f" on secret {expected}" if expected is not None else ""
        if updating:
            return Verdict(False, f"{updating}: {len(running)}/{desired} tasks running{on}, Swarm's monitor not over")
        return Verdict(True, f"{len(running)}/{desired} tasks running and healthy{on} on {where}{probed}")

    def _log_tail(self, sp: P.ServicePlan) -> str:
        name = self.service_name(sp)
        try:
            lines = self.cluster.logs_tail(name, LOG_TAIL_LINES)
        except Exception as exc:  # the logs are evidence, not a step: say why they are missing
            return f"service log unavailable: {exc}"
        if not lines:
            return "service log empty"
        redactor = self._redactor(sp)
        if isinstance(redactor, str):
            return f"service log withheld: {redactor}"
        return "last log lines:\n  " + "\n  ".join(redactor.apply(line) for line in lines)


def _now_rfc3339() -> str:
    """Now as Swarm stamps task times (UTC, RFC 3339 with nanoseconds), so they compare as text."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int((now % 1) * 1e9):09d}Z"


def secret_digest(content: bytes) -> str:
    """How the ledger and the plans name a Swarm secret's version: `sha256:` and the 12 hex
    its name carries (revops.generate.stack.secret_name), never the values."""
    from revops.generate.stack import env_digest

    return f"sha256:{env_digest(content)[:12]}"


def secret_name_for(target: str, content: bytes) -> str:
    """The Docker secret that holds `content` for the compose secret `target` (the file under
    /run/secrets): the name generate gives it."""
    from revops.generate.stack import env_digest, secret_name

    return secret_name(target, env_digest(content))


def _digest_of_name(name: str) -> str:
    return f"sha256:{name.rsplit('-', 1)[-1]}"


def _mount(svc: StackService) -> dict:
    """The stack file's mount of the service's env secret: its target file, uid, gid, mode."""
    from revops.generate.stack import SECRET_MODE

    for entry in svc.body.get("secrets") or []:
        if isinstance(entry, dict) and entry.get("source") and entry.get("target"):
            mode = entry.get("mode", SECRET_MODE)
            return {"target": str(entry["target"]), "uid": str(entry.get("uid", "0")),
                    "gid": str(entry.get("gid", "0")), "mode": mode if isinstance(mode, int) else SECRET_MODE}
    raise CheckFailed(f"service {svc.name}: no secret with a source and a target in its stack file",
                      hint="run `revops generate` (a service whose unit reads env files mounts one)")


def _mounted(found: "Service", target: str) -> str | None:
    """The name of the secret the service's spec mounts at /run/secrets/<target>."""
    return next((r.name for r in found.secrets if r.file == target), None)
