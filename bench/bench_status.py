"""How fast is `revops status --json` on the live example host, against three yardsticks?

- the floor: one `systemctl --user list-units` plus one `docker ps` (what any status must at
  least ask); target: revops within 2x of it, and under 1 s;
- the same-figures floor: the stock tools reading what status shows (restarts, enablement,
  every /health too), run at once, as a shell script could at best;
- the baseline: what a shell script would do, `systemctl --user is-active` plus one HTTP GET
  of /health per service, one after another.

Usage (the live host must be running under the test bed's systemd user manager):

    revops example-host /tmp/rf --live      # once
    python bench/bench_status.py /tmp/rf [--runs 5]

Prints each figure (median of the runs, in ms) and the ratios. Never asserts: it measures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from revops.adapters import proc  # noqa: E402

TESTBED_ENV = Path(os.environ.get("REVOPS_TESTBED_DIR", "/var/lib/revops-testbed")) / "env.json"


def testbed_env() -> dict[str, str]:
    env = dict(os.environ)
    if "DBUS_SESSION_BUS_ADDRESS" not in env and TESTBED_ENV.is_file():
        env.update(json.loads(TESTBED_ENV.read_text()))
    env.pop("REVOPS_DATABASE_URL", None)  # the host's own ledger, as on-call would read it
    return env


def revops_argv() -> list[str]:
    """The installed `revops` script itself (not a version manager's shim in front of it)."""
    script = Path(sysconfig.get_path("scripts")) / "revops"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "revops"]


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, proc.Completed]:
    started = time.perf_counter()
    done = proc.run(argv, env=env, cwd=cwd, check=False, timeout=120)
    return (time.perf_counter() - started) * 1000, done


def median_ms(runs: int, step) -> float:
    return statistics.median(step() for _ in range(runs))


def floor_once(env: dict[str, str]) -> float:
    a, done = timed(["systemctl", "--user", "list-units", "--all", "--no-pager", "--plain"], env)
    assert done.returncode == 0, done.stderr
    b, done = timed(["docker", "ps", "--all"], env)
    if done.returncode != 0:
        print(f"  (docker ps failed: {done.stderr.strip()})")
    return a + b


def same_figures_once(services: list[dict], env: dict[str, str]) -> float:
    """The floor for the figures status shows, by the stock tools, all three at once: one
    `systemctl show` of every unit's states, enablement, result, restarts and main PID; one
    `docker ps`; one `curl --parallel` of every /health."""
    names = [svc["name"] for svc in services]
    urls = [svc["health"]["url"] for svc in services if svc["health"]["url"]]
    argvs = [
        ["systemctl", "--user", "show", "--no-pager",
         "-p", "Id,LoadState,ActiveState,SubState,UnitFileState,Result,NRestarts,MainPID", *names],
        ["docker", "ps", "--all", "--filter", "label=revops.managed=true"],
    ]
    if urls and shutil.which("curl"):
        argvs.append(["curl", "--parallel", "--parallel-max", "64", "-s", "-m", "2",
                      "-w", "%{http_code}\n", *sum((["-o", "/dev/null", u] for u in urls), [])])
    started = time.perf_counter()
    running = [subprocess.Popen(a, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for a in argvs]
    for child in running:
        child.wait(timeout=120)
    return (time.perf_counter() - started) * 1000


def status_once(host: Path, env: dict[str, str], keep: list) -> float:
    ms, done = timed([*revops_argv(), "status", "--json", "--config", str(host / "revops.yaml")], env)
    assert done.stdout.strip(), done.stderr
    keep[:] = [json.loads(done.stdout), done.returncode]
    return ms


def startup_once(env: dict[str, str]) -> float:
    """The fixed cost of any revops verb: interpreter, Typer, Rich (`revops --version`)."""
    ms, done = timed([*revops_argv(), "--version"], env)
    assert done.returncode == 0, done.stderr
    return ms


# What the readers import on top of `revops --version`: PyGObject and pydbus (systemd), and
# revops' http adapter: httpx without its CLI, httpcore, the probes' thread pool (the docker
# listing and /health). httpcore also imports trio whenever it is installed.
READER_IMPORTS = "import pydbus; from revops.adapters import http"


def imports_once(env: dict[str, str]) -> float:
    """The readers' libraries: importing them, less an interpreter that imports nothing."""
    with_libs, done = timed([sys.executable, "-c", READER_IMPORTS], env)
    assert done.returncode == 0, done.stderr
    bare, _ = timed([sys.executable, "-c", "pass"], env)
    return with_libs - bare


def in_process_once(host: Path, env: dict[str, str]) -> float:
    """status.run() with every library already imported: the reading itself."""
    from revops import config as config_mod
    from revops.commands import status

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        cfg = config_mod.load(host / "revops.yaml")
        started = time.perf_counter()
        status.run(cfg)
        return (time.perf_counter() - started) * 1000
    finally:
        os.environ.clear()
        os.environ.update(saved)


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def baseline_once(services: list[dict], env: dict[str, str]) -> float:
    """systemctl is-active + curl (or urllib when curl is missing) per service, in a loop."""
    curl = shutil.which("curl")
    started = time.perf_counter()
    for svc in services:
        proc.run(["systemctl", "--user", "is-active", svc["name"]], env=env, check=False, timeout=30)
        url = svc["health"]["url"]
        if url is None:
            continue
        if curl:
            proc.run([curl, "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", url],
                     env=env, check=False, timeout=30)
        else:
            get_status(url)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", type=Path, help="the live example host (revops example-host DIR --live)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=1)
    args = parser.parse_args()
    host = args.host.resolve()
    if not (host / "revops.yaml").is_file():
        print(f"{host}/revops.yaml not found: run `revops example-host {host} --live` first")
        return 2
    env = testbed_env()
    keep: list = []
    status_once(host, env, keep)  # warm-up: page cache, first D-Bus connection
    revops_ms = median_ms(args.runs, lambda: status_once(host, env, keep))
    doc, code = keep
    floor_ms = median_ms(args.runs, lambda: floor_once(env))
    same_ms = median_ms(args.runs, lambda: same_figures_once(doc["services"], env))
    startup_ms = median_ms(args.runs, lambda: startup_once(env))
    imports_ms = median_ms(args.runs, lambda: imports_once(env))
    in_process_once(host, env)  # warm-up: imports
    warm_ms = median_ms(args.runs, lambda: in_process_once(host, env))
    base_ms = median_ms(args.baseline_runs, lambda: baseline_once(doc["services"], env))
    n = len(doc["services"])
    probed = sum(1 for s in doc["services"] if s["health"]["url"])
    print(f"services: {n} ({probed} with /health), revops exit code {code}")
    print("sources (last run): " + ", ".join(
        f"{s['name']} {s['provenance']} {s['elapsed_ms'] or 0:.0f}ms" for s in doc["sources"]))
    print(f"floor (systemctl list-units + docker ps): {floor_ms:8.1f} ms")
    print(f"revops status --json:                     {revops_ms:8.1f} ms")
    print(f"same figures by stock tools, at once:     {same_ms:8.1f} ms "
          "(systemctl show + docker ps + curl --parallel)")
    print(f"baseline loop (is-active + GET each):     {base_ms:8.1f} ms")
    print(f"  of which fixed: `revops --version`:     {startup_ms:8.1f} ms (interpreter, Typer, Rich)")
    trio = "trio installed" if importlib.util.find_spec("trio") else "no trio"
    print(f"  of which fixed: readers' libraries:     {imports_ms:8.1f} ms (gi, pydbus, httpx, httpcore; {trio})")
    print(f"  the reading alone (in-process, warm):   {warm_ms:8.1f} ms "
          f"({warm_ms / floor_ms:.2f}x the floor)")
    print(f"ratio revops / floor:     {revops_ms / floor_ms:5.2f}x  (target <= 2x: "
          f"{'met' if revops_ms <= 2 * floor_ms else 'NOT met'})")
    print(f"ratio revops / same-figures floor: {revops_ms / same_ms:5.2f}x")
    print(f"ratio baseline / revops:  {base_ms / revops_ms:5.2f}x  (revops is that many times faster)")
    print(f"under 1 s: {'yes' if revops_ms < 1000 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
