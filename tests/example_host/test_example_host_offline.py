"""The offline example host: written for real into a temp dir and checked on disk."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from revops import config
from revops.commands import example_host
from revops.example_host import catalog, hostconfig, requirements, sources, tree, venvs

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = "etc/systemd/system"


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("example-host")
    example_host.run(root)
    return root


def unit_text(host: Path, name: str) -> str:
    return (host / UNIT_DIR / name).read_text()


def test_same_command_same_bytes(host, tmp_path):
    example_host.run(tmp_path / "again")
    assert tree.digest(tmp_path / "again") == tree.digest(host)
    before = tree.digest(tmp_path / "again")
    example_host.run(tmp_path / "again")  # over itself: nothing changes
    assert tree.digest(tmp_path / "again") == before


def test_exactly_149_service_files(host):
    entries = [p for p in (host / UNIT_DIR).iterdir() if p.name.endswith(".service")]
    assert len(entries) == 149
    assert os.readlink(host / UNIT_DIR / catalog.MASKED) == "/dev/null"
    wants = host / UNIT_DIR / "multi-user.target.wants"
    for i in catalog.TEMPLATE_INSTANCES:
        assert os.readlink(wants / f"revflow-worker@{i}.service") == f"/{UNIT_DIR}/revflow-worker@.service"


@pytest.mark.parametrize("name,port", [("revcore-gateway.service", 8004), ("revpublish.service", 8550),
                                       ("revaudit-v6.service", 8560), ("revscore-iq.service", 8570)])
def test_phase1_units_and_ports(host, name, port):
    text = unit_text(host, name)
    stem = name[: -len(".service")]
    joined = text.replace("\\\n", " ")
    assert re.search(rf"^ExecStart=/opt/revflow-os/modules/{stem}/venv/bin/uvicorn app:app .*--port {port}\b",
                     joined, re.M)
    assert "User=revflow" in text and f"WorkingDirectory=/opt/revflow-os/modules/{stem}" in text
    assert (host / f"opt/revflow-os/modules/{stem}/app.py").is_file()


def test_suite_modules_are_1_to_18(host):
    numbers = {m.suite: [] for m in catalog.SUITE_MODULES}
    for m in catalog.SUITE_MODULES:
        numbers[m.suite].append(m.number)
        assert (host / UNIT_DIR / f"{m.name}.service").is_file()
    assert numbers == {"lead-gen": list(range(1, 11)), "buyer-intent": [11, 12, 13],
                       "digital-landlord": [14, 15], "tech-efficiency": [16, 17, 18]}


def test_revaudit_v5_loops_and_revwins_cannot_start(host):
    text = unit_text(host, "revaudit.service")
    assert "Restart=always" in text and "StartLimitIntervalSec=0" in text
    script = host / "opt/revflow-os/modules/revaudit/audit_v5.py"
    assert subprocess.run([sys.executable, str(script)], capture_output=True).returncode != 0
    python = host / "opt/revflow-os/modules/revflow-revwins/venv/bin/python"
    assert python.is_symlink() and not Path(os.readlink(python)).exists()
    assert "ExecStart=/opt/revflow-os/modules/revflow-revwins/venv/bin/python" in unit_text(host, catalog.FAILING)


def test_unit_file_features_present(host):
    texts = {p.name: p.read_text() for p in (host / UNIT_DIR).glob("*.service") if not p.is_symlink()}
    joined = "\n".join(texts.values())
    assert "EnvironmentFile=-/opt/shared-api-engine/.env" in joined
    assert "EnvironmentFile=/opt/shared-api-engine/.env" in joined
    assert re.search(r'^Environment="[^"]+" "', joined, re.M)
    assert re.search(r"^ExecStartPre=-/", joined, re.M)
    assert re.search(r"^ExecStart=@/usr/bin/tail revflow-log-shipper ", joined, re.M)
    assert re.search(r"^ExecStart=\+/bin/sh -c '", joined, re.M)
    assert re.search(r"\\\n\s+--", joined)  # a continued line
    assert re.search(r"^; ", joined, re.M) and re.search(r"^# ", joined, re.M)
    assert "MemoryMax=" in joined and "CPUQuota=" in joined
    assert "Requires=revcore-gateway.service" in texts["revprospect.service"]
    two = texts["revflow-db-migrate.service"]
    assert two.count("ExecStart=") == 2 and "Type=oneshot" in two
    garbage = [n for n, t in texts.items() if any(l and not l.startswith(("#", ";", "[")) and "=" not in l
                                                   and not l.startswith(" ") for l in t.splitlines())]
    assert garbage == ["revflow-dashboard.service"]
    dropins = sorted(p.relative_to(host / UNIT_DIR).as_posix() for p in (host / UNIT_DIR).glob("*.d/*.conf"))
    assert "revpublish.service.d/10-override.conf" in dropins and len(dropins) == len(catalog.DROPINS)
    timers = list((host / UNIT_DIR).glob("*.timer"))
    assert timers and all((host / UNIT_DIR / (t.name[:-6] + ".service")).is_file() for t in timers)


def test_no_secret_in_any_unit_file_or_config(host):
    checked = list((host / UNIT_DIR).rglob("*")) + [host / "revops.yaml"]
    checked += list((host / "opt/revflow-os/modules").glob("*/requirements.txt"))
    env = (host / "opt/shared-api-engine/.env").read_text()
    for value in sources.SECRETS.values():
        assert value in env
        for path in checked:
            if path.is_file() and not path.is_symlink():
                assert value not in path.read_text(errors="replace"), path


def test_revops_yaml_parses_and_matches_the_catalogue(host):
    cfg = config.load(cwd=host)
    assert cfg.root == host.resolve() and cfg.bus == "system"
    assert cfg.deprecated == ("revaudit.service",) and cfg.image_base == "revflow/python-base:bookworm"
    assert [s.name for s in cfg.suites] == list(catalog.SUITES) + list(hostconfig.PLATFORM_SUITES)
    placed = {u: name for name, units in hostconfig.PLATFORM_SUITES.items() for u in units}
    for service in catalog.services():
        suite = cfg.suite_of(service.name)
        assert (suite.name if suite else None) == (service.suite or placed.get(service.name)), service.name
    settled = {s.name: dict(s.overrides) for s in cfg.suites if s.overrides}
    assert len(settled) >= 2


def test_repo_revops_yaml_is_the_example_hosts(host):
    assert (REPO / "revops.yaml").read_text() == (host / "revops.yaml").read_text()


def test_pin_conflicts_inside_suites_are_settled(host):
    cfg = config.load(cwd=host)
    conflicts = {}
    for service in catalog.services():
        if not service.suite or service.role == "duplicate" or not service.code_dir:
            continue
        reqs = host / service.code_dir.lstrip("/") / "requirements.txt"
        for dist, spec in requirements.parse(reqs.read_text()):
            if spec.startswith("=="):
                conflicts.setdefault((service.suite, dist), set()).add(spec)
    clashing = {key: pins for key, pins in conflicts.items() if len(pins) > 1}
    assert len({suite for suite, _ in clashing}) >= 2
    for (suite, dist), pins in clashing.items():
        override = dict(next(s for s in cfg.suites if s.name == suite).overrides).get(dist)
        assert override in pins, (suite, dist)


def test_every_version_the_venvs_hold_is_in_the_wheelhouse(host):
    pins = requirements.wheelhouse_pins()
    for service in catalog.services():
        if service.code_dir and service.role not in ("duplicate", "template"):
            text = (host / service.code_dir.lstrip("/") / "requirements.txt").read_text()
            for dist, version in requirements.installed(text).items():
                assert version in pins.get(dist, []), (service.name, dist, version)


def _record_ok(site: Path) -> bool:
    for record in site.glob("*.dist-info/RECORD"):
        for row in record.read_text().splitlines():
            path, digest, _size = row.rsplit(",", 2)
            if not digest:
                continue
            data = (site / path).read_bytes() if (site / path).is_file() else None
            if data is None:
                return False
            good = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if digest != good:
                return False
    return True


def _defects(host: Path, path: str) -> set[str]:
    """What is observably wrong with a venv on disk (the test's own reading, not the plan's)."""
    venv = host / path.lstrip("/")
    found = set()
    python = venv / "bin/python"
    target = os.readlink(python) if python.is_symlink() else None
    if target and target.startswith("/") and not (host / target.lstrip("/")).exists():
        found.add("interpreter-missing")
    if target and not target.startswith("/") and os.readlink(venv / "bin" / target) == "python":
        found.add("interpreter-loop")
    cfg = venv / "pyvenv.cfg"
    if not cfg.is_file():
        found.add("pyvenv-cfg-missing")
    else:
        fields = dict(line.split(" = ", 1) for line in cfg.read_text().splitlines())
        if not fields["version"].startswith("3.11"):
            found.add("version-drift")
        if not (host / fields["home"].lstrip("/")).is_dir():
            found.add("home-missing")
    site = venv / venvs.SITE
    if not site.is_dir():
        return found | {"site-packages-missing"}
    if any(p.name.startswith("~") for p in site.iterdir()):
        found.add("half-installed")
    names = [p.name.split("-")[0] for p in site.glob("*.dist-info")]
    if len(names) != len(set(names)):
        found.add("duplicate-dist")
    for meta in site.glob("*.dist-info/METADATA"):
        try:
            meta.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            found.add("metadata-unreadable")
    listed = [(site / row.split(",")[0]) for r in site.glob("*.dist-info/RECORD") for row in r.read_text().splitlines()]
    if any(not path.exists() for path in listed):
        found.add("record-file-missing")
    elif not _record_ok(site):
        found.add("record-hash-mismatch")
    return found


def test_venvs_healthy_and_corrupted_as_planned(host):
    result = example_host.run(host)
    assert result.venvs_healthy >= 96 and result.venvs_corrupted == 159
    from revops.example_host import generate, unitfiles
    _tree, plan = generate.build(unitfiles.Layout())
    for path in plan.healthy_venvs:
        assert _defects(host, path) == set(), path
    for path, kind in plan.corrupted_venvs.items():
        assert _defects(host, path) == {kind}, path
    kinds = list(plan.corrupted_venvs.values())
    assert set(kinds) == set(venvs.KINDS) and min(kinds.count(k) for k in venvs.KINDS) >= 10
    used = {s.venv for s in catalog.services() if s.venv}
    assert len(used & set(plan.healthy_venvs)) >= 96
    assert any(p.startswith("/srv/") for p in plan.corrupted_venvs)


def test_a_module_app_refuses_health_naming_what_it_misses_and_serves_once_its_environment_arrived(host, monkeypatch):
    from fastapi import testclient
    source = (host / "opt/revflow-os/modules/revpublish/app.py").read_text()
    namespace: dict = {}
    exec(compile(source, "app.py", "exec"), namespace)
    client = testclient.TestClient(namespace["app"])
    env = {**sources.SECRETS, **catalog.UNIT_SECRETS}
    for name in env:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["missing"] == ["JWT_SECRET", "RELAY_URL", "RELAY_TOKEN"]
    assert env["DATABASE_URL"] not in response.text  # names, never values
    for name in ("JWT_SECRET", "RELAY_URL", "RELAY_TOKEN"):
        monkeypatch.setenv(name, env[name])
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok", "service": "revpublish"}


def test_the_light_app_refuses_health_without_the_shared_env_files_database_url(tmp_path):
    import socket
    import time
    import urllib.error
    import urllib.request

    app = tmp_path / "lightapp.py"
    app.write_text(sources.lightapp_py())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    answers = []
    for extra in ({}, {"DATABASE_URL": sources.SECRETS["DATABASE_URL"]}):
        proc = subprocess.Popen([sys.executable, str(app), "--service", "revlist", "--port", str(port)],
                                env={**env, **extra})
        try:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                        answers.append((reply.status, reply.read().decode()))
                    break
                except urllib.error.HTTPError as exc:
                    answers.append((exc.code, exc.read().decode()))
                    break
                except OSError:
                    time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(10)
    assert answers[0][0] == 503 and json.loads(answers[0][1])["missing"] == ["DATABASE_URL"]
    assert answers[1][0] == 200 and sources.SECRETS["DATABASE_URL"] not in answers[1][1]


def test_small_on_disk(host):
    blocks = sum(p.lstat().st_blocks for p in host.rglob("*"))
    assert blocks * 512 < 50 * 1024 * 1024


def test_cli_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "revops", "example-host", str(tmp_path / "h"), "--json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["unit_files"] == 149 and data["venvs_corrupted"] == 159 and data["live_units"] is None


def test_live_without_wheelhouse_is_a_usage_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "REVOPS_WHEELHOUSE"}
    out = subprocess.run([sys.executable, "-m", "revops", "example-host", str(tmp_path / "h"), "--live"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 2
    assert "--wheelhouse" in out.stderr and not (tmp_path / "h").exists()


def test_live_without_a_user_manager_is_a_clear_error_and_writes_nothing(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "fastapi-0.115.12-py3-none-any.whl").write_bytes(b"")  # only looked for, never read
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus")
    out = subprocess.run([sys.executable, "-m", "revops", "example-host", str(tmp_path / "h"), "--live",
                          "--wheelhouse", str(wheels)], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 1
    # with pydbus: the bus it could not reach; without: how to install it
    assert "user manager" in out.stderr or "pydbus" in out.stderr, out.stderr
    assert not (tmp_path / "h").exists()


def test_live_revops_yaml_points_at_the_directory_from_slash(tmp_path):
    from revops.example_host import hostconfig

    path = tmp_path / "revops.yaml"
    path.write_text(hostconfig.revops_yaml(live_dir=str(tmp_path)))
    cfg = config.load(path)
    rel = str(tmp_path).strip("/")
    assert cfg.root == Path("/") and cfg.bus == "user"
    assert cfg.unit_dirs == (f"{rel}/etc/systemd/system",)
    assert cfg.venv_search == (f"{rel}/opt", f"{rel}/srv")
    assert cfg.shared_env_file == f"{tmp_path}/opt/shared-api-engine/.env"
    assert [s.name for s in cfg.suites] == list(catalog.SUITES) + list(hostconfig.PLATFORM_SUITES)


def test_offline_rewrite_of_a_live_host_is_refused(tmp_path, monkeypatch):
    from revops.errors import UsageError

    root = tmp_path / "host"
    example_host.run(root)
    before = tree.digest(root)
    units = tmp_path / "config/systemd/user"
    units.mkdir(parents=True)
    (units / "revpublish.service").symlink_to(root / UNIT_DIR / "revpublish.service")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(UsageError, match="running under the user manager") as raised:
        example_host.run(root)
    assert "--teardown" in raised.value.hint
    assert tree.digest(root) == before


def test_teardown_takes_the_drop_ins_revops_wrote_for_the_host_units_and_leaves_the_rest(tmp_path):
    """A job's repoint left by a run killed before its rollback would repoint the same unit of
    the next example host (seen on the bed: a stale `50-revops-job-container.conf` naming a
    removed pytest directory's compose file)."""
    from revops import dropins
    from revops.example_host import live

    units = tmp_path / "systemd/user"
    job = units / "revaudit-v6-nightly.service.d"
    job.mkdir(parents=True)
    ours = dropins.exec_start_dropin("revaudit-v6-nightly.service", "job-container", ["/usr/bin/true"])
    (job / ours.filename).write_text(ours.text)
    mixed = units / "revpublish.service.d"
    mixed.mkdir()
    (mixed / ours.filename).write_text(ours.text)
    (mixed / "override.conf").write_text("[Service]\nNice=5\n")  # the operator's: stays
    foreign = units / "someone-else.service.d"
    foreign.mkdir()
    (foreign / ours.filename).write_text(ours.text)  # not a unit of the example host
    linked = units / "revcore-gateway.service.d"
    (tmp_path / "host-dropins").mkdir()
    (tmp_path / "host-dropins" / ours.filename).write_text(ours.text)
    linked.symlink_to(tmp_path / "host-dropins")  # the host's own directory, linked: not ours to empty

    removed = live.remove_revops_dropins(units)

    assert sorted(removed) == sorted([job / ours.filename, mixed / ours.filename])
    assert not job.exists()
    assert [p.name for p in mixed.iterdir()] == ["override.conf"]
    assert (foreign / ours.filename).is_file() and (tmp_path / "host-dropins" / ours.filename).is_file()
