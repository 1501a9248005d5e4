"""The one config loader: defaults, and errors that name the file, the line and the key."""

from pathlib import Path

import pytest

from revops import config, configschema
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


# -- checked whole against the schema (issue 12, kind 6) -----------------------------------

SUITE = "suites:\n  core: {phase: 1, units: [a.service]}\n"


def error_of(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert err.value.exit_code == EXIT_USAGE
    return err.value


def test_a_misspelt_key_is_refused_with_a_did_you_mean(tmp_path):
    err = error_of(tmp_path, SUITE + "health:\n  bind_adress: 0.0.0.0\n")
    assert err.message == f"{tmp_path / 'revops.yaml'}:4: health.bind_adress: unknown key; did you mean 'bind_address'?"


@pytest.mark.parametrize("text, key, line, suggestion", [
    ("suites:\n  core: {phase: 1, units: [a.service], memroy: 1g}\n", "suites.core.memroy", 2, "'memory'"),
    (SUITE + "hsot: {root: /}\n", "hsot", 3, "'host'"),
    (SUITE + "host: {unit_dir: [etc]}\n", "host.unit_dir", 3, "'unit_dirs'"),
    (SUITE + "systemd: {buss: user}\n", "systemd.buss", 3, "'bus'"),
    (SUITE + "image: {bsae: x}\n", "image.bsae", 3, "'base'"),
    (SUITE + "paths: {compse: out}\n", "paths.compse", 3, "'compose'"),
    (SUITE + "quick_wins: {restarts: [a.service]}\n", "quick_wins.restarts", 3, "'restart'"),
    (SUITE + "ledger: {pth: x}\n", "ledger.pth", 3, "'path'"),
    (SUITE + "health: {zzz: 1}\n", "health.zzz", 3, "expected one of: bind_address"),
])
def test_unknown_keys_are_refused_at_any_depth(tmp_path, text, key, line, suggestion):
    err = error_of(tmp_path, text)
    assert f"revops.yaml:{line}: {key}: unknown key;" in err.message and suggestion in err.message


@pytest.mark.parametrize("text, key, expected", [
    (SUITE + "health: {bind_address: 127.0.0.300}\n", "health.bind_address", "IP address"),
    (SUITE + "health: {bind_address: localhost}\n", "health.bind_address", "IP address"),
    (SUITE + "health: {bind_address: 8}\n", "health.bind_address", "IP address"),
    ("suites:\n  core: {phase: 1, units: [a.service], memory: 512}\n", "suites.core.memory", "with a unit"),
    ("suites:\n  core: {phase: 1, units: [a.service], memory: 1k}\n", "suites.core.memory", "at least 6m"),
    ("suites:\n  core: {phase: 1, units: [a.service], memory: 2x}\n", "suites.core.memory", "size"),
    ("suites:\n  core: {phase: 1, units: [a.service], cpus: 0}\n", "suites.core.cpus", "positive"),
    ("suites:\n  core: {phase: 1, units: [a.service], cpus: many}\n", "suites.core.cpus", "number"),
    ("suites:\n  core: {phase: true, units: [a.service]}\n", "suites.core.phase", "integer"),
    ("suites:\n  core: {phase: 1, units: a.service}\n", "suites.core.units", "list"),
    ("suites:\n  core: {phase: 1, units: [a/b.service]}\n", "suites.core.units[0]", "unit name"),
    ("suites:\n  core: {phase: 1, units: [a.service], overrides: {requests: latest}}\n",
     "suites.core.overrides.requests", "specifier"),
    ("suites:\n  core: {phase: 1, units: [a.service], overrides: []}\n", "suites.core.overrides", "mapping"),
    (SUITE + "health: {timeout: 10}\n", "health.timeout", "duration"),
    (SUITE + "health: {start_period: 1d}\n", "health.start_period", "duration"),
    (SUITE + "health: {retries: true}\n", "health.retries", "positive integer"),
    (SUITE + "health: {probe_timeout: -1}\n", "health.probe_timeout", "positive"),
    (SUITE + "health: {path: '/health?x=1'}\n", "health.path", "URL path"),
    (SUITE + "systemd: {mask_on_migrate: 'yes please'}\n", "systemd.mask_on_migrate", "true or false"),
    (SUITE + "host: {root: [/]}\n", "host.root", "directory"),
    (SUITE + "host: {unit_dirs: [/etc/systemd/system]}\n", "host.unit_dirs[0]", "relative path"),
    (SUITE + "host: {venv_search: [../../srv]}\n", "host.venv_search[0]", "no '..'"),
    (SUITE + "paths: {compose: /tmp/elsewhere}\n", "paths.compose", "relative path"),
    (SUITE + "image: {base: 'Not An Image'}\n", "image.base", "image reference"),
    (SUITE + "network: 'net; rm -rf /'\n", "network", "network name"),
    (SUITE + "shared_env_file: relative/.env\n", "shared_env_file", "absolute path"),
    (SUITE + "stabilize: {venvs: one}\n", "stabilize.venvs", "'per-suite'"),
    (SUITE + "stabilize: {path: opt/venvs}\n", "stabilize.path", "absolute directory"),
    (SUITE + "stabilize: {path: /opt/../etc}\n", "stabilize.path", "no '..'"),
    (SUITE + "stabilize: {path: '/opt/my venvs'}\n", "stabilize.path", "absolute directory"),
    (SUITE + "stabilize: {settle: soon}\n", "stabilize.settle", "duration"),
    (SUITE + "stabilize: {timeout: 5}\n", "stabilize.timeout", "duration"),
    (SUITE + "deprecated: revaudit.service\n", "deprecated", "list"),
    (SUITE + "host: [root]\n", "host", "mapping"),
])
def test_types_and_formats_are_checked(tmp_path, text, key, expected):
    err = error_of(tmp_path, text)
    assert f": {key}: expected" in err.message and expected in err.message


@pytest.mark.parametrize("name", ["../etc", "a/b", "Core", "-core", "core-", ".hidden", "a b", "x" * 64, "lock.txt"])
def test_suite_names_are_safe_file_names(tmp_path, name):
    err = error_of(tmp_path, f"suites:\n  {name!r}: {{phase: 1, units: [a.service]}}\n")
    assert f"revops.yaml:2: suites.{name}: expected a suite name that is a safe file" in err.message


def test_duplicate_keys_are_refused_with_both_lines(tmp_path):
    err = error_of(tmp_path, "suites:\n  core: {phase: 1, units: [a.service]}\n  core: {phase: 2, units: [b.service]}\n")
    assert "revops.yaml:3: suites.core: duplicate key 'core' (first at line 2, again at line 3)" in err.message


def test_every_problem_is_reported_at_once_in_line_order(tmp_path):
    err = error_of(tmp_path, "health:\n  interval: soon\nsuites:\n  core: {phase: 0, units: []}\nnework: x\n")
    lines = err.message.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["health.interval", "suites.core.phase", "suites.core.units",
                                                       "nework"]
    assert all(line.startswith(f"{tmp_path / 'revops.yaml'}:") for line in lines)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "{}\n", "---\n"], ids=["empty", "comment", "braces", "marker"])
def test_an_empty_config_says_how_to_start(tmp_path, text):
    err = error_of(tmp_path, text)
    assert "empty" in err.message and "revops example-host" in err.message
    assert "suites:" in err.hint and "root: /" in err.hint


def test_a_missing_config_says_how_to_start(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load(cwd=tmp_path)
    assert "revops example-host" in err.value.message and "suites:" in err.value.hint


@pytest.mark.parametrize("text, expected", [
    ("- host\n- suites\n", "expected a mapping of settings, got a list"),
    ("just words\n", "expected a mapping of settings, got str"),
    ("network: x\n", "suites: missing"),
    ("suites: {}\n", "got an empty mapping"),
    ("suites:\n  core: {units: [a.service]}\n", "suites.core.phase: missing"),
])
def test_a_config_with_nothing_to_do_is_refused(tmp_path, text, expected):
    assert expected in error_of(tmp_path, text).message


def test_empty_keys_take_their_defaults(tmp_path):
    cfg = config.load(write(tmp_path, SUITE + "deprecated:\nhealth:\n  interval:\nhost:\n"))
    assert cfg.deprecated == () and cfg.health.interval == "30s" and cfg.root == Path("/")


def test_a_fifo_config_is_refused_without_blocking(tmp_path, ends):
    import os

    os.mkfifo(tmp_path / "revops.yaml")
    error = ends(lambda: pytest.raises(ConfigError, config.load, cwd=tmp_path).value)
    assert "not a regular file (a FIFO)" in error.message


def test_a_yaml_bomb_config_is_a_config_error(tmp_path):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    err = error_of(tmp_path, bomb)
    assert "YAML bomb" in err.message and err.line == 9


def test_a_checked_config_is_not_checked_again_until_it_changes(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD)
    config.load(path)
    monkeypatch.setattr(configschema, "problems", lambda data: iter([(("network",), "checked again")]))
    assert config.load(path).network == "revflow-network"  # same bytes: the schema verdict holds
    path.write_text(GOOD + "network: other\n")
    with pytest.raises(ConfigError, match="checked again"):
        config.load(path)


def test_a_read_only_ops_repo_still_checks_its_config(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD)
    monkeypatch.setattr(config, "_remember_checked", lambda marker: None)  # nothing can be written
    config.load(path)
    monkeypatch.setattr(configschema, "problems", lambda data: iter([(("suites",), "checked again")]))
    with pytest.raises(ConfigError, match="checked again"):
        config.load(path)


def test_stabilize_settings_take_their_defaults_or_the_files(tmp_path):
    default = config.load(write(tmp_path, SUITE))
    assert (default.stabilize_venvs, default.stabilize_path, default.stabilize_settle, default.stabilize_timeout) == (
        "per-suite", "/opt/revflow-os/suite-venvs", "10s", "60s")
    other = tmp_path / "other"
    other.mkdir()
    given = config.load(write(other, SUITE + "stabilize: {venvs: shared, path: /srv/venvs, settle: 3s, timeout: 1m}\n"))
    assert (given.stabilize_venvs, given.stabilize_path, given.stabilize_settle, given.stabilize_timeout) == (
        "shared", "/srv/venvs", "3s", "1m")


def test_the_example_host_config_passes_the_schema():
    from revops.example_host import hostconfig

    for text in (hostconfig.revops_yaml(), hostconfig.revops_yaml("/srv/live")):
        assert list(configschema.problems(config.yamlsafe.load_text(text, "x").data)) == []


# -- suites against the units of a host ------------------------------------------------------


def test_suite_problems_overlap_and_unmatched(tmp_path):
    cfg = config.load(write(tmp_path, """
suites:
  core: {phase: 1, units: [revpublish.service, "revflow-worker@.service"]}
  lead-gen: {phase: 2, units: ["rev*.service", "revgone-*.service"]}
  workers: {phase: 2, units: ["revflow-worker@*.service"]}
"""))
    names = ["revpublish.service", "revprospect.service", "revflow-worker@1.service"]
    problems = {(p.rule, p.key): p.message for p in config.suite_problems(cfg, names)}
    assert set(problems) == {("suite-overlap", "suites.lead-gen.units[0]"),
                             ("suite-overlap", "suites.workers.units[0]"),
                             ("suite-unmatched", "suites.lead-gen.units[1]")}
    assert "revpublish.service by suite 'core'" in problems[("suite-overlap", "suites.lead-gen.units[0]")]
    assert "'revgone-*.service' matches no unit" in problems[("suite-unmatched", "suites.lead-gen.units[1]")]
