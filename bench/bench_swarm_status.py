"""How fast is `revops status --target swarm --json` against the loop an operator would run
for the same answers: `docker node ls`, `docker service ls`, then `docker service ps` per
service of the stack (what runs where, and in which state)?

revops asks the manager three things (nodes, services by label, every task) and probes each
published port; the loop starts one docker CLI per service. Both run against the same
cluster, in turn (farm-bench pairs the runs, so the ratio holds while the machine drifts).

Usage (an ops repo whose phase was migrated with --target swarm, e.g. left by
tests/migrate/test_migrate_swarm_realstack.py, inside the test bed's namespace):

    python bench/bench_swarm_status.py OPS_DIR [--runs 5]

Prints farm-bench's figures (median wall time of each, and the ratio). Never asserts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from revops import config as config_mod  # noqa: E402


def operator_loop(cli: str, stack: str) -> str:
    """The shell loop, as one `sh -c` string (farm-bench gives no shell)."""
    docker = shlex.quote(cli)
    return (f"{docker} node ls >/dev/null && {docker} service ls >/dev/null && "
            f"for s in $({docker} service ls -q --filter label=com.docker.stack.namespace={shlex.quote(stack)}); "
            f"do {docker} service ps --no-trunc \"$s\" >/dev/null; done")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops_dir", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = config_mod.load(args.ops_dir / "revops.yaml")
    if config.swarm is None:
        print(f"{args.ops_dir / 'revops.yaml'} has no swarm: block", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if config.swarm.manager:
        env["DOCKER_HOST"] = config.swarm.manager
    revops = f"{shlex.quote(sys.executable)} -m revops status --target swarm --json -c {shlex.quote(str(args.ops_dir / 'revops.yaml'))}"
    # status exits 1 while any service is unhealthy anywhere; the time is what is measured
    argv = ["farm-bench", "-n", str(args.runs), "--timeout", "600",
            "--vs", f"sh -c {shlex.quote(operator_loop(config.swarm.cli, config.swarm.stack))}",
            "--", "sh", "-c", revops + " >/dev/null; true"]
    print("$ " + " ".join(shlex.quote(a) for a in argv), file=sys.stderr)
    return subprocess.run(argv, env=env, cwd=args.ops_dir).returncode


if __name__ == "__main__":
    raise SystemExit(main())
