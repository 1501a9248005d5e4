"""What does the bounded YAML loader (revops/yamlsafe.py) cost, and is it linear?

- the repo's inventory/units.yaml (149 units, 170 kB): yamlsafe against PyYAML's libyaml
  safe loader (`yaml.load(..., CSafeLoader)`), the baseline every revops verb used before;
- 10x that inventory (the units repeated under new names): the ratio to 1x (linear: ~10x);
- a billion laughs (9 levels of 9 aliases, 10^9 expanded values) and a document nested
  100,000 deep: the time until yamlsafe refuses them (PyYAML alone never refuses the first);
- `config.load` of the repo's revops.yaml: the first check (jsonschema imported and run) and
  the next (the verdict remembered for the same bytes), each in a fresh process.

Usage:

    python bench/bench_yaml.py [--runs 9]

Prints medians in ms and ratios; never asserts: it measures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from revops import yamlsafe  # noqa: E402


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def side_by_side(fns: list[Callable[[], object]], runs: int) -> list[float]:
    """Median ms of each function, run in turn `runs` times."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, into in zip(fns, times):
            start = time.perf_counter()
            fn()
            into.append(time.perf_counter() - start)
    return [statistics.median(t) * 1000 for t in times]


def refused_ms(text: str, runs: int) -> float:
    def attempt() -> None:
        try:
            yamlsafe.load_text(text, "bomb.yaml")
        except yamlsafe.YamlError:
            return
        raise SystemExit("not refused: yamlsafe lost its bound")
    return median_ms(attempt, runs)


def config_load_ms(runs: int) -> tuple[float, float]:
    code = ("import time, sys; t = time.perf_counter(); from revops import config; "
            "config.load(sys.argv[1]); print(time.perf_counter() - t)")
    first, again = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "revops.yaml"
        shutil.copy(REPO / "revops.yaml", path)
        for _ in range(runs):
            shutil.rmtree(Path(tmp) / ".revops", ignore_errors=True)
            for into in (first, again):
                done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True,
                                      text=True, check=True)
                into.append(float(done.stdout) * 1000)
    return statistics.median(first), statistics.median(again)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs

    text = (REPO / "inventory/units.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    # Deep copies: shared objects would be dumped once and aliased, a smaller document.
    units = [{**json.loads(json.dumps(u)), "name": f"x{i}-{u['name']}"} for i in range(10) for u in data["units"]]
    ten = yaml.dump({**data, "units": units}, Dumper=yaml.CSafeDumper, sort_keys=False, width=4096)
    assert "*id" not in ten
    # Interleaved, so a busy machine slows each side alike.
    pyyaml, ours, ours_ten = side_by_side([lambda: yaml.load(text, Loader=yaml.CSafeLoader),
                                           lambda: yamlsafe.load_text(text, "units.yaml"),
                                           lambda: yamlsafe.load_text(ten, "units.yaml")], runs)
    print(f"inventory/units.yaml ({len(text) // 1024} kB, {len(data['units'])} units)")
    print(f"  PyYAML CSafeLoader      {pyyaml:8.1f} ms")
    print(f"  yamlsafe                {ours:8.1f} ms   ({ours / pyyaml:.2f}x PyYAML)")
    print(f"  yamlsafe, 10x the units {ours_ten:8.1f} ms   ({ours_ten / ours:.1f}x the 1x time)")

    laughs = 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
    print("refused by yamlsafe")
    print(f"  billion laughs ({len(laughs)} bytes, 10^9 values) {refused_ms(laughs, runs):8.2f} ms")
    print(f"  nested 100,000 deep                        {refused_ms('[' * 100000, runs):8.2f} ms")

    first, again = config_load_ms(max(3, runs // 3))
    print("config.load of revops.yaml, fresh process")
    print(f"  first check (jsonschema)      {first:8.1f} ms")
    print(f"  same bytes again (remembered) {again:8.1f} ms")


if __name__ == "__main__":
    main()
