"""The verbs through the CLI on an offline example host: dry runs print the plan and change
nothing (no host file, no journal entry); bad input is a usage error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revops.adapters.ledger import open_ledger
from revops import config as config_mod
from revops.cli import app
from revops.example_host.sources import SECRETS
from revops.errors import RevopsError

from migrate_helpers import snapshot

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("offline-host-cli")
    for args in (["example-host", str(root)], ["inventory", "scan", "--config", str(root / "revops.yaml")]):
        result = RUNNER.invoke(app, args)
        assert result.exit_code == 0, result.output
    return root


def invoke(host: Path, *args: str):
    return RUNNER.invoke(app, [*args, "--config", str(host / "revops.yaml")])


def test_dry_run_prints_the_plan_and_changes_nothing(host):
    before = snapshot(host)
    result = invoke(host, "migrate", "--phase", "1", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    services = data["plan"]["services"]
    assert {s["unit"] for s in services} >= {"revcore-gateway.service", "revpublish.service",
                                              "revaudit-v6.service", "revscore-iq.service"}
    order = [s["unit"] for s in services]
    for s in services:  # every dependency inside the run comes first
        assert all(order.index(dep) < order.index(s["unit"]) for dep in s["after"])
    by_unit = {s["unit"]: s for s in services}
    # Every example service reads the shared env file: its copy is written after preflight and
    # before the candidate (which reads it as the replacement will). An API gets a full
    # candidate, a worker the import check; both before the unit stops.
    assert by_unit["revpublish.service"]["secret"] == "revpublish.env"
    assert [st["name"] for st in by_unit["revpublish.service"]["steps"]] == [
        "preflight", "write-secret", "verify-candidate", "stop-unit", "start-container", "wait-healthy", "disable-unit"]
    assert by_unit["revpublish.service"]["preverify"] == "full"
    assert by_unit["revpublish-worker.service"]["preverify"] == "import"
    assert not [v for v in SECRETS.values() if v in result.output]  # names in the plan, never values
    # The waves: the gateway first, what is After= it later; every service in exactly one.
    waves = data["waves"]
    assert sorted(u for wave in waves for u in wave) == sorted(order)
    wave_of = {u: i for i, wave in enumerate(waves) for u in wave}
    for s in services:
        assert all(wave_of[dep] < wave_of[s["unit"]] for dep in s["after"])
    assert wave_of["revcore-gateway.service"] < wave_of["revpublish.service"]
    assert data["plan"]["parallel"] >= 2
    assert snapshot(host) == before
    ledger = open_ledger(config_mod.load(host / "revops.yaml").database_url)
    assert ledger.runs() == [] and ledger.service_states() == {}
    ledger.close()


def test_with_mask_on_migrate_the_dry_run_says_each_unit_of_the_admin_directory_is_only_disabled(host):
    """The example host keeps every unit in etc/systemd/system, as RevFlow OS does: with
    mask_on_migrate the plan masks none of phase 1 and says why for each, before anything runs
    (MaskUnitFiles would refuse: "File ... already exists")."""
    masked = host / "revops-mask.yaml"
    masked.write_text((host / "revops.yaml").read_text().replace("  bus: system\n",
                                                                 "  bus: system\n  mask_on_migrate: true\n", 1))
    before = snapshot(host)
    try:
        result = RUNNER.invoke(app, ["migrate", "--phase", "1", "--dry-run", "--json", "--config", str(masked)])
        text = RUNNER.invoke(app, ["migrate", "--phase", "1", "--dry-run", "--config", str(masked)])
        assert snapshot(host) == before
    finally:
        masked.unlink()
    assert result.exit_code == 0 and text.exit_code == 0, result.output
    services = [s for s in json.loads(result.stdout)["plan"]["services"] if s["kind"] == "service"]
    assert services
    for s in services:
        assert list(s["not_masked"]) == [s["unit"]], s["unit"]
        disable = [st for st in s["steps"] if st["name"] == "disable-unit"][0]["changes"]
        assert disable == (f"disables {s['unit']} so a reboot does not start both; does not mask it (mask_on_migrate): "
                           f"its unit file {host}/etc/systemd/system/{s['unit']} is in the manager's admin directory, "
                           "where the mask would have to replace it (systemctl(1) mask)")
    assert "whose unit file is in the manager's admin directory (only disabled" in " ".join(text.stdout.split())

def test_phase_two_is_gated_on_phase_one(host):
    result = invoke(host, "migrate", "--phase", "2", "--dry-run")
    assert result.exit_code == 1
    assert "Gate CLOSED" in result.stdout and "revcore-gateway.service" in result.stdout
    forced = invoke(host, "migrate", "--phase", "2", "--dry-run", "--force", "CHG-1 window", "--parallel", "3")
    assert forced.exit_code == 0 and "Gate FORCED: CHG-1 window" in forced.stdout
    # Phase 2's services depend on nothing inside it: one wave, three at a time.
    assert "in 1 wave(s), at most 3 service(s) at once" in forced.stdout
    assert exit_code(invoke(host, "migrate", "--phase", "2", "--dry-run", "--parallel", "0")) == 2


def exit_code(result) -> int:
    """What revops.cli.main would exit with: RevopsErrors carry their own code."""
    if isinstance(result.exception, RevopsError):
        return result.exception.exit_code
    return result.exit_code


def test_usage_errors(host):
    assert exit_code(invoke(host, "migrate")) == 2
    assert exit_code(invoke(host, "migrate", "--service", "no-such-thing", "--dry-run")) == 2
    assert exit_code(invoke(host, "rollback", "--dry-run")) == 2
    assert exit_code(invoke(host, "cleanup", "--apply", "--undo", "1")) == 2


def test_quick_wins_and_rollback_dry_runs(host):
    before = snapshot(host)
    result = invoke(host, "quick-wins", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    actions = {(a["unit"], a["action"]) for a in json.loads(result.stdout)["actions"]}
    assert actions == {("revaudit.service", "stop-disable"), ("revflow-revwins.service", "restart")}
    rb = invoke(host, "rollback", "revpublish", "revcore-gateway.service", "--dry-run", "--json")
    assert rb.exit_code == 0, rb.output
    assert [s["unit"] for s in json.loads(rb.stdout)["services"]] == ["revpublish.service", "revcore-gateway.service"]
    assert snapshot(host) == before


def test_secrets_rotate_dry_run_with_nothing_migrated_changes_nothing(host):
    before = snapshot(host)
    result = invoke(host, "secrets", "rotate", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["candidates"] == [] and data["rotations"] == []
    refused = invoke(host, "secrets", "rotate", "revpublish", "--dry-run")
    assert exit_code(refused) == 2 and "not a migrated service" in str(refused.exception)
    assert snapshot(host) == before
