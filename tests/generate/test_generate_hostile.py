"""Generated files are data, never code (issue #12, kinds 1 and 2).

Values from a unit, the inventory or revops.yaml are checked before they reach a Dockerfile or
a compose file (a unit that fails is skipped with the reason; a revops.yaml value that fails
is exit 2); templates render in Jinja's sandbox; what generate is about to write is parsed
(YAML safe loader, BuildKit's Dockerfile parser) and nothing else is written.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from revops import cli, config as config_mod
from revops.commands import generate
from revops.unitfile import HostFacts, RootFS, read_units

import generate_minihost as minihost

INJECTION = "revflow;touch${IFS}pwned|sh;$(id)"


def run_main(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code


def ops_with(tmp_path, monkeypatch, **changes):
    """The mini ops repo with revpublish.service's inventory entry changed."""
    units = minihost.default_units()
    for unit in units:
        if unit["name"] == "revpublish.service":
            unit.update(changes)
    minihost.write(tmp_path, units)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def generated_text(root) -> str:
    return "".join(p.read_text() for p in (root / "compose").rglob("*") if p.is_file())


def test_the_injected_user_of_the_issue_is_a_problem_where_the_unit_is_read(tmp_path):
    path = tmp_path / "etc/systemd/system/evil.service"
    path.parent.mkdir(parents=True)
    path.write_text(f"[Service]\nExecStart=/bin/true\nUser={INJECTION}\n")
    (unit,) = read_units(RootFS(tmp_path), ("etc/systemd/system",), "*", HostFacts())
    assert unit.config.user == INJECTION  # systemd itself accepts it (relaxed user name rules)
    (problem,) = [p for p in unit.problems if p.code == "user-name-unsafe"]
    assert (problem.file, problem.line, problem.fatal) == ("/etc/systemd/system/evil.service", 3, False)


@pytest.mark.parametrize("changes, reason", [
    ({"user": INJECTION}, "User="),
    ({"user": "revflow\nRUN touch /pwned"}, "User="),
    ({"user": "a" * 40}, "User="),
    ({"working_directory": "/opt/revflow-os/modules/revpublish\nRUN id"}, "WorkingDirectory="),
    ({"working_directory": "/opt/revflow-os/modules/$HOME"}, "WorkingDirectory="),
    ({"working_directory": "/opt/revflow-os/modules/rev publish"}, "WorkingDirectory="),
    ({"working_directory": "/opt/revflow-os/modules/../../etc"}, "WorkingDirectory="),
    ({"working_directory": "opt/relative"}, "WorkingDirectory="),
    ({"working_directory": "~"}, "WorkingDirectory=~ unresolved"),
    ({"working_directory": "/"}, "WorkingDirectory is /"),
    ({"port": 70000}, "port"),
    ({"environment_files": ["/opt/shared-api-engine/.env\n  privileged: true"]}, "EnvironmentFile="),
    ({"environment": {"A B": "1"}}, "Environment= name"),
    ({"environment": {"X": "a\x00b"}}, "Environment=X="),
    ({"exec_start": [["/opt/venv/bin/app", "a\x00b"]]}, "ExecStart="),
    ({"name": "revprospect Evil.service"}, "unit name"),
])
def test_a_unit_whose_value_cannot_be_written_safely_is_skipped_with_the_reason(tmp_path, monkeypatch, capsys,
                                                                                changes, reason):
    ops = ops_with(tmp_path, monkeypatch, **changes)
    assert run_main(["generate", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    name = changes.get("name", "revpublish.service")
    skipped = {s["unit"]: s["reason"] for s in result["skipped"]}
    assert reason in skipped[name], skipped
    text = generated_text(ops)
    assert "pwned" not in text and "RUN id" not in text and "privileged" not in text
    assert "revpublish:" not in (ops / "compose/core.yml").read_text()


def test_awkward_but_safe_values_reach_the_files_as_data(tmp_path, monkeypatch):
    argv = ["/opt/revflow-os/modules/revpublish/venv/bin/uvicorn", "app:app", "--name", 'a "quoted"\nCMD ["evil"]',
            "--port", "8550"]
    ops = ops_with(tmp_path, monkeypatch, exec_start=[argv],
                   environment={"GREETING": "line one\nline two: {x}", "PRICE": "$5 ${HOME}"})
    assert run_main(["generate"]) == 0
    service = yaml.safe_load((ops / "compose/core.yml").read_text())["services"]["revpublish"]
    assert service["command"][3] == 'a "quoted"\nCMD ["evil"]'
    assert service["environment"] == {"GREETING": "line one\nline two: {x}", "PRICE": "$$5 $${HOME}"}
    dockerfile = (ops / "compose/core/Dockerfile").read_text()
    assert "\nCMD [\"evil\"]" not in dockerfile  # the newline stayed inside the JSON string


@pytest.mark.parametrize("key, line, value", [
    ("image.base", "image:\n  base: {!r}\n", "revflow/python-base:latest\nRUN touch /pwned"),
    ("image.base", "image:\n  base: {!r}\n", "revflow/python-base:latest AS x"),
    ("image.prefix", "image:\n  base: revflow/b:1\n  prefix: {!r}\n", "Revflow/$(id)"),
    ("network", "network: {!r}\n", "net: {{}}\nservices: {{}}"),
    ("health.bind_address", "health:\n  bind_address: {!r}\n", "0.0.0.0:1:1"),
])
def test_a_revops_yaml_value_that_cannot_be_written_safely_is_exit_2_naming_the_key(tmp_path, monkeypatch, capsys,
                                                                                     key, line, value):
    ops = ops_with(tmp_path, monkeypatch)
    config = ops / "revops.yaml"
    text = config.read_text()
    if key == "image.base" or key == "image.prefix":
        text = text.replace("image:\n  base: revflow/python-base:latest\n", "")
    config.write_text(text + line.format(value))
    assert run_main(["generate"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"revops\.yaml(:\d+)?: {re.escape(key)}:", err), err
    assert not (ops / "compose").exists()


@pytest.mark.parametrize("port", ["8550; rm -rf /", True])
def test_an_inventory_port_of_the_wrong_type_is_exit_2_naming_the_file(tmp_path, monkeypatch, capsys, port):
    ops_with(tmp_path, monkeypatch, port=port)
    assert run_main(["generate"]) == 2
    assert "units.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("field, value", [("image_base", "revflow/base:1\nRUN id"), ("network", "a b"),
                                          ("image_prefix", "Up/Case")])
def test_generate_checks_config_values_itself_too(tmp_path, monkeypatch, field, value):
    """Defence in depth: a Config made in code (not read from revops.yaml) is checked as well."""
    import dataclasses

    from revops.errors import ConfigError
    from revops.generate import check_config

    ops_with(tmp_path, monkeypatch)
    cfg = dataclasses.replace(config_mod.load(tmp_path / "revops.yaml"), **{field: value})
    with pytest.raises(ConfigError) as raised:
        check_config(cfg)
    assert raised.value.exit_code == 2 and raised.value.key == field.replace("_", ".", 1)


def test_a_suite_name_that_is_no_safe_name_is_exit_2(tmp_path, monkeypatch, capsys):
    ops = ops_with(tmp_path, monkeypatch)
    config = ops / "revops.yaml"
    config.write_text(config.read_text().replace("  core:\n", "  'Core Suite':\n"))
    (ops / "lockfiles/Core Suite.txt").write_text("fastapi==0.115.12\n")
    assert run_main(["generate"]) == 2
    assert "suites.Core Suite" in capsys.readouterr().err


# -- templates ---------------------------------------------------------------------------

PAYLOADS = [
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ suite.services.__class__ }}",
    "{% set x = suite.users.append(1) %}",
    "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("check", [False, True])
def test_a_site_template_cannot_run_code(tmp_path, monkeypatch, capsys, payload, check):
    ops = ops_with(tmp_path, monkeypatch)
    marker = tmp_path / "ran"
    (ops / "templates").mkdir()
    (ops / "templates/Dockerfile.j2").write_text("FROM x\n\n" + payload.replace("MARKER", str(marker)) + "\n")
    assert run_main(["generate", "--check"] if check else ["generate"]) == 2
    err = capsys.readouterr().err
    assert "templates/Dockerfile.j2:3" in err, err
    assert not marker.exists() and not (ops / "compose").exists()


def test_a_template_that_is_a_fifo_is_an_error_not_a_hang(tmp_path, monkeypatch, capsys):
    ops = ops_with(tmp_path, monkeypatch)
    (ops / "templates").mkdir()
    os.mkfifo(ops / "templates/Dockerfile.j2")
    assert run_main(["generate"]) == 2
    assert "not a regular file (fifo)" in capsys.readouterr().err


def test_a_site_template_directory_leading_outside_the_ops_repo_is_refused(tmp_path, monkeypatch, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile.j2").write_text("FROM x\n")
    ops = ops_with(tmp_path / "ops", monkeypatch)
    (ops / "templates").symlink_to(outside)
    assert run_main(["generate"]) == 2
    assert "leads outside the ops repo" in capsys.readouterr().err


def test_a_site_template_file_linking_outside_its_directory_is_not_read(tmp_path, monkeypatch, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET {{ 1 }}\n")
    ops = ops_with(tmp_path / "ops", monkeypatch)
    (ops / "templates").mkdir()
    (ops / "templates/Dockerfile.j2").symlink_to(secret)
    assert run_main(["generate"]) == 2
    err = capsys.readouterr().err
    assert "templates/Dockerfile.j2" in err and "TOP SECRET" not in err


@pytest.mark.parametrize("template, edit, message", [
    ("Dockerfile.j2", lambda t: t.replace("CMD {{ s.command | list | q }}", "CMD {{ s.command | join(' ') }}"),
     "CMD is not the command"),
    ("Dockerfile.j2", lambda t: t.replace("WORKDIR {{ s.working_dir }}", "WORKDIR {{ s.working_dir }} /x"),
     "WORKDIR is"),
    ("Dockerfile.j2", lambda t: t.replace('COPY {{ [".stage/services/" ~ s.name ~ "/", s.working_dir ~ "/"] | q }}',
                                          "COPY .stage/services/{{ s.name }}/ {{ s.working_dir }}/"),
     "COPY is not in JSON form"),
    ("Dockerfile.j2", lambda t: t + "RUNN echo\n", "'RUNN' is not a Dockerfile instruction"),
    ("compose-service.yml.j2", lambda t: t.replace("user: {{ s.user | cq }}", "user: {{ s.user }}\n    privileged: true"),
     None),
    ("compose-service.yml.j2", lambda t: t.replace("    command: {{ s.command | list | cq }}\n", ""), "command is None"),
])
def test_a_rendered_file_that_does_not_parse_into_the_plan_is_never_written(tmp_path, monkeypatch, capsys,
                                                                             template, edit, message):
    ops = ops_with(tmp_path, monkeypatch, user="revflow")
    (ops / "templates").mkdir()
    packaged = minihost.Path(__file__).resolve().parents[2] / "templates"
    (ops / "templates" / template).write_text(edit((packaged / template).read_text()))
    code = run_main(["generate"])
    err = capsys.readouterr().err
    if message is None:  # a template may add settings: that one still parses into the plan
        assert code == 0, err
        return
    assert code == 2 and message in err, err
    assert "nothing written" in err and not (ops / "compose").exists()


def test_every_generated_file_of_the_mini_repo_parses_into_its_plan(tmp_path, monkeypatch):
    ops_with(tmp_path, monkeypatch)
    cfg = config_mod.load(tmp_path / "revops.yaml")
    result = generate.run(cfg)
    assert result.ok and {f.state for f in result.files} == {"written"}


@pytest.mark.parametrize("what", ["lock-fifo", "lock-outside", "compose-outside", "compose-fifo"])
def test_repo_files_generate_reads_are_regular_files_inside_the_repo(tmp_path, monkeypatch, capsys, what):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$not-a-real-hash:19000:0:99999:7:::\n")
    ops = ops_with(tmp_path / "ops", monkeypatch)
    assert run_main(["generate"]) == 0
    target = ops / ("lockfiles/core.txt" if what.startswith("lock") else "compose/core.yml")
    target.unlink()
    if what.endswith("fifo"):
        os.mkfifo(target)
    else:
        target.symlink_to(secret)
    assert run_main(["generate", "--check"]) == 2
    err = capsys.readouterr()
    assert target.name in err.err and "not-a-real-hash" not in err.out + err.err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("payload, words", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "still rendering after"),
    ("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", "characters of output"),
])
def test_a_runaway_site_template_is_stopped_exit_2(tmp_path, monkeypatch, capsys, payload, words):
    from revops.generate import templates

    monkeypatch.setattr(templates, "RENDER_SECONDS", 2)
    ops = ops_with(tmp_path, monkeypatch)
    (ops / "templates").mkdir()
    (ops / "templates/Dockerfile.j2").write_text("FROM x\n" + payload + "\n")
    assert run_main(["generate"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Dockerfile.j2" in err
