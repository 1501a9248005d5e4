"""Helpers shared by the migrate tests (a module, so tests can import it by name)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

from revops import dropins, jobs, repoint
from revops.adapters.systemd import DropinFiles, ExecCommand, UnitState
from revops.cleanup import quarantine as Q
from revops.errors import CheckFailed
from revops.migrate import retire
from revops.migrate.executor import Verdict


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry of the host part of the tree: type, mode, content digest or link target,
    and mtime for files and symlinks."""
    out = {}
    for top in ("etc", "opt", "srv", "usr"):
        for dirpath, dirnames, filenames in os.walk(root / top):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    out[str(path)] = ("link", os.readlink(path), st.st_mtime_ns)
                elif stat.S_ISDIR(st.st_mode):
                    out[str(path)] = ("dir", stat.S_IMODE(st.st_mode))
                else:
                    out[str(path)] = ("file", stat.S_IMODE(st.st_mode), Q.sha256(path), st.st_mtime_ns)
    return out


class JobManager:
    """The manager as a job's repoint sees it (revops.repoint.UnitControl): ExecStart= is the
    last ExecStart= line of revops' drop-in when there is one (as if reloaded), else the
    unit's own `before`; `active` maps a unit to (ActiveState, SubState); `reads_back`, when
    set, is what it reads instead (another drop-in setting ExecStart= again)."""

    def __init__(self, files: DropinFiles, before: dict[str, list[str]] | None = None) -> None:
        self.files = files
        self.before = before or {}
        self.active: dict[str, tuple[str, str]] = {}
        self.calls: list[str] = []
        self.reads_back: list[str] | None = None

    def reload(self) -> None:
        self.calls.append("reload")

    def states(self, names):
        return {n: UnitState(n, "loaded", *self.active.get(n, ("inactive", "dead")), None, 0, None, "static", None)
                for n in names}

    def restart(self, name, timeout=30.0, mode="replace"):
        self.calls.append(f"restart {name}")
        return "active"

    def reset_failed(self, name):
        self.calls.append(f"reset-failed {name}")

    def exec_start(self, name):
        argv = list(self.before.get(name, ["/usr/bin/true"]))
        text = self.files.read(name, dropins.filename(jobs.PURPOSE))
        if text:
            import shlex
            argv = shlex.split([ln for ln in text.splitlines() if ln.startswith("ExecStart=")][-1][len("ExecStart="):])
        argv = self.reads_back or argv
        return [ExecCommand(argv[0], argv, False, 0, 0, 0)]


class UnitFilesManager:
    """systemd's unit files and jobs as retiring sees them (revops.migrate.retire.UnitControl):
    `units` maps a name to [LoadState, UnitFileState, ActiveState, Result]. Disabling a linked
    unit unlinks it (the manager forgets it, as systemd does once it is stopped); masking
    remembers the state unmasking gives back (a linked unit's mask, once removed, leaves it
    unknown, as on the real manager). `admin_files`: units whose unit file is a regular file in
    the manager's admin directory, where MaskUnitFiles refuses as systemd does ("File ...
    already exists"); mask_blocked() is the host's check of them. `fail` maps (method, unit)
    to the error it raises; `calls` records every call in order."""

    def __init__(self, units: dict[str, list] | None = None) -> None:
        self.units = {n: list(v) for n, v in (units or {}).items()}
        self.fail: dict[tuple[str, str], Exception] = {}
        self.calls: list[str] = []
        self._unmasked: dict[str, tuple[str, str | None]] = {}
        self.admin_files: set[str] = set()
        self._lock = threading.Lock()

    def mask_blocked(self, name):
        return f"its unit file /etc/systemd/system/{name} is in the manager's admin directory" \
            if name in self.admin_files else None

    def _call(self, method: str, name: str) -> None:
        with self._lock:
            self.calls.append(f"{method} {name}")
        if (method, name) in self.fail:
            raise self.fail[(method, name)]

    def states(self, names):
        out = {}
        for n in names:
            load, ufs, active, result = self.units.get(n, ["not-found", None, "inactive", None])
            out[n] = UnitState(n, load, active, "running" if active == "active" else "dead", result, 0, None, ufs, None)
        return out

    def stop(self, name, timeout=30.0, mode="replace"):
        self._call("stop", name)
        self.units[name][2] = "inactive"
        return "inactive"

    def start(self, name, timeout=30.0, mode="replace"):
        self._call("start", name)
        if self.units.get(name, ["not-found"])[0] != "loaded":
            raise CheckFailed(f"{name}: Unit {name} not found / masked")
        self.units[name][2] = "active"
        return "active"

    def disable(self, names):
        for n in names:
            self._call("disable", n)
            u = self.units[n]
            if u[1] in ("linked", "linked-runtime"):
                u[0], u[1] = "not-found", None
            elif u[1] in ("enabled", "enabled-runtime"):
                u[1] = "disabled"

    def enable(self, names):
        for n in names:
            self._call("enable", n)
            self.units[n][1] = "enabled"

    def mask(self, names):
        for n in names:
            self._call("mask", n)
            if n in self.admin_files:
                raise CheckFailed(f"mask {n}: File /etc/systemd/system/{n} already exists. "
                                  "(org.freedesktop.systemd1.UnitExists)")
            self._unmasked[n] = (self.units[n][0], self.units[n][1])
            self.units[n][0], self.units[n][1] = "masked", "masked"

    def unmask(self, names):
        for n in names:
            self._call("unmask", n)
            self.units[n][0], self.units[n][1] = self._unmasked.pop(n, ("loaded", "disabled"))

    def link(self, paths):
        for p in paths:
            name = Path(p).name
            self._call("link", name)
            self.units[name] = ["loaded", "linked", "inactive", None]

    def reset_failed(self, name):
        self._call("reset-failed", name)


class ScriptedHost:
    """Records every call; `fail` maps a method name to the error it raises, `healthy` decides
    the health verdicts."""

    target = "compose"

    def __init__(self, ledger=None, fail=None, healthy=True, unit_healthy=True, unloadable=None,
                 candidate_ok=True, delay=0.0, dropin_dir=None):
        self.calls: list[tuple[str, str]] = []
        self.ledger = ledger
        self.fail = fail or {}
        self.healthy = healthy
        self.unit_healthy = unit_healthy
        self.unloadable = unloadable  # why systemd could not start the unit again, or None
        # True, False, or a set of the units whose candidate passes
        self.candidate_ok = candidate_ok
        self.delay = delay  # seconds each step takes (services in flight overlap)
        self.open_while_acting: list[str] = []
        self._lock = threading.Lock()  # the executor calls from several threads
        # A job's repoint: real drop-in files in a directory of their own, the manager faked.
        self.dropins = DropinFiles(Path(dropin_dir or tempfile.mkdtemp(prefix="revops-dropins-")))
        self.manager = JobManager(self.dropins)
        self.unit_files = UnitFilesManager()  # what retiring an old-world unit acts on
        self.expected: list[str] = []  # what the executor told expect(), then release()
        self.released: list[str] = []

    def _do(self, name, sp):
        with self._lock:
            self.calls.append((name, sp.unit))
            if self.ledger is not None:  # the journal must know about the step before it runs
                self.open_while_acting += [s.step for s in self.ledger.open_steps(sp.unit)]
        if self.delay:
            time.sleep(self.delay)
        if name in self.fail and (not isinstance(self.fail[name], dict) or sp.unit in self.fail[name]):
            raise self.fail[name][sp.unit] if isinstance(self.fail[name], dict) else self.fail[name]
        return f"{name} ok"

    def calls_of(self, unit):
        return [c for c, u in self.calls if u == unit]

    def _candidate_passes(self, sp):
        return self.candidate_ok if isinstance(self.candidate_ok, bool) else sp.unit in self.candidate_ok

    def expect(self, services): self.expected = [sp.unit for sp in services]

    def release(self, services):
        self.released = [sp.unit for sp in services]
        return []

    def preflight(self, sp): return self._do("preflight", sp)

    def verify_candidate(self, sp, deadline_s, cancelled):
        self._do("verify_candidate", sp)
        return Verdict(True, "candidate answered 200") if self._candidate_passes(sp) else \
            Verdict(False, "candidate exited (exit 1); ModuleNotFoundError: No module named 'fastapi'")

    def check_imports(self, sp):
        self._do("check_imports", sp)
        return Verdict(True, "imported") if self._candidate_passes(sp) else \
            Verdict(False, "worker.py imports httpx: no such module in the image")

    def discard_candidates(self, sp): return self._do("discard_candidates", sp)
    def outage(self, sp): return contextlib.nullcontext()
    def stop_unit(self, sp): return self._do("stop_unit", sp)
    def start_replacement(self, sp): return self._do("start_replacement", sp)
    def retire_unit(self, sp, mask): return self._do("retire_unit" + ("+mask" if mask else ""), sp)
    def unit_unloadable(self, sp):
        self._do("unit_unloadable", sp)
        return self.unloadable

    def remove_replacement(self, sp): return self._do("remove_replacement", sp)
    def write_secret(self, sp): return self._do("write_secret", sp)
    def remove_secret(self, sp): return self._do("remove_secret", sp)
    def start_unit(self, sp): return self._do("start_unit", sp)

    def wait_replacement_healthy(self, sp, deadline_s, cancelled):
        self._do("wait_replacement_healthy", sp)
        return Verdict(True) if self.healthy else Verdict(False, "HTTP 503 body 'db down'; log: boom")

    def wait_unit_healthy(self, sp, deadline_s):
        self._do("wait_unit_healthy", sp)
        return Verdict(True, "HTTP 200") if self.unit_healthy else Verdict(False, "connection refused")

    def job_running(self, sp):
        self._do("job_running", sp)
        state = self.manager.states([sp.unit])[sp.unit]
        return jobs.between_runs(state.active_state, state.sub_state)

    def job_pair(self, journal):
        with self._lock:
            self.calls.append(("job_pair", ""))
        return repoint.Pair(self.manager, self.dropins, journal, journal.ledger)

    def retirer(self, journal):
        with self._lock:
            self.calls.append(("retirer", ""))
        return retire.Retirer(self.unit_files, journal, timeout_s=5.0, mask_blocked=self.unit_files.mask_blocked)

    def replacement_verdict(self, sp):
        self._do("replacement_verdict", sp)
        return Verdict(True) if self.healthy else Verdict(False, "container exited (137)")
