"""A job's timer in status: its last run's result from the service, UNAVAILABLE with the reason."""

from revops.model import Timer, Unit
from revops.status import assemble
from revops.status.figures import LIVE, UNAVAILABLE, SourceReport, SystemdFigure, TimerFigure
from revops.status.gather import SourceRead

JOB = Unit(name="revflow-backup.service", path=None, service_type="oneshot",
           timers=[Timer("revflow-backup.timer", None, on_calendar=["*-*-* 01:30:00"])])


def reads(timers: SourceRead) -> dict:
    systemd = SourceRead(SourceReport("systemd", LIVE, "t"), {
        JOB.name: SystemdFigure(LIVE, "t", active_state="inactive", sub_state="dead", result="exit-code")})
    return {"systemd": systemd, "timers": timers}


def test_last_result_is_the_services_result():
    timers = SourceRead(SourceReport("timers", LIVE, "t"), {JOB.name: TimerFigure(
        LIVE, "t", timer="revflow-backup.timer", last_trigger="2026-11-29T01:30:00+00:00",
        next_trigger="2026-11-30T01:30:00+00:00")})
    figure = assemble._timer(JOB, reads(timers))
    assert figure.last_result == "exit-code" and figure.next_trigger.startswith("2026-11-30")


def test_unavailable_timers_say_why_and_units_without_timer_have_none():
    timers = SourceRead(SourceReport("timers", UNAVAILABLE, "t", reason="bus down"))
    figure = assemble._timer(JOB, reads(timers))
    assert (figure.provenance, figure.reason, figure.last_trigger) == (UNAVAILABLE, "bus down", None)
    assert assemble._timer(Unit(name="api.service", path=None), reads(timers)) is None


def test_the_coverage_line_names_what_has_no_destination():
    from revops.status import render
    from revops.status.figures import CoverageFigure, StatusReport

    report = StatusReport("t", "revops.yaml", {}, [], [], None,
                          coverage=CoverageFigure("CACHED", "2026-11-29T12:00:00+00:00", 5, 4, ["stray.service"]))
    [line] = render._coverage_line(report)
    assert line.plain == ("coverage (CACHED, inventory of 2026-11-29T12:00:00+00:00): 4 of 5 live units have a "
                          "destination; without one: stray.service")
