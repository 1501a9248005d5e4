"""`revops status` against the test bed: its figures match what systemd, the engine and the
endpoints say, and a dead engine makes container figures UNAVAILABLE while systemd's stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote

import pytest

from revops.adapters import http
from revops.adapters.ledger import open_ledger

import status_stack
from status_stack import docker_inspect, unit_properties

pytestmark = pytest.mark.realstack


@pytest.fixture(scope="module")
def stack(testbed, tmp_path_factory):
    built = status_stack.new(tmp_path_factory.mktemp("status-stack"), testbed.user_unit_dir)
    try:
        status_stack.build(built, testbed.base_image)
        _record_migrated(built)
        _wait_ready(built)
        yield built
    finally:
        status_stack.tear_down(built)


def _record_migrated(stack):
    ledger = open_ledger(f"sqlite:///{stack.root / '.revops' / 'ledger.sqlite'}")
    try:
        ledger.set_service_state(stack.name("moved"), "migrated", None)
    finally:
        ledger.close()


def _wait_ready(stack, deadline: float = 60.0):
    ok = f"http://127.0.0.1:{stack.ports['ok']}/health"
    assert http.wait_healthy(ok, 20).healthy
    end = time.monotonic() + deadline
    while docker_inspect(stack.container)["State"].get("Health", {}).get("Status") != "healthy":
        assert time.monotonic() < end, "container never became healthy"
        time.sleep(0.5)
    while int(unit_properties(stack.name("loop"))["NRestarts"]) < 1:
        assert time.monotonic() < end, "the loop unit never restarted"
        time.sleep(0.3)


@pytest.fixture
def env():
    # The ledger of this stack is its SQLite file, whatever the caller's environment says.
    return {"REVOPS_DATABASE_URL": ""}


def _by_name(doc):
    return {svc["name"]: svc for svc in doc["services"]}


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_systemd_figures_match_systemctl(stack, env):
    before = {n: unit_properties(n) for n in stack.units}
    code, doc = stack.status_json(env=env)
    after = {n: unit_properties(n) for n in stack.units}
    services = _by_name(doc)
    assert code == 1  # stopped and loop are down
    for name in (stack.name("ok"), stack.name("stopped")):
        fig = services[name]["systemd"]
        assert fig["provenance"] == "LIVE"
        for key, prop in (("load_state", "LoadState"), ("active_state", "ActiveState"),
                          ("sub_state", "SubState"), ("unit_file_state", "UnitFileState")):
            assert fig[key] == after[name][prop] == before[name][prop], (name, key)
        assert fig["n_restarts"] == int(after[name]["NRestarts"])
    assert services[stack.name("ok")]["systemd"]["unit_file_state"] == "enabled"
    assert services[stack.name("ok")]["systemd"]["main_pid"] == int(after[stack.name("ok")]["MainPID"])
    loop = services[stack.name("loop")]["systemd"]
    name = stack.name("loop")
    assert int(before[name]["NRestarts"]) <= loop["n_restarts"] <= int(after[name]["NRestarts"])
    # A crash loop passes through these states within milliseconds; any one may be read.
    looping = {("activating", "auto-restart"), ("activating", "start"), ("active", "running"),
               ("failed", "failed"), ("deactivating", "stop-sigterm")}
    assert (loop["active_state"], loop["sub_state"]) in looping
    assert (before[name]["ActiveState"], before[name]["SubState"]) in looping


def test_verdicts_and_placement(stack, env):
    _, doc = stack.status_json(env=env)
    s = _by_name(doc)
    ok, loop, stopped, moved = (s[stack.name(x)] for x in ("ok", "loop", "stopped", "moved"))
    assert (ok["verdict"], ok["placement"], ok["flags"]) == ("healthy", "systemd", [])
    assert (moved["verdict"], moved["placement"]) == ("healthy", "docker")
    assert moved["migration"]["state"] == "migrated" and moved["migration"]["provenance"] == "CACHED"
    assert ok["migration"]["state"] == "never-migrated"
    assert stopped["verdict"] == "down" and "runs-under-neither" in stopped["flags"]
    assert stopped["health"]["state"] == "unhealthy" and stopped["health"]["reason"] == "connection refused"
    assert loop["health"]["provenance"] == "UNAVAILABLE"  # no port: nothing to probe
    if (loop["systemd"]["active_state"], loop["systemd"]["sub_state"]) == ("activating", "auto-restart"):
        assert loop["verdict"] == "down" and "crash-looping" in loop["flags"]
    else:  # read in the few milliseconds its process lives
        assert loop["systemd"]["n_restarts"] >= 1
    twin = s[stack.name("twin")]
    assert (twin["verdict"], twin["placement"]) == ("degraded", "both")
    assert "runs-under-both" in twin["flags"]
    assert doc["summary"]["runs_under_both"] == [stack.name("twin")]
    assert doc["summary"]["runs_under_neither"] == [stack.name("stopped")]
    phase = doc["summary"]["phases"][0]
    loop_down = loop["verdict"] == "down"
    assert (phase["healthy"], phase["degraded"], phase["down"], phase["unknown"]) == \
        (2 + (not loop_down), 1, 1 + loop_down, 0)


def test_container_figures_match_docker_inspect(stack, env):
    _, doc = stack.status_json(env=env)
    fig = _by_name(doc)[stack.name("moved")]["container"]
    seen = docker_inspect(stack.container)
    assert fig["provenance"] == "LIVE" and fig["present"] is True
    assert fig["name"] == seen["Name"].lstrip("/")
    assert seen["Id"].startswith(fig["id"])
    assert fig["state"] == seen["State"]["Status"] == "running"
    assert fig["health"] == seen["State"]["Health"]["Status"] == "healthy"
    assert fig["restart_count"] == seen["RestartCount"]
    assert fig["image"] == seen["Config"]["Image"]
    for name in (stack.name("ok"), stack.name("loop")):
        absent = _by_name(doc)[name]["container"]
        assert absent["provenance"] == "LIVE" and absent["present"] is False
    twin = _by_name(doc)[stack.name("twin")]["container"]
    assert twin["name"] == f"{stack.prefix}-twin" and twin["running"] is True


def test_health_figures_match_the_endpoints(stack, env):
    _, doc = stack.status_json(env=env)
    for short in ("ok", "moved"):
        fig = _by_name(doc)[stack.name(short)]["health"]
        url = f"http://127.0.0.1:{stack.ports[short]}/health"
        assert fig["url"] == url
        assert (fig["state"], fig["provenance"]) == ("healthy", "LIVE")
        assert fig["status_code"] == _get(url) == 200
        assert fig["latency_ms"] is not None and fig["checked_at"]


def test_dead_engine_gives_unavailable_containers_and_keeps_systemd(stack, env, tmp_path):
    dead = {**env, "DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}"}
    code, doc = stack.status_json(env=dead)
    s = _by_name(doc)
    assert code == 1
    docker_source = next(src for src in doc["sources"] if src["name"] == "docker")
    assert docker_source["provenance"] == "UNAVAILABLE" and docker_source["reason"]
    for svc in s.values():
        assert svc["container"]["provenance"] == "UNAVAILABLE"
        assert svc["container"]["reason"] == docker_source["reason"]
        assert svc["container"]["running"] is None and svc["container"]["present"] is None
        assert svc["systemd"]["provenance"] == "LIVE"
    ok = s[stack.name("ok")]
    assert ok["systemd"]["active_state"] == unit_properties(stack.name("ok"))["ActiveState"] == "active"
    assert ok["verdict"] == "healthy"  # it answers /health under systemd
    moved = s[stack.name("moved")]
    assert moved["health"]["state"] == "healthy"  # the endpoint still answers
    assert moved["placement"] == "unknown"  # nobody can say where it runs


def test_filter_to_a_healthy_service_exits_0(stack, env):
    code, doc = stack.status_json("--service", stack.name("ok"), env=env)
    assert code == 0
    assert [svc["name"] for svc in doc["services"]] == [stack.name("ok")]


def test_prometheus_and_text_on_the_real_stack(stack, env):
    done = stack.revops("status", "--format", "prometheus", env=env)
    assert done.returncode == 1
    line = (f'revops_service_healthy{{service="{stack.name("ok")}",suite="core",phase="1"}} 1')
    assert line in done.stdout.splitlines()
    assert 'revops_source_up{source="docker"} 1' in done.stdout
    text = stack.revops("status", "--phase", "1", env=env)
    assert stack.name("ok") in text.stdout and "NOT OK" in text.stdout


def test_no_ledger_is_created(stack, env, tmp_path):
    missing = tmp_path / "ledger.sqlite"
    code, doc = stack.status_json(env={"REVOPS_DATABASE_URL": f"sqlite:///{missing}"})
    assert not missing.exists()
    assert _by_name(doc)[stack.name("moved")]["migration"]["state"] == "never-migrated"


def test_watch_redraws_until_ctrl_c_then_exits_130(stack, env):
    argv = [sys.executable, "-m", "revops", "status", "--watch", "--interval", "0.5", "--config", str(stack.config)]
    child = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        seen = ""
        while seen.count("revops status ·") < 2:  # two readings printed: it refreshes
            assert time.monotonic() < deadline and child.poll() is None, seen
            seen += child.stdout.readline()
        child.send_signal(signal.SIGINT)
        rest, err = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130
    assert "Traceback" not in err
    assert stack.name("ok") in seen


def test_dead_bus_gives_unavailable_systemd_and_keeps_containers(stack, env, tmp_path):
    dead = {**env, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    code, doc = stack.status_json(env=dead)
    s = _by_name(doc)
    assert code == 1
    bus_source = next(src for src in doc["sources"] if src["name"] == "systemd")
    assert bus_source["provenance"] == "UNAVAILABLE" and "Could not connect" in bus_source["reason"]
    for svc in s.values():
        assert svc["systemd"]["provenance"] == "UNAVAILABLE"
        assert svc["systemd"]["active_state"] is None and svc["systemd"]["n_restarts"] is None
        assert svc["systemd"]["reason"] == bus_source["reason"]
    moved = s[stack.name("moved")]
    assert moved["container"]["provenance"] == "LIVE" and moved["container"]["running"] is True
    assert moved["placement"] == "unknown"  # it may run under systemd too: nobody can tell
    assert s[stack.name("ok")]["verdict"] == "healthy"  # its /health answered
    assert s[stack.name("loop")]["verdict"] == "unknown"  # no port, no bus: nobody can tell


@pytest.fixture
def postgres_ledger_url(testbed):
    import psycopg  # test set-up only: a private schema in the shared throwaway cluster

    schema = f"revops_status_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(testbed.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    joiner = "&" if "?" in testbed.database_url else "?"
    yield f"{testbed.database_url}{joiner}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(testbed.database_url, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_migration_state_from_a_postgresql_ledger_is_cached_with_its_time(stack, postgres_ledger_url):
    ledger = open_ledger(postgres_ledger_url)
    try:
        ledger.set_service_state(stack.name("ok"), "rolled-back", None, "smoke test failed")
        record = ledger.service_states()[stack.name("ok")]
    finally:
        ledger.close()
    _, doc = stack.status_json(env={"REVOPS_DATABASE_URL": postgres_ledger_url})
    fig = _by_name(doc)[stack.name("ok")]["migration"]
    assert (fig["state"], fig["provenance"]) == ("rolled-back", "CACHED")
    assert fig["checked_at"] == record.updated_at and fig["reason"] == "smoke test failed"
    other = _by_name(doc)[stack.name("stopped")]["migration"]
    assert (other["state"], other["provenance"]) == ("never-migrated", "LIVE")
