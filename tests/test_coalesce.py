"""Coalesced: threads share runs, and no call is served by a run that began before it."""

from __future__ import annotations

import threading
import time

import pytest

from revops.coalesce import Coalesced


class Gate:
    """A run that records its number and, while `hold` is clear, blocks."""

    def __init__(self, fail_on: set[int] = frozenset()):
        self.begun: list[int] = []
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.fail_on = fail_on

    def __call__(self):
        self.begun.append(len(self.begun) + 1)
        self.entered.set()
        self.hold.wait(10)
        if self.begun[-1] in self.fail_on:
            raise RuntimeError(f"run {self.begun[-1]} failed")


def test_calls_one_after_another_each_get_their_own_run():
    gate = Gate()
    gate.hold.set()
    reload = Coalesced(gate)
    for _ in range(3):
        reload()
    assert gate.begun == [1, 2, 3] and reload.runs == 3


def callers(reload, n, outcomes):
    def call(i):
        try:
            reload()
            outcomes[i] = ("ok", len(gate_begun(reload)))
        except RuntimeError as exc:
            outcomes[i] = ("raised", str(exc))
    return [threading.Thread(target=call, args=(i,)) for i in range(n)]


def gate_begun(reload):
    return reload._run.begun


def test_calls_during_a_run_share_the_next_one_never_the_current():
    gate = Gate()
    reload = Coalesced(gate)
    first = threading.Thread(target=reload)
    first.start()
    assert gate.entered.wait(5)  # run 1 is going, and blocked
    outcomes: dict[int, tuple] = {}
    threads = callers(reload, 6, outcomes)
    for t in threads:
        t.start()
    wait_until(lambda: reload.waiting == 6)
    assert outcomes == {}  # none was served by run 1, which began before them
    gate.hold.set()
    first.join(5)
    for t in threads:
        t.join(5)
    assert gate.begun == [1, 2]  # six callers, one more run
    assert set(outcomes.values()) == {("ok", 2)}


def test_what_the_shared_run_raised_reaches_every_caller_that_shared_it():
    gate = Gate(fail_on={2})
    reload = Coalesced(gate)
    first = threading.Thread(target=reload)
    first.start()
    assert gate.entered.wait(5)
    outcomes: dict[int, tuple] = {}
    threads = callers(reload, 4, outcomes)
    for t in threads:
        t.start()
    wait_until(lambda: reload.waiting == 4)
    gate.hold.set()
    first.join(5)
    for t in threads:
        t.join(5)
    assert gate.begun == [1, 2]
    assert set(outcomes.values()) == {("raised", "run 2 failed")}
    reload()  # a later call gets a run of its own, which succeeds
    assert gate.begun == [1, 2, 3]


def test_the_run_that_raised_raises_in_its_own_caller_too():
    gate = Gate(fail_on={1})
    gate.hold.set()
    reload = Coalesced(gate)
    with pytest.raises(RuntimeError, match="run 1 failed"):
        reload()
    assert reload.waiting == 0


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
