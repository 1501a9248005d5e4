"""How fast does `revops stabilize` build and prove a suite venv, and what disk do the venvs
hold before and after? On the example host, offline, from a warm wheelhouse:

- per suite: revops' build (a venv without pip, filled by hash through `pip --python`, `pip
  check`, each app imported, scripts moved to the final path, renamed into place) against a
  plain `python -m venv` + `pip install -r LOCK` of the same lock from the same wheelhouse
  (no check, no imports): seconds (median of --runs) and the ratio;
- disk: the bytes every venv directory of the inventory holds, and after stabilize: the suite
  venvs plus every venv that some unit still runs from or that no suite venv replaces.

Usage:

    python bench/bench_stabilize.py [--host DIR] [--wheelhouse DIR] [--suite core ...] [--runs 3]

Without --host a fresh example host is written to a temp dir, scanned and locked. Prints
figures; never asserts: it measures.
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

from revops import config as config_mod, model  # noqa: E402
from revops.adapters import proc  # noqa: E402
from revops.commands import stabilize as S  # noqa: E402
from revops.stabilize import build, plan as P  # noqa: E402

TESTBED_ENV = Path(os.environ.get("REVOPS_TESTBED_DIR", "/var/lib/revops-testbed")) / "env.json"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}


def revops(cwd: Path, *args: str) -> None:
    proc.run([sys.executable, "-m", "revops", *args], cwd=cwd, env=clean_env(), check=True, timeout=1800)


def wheelhouse(given: str | None) -> Path:
    value = given or os.environ.get("REVOPS_WHEELHOUSE")
    if not value and TESTBED_ENV.is_file():
        value = json.loads(TESTBED_ENV.read_text()).get("REVOPS_WHEELHOUSE")
    if not value:
        sys.exit("no wheelhouse: pass --wheelhouse DIR (or run scripts/testbed up)")
    return Path(value)


def plain(lock: Path, target: Path, wheels: Path) -> None:
    proc.run([sys.executable, "-m", "venv", target], check=True, timeout=900)
    proc.run([target / "bin/python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--no-index", "--find-links", wheels, "-r", lock], env=clean_env(), check=True, timeout=900)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host")
    ap.add_argument("--wheelhouse")
    ap.add_argument("--suite", action="append", default=[])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    wheels = wheelhouse(args.wheelhouse)
    scratch = Path(tempfile.mkdtemp(prefix="bench-stabilize-"))
    try:
        host = Path(args.host) if args.host else scratch / "host"
        if not args.host:
            revops(scratch, "example-host", str(host))
            revops(host, "inventory", "scan")
            revops(host, "lock", "--offline", "--find-links", str(wheels), *sum((["--suite", s] for s in args.suite), []))
        config = config_mod.load(host / "revops.yaml")
        inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
        suites = args.suite or [s.name for s in config.suites]
        venvs = [S.suite_venv_of(config, s) for s in suites]
        plan = P.plan(inventory, config, venvs)
        units = {u.name: u for u in inventory.units}
        print(f"host {host}: {len(inventory.venvs)} venv directories, wheelhouse {wheels}, {args.runs} runs each")
        print(f"{'suite':<18}{'units':>6}{'revops s':>10}{'plain s':>10}{'ratio':>8}  proof")
        built_bytes = 0
        for venv in venvs:
            acting = [u for u in plan.acting() if u.suite == venv.suite]
            if venv.lock is None or not acting:
                print(f"{venv.suite:<18}{len(acting):>6}  skipped: {venv.why_not or 'no unit to repoint'}")
                continue
            apps = [S.app_under_test(config, units[u.unit]) for u in acting]
            ours, theirs, proof, final = [], [], None, scratch
            for run in range(args.runs):
                final = scratch / f"ours-{run}" / Path(venv.on_disk or "v").name
                started = time.perf_counter()
                proof, _built = build.build(Path(venv.lock), final, [wheels], apps, offline=True)
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                plain(Path(venv.lock), scratch / f"plain-{venv.suite}-{run}", wheels)
                theirs.append(time.perf_counter() - started)
            built_bytes += S.tree_bytes(final) or 0
            a, b = statistics.median(ours), statistics.median(theirs)
            verdict = "proven" if proof and proof.ok else f"NOT proven ({proof.detail if proof else '?'})"
            print(f"{venv.suite:<18}{len(acting):>6}{a:>10.2f}{b:>10.2f}{a / b:>8.2f}  {verdict}")
        sizes = {v.path: S.disk_bytes(config, v.path) for v in inventory.venvs}
        before = sum(s or 0 for s in sizes.values())
        replaced = {g for group in P.duplicates(inventory, plan, lambda p: sizes.get(p)) for g in group.replaced}
        repointed = {u.unit for u in plan.acting()}
        replaced |= {v.path for v in inventory.venvs if v.used_by and all(u in repointed for u in v.used_by)}
        after = before - sum(sizes.get(p) or 0 for p in replaced) + built_bytes
        unknown = sum(1 for s in sizes.values() if s is None)
        print(f"disk: {len(sizes)} venv directories hold {before / 1e6:.1f} MB"
              + (f" ({unknown} unreadable)" if unknown else ""))
        print(f"after stabilize: {len(sizes) - len(replaced) + len([v for v in venvs if v.lock])} venv directories, "
              f"{after / 1e6:.1f} MB ({len(replaced)} replaced venvs redundant for cleanup; "
              f"suite venvs {built_bytes / 1e6:.1f} MB)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
