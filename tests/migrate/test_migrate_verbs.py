"""Pure parts of quick-wins and rollback: which units, which actions, which order."""

from __future__ import annotations

import pytest

from revops.errors import UsageError
from revops.migrate import plan as P
from revops.migrate import quick_wins as Q
from revops.commands import rollback
from revops.model import Inventory, Unit


def inventory(*extra: Unit) -> Inventory:
    return Inventory(root="/", scanned_at=None, units=[
        Unit(name="revcore-gateway.service", path="etc/systemd/system/revcore-gateway.service", port=8004),
        Unit(name="revpublish.service", path="etc/systemd/system/revpublish.service", port=8550,
             after=["revcore-gateway.service"]),
        Unit(name="revscore-iq.service", path=None, port=8570, after=["revpublish.service"]),
        Unit(name="revaudit.service", path="etc/systemd/system/revaudit.service"),
        *extra,
    ])


def test_quick_wins_stop_the_deprecated_and_restart_the_named(make_config):
    cfg = make_config()
    actions, missing = Q.plan(inventory(Unit(name="revflow-revwins.service", path=None)), cfg)
    assert [(a.unit, a.action) for a in actions] == [("revaudit.service", Q.STOP_DISABLE),
                                                      ("revflow-revwins.service", Q.RESTART)]
    assert missing == []
    actions, missing = Q.plan(inventory(), cfg)
    assert [a.unit for a in actions] == ["revaudit.service"]
    assert missing == ["revflow-revwins.service"]  # said, not silently dropped


def test_rollback_of_a_phase_goes_dependents_first_and_skips_the_untouched(make_config):
    cfg = make_config()
    states = {"revcore-gateway.service": P.MIGRATED, "revpublish.service": P.MIGRATED,
              "revscore-iq.service": P.MIGRATING}
    chosen, skipped = rollback.choose(inventory(), cfg, [], 1, states, [])
    assert [s.unit for s in chosen] == ["revscore-iq.service", "revpublish.service", "revcore-gateway.service"]
    assert chosen[-1].fragment == "etc/systemd/system/revcore-gateway.service"
    chosen, skipped = rollback.choose(inventory(), cfg, [], 1, {"revpublish.service": P.MIGRATED}, [])
    assert [s.unit for s in chosen] == ["revpublish.service"]
    assert {s.unit for s in skipped} == {"revcore-gateway.service", "revscore-iq.service"}


def test_rollback_wants_names_or_a_phase(make_config):
    cfg = make_config()
    with pytest.raises(UsageError, match="not both"):
        rollback.choose(inventory(), cfg, ["revpublish"], 1, {}, [])
    with pytest.raises(UsageError, match="not both"):
        rollback.choose(inventory(), cfg, [], None, {}, [])
    with pytest.raises(UsageError, match="nope"):
        rollback.choose(inventory(), cfg, ["nope"], None, {}, [])
