"""Summary per phase and the exit code, from judged services."""

from __future__ import annotations

from revops.status.classify import judge
from revops.status.summary import summarize, summary_line

from status_builders import container, no_engine, no_port, probe_failed, service, unit


def _services():
    return [
        judge(service("ok.service")),
        judge(service("both.service", ctr=container())),
        judge(service("down.service", health=probe_failed())),
        judge(service("dark.service", phase=2, suite="lead-gen", systemd=unit("inactive", "dead"),
                      ctr=no_engine(), health=no_port())),
        judge(service("old.service", phase=None, suite=None, deprecated=True,
                      systemd=unit("failed", "failed"), health=no_port())),
    ]


def test_counts_per_phase_and_total():
    sm = summarize(_services())
    assert (sm.total, sm.healthy, sm.degraded, sm.down, sm.unknown, sm.retired) == (5, 1, 1, 1, 1, 1)
    by_phase = {p.phase: p for p in sm.phases}
    assert [p.phase for p in sm.phases] == [1, 2, None]
    assert (by_phase[1].healthy, by_phase[1].degraded, by_phase[1].down) == (1, 1, 1)
    assert by_phase[2].unknown == 1
    assert by_phase[None].retired == 1 and by_phase[None].down == 0
    assert sm.runs_under_both == ["both.service"]


def test_exit_code_is_1_unless_every_service_serves():
    sm = summarize(_services())
    assert (sm.ok, sm.exit_code) == (False, 1)


def test_exit_code_0_when_all_serve_and_retired_are_ignored():
    services = [judge(service("ok.service")), judge(service("both.service", ctr=container())),
                judge(service("old.service", deprecated=True, systemd=unit("failed", "failed"),
                              health=no_port()))]
    sm = summarize(services)
    assert (sm.ok, sm.exit_code) == (True, 0)


def test_unknown_fails_the_exit_code():
    sm = summarize([judge(service(ctr=no_engine(), systemd=unit("inactive", "dead"), health=no_port()))])
    assert sm.unknown == 1 and sm.exit_code == 1


def test_summary_line_names_each_phase():
    line = summary_line(summarize(_services()))
    assert line == ("phase 1: 1 healthy, 1 degraded, 1 down · phase 2: 1 unknown · "
                    "no phase: 1 retired")
