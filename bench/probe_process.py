"""Probers in a process of their own, for bench_cutover.py: a thread per URL sends
`GET <path> HTTP/1.0` over a plain socket and keeps (wall time, answered 2xx), until its
standard input closes; then it writes, as JSON on standard output,
{url: {"samples": [[t, ok], ...], "failures": {why: count}}, "cpu_s": its own CPU seconds}.

Each URL is probed every SLOW s until a line `fast URL` on standard input says its service's
cutover has begun, then every FAST s until `slow URL` says it ended. With SLOW equal to FAST
(or no lines at all) every URL is probed at one rate throughout.

Why its own process, and no HTTP library: ten probers at 20-50 ms in the bench's process cost
about a core-second per migrated service and held the GIL beside migrate's threads, so the
bench measured a slower migrate than a sysadmin runs. A socket and a status line are all a
probe needs (any 2xx is healthy, as revops' own probe judges it). Why two rates: ten URLs at
20 ms through a whole phase also kept the apps, the engine and the user manager busy, about
half the CPU of a run in waves (bench_cutover.py, SLOW_PERIOD_S); only a service in its
cutover can have a window worth the fine grain.

    python bench/probe_process.py FAST SLOW TIMEOUT URL...
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlsplit


def probe_once(host: str, port: int, path: str, timeout: float) -> tuple[bool, str]:
    """(answered 2xx, why not): one GET over a fresh connection, the status line read."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            head = conn.recv(64)
    except OSError as exc:
        return False, type(exc).__name__
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return False, "no status line"
    code = int(parts[1])
    return 200 <= code < 300, f"HTTP {code}"


class Rate:
    """One URL's probing period, switched by the bench; a switch to fast wakes the prober."""

    def __init__(self, fast: float, slow: float) -> None:
        self.fast, self.slow = fast, slow
        self.period = slow
        self.woken = threading.Event()

    def set(self, fast: bool) -> None:
        self.period = self.fast if fast else self.slow
        self.woken.set()


def prober(url: str, rate: Rate, timeout: float, stop: threading.Event, out: dict) -> None:
    split = urlsplit(url)
    samples: list[tuple[float, bool]] = []
    failures: dict[str, int] = {}
    out[url] = {"samples": samples, "failures": failures}
    while not stop.is_set():
        started = time.time()
        ok, why = probe_once(split.hostname or "127.0.0.1", split.port or 80, split.path or "/", timeout)
        samples.append((started, ok))
        if not ok:
            failures[why] = failures.get(why, 0) + 1
        rate.woken.wait(max(0.0, rate.period - (time.time() - started)))
        rate.woken.clear()


def main() -> None:
    fast, slow, timeout, urls = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    stop = threading.Event()
    rates = {u: Rate(fast, slow) for u in urls}
    out: dict = {}
    threads = [threading.Thread(target=prober, args=(u, rates[u], timeout, stop, out), daemon=True) for u in urls]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for line in sys.stdin:  # until the bench closes it
        word, _, url = line.strip().partition(" ")
        if url in rates and word in ("fast", "slow"):
            rates[url].set(word == "fast")
    stop.set()
    for rate in rates.values():
        rate.woken.set()
    for t in threads:
        t.join()
    times = os.times()
    json.dump({"probes": out, "cpu_s": times.user + times.system}, sys.stdout)


if __name__ == "__main__":
    main()
