"""One call standing in for many: `Coalesced(run)` lets threads that each need `run` done after
their own change share runs, so N threads asking at once cost two runs, not N.

Made for the service manager's Reload (systemctl(1), daemon-reload: "reload all unit files,
and recreate the entire dependency tree"). It costs the user manager about 0.26 CPU-seconds
on the example host's 220 unit files, and migrate's waves asked for one per disable and per
mask: about 96 per phase-2 suite, one after another inside the manager.
"""

from __future__ import annotations

import copy
import threading
from typing import Callable


class Coalesced:
    """`call()` returns once a run of `run` that began after the call began has ended, and
    raises what that run raised. Calls that arrive while a run is going wait and share the
    next run, which starts when the current one ends; runs never overlap.

    Why a run already going cannot serve a later call: it may have read the state before the
    caller's change (a Reload that began before a MaskUnitFiles would not see the mask)."""

    def __init__(self, run: Callable[[], None]) -> None:
        self._run = run
        self._cond = threading.Condition()
        self._started = 0  # runs begun, numbered from 1
        self._finished = 0  # the last run that ended (runs are one after another)
        self._running = False
        self._raised: dict[int, BaseException] = {}  # run number -> what it raised
        self._waiting = 0

    @property
    def runs(self) -> int:
        """How many runs have begun."""
        with self._cond:
            return self._started

    @property
    def waiting(self) -> int:
        """How many calls are waiting for a run to end."""
        with self._cond:
            return self._waiting

    def __call__(self) -> None:
        with self._cond:
            wanted = self._started + 1  # the first run that begins after this call
            self._waiting += 1
            while self._finished < wanted and self._running:
                self._cond.wait()
            self._waiting -= 1
            if self._finished >= wanted:  # another caller ran it
                raised = self._raised.get(wanted)
                if raised is not None:
                    raise copy.copy(raised)  # each thread gets its own traceback
                return
            self._started += 1
            mine, self._running = self._started, True
        raised: BaseException | None = None
        try:
            self._run()
        except BaseException as exc:
            raised = exc
            raise
        finally:
            with self._cond:
                self._running, self._finished = False, mine
                if raised is not None:
                    self._raised[mine] = raised
                self._cond.notify_all()
