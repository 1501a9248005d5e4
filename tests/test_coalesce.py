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


def test_an_error_that_cannot_be_copied_still_reaches_the_callers_that_shared_its_run():
    """ConfigError's __init__ takes (path, key, message): copy.copy cannot rebuild it from its
    args. The callers that shared the run get that error, not a TypeError of the copy."""
    from revops.errors import ConfigError

    hold, entered = threading.Event(), threading.Event()
    begun = []

    def run():
        begun.append(1)
        entered.set()
        hold.wait(10)
        if len(begun) == 2:
            raise ConfigError("templates/x.j2", None, "run 2 failed", 3)

    reload = Coalesced(run)
    first = threading.Thread(target=reload)
    first.start()
    assert entered.wait(5)
    outcomes: dict[int, object] = {}

    def call(i):
        try:
            reload()
            outcomes[i] = "ok"
        except Exception as exc:  # noqa: BLE001 - what each caller got is the point
            outcomes[i] = (type(exc).__name__, str(exc))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: reload.waiting == 3)
    hold.set()
    first.join(5)
    for t in threads:
        t.join(5)
    assert len(begun) == 2
    assert set(outcomes.values()) == {("ConfigError", "templates/x.j2:3: run 2 failed")}


def test_what_a_run_raised_is_let_go_once_every_caller_has_it():
    """A long-lived manager whose reloads fail now and then keeps no error (and no traceback,
    with the frames it holds) once its callers have raised it."""
    import gc
    import weakref

    class ReloadFailed(Exception):
        pass

    raised = []

    def run():
        exc = ReloadFailed("reload failed")
        raised.append(weakref.ref(exc))
        raise exc

    reload = Coalesced(run)
    for _ in range(3):
        with pytest.raises(ReloadFailed):
            reload()
    gc.collect()
    assert [ref() for ref in raised] == [None, None, None]


def test_a_caller_interrupted_while_waiting_is_no_longer_counted():
    """Ctrl-C reaches the main thread while it waits for a run: it stops waiting, the run goes
    on, and `waiting` does not count it for ever."""
    import signal

    gate = Gate()
    reload = Coalesced(gate)
    first = threading.Thread(target=reload)
    first.start()
    assert gate.entered.wait(5)
    main = threading.get_ident()
    kicker = threading.Thread(target=lambda: (wait_until(lambda: reload.waiting == 1),
                                              signal.pthread_kill(main, signal.SIGINT)))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        kicker.start()
        with pytest.raises(KeyboardInterrupt):
            reload()
    finally:
        signal.signal(signal.SIGINT, previous)
        gate.hold.set()
        first.join(5)
        kicker.join(5)
    assert reload.waiting == 0
    reload()  # the next call gets a run of its own
    assert gate.begun == [1, 2]
