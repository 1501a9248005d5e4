"""From the sources' answers to the report: provenance is carried, never defaulted."""

from __future__ import annotations

from revops.config import Health
from revops.model import Inventory, Unit
from revops.status.assemble import Scope, build, inventory_report, services_of
from revops.status.figures import SourceReport
from revops.status.gather import SourceRead

from status_builders import T, container, probe, unit


def _units():
    return [Unit(name="api.service", path=None, port=8004, suite="core", phase=1),
            Unit(name="worker@1.service", path=None, suite="lead-gen", phase=2)]


def _reads(docker_up: bool = True, ledger_missing: bool = True) -> dict[str, SourceRead]:
    systemd = SourceRead(SourceReport("systemd", "LIVE", T),
                         {"api.service": unit(), "worker@1.service": unit("failed", "failed")})
    if docker_up:
        docker = SourceRead(SourceReport("docker", "LIVE", T), {"api.service": container()})
    else:
        docker = SourceRead(SourceReport("docker", "UNAVAILABLE", T, reason="Cannot connect to the Docker daemon"))
    health = SourceRead(SourceReport("health", "LIVE", T), {"api.service": probe()})
    ledger = SourceRead(SourceReport("ledger", "LIVE", T, detail="no ledger at /x: nothing was ever migrated"))
    return {"systemd": systemd, "docker": docker, "health": health, "ledger": ledger}


def _build(reads):
    inv = Inventory(root="/", scanned_at="2026-11-01T00:00:00+00:00", units=_units())
    return build(_units(), reads, inventory_report(inv, "inventory", 2), Health(), T, "revops.yaml", Scope())


def test_figures_come_from_their_sources():
    report = _build(_reads())
    api, worker = report.services
    assert api.container.present is True and api.placement == "both"
    assert worker.container.present is False and worker.container.provenance == "LIVE"
    assert worker.health.provenance == "UNAVAILABLE" and worker.health.url is None
    assert "no port in the inventory (scanned 2026-11-01" in worker.health.reason
    assert api.migration.state == "never-migrated" and "no ledger" in api.migration.reason
    assert [s.name for s in report.sources] == ["inventory", "systemd", "docker", "health", "ledger"]
    assert report.sources[0].provenance == "CACHED"


def test_engine_down_makes_container_unavailable_with_reason_and_keeps_systemd():
    report = _build(_reads(docker_up=False))
    for svc in report.services:
        assert svc.container.provenance == "UNAVAILABLE"
        assert svc.container.reason == "Cannot connect to the Docker daemon"
        assert svc.container.present is None and svc.container.running is None
        assert svc.systemd.provenance == "LIVE" and svc.systemd.active_state is not None
    assert report.services[1].verdict == "unknown"  # failed under systemd; maybe in Docker


def test_scope_filters():
    api, worker = _units()
    assert Scope(phases=(1,)).includes(api) and not Scope(phases=(1,)).includes(worker)
    assert Scope(suites=("lead-gen",)).includes(worker)
    assert Scope(services=("api",)).includes(api)
    assert Scope(services=("worker@*",)).includes(worker) and not Scope(services=("worker@*",)).includes(api)


def test_templates_and_timers_are_not_services_and_suites_come_from_revops_yaml(tmp_path):
    from revops import config as config_mod

    (tmp_path / "revops.yaml").write_text("suites:\n  workers: {phase: 2, units: [\"w@.service\"]}\n")
    cfg = config_mod.load(tmp_path / "revops.yaml")
    inv = Inventory(root="/", scanned_at=None, units=[
        Unit(name="w@.service", path=None), Unit(name="w@1.service", path=None, suite="old", phase=9),
        Unit(name="t.timer", path=None)])
    services = services_of(inv, cfg)
    assert [(u.name, u.suite, u.phase) for u in services] == [("w@1.service", "workers", 2)]
    assert inv.units[1].suite == "old"  # the inventory itself is left as it was read


def test_status_probes_where_migrate_probes_the_published_port():
    """One address for revops' own /health probe: health.bind_address of revops.yaml."""
    api, _worker = _units()
    reads = _reads()
    reads["health"] = SourceRead(SourceReport("health", "UNAVAILABLE", T, reason="probes not run"))
    report = build([api], reads, inventory_report(Inventory(root="/", scanned_at=T, units=[api]), "inventory", 1),
                   Health(bind_address="127.0.0.1", path="/healthz"), T, "revops.yaml", Scope())
    assert report.services[0].health.url == f"http://127.0.0.1:{api.port}/healthz"
    assert Health(bind_address="10.1.2.3").url(8004) == "http://10.1.2.3:8004/health"
    assert Health().url(None) is None


def test_each_unit_says_which_venv_it_runs_from_and_a_stabilised_one_its_restarts_before_and_now():
    from revops.adapters.ledger import RepointRecord
    from revops.status.render import _venv_cell

    units = _units()
    units[1].venv = "/opt/m/worker/venv"
    reads = _reads()
    record = RepointRecord("api.service", "stabilize", "repointed", "/u/api.service.d/50-revops-stabilize.conf",
                           "[]", "[]", "/opt/m/api/venv", "/opt/suite-venvs/core-1", 7, 1, "2026-11-01T01:00:00+00:00",
                           "gate passed")
    reads["ledger"] = SourceRead(SourceReport("ledger", "CACHED", T, detail="1 record"), {}, {"api.service": record})
    inv = Inventory(root="/", scanned_at="2026-11-01T00:00:00+00:00", units=units)
    api, worker = build(units, reads, inventory_report(inv, "inventory", 2), Health(), T, "revops.yaml", Scope()).services
    assert (api.venv.source, api.venv.path, api.venv.restarts_before, api.venv.provenance) == (
        "suite", "/opt/suite-venvs/core-1", 7, "CACHED")
    assert api.venv.restarts_now == api.systemd.n_restarts  # LIVE, from systemd
    assert (worker.venv.source, worker.venv.path, worker.venv.checked_at) == ("own", "/opt/m/worker/venv", inv.scanned_at)
    assert str(_venv_cell(api)) == f"suite (restarts 7->{api.systemd.n_restarts})" and str(_venv_cell(worker)) == "own"
