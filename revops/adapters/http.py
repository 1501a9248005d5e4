"""/health probes over HTTP (httpx): one, many at once, or until healthy.

A probe never guesses: "healthy" means a 2xx answer was read just now; a refused connection,
a timeout or any other status is "unhealthy" with what went wrong; "unknown" is kept for a
service whose URL nobody knows. Proxies from the environment are ignored (trust_env=False):
probes go straight to the address they name.
"""

from __future__ import annotations

import datetime as _dt
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from revops.adapters import httpx_loader

httpx = httpx_loader.load()

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
UNKNOWN = "unknown"

BODY_HEAD_CHARS = 200
# Enough bytes for 200 characters of any UTF-8 text; the rest of a large body is not read.
_BODY_READ_BYTES = BODY_HEAD_CHARS * 4


@dataclass(frozen=True)
class Probe:
    url: str | None
    state: str  # healthy, unhealthy or unknown
    status_code: int | None
    latency_ms: float | None
    body_head: str | None
    error: str | None
    checked_at: str  # ISO 8601, UTC

    @property
    def healthy(self) -> bool:
        return self.state == HEALTHY


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def unknown(url: str | None, reason: str = "no health URL known") -> Probe:
    return Probe(url, UNKNOWN, None, None, None, reason, _now())


def answered(url: str, status_code: int, latency_ms: float, body: bytes) -> Probe:
    head = body.decode("utf-8", errors="replace")[:BODY_HEAD_CHARS]
    healthy = 200 <= status_code < 300
    error = None if healthy else f"HTTP {status_code}"
    return Probe(url, HEALTHY if healthy else UNHEALTHY, status_code, round(latency_ms, 2),
                 head, error, _now())


def failed(url: str, latency_ms: float, exc: BaseException, timeout: float) -> Probe:
    return Probe(url, UNHEALTHY, None, round(latency_ms, 2), None, describe_error(exc, timeout),
                 _now())


def describe_error(exc: BaseException, timeout: float) -> str:
    """A short reason a person can act on: refused, timed out, DNS, protocol."""
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__.replace("Timeout", " timeout").strip().lower()
        return f"{kind} after {timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc) or "connection failed"
        if _refused(exc):
            return "connection refused"
        return f"cannot connect: {text}"
    if isinstance(exc, httpx.InvalidURL) or isinstance(exc, httpx.UnsupportedProtocol):
        return f"invalid URL: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _refused(exc: BaseException) -> bool:
    """True when the exception, or one it was raised from, is a refused connection.

    The async transport words it "All connection attempts failed" and keeps the
    ConnectionRefusedError underneath, so the chain is walked.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "refused" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def _client_timeout(timeout: float) -> httpx.Timeout:
    return httpx.Timeout(timeout)


# ---------------------------------------------------------------------------------------
# One probe


def probe(url: str | None, timeout: float, *, client: httpx.Client | None = None) -> Probe:
    """GET url once; the whole answer (connect, headers, body head) within `timeout`."""
    if not url:
        return unknown(url)
    if client is None:
        with httpx.Client(trust_env=False, timeout=_client_timeout(timeout)) as own:
            return _probe_with(own, url, timeout)
    return _probe_with(client, url, timeout)


def _probe_with(client: httpx.Client, url: str, timeout: float) -> Probe:
    started = time.perf_counter()
    try:
        with client.stream("GET", url, timeout=_client_timeout(timeout)) as response:
            body = _read_head(response, started + timeout)
            status = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return failed(url, (time.perf_counter() - started) * 1000, exc, timeout)
    return answered(url, status, (time.perf_counter() - started) * 1000, body)


def _read_head(response: httpx.Response, deadline: float) -> bytes:
    """The body's first bytes. httpx bounds each read, not the whole answer: a body that
    trickles in is cut off at the probe's own deadline."""
    chunks = bytearray()
    for chunk in response.iter_bytes():
        chunks += chunk
        if len(chunks) >= _BODY_READ_BYTES:
            break
        if time.perf_counter() > deadline:
            raise httpx.ReadTimeout("the answer took longer than the probe's timeout")
    return bytes(chunks)


# ---------------------------------------------------------------------------------------
# Many probes at once


def probe_many(urls: dict[str, str | None], timeout: float,
               concurrency: int = 64) -> dict[str, Probe]:
    """Probe every URL at once (at most `concurrency` in flight); keys are kept.

    Threads sharing one client, not asyncio: for the same 31 probes of the example host,
    importing asyncio and anyio and running a loop took a cold `revops status` about 30 ms
    more (150 ms against 120 ms, bench/bench_status.py's host)."""
    if not urls:
        return {}
    workers = max(1, min(concurrency, sum(1 for url in urls.values() if url)))
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(trust_env=False, timeout=_client_timeout(timeout), limits=limits,
                      verify=_needs_tls(urls.values())) as client:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
            probes = list(pool.map(lambda url: probe(url, timeout, client=client), urls.values()))
    return dict(zip(urls.keys(), probes))


def _needs_tls(urls) -> bool:
    """False when every URL is plain http://: redirects are not followed, so TLS is never used,
    and the client need not build a context from the CA bundle (~25 ms) for nothing."""
    return not all(url.lower().startswith("http://") for url in urls if url)


# ---------------------------------------------------------------------------------------
# Until healthy


def backoff(start: float = 0.05, factor: float = 1.5, cap: float = 1.0):
    """The pauses between health attempts: 50 ms, 75 ms, ... at most 1 s."""
    delay = start
    while True:
        yield delay
        delay = min(delay * factor, cap)


def wait_healthy(url: str | None, deadline_s: float,
                 on_attempt: Callable[[int, Probe], None] | None = None,
                 *, attempt_timeout: float = 2.0) -> Probe:
    """Probe until a 2xx answer or `deadline_s` seconds pass; return the last probe.

    The caller reads `.healthy`; on failure the last probe says why (status, body, error).
    on_attempt(attempt_number, probe) is called after every attempt, for progress output.
    """
    if not url:
        return unknown(url)
    deadline = time.monotonic() + deadline_s
    with httpx.Client(trust_env=False) as client:
        for attempt, pause in enumerate(backoff(), start=1):
            remaining = deadline - time.monotonic()
            result = probe(url, max(0.05, min(attempt_timeout, remaining)), client=client)
            if on_attempt is not None:
                on_attempt(attempt, result)
            remaining = deadline - time.monotonic()
            if result.healthy or remaining <= 0:
                return result
            time.sleep(min(pause, remaining))
    raise AssertionError("unreachable")  # backoff() never ends
