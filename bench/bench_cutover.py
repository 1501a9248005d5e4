"""How long does a service answer no /health during its cutover, against its container's own
start time? And how long does a phase take, and how does that grow with its size?

For every API service of the phase, a prober GETs http://127.0.0.1:PORT/health every 20 ms
(50 ms with --compare) from the service's first step to its end, and every second before and
after (--steady-probes: at the fine period throughout), while the phase migrates
(revops.commands.migrate.run, in this process; the probers in a process of their own,
bench/probe_process.py). Per service:

- window: the stretch with no 2xx answer that holds the container's start (the unit's last
  answer to the container's first); a longer one elsewhere in the run is shown apart;
- start: the container's own start time, from Docker's State.StartedAt to its first 2xx;
- overhead = window - start (goal: at most 0.3 s): the unit's stop, the engine's start call
  (network, port proxy, runc: up to StartedAt) and revops' own time between steps;
- and that overhead less the engine's start call (the journal's start-container step): the
  unit's stop and revops' own time.

And where the CPU went: the machine's busy share of the run, and CPU seconds per service of
revops' process, its compose processes, the probers, the engine, the containers and the rest.

Then the phase's wall time, the time per service, and each service's preflight (from the
journal's timestamps: the first one also checks the ops repo, once per run). Afterwards the phase is rolled back
(revops.commands.rollback), so the bench can run again, unless --keep.

Two hosts:

    python bench/bench_cutover.py /tmp/rf            # a live example host, ready to migrate
                                                     # (inventory, lock, generate, build done)
    python bench/bench_cutover.py --mini 2 4 8       # throwaway hosts of N stdlib services
                                                     # (tests/migrate/ministack.py), for growth

And the two comparisons of the pre-verified cutover in waves (issue #16), on a live example
host at the production health settings of its revops.yaml (30 s interval, 10 s timeout and
start period: `--prepare` writes them, then builds the phase's images once; later runs reuse
the host and its images):

    python bench/bench_cutover.py /tmp/rf --prepare --phase 2   # once: host, locks, images
    python bench/bench_cutover.py /tmp/rf --phase 2 --compare   # --parallel 1 vs the default
    python bench/bench_cutover.py /tmp/rf --phase 2 --compare --suites digital-landlord tech-efficiency
        # the same on some suites of the phase (serially about 20 s per service: 30 s for one without a port)
    python bench/bench_cutover.py /tmp/rf --phase 2 --compare --suites lead-gen --parallel 8 16
        # serial against each --parallel given, in one run
    python bench/bench_cutover.py /tmp/rf --phase 2 --broken revcite
        # the downtime a broken image costs: stop first (preverify: off) vs pre-verified

--compare runs the phase twice in one run (rolled back in between), serial then at the
default --parallel, and prints the wall-time ratio and each run's no-answer windows (median,
max) against the containers' own start. --broken breaks the service's image (http.server
and fastapi removed, what the example's apps import; tagged in its place), migrates that service the old way and the
pre-verified way with a prober on its /health, prints each one's seconds without an answer,
and puts the image back.

Needs the test bed (scripts/testbed start). Prints figures; never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "migrate"))

from revops import config as config_mod  # noqa: E402
from revops.adapters import docker_engine  # noqa: E402
from revops.commands import migrate, rollback  # noqa: E402
from revops.commands.migrate import outcome_words  # noqa: E402
from revops.migrate import wiring  # noqa: E402
from revops.migrate.executor import NoProgress  # noqa: E402

PERIOD_S = 0.020
# How often an API is probed outside its own cutover: an answer missing there is still seen,
# at this grain. Ten URLs at 20 ms through the whole of lead-gen's waves (--parallel 12) kept
# the machine 235 CPU-seconds busy against 119 when each was probed so only in its cutover
# (2026-11-30, one run each; per service the engine 1.54 against 0.93 s, the user manager 1.03
# against 0.42, the containers 1.15 against 0.38, the probers 0.41 against 0.05): a CPU-bound
# run in waves was slowed by its own measurement, the serial one hardly. --steady-probes
# measures the old way.
SLOW_PERIOD_S = 1.0
# What the example services' apps import and nothing else in their images needs: the
# stdlib-only lightapp.py (phases 2 and later) imports http.server, phase 1's app.py fastapi.
# Docker's health check uses urllib.request (http.client). Removed, paths as in the image.
BROKEN = {"http.server": "/usr/lib/python3*/http/server.py",
          "fastapi": "/opt/venv/lib/python3*/site-packages/fastapi"}
TESTBED_ENV = Path(os.environ.get("REVOPS_TESTBED_DIR", "/var/lib/revops-testbed")) / "env.json"


class Prober(threading.Thread):
    """GET url every `period` s, each given `timeout` s; remembers (wall time, answered 2xx)
    of every attempt, and how each failed one failed (status code or error) in `failures`."""

    def __init__(self, url: str, period: float = PERIOD_S, timeout: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.period = period
        self.timeout = timeout
        self.samples: list[tuple[float, bool]] = []
        self.failures: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(trust_env=False, timeout=self.timeout) as client:
            while not self.stop.is_set():
                started = time.time()
                try:
                    answer = client.get(self.url)
                    ok, why = answer.is_success, f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:
                    ok, why = False, type(exc).__name__
                self.samples.append((started, ok))
                if not ok:
                    self.failures[why] = self.failures.get(why, 0) + 1
                self.stop.wait(max(0.0, self.period - (time.time() - started)))


def longest_gap(samples: list[tuple[float, bool]]) -> tuple[float, float, float] | None:
    """(seconds, last 2xx before, first 2xx after) of the longest stretch without a 2xx."""
    best, last_ok, in_gap = None, None, False
    for t, ok in samples:
        if ok:
            if in_gap and last_ok is not None and (best is None or t - last_ok > best[0]):
                best = (t - last_ok, last_ok, t)
            last_ok, in_gap = t, False
        else:
            in_gap = True
    return best


def gap_around(samples: list[tuple[float, bool]], at: float) -> tuple[float, float, float] | None:
    """(seconds, last 2xx before, first 2xx after) of the stretch without a 2xx that holds `at`
    (the container's start: the cutover's window, not some later slow answer); None when no
    failed sample lies between the 2xx answers on either side of `at`, or one side has none."""
    before = [t for t, ok in samples if ok and t <= at]
    after = [t for t, ok in samples if ok and t > at]
    if not before or not after:
        return None
    last_ok, first_ok = before[-1], after[0]
    if not any(not ok and last_ok < t < first_ok for t, ok in samples):
        return None
    return first_ok - last_ok, last_ok, first_ok


def started_at(container_id: str) -> float | None:
    raw = docker_engine.connect().container_state(container_id).started_at
    if not raw:
        return None
    head, _, frac = raw.rstrip("Z").partition(".")  # Docker gives nanoseconds
    stamp = dt.datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}").replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


ENGINE_PROCESSES = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy"}
MANAGER_PROCESSES = {"systemd", "dbus-daemon"}  # the bed's user manager and its session bus
CONTAINERS_CPUACCT = Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage")  # cgroup v1, cgroupfs driver
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


class ProbeProcess:
    """bench/probe_process.py for `urls`, started now: GET each every `slow` s, and every
    `period` s while `fast(url)` holds (until `slow(url)`), from a process of its own, so the
    probes neither cost migrate's process CPU nor hold its GIL."""

    def __init__(self, urls: list[str], period: float, timeout: float = 0.25, slow: float | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "probe_process.py"), str(period),
                                      str(slow if slow is not None else period), str(timeout), *urls],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._lock = threading.Lock()  # migrate's threads switch rates at once
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("bench/probe_process.py did not start")

    def fast(self, url: str) -> None:
        self._tell(f"fast {url}")

    def slow(self, url: str) -> None:
        self._tell(f"slow {url}")

    def _tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def finish(self) -> tuple[dict[str, list[tuple[float, bool]]], float]:
        """({url: [(wall time, answered 2xx)]}, the probers' CPU seconds)."""
        out, _ = self.proc.communicate("", timeout=60)
        found = json.loads(out)
        return {u: [(t, ok) for t, ok in v["samples"]] for u, v in found["probes"].items()}, found["cpu_s"]


class CpuMeter:
    """CPU seconds spent during a run, by whom: the whole machine (/proc/stat), this process
    (revops itself), its reaped children (compose processes), the engine's
    processes (dockerd, containerd, shims, proxies: their own time and their reaped children's;
    a shim that exited unreaped is lost, and lands in `other`), the user manager and its bus
    (`manager`: unit stops, unit-file changes and their reloads), and the containers (the
    cpuacct cgroup `docker`, which keeps the time of removed containers). `other` is the rest:
    the units' own processes, the bed's other engines, the kernel."""

    def __init__(self) -> None:
        self.began = self._now()

    @staticmethod
    def _machine() -> tuple[float, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields[:8]) - idle) * TICK_S, sum(fields[:8]) * TICK_S

    @staticmethod
    def _processes(names: set[str]) -> float:
        """CPU seconds of the processes called `names` (comm), with their reaped children's."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                raw = stat.read_text()
            except OSError:
                continue
            if raw[raw.index("(") + 1:raw.rindex(")")] in names:
                fields = raw[raw.rindex(")") + 2:].split()
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return total * TICK_S

    @staticmethod
    def _containers() -> float | None:
        try:
            return int(CONTAINERS_CPUACCT.read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def _now(self) -> dict:
        times = os.times()
        busy, _all = self._machine()
        return {"busy": busy, "revops": times.user + times.system,
                "children": times.children_user + times.children_system,
                "engine": self._processes(ENGINE_PROCESSES), "manager": self._processes(MANAGER_PROCESSES),
                "containers": self._containers(), "at": time.monotonic()}

    def spent(self) -> dict[str, float]:
        """{who: CPU seconds since the meter began}, with `wall` and `cores`."""
        end = self._now()
        out = {k: end[k] - self.began[k] for k in ("busy", "revops", "children", "engine", "manager")}
        if end["containers"] is not None and self.began["containers"] is not None:
            out["containers"] = end["containers"] - self.began["containers"]
        out["other"] = out["busy"] - sum(v for k, v in out.items() if k != "busy")
        out["wall"] = end["at"] - self.began["at"]
        out["cores"] = os.cpu_count() or 1
        return out


class ProbeRates(NoProgress):
    """Migrate's progress, turned into probing rates: a service's URL fast from its first step
    to its end (its window lies between), slow before and after."""

    def __init__(self, probers: ProbeProcess, urls: dict[str, str]) -> None:
        self.probers, self.urls = probers, urls
        self.fast: set[str] = set()

    def step(self, unit: str, step: str) -> None:
        url = self.urls.get(unit)
        if url is not None and unit not in self.fast:
            self.fast.add(unit)
            self.probers.fast(url)

    def finished(self, result) -> None:
        url = self.urls.get(result.unit)
        if url is not None:
            self.probers.slow(url)


def cpu_words(cpu: dict[str, float], services: int) -> str:
    """One line: the machine's busy share of the run, and each part's CPU seconds per service."""
    share = cpu["busy"] / (cpu["wall"] * cpu["cores"])
    parts = ", ".join(f"{k} {cpu[k] / services:.2f}" for k in ("revops", "children", "probers", "engine", "manager", "containers", "other")
                      if k in cpu)
    return (f"CPU: {cpu['busy']:.0f} s busy of {cpu['wall'] * cpu['cores']:.0f} s ({share:.0%} of "
            f"{cpu['cores']} cores); per service (s): {parts}")


def measure(config: config_mod.Config, phase: int, host_factory, keep: bool, *,
            parallel: int | None = None, force: str | None = None, period: float = PERIOD_S,
            only: list[str] | None = None, steady: bool = False) -> dict:
    """One migrate of the phase (`only` those units of it; at `parallel`, default: migrate's
    own), each API probed every `period` s during its own cutover and every SLOW_PERIOD_S
    before and after (with `steady`: every `period` s throughout)."""
    dry = migrate.run(config, phase, only, dry_run=True, force=force, host_factory=host_factory)
    services = [s for s in dry.plan.services if s.health_url]
    if not services:
        raise SystemExit("no API service left to migrate in this phase (roll it back first)")
    probers = ProbeProcess([s.health_url for s in services], period, slow=period if steady else SLOW_PERIOD_S)
    rates = ProbeRates(probers, {s.unit: s.health_url for s in services if s.health_url})
    time.sleep(0.5)  # a baseline of answers from the units
    began = time.perf_counter()
    meter = CpuMeter()
    result = migrate.run(config, phase, only, yes=True, force=force, parallel=parallel, host_factory=host_factory,
                         say=lambda _m: None, progress=rates)
    wall = time.perf_counter() - began
    cpu = meter.spent()
    time.sleep(0.5)
    samples, probe_cpu = probers.finish()
    cpu["probers"] = probe_cpu
    cpu["other"] -= probe_cpu  # a child not reaped yet when the meter read: counted in `other`
    if result.exit_code == 130:
        raise SystemExit("interrupted: the phase is left as migrate left it (roll it back with revops rollback)")
    host = host_factory(wiring.read_inputs(config))
    steps = step_seconds(config, result.run_id)
    rows = []
    for s in services:
        done = next((r for r in result.services if r.unit == s.unit), None)
        outcome = done.outcome if done is not None else "?"
        state = host._state(s)  # the project's own container, found through compose
        start = started_at(state.id) if state is not None else None
        gap = gap_around(samples[s.health_url], start) if start is not None else None
        longest = longest_gap(samples[s.health_url])
        if gap is None or start is None or outcome != "migrated":
            rows.append({"unit": s.unit, "outcome": outcome, "window": None, "start": None, "overhead": None,
                         "revops": None, "reason": done.reason if done is not None else None})
            continue
        window, _last, first_ok = gap
        taken = steps.get(s.unit, {})
        engine = taken.get("start-container")
        rows.append({"unit": s.unit, "outcome": outcome, "window": window, "start": first_ok - start,
                     "overhead": window - (first_ok - start), "steps": taken,
                     # a longer stretch without 2xx away from the cutover: a slow answer under load
                     "elsewhere": longest if longest is not None and longest[2] != first_ok else None,
                     # the engine's start call (network, proxy, runc: to StartedAt) is the container's too
                     "revops": window - (first_ok - start) - engine if engine is not None else None})
    if not keep:
        # Only what this run planned: a suite's timer-fired units have no container to take back.
        planned = [s.unit for s in dry.plan.services] if only else []
        rollback.run(config, planned, None if only else phase, yes=True, host_factory=host_factory,
                     say=lambda _m: None)
    preflight = [s["preflight"] for s in steps.values() if "preflight" in s]  # every service, in run order
    return {"services": len(dry.plan.services), "wall": wall, "rows": rows, "exit": result.exit_code,
            "preflight": preflight, "cpu": cpu, "parallel": result.plan.parallel if result.plan else parallel,
            "outcomes": outcome_words(result.services)}


def step_seconds(config: config_mod.Config, run_id: int | None) -> dict[str, dict[str, float]]:
    """{unit: {step: seconds}} from the journal's own timestamps."""
    from revops.adapters.ledger import open_ledger

    ledger = open_ledger(config.database_url)
    try:
        out: dict[str, dict[str, float]] = {}
        for step in ledger.steps(run_id) if run_id is not None else []:
            if step.finished_at:
                took = (dt.datetime.fromisoformat(step.finished_at) - dt.datetime.fromisoformat(step.started_at))
                out.setdefault(step.service, {})[step.step] = took.total_seconds()
        return out
    finally:
        ledger.close()


def report(title: str, figures: dict) -> None:
    n = figures["services"]
    print(f"\n{title}: {n} service(s), --parallel {figures.get('parallel')}, exit {figures['exit']} "
          f"({figures.get('outcomes', '')}), wall {figures['wall']:.2f} s, {figures['wall'] / n:.2f} s per service")
    print(f"{'service':<34}{'outcome':<13}{'window s':>10}{'start s':>10}{'overhead s':>12}")
    for r in figures["rows"]:
        cells = [f"{r[k]:>10.3f}" if r[k] is not None else f"{'n/a':>10}" for k in ("window", "start")]
        over = f"{r['overhead']:>12.3f}" if r["overhead"] is not None else f"{'n/a':>12}"
        steps = ", ".join(f"{k} {v:.2f}" for k, v in r.get("steps", {}).items())
        why = f"   why: {r['reason']}" if r.get("reason") else ""  # a run that failed says so
        if r.get("elsewhere"):
            why += f"   longest stretch without 2xx, away from the cutover: {r['elsewhere'][0]:.3f} s"
        print(f"{r['unit']:<34}{r['outcome']:<13}{cells[0]}{cells[1]}{over}   steps (s): {steps}{why}")
    preflight = figures.get("preflight") or []
    if len(preflight) > 1:
        print(f"preflight per service: mean {statistics.mean(preflight):.2f} s, median "
              f"{statistics.median(preflight):.2f} s; the first {preflight[0]:.2f} s (the ops repo's "
              f"checks, once per run), the rest {statistics.mean(preflight[1:]):.2f} s on average")
    if "cpu" in figures:
        print(cpu_words(figures["cpu"], n))
    summary(figures)


def summary(figures: dict) -> None:
    """The no-answer windows, the containers' own starts and the difference: median, max."""
    for key, words in (("window", "no-answer window"), ("start", "container's own start"),
                       ("overhead", "window - start"), ("revops", "window - start - engine's start call")):
        values = [r[key] for r in figures["rows"] if r.get(key) is not None]
        if values:
            print(f"{words:<22}: median {statistics.median(values):.3f} s, max {max(values):.3f} s "
                  f"({len(values)} services)" + (" (goal <= 0.3 s)" if key in ("overhead", "revops") else ""))


def mini(sizes: list[int], keep: bool) -> None:
    import ministack

    per_service = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-cutover-") as tmp:
            stack = ministack.build(Path(tmp), os.environ["REVOPS_BASE_IMAGE"], size)
            try:
                figures = measure(stack.config, 1, stack.host, keep=False)
            finally:
                ministack.tear_down(stack)
        report(f"mini stack of {size}", figures)
        per_service.append((size, figures["wall"]))
    if len(per_service) > 1:
        (n0, t0), (n1, t1) = per_service[0], per_service[-1]
        print(f"\ngrowth: {n1 / n0:.1f}x the services took {t1 / t0:.2f}x the time")


# -- issue #16: serial vs waves, a broken image -------------------------------------------

def revops(directory: Path, *args: str) -> None:
    """A revops verb in the host's directory, as an operator runs it."""
    subprocess.run([sys.executable, "-m", "revops", *args], cwd=directory, check=True)


def prepare(directory: Path, phase: int) -> None:
    """A live example host at the production health settings, its phase's images built.
    Skips what is there already (the host, the images: `revops build` reuses its cache). A
    host torn down keeps its directory but none of its units in the manager: it is brought up
    again (a bench run on it would find every unit unknown to systemd). One with some units
    linked is left as it is (a phase kept migrated: its units must not start beside their
    containers)."""
    from revops.example_host import live

    if not (directory / "revops.yaml").is_file() or not live.is_live(directory):
        revops(REPO, "example-host", str(directory), "--live")
    path = directory / "revops.yaml"
    text = path.read_text()
    for key, production in (("interval", "30s"), ("timeout", "10s"), ("start_period", "10s")):
        text = re.sub(rf"(?m)^  {key}: .*$", f"  {key}: {production}", text, count=1)
    path.write_text(text)
    wheelhouse = os.environ["REVOPS_WHEELHOUSE"]
    revops(directory, "inventory", "scan", "--live")
    revops(directory, "lock", "--offline", "--find-links", wheelhouse)
    revops(directory, "generate")
    config = config_mod.load(path)
    for suite in config.suites:
        if suite.phase == phase:
            revops(directory, "build", "--suite", suite.name, "--find-links", wheelhouse)


SERVICE_UID = 10001  # generate's `user:` for every service


FORCE = "bench: the phase alone"  # the phases before it are not migrated on a bench host


def units_of(config: config_mod.Config, suites: list[str] | None) -> list[str] | None:
    """The units of those suites (None: every unit of the phase)."""
    if not suites:
        return None
    inventory = wiring.read_inputs(config).inventory
    return [u.name for u in inventory.units if (s := config.suite_of(u.name)) and s.name in suites]


def compare(config: config_mod.Config, phase: int, suites: list[str] | None = None,
            parallels: list[int] | None = None, steady: bool = False) -> None:
    """The phase (or those of its suites) serial, then in waves at the default --parallel (or
    at each of `parallels`, in turn); rolled back after each."""
    only = units_of(config, suites)
    serial = measure(config, phase, wiring.live_host, keep=False, parallel=1, force=FORCE, period=0.05, only=only,
                     steady=steady)
    report(f"phase {phase}, serial", serial)
    which = f"suites {', '.join(suites)} of phase {phase}" if suites else f"phase {phase}"
    for parallel in parallels or [None]:
        waves = measure(config, phase, wiring.live_host, keep=False, force=FORCE, period=0.05, only=only,
                        parallel=parallel, steady=steady)
        report(f"phase {phase}, in waves", waves)
        print(f"\n{which} ({serial['services']} services, production health settings): --parallel 1 "
              f"{serial['wall']:.1f} s, --parallel {waves['parallel']} {waves['wall']:.1f} s: "
              f"{serial['wall'] / waves['wall']:.1f}x faster (goal >= 8x)")


def downtime(samples: list[tuple[float, bool]]) -> float:
    """Seconds without a 2xx answer: every failed stretch, from the last 2xx before it to the
    first 2xx after it (or the last attempt, when none came back)."""
    total, last_ok, failing = 0.0, samples[0][0] if samples else None, False
    for t, ok in samples:  # no 2xx before the first failure: counted from the first attempt
        if ok:
            if failing and last_ok is not None:
                total += t - last_ok
            last_ok, failing = t, False
        else:
            failing = True
    if failing and last_ok is not None:
        total += samples[-1][0] - last_ok
    return total


def broken(config: config_mod.Config, name: str) -> None:
    """A broken image for one service: the old way (stop first) vs pre-verified."""
    inputs = wiring.read_inputs(config)
    unit = name if name.endswith(".service") else f"{name}.service"
    service = inputs.project.services.get(unit)
    if service is None or not service.image:
        raise SystemExit(f"{unit}: no service with an image in the compose files")
    good = docker("image", "inspect", "--format", "{{.Id}}", service.image).strip()
    # Their files removed (the venv may have no pip; bytecode in __pycache__ is never imported
    # without its source): the app's import fails, nothing else. -f: an image has one or both.
    dockerfile = (f"FROM {good}\nUSER root\nRUN rm -rf {' '.join(BROKEN.values())}\n"
                  f"USER {SERVICE_UID}:{SERVICE_UID}\n")
    subprocess.run(["docker", "build", "-q", "-t", service.image, "-"], input=dockerfile, text=True,
                   check=True, stdout=subprocess.DEVNULL)
    suite = config.suite_of(unit)
    stop_first = replace(config, suites=tuple(replace(s, preverify="off") if s is suite else s
                                               for s in config.suites))
    try:
        for words, cfg in (("the old way: stop first (preverify: off)", stop_first),
                           ("pre-verified (the default)", config)):
            sp = migrate.run(cfg, None, [unit], dry_run=True, force="bench", host_factory=wiring.live_host).plan.services[0]
            # 50 ms, as the real-stack test; 1 s each: a loaded machine's slow answer is no outage
            prober = Prober(sp.health_url, 0.05, timeout=1.0)
            prober.start()
            time.sleep(0.5)
            began = time.perf_counter()
            result = migrate.run(cfg, None, [unit], yes=True, force="bench", host_factory=wiring.live_host,
                                 say=lambda _m: None, progress=NoProgress())
            took = time.perf_counter() - began
            time.sleep(1.0)
            prober.stop.set()
            prober.join()
            outcome = result.services[0]
            print(f"{unit}, broken image, {words}: exit {result.exit_code}, {outcome.outcome} in {took:.1f} s; "
                  f"{downtime(prober.samples):.2f} s without a /health answer "
                  f"({sum(1 for _, ok in prober.samples if not ok)} of {len(prober.samples)} probes failed: "
                  f"{prober.failures or 'none'})")
            if outcome.reason:
                print(f"  why: {outcome.reason.splitlines()[0][:160]}")
            if outcome.outcome == "migrated":  # the break did not break it: put it back, stop here
                back = rollback.run(cfg, [unit], None, yes=True, host_factory=wiring.live_host, say=lambda _m: None)
                raise SystemExit(f"{unit} migrated on the broken image: removing {', '.join(BROKEN)} did not keep "
                                 f"its app from starting; rollback exit {back.exit_code}")
    finally:
        docker("tag", good, service.image)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, nargs="?", help="a live example host ready to migrate")
    parser.add_argument("--phase", type=int, default=1)
    parser.add_argument("--mini", type=int, nargs="+", metavar="N", help="throwaway hosts of N services")
    parser.add_argument("--keep", action="store_true", help="leave the phase migrated")
    parser.add_argument("--prepare", action="store_true",
                        help="make DIR a live example host at production health settings, its phase's images built")
    parser.add_argument("--compare", action="store_true", help="the phase serial, then at the default --parallel")
    parser.add_argument("--suites", nargs="+", metavar="SUITE", help="only these suites of the phase")
    parser.add_argument("--parallel", type=int, nargs="+", metavar="N",
                        help="run at each of these --parallel (default: migrate's); with --compare, each against the serial run")
    parser.add_argument("--broken", metavar="SERVICE", help="a broken image's downtime: stop first vs pre-verified")
    parser.add_argument("--steady-probes", action="store_true",
                        help=f"probe every API at the fine period throughout, not every {SLOW_PERIOD_S:g} s outside its cutover")
    args = parser.parse_args()
    if TESTBED_ENV.is_file():
        for key, value in json.loads(TESTBED_ENV.read_text()).items():
            os.environ.setdefault(key, value)
    os.environ.pop("REVOPS_DATABASE_URL", None)  # each host's own SQLite ledger
    if args.mini:
        mini(args.mini, args.keep)
        return
    if args.directory is None:
        parser.error("give a live example host directory, or --mini N...")
    directory = args.directory.resolve()
    if args.prepare:
        prepare(directory, args.phase)
        return
    config = config_mod.load(directory / "revops.yaml")
    if args.compare or args.broken:
        os.chdir(directory)
        if args.compare:
            compare(config, args.phase, args.suites, args.parallel, steady=args.steady_probes)
        if args.broken:
            broken(config, args.broken)
        return
    for parallel in args.parallel or [None]:
        report(f"phase {args.phase} of {args.directory}",
               measure(config, args.phase, wiring.live_host, args.keep, parallel=parallel,
                       force=FORCE if args.suites else None, only=units_of(config, args.suites),
                       steady=args.steady_probes))


if __name__ == "__main__":
    main()
