"""What happens before the operator says yes: a dry run creates no ledger file, and a run
killed half-way is settled only after the plan that shows it is confirmed.

The example host is real (written and scanned by revops); the host adapters are the recorder
of migrate_helpers, so the tests see every call that would change the host.
"""

from __future__ import annotations

import io
import json
import signal
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from revops import config as config_mod
from revops.adapters.ledger import open_ledger
from revops.cli import app
from revops.commands import migrate, rollback
from revops.migrate import plan as P
from revops.migrate.executor import MIGRATED, Verdict

from migrate_helpers import ScriptedHost

RUNNER = CliRunner()
GATEWAY = "revcore-gateway.service"


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("offline-host-confirm")
    for args in (["example-host", str(root)], ["inventory", "scan", "--config", str(root / "revops.yaml")]):
        result = RUNNER.invoke(app, args)
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(autouse=True)
def sqlite_ledger(monkeypatch):
    monkeypatch.delenv("REVOPS_DATABASE_URL", raising=False)


def _tree(root):
    return {str(p.relative_to(root)): p.lstat().st_mtime_ns for p in sorted(root.rglob("*"))}


def test_a_dry_run_creates_no_ledger_file(host):
    ledger_file = host / ".revops" / "ledger.sqlite"
    assert not ledger_file.exists()
    before = _tree(host)
    result = RUNNER.invoke(app, ["migrate", "--phase", "1", "--dry-run", "--json",
                                 "--config", str(host / "revops.yaml")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unsettled"] == [] and GATEWAY in [s["unit"] for s in data["plan"]["services"]]
    rb = RUNNER.invoke(app, ["rollback", "--phase", "1", "--dry-run", "--config", str(host / "revops.yaml")])
    assert rb.exit_code == 0, rb.output
    assert not ledger_file.exists()
    assert _tree(host) == before  # nothing written, not even a cache


def _killed_while_waiting(config) -> None:
    """The journal of a run killed (kill -9) while the gateway's container was starting."""
    ledger = open_ledger(config.database_url)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    ledger.set_service_state(GATEWAY, P.MIGRATING, run_id)
    for name in (P.PREFLIGHT, P.STOP_UNIT, P.START_CONTAINER):
        ledger.step_finished(ledger.step_started(run_id, GATEWAY, name, ""), "done")
    ledger.step_started(run_id, GATEWAY, P.WAIT_HEALTHY, "")
    ledger.close()


def test_settling_a_killed_run_waits_for_the_confirmation(host, tmp_path):
    config = replace(config_mod.load(host / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    _killed_while_waiting(config)
    recorder = ScriptedHost()
    shown = []

    def decline(plan):
        out = io.StringIO()
        migrate.render_plan(plan, Console(file=out, width=200))
        shown.append(out.getvalue())
        return False

    refused = migrate.run(config, 1, confirm=decline, say=lambda _m: None, host_factory=lambda _inputs: recorder)
    assert refused.refused == "not confirmed" and refused.resumed == [] and refused.unsettled == [GATEWAY]
    assert f"{GATEWAY}: left half-way by an earlier run; settled first" in shown[0]
    assert recorder.calls == []
    dry = migrate.run(config, 1, dry_run=True, host_factory=lambda _inputs: recorder)
    assert dry.unsettled == [GATEWAY] and recorder.calls == []

    done = migrate.run(config, 1, yes=True, say=lambda _m: None, host_factory=lambda _inputs: recorder)
    assert [(r.unit, r.outcome) for r in done.resumed] == [(GATEWAY, MIGRATED)]
    assert recorder.calls[:2] == [("replacement_verdict", GATEWAY), ("retire_unit", GATEWAY)]
    assert ("preflight", GATEWAY) not in recorder.calls  # settled as migrated: not cut over again
    assert GATEWAY not in done.plan.units and done.services
    assert all(r.outcome == MIGRATED for r in done.services) and done.exit_code == 0
    ledger = open_ledger(config.database_url)
    assert ledger.open_steps() == []
    ledger.close()


def test_ctrl_c_at_the_confirmation_ends_the_run_in_the_ledger_and_changes_nothing(host, tmp_path):
    config = replace(config_mod.load(host / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    _killed_while_waiting(config)
    recorder = ScriptedHost()

    def ctrl_c(_plan):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate.run(config, 1, confirm=ctrl_c, say=lambda _m: None, host_factory=lambda _inputs: recorder)
    assert recorder.calls == []
    ledger = open_ledger(config.database_url)
    newest = ledger.runs(1)[0]
    assert newest.outcome == "interrupted at the confirmation; nothing changed"
    assert [s.service for s in ledger.open_steps()] == [GATEWAY]  # still to settle, next run
    ledger.close()


class ContainerDeadAfterTheKill(ScriptedHost):
    """The killed run's container did not survive: settling rolls it back; the new cutover works."""

    def replacement_verdict(self, sp):
        super().replacement_verdict(sp)
        return Verdict(False, "no container for revcore-gateway")

    def wait_replacement_healthy(self, sp, deadline_s, cancelled):  # settling waits: still gone
        if sp.unit == GATEWAY and not any(c == "stop_unit" for c, _ in self.calls):
            self._do("wait_replacement_healthy", sp)
            return Verdict(False, "container revcore-gateway vanished after 1.0s")
        return super().wait_replacement_healthy(sp, deadline_s, cancelled)


def test_a_rerun_that_rolls_back_a_killed_cutover_then_migrates_it_exits_0(host, tmp_path):
    config = replace(config_mod.load(host / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    _killed_while_waiting(config)
    recorder = ContainerDeadAfterTheKill()

    done = migrate.run(config, 1, yes=True, say=lambda _m: None, host_factory=lambda _inputs: recorder)
    assert [(r.unit, r.outcome) for r in done.resumed] == [(GATEWAY, "rolled-back")]
    assert GATEWAY in done.plan.units  # settled back under systemd, then cut over afresh
    assert {r.unit: r.outcome for r in done.services}[GATEWAY] == MIGRATED
    assert all(r.outcome == MIGRATED for r in done.services) and done.exit_code == 0
    out = io.StringIO()
    migrate.render(done, Console(file=out, width=200))
    assert "Settled from an earlier run" in out.getvalue() and "rolled-back" in out.getvalue()


@pytest.mark.parametrize("unit_comes_back, settled, code", [(True, "rolled-back", 0), (False, "down", 1)])
def test_a_rerun_for_another_service_reports_what_it_settled(host, tmp_path, unit_comes_back, settled, code):
    config = replace(config_mod.load(host / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    _killed_while_waiting(config)
    recorder = ContainerDeadAfterTheKill(unit_healthy=unit_comes_back)

    done = migrate.run(config, 1, ["revpublish"], yes=True, say=lambda _m: None,
                       host_factory=lambda _inputs: recorder)
    assert [(r.unit, r.outcome) for r in done.resumed] == [(GATEWAY, settled)]
    assert [(r.unit, r.outcome) for r in done.services] == [("revpublish.service", MIGRATED)]
    assert done.exit_code == code  # a service left down fails the run, whoever asked for it


class CtrlCWhileSettling(ScriptedHost):
    """Ctrl-C (a real SIGINT to this process) arrives while the first service is settled."""

    def replacement_verdict(self, sp):
        if not self.calls:
            signal.raise_signal(signal.SIGINT)
        return super().replacement_verdict(sp)


def test_ctrl_c_while_settling_ends_after_that_service_with_exit_130(host, tmp_path):
    config = replace(config_mod.load(host / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    _killed_while_waiting(config)
    ledger = open_ledger(config.database_url)
    old = ledger.begin_run("op", "migrate", 1, False)
    ledger.set_service_state("revpublish.service", P.MIGRATING, old)
    ledger.step_started(old, "revpublish.service", P.STOP_UNIT, "")
    ledger.close()
    recorder = CtrlCWhileSettling()
    handler_before = signal.getsignal(signal.SIGINT)

    # One at a time: with several settled at once, both would be in flight when Ctrl-C comes
    # (each in flight is finished); here the second has not started yet.
    done = migrate.run(config, 1, yes=True, parallel=1, say=lambda _m: None, host_factory=lambda _inputs: recorder)
    assert [(r.unit, r.outcome) for r in done.resumed] == [(GATEWAY, MIGRATED),
                                                          ("revpublish.service", "interrupted")]
    assert done.services == [] and done.exit_code == 130
    assert not any(unit == "revpublish.service" for _, unit in recorder.calls)
    assert signal.getsignal(signal.SIGINT) is handler_before
    ledger = open_ledger(config.database_url)
    assert ledger.runs(1)[0].outcome.startswith("interrupted while settling")
    assert [s.service for s in ledger.open_steps()] == ["revpublish.service"]
    ledger.close()


class CtrlCWhileRemoving(ScriptedHost):
    """Ctrl-C (a real SIGINT) arrives just as the first container is removed."""

    def remove_replacement(self, sp):
        if not any(name == "remove_replacement" for name, _ in self.calls):
            signal.raise_signal(signal.SIGINT)
        return super().remove_replacement(sp)


def test_ctrl_c_during_a_rollback_starts_that_unit_again_before_stopping(host, tmp_path):
    config = replace(config_mod.load(host / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    ledger = open_ledger(config.database_url)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    for unit in (GATEWAY, "revpublish.service"):
        ledger.set_service_state(unit, P.MIGRATED, run_id)
    ledger.close()
    recorder = CtrlCWhileRemoving()
    handler_before = signal.getsignal(signal.SIGINT)

    result = rollback.run(config, [], 1, yes=True, say=lambda _m: None, host_factory=lambda _inputs: recorder)
    first, second = result.results
    assert first.outcome == "rolled-back" and second.outcome == "interrupted"
    assert [name for name, unit in recorder.calls if unit == first.unit][-4:] == [
        "remove_replacement", "remove_secret", "start_unit", "wait_unit_healthy"]  # never left down under both
    assert all(unit != second.unit for _name, unit in recorder.calls)
    assert result.exit_code == 130 and signal.getsignal(signal.SIGINT) is handler_before
    ledger = open_ledger(config.database_url)
    assert ledger.runs(1)[0].outcome == f"interrupted: {second.unit}"
    ledger.close()
