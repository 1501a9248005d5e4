"""An API's outage first at the engine, one at a time (revops/migrate/outages.py), with real
threads. Each test orders the threads with events, not with sleeps. A thread that must be
held back is first seen waiting at the gate (`busy` counts it), then given time to go on
wrongly; a thread that must go on does so within a bound."""

from __future__ import annotations

import threading
import time

import pytest

from revops.migrate.outages import Busy, DeferringEngine, OutagesFirst

SETTLE_S = 0.2  # how long a thread seen waiting is given to (wrongly) go on
BOUND_S = 10.0  # a thread that must go on does so well within this


def run(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def until(seen, what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not seen():
        assert time.monotonic() < deadline, f"not within {BOUND_S}s: {what}"
        time.sleep(0.005)


def hold(order: OutagesFirst, kind: str) -> tuple[threading.Event, threading.Event]:
    """A thread inside `kind` work until released: (inside, release)."""
    inside, release = threading.Event(), threading.Event()

    def body():
        with getattr(order, kind)():
            inside.set()
            release.wait(BOUND_S)

    run(body)
    assert inside.wait(BOUND_S)
    return inside, release


def enter(order: OutagesFirst, kind: str) -> threading.Event:
    """A thread that enters `kind` work and leaves at once: set once it was inside."""
    inside = threading.Event()

    def body():
        with getattr(order, kind)():
            inside.set()

    run(body)
    return inside


@pytest.mark.parametrize("first, then, seen_waiting, why", [
    # an outage stops the unit only once the shared work in progress has returned
    ("shared", "outage", lambda busy: busy.outages == 1, "the unit was stopped while shared work ran"),
    # no shared work begins during an outage
    ("outage", "shared", lambda busy: busy.shared_waiting == 1, "shared work began during an outage"),
    # outages go one at a time
    ("outage", "outage", lambda busy: busy.outages == 2, "two outages at once"),
])
def test_held_back_until_the_work_in_progress_returns(first, then, seen_waiting, why):
    order = OutagesFirst()
    _, release = hold(order, first)
    went_on = enter(order, then)
    until(lambda: seen_waiting(order.busy), f"{then} seen waiting")
    assert not went_on.wait(SETTLE_S), why
    release.set()
    assert went_on.wait(BOUND_S)
    until(lambda: order.busy == Busy(0, False, 0, 0), "everything done")


def test_a_waiting_outage_holds_new_shared_work_back():
    """Outages first: once an outage is announced, shared work asked for later waits even
    though the outage itself is still waiting for earlier work."""
    order = OutagesFirst()
    _, release_first = hold(order, "shared")
    stopped = enter(order, "outage")
    until(lambda: order.busy.outages == 1, "the outage announced")
    second = enter(order, "shared")
    until(lambda: order.busy.shared_waiting == 1, "the later shared work held back")
    assert not second.wait(SETTLE_S), "later shared work went ahead of the outage"
    release_first.set()
    assert stopped.wait(BOUND_S)
    assert second.wait(BOUND_S)


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


def test_an_outage_that_raises_lets_shared_work_go_on():
    order = OutagesFirst()
    with pytest.raises(RuntimeError):
        with order.outage():
            raise RuntimeError("the start call failed")
    assert order.busy == Busy(0, False, 0, 0)
    assert enter(order, "shared").wait(BOUND_S)


def test_an_outage_whose_wait_is_broken_off_is_no_longer_announced(monkeypatch):
    """A wait that raises (an interrupt delivered to that thread) takes the outage back, so
    shared work is not held back by an outage that will never run."""
    order = OutagesFirst()

    def broken_off(predicate, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(order._cv, "wait_for", broken_off)
    with pytest.raises(KeyboardInterrupt):
        with order.outage():
            pytest.fail("the body ran")
    monkeypatch.undo()
    assert order.busy == Busy(0, False, 0, 0)
    assert enter(order, "shared").wait(BOUND_S)


class Recorder:
    """An engine that says which calls it saw, and what was in progress then."""

    def __init__(self, order: OutagesFirst) -> None:
        self.order = order
        self.calls: list[tuple[str, Busy]] = []

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
    shared, outage = Busy(0, False, 1, 0), Busy(1, True, 0, 0)
    assert engine.calls == [("create_copy", shared), ("start", shared), ("stop", shared), ("remove", shared),
                            ("container_state", outage), ("wait_exit", outage)]
