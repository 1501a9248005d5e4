"""The compose target as the cutover sees it: systemd, the Docker engine, compose and /health.

LiveHost is executor.Host for this host's engine through compose: a service's replacement is
its compose service's container. Each method is one step and says in one line what it did;
failures are RevopsErrors carrying what a sysadmin needs (state, status code, body, the
container's last log lines). UnitManager, Engine (revops/migrate/engine.py) and ComposeTool
say what it needs of each adapter (revops.adapters.systemd, docker_engine, compose), so a fake
or another kind fits.
"""

from __future__ import annotations

import errno
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Protocol, Sequence

from revops import dropins, envfile, jobs
from revops import repoint as repoint_mod
from revops.backoff import backoff_delays
from revops.adapters import http
from revops.adapters.systemd import admin_entry, admin_unit_dir, mask_blocker
from revops.config import Config
from revops.errors import CheckFailed, RevopsError
from revops.migrate import candidate, composefile, instances, retire
from revops.migrate.engine import Engine
from revops.migrate.outages import DeferringEngine, OutagesFirst
from revops.migrate import plan as P
from revops.hostrun import TARGET_COMPOSE
from revops.migrate.executor import Verdict
from revops.secrets import bundle as secret_bundle
from revops.secrets.copies import Copies

if TYPE_CHECKING:
    from revops.adapters.docker_engine import ContainerCopy
    from revops.adapters.docker_engine import ContainerState as EngineContainerState
    from revops.journal import Journal

STOP_TIMEOUT_S = 90.0  # systemd's own default stop timeout is 90 s
PORT_FREE_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 15
UNIT_GONE = {"inactive", "failed"}
ALONE = "ignore-requirements"  # systemd job mode: this unit only, ordering still honoured
# Labels compose (v1 and v2) puts on the containers it creates, and filters `ps` by.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NOT_ONEOFF = "com.docker.compose.oneoff=False"
# A container with no health check of its own counts as healthy once it has kept running this
# long (a candidate without a port, a replacement without a health check).
SETTLE_S = 3.0
# How often the waits read the container's state while they poll /health (an inspect each).
STATE_EVERY_S = 0.2
CREATED_GRACE_S = 2.0  # a replacement still "created" this long after its start never started


class UnitManager(retire.UnitControl, Protocol):
    """The systemd manager (revops.adapters.systemd.Manager): what the cutover and the quick
    wins ask of it. Jobs wait until done and return the unit's ActiveState."""

    def wait_for(self, name: str, states: set[str], timeout: float) -> str: ...
    def restart(self, name: str, timeout: float = 30.0, mode: str = "replace") -> str: ...
    def dropin_paths(self, name: str) -> list[str]: ...
    def reload(self) -> None: ...
    def exec_start(self, name: str) -> list: ...


class ComposeTool(Protocol):
    """The host's compose CLI (revops.adapters.compose.Compose), on the generated files."""

    def create(self, files: list[str], service: str, *more: str) -> None: ...
    def up(self, files: list[str], service: str | None = None, *, no_deps: bool = True,
           detach: bool = True) -> None: ...
    def rm(self, files: list[str], service: str) -> None: ...
    def ps(self, files: list[str], service: str | None = None) -> list[str]: ...


@dataclass(frozen=True)
class ContainerState:
    exists: bool
    status: str | None  # created, running, exited, ...
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    exit_code: int | None


def port_free(address: str, port: int) -> bool:
    """True when nothing listens on address:port (a bind test; sends no traffic)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As every server (docker-proxy included) binds: connections of the old process
        # lingering in TIME_WAIT do not keep the port from being listened on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            # Any other bind error (no such address, permission) is a failed check, so the
            # executor rolls the stopped unit back rather than leaving the service down.
            raise CheckFailed(f"cannot test port {address}:{port}: {exc.strerror or exc}",
                              hint="check health.bind_address in revops.yaml") from None
    return True


def wait_port_free(address: str, port: int, timeout: float) -> float:
    started = time.monotonic()
    for delay in backoff_delays():  # short: this wait is part of the cutover's downtime
        if port_free(address, port):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise CheckFailed(f"port {address}:{port} still in use {timeout:g}s after the unit stopped",
                              hint="another process holds it; find it with `ss -ltnp`")
        time.sleep(delay)
    raise AssertionError("unreachable")  # backoff_delays() never ends


class CreateBatcher:
    """compose's `up --no-start` for the services of several threads, one process at a time,
    each for every service asked for while the one before ran (a group commit), and the
    first one also for every service the run said it would ask for (`ahead`).

    A compose process costs about the same for one service as for many (about 1.5 s of v1
    parsing the stack's file unloaded; 8 s on this machine under load), so services in flight
    wait for one process, not for one each, and a phase's services mostly for one in all. A
    batch that fails is retried service by service, so each gets its own error."""

    def __init__(self, create: Callable[[list[str]], None], lock: threading.Lock) -> None:
        self._create = create
        self._lock = lock  # held while a compose process runs: one at a time
        self._cv = threading.Condition()
        self._wanted: list[str] = []
        self._ahead: list[str] = []  # not asked for yet: they go with the next batch
        self._done: dict[str, BaseException | None] = {}  # made, not asked for since
        self.made_ahead: set[str] = set()  # went in a batch before anyone asked for them
        self._busy = False
        self._running: list[str] = []  # the batch of the process running now

    def ahead(self, services: Sequence[str]) -> None:
        """`services` will be asked for: the next batch creates them too."""
        with self._cv:
            self._ahead = list(dict.fromkeys(services))

    def create(self, service: str) -> list[str]:
        """Create the service's container (compose `up --no-start`); the services of the batch
        this call ran itself ([] when another thread's batch made it, or when that batch failed
        and a process of its own did). Raises what compose raised for this service alone."""
        ran: list[str] = []
        with self._cv:
            # Made ahead, or being made now: asking again would recreate it (or, left in
            # _wanted, put it in a later batch).
            if service not in self._done and service not in self._running:
                self._wanted.append(service)
            while service not in self._done:
                if self._busy:
                    self._cv.wait()
                    continue
                extra = [s for s in self._ahead if s not in self._wanted]
                batch, self._wanted, self._ahead, self._busy = list(dict.fromkeys(self._wanted + extra)), [], [], True
                self._running = batch
                self.made_ahead.update(extra)
                self._cv.release()
                error: BaseException | None = _BatchFailed()  # if _run dies, the others each try alone
                try:
                    error = self._run(batch)
                finally:  # the threads waiting on this batch wake whatever happened
                    self._cv.acquire()
                    self._busy, self._running = False, []
                    self._done.update((name, error) for name in batch)
                    self._cv.notify_all()
                ran = batch
            self.made_ahead.discard(service)
            error = self._done.pop(service)
        if error is not None:
            if isinstance(error, _BatchFailed):  # someone else's service may be the bad one
                with self._lock:
                    self._create([service])
                return []
            raise error
        return ran

    def _run(self, batch: list[str]) -> BaseException | None:
        try:
            with self._lock:
                self._create(batch)
        except Exception as exc:  # noqa: BLE001 - handed to every thread of the batch
            return _BatchFailed() if len(batch) > 1 else exc
        return None


class _BatchFailed(Exception):
    """A batch of several services failed: each is tried again alone."""


def import_check(engine: Engine, source: str, name: str, labels: Mapping[str, str],
                 timeout: float = candidate.IMPORT_CHECK_TIMEOUT_S,
                 unwrap: Callable[[Sequence[str]], Sequence[str]] | None = None) -> candidate.ImportCheck:
    """The import check (revops/migrate/candidate.py) of the container `source` (created, not
    necessarily started): a copy of it, named `name`, runs the check in place of its command,
    with its image, environment, entrypoint and user, no network and every mount read-only;
    removed afterwards. Reusable by any step that has such a container: LiveHost's
    check_imports for a worker, the gate of a timer's job (Type=oneshot) before its unit is
    repointed. The words are the check's own (the caller hides secrets in them); CheckFailed
    when the engine cannot run it (an interpreter missing from the image says so there)."""
    copy = engine.copy_of(source)
    if copy is None:
        raise CheckFailed(f"no container {source} to check")
    if not copy.command:
        raise CheckFailed(f"container {source}: no command to check")
    # A replica's command is generate's wrapper around the instances' argv: the argv is checked.
    command = list(unwrap(copy.command)) if unwrap is not None else copy.command
    cid = engine.create_copy(copy, name, labels=labels, command=candidate.import_check_argv(command),
                             network=False, read_only_mounts=True)
    try:
        engine.start(cid)
        status = engine.wait_exit(cid, timeout)
        out, err = engine.output(cid)
    finally:
        engine.remove(cid, force=True)
    return candidate.read_answer(status, out, err)


class LiveHost:
    """executor.Host on the real host. `systemd`, `engine` and `compose` are the adapters.

    Safe for the executor's threads: the ops repo's checks and builds, and every compose
    process (compose v1 creates a project's missing network from each process, and two at once
    collide), run one at a time; the rest is per service or one call to an adapter."""

    target = TARGET_COMPOSE

    def __init__(self, config: Config, systemd: UnitManager, engine: Engine, compose: ComposeTool,
                 compose_files: list[str], build: Callable[[str], str] | None = None,
                 checks: Callable[[str], str] | None = None,
                 services: dict[str, composefile.ComposeService] | None = None,
                 dropins: repoint_mod.DropinStore | None = None) -> None:
        self.config = config
        self.dropins = dropins  # the manager's drop-in directory (a job's repoint writes there)
        self.systemd = systemd
        self.engine = engine
        self.compose = compose
        self.files = compose_files
        self.build = build  # build(suite) -> what it did; used when an image is missing
        self.checks = checks  # checks(suite) -> what was checked; raises CheckFailed
        self._checked: dict[str, str] = {}
        self._ids: dict[str, str] = {}  # compose service -> container id in this project
        self._project: str | None = None  # the compose project's name, from its first container
        # {unit: compose service} as the run read it once (read here when not given)
        self._services = services if services is not None else composefile.read(compose_files).services
        self._redactors: dict[str, envfile.Redactor | str] = {}
        self.copies = Copies(config.secrets_path)
        self._bundles: dict[str, secret_bundle.Bundle] = {}
        self._placeholders_made = False
        self._placeholder_lock = threading.Lock()
        self.probe_timeout = config.health.probe_timeout
        self._repo_lock = threading.Lock()  # the ops repo's checks and builds: once, one at a time
        # Learning the project's name takes a compose process: one thread asks, the rest wait.
        self._project_lock = threading.Lock()
        self._compose_lock = threading.Lock()  # one compose process at a time
        self._creates = CreateBatcher(lambda names: self.compose.create(self.files, *names), self._compose_lock)
        # An API's outage goes first at the engine, ahead of candidates and other stops and starts.
        self._outages = OutagesFirst()
        self._candidates = DeferringEngine(engine, self._outages)
        self._held: dict[str, float] = {}  # unit -> seconds its outage waited for the engine (stop_unit says it)

    # -- the run as a whole ------------------------------------------------------------

    def expect(self, services: list[P.ServicePlan]) -> None:
        """The first compose process of the run creates the containers of every one of
        `services` whose compose service is generated for it and whose image is present
        (one missing would make the batch fail: its own preflight builds it first), and none
        of whose suite's is missing (that build may tag a new image for it too: build_suite
        rebuilds any image whose inputs changed)."""
        ready, building = [], set()
        for sp in services:
            made = self._services.get(sp.unit)
            if made is None or (sp.instances and sorted(made.instances) != sorted(sp.instances)):
                continue  # its preflight says why
            try:
                present = bool(made.image) and self.engine.image_exists(made.image)
            except RevopsError:  # the engine's answer is its preflight's to give
                continue
            if present:
                ready.append(sp)
            elif sp.suite is not None:
                building.add(sp.suite)
        self._creates.ahead([sp.service for sp in ready if sp.suite not in building])

    def release(self, services: list[P.ServicePlan]) -> list[str]:
        """Remove the containers created ahead for `services` and never started (their
        preflight never asked for them): a replicated template's every replica. One that runs,
        or whose service's preflight asked for it, stays."""
        said = []
        for sp in services:
            if sp.service not in self._creates.made_ahead:
                continue
            try:
                if sp.instances:  # compose made one container per replica (deploy.replicas)
                    found = self._replica_states(sp)
                else:
                    one = self._state(sp)
                    found = [one] if one is not None else []
                for state in found:
                    if state.status != "created":
                        continue
                    self.engine.remove(state.id, force=False, volumes=False)  # compose's: see Engine.remove
                    said.append(f"{sp.unit}: container {state.name}, created ahead and never started, removed")
                self._ids.pop(sp.service, None)
            except RevopsError as exc:
                said.append(f"{sp.unit}: container created ahead not removed: {exc.message}")
        return said

    # -- the cutover steps ----------------------------------------------------------

    def preflight(self, sp: P.ServicePlan) -> str:
        states = self.systemd.states(sp.units)
        for name in sp.units:
            if states[name].load_state != "loaded":
                raise CheckFailed(f"{name}: systemd does not know it (LoadState {states[name].load_state})")
        state = states[sp.units[0]]
        if sp.unit not in self._services:
            raise CheckFailed(f"{sp.unit}: no service with label revops.unit={sp.unit} in "
                              f"{', '.join(self.files) or 'the compose directory'}",
                              hint="run `revops generate`")
        made_for = self._services[sp.unit].instances
        if sp.instances and sorted(made_for) != sorted(sp.instances):
            raise CheckFailed(f"{sp.unit}: compose service {sp.service} was generated for {', '.join(made_for) or 'no instance'}"
                              f" (revops.instances), not for the instances the inventory has now: {', '.join(sp.instances)}",
                              hint="run `revops inventory scan` and `revops generate` again")
        suite = sp.suite or ""
        with self._repo_lock:
            if self.checks is not None and suite not in self._checked:
                self._checked[suite] = self.checks(suite)
            secret = f"; {self._check_secret(sp)}" if sp.secret is not None else ""
            built = self._ensure_image(sp)
        self._compose_ready()
        batch = self._creates.create(sp.service)
        self._ids.pop(sp.service, None)
        created = self._state(sp)  # asks compose for the id now, not while the service is down
        if created is None:
            raise CheckFailed(f"compose created no container for {sp.service}")
        others = [name for name in batch if name != sp.service]
        ahead = f" (one compose process, with {len(others)} more: {', '.join(others)})" if others else ""
        return (f"{sp.unit} {state.active_state}; {self._checked.get(suite, 'no checks')}{secret}; {built}; "
                f"container {created.name} {created.status}{ahead}")

    def _secret_target(self, sp: P.ServicePlan) -> tuple[str, int]:
        """(secret name, container uid) of the service's copy, as its compose file mounts it;
        CheckFailed when the file does not mount the copy revops writes."""
        assert sp.secret is not None
        service = self._services[sp.unit]
        where = dict(service.secret_files).get(sp.secret)
        expected = self.copies.copy_path(sp.secret)
        if where is None or Path(where).resolve() != expected.resolve():
            raise CheckFailed(f"{service.file}: service {service.name} does not mount {expected} as secret {sp.secret}"
                              + (f" (it names {where})" if where else ""), hint="run `revops generate`")
        if service.uid is None:
            raise CheckFailed(f"{service.file}: service {service.name} has no numeric `user:` to own its secret copy",
                              hint="run `revops generate`")
        return sp.secret, service.uid

    def _check_secret(self, sp: P.ServicePlan) -> str:
        """Preflight of the copy: directory and any existing copy safe (path and fix when
        not), and what the service may read readable now."""
        name, uid = self._secret_target(sp)
        checked = self.copies.check(name, uid)
        found = self._bundle(sp, fresh=True)
        return f"{checked}; {len(found.pairs)} variable(s) readable"

    def _bundle(self, sp: P.ServicePlan, fresh: bool = False) -> secret_bundle.Bundle:
        if fresh or sp.unit not in self._bundles:
            self._bundles[sp.unit] = secret_bundle.read(self.config.root, self.config.unit_dirs, sp.unit, sp.secret_keys)
            self._redactors.pop(sp.unit, None)
        return self._bundles[sp.unit]

    def write_secret(self, sp: P.ServicePlan) -> str:
        name, uid = self._secret_target(sp)
        found = self._bundle(sp)
        digest = self.copies.write(name, uid, found.text())
        skipped = f"; missing, skipped: {', '.join(found.skipped)}" if found.skipped else ""
        return (f"{self.copies.copy_path(name)}: {len(found.pairs)} variable(s) from "
                f"{'; '.join(found.sources) or 'nothing'}{skipped}; uid {uid} mode 0400; {digest}")

    # -- rotation (revops secrets rotate): the copy rewritten, the container restarted on it

    def secret_digest_now(self, sp: P.ServicePlan) -> str | None:
        """The digest of what the unit and env files give now (None: no copy ever written,
        so no key yet); reads afresh, creates nothing."""
        return self.copies.peek_digest(self._bundle(sp, fresh=True).text())

    def rewrite_secret(self, sp: P.ServicePlan) -> str:
        """write_secret, keeping the copy it replaces to put back (restore_secret)."""
        name, uid = self._secret_target(sp)
        self.copies.check(name, uid)
        found = self._bundle(sp)
        digest = self.copies.write(name, uid, found.text(), keep_previous=True)
        return f"{self.copies.copy_path(name)} rewritten: {len(found.pairs)} variable(s); {digest}"

    def restore_secret(self, sp: P.ServicePlan) -> str:
        name, _uid = self._secret_target(sp)
        if not self.copies.restore_previous(name):
            raise CheckFailed(f"{self.copies.copy_path(name)}: no previous copy to put back")
        data = self.copies.read(name) or b""
        return f"{self.copies.copy_path(name)}: previous copy back; {self.copies.digest(data)}"

    def keep_secret(self, sp: P.ServicePlan) -> None:
        """The new copy holds: its previous version is dropped."""
        assert sp.secret is not None
        self.copies.drop_previous(sp.secret)

    def restart_replacement(self, sp: P.ServicePlan) -> str:
        """Stop and start the container: a start mounts the copy's current file again."""
        found = self._state(sp)
        if found is None:
            raise CheckFailed(f"no container for {sp.service} to restart", hint=f"run `revops migrate --service {sp.service}`")
        started = time.monotonic()
        self.engine.stop(found.id, int(STOP_TIMEOUT_S))
        self.engine.start(found.id)
        return f"container {found.name} restarted in {time.monotonic() - started:.2f}s"

    def remove_secret(self, sp: P.ServicePlan) -> str:
        """The copy emptied: no value is left, and compose still finds the file it names."""
        name, uid = self._secret_target(sp)
        self.copies.empty(name, uid)
        return f"{self.copies.copy_path(name)} emptied (no value left)"

    def _compose_ready(self) -> None:
        """Every secret file the compose files name exists (compose 1.29 refuses any command
        on the project otherwise): an empty placeholder, owned by its service's uid, for each
        service not migrated yet. Once per run; the copies' directory is checked on the way."""
        with self._placeholder_lock:  # waves: the first service's thread makes them, others wait
            self._make_placeholders()

    def _make_placeholders(self) -> None:
        if self._placeholders_made:
            return
        for service in self._services.values():
            for name, path in service.secret_files:
                if service.uid is not None and Path(path).resolve() == self.copies.copy_path(name).resolve():
                    self.copies.placeholder(name, service.uid)
        self._placeholders_made = True

    def _ensure_image(self, sp: P.ServicePlan) -> str:
        image = self._services[sp.unit].image
        if image and self.engine.image_exists(image):
            return f"image {image} present"
        if self.build is None or sp.suite is None:
            raise CheckFailed(f"image {image} is missing", hint=f"run `revops build --suite {sp.suite}`")
        said = self.build(sp.suite)
        if image and not self.engine.image_exists(image):
            raise CheckFailed(f"image {image} still missing after the build ({said})")
        return said

    # -- pre-verification -----------------------------------------------------------

    def verify_candidate(self, sp: P.ServicePlan, deadline_s: float, cancelled: Callable[[], bool]) -> Verdict:
        """A copy of the container preflight created (the very image by id, env, user, command,
        mounts, limits) beside the unit, its port published on an ephemeral 127.0.0.1 port,
        gated on GET /health 2xx there (without a port: Docker's health, or SETTLE_S running
        when it has none); removed whatever the verdict. It joins the service's networks under
        its own name only, so nothing addresses it by the service's name."""
        copy = self._copy(sp)
        self.discard_candidates(sp)
        inside = self._container_port(sp, copy)
        name = f"revops-candidate-{sp.service}-{secrets.token_hex(3)}"
        # With a port, revops' own probe judges it: no health check of Docker's runs in it.
        cid = self._candidates.create_copy(copy, name, labels=self._candidate_labels(sp),
                                           publish_loopback=[inside] if inside is not None else [],
                                           healthcheck=inside is None)
        verdict = Verdict(False, "not started")
        try:
            self._candidates.start(cid)
            if inside is not None:
                verdict = self._candidate_answers(sp, cid, name, inside, deadline_s, cancelled)
            else:
                verdict = self._candidate_settles(sp, cid, name, deadline_s, cancelled)
            return verdict
        except RevopsError as exc:
            verdict = Verdict(False, f"candidate {name}: {exc.message}")
            return verdict
        finally:
            try:
                self._candidates.remove(cid, force=True)
            except RevopsError as exc:  # the next run's discard_candidates removes it
                verdict.reason = f"{verdict.reason}; candidate {name} not removed: {exc.message}"

    def _candidate_answers(self, sp: P.ServicePlan, cid: str, name: str, inside: int,
                           deadline_s: float, cancelled: Callable[[], bool]) -> Verdict:
        published = self.engine.published_port(cid, inside)
        if published is None:
            return Verdict(False, f"candidate {name}: the engine published no port for {inside}/tcp")
        url = f"http://127.0.0.1:{published}{self.config.health.path}"
        started = time.monotonic()
        # Not in the service's downtime (the unit serves throughout): a gentler poll.
        for delay in backoff_delays(start=0.02, factor=1.5, cap=0.25):
            probe = http.probe(url, self.probe_timeout)
            waited = time.monotonic() - started
            if probe.healthy:
                return Verdict(True, f"candidate {name} answered GET {url}: {probe.status_code} after {waited:.2f}s")
            failed = self._failed_for_good(sp, cid, f"candidate {name}", waited)
            if failed is not None:
                return failed
            if cancelled():
                return Verdict(False, f"interrupted after {waited:.1f}s")
            if waited >= deadline_s:
                return Verdict(False, f"candidate {name} not healthy within {deadline_s:g}s: GET {url}: "
                                      f"{self._probe_words(sp, probe)}; {self._log_tail(sp, cid)}")
            time.sleep(min(delay, max(0.0, deadline_s - waited)))
        raise AssertionError("unreachable")  # backoff_delays() never ends

    def _candidate_settles(self, sp: P.ServicePlan, cid: str, name: str, deadline_s: float,
                           cancelled: Callable[[], bool]) -> Verdict:
        started = time.monotonic()
        for delay in backoff_delays(start=0.05, factor=1.5, cap=0.5):
            waited = time.monotonic() - started
            failed = self._failed_for_good(sp, cid, f"candidate {name}", waited)
            if failed is not None:
                return failed
            state = self.engine.container_state(cid)
            if state is not None and self._settled(state, waited):
                return Verdict(True, f"candidate {name} {self._health_words(state)} after {waited:.1f}s")
            if cancelled():
                return Verdict(False, f"interrupted after {waited:.1f}s")
            if waited >= deadline_s:
                health = state.health if state is not None else "gone"
                return Verdict(False, f"candidate {name} not healthy within {deadline_s:g}s (Docker health "
                                      f"{health}); {self._log_tail(sp, cid)}")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def check_imports(self, sp: P.ServicePlan) -> Verdict:
        """candidate.py's import check of the container preflight created (see import_check)."""
        source = self._state(sp)
        if source is None:
            raise CheckFailed(f"no container for {sp.service}: preflight creates it")
        self.discard_candidates(sp)
        name = f"revops-import-check-{sp.service}-{secrets.token_hex(3)}"
        started = time.monotonic()
        answer = import_check(self._candidates, source.id, name, self._candidate_labels(sp),
                              unwrap=instances.unwrap if sp.instances else None)
        words = self._hide(sp, answer.words)
        return Verdict(answer.ok, f"import check {'passed' if answer.ok else 'failed'} in "
                                  f"{time.monotonic() - started:.1f}s: {words}")

    def discard_candidates(self, sp: P.ServicePlan) -> str:
        leftovers = self.engine.list_containers(labels=[f"{candidate.CANDIDATE_LABEL}={sp.unit}"])
        for found in leftovers:
            self._candidates.remove(found.id, force=True)
        return (f"removed {len(leftovers)} candidate(s) of {sp.unit}: {', '.join(c.name for c in leftovers)}"
                if leftovers else f"no candidate of {sp.unit} left")

    def _candidate_labels(self, sp: P.ServicePlan) -> dict[str, str]:
        return {candidate.CANDIDATE_LABEL: sp.unit, "revops.managed": "true"}

    def _copy(self, sp: P.ServicePlan) -> ContainerCopy:
        created = self._state(sp)
        copy = self.engine.copy_of(created.id) if created is not None else None
        if copy is None:
            raise CheckFailed(f"no container for {sp.service}: preflight creates it")
        return copy

    @staticmethod
    def _container_port(sp: P.ServicePlan, copy: ContainerCopy) -> int | None:
        """The container port published on the service's port (compose `ports:`), or None."""
        if sp.port is None:
            return None
        inside = [c for c, h in copy.published.items() if h == sp.port]
        return inside[0] if inside else sp.port

    def _failed_for_good(self, sp: P.ServicePlan, cid: str, what: str, waited: float) -> Verdict | None:
        """Why the container can no longer turn healthy (exited, restarting, gone; without a
        port, Docker's health unhealthy), or None. With a port, /health is the judge: Docker's
        check can call a slow start unhealthy before the service answers."""
        state = self.engine.container_state(cid)
        if state is None:
            return Verdict(False, f"{what} vanished after {waited:.1f}s")
        if state.status in ("exited", "dead") or state.status == "restarting" or state.restart_count:
            return Verdict(False, f"{what} {state.status} (exit {state.exit_code}, restarts {state.restart_count}) "
                                  f"after {waited:.1f}s; {self._log_tail(sp, cid)}")
        if state.health == "unhealthy" and sp.health_url is None:
            return Verdict(False, f"{what}: Docker health unhealthy after {waited:.1f}s; {self._log_tail(sp, cid)}")
        return None

    @staticmethod
    def _settled(state: EngineContainerState, waited: float) -> bool:
        """Healthy by Docker's own check, or, with none, running for SETTLE_S."""
        if state.status != "running":
            return False
        return state.health == "healthy" or (state.health is None and waited >= SETTLE_S)

    @staticmethod
    def _health_words(state: EngineContainerState) -> str:
        return "Docker health healthy" if state.health == "healthy" else f"running for {SETTLE_S:g}s (no health check)"

    # -- the cutover, continued -------------------------------------------------------

    @contextmanager
    def outage(self, sp: P.ServicePlan) -> Iterator[None]:
        """executor.Host.outage. With a port, the service's outage goes first at the engine:
        one at a time, and the unit stopped once the other services' engine work in progress
        has returned (their candidates' calls, the stop and start of those without a port);
        without one, that stop and start is shared work, behind any outage
        (revops/migrate/outages.py). The wait goes in stop_unit's line."""
        started = time.monotonic()
        with self._outages.outage() if sp.port is not None else self._outages.shared():
            self._held[sp.unit] = time.monotonic() - started
            try:
                yield
            finally:
                self._held.pop(sp.unit, None)

    def stop_unit(self, sp: P.ServicePlan) -> str:
        held = self._held.get(sp.unit, 0.0)
        waited = f" (first waited {held:.2f}s for its turn at the engine)" if held >= 0.01 else ""
        started = time.monotonic()
        if sp.instances:  # a replicated template: every instance, each alone
            for name in sp.instances:
                self._alone("StopUnit", name)
            states = [f"{n} {self.systemd.wait_for(n, UNIT_GONE, STOP_TIMEOUT_S)}" for n in sp.instances]
            return f"{', '.join(states)} after {time.monotonic() - started:.2f}s{waited}"
        self._alone("StopUnit", sp.unit)
        state = self.systemd.wait_for(sp.unit, UNIT_GONE, STOP_TIMEOUT_S)
        freed = ""
        if sp.port is not None:
            wait_port_free(self.config.health.bind_address, sp.port, PORT_FREE_TIMEOUT_S)
            freed = f", port {sp.port} free"
        return f"{sp.unit} {state} after {time.monotonic() - started:.2f}s{freed}{waited}"

    def start_replacement(self, sp: P.ServicePlan) -> str:
        if sp.instances:  # every replica (compose reads deploy.replicas), created ones started
            self._compose_ready()
            with self._compose_lock:
                self.compose.up(self.files, sp.service, no_deps=True)
            return f"compose service {sp.service} started with {len(sp.instances)} replicas (compose up)"
        created = self._state(sp)
        if created is not None and created.status == "created":
            # Preflight had compose create this very container; starting it through the engine
            # skips a compose process start and project parse (about a second with v1), which
            # would otherwise add to the time the service answers nothing.
            self.engine.start(created.id)
            return f"container {created.name} started (created by compose in preflight)"
        self._compose_ready()
        with self._compose_lock:
            self.compose.up(self.files, sp.service, no_deps=True)
        return f"container {sp.service} started (compose up)"

    def wait_replacement_healthy(self, sp: P.ServicePlan, deadline_s: float, cancelled: Callable[[], bool]) -> Verdict:
        """The gate of the real container. With a port: revops' own GET on it answering 2xx
        while the container runs; this wait is the service's downtime, so it polls fast
        (revops.backoff) and reads the container's state only every STATE_EVERY_S. Docker's
        own health catches up later (its first check runs one interval after the start).
        Without a port, nothing else can judge it: Docker's health 'healthy' (or SETTLE_S
        running when the image has no check). A container that exits, restarts, turns
        unhealthy or never starts fails at once, without waiting out the deadline."""
        started = time.monotonic()
        if sp.instances:
            return self._wait_replicas(sp, deadline_s, cancelled, started)
        checked_at = -STATE_EVERY_S
        slow = sp.health_url is None
        last = "no answer yet"
        for delay in backoff_delays(start=0.005 if not slow else 0.05, cap=0.025 if not slow else 0.5):
            waited = time.monotonic() - started
            if sp.health_url is not None:
                probe = http.probe(sp.health_url, self.probe_timeout)
                if probe.healthy and self._container(sp).status == "running":
                    return Verdict(True, f"GET {sp.health_url}: {probe.status_code} after {waited:.2f}s")
                last = f"GET {sp.health_url}: {self._probe_words(sp, probe)}"
            if slow or waited - checked_at >= STATE_EVERY_S:
                checked_at = waited
                verdict = self._replacement_ended(sp, waited)
                if verdict is not None:
                    return verdict
            if cancelled():
                return Verdict(False, f"interrupted after {waited:.1f}s; last: {last}")
            if waited >= deadline_s:
                return Verdict(False, f"not healthy within {deadline_s:g}s: {last}; {self._log_tail(sp)}")
            time.sleep(min(delay, max(0.0, deadline_s - waited)))
        raise AssertionError("unreachable")  # backoff_delays() never ends

    def _replacement_ended(self, sp: P.ServicePlan, waited: float) -> Verdict | None:
        """The real container's verdict when its state decides it (healthy without a port,
        failed for good), else None."""
        found = self._state(sp)
        if found is None:
            return Verdict(False, f"container {sp.service} vanished after {waited:.1f}s") if waited > 1.0 else None
        if found.status == "created" and waited > CREATED_GRACE_S:
            return Verdict(False, f"container {found.name} still created (never started) after {waited:.1f}s")
        failed = self._failed_for_good(sp, found.id, f"container {found.name}", waited)
        if failed is not None:
            return failed
        if sp.health_url is None and self._settled(found, waited):
            return Verdict(True, f"{self._health_words(found)} after {waited:.1f}s")
        return None

    def _wait_replicas(self, sp: P.ServicePlan, deadline_s: float, cancelled: Callable[[], bool],
                       started: float) -> Verdict:
        """The gate of a replicated template: as many replicas as instances, every one healthy
        by Docker's check (or running SETTLE_S without one); one failing for good fails all."""
        last = "no replica yet"
        for delay in backoff_delays(start=0.05, cap=0.5):
            waited = time.monotonic() - started
            verdict, last = self._replicas_now(sp, waited)
            if verdict is not None:
                return verdict
            if cancelled():
                return Verdict(False, f"interrupted after {waited:.1f}s; last: {last}")
            if waited >= deadline_s:
                return Verdict(False, f"not healthy within {deadline_s:g}s: {last}")
            time.sleep(min(delay, max(0.0, deadline_s - waited)))
        raise AssertionError("unreachable")  # backoff_delays() never ends

    def _replicas_now(self, sp: P.ServicePlan, waited: float) -> tuple[Verdict | None, str]:
        """(the verdict once the replicas decide it, else None; what they are now)."""
        found = self._replica_states(sp)
        want = len(sp.instances)
        for state in found:
            failed = self._failed_for_good(sp, state.id, f"replica {state.name}", waited)
            if failed is not None:
                return failed, failed.reason or ""
        settled = [s for s in found if self._settled(s, waited)]
        words = f"{len(settled)} of {want} replicas healthy ({len(found)} found)"
        if len(found) >= want and len(settled) >= want:
            return Verdict(True, f"{words} after {waited:.1f}s"), words
        return None, words

    def _replica_states(self, sp: P.ServicePlan) -> list[EngineContainerState]:
        """The engine's inspect of each of this project's containers of the service."""
        if self._project is None:
            self._state(sp)  # compose names the project once
        if self._project is None:
            return []
        listed = self.engine.list_containers(labels=[f"{COMPOSE_PROJECT}={self._project}",
                                                     f"{COMPOSE_SERVICE}={sp.service}", COMPOSE_NOT_ONEOFF])
        return [s for c in listed if (s := self.engine.container_state(c.id)) is not None]

    def retire_unit(self, sp: P.ServicePlan, mask: bool) -> str:
        """Disable the units; with `mask`, mask each whose mask can be placed (a unit file in
        the admin directory stays, and the words say so: retire.disable_and_mask). Shared work
        behind any API's outage: its daemon-reload holds the manager, and an API's StopUnit
        queued behind it took 0.6 s, against about 0.05 s serially (revops/migrate/outages.py)."""
        with self._outages.shared():
            kept = retire.disable_and_mask(self.systemd, sp.units, mask, self.mask_blocked)
        masked = [u for u in sp.units if mask and u not in kept]
        return (f"{', '.join(sp.units)} disabled" + (f"; {', '.join(masked)} masked" if masked else "")
                + retire.not_masked_words(kept))

    def mask_blocked(self, unit: str) -> str | None:
        """Why the unit's mask cannot be placed now that it is disabled (its unit file is in
        the manager's admin directory), or None (revops.adapters.systemd.mask_blocker)."""
        return mask_blocker(admin_entry(self.admin_dir, unit), disabled=True)

    @property
    def admin_dir(self) -> Path:
        """Where the manager's persistent masks go (revops.adapters.systemd.admin_unit_dir)."""
        return admin_unit_dir(self.config.bus, self.config.root)

    # -- rollback -------------------------------------------------------------------

    def remove_replacement(self, sp: P.ServicePlan) -> str:
        """Stop and remove the service's container. One only created (never started: a job's,
        made for its import check, or a start that failed) goes through the engine by its id:
        a compose process costs about 2 CPU-seconds (v1, on the example host's files), so ten
        jobs cost 20 in a run. Anything else, and a template's replicas, through
        `compose rm -f -s`, which stops it first."""
        found = None if sp.instances else self._state(sp)
        self._ids.pop(sp.service, None)
        if found is not None and found.status == "created":
            self.engine.remove(found.id, force=False, volumes=False)  # as `compose rm -f`: see Engine.remove
            return f"container {found.name} (created, never started) removed"
        self._compose_ready()
        with self._compose_lock:
            self.compose.rm(self.files, sp.service)  # rm -f -s: stops it first
        return f"container {sp.service} stopped and removed"

    def unit_unloadable(self, sp: P.ServicePlan) -> str | None:
        """Why systemd could not start the unit again, or None when it can (it is known, or
        its fragment file is there to link). A replicated template's: its instances are
        known (an instance lives as long as its template's file)."""
        if sp.instances:
            states = self.systemd.states(sp.instances)
            gone = [n for n in sp.instances if states[n].load_state == "not-found"]
            return f"{', '.join(gone)}: systemd does not know them (LoadState not-found)" if gone else None
        state = self.systemd.states([sp.unit])[sp.unit]
        if state.load_state != "not-found":
            return None
        fragment = self.config.root / sp.fragment.lstrip("/") if sp.fragment else None
        if fragment is not None and fragment.exists():
            return None
        where = f"no unit file at {fragment}" if fragment is not None else "no unit file known"
        return f"{sp.unit}: systemd does not know it (LoadState not-found) and {where}"

    def start_unit(self, sp: P.ServicePlan) -> str:
        if sp.instances:
            return "; ".join(self._start_one(name, None) for name in sp.instances)
        return self._start_one(sp.unit, sp.fragment)

    def _start_one(self, unit: str, fragment: str | None) -> str:
        state = self.systemd.states([unit])[unit]
        if state.unit_file_state == "masked":
            self.systemd.unmask([unit])
            state = self.systemd.states([unit])[unit]  # a linked unit is unknown again: linked below
        if state.load_state == "not-found" and fragment:
            # A unit known through `systemctl link` loses its link on disable: link it again.
            self.systemd.link([str(self.config.root / fragment.lstrip("/"))])
            state = self.systemd.states([unit])[unit]
        if state.unit_file_state in ("disabled", "linked", "linked-runtime"):
            self.systemd.enable([unit])
        if state.active_state == "failed":
            self.systemd.reset_failed(unit)
        return f"{unit} {self._alone('StartUnit', unit)}"

    def _alone(self, method: str, unit: str) -> str:
        """StartUnit/StopUnit for this unit only (job mode ignore-requirements, as
        `systemctl --job-mode=ignore-requirements`). In "replace" mode, stopping a unit also
        stops every unit that Requires= it (its dependents would go down before their own
        cutover), and starting one pulls in what it Requires= (units that now run in
        containers would be started a second time)."""
        verb = {"StartUnit": self.systemd.start, "StopUnit": self.systemd.stop}[method]
        return verb(unit, STOP_TIMEOUT_S, mode=ALONE)

    def wait_unit_healthy(self, sp: P.ServicePlan, deadline_s: float) -> Verdict:
        if sp.instances:
            states = [f"{n} {self.systemd.wait_for(n, {'active'}, deadline_s)}" for n in sp.instances]
            return Verdict(True, ", ".join(states))
        if sp.health_url is None:
            state = self.systemd.wait_for(sp.unit, {"active"}, deadline_s)
            return Verdict(True, f"{sp.unit} {state}")
        probe = http.wait_healthy(sp.health_url, deadline_s, attempt_timeout=self.probe_timeout)
        active = self.systemd.states([sp.unit])[sp.unit].active_state
        if probe.healthy and active == "active":
            return Verdict(True, f"{sp.unit} active, GET {sp.health_url}: {probe.status_code}")
        return Verdict(False, f"{sp.unit} {active}; GET {sp.health_url}: {self._probe_words(sp, probe)}")

    # -- a timer-fired job --------------------------------------------------------

    def job_running(self, sp: P.ServicePlan) -> str | None:
        state = self.systemd.states([sp.unit])[sp.unit]
        return jobs.between_runs(state.active_state, state.sub_state)

    def job_verdict(self, sp: P.ServicePlan) -> Verdict:
        """A repointed job is fine now when the manager applies revops' drop-in to its unit
        (DropInPaths) and its last run did not fail: its runs are its timer's to start."""
        ours = "/" + dropins.filename(jobs.PURPOSE)
        if not any(p.endswith(ours) for p in self.systemd.dropin_paths(sp.unit)):
            return Verdict(False, f"{sp.unit}: systemd applies no {ours[1:]} (not repointed to its container)")
        state = self.systemd.states([sp.unit])[sp.unit]
        if state.active_state == "failed":
            return Verdict(False, f"{sp.unit}: its last run failed (Result {state.result})")
        return Verdict(True, f"{sp.unit}: repointed; last run {state.result or 'none'}")

    def job_pair(self, journal: Journal) -> repoint_mod.Pair:
        if self.dropins is None:
            raise CheckFailed("no drop-in directory to repoint a job in (LiveHost made without one)")
        return repoint_mod.Pair(self.systemd, self.dropins, journal, journal.ledger)

    # -- an old-world unit retired ----------------------------------------------------

    def retirer(self, journal: Journal) -> retire.Retirer:
        return retire.Retirer(self.systemd, journal, STOP_TIMEOUT_S, mask_blocked=self.mask_blocked)

    # -- reading --------------------------------------------------------------------

    def replacement_verdict(self, sp: P.ServicePlan) -> Verdict:
        """Healthy now, as the cutover's gate judges: with a port, running and GET /health 2xx
        (Docker's health may still be 'starting', never 'unhealthy'); without, Docker's
        health 'healthy' (or running, when the image has no check). A job has no container
        between runs: see job_verdict."""
        if sp.kind == P.KIND_JOB:
            return self.job_verdict(sp)
        if sp.instances:
            verdict, words = self._replicas_now(sp, SETTLE_S)
            return verdict if verdict is not None else Verdict(False, words)
        state = self._container(sp)
        if not state.exists:
            return Verdict(False, f"no container for {sp.service}")
        if state.status != "running":
            return Verdict(False, f"container {state.status}")
        allowed = ("healthy", None) if sp.health_url is None else ("healthy", "starting", None)
        docker = None if state.health in allowed else f"Docker health {state.health}"
        if sp.health_url is None:
            return Verdict(docker is None, docker)
        probe = http.probe(sp.health_url, self.probe_timeout)
        if probe.healthy and docker is None:
            return Verdict(True)
        words = [w for w in (docker, f"GET {sp.health_url}: {self._probe_words(sp, probe)}" if not probe.healthy else None) if w]
        return Verdict(False, "; ".join(words))

    def _container(self, sp: P.ServicePlan) -> ContainerState:
        found = self._state(sp)
        if found is None:
            return ContainerState(False, None, None, None)
        return ContainerState(True, found.status, found.health, found.exit_code)

    def _state(self, sp: P.ServicePlan) -> EngineContainerState | None:
        """The engine's inspect of this project's container for the service, or None."""
        cid = self._ids.get(sp.service)
        if cid is not None:
            found = self.engine.container_state(cid)
            if found is not None:
                return found
        cid = self._find(sp.service)
        if cid is None:
            self._ids.pop(sp.service, None)
            return None
        self._ids[sp.service] = cid
        return self.engine.container_state(cid)

    def _find(self, service: str) -> str | None:
        """The id of this project's container for the compose service, or None.

        A service name alone could match another compose project's container on the same
        engine, so the first id comes from compose itself (`ps -q SERVICE`); its labels name
        the project. Later ones come from one engine query on the labels `compose ps` filters
        by (project, service, not a one-off): a compose process costs about two CPU-seconds
        (v1, on the example host's 136 services), and twelve services starting a wave at once
        each asked compose while the name was still unknown."""
        if self._project is None:
            with self._project_lock:  # a wave's first services would each start one otherwise
                if self._project is None:
                    return self._find_through_compose(service)
        listed = self.engine.list_containers(labels=[f"{COMPOSE_PROJECT}={self._project}",
                                                     f"{COMPOSE_SERVICE}={service}", COMPOSE_NOT_ONEOFF])
        return listed[0].id if listed else None

    def _find_through_compose(self, service: str) -> str | None:
        """`compose ps -q SERVICE`'s first id; the project's name from its labels, for the
        engine queries of every later lookup."""
        self._compose_ready()
        ids = self.compose.ps(self.files, service)
        if not ids:
            return None
        found = self.engine.container_state(ids[0])
        if found is not None:
            self._project = found.labels.get(COMPOSE_PROJECT)
        return ids[0]

    def _log_tail(self, sp: P.ServicePlan, container: str | None = None) -> str:
        """The last lines of `container` (default: the service's own), secrets hidden."""
        try:
            lines = self.engine.logs_tail(container or self._ids.get(sp.service, sp.service), LOG_TAIL_LINES)
        except Exception as exc:  # the logs are evidence, not a step: say why they are missing
            return f"container log unavailable: {exc}"
        if not lines:
            return "container log empty"
        redactor = self._redactor(sp)
        if isinstance(redactor, str):
            return f"container log withheld: {redactor}"
        return "last log lines:\n  " + "\n  ".join(redactor.apply(line) for line in lines)

    def _hide(self, sp: P.ServicePlan, words: str) -> str:
        """The service's own words with its env files' values hidden (withheld when unreadable)."""
        redactor = self._redactor(sp)
        if isinstance(redactor, str):
            return f"(withheld: {redactor})"
        return redactor.apply(words)

    def _probe_words(self, sp: P.ServicePlan, probe: http.Probe) -> str:
        """What a failed probe said: its status and the head of its body, or its error."""
        if probe.status_code is None:
            return probe.error or probe.state
        redactor = self._redactor(sp)
        if isinstance(redactor, str):
            body = f"(withheld: {redactor})"
        else:
            # The adapter cut the body already: hide a secret's start left at its end too.
            body = redactor.apply((probe.body_head or "").strip().replace("\n", " "), cut=True)
        body = body[:120]
        return f"HTTP {probe.status_code}" + (f" body {body!r}" if body else "")

    def _redactor(self, sp: P.ServicePlan) -> "envfile.Redactor | str":
        """The service's own words (log lines, a /health body) become reasons in the ledger
        and on the terminal, so the values of its env files are hidden in them; when one of
        those files cannot be read, the words are withheld (a str: why)."""
        if sp.unit not in self._redactors:
            service = self._services.get(sp.unit)
            values, unreadable = envfile.read_values(service.env_files if service else ())
            if sp.secret is not None:  # what the copy hands the container, the same hidden
                try:
                    values |= self._bundle(sp).values()
                except CheckFailed as exc:
                    unreadable.append(exc.message)
            self._redactors[sp.unit] = (f"cannot read {'; '.join(unreadable)} to hide its values"
                                        if unreadable else envfile.Redactor.of(values))
        return self._redactors[sp.unit]

