"""An API's outage first at the engine, one at a time (revops/migrate/outages.py), with real threads.
Each test orders the threads with events, not with sleeps, so it says what must happen before
what; a wait that must not end is a bounded `Event.wait` whose answer is asserted."""

from __future__ import annotations

import threading

import pytest

from revops.migrate.outages import DeferringEngine, OutagesFirst

SETTLE_S = 0.3  # how long a thread that must stay blocked is given to (wrongly) go on
BOUND_S = 10.0  # a thread that must go on does so well within this


def run(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_an_outage_waits_for_the_shared_work_in_progress():
    order = OutagesFirst()
    inside, release, stopped = threading.Event(), threading.Event(), threading.Event()

    def candidate():  # one engine call of a candidate
        with order.shared():
            inside.set()
            release.wait(BOUND_S)

    def cutover():
        with order.outage():
            stopped.set()

    run(candidate)
    assert inside.wait(BOUND_S)
    run(cutover)
    assert not stopped.wait(SETTLE_S), "the unit was stopped while a candidate call ran"
    assert order.busy == (1, 1)
    release.set()
    assert stopped.wait(BOUND_S)


def test_no_shared_work_begins_during_an_outage():
    order = OutagesFirst()
    in_outage, end_outage, called = threading.Event(), threading.Event(), threading.Event()

    def cutover():
        with order.outage():
            in_outage.set()
            end_outage.wait(BOUND_S)

    def candidate():
        with order.shared():
            called.set()

    run(cutover)
    assert in_outage.wait(BOUND_S)
    run(candidate)
    assert not called.wait(SETTLE_S), "a candidate call began during an outage"
    end_outage.set()
    assert called.wait(BOUND_S)
    assert order.busy[0] == 0


def test_a_waiting_outage_holds_new_shared_work_back():
    """Outages first: once an outage is announced, shared work asked for later waits even
    though the outage itself is still waiting for earlier work."""
    order = OutagesFirst()
    first_in, release_first, stopped, second_in = (threading.Event() for _ in range(4))

    def first():
        with order.shared():
            first_in.set()
            release_first.wait(BOUND_S)

    def cutover():
        with order.outage():
            stopped.set()

    def second():
        with order.shared():
            second_in.set()

    run(first)
    assert first_in.wait(BOUND_S)
    run(cutover)
    for _ in range(100):  # until the outage is announced (it waits for `first`)
        if order.busy[0] == 1:
            break
        threading.Event().wait(0.01)
    assert order.busy == (1, 1)
    run(second)
    assert not second_in.wait(SETTLE_S), "a later candidate call went ahead of the outage"
    release_first.set()
    assert stopped.wait(BOUND_S)
    assert second_in.wait(BOUND_S)


def test_outages_go_one_at_a_time():
    order = OutagesFirst()
    first_in, release_first, second_in = threading.Event(), threading.Event(), threading.Event()

    def first():
        with order.outage():
            first_in.set()
            release_first.wait(BOUND_S)

    def second():
        with order.outage():
            second_in.set()

    run(first)
    assert first_in.wait(BOUND_S)
    run(second)
    assert not second_in.wait(SETTLE_S), "two outages at once"
    assert order.busy == (2, 0)
    release_first.set()
    assert second_in.wait(BOUND_S)


def test_shared_work_runs_side_by_side():
    order = OutagesFirst()
    both_in = threading.Barrier(2, timeout=BOUND_S)
    done = []

    def work(name):
        def body():
            with order.shared():
                both_in.wait()  # breaks (and raises) unless both are inside at once
                done.append(name)
        return body

    threads = [run(work("a")), run(work("b"))]
    for thread in threads:
        thread.join(BOUND_S)
    assert sorted(done) == ["a", "b"]


def test_an_outage_that_raises_lets_candidate_calls_go_on():
    order = OutagesFirst()
    with pytest.raises(RuntimeError):
        with order.outage():
            raise RuntimeError("the start call failed")
    assert order.busy == (0, 0)
    called = threading.Event()

    def candidate():
        with order.shared():
            called.set()

    run(candidate)
    assert called.wait(BOUND_S)


class Recorder:
    """An engine that says which calls it saw, and what was in progress then."""

    def __init__(self, order: OutagesFirst) -> None:
        self.order = order
        self.calls: list[tuple[str, tuple[int, int]]] = []

    def _saw(self, name: str):
        self.calls.append((name, self.order.busy))

    def create_copy(self, copy, name, **kwargs):
        self._saw("create_copy")
        return "cid"

    def start(self, container):
        self._saw("start")

    def stop(self, container, timeout=10):
        self._saw("stop")

    def remove(self, container, **kwargs):
        self._saw("remove")

    def container_state(self, container):
        self._saw("container_state")

    def wait_exit(self, container, timeout):
        self._saw("wait_exit")
        return 0


def test_the_deferring_engine_counts_changes_as_shared_work_and_lets_reads_through():
    order = OutagesFirst()
    engine = Recorder(order)
    deferring = DeferringEngine(engine, order)
    assert deferring.create_copy(object(), "n", labels={}) == "cid"
    deferring.start("cid")
    deferring.stop("cid")
    deferring.remove("cid", force=True)
    with order.outage():  # a read during an outage does not wait
        deferring.container_state("cid")
        assert deferring.wait_exit("cid", 1.0) == 0
    assert engine.calls == [("create_copy", (0, 1)), ("start", (0, 1)), ("stop", (0, 1)), ("remove", (0, 1)),
                            ("container_state", (1, 0)), ("wait_exit", (1, 0))]
