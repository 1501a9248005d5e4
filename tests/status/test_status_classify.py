"""The verdict rules, fed with figures: healthy somewhere, degraded, down, unknown."""

from __future__ import annotations

import pytest

from revops.status import classify
from revops.status.classify import judge

from status_builders import (
    container, ledger, no_bus, no_container, no_engine, no_port, probe, probe_failed, service,
    unit,
)


@pytest.mark.parametrize("fig, expected", [
    (unit("active", "running"), "running"),
    (unit("activating", "auto-restart"), "restarting"),
    (unit("activating", "start"), "starting"),
    (unit("failed", "failed"), "failed"),
    (unit("inactive", "dead"), "stopped"),
    (unit("inactive", "dead", load="not-found"), "absent"),
    (no_bus(), "unknown"),
])
def test_systemd_runtime(fig, expected):
    assert classify.systemd_runtime(fig) == expected


@pytest.mark.parametrize("fig, expected", [
    (container("running"), "running"),
    (container("restarting"), "restarting"),
    (container("exited"), "stopped"),
    (no_container(), "absent"),
    (no_engine(), "unknown"),
])
def test_container_runtime(fig, expected):
    assert classify.container_runtime(fig) == expected


def test_healthy_under_systemd():
    svc = judge(service())
    assert (svc.verdict, svc.placement, svc.flags) == ("healthy", "systemd", [])
    assert svc.systemd.runtime == "running" and svc.container.runtime == "absent"


def test_healthy_under_docker_after_migration():
    svc = judge(service(systemd=unit("inactive", "dead", file_state="disabled"),
                        ctr=container(), migration=ledger("migrated")))
    assert (svc.verdict, svc.placement, svc.flags) == ("healthy", "docker", [])


def test_both_is_flagged_and_degraded():
    svc = judge(service(ctr=container()))
    assert svc.placement == "both"
    assert "runs-under-both" in svc.flags
    assert svc.verdict == "degraded"


def test_neither_is_flagged_and_down():
    svc = judge(service(systemd=unit("inactive", "dead"), health=probe_failed()))
    assert svc.placement == "neither"
    assert "runs-under-neither" in svc.flags
    assert svc.verdict == "down"


def test_failed_probe_is_never_healthy_even_when_the_unit_runs():
    svc = judge(service(health=probe_failed("read timeout after 2s")))
    assert svc.verdict == "down"
    assert "read timeout" in svc.why


def test_http_500_is_down():
    svc = judge(service(health=probe("unhealthy", 500, "HTTP 500")))
    assert svc.verdict == "down"


def test_crash_loop_is_down_when_nothing_answers():
    svc = judge(service(systemd=unit("activating", "auto-restart", restarts=7), health=probe_failed()))
    assert svc.verdict == "down"
    assert "crash-looping" in svc.flags
    assert svc.placement == "systemd"


def test_engine_down_keeps_systemd_figures_and_does_not_claim_neither():
    svc = judge(service(systemd=unit("inactive", "dead"), ctr=no_engine(), health=no_port()))
    assert svc.placement == "unknown"
    assert svc.verdict == "unknown"
    assert svc.container.runtime is None
    assert svc.systemd.runtime == "stopped"


def test_engine_down_and_service_answers_under_systemd_is_healthy():
    svc = judge(service(ctr=no_engine()))
    assert svc.verdict == "healthy"
    assert svc.placement == "unknown"


def test_everything_unavailable_is_unknown():
    svc = judge(service(systemd=no_bus(), ctr=no_engine(), health=no_port()))
    assert (svc.verdict, svc.placement) == ("unknown", "unknown")


def test_no_port_running_is_healthy_and_stopped_is_down():
    assert judge(service(health=no_port())).verdict == "healthy"
    stopped = judge(service(systemd=unit("failed", "failed"), health=no_port()))
    assert stopped.verdict == "down" and "unit-failed" in stopped.flags


def test_unhealthy_container_alone_is_down():
    svc = judge(service(systemd=unit("inactive", "dead"), ctr=container(health="unhealthy"), health=no_port()))
    assert svc.verdict == "down"


def test_ledger_disagreement_degrades():
    svc = judge(service(migration=ledger("migrated")))
    assert "not-where-ledger-says" in svc.flags
    assert svc.verdict == "degraded"


def test_deprecated_running_is_flagged():
    svc = judge(service(deprecated=True, systemd=unit("activating", "auto-restart"), health=no_port()))
    assert "deprecated-running" in svc.flags
    assert svc.verdict == "down"


def test_idle_job_after_a_successful_run_is_healthy():
    svc = judge(service(kind="job", systemd=unit("inactive", "dead"), health=no_port()))
    assert svc.systemd.runtime == "idle"
    assert (svc.verdict, svc.placement, svc.flags) == ("healthy", "systemd", [])


def test_job_whose_last_run_failed_is_down():
    failed = judge(service(kind="job", systemd=unit("failed", "failed", result="exit-code"), health=no_port()))
    assert failed.verdict == "down"
    dead = judge(service(kind="job", systemd=unit("inactive", "dead", result="exit-code"), health=no_port()))
    assert dead.verdict == "down" and dead.systemd.runtime == "stopped"


def test_daemon_inactive_is_not_idle():
    svc = judge(service(systemd=unit("inactive", "dead"), health=no_port()))
    assert svc.verdict == "down" and svc.systemd.runtime == "stopped"


def test_masked_without_container_is_retired():
    svc = judge(service(systemd=unit("inactive", "dead", load="masked", file_state="masked"), health=no_port()))
    assert svc.retired and svc.systemd.runtime == "absent"


def test_masked_after_migration_with_a_container_is_judged_normally():
    svc = judge(service(masked=True, systemd=unit("inactive", "dead", load="masked"), ctr=container(),
                        migration=ledger("migrated")))
    assert not svc.retired
    assert (svc.verdict, svc.placement) == ("healthy", "docker")


def test_deprecated_is_retired_even_when_it_loops():
    svc = judge(service(deprecated=True, systemd=unit("activating", "auto-restart"), health=no_port()))
    assert svc.retired and "deprecated-running" in svc.flags


def test_unmasked_since_the_scan_is_not_retired():
    svc = judge(service(masked=True, systemd=unit("inactive", "dead"), health=no_port()))
    assert not svc.retired and svc.verdict == "down"


def test_inventory_masking_counts_when_the_bus_is_down():
    svc = judge(service(masked=True, systemd=no_bus(), ctr=no_container(), health=no_port()))
    assert svc.retired
