"""Generation decisions as pure functions: commands, limits, dependencies, what is skipped."""

from pathlib import Path

import pytest

from revops.config import Config, Suite
from revops.generate import mapping
from revops.model import Inventory, Problem, Unit

CORE = Suite("core", 1, ("rev*.service",), memory="384m", cpus=0.5)


def config(root="/", **kw) -> Config:
    return Config(path=Path("/ops/revops.yaml"), root=Path(root), suites=(CORE,),
                  deprecated=("revaudit.service",), **kw)


def unit(name="revpublish.service", **kw) -> Unit:
    stem = name[: -len(".service")]
    values = dict(exec_start=[[f"/opt/m/{stem}/venv/bin/uvicorn", "app:app", "--host", "127.0.0.1", "--port", "8550"]],
                  working_directory=f"/opt/m/{stem}", venv=f"/opt/m/{stem}/venv", port=8550, suite="core", phase=1)
    values.update(kw)
    return Unit(name=name, path=f"etc/systemd/system/{name}", **values)


def test_venv_paths_map_into_the_image_and_loopback_binds_open_up():
    argv, notes = mapping.map_argv(unit().exec_start[0], "/opt/m/revpublish/venv", config())
    assert argv == ("/opt/venv/bin/uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8550")
    assert any("0.0.0.0" in n for n in notes)


@pytest.mark.parametrize("argv, expected", [
    (["/usr/bin/python3", "worker.py"], ("/opt/venv/bin/python", "worker.py")),
    (["/opt/m/x/venv/bin/python", "-m", "x", "--host=localhost"], ("/opt/venv/bin/python", "-m", "x", "--host=0.0.0.0")),
    (["/opt/m/x/venv/bin/gunicorn", "-b", "127.0.0.1:8000", "app:app"], ("/opt/venv/bin/gunicorn", "-b", "0.0.0.0:8000", "app:app")),
    (["/opt/m/x/venv/bin/uvicorn", "app:app", "--host", "10.0.0.5"], ("/opt/venv/bin/uvicorn", "app:app", "--host", "10.0.0.5")),
    (["/opt/m/x/venv/bin/python", "run.py", "semi;colon", "$HOME"], ("/opt/venv/bin/python", "run.py", "semi;colon", "$HOME")),
])
def test_argv_mapping_keeps_words_as_words(argv, expected):
    assert mapping.map_argv(argv, "/opt/m/x/venv", config())[0] == expected


def test_a_host_made_under_a_directory_maps_to_real_host_paths():
    root = "/tmp/host"
    u = unit(exec_start=[[f"{root}/opt/m/revpublish/venv/bin/uvicorn", "app:app"]],
             working_directory=f"{root}/opt/m/revpublish", venv=f"{root}/opt/m/revpublish/venv")
    spec = mapping.service_spec(u, CORE, config(root), {})
    assert spec.command == ("/opt/venv/bin/uvicorn", "app:app")
    assert spec.working_dir == "/opt/m/revpublish"


@pytest.mark.parametrize("memory_max, expected", [("768M", "768m"), ("1G", "1g"), ("1048576", "1048576b"),
                                                  (None, "384m"), ("infinity", "384m"), ("50%", "384m")])
def test_memory_limit_from_memorymax_or_suite(memory_max, expected):
    assert mapping.memory_limit(unit(memory_max=memory_max), CORE)[0] == expected


@pytest.mark.parametrize("quota, expected", [("150%", 1.5), ("25%", 0.25), (None, 0.5), ("lots", 0.5)])
def test_cpu_limit_from_cpuquota_or_suite(quota, expected):
    assert mapping.cpu_limit(unit(cpu_quota=quota), CORE)[0] == expected


@pytest.mark.parametrize("changes, reason", [
    ({"name": "revaudit.service"}, "deprecated"),
    ({"deprecated": True}, "deprecated"),
    ({"masked": True}, "masked"),
    ({"exec_start": []}, "no ExecStart"),
    ({"exec_start": [["/bin/a"], ["/bin/b"]]}, "2 ExecStart lines"),
    ({"working_directory": None}, "no WorkingDirectory"),
    ({"problems": [Problem("no-exec-start", "missing", fatal=True)]}, "systemd would refuse it"),
    ({"name": "other.service", "suite": None}, "in no suite"),
])
def test_skipped_units_say_why(changes, reason):
    name = changes.pop("name", "revpublish.service")
    assert reason in mapping.skip_reason(unit(name, **changes), config(), {"core"})


def test_unlocked_suite_is_skipped_with_the_command_to_run():
    assert "revops lock" in mapping.skip_reason(unit(), config(), set())


def test_depends_on_follows_after_and_requires_among_migrated_units_only():
    u = unit(after=["network.target", "revcore-gateway.service", "revaudit.service"],
             requires=["revcore-gateway.service"])
    spec = mapping.service_spec(u, CORE, config(), {"revcore-gateway.service": "revcore-gateway",
                                                      "revpublish.service": "revpublish"})
    assert spec.depends_on == ("revcore-gateway",)


def test_secret_looking_environment_travels_in_the_secret_file_with_a_note():
    env = {"BATCH": "5", "DB_PASSWORD": "x", "api_key": "y", "DSN": "postgresql://app:pw-1234@db/app",
           "WITHHELD": None}  # None: the inventory kept only its digest
    spec = mapping.service_spec(unit(environment=env), CORE, config(), {})
    assert spec.environment == (("BATCH", "5"),)
    assert spec.secret_keys == ("DB_PASSWORD", "DSN", "WITHHELD", "api_key")
    assert spec.secret == "revpublish.env" and spec.secret_file == "../.revops/secrets/revpublish.env"
    assert spec.entrypoint[-2:] == ("/run/secrets/revpublish.env", "--")
    assert sum("looks like a secret" in n for n in spec.notes) == 4
    assert not any("=x" in n or "=y" in n or "pw-1234" in n for n in spec.notes)


def test_the_allow_list_keeps_a_value_inline_that_the_detector_would_hold_back():
    cfg = config(secrets_allow=("SESSION_KEY*",))
    spec = mapping.service_spec(unit(environment={"SESSION_KEY_NAME": "sid"}), CORE, cfg, {})
    assert spec.environment == (("SESSION_KEY_NAME", "sid"),) and spec.secret is None and spec.entrypoint is None


def test_root_or_missing_user_becomes_the_default_non_root_user():
    assert mapping.run_user(unit(user="root")) == "revflow"
    assert mapping.run_user(unit(user=None)) == "revflow"
    assert mapping.run_user(unit(user="svc")) == "svc"


def test_healthcheck_needs_no_curl_and_workers_get_a_process_check():
    http = mapping.healthcheck(8550, config())
    assert http.test[:2] == ("CMD", "/opt/venv/bin/python") and http.test[-1] == "http://127.0.0.1:8550/health"
    assert (http.interval, http.timeout, http.retries) == ("30s", "10s", 3)
    assert mapping.healthcheck(None, config()).kind == "process"


def test_instance_units_get_valid_compose_names_and_clashes_are_skipped():
    units = [unit("revflow-worker@3.service", port=None), unit("revflow-worker-3.service", port=None)]
    plan = mapping.plan(Inventory("/", None, units), config(), {"core": "0" * 64})
    assert [s.name for s in plan.suites[0].services] == ["revflow-worker-3"]
    assert [s.unit for s in plan.skipped] == ["revflow-worker@3.service"]
    assert "taken by" in plan.skipped[0].reason


def test_the_secret_copy_is_relative_inside_the_ops_repo_and_absolute_outside():
    inside = Config(path=Path("/ops/revops.yaml"), root=Path("/ops"))
    assert mapping.secret_file_path("api.env", inside, "/ops/compose") == "../.revops/secrets/api.env"
    elsewhere = Config(path=Path("/srv/ops/revops.yaml"), root=Path("/"), secrets_dir="/var/lib/revops/secrets")
    assert mapping.secret_file_path("api.env", elsewhere, "/srv/ops/compose") == "/var/lib/revops/secrets/api.env"


@pytest.mark.parametrize("word", ["$PORT", "${PORT}", "--port=$PORT", "x$$$HOME"])
def test_systemd_variable_expansion_is_skipped(word):
    reason = mapping.skip_reason(unit(exec_start=[["/bin/app", word]]), config(), {"core"})
    assert reason and "ExecStart uses $VAR expansion" in reason


def test_literal_dollars_and_the_no_substitution_prefix_are_mapped():
    escaped = unit(exec_start=[["/bin/app", "a$$b", "$", "5$"]])
    assert mapping.skip_reason(escaped, config(), {"core"}) is None
    assert mapping.service_spec(escaped, CORE, config(), {}).command == ("/bin/app", "a$b", "$", "5$")
    verbatim = unit(exec_start=[["/bin/app", "$PORT", "a$$b"]], exec_start_prefixes=[":"])
    assert mapping.skip_reason(verbatim, config(), {"core"}) is None
    assert mapping.service_spec(verbatim, CORE, config(), {}).command == ("/bin/app", "$PORT", "a$$b")


def test_http_healthcheck_accepts_any_2xx_like_revops_probe():
    script = mapping.healthcheck(8550, config()).test[3]
    assert "200 <= " in script and "< 300" in script and "== 200" not in script
