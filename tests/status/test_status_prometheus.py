"""The textfile-collector text: well formed, labelled, and silent where a figure was not read."""

from __future__ import annotations

import re

from revops.status.assemble import Scope
from revops.status.classify import judge
from revops.status.figures import SourceReport, StatusReport
from revops.status.prometheus import escape, render
from revops.status.summary import summarize

from status_builders import T, container, no_engine, probe_failed, service, unit

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')


def _report(services):
    sources = [SourceReport("systemd", "LIVE", T), SourceReport("docker", "UNAVAILABLE", T, reason="down")]
    return StatusReport(generated_at=T, config="revops.yaml", filters=Scope().as_dict(),
                        sources=sources, services=services, summary=summarize(services))


def _samples(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = value
    return out


def test_every_line_is_help_type_or_a_sample():
    text = render(_report([judge(service("a.service", ctr=no_engine())),
                           judge(service("b.service", health=probe_failed()))]))
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith(("# HELP ", "# TYPE ")) or SAMPLE.match(line), line
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
    assert names == helps and "revops_service_healthy" in names


def test_values_follow_the_verdicts():
    samples = _samples(render(_report([
        judge(service("a.service", systemd=unit(restarts=3))),
        judge(service("b.service", health=probe_failed())),
    ])))
    assert samples['revops_service_healthy{service="a.service",suite="core",phase="1"}'] == "1"
    assert samples['revops_service_healthy{service="b.service",suite="core",phase="1"}'] == "0"
    assert samples['revops_service_status{service="b.service",suite="core",phase="1",status="down"}'] == "1"
    assert samples['revops_systemd_restarts{service="a.service",suite="core",phase="1"}'] == "3"
    assert samples['revops_health_probe_latency_seconds{service="a.service",suite="core",phase="1"}'] == "0.003"
    assert samples['revops_source_up{source="docker"}'] == "0"
    assert samples['revops_status_services{phase="1",status="healthy"}'] == "1"


def test_unavailable_figures_have_no_sample():
    text = render(_report([judge(service("a.service", ctr=no_engine()))]))
    assert "revops_container_running{" not in text
    assert "revops_container_restarts{" not in text
    assert 'revops_systemd_active{service="a.service"' in text


def test_container_figures_when_read():
    samples = _samples(render(_report([judge(service("a.service", ctr=container(restarts=2)))])))
    assert samples['revops_container_running{service="a.service",suite="core",phase="1"}'] == "1"
    assert samples['revops_container_restarts{service="a.service",suite="core",phase="1"}'] == "2"


def test_label_values_are_escaped():
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
