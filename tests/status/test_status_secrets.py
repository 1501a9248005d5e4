"""status: which running services hold an older version of their secret copy (digests only)."""

from __future__ import annotations

import os

import pytest

from revops import config as config_mod
from revops.adapters.ledger import open_ledger
from revops.model import Inventory, Unit
from revops.secrets import versions
from revops.secrets.copies import Copies
from revops.status import gather
from revops.status.assemble import Scope, build, inventory_report
from revops.status.figures import MigrationFigure, SecretFigure, SourceReport
from revops.status.gather import SourceRead

from status_builders import T, container, probe, unit

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the copies' directory is root's")


def _host(tmp_path):
    (tmp_path / "revops.yaml").write_text("host: {root: .}\nsuites: {core: {phase: 1, units: [api.service]}}\n")
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/systemd/system/api.service").write_text(
        "[Service]\nEnvironment=API_TOKEN=tok-0a1b2c3d4e5f\nEnvironmentFile=/opt/app/.env\nExecStart=/bin/true\n")
    (tmp_path / "opt/app").mkdir(parents=True)
    (tmp_path / "opt/app/.env").write_text("DATABASE_URL=postgresql://u:old-pass-1@db/x\n")
    cfg = config_mod.load(tmp_path / "revops.yaml")
    api = Unit(name="api.service", path=None, port=8004, suite="core", phase=1,
               environment_files=["/opt/app/.env"], environment={"API_TOKEN": None})
    return cfg, api


def _started_with(cfg, digest: str, step: str = versions.WRITE_SECRET) -> None:
    ledger = open_ledger(cfg.database_url)
    run = ledger.begin_run("op", "migrate", 1, False)
    ledger.step_finished(ledger.step_started(run, "api.service", step), "done", f"/x/api.env: 2 variable(s); {digest}")
    ledger.close()


def test_a_changed_env_file_shows_the_container_holds_an_older_digest(tmp_path):
    cfg, api = _host(tmp_path)
    from revops.secrets import bundle
    text = bundle.read(cfg.root, cfg.unit_dirs, "api.service", ("API_TOKEN",)).text()
    written = Copies(cfg.secrets_path).write("api.env", 10001, text)
    _started_with(cfg, written)
    same = gather.read_secrets(cfg, [api]).figures["api.service"]
    assert (same.provenance, same.current, same.held, same.outdated) == ("LIVE", written, written, False)
    assert same.held_at is not None and same.name == "api.env"
    (tmp_path / "opt/app/.env").write_text("DATABASE_URL=postgresql://u:new-pass-2@db/x\n")
    changed = gather.read_secrets(cfg, [api]).figures["api.service"]
    assert changed.outdated is True and changed.held == written and changed.current != written
    assert "pass" not in repr(changed)  # digests, never values
    # A rotation recorded later is what the container holds from then on.
    _started_with(cfg, changed.current, versions.ROTATE_SECRET)
    assert gather.read_secrets(cfg, [api]).figures["api.service"].outdated is False


def test_an_unreadable_env_file_makes_the_figure_unavailable_with_the_reason(tmp_path):
    cfg, api = _host(tmp_path)
    _started_with(cfg, "hmac-sha256:0123456789abcdef")
    (tmp_path / "opt/app/.env").unlink()
    figure = gather.read_secrets(cfg, [api]).figures["api.service"]
    assert figure.provenance == "UNAVAILABLE" and "EnvironmentFile=/opt/app/.env" in figure.reason
    assert figure.held == "hmac-sha256:0123456789abcdef" and figure.current is None


def test_no_ledger_no_figures_and_nothing_created(tmp_path):
    cfg, api = _host(tmp_path)
    read = gather.read_secrets(cfg, [api])
    assert read.figures == {} and "no ledger" in read.report.detail
    assert not cfg.secrets_path.exists()


def test_a_running_container_on_an_older_copy_is_flagged_but_not_degraded():
    api = Unit(name="api.service", path=None, port=8004, suite="core", phase=1)
    reads = {
        "systemd": SourceRead(SourceReport("systemd", "LIVE", T), {"api.service": unit("inactive", "dead")}),
        "docker": SourceRead(SourceReport("docker", "LIVE", T), {"api.service": container()}),
        "health": SourceRead(SourceReport("health", "LIVE", T), {"api.service": probe()}),
        "ledger": SourceRead(SourceReport("ledger", "CACHED", T), {"api.service": MigrationFigure("CACHED", T, state="migrated")}),
        "secrets": SourceRead(SourceReport("secrets", "LIVE", T), {"api.service": SecretFigure(
            "LIVE", T, name="api.env", current="hmac-sha256:1111111111111111",
            held="hmac-sha256:2222222222222222", held_at=T, outdated=True)}),
    }
    inv = Inventory(root="/", scanned_at=T, units=[api])
    [svc] = build([api], reads, inventory_report(inv, "inventory", 1), config_mod.Health(), T, "revops.yaml", Scope()).services
    assert "older-secret" in svc.flags and svc.verdict == "healthy"
    assert svc.secret.held == "hmac-sha256:2222222222222222"
