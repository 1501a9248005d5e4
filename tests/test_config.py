"""The one config loader: defaults, and errors that name the file, the line and the key."""

from pathlib import Path

import pytest

from revops import config
from revops.errors import ConfigError, EXIT_USAGE

GOOD = """\
host:
  root: hostroot
suites:
  core:
    phase: 1
    units: [revcore-gateway.service, revpublish.service]
  lead-gen:
    phase: 2
    units: ["revflow-leadgen-*.service"]
    memory: 256m
    cpus: 0.25
    overrides:
      requests: "==2.32.3"
deprecated: [revaudit.service]
health:
  interval: 15s
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "revops.yaml"
    path.write_text(text)
    return path


def test_good_file_parses_with_defaults(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.root == (tmp_path / "hostroot").resolve()
    assert cfg.network == "revflow-network"
    assert cfg.health.interval == "15s" and cfg.health.timeout == "10s" and cfg.health.retries == 3
    assert [s.name for s in cfg.suites] == ["core", "lead-gen"]
    assert cfg.suite_of("revflow-leadgen-03-api.service").name == "lead-gen"
    assert cfg.suite_of("revpublish.service").phase == 1
    assert cfg.suite_of("sshd.service") is None
    assert cfg.suites[1].overrides == (("requests", "==2.32.3"),)
    assert cfg.is_deprecated("revaudit.service")
    assert cfg.out("inventory") == tmp_path / "inventory"


def test_found_in_current_directory(tmp_path):
    write(tmp_path, GOOD)
    assert config.load(cwd=tmp_path).path == (tmp_path / "revops.yaml").resolve()


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load(cwd=tmp_path)
    assert err.value.exit_code == EXIT_USAGE
    assert "revops.yaml" in err.value.message


@pytest.mark.parametrize(
    "text, key, line, expected",
    [
        ("suites:\n  core:\n    phase: one\n    units: [a.service]\n", "suites.core.phase", 3, "integer"),
        ("suites:\n  core:\n    phase: 1\n    units: []\n", "suites.core.units", 4, "non-empty"),
        ("suites:\n  core:\n    phase: 1\n    units: [a.service]\n    memory: lots\n", "suites.core.memory", 5, "size"),
        ("health:\n  interval: soon\n", "health.interval", 2, "duration"),
        ("health:\n  path: health\n", "health.path", 2, "absolute"),
        ("systemd:\n  bus: session\n", "systemd.bus", 2, "'system' or 'user'"),
        ("nework: x\n", "nework", 1, "unknown key"),
        ("host:\n  venv_search_depth: 0\n", "host.venv_search_depth", 2, "positive"),
        ("deprecated: [1]\n", "deprecated[0]", 1, "string"),
    ],
)
def test_errors_name_file_line_key_and_expectation(tmp_path, text, key, line, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = err.value.message
    assert f"{path}:{line}: {key}:" in message
    assert expected in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "host:\n  root: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert str(path) in err.value.message and "not valid YAML" in err.value.message
    assert err.value.line is not None


def test_database_url_defaults_to_sqlite_beside_the_config(tmp_path, monkeypatch):
    monkeypatch.delenv("REVOPS_DATABASE_URL", raising=False)
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.database_url == f"sqlite:///{tmp_path.resolve()}/.revops/ledger.sqlite"
    monkeypatch.setenv("REVOPS_DATABASE_URL", "postgresql://ops@127.0.0.1/revops")
    assert cfg.database_url == "postgresql://ops@127.0.0.1/revops"


def test_an_instance_belongs_to_the_suite_of_its_template(tmp_path):
    cfg = config.load(write(tmp_path, """
suites:
  workers: {phase: 2, units: ["revflow-worker@.service", "revflow-worker@7.service"]}
  core: {phase: 1, units: ["revcore-*.service"]}
"""))
    assert cfg.suite_of("revflow-worker@1.service").name == "workers"
    assert cfg.suite_of("revflow-worker@7.service").name == "workers"
    assert cfg.suite_of("revflow-worker@.service").name == "workers"
    assert cfg.suite_of("revcore-gateway.service").name == "core"
    assert cfg.suite_of("revflow-other@1.service") is None
