"""bench/probe_process.py, the bench's probers: fine-grained only while the bench says a
service is in its cutover, coarse before and after, and every answer kept. A real HTTP server
on 127.0.0.1 answers; the probers run as the bench runs them, in a process of their own."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PROBE_PROCESS = Path(__file__).resolve().parents[1] / "bench" / "probe_process.py"


class Health(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_url_is_probed_fast_only_between_fast_and_slow(server):
    busy, idle = f"{server}/health", f"{server}/broken"
    proc = subprocess.Popen([sys.executable, str(PROBE_PROCESS), "0.02", "0.5", "0.25", busy, idle],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.stdin.write(f"fast {busy}\n")
    proc.stdin.flush()
    marks = [time.time()]
    time.sleep(1.0)
    proc.stdin.write(f"slow {busy}\nsomething else\nfast http://not.probed/\n")
    proc.stdin.flush()
    marks.append(time.time())
    time.sleep(1.0)
    out, _ = proc.communicate("", timeout=30)
    found = json.loads(out)
    samples = found["probes"][busy]["samples"]
    during = [t for t, _ok in samples if marks[0] <= t < marks[1]]
    outside = [t for t, _ok in samples if t < marks[0] or t >= marks[1] + 0.05]
    assert len(during) >= 10  # every 20 ms for a second: about 50
    assert len(outside) <= 8  # every 0.5 s for two seconds: about 4
    assert all(ok for _t, ok in samples)
    # The other URL stayed slow, and its failures are counted by why.
    broken = found["probes"][idle]
    assert len(broken["samples"]) <= 8 and not any(ok for _t, ok in broken["samples"])
    assert broken["failures"] == {"HTTP 503": len(broken["samples"])}
    assert set(found["probes"]) == {busy, idle} and found["cpu_s"] >= 0
