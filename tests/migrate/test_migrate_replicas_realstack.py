"""A template's numbered instances through the whole pipeline on the test bed: two instances of
a template unit, whose script lies outside its WorkingDirectory, run under the systemd user manager; inventory, lock, generate (one replicated
compose service), build, then `migrate` cuts the group over; `revops status --json` shows each
instance with its own replica's container; `rollback` of one instance puts the group back.

A throwaway host of our own (unique unit names, its own compose project and network), its
files under a temporary directory read with `host.root: /`, as systemd reads the unit's paths.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from revops import config as config_mod
from revops.adapters import compose, docker_engine, systemd
from revops.commands import migrate, rollback

import ministack

pytestmark = pytest.mark.realstack

INSTANCES = (1, 2)
NUMBER_LABEL = "com.docker.compose.container-number"

# A queue consumer: says which queue it took (the instance's %i), idles, stops at once on SIGTERM.
WORKER = '''\
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("consuming", sys.argv[sys.argv.index("--queue") + 1], flush=True)
while True:
    time.sleep(1)
'''


class Host:
    def __init__(self, root: Path, tag: str):
        self.root, self.tag = root, tag
        self.template = f"revops-test-rep{tag}@.service"
        self.instances = [f"revops-test-rep{tag}@{n}.service" for n in INSTANCES]
        self.unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"

    @property
    def config(self) -> config_mod.Config:
        return config_mod.load(self.root / "revops.yaml")

    @property
    def compose_dir(self) -> Path:
        return self.root / f"compose-rep{self.tag}"

    def replicas(self) -> list:
        """This host's containers of the template (newest first), running or not."""
        return docker_engine.connect().list_containers([f"revops.unit={self.template}",
                                                        f"com.docker.compose.project.working_dir={self.compose_dir}"])

    def unit_states(self) -> dict:
        return systemd.connect("user").states(self.instances)


def revops(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "revops", *args], cwd=root, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"revops {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _write(host: Host, base_image: str) -> None:
    code = host.root / "opt" / "repworker"
    code.mkdir(parents=True)
    # The worker is a shared launcher beside the code dir, not in it (as the live example
    # host's APIs run lightapp.py): the image holds it only if build copies it there.
    (host.root / "opt" / "worker.py").write_text(WORKER)
    (code / "requirements.txt").write_text("idna==3.10\n")  # a suite's lock needs a requirement
    units = host.root / "etc" / "systemd" / "system"
    (units / "default.target.wants").mkdir(parents=True)
    (units / host.template).write_text(textwrap.dedent(f"""\
        [Unit]
        Description=revops replicas test worker %i
        [Service]
        ExecStart=/usr/bin/python3 {host.root / 'opt' / 'worker.py'} --queue q-%i
        WorkingDirectory={code}
        Restart=always
        RestartSec=0.2
        [Install]
        WantedBy=default.target
        """))
    for name in host.instances:  # enabled instances, as `systemctl enable` links them
        (units / "default.target.wants" / name).symlink_to(f"../{host.template}")
    rel = host.root.relative_to("/")
    doc = {
        "host": {"root": "/", "unit_dirs": [str(rel / "etc/systemd/system")], "venv_search": [str(rel / "opt")]},
        "systemd": {"bus": "user"},
        "suites": {"core": {"phase": 1, "units": [host.template]}},
        "image": {"base": base_image},
        "network": f"revops-rep{host.tag}",
        "health": {"interval": "1s", "timeout": "2s", "retries": 3, "start_period": "1s"},
        "paths": {"compose": host.compose_dir.name},
    }
    (host.root / "revops.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _tear_down(host: Host) -> None:
    files = sorted(str(p) for p in host.compose_dir.glob("*.yml"))
    if files:
        compose.connect(cwd=host.root).run(files, "down", "--remove-orphans", "-t", "1", check=False)
    ministack.release_units(host.unit_dir, [host.template], host.instances)


@pytest.fixture(scope="module")
def host(testbed):
    os.environ.pop("REVOPS_DATABASE_URL", None)  # this host's own SQLite ledger
    tag = uuid.uuid4().hex[:6]
    # Not pytest's tmp_path: its digits would sit in the unit's paths (they may, since
    # generate keeps a word every instance shares; a plain directory keeps the test's logs plain).
    root = Path(f"/tmp/revops-rep-{tag}")
    root.mkdir()
    made = Host(root, tag)
    try:
        _write(made, testbed.base_image)
        ministack.install_units(made.unit_dir, [root / "etc" / "systemd" / "system" / made.template],
                                made.instances)
        revops(root, "inventory", "scan")
        revops(root, "lock", "--suite", "core", "--offline", "--find-links", os.environ["REVOPS_WHEELHOUSE"])
        revops(root, "generate")
        revops(root, "build", "--suite", "core", "--find-links", os.environ["REVOPS_WHEELHOUSE"])
        yield made
    finally:
        _tear_down(made)
        shutil.rmtree(root, ignore_errors=True)


def test_1_generate_made_one_replicated_service_of_the_instances(host):
    doc = yaml.safe_load((host.compose_dir / "core.yml").read_text())
    [(name, svc)] = doc["services"].items()
    assert name == f"revops-test-rep{host.tag}"
    assert svc["deploy"] == {"replicas": len(INSTANCES)} and svc["labels"]["revops.unit"] == host.template
    assert svc["command"][-3:] == [str(host.root / "opt" / "worker.py"), "--queue", "q-%i"]
    dockerfile = (host.compose_dir / "core" / "Dockerfile").read_text()
    assert f'COPY [".stage/scripts/{name}/1", "{host.root}/opt/worker.py"]' in dockerfile, dockerfile
    assert {n: s.active_state for n, s in host.unit_states().items()} == dict.fromkeys(host.instances, "active")


def test_2_migrate_cuts_the_group_over_each_replica_with_its_number(host):
    result = migrate.run(host.config, 1, yes=True)
    assert result.exit_code == 0, [(r.unit, r.outcome, r.reason) for r in result.services]
    assert [(r.unit, r.outcome) for r in result.services] == [(host.template, "migrated")]
    for name, state in host.unit_states().items():
        assert state.active_state == "inactive" and state.unit_file_state != "enabled", (name, state)
    engine = docker_engine.connect()
    running = [c for c in host.replicas() if c.state == "running"]
    assert sorted(int(c.labels[NUMBER_LABEL]) for c in running) == list(INSTANCES)
    for c in running:
        said = _said(engine, c.id)
        assert said == [f"consuming q-{c.labels[NUMBER_LABEL]}"], (c.name, said)


def _said(engine, cid: str, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    lines = engine.logs_tail(cid)
    while not lines and time.monotonic() < deadline:
        time.sleep(0.3)
        lines = engine.logs_tail(cid)
    return lines


def test_3_status_shows_each_instance_with_its_own_replica_live(host):
    done = subprocess.run([sys.executable, "-m", "revops", "status", "--json"], cwd=host.root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    services = {s["name"]: s for s in json.loads(done.stdout)["services"]}
    ids = {int(c.labels[NUMBER_LABEL]): c.id[:12] for c in host.replicas() if c.state == "running"}
    for n, name in zip(INSTANCES, host.instances):
        ctr = services[name]["container"]
        assert (ctr["provenance"], ctr["present"], ctr["running"]) == ("LIVE", True, True), ctr
        assert (ctr["replica"], ctr["id"], ctr["replica_of"]) == (n, ids[n], host.template)
        assert (ctr["replicas"], ctr["extra_replicas"]) == (list(INSTANCES), [])
        assert services[name]["placement"] == "docker" and services[name]["migration"]["state"] == "migrated"
        assert "not-where-ledger-says" not in services[name]["flags"]


def test_4_rollback_of_one_instance_puts_the_whole_group_back(host):
    result = rollback.run(host.config, [host.instances[0]], None, yes=True)
    assert result.exit_code == 0, result.results
    assert host.replicas() == []
    for name, state in host.unit_states().items():
        assert state.active_state == "active" and state.unit_file_state == "enabled", (name, state)
