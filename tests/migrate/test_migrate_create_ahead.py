"""The containers of a run's services made together: CreateBatcher's batches, what the executor
tells the host before and after the waves, and what LiveHost creates ahead and takes back.

compose is a recorder here (the real compose creates them in test_migrate_realstack and the
waves' real-stack tests); what is under test is who goes in which process, and what is undone.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from revops.adapters.ledger import open_ledger
from revops.errors import CheckFailed, AdapterUnavailable
from revops.journal import Journal, JournalUnavailable
from revops.migrate import plan as P
from revops.migrate.executor import MIGRATED, NOT_STARTED, SKIPPED, Executor
from revops.migrate.host import CreateBatcher, LiveHost
from revops.model import Inventory, Unit

from migrate_helpers import ScriptedHost


class Compose:
    """compose `up --no-start` as a recorder: one list per process; `bad` fails any batch
    holding it."""

    def __init__(self, bad: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.bad = bad

    def __call__(self, names: list[str]) -> None:
        self.batches.append(list(names))
        if self.bad in names:
            raise AdapterUnavailable(f"compose: cannot create {self.bad}")


def test_the_first_process_creates_every_service_the_run_said_it_would_ask_for():
    compose = Compose()
    batcher = CreateBatcher(compose, threading.Lock())
    batcher.ahead(["a", "b", "c"])
    assert batcher.create("a") == ["a", "b", "c"]
    assert batcher.made_ahead == {"b", "c"}
    assert batcher.create("b") == [] and batcher.create("c") == []
    assert compose.batches == [["a", "b", "c"]]
    assert batcher.made_ahead == set()


def test_a_service_made_ahead_never_goes_in_a_later_batch():
    # compose `up --no-start` on a container that exists may recreate it: once made, never again.
    compose = Compose()
    batcher = CreateBatcher(compose, threading.Lock())
    batcher.ahead(["a", "b"])
    batcher.create("a")
    batcher.create("b")
    batcher.create("d")  # not announced: its own process
    assert compose.batches == [["a", "b"], ["d"]]


def test_a_failed_batch_gives_each_service_its_own_try_and_its_own_error():
    compose = Compose(bad="b")
    batcher = CreateBatcher(compose, threading.Lock())
    batcher.ahead(["a", "b", "c"])
    batcher.create("a")  # the batch failed because of b; a alone succeeds
    batcher.create("c")
    with pytest.raises(AdapterUnavailable, match="cannot create b"):
        batcher.create("b")
    assert compose.batches == [["a", "b", "c"], ["a"], ["c"], ["b"]]


def test_threads_asking_at_once_share_the_process_with_the_announced_ones():
    gate = threading.Event()
    compose = Compose()

    def slow(names):
        compose(names)
        gate.wait(2)

    batcher = CreateBatcher(slow, threading.Lock())
    batcher.ahead(["a", "b", "c"])
    threads = [threading.Thread(target=batcher.create, args=(n,)) for n in ("a", "b", "c")]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert sorted(sum(compose.batches, [])) == ["a", "b", "c"]
    assert len(compose.batches) == 1


def test_a_service_asked_for_while_its_ahead_batch_runs_is_not_asked_again_later():
    # b is asked for while the batch that makes it ahead is still running: once that batch is
    # over, b is made, and no later process names it again (that could recreate its container).
    running, go_on = threading.Event(), threading.Event()
    compose = Compose()

    def slow(names):
        compose(names)
        running.set()
        go_on.wait(5)

    batcher = CreateBatcher(slow, threading.Lock())
    batcher.ahead(["a", "b"])
    first = threading.Thread(target=batcher.create, args=("a",), daemon=True)
    first.start()
    assert running.wait(5)
    second = threading.Thread(target=batcher.create, args=("b",), daemon=True)
    second.start()
    time.sleep(0.2)  # b's thread waits on the batch in flight
    go_on.set()
    first.join(5)
    second.join(5)
    batcher.create("d")
    assert compose.batches == [["a", "b"], ["d"]]


class Died(BaseException):
    """Not an Exception: what no `except Exception` catches."""


def test_a_batch_whose_process_dies_wakes_the_threads_waiting_on_it():
    running, go_on = threading.Event(), threading.Event()
    calls = []

    def dies(names):
        calls.append(list(names))
        if len(calls) == 1:
            running.set()
            go_on.wait(5)
            raise Died()

    batcher = CreateBatcher(dies, threading.Lock())
    batcher.ahead(["a", "b"])
    errors = []

    def ask(name):
        try:
            batcher.create(name)
        except Died as exc:
            errors.append((name, exc))

    first = threading.Thread(target=ask, args=("a",), daemon=True)
    first.start()
    assert running.wait(5)
    second = threading.Thread(target=ask, args=("b",), daemon=True)
    second.start()
    time.sleep(0.2)  # b's thread waits on the batch in flight
    go_on.set()
    first.join(5)
    second.join(5)
    assert not second.is_alive(), "b's thread still waits for a batch that will never end"
    assert [name for name, _ in errors] == ["a"]
    assert calls == [["a", "b"], ["b"]]  # b tried alone


def test_a_service_whose_batch_failed_is_not_said_to_share_a_process():
    compose = Compose(bad="b")
    batcher = CreateBatcher(compose, threading.Lock())
    batcher.ahead(["a", "b"])
    assert batcher.create("a") == []  # made by its own process after the batch failed


# -- the executor tells the host ---------------------------------------------------------

def _chain(make_config):
    cfg = make_config()
    inv = Inventory(root="/", scanned_at=None, units=[
        Unit(name="revcore-gateway.service", path=None, port=8004),
        Unit(name="revpublish.service", path=None, port=8550, after=["revcore-gateway.service"]),
        Unit(name="revscore-iq.service", path=None, port=8608),
    ])
    return P.build(inv, cfg, 1).services


@pytest.fixture
def ledger(tmp_path):
    led = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield led
    led.close()


def test_the_host_hears_every_service_first_and_takes_back_those_whose_preflight_did_not_pass(make_config, ledger):
    plan = _chain(make_config)
    host = ScriptedHost(ledger, fail={"preflight": {"revcore-gateway.service": CheckFailed("unit not loaded")}})
    run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
    results = {r.unit: r for r in Executor(host, Journal(ledger, run_id), mask=False, parallel=2).run(plan)}
    assert sorted(host.expected) == sorted(sp.unit for sp in plan)
    # The gateway's preflight failed, maybe before it asked for its container: the host knows
    # whether one was made ahead for it and never asked for.
    assert results["revcore-gateway.service"].outcome == NOT_STARTED
    assert results["revpublish.service"].outcome == SKIPPED
    assert results["revscore-iq.service"].outcome == MIGRATED
    assert host.released == ["revcore-gateway.service", "revpublish.service"]


def test_a_run_that_stops_still_takes_back_what_was_made_ahead(make_config, ledger):
    plan = _chain(make_config)
    host = ScriptedHost(ledger, fail={"preflight": {"revcore-gateway.service": JournalUnavailable("ledger gone")}})
    run_id = ledger.begin_run("op", "migrate --phase 1", 1, False)
    with pytest.raises(JournalUnavailable):
        Executor(host, Journal(ledger, run_id), mask=False, parallel=1).run(plan)
    assert sorted(host.released) == sorted(sp.unit for sp in plan)  # none of them passed its preflight


# -- LiveHost: what it creates ahead, and takes back --------------------------------------

class Engine:
    """The engine's answers LiveHost's expect/release read: images present, containers found."""

    def __init__(self, images, containers):
        self.images = set(images)
        self.containers = containers  # {service: SimpleNamespace(id, name, status)}
        self.removed: list[str] = []

    def image_exists(self, tag):
        return tag in self.images

    def list_containers(self, labels=(), all=True):
        service = next(lab.split("=", 1)[1] for lab in labels if lab.startswith("com.docker.compose.service="))
        found = self.containers.get(service)
        return found if isinstance(found, list) else [found] if found is not None else []

    def container_state(self, cid):
        every = [c for found in self.containers.values() for c in (found if isinstance(found, list) else [found])]
        return next((c for c in every if c.id == cid), None)

    def remove(self, cid, *, force=True, missing_ok=True, volumes=True):
        assert volumes is False  # compose made it: its anonymous volumes may hold data
        self.removed.append(cid)


COMPOSE = """services:
  revpublish:
    image: revflow/revpublish:1
    labels: {revops.unit: revpublish.service}
  revlist:
    image: revflow/revlist:1
    labels: {revops.unit: revlist.service}
  revroute:
    image: revflow/revroute:1
    labels: {revops.unit: revroute.service}
"""


def _live(make_config, tmp_path, engine, compose=COMPOSE, names=("revpublish", "revlist", "revroute", "revghost")):
    config = make_config()
    compose_file = tmp_path / "compose" / "docker-compose.yml"
    compose_file.parent.mkdir()
    compose_file.write_text(compose)
    units = [Unit(name=f"{n}.service", path=None, port=8500 + i) for i, n in enumerate(names)]
    plans = [P.service_plan(u, config, [str(compose_file)]) for u in units]
    host = LiveHost(config, SimpleNamespace(), engine=engine, compose=None, compose_files=[str(compose_file)])
    host._project = "compose"  # as the run's first container said
    return host, plans


def container(cid, name, status):
    return SimpleNamespace(id=cid, name=name, status=status, labels={}, health=None, exit_code=0)


def test_live_host_announces_only_services_generated_for_it_with_their_image_present(make_config, tmp_path):
    engine = Engine(images={"revflow/revpublish:1", "revflow/revroute:1"}, containers={})
    host, plans = _live(make_config, tmp_path, engine)
    host.expect(plans)  # revlist's image is missing (its preflight builds it); revghost has no service
    assert host._creates._ahead == ["revpublish", "revroute"]


def test_live_host_announces_no_service_of_a_suite_its_run_may_build(make_config, tmp_path):
    # revcore-gateway's image is missing: its preflight builds suite core, which may tag a new
    # revpublish image too; a revpublish container made before that would run the old one.
    engine = Engine(images={"revflow/revpublish:1"}, containers={})
    core = COMPOSE.split("  revlist:")[0] + ("  revcore-gateway:\n    image: revflow/revcore-gateway:1\n"
                                             "    labels: {revops.unit: revcore-gateway.service}\n")
    host, plans = _live(make_config, tmp_path, engine, compose=core, names=("revpublish", "revcore-gateway"))
    assert [sp.suite for sp in plans] == ["core", "core"]
    host.expect(plans)
    assert host._creates._ahead == []


def test_live_host_removes_only_containers_it_made_ahead_that_never_started(make_config, tmp_path):
    engine = Engine(images=set(), containers={
        "revpublish": container("c1", "compose_revpublish_1", "created"),
        "revlist": container("c2", "compose_revlist_1", "running"),
        "revroute": container("c3", "compose_revroute_1", "created"),
    })
    host, plans = _live(make_config, tmp_path, engine)
    host._creates.made_ahead.update({"revpublish", "revlist"})  # revroute was made by its own preflight
    said = host.release(plans)
    assert engine.removed == ["c1"]
    assert said == ["revpublish.service: container compose_revpublish_1, created ahead and never started, removed"]


def test_live_host_takes_back_what_it_made_ahead_for_a_service_whose_preflight_failed_first(make_config, tmp_path):
    engine = Engine(images={"revflow/revpublish:1", "revflow/revroute:1"}, containers={
        "revpublish": container("c1", "compose_revpublish_1", "created"),
    })
    host, plans = _live(make_config, tmp_path, engine)
    made = []
    host.compose = SimpleNamespace(create=lambda files, *names: made.extend(names))
    host.systemd = SimpleNamespace(states=lambda names: {n: SimpleNamespace(load_state="not-found") for n in names})
    host.expect(plans)
    host._creates.create("revroute")  # revroute's preflight: its process makes revpublish's too
    assert made == ["revroute", "revpublish"]
    with pytest.raises(CheckFailed, match="systemd does not know it"):
        host.preflight(plans[0])  # revpublish's, failing before it asks for its container
    assert host.release([plans[0]]) == [
        "revpublish.service: container compose_revpublish_1, created ahead and never started, removed"]
    assert engine.removed == ["c1"]


def test_live_host_takes_back_every_replica_it_made_ahead(make_config, tmp_path):
    engine = Engine(images=set(), containers={"revworker": [
        container("r1", "compose_revworker_1", "created"),
        container("r2", "compose_revworker_2", "created"),
    ]})
    host, _plans = _live(make_config, tmp_path, engine)
    template = Unit(name="revworker@.service", path=None)
    sp = P.service_plan(template, make_config(), host.files, instances=["revworker@1.service", "revworker@2.service"])
    host._creates.made_ahead.add(sp.service)
    said = host.release([sp])
    assert sorted(engine.removed) == ["r1", "r2"]
    assert len(said) == 2 and all("created ahead and never started, removed" in line for line in said)


def test_live_host_announces_nothing_it_cannot_ask_the_engine_about(make_config, tmp_path):
    class Down(Engine):
        def image_exists(self, tag):
            raise AdapterUnavailable("docker engine: connection refused")

    host, plans = _live(make_config, tmp_path, Down(images=set(), containers={}))
    host.expect(plans)  # each preflight says what the engine says; the run is not stopped here
    assert host._creates._ahead == []
