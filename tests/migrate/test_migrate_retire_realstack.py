"""Retiring an old-world unit on the test bed's real systemd user manager: a throwaway service
and its timer, both enabled and running, are stopped (the timer first) and disabled through
LiveHost's retire steps, journaled in a real ledger; the rollback enables and starts both
again from what the ledger recorded. systemctl is the judge of each state."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest

from revops.adapters import ledger as ledger_mod
from revops.adapters import proc, systemd
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import retire, retiring
from revops.migrate.executor import ROLLED_BACK
from revops.migrate.host import LiveHost

pytestmark = pytest.mark.realstack


def systemctl(*args: str, check: bool = True) -> str:
    return proc.run(["systemctl", "--user", *args], check=check, timeout=30).stdout.strip()


@pytest.fixture
def healer(testbed) -> Iterator[tuple[str, str]]:
    """A venv healer's stand-in: a service WantedBy=default.target and a timer firing it,
    both written to the bed's unit directory, enabled and started."""
    stem = f"revops-test-retire-{uuid.uuid4().hex[:8]}"
    service, timer = f"{stem}.service", f"{stem}.timer"
    unit_dir = testbed.user_unit_dir
    unit_dir.mkdir(parents=True, exist_ok=True)
    (unit_dir / service).write_text("[Service]\nExecStart=/usr/bin/python3 -c \"import time; time.sleep(600)\"\n"
                                    "[Install]\nWantedBy=default.target\n")
    (unit_dir / timer).write_text("[Timer]\nOnCalendar=*-*-* 03:17:00\n[Install]\nWantedBy=timers.target\n")
    systemctl("daemon-reload")
    systemctl("enable", "--now", service, timer)
    yield service, timer
    for name in (timer, service):
        systemctl("unmask", name, check=False)
        systemctl("disable", "--now", name, check=False)
        (unit_dir / name).unlink(missing_ok=True)
    systemctl("daemon-reload", check=False)


def test_a_unit_and_its_timer_are_retired_and_rolled_back_on_the_real_manager(healer, make_config, tmp_path):
    service, timer = healer
    assert systemctl("is-enabled", service, timer).split() == ["enabled", "enabled"]
    assert systemctl("is-active", service, timer).split() == ["active", "active"]
    led = ledger_mod.open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    host = LiveHost(make_config(), systemd.connect("user"), engine=None, compose=None, compose_files=[], services={})
    try:
        run_id = led.begin_run("op", "migrate --phase 2", 2, False)
        result = retiring.retire_one(host, Journal(led, run_id), service, [timer],
                                     P.retire_steps(service, [timer], False, []), mask=False, fragments={})
        assert result.outcome == retiring.RETIRED, result
        assert systemctl("is-active", service, timer, check=False).split() == ["inactive", "inactive"]
        assert systemctl("is-enabled", service, timer, check=False).split() == ["disabled", "disabled"]
        recorded = retiring.retired_units(led)[service]
        assert retire.read_before(recorded.detail, service) == [retire.Before(service, "enabled", "active"),
                                                                 retire.Before(timer, "enabled", "active")]

        back = retiring.put_back(host, Journal(led, led.begin_run("op", "rollback", None, False)), service,
                                 recorded.detail, {}, "operator asked (revops rollback)")
        assert back.outcome == ROLLED_BACK, back
        assert systemctl("is-enabled", service, timer).split() == ["enabled", "enabled"]
        assert systemctl("is-active", service, timer).split() == ["active", "active"]
        assert systemctl("show", "-p", "NextElapseUSecRealtime", "--value", timer) != ""
        assert retiring.retired_units(led) == {} and led.open_steps() == []
    finally:
        led.close()
