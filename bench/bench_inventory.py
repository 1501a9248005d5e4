"""How fast is `revops inventory scan`? Figures on the example host, offline (no D-Bus):

- the scan of the example host (149 unit files, 250+ venv directories), in process, against
  a baseline that runs one subprocess per venv: `python -m pip check` where it can run, and
  the bare floor of any subprocess-per-venv design (`python -c pass` once per venv);
- the scan of 10x the host (unit files replicated under new names, ~1,490 units; the same
  venvs), as a ratio to the 1x scan (target: at most 12x), with the unit-reading part alone.

The example host's venvs are files, not runnable interpreters, so `pip check` runs with this
machine's interpreter: timed on a sample of real calls and multiplied by the venv count
(printed as an extrapolation). The per-venv floor is run for every venv.

Usage:

    python bench/bench_inventory.py [--host DIR] [--runs 5] [--pip-sample 8]

Prints medians in ms and ratios; never asserts: it measures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from revops import config as config_mod  # noqa: E402
from revops.adapters import proc  # noqa: E402
from revops.commands import example_host, inventory  # noqa: E402
from revops.unitfile import RootFS, read_units  # noqa: E402
from revops.unitfile.specifiers import facts_of_root  # noqa: E402


def median_ms(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timings(fn, runs))


def timings(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def interleaved(small: Callable[[], object], big: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Alternate the 1x and 10x runs so that load from other processes hits both alike."""
    a, b = [], []
    for _ in range(runs):
        a += timings(small, 1)
        b += timings(big, 1)
    return a, b


def scan(cfg: config_mod.Config) -> inventory.ScanResult:
    return inventory.run(cfg, live=False, write=False)


def read_only_units(cfg: config_mod.Config) -> int:
    return len(read_units(RootFS(cfg.root), cfg.unit_dirs, cfg.unit_pattern, facts_of_root(cfg.root, live=False)))


def replicate(host: Path, target: Path, copies: int) -> None:
    """`target`: a copy of `host` whose unit directory holds `copies` renamed copies of each
    unit file, drop-in directory and .wants link (the venvs are shared: same root files)."""
    shutil.copytree(host, target, symlinks=True)
    unit_dir = target / "etc/systemd/system"
    originals = sorted(unit_dir.iterdir())
    for k in range(1, copies):
        for path in originals:
            renamed = _renamed(path.name, k)
            if renamed is None:
                continue
            if path.is_dir() and path.name.endswith(".wants"):
                (unit_dir / path.name).mkdir(exist_ok=True)
                for link in path.iterdir():
                    new = _renamed(link.name, k)
                    if new and not (path / new).exists():
                        os.symlink(_renamed(os.path.basename(os.readlink(link)), k) or os.readlink(link), path / new)
                continue
            if path.is_dir():
                shutil.copytree(path, unit_dir / renamed, symlinks=True)
            else:
                shutil.copy2(path, unit_dir / renamed, follow_symlinks=False)


def _renamed(name: str, k: int) -> str | None:
    for suffix in ("@.service", ".service", ".service.d"):
        if name.endswith(suffix) and not name.endswith(".wants"):
            stem = name[: -len(suffix)]
            if "@" in stem and suffix == ".service":  # an instance: foo@3.service -> foo-x1@3.service
                base, inst = stem.split("@", 1)
                return f"{base}-x{k}@{inst}{suffix}"
            if "@" in stem and suffix == ".service.d":
                base, inst = stem.split("@", 1)
                return f"{base}-x{k}@{inst}{suffix}"
            return f"{stem}-x{k}{suffix}"
    return None


def venvs_with_interpreter(result: inventory.ScanResult) -> list[str]:
    return [v.path for v in result.inventory.venvs if "interpreter-missing" not in v.problems
            and "interpreter-loop" not in v.problems]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", type=Path, help="an example host already written (default: a fresh one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pip-sample", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="revops-bench-inventory-"))
    try:
        host = args.host or work / "host"
        if args.host is None:
            example_host.run(host)
        cfg = config_mod.load(host / "revops.yaml")
        result = scan(cfg)
        n_units, n_venvs = len(result.inventory.units), len(result.inventory.venvs)

        cli_ms = median_ms(lambda: proc.run([sys.executable, "-m", "revops", "inventory", "scan", "--no-live",
                                             "--no-write", "--json"], cwd=host,
                                            env={**os.environ, "PYTHONPATH": str(REPO)}), 3)
        runnable = venvs_with_interpreter(result)
        floor_ms = median_ms(lambda: [proc.run([sys.executable, "-c", "pass"]) for _ in result.inventory.venvs], 1)
        sample = max(1, min(args.pip_sample, len(runnable)))
        pip_one = median_ms(lambda: proc.run([sys.executable, "-m", "pip", "check"], check=False), sample)
        pip_ms = pip_one * len(runnable)

        big = work / "host-x10"
        replicate(host, big, 10)
        big_cfg = config_mod.load(big / "revops.yaml")
        n_big = len(scan(big_cfg).inventory.units)
        scans, big_scans = interleaved(lambda: scan(cfg), lambda: scan(big_cfg), args.runs)
        reads, big_reads = interleaved(lambda: read_only_units(cfg), lambda: read_only_units(big_cfg), args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    scan_ms, big_ms = statistics.median(scans), statistics.median(big_scans)
    units_ms, big_units_ms = statistics.median(reads), statistics.median(big_reads)
    print(f"example host: {n_units} units, {n_venvs} venv directories ({len(runnable)} with an interpreter link)")
    print(f"  revops inventory scan (in process, median of {args.runs}, live state not read): {scan_ms:8.1f} ms   target < 2000 ms")
    print(f"  the whole CLI, process start included (median of 3):    {cli_ms:8.1f} ms")
    print(f"    of which reading unit files:                      {units_ms:8.1f} ms")
    print(f"  baseline: one bare subprocess per venv ({n_venvs}x python -c pass): {floor_ms:8.1f} ms"
          f"   ratio {floor_ms / scan_ms:5.1f}x slower than revops")
    print(f"  baseline: python -m pip check per venv ({len(runnable)} x {pip_one:.0f} ms, extrapolated from "
          f"{sample} runs): {pip_ms:8.1f} ms   ratio {pip_ms / scan_ms:5.1f}x slower than revops")
    print(f"10x host: {n_big} units ({n_big / n_units:.1f}x), same venvs")
    print(f"  scan: {big_ms:8.1f} ms   ratio to 1x: {big_ms / scan_ms:5.2f}x   (target <= 12x)")
    print(f"  reading unit files alone: {big_units_ms:8.1f} ms   ratio to 1x: {big_units_ms / units_ms:5.2f}x"
          f"   per unit: {units_ms / n_units:.3f} ms (1x) vs {big_units_ms / n_big:.3f} ms (10x)")
    print(f"  fastest runs (least disturbed by other load): scan {min(scans):.1f} / {min(big_scans):.1f} ms"
          f" = {min(big_scans) / min(scans):.2f}x; units {min(reads):.1f} / {min(big_reads):.1f} ms"
          f" = {min(big_reads) / min(reads):.2f}x")


if __name__ == "__main__":
    main()
