"""One call standing in for many: `Coalesced(run)` lets threads that each need `run` done after
their own change share runs, so N threads asking at once cost two runs, not N.

Made for the service manager's Reload (systemctl(1), daemon-reload: "reload all unit files,
and recreate the entire dependency tree"). It costs the user manager about 0.26 CPU-seconds
on the example host's 220 unit files, and migrate's waves asked for one per unit-file change
(each cutover's disable, and mask with mask_on_migrate; each job's repoint), one after another
inside the manager: about 50 for the 48 services of phase 2's lead-gen suite.
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
        # run number -> what it raised, kept only until the calls that shared it have it
        self._raised: dict[int, BaseException] = {}
        self._sharing: dict[int, int] = {}  # run number -> calls waiting for it

    @property
    def runs(self) -> int:
        """How many runs have begun."""
        with self._cond:
            return self._started

    @property
    def waiting(self) -> int:
        """How many calls are waiting for a run to end."""
        with self._cond:
            return sum(self._sharing.values())

    def __call__(self) -> None:
        with self._cond:
            wanted = self._started + 1  # the first run that begins after this call
            self._sharing[wanted] = self._sharing.get(wanted, 0) + 1
            try:
                while self._finished < wanted and self._running:
                    self._cond.wait()
            finally:  # also when interrupted while waiting (Ctrl-C in the main thread)
                shared = self._leave(wanted)
            if self._finished >= wanted:  # another caller ran it
                if shared is not None:
                    raise _own(shared)
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
                if raised is not None and self._sharing.get(mine):
                    self._raised[mine] = raised
                self._cond.notify_all()

    def _leave(self, wanted: int) -> BaseException | None:
        """One call stops waiting for run `wanted` (lock held): what that run raised, if it has
        ended; the last call to leave lets go of it."""
        left = self._sharing[wanted] - 1
        if left:
            self._sharing[wanted] = left
            return self._raised.get(wanted)
        del self._sharing[wanted]
        return self._raised.pop(wanted, None)


def _own(exc: BaseException) -> BaseException:
    """A copy of exc for one more thread to raise (its own traceback); exc itself when copy
    cannot rebuild it from its args (ConfigError's __init__ takes other arguments)."""
    try:
        return copy.copy(exc)
    except Exception:  # noqa: BLE001 - any failure to copy: the error itself is still the answer
        return exc
