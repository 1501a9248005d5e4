"""Phase 1 of the live example host to the three-node Swarm cluster against phase 1 to compose
on this one host, in one run: wall time of each, and per API service the longest stretch
with no /health answer (from the unit's last 2xx to the replacement's first).

Each API service is probed every 50 ms during both runs. On compose the service answers on
127.0.0.1:PORT, first from its unit, then from its container. On the cluster only the
services `swarm.publish` names are reachable from outside (published in host mode on every
node); a prober tries the unit's 127.0.0.1:PORT and then the manager's address:PORT, and an
answer from either counts. A service reached only over the overlay has no window measured
from here: it is shown as n/a, with why.

Each run is rolled back (revops.commands.rollback) before the next one, so the host and the
cluster are left as they were, unless --keep.

Usage, inside the test bed's namespace (source `scripts/testbed env` first):

    python bench/bench_swarm_phase.py /tmp/rfs --prepare   # once: host, lock, images pushed
    python bench/bench_swarm_phase.py /tmp/rfs             # compose, then the cluster

--prepare makes a live example host with a `swarm:` block for the bed's cluster (its
registry, manager and CLI, the gateway published, core at two replicas, one per node), at the
example host's health settings unless --fast-health (the real-stack tests' 2 s interval),
then locks core, generates both targets, builds and pushes the images on the manager's
engine. Needs the test bed. Prints figures; never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
import yaml  # noqa: E402

from bench_cutover import TESTBED_ENV, longest_gap, step_seconds  # noqa: E402
from revops import config as config_mod  # noqa: E402
from revops.commands import migrate, rollback  # noqa: E402
from revops.commands.migrate import outcome_words  # noqa: E402
from revops.migrate import wiring  # noqa: E402
from revops.migrate.executor import NoProgress  # noqa: E402

PERIOD_S = 0.050
STACK = "revflowbench"
GATEWAY = "revcore-gateway.service"
FAST_HEALTH = {"interval": "2s", "timeout": "2s", "retries": 3, "start_period": "10s"}


class Prober(threading.Thread):
    """GET each of `urls` in turn every `period` s until one answers 2xx; remembers (wall time,
    answered by any) of every round."""

    def __init__(self, urls: list[str], period: float = PERIOD_S, timeout: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.urls, self.period, self.timeout = urls, period, timeout
        self.samples: list[tuple[float, bool]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(trust_env=False, timeout=self.timeout) as client:
            while not self.stop.is_set():
                started = time.time()
                self.samples.append((started, any(self._ok(client, url) for url in self.urls)))
                self.stop.wait(max(0.0, self.period - (time.time() - started)))

    @staticmethod
    def _ok(client: httpx.Client, url: str) -> bool:
        try:
            return client.get(url).is_success
        except httpx.HTTPError:
            return False


def revops(directory: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """A revops verb in the host's directory, as an operator runs it."""
    subprocess.run([sys.executable, "-m", "revops", *args], cwd=directory, check=True, env=env)


def bed() -> dict[str, str]:
    """The test bed's env.json (written by `scripts/testbed start`)."""
    if not TESTBED_ENV.is_file():
        raise SystemExit(f"{TESTBED_ENV}: no test bed (scripts/testbed start)")
    return json.loads(TESTBED_ENV.read_text())


def manager(env: dict[str, str]) -> tuple[str, str]:
    """(address, DOCKER_HOST) of the cluster's manager, the first of REVOPS_SWARM_NODES."""
    _name, address, docker_host = env["REVOPS_SWARM_NODES"].split()[0].split(",", 2)
    return address, docker_host


def prepare(directory: Path, fast: bool) -> None:
    env = bed()
    _address, docker_host = manager(env)
    if not (directory / "revops.yaml").is_file():
        revops(REPO, "example-host", str(directory), "--live")
    path = directory / "revops.yaml"
    doc = yaml.safe_load(path.read_text())
    if fast:
        doc["health"].update(FAST_HEALTH)
    doc["swarm"] = {"registry": env["REVOPS_REGISTRY"], "insecure_registry": True, "manager": docker_host,
                    "cli": env["REVOPS_SWARM_DOCKER_CLI"], "stack": STACK, "publish": [GATEWAY],
                    "placement": {"core": {"replicas": 2, "max_replicas_per_node": 1}}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    wheelhouse = os.environ["REVOPS_WHEELHOUSE"]
    revops(directory, "inventory", "scan", "--live")
    revops(directory, "lock", "--suite", "core", "--offline", "--find-links", wheelhouse)
    revops(directory, "generate")
    revops(directory, "generate", "--target", "swarm")
    # Built on the manager's engine: the nodes know the bed's plain-HTTP registry, the main one not.
    revops(directory, "build", "--suite", "core", "--push", "--find-links", wheelhouse,
           env={**os.environ, "DOCKER_HOST": docker_host})
    revops(directory, "build", "--suite", "core", "--find-links", wheelhouse)  # the compose run's image


def measure(config: config_mod.Config, target: str, urls_of) -> dict:
    """Phase 1 to `target` with every API service probed; rolled back afterwards."""
    factory = wiring.swarm_host if target == "swarm" else wiring.live_host
    dry = migrate.run(config, 1, None, dry_run=True, host_factory=factory)
    services = [s for s in dry.plan.services if s.health_url]
    probers = {s.unit: Prober(urls_of(s)) for s in services}
    for p in probers.values():
        p.start()
    time.sleep(0.5)  # a baseline of answers from the units
    began = time.perf_counter()
    result = migrate.run(config, 1, None, yes=True, host_factory=factory, say=lambda _m: None,
                         progress=NoProgress())
    wall = time.perf_counter() - began
    time.sleep(1.0)
    for p in probers.values():
        p.stop.set()
        p.join()
    steps = step_seconds(config, result.run_id)
    rows = []
    for s in services:
        outcome = next((r.outcome for r in result.services if r.unit == s.unit), "?")
        gap = longest_gap(probers[s.unit].samples)
        reachable = len(probers[s.unit].urls) > 1 or target == "compose"
        why = None if reachable else "not published: reached over the overlay only"
        window = gap[0] if gap is not None and reachable and outcome == "migrated" else None
        rows.append({"unit": s.unit, "outcome": outcome, "window": window, "why": why,
                     "steps": steps.get(s.unit, {})})
    return {"target": target, "services": len(dry.plan.services), "wall": wall, "rows": rows,
            "exit": result.exit_code, "outcomes": outcome_words(result.services),
            "parallel": result.plan.parallel if result.plan else None, "factory": factory}


def report(figures: dict) -> None:
    n = figures["services"]
    print(f"\nphase 1 to {figures['target']}: {n} service(s), --parallel {figures['parallel']}, exit "
          f"{figures['exit']} ({figures['outcomes']}), wall {figures['wall']:.2f} s")
    print(f"{'service':<30}{'outcome':<13}{'window s':>10}   steps (s)")
    for r in figures["rows"]:
        cell = f"{r['window']:>10.3f}" if r["window"] is not None else f"{'n/a':>10}"
        steps = ", ".join(f"{k} {v:.2f}" for k, v in r["steps"].items())
        print(f"{r['unit']:<30}{r['outcome']:<13}{cell}   {steps}" + (f"  ({r['why']})" if r["why"] else ""))
    values = [r["window"] for r in figures["rows"] if r["window"] is not None]
    if values:
        print(f"no-answer window: median {statistics.median(values):.3f} s, max {max(values):.3f} s "
              f"({len(values)} services)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--prepare", action="store_true", help="make DIR a live example host for both targets")
    parser.add_argument("--fast-health", action="store_true", help="with --prepare: a 2 s health interval")
    parser.add_argument("--keep", action="store_true", help="leave the cluster's run migrated")
    args = parser.parse_args()
    for key, value in bed().items():
        os.environ.setdefault(key, value)
    os.environ.pop("REVOPS_DATABASE_URL", None)  # the host's own SQLite ledger
    directory = args.directory.resolve()
    if args.prepare:
        prepare(directory, args.fast_health)
        return
    os.chdir(directory)
    config = config_mod.load(directory / "revops.yaml")
    address, _ = manager(bed())
    ran = []
    for target, urls_of in (
            ("compose", lambda s: [s.health_url]),
            ("swarm", lambda s: [s.health_url] + ([s.health_url.replace("127.0.0.1", address, 1)]
                                                  if config.swarm and config.swarm.publishes(s.unit) else []))):
        figures = measure(config, target, urls_of)
        report(figures)
        ran.append(figures)
        if target == "compose" or not args.keep:
            rollback.run(config, [], 1, yes=True, host_factory=figures["factory"], say=lambda _m: None)
    compose, swarm = ran
    print(f"\nphase 1: compose on this host {compose['wall']:.1f} s, the 3-node cluster {swarm['wall']:.1f} s: "
          f"the cluster takes {swarm['wall'] / compose['wall']:.2f}x the time")


if __name__ == "__main__":
    main()
