"""A small stack of our own on the test bed, for the real-stack tests of `revops status`.

Five services with unique names: `ok` (a unit answering /health through a stdlib server),
`loop` (a unit that crashes and is restarted forever), `stopped` (a unit never started, with
a port nobody listens on), `moved` (a labelled container answering /health, recorded as
migrated in a SQLite ledger) and `twin` (a running unit and a running container at once).
Everything is removed afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from revops.adapters import proc

HEALTH_SERVER = textwrap.dedent("""\
    import http.server, sys

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            code = 200 if self.path == "/health" else 404
            body = b'{"status": "ok"}' if code == 200 else b"{}"
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Health).serve_forever()
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    root: Path
    prefix: str
    ports: dict[str, int]
    unit_dir: Path
    containers: list[str] = field(default_factory=list)
    network: str | None = None
    units: list[str] = field(default_factory=list)

    def name(self, short: str) -> str:
        return f"{self.prefix}-{short}.service"

    @property
    def container(self) -> str:
        """The migrated service's container."""
        return f"{self.prefix}-moved"

    @property
    def config(self) -> Path:
        return self.root / "revops.yaml"

    def revops(self, *args: str, env: dict[str, str] | None = None) -> proc.Completed:
        argv = [sys.executable, "-m", "revops", *args, "--config", str(self.config)]
        return proc.run(argv, env={**os.environ, **(env or {})}, check=False, timeout=60)

    def status_json(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
        done = self.revops("status", "--json", *args, env=env)
        assert done.stdout.strip(), done.stderr
        return done.returncode, json.loads(done.stdout)


def systemctl(*args: str, check: bool = True) -> proc.Completed:
    return proc.run(["systemctl", "--user", "--no-pager", *args], check=check, timeout=30)


def unit_properties(name: str) -> dict[str, str]:
    """The oracle: what `systemctl --user show` says of a unit."""
    keys = "LoadState,ActiveState,SubState,NRestarts,UnitFileState,MainPID,Result"
    out = systemctl("show", "-p", keys, name).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def docker_inspect(container: str) -> dict:
    return json.loads(proc.run(["docker", "inspect", container], timeout=30).stdout)[0]


def write_units(stack: Stack) -> None:
    server = stack.root / "health_server.py"
    server.write_text(HEALTH_SERVER)
    bodies = {
        "ok": f"ExecStart={sys.executable} {server} 127.0.0.1 {stack.ports['ok']}\n",
        # RestartSec long enough that the loop is seen mostly in auto-restart.
        "loop": "ExecStart=/bin/sh -c 'exit 3'\nRestart=always\nRestartSec=2\n",
        "stopped": f"ExecStart={sys.executable} {server} 127.0.0.1 {stack.ports['stopped']}\n",
        "twin": f"ExecStart={sys.executable} {server} 127.0.0.1 {stack.ports['twin']}\n",
    }
    for short, body in bodies.items():
        name = stack.name(short)
        stack.units.append(name)
        (stack.unit_dir / name).write_text(
            f"[Unit]\nDescription=revops status test {short}\nStartLimitIntervalSec=0\n\n"
            f"[Service]\n{body}\n[Install]\nWantedBy=default.target\n")
    systemctl("daemon-reload")
    systemctl("enable", stack.name("ok"))
    systemctl("start", stack.name("ok"), stack.name("loop"), stack.name("twin"))


def start_containers(stack: Stack, image: str) -> None:
    # A network of our own: the engine's default bridge is shared, and was seen broken.
    stack.network = stack.prefix
    proc.run(["docker", "network", "create", stack.prefix], timeout=60)
    start_container(stack, image, "moved", stack.ports["moved"])
    start_container(stack, image, "twin", free_port())  # its unit holds the inventory's port


def start_container(stack: Stack, image: str, short: str, host_port: int) -> None:
    name = f"{stack.prefix}-{short}"
    labels = {"revops.managed": "true", "revops.unit": stack.name(short),
              "revops.suite": "core", "revops.phase": "1"}
    argv = ["docker", "run", "-d", "--name", name, "--network", stack.network, "-p", f"127.0.0.1:{host_port}:8000",
            "--health-cmd", "python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health')\"",
            "--health-interval", "1s", "--health-retries", "3"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    argv += [image, "python3", "-c", HEALTH_SERVER, "0.0.0.0", "8000"]
    stack.containers.append(name)
    proc.run(argv, timeout=60)


def write_ops_repo(stack: Stack) -> None:
    services = [("ok", stack.ports["ok"]), ("loop", None), ("stopped", stack.ports["stopped"]),
                ("moved", stack.ports["moved"]), ("twin", stack.ports["twin"])]
    (stack.root / "revops.yaml").write_text(yaml.safe_dump({
        "host": {"root": "."}, "systemd": {"bus": "user"},
        "suites": {"core": {"phase": 1, "units": [stack.name(s) for s, _ in services]}},
        "health": {"probe_timeout": 2.0},
    }))
    inventory = stack.root / "inventory"
    inventory.mkdir()
    units = [{"name": stack.name(s), "path": None, "port": port, "suite": "core", "phase": 1}
             for s, port in services]
    (inventory / "units.yaml").write_text(yaml.safe_dump(
        {"root": ".", "scanned_at": "2026-11-22T00:00:00+00:00", "units": units}))
    (inventory / "venvs.yaml").write_text("venvs: []\n")


def new(root: Path, unit_dir: Path) -> Stack:
    unit_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"revops-status-{uuid.uuid4().hex[:8]}"
    ports = {short: free_port() for short in ("ok", "stopped", "moved", "twin")}
    return Stack(root=root, prefix=prefix, ports=ports, unit_dir=unit_dir)


def build(stack: Stack, image: str) -> None:
    """Bring the stack up; what was made is recorded on `stack` as it goes, for tear_down."""
    write_ops_repo(stack)
    write_units(stack)
    start_containers(stack, image)


def tear_down(stack: Stack) -> None:
    if stack.units:
        systemctl("disable", stack.name("ok"), check=False)
        systemctl("stop", *stack.units, check=False)
        for name in stack.units:
            (stack.unit_dir / name).unlink(missing_ok=True)
        systemctl("daemon-reload", check=False)
        systemctl("reset-failed", *stack.units, check=False)
    for container in stack.containers:
        proc.run(["docker", "rm", "-f", container], check=False, timeout=60)
    if stack.network:
        proc.run(["docker", "network", "rm", stack.network], check=False, timeout=60)
