"""A two-service host of our own on the test bed: unique unit names, free ports, a stdlib
/health app run by systemd (user manager) and by a container of the base image, and a
hand-written compose file labelled as generate labels it. It lets the cutover run for real
beside other tests without touching the shared example host's fixed names and ports.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from revops import config as config_mod
from revops.adapters import compose, docker_engine, systemd
from revops.migrate import wiring
from revops.migrate.host import LiveHost, port_free

APP = '''\
import argparse, http.server, json
p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--bind", default="127.0.0.1")
p.add_argument("--who")
a = p.parse_args()
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health"
        body = json.dumps({"status": "ok" if ok else "no", "served_by": a.who}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("listening on", a.port, flush=True)
http.server.ThreadingHTTPServer((a.bind, a.port), Health).serve_forever()
'''


@dataclass
class MiniStack:
    root: Path
    tag: str
    units: dict[str, int]  # unit -> port, in dependency order
    unit_dir: Path

    @property
    def config(self) -> config_mod.Config:
        return config_mod.load(self.root / "revops.yaml")

    def service(self, unit: str) -> str:
        return unit[: -len(".service")]

    def host(self, inputs: wiring.Inputs) -> LiveHost:
        """migrate's host without the ops-repo checks (no lock or generate for this stack)."""
        return LiveHost(inputs.config, systemd.connect("user"), docker_engine.connect(),
                        compose.connect(cwd=inputs.config.base_dir), inputs.files)


def _free_port() -> int:
    for _ in range(200):
        port = random.randint(20000, 29999)
        if port_free("127.0.0.1", port) and port_free("0.0.0.0", port):
            return port
    raise RuntimeError("no free port")


def build(root: Path, base_image: str, count: int = 2) -> MiniStack:
    """`count` API services; every one after the first is After= the first (as modules sit
    behind a gateway)."""
    tag = uuid.uuid4().hex[:6]
    names = [f"revops-test-mg{tag}-{chr(ord('a') + i)}.service" for i in range(count)]
    stack = MiniStack(root, tag, {n: _free_port() for n in names},
                      Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user")
    app = root / "opt" / "mgapp" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text(APP)
    unit_files = root / "etc" / "systemd" / "system"
    unit_files.mkdir(parents=True)
    for i, (unit, port) in enumerate(stack.units.items()):
        after = f"After={names[0]}\n" if i else ""
        (unit_files / unit).write_text(textwrap.dedent(f"""\
            [Unit]
            Description=revops migrate test {unit}
            {after}
            [Service]
            ExecStart=/usr/bin/python3 {app} --port {port} --who systemd
            Restart=always
            RestartSec=0.2
            [Install]
            WantedBy=default.target
            """))
    _write_config(stack)
    _write_compose(stack, base_image)
    _install(stack)
    subprocess.run([sys.executable, "-m", "revops", "inventory", "scan", "--no-live"], cwd=root,
                   check=True, capture_output=True, timeout=120)
    return stack


def _write_config(stack: MiniStack) -> None:
    doc = {
        "host": {"root": ".", "unit_dirs": ["etc/systemd/system"], "venv_search": ["opt"]},
        "systemd": {"bus": "user"},
        "suites": {"core": {"phase": 1, "units": list(stack.units)}},
        "health": {"interval": "1s", "timeout": "2s", "retries": 3, "start_period": "1s"},
        "paths": {"compose": f"compose-mg{stack.tag}"},
    }
    (stack.root / "revops.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _write_compose(stack: MiniStack, base_image: str) -> None:
    services = {}
    for unit, port in stack.units.items():
        probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=2)"
        services[stack.service(unit)] = {
            "image": base_image,
            "command": ["python3", "/app/app.py", "--port", str(port), "--bind", "0.0.0.0", "--who", "container"],
            "volumes": [f"{stack.root / 'opt' / 'mgapp'}:/app:ro"],
            "ports": [f"127.0.0.1:{port}:{port}"],
            "labels": {"revops.unit": unit, "revops.suite": "core", "revops.phase": "1", "revops.managed": "true"},
            "healthcheck": {"test": ["CMD", "python3", "-c", probe], "interval": "1s", "timeout": "2s",
                            "retries": 3, "start_period": "1s"},
        }
    directory = stack.root / f"compose-mg{stack.tag}"
    directory.mkdir()
    (directory / "docker-compose.yml").write_text(yaml.safe_dump({"version": "2.4", "services": services},
                                                                 sort_keys=False))


def _install(stack: MiniStack) -> None:
    stack.unit_dir.mkdir(parents=True, exist_ok=True)
    for unit in stack.units:
        link = stack.unit_dir / unit
        if link.is_symlink():
            link.unlink()
        os.symlink(stack.root / "etc" / "systemd" / "system" / unit, link)
    manager = systemd.connect("user")
    manager.reload()
    manager.enable(list(stack.units))
    for unit in stack.units:
        manager.start(unit, 30)


def tear_down(stack: MiniStack) -> None:
    files = sorted(str(p) for p in (stack.root / f"compose-mg{stack.tag}").glob("*.yml"))
    if files:
        try:
            compose.connect(cwd=stack.root).run(files, "down", "--remove-orphans")
        except Exception as exc:  # keep tearing down the rest
            print(f"compose down: {exc}", file=sys.stderr)
    manager = systemd.connect("user")
    for unit in stack.units:
        try:
            manager.unmask([unit])
        except Exception:
            pass
        try:
            manager.stop(unit, 30)
        except Exception:
            pass
    try:
        manager.disable(list(stack.units))
    except Exception:
        pass
    for unit in stack.units:
        link = stack.unit_dir / unit
        if link.is_symlink():
            link.unlink()
    manager.reload()
    for unit in stack.units:
        try:
            manager.reset_failed(unit)
        except Exception:
            pass
