"""Coverage: every live unit of the example host has a destination (issue #15)."""

from __future__ import annotations

import pytest

from revops import config, coverage
from revops.commands import example_host, inventory
from revops.model import Inventory, Unit

MINIMAL = """suites:
  core:
    phase: 1
    units: [api.service]
keep_on_host:
  chore.service: "works on the host's own files"
retire:
  heal-venvs.service: "tends venvs"
deprecated: [old.service]
"""


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Inventory, config.Config]:
    host = tmp_path_factory.mktemp("host")
    example_host.run(host, live=False)
    cfg = config.load(host / "revops.yaml")
    return inventory.run(cfg, live=False).inventory, cfg


def test_every_live_unit_of_the_example_host_has_a_destination(scanned):
    inv, cfg = scanned
    measured = coverage.measure(inv, cfg)
    assert measured.figure() == "147 of 147 live units have a destination"
    assert measured.uncovered == [] and measured.complete
    assert sorted(measured.not_live) == [("revaudit.service", "deprecated"),
                                         ("revflow-legacy-crawler.service", "masked")]
    counts = measured.counts()
    assert counts == {"retire": 11, "keep-on-host": 2, "suite": 134}
    # the template's three instances are one unit file, in a suite
    workers = [d for d in measured.destinations if d.unit.startswith("revflow-worker@")]
    assert [d.unit for d in workers] == [f"revflow-worker@{n}.service" for n in (1, 2, 3)]
    assert {(d.kind, d.suite) for d in workers} == {("suite", "platform")}


def test_a_unit_without_destination_is_listed(tmp_path):
    path = tmp_path / "revops.yaml"
    path.write_text(MINIMAL)
    cfg = config.load(path)
    units = [Unit(name=n, path=None) for n in ("api.service", "chore.service", "heal-venvs.service",
                                                "old.service", "stray.service", "w@1.service", "w@2.service")]
    measured = coverage.measure(Inventory(root=".", scanned_at=None, units=units), cfg)
    assert measured.uncovered == ["stray.service", "w@1.service", "w@2.service"]
    assert (measured.live, measured.covered) == (5, 3)  # w@1 and w@2 count once, as w@.service
    assert measured.not_live == [("old.service", "deprecated")]
    by_unit = {d.unit: d for d in measured.destinations}
    assert by_unit["chore.service"].describe() == "keep-on-host: works on the host's own files"
    assert by_unit["heal-venvs.service"].kind == "retire"
    assert by_unit["api.service"].describe() == "suite core, phase 1"


def test_the_scan_reports_the_figure(tmp_path):
    from io import StringIO

    from rich.console import Console

    example_host.run(tmp_path, live=False)
    result = inventory.run(config.load(tmp_path / "revops.yaml"), live=False)
    assert result.contract()["coverage"]["covered"] == 147
    out = StringIO()
    inventory.render(result, Console(file=out, width=200))
    assert "coverage: 147 of 147 live units have a destination" in out.getvalue()


def test_the_scan_names_the_units_its_manager_does_not_know():
    """A live scan of units on disk the manager never loaded (a host torn down, a file not yet
    daemon-reloaded) says so, instead of a bare "failed: none"."""
    from io import StringIO

    from rich.console import Console

    from revops import model

    def unit(name: str, load_state: str) -> Unit:
        return Unit(name=name, path=None, live=model.LiveState(model.LIVE, "2026-11-30T15:00:00Z", load_state=load_state,
                                                               active_state="inactive"))

    units = [unit("api.service", "loaded"), unit("gone.service", "not-found"), unit("old.service", "masked"),
             unit("bad.service", "bad-setting"), Unit(name="offline.service", path=None)]
    assert inventory.not_loaded(units) == [("gone.service", "not-found")]  # bad.service: loaded, refused
    out = StringIO()
    inventory.render(inventory.ScanResult(Inventory(root="/", scanned_at=None, units=units), "user"),
                     Console(file=out, width=300))
    said = out.getvalue()
    assert "unknown to the manager: gone.service (LoadState not-found): files on disk" in said
    assert "api.service (" not in said and "old.service (" not in said and "bad.service (" not in said


def test_many_units_unknown_to_the_manager_are_counted_past_the_first_ten():
    from io import StringIO

    from rich.console import Console

    from revops import model

    units = [Unit(name=f"u{i:02}.service", path=None,
                  live=model.LiveState(model.LIVE, "2026-11-30T15:00:00Z", load_state="not-found")) for i in range(14)]
    out = StringIO()
    inventory.render(inventory.ScanResult(Inventory(root="/", scanned_at=None, units=units), "system"),
                     Console(file=out, width=400))
    said = out.getvalue()
    assert "u09.service (LoadState not-found) and 4 more" in said and "u10.service" not in said
