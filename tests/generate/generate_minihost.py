"""A small ops repo made by hand: revops.yaml, an inventory and a lock, plus module code.

It stands in for `revops example-host` + `inventory scan` + `lock` where a test needs only a
few units, and keeps generate's tests independent of the other verbs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

MODULES = "/opt/revflow-os/modules"
ENV_FILE = "/opt/shared-api-engine/.env"

CONFIG = """\
host:
  root: .
suites:
  core:
    phase: 1
    units: [revcore-gateway.service, revpublish.service, revpublish-worker.service, revaudit-v6-nightly.service]
    memory: 256m
    cpus: 0.5
  lead-gen:
    phase: 2
    units: ["revprospect*.service"]
deprecated: [revaudit.service]
image:
  base: {base}
"""

APP = textwrap.dedent('''\
    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/health")
    def health():
        return {"status": "ok"}
''')

WORKER = "import time\n\nwhile True:\n    time.sleep(60)\n"


def api_unit(name: str, port: int, suite: str, phase: int, bind: str = "0.0.0.0", **extra) -> dict:
    stem = name[: -len(".service")]
    unit = {
        "name": name, "path": f"etc/systemd/system/{name}",
        "exec_start": [[f"{MODULES}/{stem}/venv/bin/uvicorn", "app:app", "--host", bind, "--port", str(port)]],
        "working_directory": f"{MODULES}/{stem}", "user": "revflow", "environment_files": [ENV_FILE],
        "restart": "always", "port": port, "venv": f"{MODULES}/{stem}/venv", "suite": suite, "phase": phase,
    }
    unit.update(extra)
    return unit


def worker_unit(name: str, suite: str, phase: int, **extra) -> dict:
    stem = name[: -len(".service")]
    unit = {
        "name": name, "path": f"etc/systemd/system/{name}",
        "exec_start": [[f"{MODULES}/{stem}/venv/bin/python", "worker.py", "--queue", stem]],
        "working_directory": f"{MODULES}/{stem}", "user": "revflow", "environment_files": [ENV_FILE],
        "restart": "on-failure", "venv": f"{MODULES}/{stem}/venv", "suite": suite, "phase": phase,
    }
    unit.update(extra)
    return unit


def default_units() -> list[dict]:
    return [
        api_unit("revcore-gateway.service", 8004, "core", 1, cpu_quota="150%"),
        api_unit("revpublish.service", 8550, "core", 1, after=["network.target", "revcore-gateway.service"],
                 requires=["revcore-gateway.service"], memory_max="768M",
                 environment={"PUBLISH_BATCH": "50", "PUBLISH_API_TOKEN": "not-for-compose"}),
        worker_unit("revpublish-worker.service", "core", 1, after=["revpublish.service"]),
        worker_unit("revaudit-v6-nightly.service", "core", 1, service_type="oneshot", restart=None),
        api_unit("revaudit.service", 8500, None, None, deprecated=True),
        api_unit("revprospect.service", 8601, "lead-gen", 2, after=["revcore-gateway.service"]),
        api_unit("revflow-chatbot.service", 8700, None, None),
    ]


def write(root: Path, units: list[dict] | None = None, base: str = "revflow/python-base:latest",
          locks: dict[str, str] | None = None) -> Path:
    """Write the ops repo under root; returns the path of its revops.yaml."""
    units = default_units() if units is None else units
    (root / "inventory").mkdir(parents=True, exist_ok=True)
    (root / "inventory/units.yaml").write_text(yaml.safe_dump(
        {"root": "/", "scanned_at": "2026-01-01T00:00:00+00:00", "units": units}, sort_keys=True))
    (root / "inventory/venvs.yaml").write_text(yaml.safe_dump({"venvs": []}))
    (root / "lockfiles").mkdir(exist_ok=True)
    for suite, text in (locks if locks is not None else {"core": "fastapi==0.115.12\n", "lead-gen": "x==1\n"}).items():
        (root / "lockfiles" / f"{suite}.txt").write_text(text)
    env = root / ENV_FILE.lstrip("/")
    env.parent.mkdir(parents=True, exist_ok=True)
    env.write_text("DATABASE_PASSWORD=fake-secret-value\n")
    for unit in units:
        code = root / unit["working_directory"].lstrip("/")
        code.mkdir(parents=True, exist_ok=True)
        (code / ("app.py" if unit.get("port") else "worker.py")).write_text(APP if unit.get("port") else WORKER)
        (code / "venv/bin").mkdir(parents=True, exist_ok=True)
        (code / "venv/pyvenv.cfg").write_text("home = /usr/bin\n")
    config = root / "revops.yaml"
    config.write_text(CONFIG.format(base=base))
    return config
