"""The CIS Docker Benchmark's runtime checks (section 5): each case file names its services after
the variant they hold, and a service called "fine" (or fine-*) must never be flagged."""

import os
from pathlib import Path

import pytest

from revops.validate import rules, validate
from revops.validate.findings import ERROR, WARNING
from revops.validate.rules import Context

CASES = Path(__file__).parent / "cases"


def flagged(path: Path, rule: str, ctx: Context = Context()) -> dict[str, list]:
    found: dict[str, list] = {}
    for f in validate([path], ctx, externals=False).findings:
        if f.rule == rule:
            found.setdefault(f.service, []).append(f)
    return found


@pytest.mark.parametrize("rule, services, cis", [
    ("host-namespace", {"network", "pid", "ipc", "uts", "userns", "cgroup"}, None),
    ("cap-add", {"all", "sys-admin", "net-admin", "ptrace-lower-case"}, "5.4"),
    ("security-opt-unconfined", {"seccomp", "seccomp-equals", "apparmor", "selinux", "systempaths"}, None),
    ("devices", {"disk", "cgroup-rule"}, "5.18"),
    ("host-path-sensitive", {"root", "etc-read-only", "proc-long", "sys-cgroup", "boot", "dev", "dot-dot",
                             "bound-volume", "var"}, "5.6"),
    ("docker-socket", {"var-run", "run-read-only", "long", "directory", "containerd"}, "5.32"),
    ("mount-propagation-shared", {"short", "long"}, "5.20"),
    ("privileged-port", {"web"}, "5.8"),
    ("cgroup-parent", {"placed"}, "5.25"),
    ("read-only-root", {"writable", "explicit-false"}, "5.13"),
    ("hardening-missing", {"bare", "unlimited-pids", "new-privileges-allowed"}, None),
])
def test_each_variant_is_flagged_and_nothing_else(rule, services, cis):
    found = flagged(CASES / f"{rule}.bad.yml", rule)
    assert set(found) == services
    for items in found.values():
        for f in items:
            assert f.line and f.key.startswith(f"services.{f.service}") and f.severity == rules.RULES[rule].severity
            if f.service != "systempaths":  # unmasked /proc paths have no number of their own
                assert "CIS Docker Benchmark" in f.message and (cis is None or cis in f.message)


@pytest.mark.parametrize("service, number", [
    ("network", "5.10"), ("pid", "5.16"), ("ipc", "5.17"), ("uts", "5.21"), ("userns", "5.31"),
])
def test_each_namespace_cites_its_recommendation(service, number):
    [f] = flagged(CASES / "host-namespace.bad.yml", "host-namespace")[service]
    assert f.message.endswith(f"(CIS Docker Benchmark {number})")


@pytest.mark.parametrize("service, number", [
    ("seccomp", "5.22"), ("seccomp-equals", "5.22"), ("apparmor", "5.2"), ("selinux", "5.3"),
])
def test_each_confinement_cites_its_recommendation(service, number):
    [f] = flagged(CASES / "security-opt-unconfined.bad.yml", "security-opt-unconfined")[service]
    assert f.message.endswith(f"(CIS Docker Benchmark {number})")


def test_the_findings_the_issue_names_are_errors():
    """#12.8: network_mode: host, cap_add: [ALL] and the Docker socket all passed before."""
    assert flagged(CASES / "host-namespace.bad.yml", "host-namespace")["network"][0].severity == ERROR
    assert flagged(CASES / "cap-add.bad.yml", "cap-add")["all"][0].severity == ERROR
    assert flagged(CASES / "docker-socket.bad.yml", "docker-socket")["var-run"][0].severity == ERROR


def test_privileged_lifecycle_hook():
    [f] = flagged(CASES / "privileged-hook.bad.yml", "privileged")["api"]
    assert f.key == "services.api.post_start.0.privileged" and f.line == 7


def test_hardening_lists_only_what_is_missing():
    found = flagged(CASES / "hardening-missing.bad.yml", "hardening-missing")
    [bare], [pids], [nnp] = found["bare"], found["unlimited-pids"], found["new-privileges-allowed"]
    for part in ("cap_drop: [ALL] (5.4)", "(5.11)", "(5.12)", "no-new-privileges:true (5.26)", "pids_limit (5.29)"):
        assert part in bare.message
    assert "(5.29)" in pids.message and "(5.4)" not in pids.message and "(5.26)" not in pids.message
    assert "(5.26)" in nnp.message and "(5.29)" not in nnp.message
    assert bare.severity == WARNING


def test_read_only_root_when_the_config_asks():
    """good.yml asks nothing of itself: read_only is required only once the context says so."""
    assert flagged(CASES / "good.yml", "read-only-root") == {}
    asked = flagged(CASES / "good.yml", "read-only-root", Context(read_only_root=True))
    assert set(asked) == {"api", "worker"}


def test_sensitive_path_through_a_symlink_in_the_repo(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "hostetc").symlink_to("/etc")
    (tmp_path / "data").mkdir()
    (tmp_path / "own").symlink_to("data")
    compose = tmp_path / "compose.yml"
    compose.write_text('services:\n  api:\n    image: "revflow/api:1.4.2"\n'
                       '    volumes: ["./hostetc/ssh:/ssh:ro", "./own:/data"]\n')
    [f] = flagged(compose, "host-path-sensitive")["api"]
    assert f.key == "services.api.volumes.0" and "/etc/ssh" in f.message


def test_socket_through_a_symlinked_directory(tmp_path):
    (tmp_path / "run").symlink_to("/run")
    compose = tmp_path / "compose.yml"
    compose.write_text('services:\n  api:\n    image: "revflow/api:1.4.2"\n'
                       '    volumes: [{type: bind, source: ./run/docker.sock, target: /sock}]\n')
    assert "api" in flagged(compose, "docker-socket")


def test_good_file_passes_every_cis_rule():
    cis_rules = [r for r in rules.RULES.values() if "CIS" in r.description]
    assert len(cis_rules) >= 12
    found = validate([CASES / "good.yml"], Context(), externals=False).findings
    assert [f for f in found if f.rule in {r.id for r in cis_rules}] == []


@pytest.mark.skipif(os.geteuid() != 0 and not Path("/etc").exists(), reason="needs /etc")
def test_named_volume_without_bind_is_not_a_host_path():
    found = flagged(CASES / "host-path-sensitive.bad.yml", "host-path-sensitive")
    assert "fine" not in found  # appdata is a plain named volume
