"""How long does `revops example-host` take, and how big is what it writes?

Offline (always): a fresh write and a rewrite over itself, median of --runs, plus the size
on disk and the number of entries. Live (with --live, needs the test bed's user manager and
wheelhouse): the first `--live` run (builds 12 phase-1 venvs, starts every unit), a second
run (builds and restarts nothing), and the teardown.

    python bench/bench_example_host.py [--runs 3] [--live]

Prints figures; never asserts: it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from revops.commands import example_host  # noqa: E402
from revops.example_host import live  # noqa: E402

TESTBED_ENV = Path(os.environ.get("REVOPS_TESTBED_DIR", "/var/lib/revops-testbed")) / "env.json"


def timed(call, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return time.perf_counter() - start, result


def disk_usage(root: Path) -> tuple[int, int]:
    entries, blocks = 0, 0
    for path in root.rglob("*"):
        entries += 1
        blocks += path.lstat().st_blocks
    return entries, blocks * 512


def offline(runs: int, scratch: Path) -> None:
    fresh, rewrite = [], []
    for i in range(runs):
        root = scratch / f"offline-{i}"
        fresh.append(timed(example_host.run, root)[0])
        rewrite.append(timed(example_host.run, root)[0])
    entries, size = disk_usage(scratch / "offline-0")
    print(f"offline fresh write    median {statistics.median(fresh):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in fresh)})")
    print(f"offline rewrite        median {statistics.median(rewrite):.2f} s")
    print(f"on disk                {size / 2**20:.1f} MiB in {entries} entries")


def live_runs(scratch: Path) -> None:
    if "DBUS_SESSION_BUS_ADDRESS" not in os.environ and TESTBED_ENV.is_file():
        os.environ.update(json.loads(TESTBED_ENV.read_text()))
    root = scratch / "live"
    try:
        first, result = timed(example_host.run, root, live=True)
        again, second = timed(example_host.run, root, live=True)
        print(f"live first run         {first:.1f} s  ({len(result.live_units.venvs_built)} venvs built, "
              f"{result.live_units.units_started} units started)")
        print(f"live second run        {again:.1f} s  ({len(second.live_units.venvs_built)} venvs built, "
              f"{second.live_units.units_already_running} already running)")
        print(f"ratio second/first     {again / first:.2f}")
    finally:
        down, names = timed(live.teardown, root)
        print(f"teardown               {down:.1f} s  ({len(names)} units)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--live", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-example-host-"))
    try:
        offline(args.runs, scratch)
        if args.live:
            live_runs(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
