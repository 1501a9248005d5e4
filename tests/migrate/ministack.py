"""A small host of our own on the test bed: unique unit names, free ports, a stdlib /health
app run by systemd (user manager) and by a container of the base image (or of an image the
test built), stdlib workers with no port, and a hand-written compose file labelled as generate
labels it. It lets the cutover run for real beside other tests without touching the shared
example host's fixed names and ports.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from revops import config as config_mod
from revops.adapters import compose, docker_engine, systemd
from revops.migrate import wiring
from revops.migrate.host import LiveHost, port_free

APP = '''\
import argparse, http.server, importlib, json, time
p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--bind", default="127.0.0.1")
p.add_argument("--who")
p.add_argument("--require")  # a module the app cannot start without
p.add_argument("--delay", type=float, default=0.0)  # seconds before it listens (a slow start)
a = p.parse_args()
if a.require:
    importlib.import_module(a.require)
time.sleep(a.delay)
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


# A queue consumer: idles, and stops at once on SIGTERM. WORKER_REQUIRING imports `idna` at its
# top level, as a worker imports what it needs (the container's copy, when a test asks).
WORKER = '''\
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("consuming", flush=True)
while True:
    time.sleep(1)
'''
WORKER_REQUIRING = "import idna\n" + WORKER


@dataclass
class MiniStack:
    root: Path
    tag: str
    units: dict[str, int]  # API unit -> port, in dependency order
    unit_dir: Path
    workers: list[str] = field(default_factory=list)  # units with no port

    @property
    def all_units(self) -> list[str]:
        return [*self.units, *self.workers]

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


@dataclass(frozen=True)
class ContainerApp:
    """How the containers run the app: `image` (default: the base image, /app mounted),
    `require` (a module the containers' app and workers import), `delay` (seconds the
    containers' app waits before it listens)."""

    image: str | None = None
    require: str | None = None
    delay: float = 0.0


def build(root: Path, base_image: str, count: int = 2, *, after: dict[int, list[int]] | None = None,
          workers: int = 0, app: ContainerApp = ContainerApp()) -> MiniStack:
    """`count` API services and `workers` services with no port. `after` maps the index of an
    API service to those it is After= (default: every one after the first is After= the
    first, as modules sit behind a gateway)."""
    tag = uuid.uuid4().hex[:6]
    names = [f"revops-test-mg{tag}-{chr(ord('a') + i)}.service" for i in range(count)]
    deps = after if after is not None else {i: [0] for i in range(1, count)}
    stack = MiniStack(root, tag, {n: _free_port() for n in names},
                      Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user",
                      [f"revops-test-mg{tag}-w{i + 1}.service" for i in range(workers)])
    code = root / "opt" / "mgapp"
    code.mkdir(parents=True)
    (code / "app.py").write_text(APP)
    (code / "worker.py").write_text(WORKER)
    (code / "worker_requiring.py").write_text(WORKER_REQUIRING)
    unit_files = root / "etc" / "systemd" / "system"
    unit_files.mkdir(parents=True)
    for i, (unit, port) in enumerate(stack.units.items()):
        ordering = "".join(f"After={names[d]}\n" for d in deps.get(i, []))
        _write_unit(unit_files / unit, f"{code / 'app.py'} --port {port} --who systemd", ordering)
    for unit in stack.workers:
        _write_unit(unit_files / unit, str(code / "worker.py"), "")
    _write_config(stack)
    _write_compose(stack, base_image, app)
    _install(stack)
    subprocess.run([sys.executable, "-m", "revops", "inventory", "scan", "--no-live"], cwd=root,
                   check=True, capture_output=True, timeout=120)
    return stack


def _write_unit(path: Path, command: str, ordering: str) -> None:
    path.write_text(textwrap.dedent(f"""\
        [Unit]
        Description=revops migrate test {path.name}
        {ordering}
        [Service]
        ExecStart=/usr/bin/python3 {command}
        Restart=always
        RestartSec=0.2
        [Install]
        WantedBy=default.target
        """))


def _write_config(stack: MiniStack) -> None:
    doc = {
        "host": {"root": ".", "unit_dirs": ["etc/systemd/system"], "venv_search": ["opt"]},
        "systemd": {"bus": "user"},
        "suites": {"core": {"phase": 1, "units": stack.all_units}},
        "health": {"interval": "1s", "timeout": "2s", "retries": 3, "start_period": "1s"},
        "paths": {"compose": f"compose-mg{stack.tag}"},
    }
    (stack.root / "revops.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _write_compose(stack: MiniStack, base_image: str, app: ContainerApp) -> None:
    services = {}
    python = "/opt/venv/bin/python" if app.image else "python3"
    require = ["--require", app.require] if app.require else []
    for unit, port in stack.units.items():
        probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=2)"
        services[stack.service(unit)] = {
            "image": app.image or base_image,
            "command": [python, "/app/app.py", "--port", str(port), "--bind", "0.0.0.0", "--who", "container",
                        *require, "--delay", str(app.delay)],
            "volumes": [f"{stack.root / 'opt' / 'mgapp'}:/app:ro"],
            "ports": [f"127.0.0.1:{port}:{port}"],
            "labels": {"revops.unit": unit, "revops.suite": "core", "revops.phase": "1", "revops.managed": "true"},
            "healthcheck": {"test": ["CMD", "python3", "-c", probe], "interval": "1s", "timeout": "2s",
                            "retries": 3, "start_period": "1s"},
        }
    script = "/app/worker_requiring.py" if app.require else "/app/worker.py"
    alive = "import sys; sys.exit(1 if open('/proc/1/stat').read().split(') ')[1][0] in 'ZX' else 0)"
    for unit in stack.workers:
        services[stack.service(unit)] = {
            "image": app.image or base_image,
            "command": [python, script],
            "volumes": [f"{stack.root / 'opt' / 'mgapp'}:/app:ro"],
            "labels": {"revops.unit": unit, "revops.suite": "core", "revops.phase": "1", "revops.managed": "true"},
            "healthcheck": {"test": ["CMD", "python3", "-c", alive], "interval": "1s", "timeout": "2s",
                            "retries": 3, "start_period": "1s"},
        }
    directory = stack.root / f"compose-mg{stack.tag}"
    directory.mkdir()
    (directory / "docker-compose.yml").write_text(yaml.safe_dump({"version": "2.4", "services": services},
                                                                 sort_keys=False))


def _install(stack: MiniStack) -> None:
    install_units(stack.unit_dir, [stack.root / "etc" / "systemd" / "system" / u for u in stack.all_units],
                  stack.all_units)


def install_units(unit_dir: Path, files: list[Path], started: list[str]) -> None:
    """Link unit `files` into the user manager's unit directory, then enable and start the
    units `started` (names of those files, or instances of a template among them)."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        link = unit_dir / path.name
        if link.is_symlink():
            link.unlink()
        os.symlink(path, link)
    manager = systemd.connect("user")
    manager.reload()
    manager.enable(started)
    for unit in started:
        manager.start(unit, 30)


def tear_down(stack: MiniStack) -> None:
    files = sorted(str(p) for p in (stack.root / f"compose-mg{stack.tag}").glob("*.yml"))
    if files:
        try:
            compose.connect(cwd=stack.root).run(files, "down", "--remove-orphans")
        except Exception as exc:  # keep tearing down the rest
            print(f"compose down: {exc}", file=sys.stderr)
    engine = docker_engine.connect()
    for unit in stack.all_units:  # candidates a killed run may have left
        for found in engine.list_containers(labels=[f"revops.candidate={unit}"]):
            engine.remove(found.id, force=True)
    release_units(stack.unit_dir, stack.all_units, stack.all_units)


def release_units(unit_dir: Path, links: list[str], units: list[str]) -> None:
    """Undo install_units, whatever a test left: each of `units` unmasked, stopped, disabled
    and reset, the `links` removed from the unit directory. Never raises for one unit."""
    manager = systemd.connect("user")
    for unit in units:
        try:
            manager.unmask([unit])
        except Exception:
            pass
        try:
            manager.stop(unit, 30)
        except Exception:
            pass
    try:
        manager.disable(units)
    except Exception:
        pass
    for name in links:
        link = unit_dir / name
        if link.is_symlink():
            link.unlink()
    manager.reload()
    for unit in units:
        try:
            manager.reset_failed(unit)
        except Exception:
            pass
