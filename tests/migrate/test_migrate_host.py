"""LiveHost's own decisions: the port test and whether systemd could start a unit again.

Sockets here are real (a bind test sends no traffic); systemd is a small stand-in answering
`states`, as only the decision on its answer is under test (the real bus: test_migrate_realstack).
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from revops.errors import CheckFailed
from revops.migrate import plan as P
from revops.migrate.host import LiveHost, port_free
from revops.model import Unit

UNREACHABLE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never an address of this machine


def test_a_port_someone_listens_on_is_not_free():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_free("127.0.0.1", port) is False
    assert port_free("127.0.0.1", port) is True


def test_a_bind_error_other_than_in_use_is_a_failed_check_naming_the_address():
    with pytest.raises(CheckFailed) as caught:
        port_free(UNREACHABLE, 8004)
    assert f"{UNREACHABLE}:8004" in caught.value.message
    assert "assign requested address" in caught.value.message


class OneUnitSystemd:
    def __init__(self, load_state: str) -> None:
        self.load_state = load_state

    def states(self, names):
        return {n: SimpleNamespace(load_state=self.load_state, active_state="inactive") for n in names}


def _host_and_plan(make_config, load_state: str, fragment: str | None):
    config = make_config()
    unit = Unit(name="revpublish.service", path=fragment, port=8550)
    host = LiveHost(config, OneUnitSystemd(load_state), engine=None, compose=None, compose_files=[])
    return host, P.service_plan(unit, config, []), config


def test_a_known_unit_can_be_started_again(make_config):
    host, sp, _ = _host_and_plan(make_config, "loaded", None)
    assert host.unit_unloadable(sp) is None


def test_an_unknown_unit_with_its_file_can_be_linked_again(make_config):
    host, sp, config = _host_and_plan(make_config, "not-found", "/etc/systemd/system/revpublish.service")
    path = config.root / "etc/systemd/system/revpublish.service"
    assert "no unit file at" in host.unit_unloadable(sp) and str(path) in host.unit_unloadable(sp)
    path.parent.mkdir(parents=True)
    path.write_text("[Service]\nExecStart=/bin/true\n")
    assert host.unit_unloadable(sp) is None


def test_an_unknown_unit_without_a_file_cannot_be_started(make_config):
    host, sp, _ = _host_and_plan(make_config, "not-found", None)
    assert host.unit_unloadable(sp) == ("revpublish.service: systemd does not know it (LoadState "
                                        "not-found) and no unit file known")


# -- the service's own words never carry its secrets into a reason ----------------------

SECRET = "sk-live-0123456789"


class LeakyEngine:
    """The engine's answers for one running container whose log prints its API key."""

    def container_state(self, _cid):
        return SimpleNamespace(id="c0ffee", name="revpublish-1", status="running", health=None, exit_code=None,
                               restart_count=0, labels={})

    def logs_tail(self, _cid, _lines):
        return ["starting", f"auth failed with API_KEY {SECRET} against the gateway"]


class OneContainerCompose:
    def ps(self, _files, _service):
        return ["c0ffee"]


@pytest.fixture
def leaky_answer():
    """A /health on 127.0.0.1 that answers 500 with the secret in its body."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f'{{"error": "bad key {SECRET}"}}'.encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _leaky_host(make_config, tmp_path, port, env_text):
    config = make_config()
    if env_text is not None:
        (tmp_path / "opt").mkdir()
        (tmp_path / "opt" / ".env").write_text(env_text)
    compose_file = tmp_path / "compose" / "docker-compose.yml"
    compose_file.parent.mkdir()
    compose_file.write_text(
        "services:\n  revpublish:\n    image: revflow/revpublish:1\n    env_file: [../opt/.env]\n"
        "    labels: {revops.unit: revpublish.service}\n")
    host = LiveHost(config, OneUnitSystemd("loaded"), engine=LeakyEngine(), compose=OneContainerCompose(),
                    compose_files=[str(compose_file)])
    sp = P.service_plan(Unit(name="revpublish.service", path=None, port=port), config, [str(compose_file)])
    return host, sp


def test_log_lines_and_health_bodies_are_shown_without_env_file_values(make_config, tmp_path, leaky_answer):
    host, sp = _leaky_host(make_config, tmp_path, leaky_answer, f"API_KEY={SECRET}\n")
    verdict = host.wait_replacement_healthy(sp, 0.2, lambda: False)
    assert not verdict.ok
    assert "HTTP 500" in verdict.reason and "auth failed with API_KEY ***" in verdict.reason
    assert SECRET not in verdict.reason


def test_the_services_words_are_withheld_when_its_env_file_cannot_be_read(make_config, tmp_path, leaky_answer):
    host, sp = _leaky_host(make_config, tmp_path, leaky_answer, None)
    verdict = host.wait_replacement_healthy(sp, 0.2, lambda: False)
    assert not verdict.ok and "HTTP 500" in verdict.reason
    assert "container log withheld: cannot read" in verdict.reason and ".env" in verdict.reason
    assert "body '(withheld: cannot read" in verdict.reason
    assert SECRET not in verdict.reason and "auth failed" not in verdict.reason


COMPOSE_WITH_SECRET = """services:
  revpublish:
    image: revflow/revpublish:1
    user: "10001:10001"
    secrets: [revpublish.env]
    labels: {revops.unit: revpublish.service}
secrets:
  revpublish.env:
    file: %s
"""


def _secret_host(make_config, tmp_path, secret_file="../.revops/secrets/revpublish.env"):
    config = make_config()
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/systemd/system/revpublish.service").write_text(
        "[Service]\nEnvironment=RELAY_TOKEN=tok-abcdef123456\nEnvironmentFile=/opt/shared/.env\nExecStart=/bin/true\n")
    (tmp_path / "opt/shared").mkdir(parents=True)
    (tmp_path / "opt/shared/.env").write_text("DATABASE_URL=postgresql://u:pw-9f8e7d@db/x\n")
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose/core.yml").write_text(COMPOSE_WITH_SECRET % secret_file)
    unit = Unit(name="revpublish.service", path="etc/systemd/system/revpublish.service", port=8550,
                environment_files=["/opt/shared/.env"], environment={"RELAY_TOKEN": None})
    host = LiveHost(config, OneUnitSystemd("loaded"), engine=None, compose=None,
                    compose_files=[str(tmp_path / "compose/core.yml")])
    return host, P.service_plan(unit, config, []), config


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to the container's uid needs root")
def test_write_secret_writes_what_the_compose_file_mounts_and_remove_secret_undoes_it(make_config, tmp_path):
    host, sp, config = _secret_host(make_config, tmp_path)
    assert "absent (written with mode 0700); 2 variable(s) readable" in host._check_secret(sp)
    said = host.write_secret(sp)
    copy = config.secrets_path / "revpublish.env"
    assert copy.read_text() == 'RELAY_TOKEN="tok-abcdef123456"\nDATABASE_URL="postgresql://u:pw-9f8e7d@db/x"\n'
    assert (os.stat(copy).st_uid, stat.S_IMODE(os.stat(copy).st_mode)) == (10001, 0o400)
    assert "2 variable(s)" in said and "hmac-sha256:" in said
    assert "pw-9f8e7d" not in said and "tok-abcdef" not in said
    # The service's own words (a /health body) are hidden with the copy's values.
    assert host._redactor(sp).apply("connect postgresql://u:pw-9f8e7d@db/x failed") == "connect *** failed"
    os.chmod(config.secrets_path, 0o755)
    with pytest.raises(CheckFailed, match=r"mode 0755, expected 0700.*fix: `chmod 0700"):
        host._check_secret(sp)
    os.chmod(config.secrets_path, 0o700)
    assert host.remove_secret(sp).endswith("emptied (no value left)") and copy.read_bytes() == b""
    assert (os.stat(copy).st_uid, stat.S_IMODE(os.stat(copy).st_mode)) == (10001, 0o400)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to the container's uid needs root")
def test_every_secret_file_the_compose_files_name_exists_before_compose_runs(make_config, tmp_path):
    host, _sp, config = _secret_host(make_config, tmp_path)
    host._compose_ready()  # compose 1.29 refuses a project with a missing secret file
    copy = config.secrets_path / "revpublish.env"
    assert copy.read_bytes() == b"" and os.stat(copy).st_uid == 10001
    copy.chmod(0o600)
    os.chown(copy, 10001, 10001)
    with open(copy, "wb") as handle:  # an existing copy is never overwritten by a placeholder
        handle.write(b"A=1\n")
    LiveHost(config, OneUnitSystemd("loaded"), engine=None, compose=None, compose_files=host.files)._compose_ready()
    assert copy.read_bytes() == b"A=1\n"


def test_a_compose_file_mounting_another_file_is_refused(make_config, tmp_path):
    host, sp, _ = _secret_host(make_config, tmp_path, secret_file="/etc/shadow")
    with pytest.raises(CheckFailed, match="does not mount .*revpublish.env as secret revpublish.env .it names /etc/shadow"):
        host.write_secret(sp)


class SlowCompose:
    """`compose ps` taking as long as a v1 process does to parse a big project (scaled down)."""

    def __init__(self):
        self.ps_calls = []

    def ps(self, _files, service):
        self.ps_calls.append(service)
        time.sleep(0.2)
        return [f"id-{service}"]


class ProjectEngine:
    """Every container of project `p`, found by its compose service label."""

    def container_state(self, cid):
        return SimpleNamespace(id=cid, name=cid, status="created", health=None, exit_code=None,
                               restart_count=0, labels={"com.docker.compose.project": "p"})

    def list_containers(self, labels):
        service = next(label.split("=", 1)[1] for label in labels if label.startswith("com.docker.compose.service="))
        assert "com.docker.compose.project=p" in labels
        return [SimpleNamespace(id=f"id-{service}")]


def test_a_wave_learns_the_compose_project_with_one_compose_process(make_config, tmp_path):
    """Twelve services beginning a wave each looked their container up through compose while the
    project's name was unknown: twelve v1 processes of 2 CPU-seconds at once. One asks now."""
    config = make_config()
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text("services: {}\n")
    compose = SlowCompose()
    host = LiveHost(config, OneUnitSystemd("loaded"), engine=ProjectEngine(), compose=compose,
                    compose_files=[str(compose_file)])
    names = [f"svc{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda name: host._state(SimpleNamespace(service=name)), names))
    assert [state.id for state in found] == [f"id-{name}" for name in names]
    assert len(compose.ps_calls) == 1


class RemovingEngine(ProjectEngine):
    """ProjectEngine whose containers are in `status`; keeps what it was asked to remove."""

    def __init__(self, status: str) -> None:
        self.status, self.removed = status, []

    def container_state(self, cid):
        return SimpleNamespace(**{**vars(super().container_state(cid)), "status": self.status})

    def remove(self, cid, *, force=True, missing_ok=True, volumes=True):
        self.removed.append((cid, force, volumes))


class RmCompose(SlowCompose):
    def __init__(self) -> None:
        super().__init__()
        self.rm_calls = []

    def rm(self, files, service):
        self.rm_calls.append(service)


@pytest.mark.parametrize("status, by_engine", [("created", True), ("running", False), ("exited", False)])
def test_a_container_never_started_is_removed_by_the_engine_not_by_a_compose_process(
        make_config, tmp_path, status, by_engine):
    """A job's container, made only for its import check, cost a compose process (2 CPU-seconds
    with v1) to remove: ten jobs in a wave, 20. One that ran is stopped and removed by compose."""
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text("services: {}\n")
    engine, compose = RemovingEngine(status), RmCompose()
    host = LiveHost(make_config(), OneUnitSystemd("loaded"), engine=engine, compose=compose,
                    compose_files=[str(compose_file)])
    host._project = "p"  # learnt already: no compose ps
    said = host.remove_replacement(SimpleNamespace(service="nightly", instances=[]))
    if by_engine:
        # as `compose rm -f`: not killed, its anonymous volumes kept (compose may have handed
        # it those of a container it replaced)
        assert engine.removed == [("id-nightly", False, False)] and compose.rm_calls == []
        assert "never started" in said
    else:
        assert engine.removed == [] and compose.rm_calls == ["nightly"]


def test_an_apis_outage_holds_back_a_workers_stop_and_start_but_workers_share(make_config):
    """LiveHost.outage: a service with a port has the engine to itself from its unit's stop to
    its container's start call; the stops and starts of services without one go side by side,
    behind it (revops/migrate/outages.py)."""
    config = make_config()
    host = LiveHost(config, OneUnitSystemd("loaded"), engine=None, compose=None, compose_files=[])
    api = P.service_plan(Unit(name="revpublish.service", path=None, port=8550), config, [])
    workers = [P.service_plan(Unit(name=f"revpublish-w{n}.service", path=None, port=None), config, [])
               for n in (1, 2)]
    api_in, api_out, worker_in = threading.Event(), threading.Event(), threading.Event()
    both = threading.Barrier(2, timeout=10)

    def outage_of_api():
        with host.outage(api):
            api_in.set()
            api_out.wait(10)

    def outage_of(sp, then):
        def body():
            with host.outage(sp):
                then()
        return body

    threading.Thread(target=outage_of_api, daemon=True).start()
    assert api_in.wait(10)
    first = threading.Thread(target=outage_of(workers[0], worker_in.set), daemon=True)
    first.start()
    deadline = time.monotonic() + 10
    while host._outages.busy.shared_waiting != 1:  # seen held back at the gate
        assert time.monotonic() < deadline, "the worker's stop never reached the gate"
        time.sleep(0.005)
    assert not worker_in.wait(0.2), "a worker's stop began during an API's outage"
    api_out.set()
    assert worker_in.wait(10)
    first.join(10)
    side_by_side = [threading.Thread(target=outage_of(sp, both.wait), daemon=True) for sp in workers]
    for thread in side_by_side:
        thread.start()
    for thread in side_by_side:
        thread.join(10)
    assert not both.broken and both.n_waiting == 0


def test_a_units_retirement_waits_for_an_apis_outage(make_config):
    """retire_unit's disable and daemon-reload hold the manager: shared work, so an API's
    StopUnit is never queued behind one."""
    config = make_config()
    disabled = threading.Event()

    class Disabling(OneUnitSystemd):
        def disable(self, names):
            disabled.set()

    host = LiveHost(config, Disabling("loaded"), engine=None, compose=None, compose_files=[])
    api = P.service_plan(Unit(name="revpublish.service", path=None, port=8550), config, [])
    other = P.service_plan(Unit(name="revpublish-w.service", path=None, port=None), config, [])
    with host.outage(api):
        threading.Thread(target=host.retire_unit, args=(other, False), daemon=True).start()
        deadline = time.monotonic() + 10
        while host._outages.busy.shared_waiting != 1:  # seen held back at the gate
            assert time.monotonic() < deadline, "the retirement never reached the gate"
            time.sleep(0.005)
        assert not disabled.wait(0.2), "a unit was disabled during an API's outage"
    assert disabled.wait(10)
