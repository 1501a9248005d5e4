"""`revops stabilize` on the live example host: the real user manager (D-Bus), real venvs
built by pip from the test bed's wheelhouse, real /health. The host is brought up once for
the module; the tests run in order and every drop-in is put away at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from revops import config as config_mod
from revops.adapters import http, systemd
from revops.adapters.ledger import open_ledger
from revops.example_host import live

pytestmark = pytest.mark.realstack

REVWINS = "revflow-revwins.service"
API = {"revcore-gateway.service": 8004, "revpublish.service": 8550, "revaudit-v6.service": 8560,
       "revscore-iq.service": 8570}
DAEMONS = [REVWINS, "revpublish-worker.service", "revscore-iq-worker.service", *API]
DROPIN = "50-revops-stabilize.conf"


def revops(directory: Path, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "revops", *args], cwd=directory, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"revops {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def wheels() -> list[str]:
    return ["--offline", "--find-links", os.environ["REVOPS_WHEELHOUSE"]]


@pytest.fixture(scope="module")
def host(testbed, tmp_path_factory):
    root = tmp_path_factory.mktemp("stabilize-live")
    os.environ.pop("REVOPS_DATABASE_URL", None)  # this host's own SQLite ledger
    revops(root, "example-host", str(root), "--live")
    try:
        path = root / "revops.yaml"
        doc = yaml.safe_load(path.read_text())
        # revflow-revwins (its venv's interpreter is gone) belongs to no suite on the example
        # host: here it joins core, whose lock then covers it.
        doc["suites"]["core"]["units"].append(REVWINS)
        doc["stabilize"] = {"path": f"{root}/opt/revflow-os/suite-venvs", "settle": "3s", "timeout": "60s"}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        revops(root, "inventory", "scan")
        revops(root, "lock", "--suite", "core", *wheels())
        yield root
    finally:
        revops(root, "stabilize", "--undo", "--yes", check=False)
        for leftover in systemd.user_unit_dir().glob(f"*.d/{DROPIN}"):
            leftover.unlink()
        live.teardown(root)


def states(names):
    return systemd.connect("user").states(list(names))


def exec_start(unit: str) -> list[str]:
    command = systemd.connect("user").exec_start(unit)[0]
    return [command.path, *command.argv[1:]]


def answers(url: str, within: float) -> int | None:
    """The first /health status code within `within` seconds (None if nothing answered)."""
    deadline = time.monotonic() + within
    while (code := http.probe(url, 5).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(1)
    return code


def results(done: subprocess.CompletedProcess) -> dict[str, dict]:
    return {r["unit"]: r for r in json.loads(done.stdout)["results"]}


def suite_venv(host: Path) -> Path:
    (venv,) = (host / "opt/revflow-os/suite-venvs").iterdir()
    return venv


def test_stabilize_runs_revwins_healthy_and_restart_counts_do_not_grow(host):
    assert states([REVWINS])[REVWINS].active_state in ("activating", "failed")  # its interpreter is gone
    dry = revops(host, "stabilize", "--suite", "core", "--dry-run")
    assert "old ExecStart=" in dry.stdout and "new ExecStart=" in dry.stdout
    assert not list(systemd.user_unit_dir().glob(f"*.d/{DROPIN}"))  # a dry run writes nothing
    done = revops(host, "stabilize", "--suite", "core", "--yes", "--json", *wheels())
    got = results(done)
    assert all(r["ok"] for r in got.values()), got
    venv = suite_venv(host)
    assert not [p for p in venv.parent.iterdir() if p.name.startswith(".")]  # no scratch venv left
    assert exec_start(REVWINS)[0] == f"{venv}/bin/python"
    assert exec_start("revpublish.service")[0] == f"{venv}/bin/uvicorn"
    assert (venv / "bin/uvicorn").read_text().splitlines()[0].startswith(f"#!{venv}/bin/python")
    for unit, port in API.items():
        assert http.probe(f"http://127.0.0.1:{port}/health", 5).status_code == 200, unit
    first = states(DAEMONS)
    assert {u: s.active_state for u, s in first.items()} == dict.fromkeys(DAEMONS, "active")
    time.sleep(8)  # a settle period: restart loops would count up
    later = states(DAEMONS)
    assert {u: (s.active_state, s.n_restarts, s.main_pid) for u, s in later.items()} == {
        u: ("active", s.n_restarts, s.main_pid) for u, s in first.items()}
    doc = json.loads(done.stdout)
    assert doc["duplicates"] and any(g["replaced"] for g in doc["duplicates"])
    ledger = open_ledger(config_mod.load(host / "revops.yaml").database_url)
    try:
        assert ledger.repoints("stabilize")[REVWINS].state == "repointed"
        assert ledger.open_steps() == []
    finally:
        ledger.close()


def test_kill_9_between_the_drop_in_and_the_gate_then_the_next_run_settles_the_unit(host):
    unit = "revpublish-worker.service"
    revops(host, "stabilize", "--undo", unit, "--yes")
    dropin = systemd.user_unit_dir() / f"{unit}.d" / DROPIN
    assert not dropin.exists()
    child = subprocess.Popen([sys.executable, "-m", "revops", "stabilize", unit, "--yes", *wheels()],
                             cwd=host, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not dropin.exists():
        assert child.poll() is None, "stabilize ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    url = config_mod.load(host / "revops.yaml").database_url
    ledger = open_ledger(url)
    try:
        assert ledger.repoints("stabilize")[unit].state == "repointing"  # the ledger knows it was cut short
        assert ledger.open_steps(unit)
    finally:
        ledger.close()
    again = revops(host, "stabilize", unit, "--yes", "--json", *wheels())
    assert results(again)[unit]["ok"], again.stdout
    ledger = open_ledger(url)
    try:
        assert ledger.repoints("stabilize")[unit].state == "repointed"
        assert ledger.open_steps() == []
    finally:
        ledger.close()
    assert exec_start(unit)[0] == f"{suite_venv(host)}/bin/python"
    assert states([unit])[unit].active_state == "active"


def test_undo_puts_every_drop_in_away_and_the_units_run_as_before(host):
    revops(host, "stabilize", "--undo", "--yes")
    assert not list(systemd.user_unit_dir().glob(f"*.d/{DROPIN}"))
    assert exec_start(REVWINS)[0] == f"{host}/opt/revflow-os/modules/revflow-revwins/venv/bin/python"
    # Failing as before: its interpreter is gone, so each start ends in exec's 203/EXEC. A
    # Type=simple unit shows active/running for the instant between fork and exec, so the
    # state alone is racy; the exit status of the main process is not.
    deadline = time.monotonic() + 20
    while (now := states([REVWINS])[REVWINS]).exec_main_status != 203 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert now.exec_main_status == 203, now
    assert now.result != "success", now
    assert exec_start("revpublish.service")[0] == f"{host}/opt/revflow-os/modules/revpublish/venv/bin/uvicorn"
    for unit, port in API.items():  # restarted on their own venvs: each answers once it has started
        assert answers(f"http://127.0.0.1:{port}/health", within=60) == 200, unit
    assert suite_venv(host).is_dir()  # suite venvs stay until cleanup


def _own_site_packages(host: Path, module: str) -> Path:
    (site,) = (host / f"opt/revflow-os/modules/{module}/venv/lib").glob("python3*/site-packages")
    return site


def test_a_suite_venv_that_cannot_serve_one_app_leaves_that_unit_alone_and_exits_1(host):
    # revpublish imports a module its own venv has and the suite venv lacks: the proof catches
    # it, the unit is never repointed. revaudit-v6 needs one only in /health: its gate fails
    # on the suite venv, and it is put back and restarted on its own venv.
    (_own_site_packages(host, "revpublish") / "revpublish_extra.py").write_text("EXTRA = 1\n")
    app = host / "opt/revflow-os/modules/revpublish/app.py"
    app.write_text("import revpublish_extra  # noqa: F401\n" + app.read_text())
    (_own_site_packages(host, "revaudit-v6") / "revaudit_extra.py").write_text("EXTRA = 1\n")
    audit = host / "opt/revflow-os/modules/revaudit-v6/app.py"
    audit.write_text(audit.read_text().replace("def health():\n", "def health():\n    import revaudit_extra  # noqa: F401\n"))
    done = revops(host, "stabilize", "--suite", "core", "--yes", "--json", *wheels(), check=False)
    assert done.returncode == 1, done.stderr
    got = results(done)
    assert got["revpublish.service"]["action"] == "not repointed"
    assert "does not import" in got["revpublish.service"]["detail"] and "revpublish_extra" in got["revpublish.service"]["detail"]
    assert got["revaudit-v6.service"]["action"] == "put back" and "/health" in got["revaudit-v6.service"]["detail"]
    assert [u for u, r in got.items() if not r["ok"]] == ["revaudit-v6.service", "revpublish.service"]
    assert got[REVWINS]["ok"] and exec_start(REVWINS)[0].startswith(str(suite_venv(host)))
    assert not (systemd.user_unit_dir() / "revaudit-v6.service.d" / DROPIN).exists()
    assert exec_start("revaudit-v6.service")[0].endswith("/modules/revaudit-v6/venv/bin/uvicorn")
    assert http.probe("http://127.0.0.1:8560/health", 5).status_code == 200  # as it was
    assert http.probe("http://127.0.0.1:8550/health", 5).status_code == 200
