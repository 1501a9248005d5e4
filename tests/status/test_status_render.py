"""The people's view: the table, the sources and the summary; and --watch ending on Ctrl-C."""

from __future__ import annotations

import io
import signal

from rich.console import Console

from revops.commands import status as status_cmd
from revops.status.assemble import Scope
from revops.status.classify import judge
from revops.status.figures import SourceReport, StatusReport
from revops.status.summary import summarize

from status_builders import T, no_engine, no_port, probe_failed, service, unit


def _report():
    services = [judge(service("api.service", ctr=no_engine())),
                judge(service("gone.service", health=probe_failed(), systemd=unit("failed", "failed"))),
                judge(service("old.service", deprecated=True, systemd=unit("inactive", "dead"), health=no_port()))]
    sources = [SourceReport("systemd", "LIVE", T, detail="3 units"),
               SourceReport("docker", "UNAVAILABLE", T, reason="Docker engine at unix:///x: refused")]
    return StatusReport(T, "revops.yaml", Scope().as_dict(), sources, services, summarize(services))


def _text(console_kwargs=None) -> str:
    buffer = io.StringIO()
    status_cmd.render(_report(), Console(file=buffer, **(console_kwargs or {})))
    return buffer.getvalue()


def test_table_names_every_service_and_marks_unavailable_figures():
    text = _text()
    for name in ("api.service", "gone.service", "old.service"):
        assert name in text
    assert "n/a" in text  # the container column while the engine is down
    assert "docker: UNAVAILABLE: Docker engine at unix:///x: refused" in text
    assert "connection refused" in text
    assert "down (retired)" in text


def test_summary_says_not_ok_and_counts():
    text = _text()
    assert "NOT OK" in text
    assert "1 healthy, 0 degraded, 1 down, 0 unknown of 2" in text
    assert "(+1 retired" in text


def test_piped_output_is_wide_enough_for_long_names():
    long_name = "revflow-a-very-long-service-name-for-a-narrow-pipe.service"
    report = _report()
    report.services[0].name = long_name
    buffer = io.StringIO()
    status_cmd.render(report, Console(file=buffer, width=80))
    assert long_name in buffer.getvalue()


def test_watch_redraws_until_ctrl_c_and_returns_130():
    calls = []

    def read():
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C mid-reading: this reading still completes
        return _report()

    for terminal in (True, False):
        calls.clear()
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=terminal, width=200)
        assert status_cmd.watch(read, 0.01, console) == 130
        assert len(calls) == 3
        assert "api.service" in buffer.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
