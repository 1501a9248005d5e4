"""How fast is `revops lock`? Three figures on the example host, offline, from a wheelhouse:

- no-change re-lock of every suite (the whole CLI, process start included); target under 1 s;
- cold lock of one suite: revops against bare `python -m piptools compile` on the same input
  with the same flags, printed as a ratio (revops' overhead);
- the same cold lock with pip-tools and with uv (`--resolver uv`), printed as a ratio.

Usage:

    python bench/bench_lock.py [--host DIR] [--wheelhouse DIR] [--suite core] [--runs 3]

Without --host, a fresh example host is written to a temp dir and scanned. The wheelhouse
defaults to REVOPS_WHEELHOUSE (the test bed's env.json). Prints medians in ms and ratios;
never asserts: it measures.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from revops.adapters import proc  # noqa: E402
from revops.lock import resolver  # noqa: E402

TESTBED_ENV = Path(os.environ.get("REVOPS_TESTBED_DIR", "/var/lib/revops-testbed")) / "env.json"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}


def revops(cwd: Path, *args: str, check: bool = True) -> proc.Completed:
    return proc.run([sys.executable, "-m", "revops", *args], cwd=cwd, env=clean_env(), check=check, timeout=900)


def default_wheelhouse() -> Path | None:
    value = os.environ.get("REVOPS_WHEELHOUSE")
    if not value and TESTBED_ENV.is_file():
        value = json.loads(TESTBED_ENV.read_text()).get("REVOPS_WHEELHOUSE")
    return Path(value) if value else None


@dataclass
class Figure:
    """Median wall time and median CPU time of child processes (steadier on a shared machine)."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:8.0f} ms wall {self.cpu:8.0f} ms cpu"


def median_ms(runs: int, action: Callable[[], None], before: Callable[[], None] = lambda: None) -> Figure:
    walls, cpus = [], []
    for _ in range(runs):
        before()
        start, start_cpu = time.perf_counter(), _children_cpu()
        action()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((_children_cpu() - start_cpu) * 1000)
    return Figure(statistics.median(walls), statistics.median(cpus))


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def make_host(directory: Path) -> Path:
    revops(directory.parent, "example-host", str(directory))
    revops(directory, "inventory", "scan")
    return directory


def bare_pip_compile(input_path: Path, wheelhouse: Path) -> None:
    """pip-compile alone on revops' input, with the flags revops passes, in a scratch dir."""
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as scratch:
        shutil.copyfile(input_path, Path(scratch) / input_path.name)
        sources = resolver.Sources(find_links=wheelhouse, offline=True)
        argv = resolver.pip_tools_argv(input_path.name, input_path.with_suffix(".txt").name, sources)
        proc.run(argv, cwd=scratch, env=resolver.hermetic_env(True), timeout=900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", type=Path, help="an example host already scanned (default: a fresh one)")
    parser.add_argument("--wheelhouse", type=Path, default=default_wheelhouse())
    parser.add_argument("--suite", default="core")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.wheelhouse is None or not args.wheelhouse.is_dir():
        sys.exit("bench_lock: no wheelhouse: pass --wheelhouse DIR or start the test bed (REVOPS_WHEELHOUSE)")
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as scratch:
        host = args.host or make_host(Path(scratch) / "host")
        run_bench(host, args.wheelhouse, args.suite, args.runs)


def run_bench(host: Path, wheelhouse: Path, suite: str, runs: int) -> None:
    offline = ("--offline", "--find-links", str(wheelhouse))
    lock_dir = host / "lockfiles"
    txt = lock_dir / f"{suite}.txt"

    cold_all = median_ms(1, lambda: revops(host, "lock", *offline))
    relock = median_ms(runs, lambda: revops(host, "lock", *offline))
    check = median_ms(runs, lambda: revops(host, "lock", "--check"))

    def forget() -> None:  # a cold lock: no previous lock for the suite to start from
        txt.unlink(missing_ok=True)

    cold_revops = median_ms(runs, lambda: revops(host, "lock", *offline, "--suite", suite), before=forget)
    cold_bare = median_ms(runs, lambda: bare_pip_compile(lock_dir / f"{suite}.in", wheelhouse))
    have_uv = proc.which("uv") is not None
    cold_uv = median_ms(runs, lambda: revops(host, "lock", *offline, "--suite", suite, "--resolver", "uv"),
                        before=forget) if have_uv else None
    revops(host, "lock", *offline, "--suite", suite, check=False)  # leave a pip-tools lock behind

    print(f"example host: {host}  wheelhouse: {wheelhouse}  runs: {runs} (medians)")
    print(f"cold lock, every suite (once):          {cold_all}")
    print(f"no-change re-lock, every suite:         {relock}   target < 1000 ms wall: "
          f"{'met' if relock.wall < 1000 else 'NOT met'}")
    print(f"lock --check, every suite:              {check}")
    print(f"cold lock of {suite!r}, revops (pip-tools): {cold_revops}")
    print(f"cold lock of {suite!r}, bare pip-compile:   {cold_bare}")
    print(f"  revops / bare pip-compile:            {cold_revops.wall / cold_bare.wall:8.2f}x wall "
          f"{cold_revops.cpu / cold_bare.cpu:8.2f}x cpu (overhead {cold_revops.cpu - cold_bare.cpu:+.0f} ms cpu)")
    if cold_uv is None:
        print("uv: not installed (pip install uv); pip-tools vs uv not measured")
    else:
        print(f"cold lock of {suite!r}, revops (uv):        {cold_uv}")
        print(f"  pip-tools / uv:                       {cold_revops.wall / cold_uv.wall:8.2f}x wall "
              f"{cold_revops.cpu / cold_uv.cpu:8.2f}x cpu")

if __name__ == "__main__":
    main()
