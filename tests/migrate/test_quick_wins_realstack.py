"""Quick wins against the test bed's systemd user manager, with two units of our own: one in
a restart loop (deprecated), one that fails however often it is restarted."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from revops.adapters import systemd
from revops.adapters.ledger import open_ledger
from revops.migrate import quick_wins as Q
from revops.journal import Journal
from revops.model import Inventory, Unit

pytestmark = pytest.mark.realstack

LOOP = "[Unit]\nDescription=revops test: restart loop\n[Service]\nExecStart=/bin/sh -c 'sleep 0.2; exit 3'\n" \
       "Restart=always\nRestartSec=0.3\nStartLimitIntervalSec=0\n[Install]\nWantedBy=default.target\n"
FAILS = "[Unit]\nDescription=revops test: always fails\n[Service]\nExecStart=/bin/sh -c 'exit 7'\n"


@pytest.fixture
def units(testbed, tmp_path):
    tag = uuid.uuid4().hex[:8]
    names = {"loop": f"revops-test-qw-{tag}-loop.service", "fails": f"revops-test-qw-{tag}-fails.service"}
    unit_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"
    unit_dir.mkdir(parents=True, exist_ok=True)
    (unit_dir / names["loop"]).write_text(LOOP)
    (unit_dir / names["fails"]).write_text(FAILS)
    manager = systemd.connect("user")
    manager.reload()
    manager.enable([names["loop"]])
    manager.start(names["loop"])
    try:
        yield manager, names
    finally:
        for name in names.values():
            try:
                manager.stop(name, 10)
            except Exception:
                pass
        manager.disable(list(names.values()))
        for name in names.values():
            (unit_dir / name).unlink(missing_ok=True)
        manager.reload()
        for name in names.values():
            try:
                manager.reset_failed(name)
            except Exception:
                pass


def test_quick_wins_stop_the_loop_and_report_a_failing_restart_honestly(units, make_config, tmp_path):
    manager, names = units
    deadline = time.monotonic() + 20
    while (manager.states([names["loop"]])[names["loop"]].n_restarts or 0) < 1:
        assert time.monotonic() < deadline, "the loop unit never restarted"
        time.sleep(0.2)
    cfg = make_config()
    cfg = type(cfg)(**{**cfg.__dict__, "deprecated": (names["loop"],), "quick_wins_restart": (names["fails"],)})
    inventory = Inventory("/", None, [Unit(name=n, path=None) for n in names.values()])
    actions, missing = Q.plan(inventory, cfg)
    assert [(a.unit, a.action) for a in actions] == [(names["loop"], Q.STOP_DISABLE), (names["fails"], Q.RESTART)]
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    run_id = ledger.begin_run("test", "quick-wins", None, False)
    results = Q.execute(actions, manager, Journal(ledger, run_id), settle_s=1.0)
    loop, fails = results
    assert loop.ok and loop.state["active_state"] in ("inactive", "failed")
    assert loop.state["unit_file_state"] == "disabled"
    assert not fails.ok and "still failing" in fails.detail and "exit status 7" in fails.detail
    steps = ledger.steps(run_id)
    assert [(s.service, s.state) for s in steps] == [(names["loop"], "done"), (names["fails"], "failed")]
    time.sleep(1.0)  # the loop stays stopped: no restart behind our back
    assert manager.states([names["loop"]])[names["loop"]].active_state in ("inactive", "failed")
    ledger.close()
