"""cleanup says plainly which live units are left without a destination (issue #15)."""

from io import StringIO

from rich.console import Console

from revops import coverage
from revops.cleanup.plan import CleanupPlan
from revops.commands import cleanup


def shown(result) -> str:
    out = StringIO()
    cleanup.render(result, Console(file=out, width=300))
    return out.getvalue()


def test_units_without_destination_are_named():
    measured = coverage.Coverage(3, 2, [coverage.Destination("a.service", "suite", "core", 1),
                                        coverage.Destination("b.service", "retire", reason="old"),
                                        coverage.Destination("stray.service", None)])
    text = shown(cleanup.CleanupResult("plan", CleanupPlan([], [], "LIVE"), coverage=measured))
    assert "1 live unit(s) have no destination in revops.yaml (2 of 3 live units have a destination)" in text
    assert "stray.service" in text


def test_nothing_said_when_every_unit_has_one():
    measured = coverage.Coverage(1, 1, [coverage.Destination("a.service", "suite", "core", 1)])
    assert "no destination" not in shown(cleanup.CleanupResult("plan", CleanupPlan([], [], "LIVE"), coverage=measured))
