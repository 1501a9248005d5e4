"""Poll intervals for the waits inside a cutover (a unit stopping, a port freed, a job gone)."""

from __future__ import annotations

from typing import Iterator


def backoff_delays(start: float = 0.005, factor: float = 1.5, cap: float = 0.025) -> Iterator[float]:
    """Seconds to sleep between polls: start, start*factor, ... capped at `cap`; never ends.

    A low cap on purpose: these waits sit inside a cutover's downtime, where a poll that
    sleeps 200 ms past the unit's exit is 200 ms of no answer; one D-Bus Get or bind test
    costs about 0.1 ms.
    """
    delay = start
    while True:
        yield delay
        delay = min(delay * factor, cap)
