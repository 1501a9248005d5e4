"""The migration plan is pure data: order, gating, skipping, steps."""

from __future__ import annotations

import pytest

from revops.config import duration_seconds
from revops.errors import CheckFailed, UsageError
from revops.migrate import plan as P
from revops.model import Inventory, Unit

def unit(name: str, port: int | None = None, after: tuple[str, ...] = (), requires: tuple[str, ...] = ()) -> Unit:
    return Unit(name=name, path=f"etc/systemd/system/{name}", port=port, after=list(after), requires=list(requires))


def inventory() -> Inventory:
    return Inventory(root="/", scanned_at=None, units=[
        unit("revscore-iq.service", 8300, after=("network.target", "revcore-gateway.service")),
        unit("revpublish.service", 8550, after=("revcore-gateway.service",), requires=("revscore-iq.service",)),
        unit("revcore-gateway.service", 8004, after=("network.target",)),
        unit("revaudit-v6.service", 8106),
        unit("revaudit.service", 8105),
        unit("revflow-leadgen-1.service", 9001),
        unit("revflow-leadgen-2.service", None),
        unit("revflow-worker@.service"),
        unit("unrelated.service", 7000),
    ])


def test_phase_one_in_dependency_order_with_ties_by_name(make_config, tmp_path):
    plan = P.build(inventory(), make_config(), 1)
    assert plan.units == ["revaudit-v6.service", "revcore-gateway.service", "revscore-iq.service", "revpublish.service"]
    publish = plan.services[-1]
    assert publish.after == ["revcore-gateway.service", "revscore-iq.service"]
    assert publish.health_url == "http://127.0.0.1:8550/health"
    assert [s.name for s in publish.steps] == list(P.STEPS)
    assert plan.gate.ok and plan.gate.blockers == []


def test_deadline_covers_dockers_own_unhealthy_verdict(make_config, tmp_path):
    plan = P.build(inventory(), make_config(), 1)
    # start_period 4s + 4 intervals of 2s + timeout 1s
    assert plan.services[0].deadline_s == 13.0
    assert duration_seconds("1m30s") == 90.0 and duration_seconds("250ms") == 0.25


def test_deprecated_templates_and_foreign_units_are_never_planned(make_config, tmp_path):
    names = P.build(inventory(), make_config(), 1).units + P.build(inventory(), make_config(), 2).units
    assert "revaudit.service" not in names
    assert "revflow-worker@.service" not in names
    assert "unrelated.service" not in names


def test_service_filter_accepts_both_spellings_and_rejects_strangers(make_config, tmp_path):
    cfg = make_config()
    plan = P.build(inventory(), cfg, 1, only=["revpublish", "revcore-gateway.service"])
    assert plan.units == ["revcore-gateway.service", "revpublish.service"]
    assert plan.services[1].after == ["revcore-gateway.service"]  # revscore-iq is not in this run
    with pytest.raises(UsageError, match="revflow-leadgen-1.service"):
        P.build(inventory(), cfg, 1, only=["revflow-leadgen-1"])
    assert P.phase_of_services(inventory(), cfg, ["revflow-leadgen-1"]) == 2
    with pytest.raises(UsageError, match="phases"):
        P.phase_of_services(inventory(), cfg, ["revflow-leadgen-1", "revpublish"])


def test_migrated_services_are_skipped(make_config, tmp_path):
    plan = P.build(inventory(), make_config(), 1, states={"revcore-gateway.service": P.MIGRATED,
                                                                  "revpublish.service": P.ROLLED_BACK})
    assert "revcore-gateway.service" not in plan.units
    assert "revpublish.service" in plan.units
    assert plan.skipped == [P.Skipped("revcore-gateway.service", "already migrated")]


def test_cycle_is_an_error_naming_the_units():
    units = [unit("a.service", after=("b.service",)), unit("b.service", requires=("a.service",)), unit("c.service")]
    with pytest.raises(CheckFailed, match="a.service, b.service"):
        P.order(units)


def test_gate_refuses_until_earlier_phase_is_migrated_and_healthy(make_config, tmp_path):
    cfg = make_config()
    earlier = [
        P.EarlierHealth("revcore-gateway.service", 1, P.MIGRATED, True, None),
        P.EarlierHealth("revpublish.service", 1, P.MIGRATED, False, "GET /health: 503"),
        P.EarlierHealth("revscore-iq.service", 1, P.ROLLED_BACK, True, None),
        P.EarlierHealth("revaudit-v6.service", 1, None, False, "connection refused"),
    ]
    plan = P.build(inventory(), cfg, 2, earlier=earlier)
    assert not plan.gate.ok
    assert [(b.unit, b.reason) for b in plan.gate.blockers] == [
        ("revpublish.service", "not healthy now: GET /health: 503"),
        ("revscore-iq.service", "not migrated (ledger: rolled-back)"),
        ("revaudit-v6.service", "not migrated (ledger: no record)"),
    ]
    forced = P.build(inventory(), cfg, 2, earlier=earlier, force_reason="maintenance window, CHG-42")
    assert forced.gate.ok and forced.gate.forced_reason == "maintenance window, CHG-42"
    assert len(forced.gate.blockers) == 3


def test_earlier_units_lists_every_previous_phase(make_config, tmp_path):
    pairs = P.earlier_units(inventory(), make_config(), 2)
    assert sorted(u.name for u, _ in pairs) == ["revaudit-v6.service", "revcore-gateway.service",
                                                 "revpublish.service", "revscore-iq.service"]
    assert {phase for _, phase in pairs} == {1}


def test_mask_and_portless_services_show_in_the_steps(make_config, tmp_path):
    plan = P.build(inventory(), make_config(mask=True), 2)
    worker = next(s for s in plan.services if s.unit == "revflow-leadgen-2.service")
    assert worker.health_url is None
    changes = {s.name: s.changes for s in worker.steps}
    assert "masks" in changes[P.DISABLE_UNIT]
    assert "no port" in changes[P.STOP_UNIT]
    assert plan.mask is True


def test_empty_phase_is_a_usage_error(make_config, tmp_path):
    with pytest.raises(UsageError, match="phase 3"):
        P.build(inventory(), make_config(), 3)


def test_only_units_with_a_compose_service_are_planned(make_config):
    compose = {"revcore-gateway.service": "revcore-gateway", "revpublish.service": "revpublish"}
    plan = P.build(inventory(), make_config(), 1, compose_units=compose)
    assert plan.units == ["revcore-gateway.service", "revpublish.service"]
    assert sorted(s.unit for s in plan.skipped) == ["revaudit-v6.service", "revscore-iq.service"]
    assert all("compose file" in s.reason for s in plan.skipped)
    assert [u.name for u, _ in P.earlier_units(inventory(), make_config(), 2, compose)] == [
        "revpublish.service", "revcore-gateway.service"]


def test_instances_of_a_suites_template_are_planned_like_generate_maps_them(tmp_path):
    """One answer for a unit's suite: generate gives an instance a container, so migrate plans it."""
    from revops import config as config_mod
    from revops.generate import mapping

    path = tmp_path / "revops.yaml"
    path.write_text("suites:\n  workers: {phase: 2, units: [\"revflow-worker@.service\"]}\n")
    cfg = config_mod.load(path)
    inv = Inventory(root="/", scanned_at=None,
                    units=[unit("revflow-worker@.service"), unit("revflow-worker@1.service", 9101)])
    assert [u.name for u in P.migratable_units(inv, cfg, 2)] == ["revflow-worker@1.service"]
    # past the suite check: skipped only for what this bare test unit lacks
    assert mapping.skip_reason(inv.units[1], cfg, {"workers"}) == "no ExecStart: nothing to run"
    assert mapping.skip_reason(inv.units[0], cfg, {"workers"}).startswith("template unit")


def test_the_plan_gives_the_coverage_and_the_last_phase_names_what_is_left(make_config):
    first = P.build(inventory(), make_config(), 1)
    assert first.coverage.figure() == "6 of 7 live units have a destination"
    assert not first.last_phase and first.left_without_destination() is None
    last = P.build(inventory(), make_config(), 2)
    assert last.last_phase
    left = last.left_without_destination()
    assert left.startswith("1 live unit(s) are left without a destination") and "unrelated.service" in left


def test_a_suggested_suite_is_refused_until_reviewed(tmp_path):
    from revops import config as config_mod

    path = tmp_path / "revops.yaml"
    path.write_text("suites:\n  core:\n    phase: 1\n    suggested: true\n    units: [revcore-gateway.service]\n")
    with pytest.raises(UsageError, match="suggested: true"):
        P.build(inventory(), config_mod.load(path), 1)


def test_the_last_phase_says_which_retired_units_go_and_why(tmp_path):
    from revops import config as config_mod

    path = tmp_path / "revops.yaml"
    path.write_text("suites:\n  core:\n    phase: 1\n    units: [api.service]\n  late:\n    phase: 2\n"
                    "    units: [worker.service]\nretire:\n  heal.service: \"rebuilds venvs\"\n")
    cfg = config_mod.load(path)
    inv = Inventory(root="/", scanned_at=None, units=[
        Unit(name="api.service", path=None, port=8000, venv="/opt/api/venv"),
        Unit(name="worker.service", path=None, venv="/opt/worker/venv"),
        Unit(name="heal.service", path=None, venv="/opt/shared/venv")])
    assert P.build(inv, cfg, 1).retire == []  # not the last phase
    [waiting] = P.build(inv, cfg, 2).retire  # api not migrated yet: still on a venv
    assert waiting.unit == "heal.service" and waiting.reason.startswith("rebuilds venvs; not yet: 1 unit(s)")
    assert "api.service" in waiting.reason
    [going] = P.build(inv, cfg, 2, states={"api.service": P.MIGRATED}).retire
    assert "no unit left under systemd after this phase runs from a venv" in going.reason
