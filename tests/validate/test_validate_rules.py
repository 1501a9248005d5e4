"""Every rule has a file that breaks it and a file that does not (tests/validate/cases)."""

import re
from pathlib import Path

import pytest

from revops.validate import rules, validate
from revops.validate.findings import ERROR, WARNING
from revops.validate.rules import Context

CASES = Path(__file__).parent / "cases"
COMPOSE_RULES = sorted(r.id for r in rules.RULES.values() if r.target == "compose") + ["compose-spec", "yaml-invalid"]
DOCKERFILE_RULES = sorted(r.id for r in rules.RULES.values() if r.target == "dockerfile")


def findings(path: Path, ctx: Context = Context()):
    return validate([path], ctx, externals=False).findings


@pytest.fixture(autouse=True, scope="module")
def secret_file_open_to_all():
    """git keeps no file modes but the executable bit: give the case its 0644 whatever the umask."""
    (CASES / "secret-file-mode.secret").chmod(0o644)


def bad_file(rule_id: str) -> Path:
    """A stack file's rules break on a stack file (validate knows one by its name)."""
    return CASES / (f"{rule_id}.bad.stack.yml" if rule_id.startswith("stack-") else f"{rule_id}.bad.yml")


def test_every_rule_has_cases():
    for rule_id in COMPOSE_RULES:
        assert bad_file(rule_id).is_file(), rule_id
    for rule_id in DOCKERFILE_RULES:
        assert (CASES / f"{rule_id}.bad.Dockerfile").is_file(), rule_id


@pytest.mark.parametrize("rule_id", COMPOSE_RULES)
def test_compose_rule_breaks_on_its_bad_file(rule_id):
    found = [f for f in findings(bad_file(rule_id)) if f.rule == rule_id]
    assert found, f"{bad_file(rule_id).name} gave no {rule_id} finding"
    for f in found:
        assert f.file.endswith(bad_file(rule_id).name) and f.message
        if rule_id not in ("yaml-invalid",):
            assert f.key, f"{rule_id}: a finding names its key"


@pytest.mark.parametrize("rule_id", DOCKERFILE_RULES)
def test_dockerfile_rule_breaks_on_its_bad_file(rule_id):
    found = [f for f in findings(CASES / f"{rule_id}.bad.Dockerfile") if f.rule == rule_id]
    assert found and all(f.line for f in found)


def test_good_files_break_no_rule():
    assert findings(CASES / "good.yml") == []
    assert findings(CASES / "good.Dockerfile") == []


def test_good_stack_file_only_says_where_its_port_answers():
    """A port published in mode host is public on its nodes whatever the file does: always said."""
    [f] = findings(CASES / "good.stack.yml")
    assert (f.rule, f.severity, f.key) == ("stack-port-public", WARNING, "services.api.ports.0")
    assert "every interface of every node (deploy.mode global)" in f.message


def test_a_stack_file_is_not_read_as_a_compose_file():
    """The same service in a compose file breaks compose's rules (all interfaces, no restart:)."""
    import shutil, tempfile
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "api.yml"
        shutil.copy(CASES / "good.stack.yml", plain)
        rules_hit = {f.rule for f in findings(plain)}
    assert "ports-all-interfaces" in rules_hit and "stack-port-public" not in rules_hit


def test_ingress_port_is_an_error_without_ipvs(monkeypatch):
    from revops.validate import stack
    monkeypatch.setattr(stack, "ipvs_missing", lambda: "this machine's kernel (x) has no IPVS")
    [f] = [f for f in findings(CASES / "stack-port-public.bad.stack.yml") if f.rule == "stack-port-public"]
    assert f.severity == ERROR and "mode host" in f.message and "no IPVS" in f.message
    monkeypatch.setattr(stack, "ipvs_missing", lambda: None)
    [f] = [f for f in findings(CASES / "stack-port-public.bad.stack.yml") if f.rule == "stack-port-public"]
    assert f.severity == WARNING and "routing mesh" in f.message


def test_update_monitor_named_against_the_health_window():
    [f] = [f for f in findings(CASES / "stack-update-monitor.bad.stack.yml") if f.rule == "stack-update-monitor"]
    assert f.key == "services.api.deploy.update_config.monitor" and "45s" in f.message


def test_findings_name_file_service_key_and_line():
    [f] = [f for f in findings(CASES / "healthcheck-duration.bad.yml") if f.rule == "healthcheck-duration"]
    assert (f.service, f.key, f.severity) == ("worker", "services.worker.healthcheck.interval", ERROR)
    assert f.line == (CASES / "healthcheck-duration.bad.yml").read_text().splitlines().index("      interval: 90 seconds") + 1
    assert "90 seconds" in f.message


def test_yaml_error_gives_its_line():
    [f] = findings(CASES / "yaml-invalid.bad.yml")
    assert f.rule == "yaml-invalid" and f.line is not None and f.line > 1


def test_configured_base_on_latest_is_a_warning_not_an_error():
    path = CASES / "dockerfile-from-unpinned.bad.Dockerfile"
    [plain] = findings(path)
    [tolerated] = findings(path, Context(base_image="revflow/python-base:latest"))
    assert plain.severity == ERROR and tolerated.severity == WARNING


def test_cycle_names_the_loop():
    [f] = [f for f in findings(CASES / "depends-on-cycle.bad.yml") if f.rule == "depends-on-cycle"]
    assert "api -> worker -> api" in f.message


def test_schema_finding_cites_the_vendored_schema():
    [f] = [f for f in findings(CASES / "compose-spec.bad.yml") if f.rule == "compose-spec"]
    assert "check_jsonschema/builtin_schemas/vendor/compose-spec.json#/" in f.message
    assert f.key == "services.worker.mem_limit"


def test_values_of_odd_shapes_are_reported_not_crashed_on():
    found = findings(CASES / "odd-shapes.bad.yml")
    keys = {f.key for f in found if f.rule == "compose-spec"}
    assert {"services.weird.image", "services.weird.ports", "services.listy"} <= keys
    assert all(f.severity in ("error", "warning", "note") and f.message for f in found)


def test_ports_published_on_all_interfaces_are_errors():
    found = [f for f in findings(CASES / "ports-all-interfaces.bad.yml") if f.rule == "ports-all-interfaces"]
    assert [(f.service, f.severity) for f in found] == [("api", ERROR)]
    assert rules.RULES["ports-all-interfaces"].severity == ERROR


@pytest.mark.parametrize("retries", [".inf", "-.inf", ".nan", "[3]", "'three'"])
def test_a_health_check_whose_retries_is_no_integer_is_a_finding_not_a_crash(tmp_path, retries):
    text = (CASES / "stack-update-monitor.bad.stack.yml").read_text()
    assert "retries: " in text
    path = tmp_path / "odd.stack.yml"
    path.write_text(re.sub(r"retries: \S+", f"retries: {retries}", text, count=1))
    found = findings(path)  # raised OverflowError for .inf
    assert any((f.key or "").endswith("healthcheck.retries") for f in found), [(f.rule, f.key) for f in found]
