"""How long does a service answer no /health during its cutover, against its container's own
start time? And how long does a phase take, and how does that grow with its size?

For every API service of the phase, a prober thread GETs http://127.0.0.1:PORT/health every
20 ms while the phase migrates (revops.commands.migrate.run, in this process). Per service:

- window: the longest stretch with no 2xx answer (the unit's last answer to the container's
  first);
- start: the container's own start time, from Docker's State.StartedAt to its first 2xx;
- overhead = window - start (goal: at most 0.5 s).

Then the phase's wall time, the time per service, and each service's preflight (from the
journal's timestamps: the first one also checks the ops repo, once per run). Afterwards the phase is rolled back
(revops.commands.rollback), so the bench can run again, unless --keep.

Two hosts:

    python bench/bench_cutover.py /tmp/rf            # a live example host, ready to migrate
                                                     # (inventory, lock, generate, build done)
    python bench/bench_cutover.py --mini 2 4 8       # throwaway hosts of N stdlib services
                                                     # (tests/migrate/ministack.py), for growth

Needs the test bed (scripts/testbed start). Prints figures; never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "migrate"))

from revops import config as config_mod  # noqa: E402
from revops.adapters import docker_engine  # noqa: E402
from revops.commands import migrate, rollback  # noqa: E402
from revops.migrate import wiring  # noqa: E402

PERIOD_S = 0.020
TESTBED_ENV = Path(os.environ.get("REVOPS_TESTBED_DIR", "/var/lib/revops-testbed")) / "env.json"


class Prober(threading.Thread):
    """GET url every 20 ms; remembers (wall time, answered 2xx) of every attempt."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, bool]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(trust_env=False, timeout=0.25) as client:
            while not self.stop.is_set():
                started = time.time()
                try:
                    ok = client.get(self.url).is_success
                except httpx.HTTPError:
                    ok = False
                self.samples.append((started, ok))
                self.stop.wait(max(0.0, PERIOD_S - (time.time() - started)))


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


def started_at(container_id: str) -> float | None:
    raw = docker_engine.connect().container_state(container_id).started_at
    if not raw:
        return None
    head, _, frac = raw.rstrip("Z").partition(".")  # Docker gives nanoseconds
    stamp = dt.datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}").replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def measure(config: config_mod.Config, phase: int, host_factory, keep: bool) -> dict:
    dry = migrate.run(config, phase, dry_run=True, host_factory=host_factory)
    services = [s for s in dry.plan.services if s.health_url]
    if not services:
        raise SystemExit("no API service left to migrate in this phase (roll it back first)")
    probers = {s.unit: Prober(s.health_url) for s in services}
    for p in probers.values():
        p.start()
    time.sleep(0.5)  # a baseline of answers from the units
    began = time.perf_counter()
    result = migrate.run(config, phase, yes=True, host_factory=host_factory, say=lambda _m: None)
    wall = time.perf_counter() - began
    time.sleep(0.5)
    for p in probers.values():
        p.stop.set()
        p.join()
    host = host_factory(wiring.read_inputs(config))
    steps = step_seconds(config, result.run_id)
    rows = []
    for s in services:
        outcome = next((r.outcome for r in result.services if r.unit == s.unit), "?")
        gap = longest_gap(probers[s.unit].samples)
        state = host._state(s)  # the project's own container, found through compose
        start = started_at(state.id) if state is not None else None
        if gap is None or start is None:
            rows.append({"unit": s.unit, "outcome": outcome, "window": None, "start": None, "overhead": None})
            continue
        window, _last, first_ok = gap
        rows.append({"unit": s.unit, "outcome": outcome, "window": window, "start": first_ok - start,
                     "overhead": window - (first_ok - start), "steps": steps.get(s.unit, {})})
    if not keep:
        rollback.run(config, [], phase, yes=True, host_factory=host_factory, say=lambda _m: None)
    preflight = [s["preflight"] for s in steps.values() if "preflight" in s]  # every service, in run order
    return {"services": len(dry.plan.services), "wall": wall, "rows": rows, "exit": result.exit_code,
            "preflight": preflight}


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
    print(f"\n{title}: {n} service(s), exit {figures['exit']}, wall {figures['wall']:.2f} s, "
          f"{figures['wall'] / n:.2f} s per service")
    print(f"{'service':<34}{'outcome':<13}{'window s':>10}{'start s':>10}{'overhead s':>12}")
    for r in figures["rows"]:
        cells = [f"{r[k]:>10.3f}" if r[k] is not None else f"{'n/a':>10}" for k in ("window", "start")]
        over = f"{r['overhead']:>12.3f}" if r["overhead"] is not None else f"{'n/a':>12}"
        steps = ", ".join(f"{k} {v:.2f}" for k, v in r.get("steps", {}).items())
        print(f"{r['unit']:<34}{r['outcome']:<13}{cells[0]}{cells[1]}{over}   steps (s): {steps}")
    preflight = figures.get("preflight") or []
    if len(preflight) > 1:
        print(f"preflight per service: mean {statistics.mean(preflight):.2f} s, median "
              f"{statistics.median(preflight):.2f} s; the first {preflight[0]:.2f} s (the ops repo's "
              f"checks, once per run), the rest {statistics.mean(preflight[1:]):.2f} s on average")
    overheads = [r["overhead"] for r in figures["rows"] if r["overhead"] is not None]
    if overheads:
        print(f"overhead: median {statistics.median(overheads):.3f} s, max {max(overheads):.3f} s (goal <= 0.5 s)")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, nargs="?", help="a live example host ready to migrate")
    parser.add_argument("--phase", type=int, default=1)
    parser.add_argument("--mini", type=int, nargs="+", metavar="N", help="throwaway hosts of N services")
    parser.add_argument("--keep", action="store_true", help="leave the phase migrated")
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
    config = config_mod.load(args.directory.resolve() / "revops.yaml")
    report(f"phase {args.phase} of {args.directory}", measure(config, args.phase, wiring.live_host, args.keep))


if __name__ == "__main__":
    main()
