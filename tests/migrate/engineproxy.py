"""A unix-socket relay in front of the test bed's dockerd that "dies" at a chosen request.

revops reaches the engine through DOCKER_HOST; pointing it at this relay lets a test take the
engine away from revops at an exact moment (the container start of a cutover) without
stopping the dockerd every other test shares. Once tripped, the relay drops every connection
and refuses new ones, as a stopped engine would.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path


class EngineRelay:
    def __init__(self, upstream: str, path: Path, trip: bytes = rb"POST /[^ ]*containers/[^/ ]+/start") -> None:
        self.upstream = upstream  # path of dockerd's socket
        self.path = path
        self.trip = re.compile(trip)
        self.tripped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while not self.tripped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.upstream)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and self.trip.search(data):
                    self.trip_now()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def trip_now(self) -> None:
        """The engine is gone: every connection dropped, no new one accepted."""
        self.tripped.set()
        try:
            self._server.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        if not self.tripped.is_set():
            self.trip_now()
