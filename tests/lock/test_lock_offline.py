"""`revops lock` end to end: real pip-tools, uv and pip, offline, against tiny wheels built here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
import yaml

from revops import cli, errors
from revops.lock import lockfile


def lock(config, *args):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lock", "--config", str(config), *args])
    return exit_info.value.code


def lock_json(config, capsys, *args):
    capsys.readouterr()  # drop what earlier runs printed
    code = lock(config, "--json", *args)
    out = capsys.readouterr().out
    return code, json.loads(out)


def offline(wheelhouse):
    return ["--offline", "--find-links", str(wheelhouse)]


def read(path):
    return path.read_bytes()


def test_locks_every_suite_with_exact_pins_and_hashes(tiny_host, tiny_wheelhouse, capsys):
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse))
    assert code == 0
    assert [(s["name"], s["status"]) for s in result["suites"]] == [("core", "locked"), ("extra", "locked")]
    base = tiny_host.parent
    core_in, core_txt = (base / "lockfiles/core.in").read_text(), (base / "lockfiles/core.txt").read_text()
    assert lockfile.header_fields(core_txt)["input-sha256"] == hashlib.sha256(core_in.encode()).hexdigest()
    assert lockfile.unpinned_entries(core_txt) == []
    assert [(p.name, p.version) for p in lockfile.pins(core_txt)] == [("alpha", "2.0"), ("beta", "1.1")]
    assert "# suite: core" in core_txt and "# revops: " in core_txt
    assert "--find-links" not in core_txt and "svc-old" not in core_in  # deprecated units are skipped
    core = result["suites"][0]
    assert core["skipped"] == ["svc-old.service"]
    assert {s["name"]: s["source"] for s in core["services"]} == {
        "svc-a.service": "requirements.txt", "svc-b.service": "requirements.txt"}
    extra = result["suites"][1]
    assert [(s["name"], s["source"], s["requirements"]) for s in extra["services"]] == [
        ("svc-c.service", "venv", ["beta==1.0", "delta==0.5"])]


def test_second_run_skips_every_suite_and_check_passes(tiny_host, tiny_wheelhouse, capsys):
    assert lock(tiny_host, *offline(tiny_wheelhouse)) == 0
    before = {p.name: read(p) for p in (tiny_host.parent / "lockfiles").iterdir()}
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse))
    assert code == 0
    assert {s["status"] for s in result["suites"]} == {"unchanged"}
    assert {p.name: read(p) for p in (tiny_host.parent / "lockfiles").iterdir()} == before
    code, checked = lock_json(tiny_host, capsys, "--check")
    assert code == 0 and {s["status"] for s in checked["suites"]} == {"ok"}


def test_check_fails_on_a_missing_or_stale_lock(tiny_host, tiny_wheelhouse, capsys):
    assert lock(tiny_host, "--check") == errors.EXIT_FAILED
    assert "missing" in capsys.readouterr().out
    assert lock(tiny_host, *offline(tiny_wheelhouse)) == 0
    core_in = tiny_host.parent / "lockfiles/core.in"
    core_in.write_text(core_in.read_text() + "delta\n")
    code, checked = lock_json(tiny_host, capsys, "--check", "--suite", "core")
    assert code == errors.EXIT_FAILED
    assert checked["suites"][0]["status"] == "stale"


def test_impossible_pins_name_both_services_and_leave_the_previous_lock(tiny_host, tiny_wheelhouse, capsys):
    assert lock(tiny_host, *offline(tiny_wheelhouse)) == 0
    lock_dir = tiny_host.parent / "lockfiles"
    before = {p.name: read(p) for p in lock_dir.iterdir()}
    (tiny_host.parent / "opt/mods/svc-b/requirements.txt").write_text("alpha==1.0\n")
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse))
    assert code == errors.EXIT_FAILED
    core = result["suites"][0]
    assert core["status"] == "conflict"
    (conflict,) = core["conflicts"]
    assert [(s["pin"], s["services"]) for s in conflict["sides"]] == [
        ("alpha==2.0", ["svc-a.service"]), ("alpha==1.0", ["svc-b.service"])]
    assert {p.name: read(p) for p in lock_dir.iterdir()} == before
    assert lock(tiny_host, *offline(tiny_wheelhouse)) == errors.EXIT_FAILED
    text = capsys.readouterr().out
    assert "svc-a.service" in text and "svc-b.service" in text and "alpha==1.0" in text and "alpha==2.0" in text


def test_an_override_settles_the_conflict_and_is_explained_in_the_input(tiny_host, tiny_wheelhouse, capsys):
    (tiny_host.parent / "opt/mods/svc-b/requirements.txt").write_text("alpha==1.0\n")
    config = yaml.safe_load(tiny_host.read_text())
    config["suites"]["core"]["overrides"] = {"alpha": "==2.0"}
    tiny_host.write_text(yaml.safe_dump(config))
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse))
    assert code == 0
    (override,) = result["suites"][0]["overrides"]
    assert override["dist"] == "alpha" and override["settled_conflict"] is True
    core_in = (tiny_host.parent / "lockfiles/core.in").read_text()
    assert "alpha==2.0\n    # override ==2.0 from revops.yaml suites.core.overrides (settles a conflict)" in core_in
    assert "    # svc-b.service: alpha==1.0" in core_in


def test_resolver_failure_shows_its_explanation_not_a_traceback(tiny_host, tiny_wheelhouse, capsys):
    assert lock(tiny_host, *offline(tiny_wheelhouse)) == 0
    before = read(tiny_host.parent / "lockfiles/core.txt")
    # gamma needs alpha<2 while svc-a pins alpha==2.0: only the resolver can see that.
    (tiny_host.parent / "opt/mods/svc-b/requirements.txt").write_text("gamma\n")
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse))
    assert code == errors.EXIT_FAILED
    core = result["suites"][0]
    assert core["status"] == "resolver-failed"
    assert "alpha" in core["error"] and "Traceback" not in core["error"]
    assert read(tiny_host.parent / "lockfiles/core.txt") == before
    assert result["suites"][1]["status"] == "unchanged"


def test_prove_installs_by_hash_runs_pip_check_and_imports_each_app(tiny_host, tiny_wheelhouse, capsys):
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse), "--prove")
    assert code == 0
    proofs = {s["name"]: s["proof"] for s in result["suites"]}
    assert proofs["core"]["installed"] and proofs["core"]["pip_check"]
    assert [(i["service"], i["module"], i["ok"]) for i in proofs["core"]["imports"]] == [
        ("svc-a.service", "app", True), ("svc-b.service", "app", True)]
    assert not (tiny_host.parent / "opt/mods/svc-a/__pycache__").exists()


def test_prove_fails_when_an_app_needs_what_the_lock_lacks(tiny_host, tiny_wheelhouse, capsys):
    (tiny_host.parent / "opt/mods/svc-c/app.py").write_text("import delta, gamma\n")
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse), "--prove", "--suite", "extra")
    assert code == errors.EXIT_FAILED
    (suite,) = result["suites"]
    assert suite["status"] == "proof-failed"
    (check,) = suite["proof"]["imports"]
    assert check["ok"] is False and "gamma" in check["detail"]


def test_dry_run_writes_nothing(tiny_host, tiny_wheelhouse, capsys):
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse), "--dry-run")
    assert code == 0
    assert {s["status"] for s in result["suites"]} == {"would-lock"}
    assert not (tiny_host.parent / "lockfiles").exists()


def test_offline_without_a_wheelhouse_is_a_usage_error(tiny_host, capsys):
    assert lock(tiny_host, "--offline") == errors.EXIT_USAGE
    assert "wheelhouse" in capsys.readouterr().err


def test_uv_resolver_writes_the_same_format(tiny_host, tiny_wheelhouse, capsys):
    if shutil.which("uv") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("uv is not installed (pip install 'revops[test]')")
        pytest.skip("uv is not installed")
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse), "--resolver", "uv")
    assert code == 0
    core_txt = (tiny_host.parent / "lockfiles/core.txt").read_text()
    assert lockfile.header_fields(core_txt)["resolver"].startswith("uv ")
    assert [(p.name, p.version) for p in lockfile.pins(core_txt)] == [("alpha", "2.0"), ("beta", "1.1")]
    assert lockfile.unpinned_entries(core_txt) == []
    assert lock(tiny_host, "--check") == 0


def test_an_unreadable_requirement_names_file_line_and_unit_and_changes_nothing(tiny_host, tiny_wheelhouse, capsys):
    assert lock(tiny_host, *offline(tiny_wheelhouse)) == 0
    before = {p.name: read(p) for p in (tiny_host.parent / "lockfiles").iterdir()}
    (tiny_host.parent / "opt/mods/svc-a/requirements.txt").write_text("alpha==2.0\nbeta >>= 1\n")
    code, result = lock_json(tiny_host, capsys, *offline(tiny_wheelhouse))
    assert code == errors.EXIT_FAILED
    core = result["suites"][0]
    assert core["status"] == "input-error"
    (problem,) = core["input_errors"]
    assert problem.startswith("/opt/mods/svc-a/requirements.txt:2: not a requirement") and "svc-a.service" in problem
    assert {p.name: read(p) for p in (tiny_host.parent / "lockfiles").iterdir()} == before


def test_unknown_resolver_or_suite_is_a_usage_error(tiny_host, capsys):
    assert lock(tiny_host, "--resolver", "poetry") == errors.EXIT_USAGE
    assert lock(tiny_host, "--suite", "nope") == errors.EXIT_USAGE
    assert "known: core, extra" in capsys.readouterr().err
