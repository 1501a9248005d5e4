"""Probers in a process of their own, for bench_cutover.py: a thread per URL sends
`GET <path> HTTP/1.0` over a plain socket every PERIOD s and keeps (wall time, answered 2xx),
until its standard input closes; then it writes, as JSON on standard output,
{url: {"samples": [[t, ok], ...], "failures": {why: count}}, "cpu_s": its own CPU seconds}.

Why its own process, and no HTTP library: ten probers at 20-50 ms in the bench's process cost
about a core-second per migrated service and held the GIL beside migrate's threads, so the
bench measured a slower migrate than a sysadmin runs. A socket and a status line are all a
probe needs (any 2xx is healthy, as revops' own probe judges it).

    python bench/probe_process.py PERIOD TIMEOUT URL...
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


def prober(url: str, period: float, timeout: float, stop: threading.Event, out: dict) -> None:
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
        stop.wait(max(0.0, period - (time.time() - started)))


def main() -> None:
    period, timeout, urls = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    stop = threading.Event()
    out: dict = {}
    threads = [threading.Thread(target=prober, args=(u, period, timeout, stop, out), daemon=True) for u in urls]
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the bench closes it
    stop.set()
    for t in threads:
        t.join()
    times = os.times()
    json.dump({"probes": out, "cpu_s": times.user + times.system}, sys.stdout)


if __name__ == "__main__":
    main()
