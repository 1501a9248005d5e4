"""The /health prober against a real HTTP server this test starts on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from revops.adapters import http


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # 100 probes connect at once

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.in_flight = 0
        self.most_in_flight = 0
        self.requests = 0
        self.counter_lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        pass  # a probe that timed out hangs up on a sleeping handler: expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        server = self.server
        with server.counter_lock:
            server.requests += 1
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        self._counted = True
        try:
            self._answer()
        finally:
            self._uncount()

    def _uncount(self) -> None:
        # A request stops counting before its answer is written: once the client has the
        # whole answer, its worker may send the next request before this thread runs on.
        if self._counted:
            self._counted = False
            with self.server.counter_lock:
                self.server.in_flight -= 1

    def _answer(self) -> None:
        if self.path == "/health":
            self._send(200, b'{"status": "ok"}')
        elif self.path == "/broken":
            self._send(500, b"database unreachable: connection pool exhausted")
        elif self.path == "/big":
            self._send(200, b"x" * 100_000)
        elif self.path == "/sleep":
            time.sleep(1.5)
            self._send(200, b"too late")
        elif self.path.startswith("/slowish"):
            time.sleep(0.2)
            self._send(200, self.path.encode())
        elif self.path == "/drip":  # each byte within a read timeout, the whole far beyond it
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path == "/flaky":
            with self.server.counter_lock:
                calls = self.server.requests
            self._send(200 if calls >= 4 else 503, b"warming up" if calls < 4 else b"ok")
        else:
            self._send(404, b"no such page")

    def _send(self, code: int, body: bytes) -> None:
        self._uncount()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: _Server, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


@pytest.fixture
def refusing_port() -> Iterator[int]:
    # Bound but never listening: the kernel answers every connection with a reset.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _is_recent_utc(stamp: str) -> bool:
    when = dt.datetime.fromisoformat(stamp)
    return when.tzinfo is not None and abs(dt.datetime.now(dt.timezone.utc) - when).total_seconds() < 60


def test_200_is_healthy_with_status_latency_and_body(server):
    result = http.probe(_url(server, "/health"), timeout=2)
    assert result.state == "healthy" and result.healthy
    assert result.status_code == 200
    assert result.body_head == '{"status": "ok"}'
    assert result.error is None
    assert result.latency_ms is not None and result.latency_ms > 0
    assert _is_recent_utc(result.checked_at)


def test_500_is_unhealthy_and_keeps_the_body(server):
    result = http.probe(_url(server, "/broken"), timeout=2)
    assert result.state == "unhealthy"
    assert result.status_code == 500
    assert result.error == "HTTP 500"
    assert result.body_head == "database unreachable: connection pool exhausted"


def test_body_head_is_cut_at_200_characters(server):
    result = http.probe(_url(server, "/big"), timeout=2)
    assert result.healthy
    assert result.body_head == "x" * 200


def test_refused_connection_is_unhealthy_with_the_reason(refusing_port):
    result = http.probe(f"http://127.0.0.1:{refusing_port}/health", timeout=2)
    assert result.state == "unhealthy"
    assert result.status_code is None
    assert result.error == "connection refused"


def test_timeout_is_unhealthy_never_unknown(server):
    result = http.probe(_url(server, "/sleep"), timeout=0.3)
    assert result.state == "unhealthy"
    assert result.status_code is None
    assert "timeout after 0.3s" in result.error


def test_no_url_is_unknown():
    assert http.probe(None, timeout=1).state == "unknown"
    assert http.probe("", timeout=1).error == "no health URL known"


def test_probe_many_mixes_every_outcome(server, refusing_port):
    urls = {
        "ok": _url(server, "/health"),
        "broken": _url(server, "/broken"),
        "slow": _url(server, "/sleep"),
        "down": f"http://127.0.0.1:{refusing_port}/health",
        "unplaced": None,
    }
    results = http.probe_many(urls, timeout=0.5)
    assert list(results) == list(urls)
    assert {k: r.state for k, r in results.items()} == {
        "ok": "healthy", "broken": "unhealthy", "slow": "unhealthy", "down": "unhealthy",
        "unplaced": "unknown"}
    assert results["broken"].status_code == 500
    assert "timeout" in results["slow"].error
    assert results["down"].error == "connection refused"


def test_a_body_that_trickles_in_is_cut_off_at_the_probes_timeout(server):
    # Every byte comes well within 0.4 s of the last, so only a bound on the whole answer
    # (2 s here) makes this a timeout rather than a 200.
    result = http.probe(_url(server, "/drip"), timeout=0.4)
    assert result.state == "unhealthy" and "timeout" in result.error


def test_probe_many_runs_100_probes_concurrently(server):
    urls = {f"svc{i:03d}": _url(server, f"/slowish/{i}") for i in range(100)}
    results = http.probe_many(urls, timeout=10, concurrency=64)
    assert all(r.healthy for r in results.values())
    # Each answer carries its own path back, so no result landed under another key.
    assert all(r.body_head == f"/slowish/{int(k[3:])}" for k, r in results.items())
    assert server.requests == 100
    # The server saw many requests at once, and never more than the concurrency allowed.
    assert 10 < server.most_in_flight <= 64


def test_wait_healthy_retries_until_2xx(server):
    attempts: list[tuple[int, str]] = []
    result = http.wait_healthy(_url(server, "/flaky"), deadline_s=10,
                               on_attempt=lambda n, p: attempts.append((n, p.state)))
    assert result.healthy
    assert attempts == [(1, "unhealthy"), (2, "unhealthy"), (3, "unhealthy"), (4, "healthy")]


def test_wait_healthy_gives_up_at_the_deadline_with_the_last_reason(refusing_port):
    result = http.wait_healthy(f"http://127.0.0.1:{refusing_port}/health", deadline_s=0.4)
    assert result.state == "unhealthy"
    assert result.error == "connection refused"


def test_backoff_starts_at_50ms_grows_by_half_and_caps_at_1s():
    pauses = http.backoff()
    first = [round(next(pauses), 4) for _ in range(10)]
    assert first[:4] == [0.05, 0.075, 0.1125, 0.1688]
    assert first[-1] == 1.0 and max(first) == 1.0


def test_tls_is_set_up_only_when_some_url_is_https():
    assert http._needs_tls(["http://127.0.0.1:8004/health", None]) is False
    assert http._needs_tls(["http://127.0.0.1:8004/health", "HTTPS://127.0.0.1:8443/health"]) is True
    assert http._needs_tls([]) is False


def test_httpx_comes_without_its_command_line(fresh_python):
    """revops imports httpx without httpx._main (click, rich, pygments: ~40 ms per status)."""
    script = (
        "import sys\n"
        "from revops.adapters import http\n"
        "loaded = [m for m in ('click', 'pygments', 'rich') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert http.httpx.Client and http.httpx.AsyncClient and callable(http.httpx.main)\n"
        "print('ok')\n"
    )
    assert fresh_python(script) == ["ok"]
