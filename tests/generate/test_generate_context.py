"""What `revops build` stages: the locked wheels (by hash) and the code, never venvs or env files."""

import hashlib
import json

import pytest

from revops import cli
from revops.generate import context

import generate_minihost as minihost


def wheel(directory, name, data):
    path = directory / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_lock_parsing_joins_continuations_and_skips_options():
    text = ("# header\n--find-links /somewhere\nfastapi==0.115.12 \\\n    --hash=sha256:" + "a" * 64 + " \\\n"
            "    --hash=sha256:" + "b" * 64 + "\n    # via -r in.txt\nanyio==4.9.0 --hash=sha256:" + "c" * 64 + "\n")
    reqs = context.locked_requirements(text)
    assert [(r.line, sorted(r.hashes)) for r in reqs] == [
        ("fastapi==0.115.12", ["a" * 64, "b" * 64]), ("anyio==4.9.0", ["c" * 64])]


def test_only_wheels_with_a_locked_hash_are_chosen(tmp_path):
    good, good_hash = wheel(tmp_path, "fastapi-0.115.12-py3-none-any.whl", b"real wheel")
    wheel(tmp_path, "fastapi-0.115.11-py3-none-any.whl", b"other version")
    wheel(tmp_path, "anyio-4.9.0-py3-none-any.whl", b"tampered")
    reqs = [context.LockedRequirement("fastapi==0.115.12", frozenset({good_hash})),
            context.LockedRequirement("anyio==4.9.0", frozenset({"0" * 64}))]
    found, missing = context.matching_wheels(tmp_path, reqs)
    assert found == {"fastapi==0.115.12": good} and missing == ["anyio==4.9.0"]


def test_stage_copies_code_without_venvs_caches_or_env_files(tmp_path):
    code = tmp_path / "code"
    (code / "pkg/__pycache__").mkdir(parents=True)
    (code / "app.py").write_text("app = 1\n")
    (code / "pkg/__pycache__/x.pyc").write_bytes(b"\0")
    (code / ".env").write_text("API_KEY=fake\n")
    (code / "venv/bin").mkdir(parents=True)
    (code / "oddly-named/bin").mkdir(parents=True)
    (code / "oddly-named/pyvenv.cfg").write_text("home = /usr/bin\n")
    whl, _ = wheel(tmp_path, "fastapi-0.115.12-py3-none-any.whl", b"w")
    ctx = tmp_path / "compose/core"
    ctx.mkdir(parents=True)
    stage = context.stage(ctx, "fastapi==0.115.12\n", {"fastapi==0.115.12": whl}, {"api": code})
    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    assert files == ["requirements.lock", "revops/entrypoint.py", "services/api/app.py",
                     "wheelhouse/fastapi-0.115.12-py3-none-any.whl"]
    # revops' entrypoint, as it is: the Dockerfile names its digest
    assert context.sha256_file(stage / "revops/entrypoint.py") == context.entrypoint_digest()
    before = context.tree_digest(stage / "services/api")
    context.stage(ctx, "fastapi==0.115.12\n", {"fastapi==0.115.12": whl}, {"api": code})
    assert context.tree_digest(stage / "services/api") == before
    (code / "app.py").write_text("app = 2\n")
    context.stage(ctx, "fastapi==0.115.12\n", {"fastapi==0.115.12": whl}, {"api": code})
    assert context.tree_digest(stage / "services/api") != before


def test_build_dry_run_plans_without_docker(tmp_path, monkeypatch, capsys):
    minihost.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        cli.main(["generate"])
    assert done.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main(["build", "--suite", "core", "--dry-run", "--json"])
    assert done.value.code == 0
    result = json.loads(capsys.readouterr().out)
    [suite] = result["suites"]
    assert suite["suite"] == "core" and suite["wheels"] == "planned"
    assert [(i["service"], i["state"]) for i in suite["images"]] == [
        ("revaudit-v6-nightly", "planned"), ("revcore-gateway", "planned"), ("revpublish", "planned"),
        ("revpublish-worker", "planned")]
    assert not (tmp_path / "compose/core/.stage").exists()


def test_build_refuses_when_compose_is_stale(tmp_path, monkeypatch, capsys):
    minihost.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        cli.main(["build", "--dry-run"])
    assert done.value.code == 1
    assert "revops generate" in capsys.readouterr().err


def test_build_unknown_suite_is_a_usage_error(tmp_path, monkeypatch, capsys):
    minihost.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        cli.main(["generate"])
    with pytest.raises(SystemExit) as done:
        cli.main(["build", "--suite", "nope", "--dry-run"])
    assert done.value.code == 2


def test_an_incomplete_closure_is_explained():
    from revops.build.images import explain_failure

    log = "Successfully installed redis-6.2.0\nredis 6.2.0 requires async-timeout, which is not installed.\n"
    text = explain_failure(log, "# python: 3.11.7\nredis==6.2.0 \\\n")
    assert "resolved for Python 3.11.7" in text and "redis 6.2.0 requires async-timeout" in text
    assert explain_failure("no space left on device", "") == "no space left on device"
