"""mask_on_migrate on the test bed's real systemd user manager, whose admin directory is
~/.config/systemd/user (RevFlow OS's is /etc/systemd/system): a unit whose file the
administrator wrote there, and a unit linked in from elsewhere, both enabled and running.
The cutover's disable step (LiveHost.retire_unit) and the retire of an old-world unit
(retiring.retire_one, journaled in a real ledger) no longer fail on the first: it is disabled
and left unmasked, said in the step; the linked one is masked. Their rollbacks (start_unit, as
`revops rollback UNIT` and a failed cutover run it; retiring.put_back) bring both back enabled
and active, the linked one linked again. systemctl is the judge of each state."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from revops import config as config_mod
from revops.adapters import ledger as ledger_mod
from revops.adapters import proc, systemd
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import retiring
from revops.migrate.executor import ROLLED_BACK
from revops.migrate.host import LiveHost
from revops.model import Unit

pytestmark = pytest.mark.realstack

UNIT = "[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=default.target\n"


def systemctl(*args: str, check: bool = True) -> str:
    return proc.run(["systemctl", "--user", *args], check=check, timeout=30).stdout.strip()


@pytest.fixture
def units(testbed, tmp_path) -> Iterator[tuple[str, str, Path]]:
    """(own, linked, root): own.service a regular file in the admin directory, linked.service
    a file under root/etc/systemd/system linked in; both enabled and started."""
    tag = uuid.uuid4().hex[:8]
    own, linked = f"revops-test-own-{tag}.service", f"revops-test-linked-{tag}.service"
    admin = testbed.user_unit_dir
    admin.mkdir(parents=True, exist_ok=True)
    (admin / own).write_text(UNIT)
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system" / linked).write_text(UNIT)
    systemctl("daemon-reload")
    systemctl("link", str(root / "etc/systemd/system" / linked))
    systemctl("enable", "--now", own, linked)
    yield own, linked, root
    for name in (own, linked):
        systemctl("stop", name, check=False)
        systemctl("unmask", name, check=False)
        systemctl("disable", name, check=False)
        (admin / name).unlink(missing_ok=True)
    systemctl("daemon-reload", check=False)


def host_for(root: Path, tmp_path: Path) -> LiveHost:
    path = tmp_path / "revops.yaml"
    path.write_text(f"host: {{root: {root}}}\nsystemd: {{bus: user, mask_on_migrate: true}}\n"
                    "suites:\n  core:\n    phase: 1\n    units: [\"revops-test-*.service\"]\n")
    return LiveHost(config_mod.load(path), systemd.connect("user"), engine=None, compose=None,
                    compose_files=[], services={})


def plan_of(host: LiveHost, name: str, root: Path) -> P.ServicePlan:
    path = f"etc/systemd/system/{name}" if (root / "etc/systemd/system" / name).exists() else None
    return P.service_plan(Unit(name=name, path=path), host.config, [])


def test_the_cutovers_disable_masks_what_it_can_and_the_rollback_restores_both(units, tmp_path, testbed):
    own, linked, root = units
    host = host_for(root, tmp_path)
    assert systemctl("is-enabled", own, linked).split() == ["enabled", "enabled"]
    said = {name: host.retire_unit(plan_of(host, name, root), mask=True) for name in (own, linked)}
    assert said[own] == (f"{own} disabled; {own} not masked (its unit file {testbed.user_unit_dir / own} is in the "
                         "manager's admin directory, where the mask would have to replace it (systemctl(1) mask))")
    assert said[linked] == f"{linked} disabled; {linked} masked"
    assert systemctl("is-enabled", own, linked, check=False).split() == ["disabled", "masked"]
    assert (testbed.user_unit_dir / own).read_text() == UNIT  # the administrator's file, untouched
    # A run killed after the step did its work resumes by running it again: same outcome.
    assert {name: host.retire_unit(plan_of(host, name, root), mask=True) for name in (own, linked)} == said
    assert systemctl("is-enabled", own, linked, check=False).split() == ["disabled", "masked"]

    for name in (own, linked):  # the units were never stopped here: a rollback starts what is down
        systemctl("stop", name)
        host.start_unit(plan_of(host, name, root))
    assert systemctl("is-enabled", own, linked).split() == ["enabled", "enabled"]
    assert systemctl("is-active", own, linked).split() == ["active", "active"]
    assert Path(os.readlink(testbed.user_unit_dir / linked)) == root / "etc/systemd/system" / linked


def test_the_retire_with_mask_on_an_admin_unit_file_is_done_and_put_back_enabled_and_active(units, tmp_path):
    own, linked, root = units
    host = host_for(root, tmp_path)
    led = ledger_mod.open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    try:
        run_id = led.begin_run("op", "migrate --phase 1", 1, False)
        fragments = {linked: root / "etc/systemd/system" / linked}
        results = {name: retiring.retire_one(host, Journal(led, run_id), name, [],
                                             P.retire_steps(name, [], True, []), mask=True, fragments=fragments)
                   for name in (own, linked)}
        assert {n: r.outcome for n, r in results.items()} == {own: retiring.RETIRED, linked: retiring.RETIRED}, results
        assert f"{own} not masked (its unit file" in results[own].steps[-1].detail
        assert systemctl("is-enabled", own, linked, check=False).split() == ["disabled", "masked"]
        assert systemctl("is-active", own, linked, check=False).split() == ["inactive", "inactive"]

        recorded = retiring.retired_units(led)
        rollback = Journal(led, led.begin_run("op", "rollback", None, False))
        for name in (own, linked):
            back = retiring.put_back(host, rollback, name, recorded[name].detail, fragments, "operator asked")
            assert back.outcome == ROLLED_BACK, back
        assert systemctl("is-enabled", own, linked).split() == ["enabled", "enabled"]
        assert systemctl("is-active", own, linked).split() == ["active", "active"]
        assert retiring.retired_units(led) == {} and led.open_steps() == []
    finally:
        led.close()
