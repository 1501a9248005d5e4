"""How long does a service answer no /health during its cutover, against its container's own
start time? And how long does phase 1 take?

For every API service of the phase, a prober thread GETs http://127.0.0.1:PORT/health every
20 ms while `revops migrate --phase N --yes` runs. For each service it reports:

- window: the longest stretch with no 2xx answer (last answer of the unit to first answer
  of the container);
- start: the container's own start time, from Docker's State.StartedAt to the container's
  first 2xx seen by the prober;
- overhead = window - start (goal: at most 0.5 s).

Then the wall time of the phase and the mean per service (the slope of cost against phase
size; a run of another phase gives a second point). Afterwards `revops rollback --phase N
--yes` puts the host back, unless --keep.

Usage (a live example host whose phase is ready to migrate: inventory, lock, generate, build):

    python bench/bench_cutover.py /tmp/rf [--phase 1] [--keep]

Prints figures; never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_status import revops_argv, testbed_env  # noqa: E402
from revops.adapters import proc  # noqa: E402

PERIOD_S = 0.020


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
    """(gap seconds, last ok before, first ok after) of the longest run of failures."""
    best = None
    last_ok = None
    in_gap = False
    for t, ok in samples:
        if ok:
            if in_gap and last_ok is not None:
                gap = t - last_ok
                if best is None or gap > best[0]:
                    best = (gap, last_ok, t)
            last_ok, in_gap = t, False
        else:
            in_gap = True
    return best


def container_started_at(unit: str, env: dict[str, str]) -> float | None:
    """State.StartedAt of the container labelled revops.unit=UNIT, as epoch seconds."""
    import docker

    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    try:
        found = client.containers.list(all=True, filters={"label": f"revops.unit={unit}"})
        if not found:
            return None
        raw = found[0].attrs["State"]["StartedAt"]
    finally:
        client.close()
    # Docker gives nanoseconds; fromisoformat takes microseconds.
    head, _, frac = raw.rstrip("Z").partition(".")
    stamp = dt.datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}").replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def api_services(directory: Path, phase: int, env: dict[str, str]) -> list[dict]:
    done = proc.run([*revops_argv(), "migrate", "--phase", str(phase), "--dry-run", "--json"],
                    env=env, cwd=directory, check=False, timeout=120)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dry run failed:\n{done.stderr}")
    return [s for s in json.loads(done.stdout)["plan"]["services"] if s["health_url"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--phase", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="leave the phase migrated")
    args = parser.parse_args()
    env = testbed_env()
    directory = args.directory.resolve()
    services = api_services(directory, args.phase, env)
    if not services:
        raise SystemExit("no API service left to migrate in this phase (already migrated? roll back first)")
    probers = {s["unit"]: Prober(s["health_url"]) for s in services}
    for p in probers.values():
        p.start()
    time.sleep(0.5)  # a baseline of answers from the units
    started = time.perf_counter()
    done = proc.run([*revops_argv(), "migrate", "--phase", str(args.phase), "--yes", "--json"],
                    env=env, cwd=directory, check=False, timeout=3600)
    wall = time.perf_counter() - started
    time.sleep(0.5)
    for p in probers.values():
        p.stop.set()
        p.join()
    result = json.loads(done.stdout) if done.stdout.strip() else {}
    outcomes = {r["unit"]: r["outcome"] for r in result.get("services", [])}
    planned = len(result.get("plan", {}).get("services", [])) or len(services)
    print(f"revops migrate --phase {args.phase}: exit {done.returncode}, {planned} service(s), wall {wall:.2f} s, "
          f"{wall / planned:.2f} s per service")
    print(f"{'service':<28}{'outcome':<13}{'window s':>10}{'start s':>10}{'overhead s':>12}")
    overheads = []
    for s in services:
        unit = s["unit"]
        gap = longest_gap(probers[unit].samples)
        started_at = container_started_at(unit, env)
        if gap is None or started_at is None:
            print(f"{unit:<28}{outcomes.get(unit, '?'):<13}{'n/a':>10}{'n/a':>10}{'n/a':>12}"
                  f"  ({'no gap seen' if gap is None else 'no container'})")
            continue
        window, _last_ok, first_ok = gap
        own_start = first_ok - started_at
        overhead = window - own_start
        overheads.append(overhead)
        print(f"{unit:<28}{outcomes.get(unit, '?'):<13}{window:>10.3f}{own_start:>10.3f}{overhead:>12.3f}")
    if overheads:
        print(f"overhead: median {statistics.median(overheads):.3f} s, max {max(overheads):.3f} s (goal <= 0.5 s)")
    if done.returncode != 0:
        print(done.stderr.strip()[-2000:], file=sys.stderr)
    if not args.keep:
        back = proc.run([*revops_argv(), "rollback", "--phase", str(args.phase), "--yes"],
                        env=env, cwd=directory, check=False, timeout=1800)
        print(f"rollback --phase {args.phase}: exit {back.returncode}")


if __name__ == "__main__":
    main()
