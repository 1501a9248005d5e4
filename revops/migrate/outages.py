"""An API's outage goes first at the engine, one at a time.

With several services in flight, an API's outage (its unit stopped, its container's start
call not yet returned) shares the Docker engine with the other services' work: their
candidates' creates, starts and removes, and the stops and starts of the services without a
port. On the example host's phase 2, an API container's start call (the journal's start step)
took 0.45 s serially (median), but 2-4 s for the first APIs at 14 in flight, which cut over
while a dozen other containers started (issue #16); each of those seconds is one in which the
API answers nothing. With this order it took 0.51 s (median; at most 0.67 s) at 14.

`OutagesFirst` orders two kinds of work:

- an API's **outage** (`outage()`): announced before its unit is stopped. From then on no
  shared work begins, and the unit is stopped only once the shared work in progress has
  returned and no other API's outage is in progress: it waits while the unit still serves,
  so the wait costs no answer. It ends when the replacement's start call has returned
  (whatever it answered).
- **shared** work (`shared()`): one engine call of a candidate, the stop and start of a
  service without a port (nothing probes it; its queue waits), or a unit's retirement (its
  disable and daemon-reload, which holds the systemd manager: an API's StopUnit queued behind
  one took 0.6 s). Any number at once; each begins when no outage is announced.

Other engine work is not ordered: another service's rollback, a compose process creating
containers for a preflight, reads. A service without a port is not given an outage of its own:
what it loses while its container starts is time, not answers, and sharing keeps the phase
short. The cost of the order: while an API's unit is slow to stop (up to its stop timeout),
shared work waits, which lengthens the phase, not any window.

`DeferringEngine` is the engine as the candidates see it: each call that changes the engine's
state (create, start, stop, remove) is shared work; reads pass straight through.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Mapping, NamedTuple, Sequence

if TYPE_CHECKING:
    from revops.adapters.docker_engine import ContainerCopy, ContainerState, ContainerSummary
    from revops.migrate.engine import Engine


class OutagesFirst:
    """Outages one at a time and ahead of shared work; safe for the executor's threads.

    Waits have no deadline of their own: each waits only for work in progress, and every
    piece of it is bounded (an engine call by the SDK's timeout; a stop by the unit's stop
    timeout and the port's release; a start by one start call or compose process). Not
    re-entrant: a thread inside either kind of work must not ask for more (an outage announced
    meanwhile would wait for it, and it for the outage)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._announced = 0  # outages asked for and not ended: waiting, or the one in progress
        self._in_outage = False
        self._shared = 0  # shared work in progress
        self._shared_waiting = 0  # shared work held back by an outage

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Around an API's unit stop and its replacement's start call: no shared work begins
        meanwhile; the body begins once the shared work in progress has returned and no other
        outage is in progress."""
        with self._cv:
            self._announced += 1
            try:
                self._cv.wait_for(lambda: not self._in_outage and self._shared == 0)
            except BaseException:
                self._announced -= 1
                self._cv.notify_all()
                raise
            self._in_outage = True
        try:
            yield
        finally:
            with self._cv:
                self._in_outage = False
                self._announced -= 1
                self._cv.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Around one piece of shared work: it begins when no outage is announced."""
        with self._cv:
            self._shared_waiting += 1
            try:
                self._cv.wait_for(lambda: self._announced == 0)
            finally:
                self._shared_waiting -= 1
            self._shared += 1
        try:
            yield
        finally:
            with self._cv:
                self._shared -= 1
                self._cv.notify_all()

    @property
    def busy(self) -> Busy:
        """What is announced, in progress and held back now: for tests."""
        with self._cv:
            return Busy(self._announced, self._in_outage, self._shared, self._shared_waiting)


class Busy(NamedTuple):
    outages: int  # announced: waiting for their turn, or the one in progress
    in_outage: bool
    shared: int  # in progress
    shared_waiting: int  # held back by an outage


class DeferringEngine:
    """engine.Engine for candidate work: create_copy, start, stop and remove go through
    `order.shared()`; every other call is the engine's own."""

    def __init__(self, engine: Engine, order: OutagesFirst) -> None:
        self._engine = engine
        self._order = order

    # -- calls that change the engine's state: shared work, behind any outage announced
    def create_copy(self, copy: ContainerCopy, name: str, *, labels: Mapping[str, str],
                    command: Sequence[str] | None = None, publish_loopback: Sequence[int] = (),
                    network: bool = True, read_only_mounts: bool = False, healthcheck: bool = True) -> str:
        with self._order.shared():
            return self._engine.create_copy(copy, name, labels=labels, command=command,
                                            publish_loopback=publish_loopback, network=network,
                                            read_only_mounts=read_only_mounts, healthcheck=healthcheck)

    def start(self, container: str) -> None:
        with self._order.shared():
            self._engine.start(container)

    def stop(self, container: str, timeout: int = 10) -> None:
        with self._order.shared():
            self._engine.stop(container, timeout)

    def remove(self, container: str, *, force: bool = True, missing_ok: bool = True, volumes: bool = True) -> None:
        with self._order.shared():
            self._engine.remove(container, force=force, missing_ok=missing_ok, volumes=volumes)

    # -- reads
    def image_exists(self, tag: str) -> bool:
        return self._engine.image_exists(tag)

    def container_state(self, container: str) -> ContainerState | None:
        return self._engine.container_state(container)

    def list_containers(self, labels: Sequence[str] = (), *, all: bool = True) -> list[ContainerSummary]:
        return self._engine.list_containers(labels, all=all)

    def logs_tail(self, container: str, lines: int = 50) -> list[str]:
        return self._engine.logs_tail(container, lines)

    def copy_of(self, container: str) -> ContainerCopy | None:
        return self._engine.copy_of(container)

    def published_port(self, container: str, port: int) -> int | None:
        return self._engine.published_port(container, port)

    def wait_exit(self, container: str, timeout: float) -> int:
        return self._engine.wait_exit(container, timeout)

    def output(self, container: str) -> tuple[str, str]:
        return self._engine.output(container)
