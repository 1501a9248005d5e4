"""secrets rotate's flow against a scripted host and a real SQLite ledger: one journaled step
per service, the old copy back when the new one fails the gate, the run stopped there."""

from __future__ import annotations

import pytest

from revops.adapters.ledger import open_ledger
from revops.errors import CheckFailed
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import rotation
from revops.migrate.executor import Verdict
from revops.model import Inventory, Unit
from revops.secrets import versions

OLD, NEW = "hmac-sha256:" + "1" * 16, "hmac-sha256:" + "2" * 16


class RotateRecorder:
    def __init__(self, healthy_on_new=True, healthy_on_old=True, fail_rewrite=False):
        self.calls: list[str] = []
        self.on = OLD
        self.healthy = {NEW: healthy_on_new, OLD: healthy_on_old}
        self.fail_rewrite = fail_rewrite

    def secret_digest_now(self, sp): return NEW
    def rewrite_secret(self, sp):
        self.calls.append("rewrite")
        if self.fail_rewrite:
            raise CheckFailed("/x/.revops/secrets: mode 0755; fix: chmod 0700")
        self.on = NEW
        return f"/x/{sp.secret} rewritten: 2 variable(s); {NEW}"
    def restore_secret(self, sp):
        self.calls.append("restore")
        self.on = OLD
        return f"/x/{sp.secret}: previous copy back; {OLD}"
    def keep_secret(self, sp): self.calls.append("keep")
    def restart_replacement(self, sp):
        self.calls.append("restart")
        return "container restarted in 0.5s"
    def wait_replacement_healthy(self, sp, deadline_s, cancelled):
        self.calls.append("wait")
        return Verdict(True, "healthy after 1.0s") if self.healthy[self.on] else Verdict(False, "HTTP 503")


@pytest.fixture
def setup(make_config, tmp_path):
    inv = Inventory(root="/", scanned_at=None, units=[
        Unit(name="revcore-gateway.service", path=None, port=8004, environment_files=["/opt/shared/.env"]),
        Unit(name="revpublish.service", path=None, port=8550, environment_files=["/opt/shared/.env"]),
    ])
    services = P.build(inv, make_config(), 1).services
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    run_id = ledger.begin_run("op", "secrets rotate", None, False)
    yield services, ledger, Journal(ledger, run_id)
    ledger.close()


def test_a_healthy_rotation_is_journaled_with_the_new_digest_only(setup):
    [sp, _], ledger, journal = setup
    host = RotateRecorder()
    done = rotation.rotate_one(host, journal, sp, lambda: False, lambda _m: None)
    assert (done.outcome, done.held, done.gate_s) == (rotation.ROTATED, NEW, sp.deadline_s)
    assert done.down_s is not None and host.calls == ["rewrite", "restart", "wait", "keep"]
    held = versions.held(ledger.last_done(versions.HELD_STEPS))
    assert held[sp.unit][0] == NEW and OLD not in ledger.last_done(versions.HELD_STEPS)[sp.unit].reason


def test_unhealthy_on_the_new_copy_puts_the_old_one_back(setup):
    [sp, _], ledger, journal = setup
    host = RotateRecorder(healthy_on_new=False)
    done = rotation.rotate_one(host, journal, sp, lambda: False, lambda _m: None)
    assert (done.outcome, done.held, done.reason) == (rotation.RESTORED, OLD, "HTTP 503")
    assert host.calls == ["rewrite", "restart", "wait", "restore", "restart", "wait"]
    assert versions.held(ledger.last_done(versions.HELD_STEPS))[sp.unit][0] == OLD
    steps = [(s.step, s.state) for s in ledger.steps(journal.run_id)]
    assert steps == [(versions.ROTATE_SECRET, "failed"), (versions.RESTORE_SECRET, "done")]


def test_unhealthy_on_both_copies_is_down_and_says_so(setup):
    [sp, _], _ledger, journal = setup
    done = rotation.rotate_one(RotateRecorder(False, False), journal, sp, lambda: False, lambda _m: None)
    assert done.outcome == rotation.DOWN and "the old copy did not bring it back" in done.reason


def test_a_refused_rewrite_changes_nothing_and_restores_nothing(setup):
    [sp, _], _ledger, journal = setup
    host = RotateRecorder(fail_rewrite=True)
    done = rotation.rotate_one(host, journal, sp, lambda: False, lambda _m: None)
    assert done.outcome == rotation.NOT_STARTED and "fix: chmod 0700" in done.reason
    assert host.calls == ["rewrite"]


def test_choose_compares_held_and_current_digests(setup):
    services, _ledger, _journal = setup
    def now(sp):
        if sp.unit == "revpublish.service":
            raise CheckFailed("revpublish.service: EnvironmentFile=/opt/shared/.env: missing")
        return NEW
    gateway, publish = rotation.choose(services, {"revcore-gateway.service": (OLD, "t")}, now)
    assert (gateway.held, gateway.current, gateway.outdated) == (OLD, NEW, True)
    assert (publish.current, publish.outdated) == (None, False) and "missing" in publish.reason
    [same] = rotation.choose(services[:1], {"revcore-gateway.service": (NEW, "t")}, lambda sp: NEW)
    assert same.outdated is False


def test_a_jobs_copy_is_rewritten_for_its_next_run_with_nothing_restarted(setup, make_config):
    _, ledger, journal = setup
    from revops.model import Timer

    job = Unit(name="revcore-gateway-nightly.service", path=None, service_type="oneshot",
               exec_start=[["/opt/v/bin/python", "job.py"]], environment_files=["/opt/shared/.env"],
               timers=[Timer("revcore-gateway-nightly.timer", None, on_calendar=["daily"])])
    inv = Inventory(root="/", scanned_at=None, units=[job])
    cfg = make_config()
    import dataclasses
    cfg = dataclasses.replace(cfg, suites=[dataclasses.replace(cfg.suites[0], units=("revcore-gateway-nightly.service",))])
    [sp] = P.build(inv, cfg, 1).services
    assert sp.kind == P.KIND_JOB
    host = RotateRecorder()
    done = rotation.rotate_one(host, journal, sp, lambda: False, lambda _m: None)
    assert (done.outcome, done.held, done.down_s) == (rotation.ROTATED, NEW, None)
    assert host.calls == ["rewrite", "keep"]  # no container to restart between runs
    assert "its next run reads the new copy" in done.reason
    held = versions.held(ledger.last_done(versions.HELD_STEPS))
    assert held[sp.unit][0] == NEW
