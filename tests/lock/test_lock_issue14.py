"""`revops lock` end to end on field inputs (issue 14, cases 2-5): real pip-tools, offline."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from lock_wheels import build_wheel, build_wheelhouse, write_host
from test_lock_offline import lock, lock_json, offline

from revops import errors
from revops.adapters import proc
from revops.lock import lockfile, resolver

NEWER = "3.11.7"  # the pyenv python3 of this machine; the services' and the base image's is 3.11.2
OLDER = "3.11.2"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """The tiny wheels, plus a redis-like one needing a backport below 3.11.3 only."""
    directory = build_wheelhouse(tmp_path_factory.mktemp("issue14-wheels"))
    build_wheel(directory, "redisish", "6.2.0", ('timeoutish>=4.0.3; python_full_version < "3.11.3"',))
    build_wheel(directory, "timeoutish", "5.0.1")
    return directory


def missing(what: str) -> None:
    """A piece of this machine the test needs is not here: a failure under CI=true (CI's
    machine has it: root, setpriv, the pyenv python3, uv from the test extra), else a skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI must have it)")
    pytest.skip(what)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def host(tmp_path: Path, requirements: dict[str, str], image_python: str | None = OLDER) -> Path:
    services = {f"{name}.service": {"suite": "core", "requirements": text, "app": "import os\n"}
                for name, text in requirements.items()}
    config = write_host(tmp_path, services, {"core": {"phase": 1, "units": sorted(services)}})
    if image_python:
        set_image_python(config, image_python)
    return config


def set_image_python(config: Path, version: str | None) -> None:
    data = yaml.safe_load(config.read_text())
    data["image"] = {"python": version} if version else {}
    config.write_text(yaml.safe_dump(data))


def lock_text(config: Path) -> str:
    return (config.parent / "lockfiles/core.txt").read_text()


def snapshot(config: Path) -> dict[str, bytes]:
    directory = config.parent / "lockfiles"
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.is_dir() else {}


# ---- case 2: a hashed requirements file locks, its hashes honoured ---------------------------------

def test_a_hashed_pip_compile_output_locks_with_the_services_hash(tmp_path, wheelhouse, capsys):
    alpha = sha256(wheelhouse / "alpha-2.0-py3-none-any.whl")
    config = host(tmp_path, {"svc": f"alpha==2.0 \\\n    --hash=sha256:{alpha} \\\n    --hash=sha256:{'0' * 64}\n"
                                    "    # via -r requirements.in\n--index-url https://127.0.0.1:9/simple\n"})
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0, result
    (suite,) = result["suites"]
    assert suite["status"] == "locked"
    assert any(w.startswith("/opt/mods/svc/requirements.txt:5: --index-url not honoured") for w in suite["warnings"])
    assert [(p.name, p.version, p.hashes) for p in lockfile.pins(lock_text(config))] == [
        ("alpha", "2.0", 1), ("beta", "1.1", 1)]
    assert f"--hash=sha256:{alpha}" in lock_text(config)


def test_a_hash_matching_no_wheel_stops_the_suite_naming_file_and_line(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"svc": "beta\n", "other": f"alpha==2.0 --hash=sha256:{'e' * 64}\n"})
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == errors.EXIT_FAILED
    (suite,) = result["suites"]
    assert suite["status"] == "hash-mismatch"
    assert suite["error"].startswith("/opt/mods/other/requirements.txt:1: the --hash values of 'alpha==2.0'")
    assert snapshot(config) == {}


# ---- case 3: nothing silently disappears ----------------------------------------------------------

def local_project(root: Path, version: str = "0.1.0", requires: str = "beta>=1.0") -> None:
    project = root / "opt/mods/libs/common"
    (project / "common").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "common"\nversion = "{version}"\ndependencies = ["{requires}"]\n\n'
        '[tool.setuptools]\npackages = ["common"]\n')
    (project / "common/__init__.py").write_text(f"VERSION = {version!r}\n")


def test_an_editable_local_project_is_built_pinned_and_installs(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"svc": "alpha==2.0\n-e ../libs/common\n"})
    (tmp_path / "opt/mods/svc/app.py").write_text("import alpha, common\nassert common.VERSION == '0.1.0'\n")
    local_project(tmp_path)
    code, result = lock_json(config, capsys, *offline(wheelhouse), "--prove")
    assert code == 0, result
    (suite,) = result["suites"]
    assert suite["proof"]["installed"] and suite["proof"]["pip_check"]
    assert [(i["module"], i["ok"]) for i in suite["proof"]["imports"]] == [("app", True)]
    text = lock_text(config)
    (built,) = (tmp_path / ".revops/wheelhouse").glob("common-0.1.0-*.whl")
    assert f"common==0.1.0 \\\n    --hash=sha256:{sha256(built)}\n" in text
    assert "    # local project /opt/mods/libs/common, built by revops lock" in text
    assert [(p.name, p.version) for p in lockfile.pins(text)] == [("alpha", "2.0"), ("beta", "1.1"), ("common", "0.1.0")]
    assert "file:" not in text and "/tmp" not in text
    core_in = (config.parent / "lockfiles/core.in").read_text()
    assert "#   /opt/mods/libs/common (files sha256:" in core_in
    assert "    # svc.service: -e ../libs/common (/opt/mods/svc/requirements.txt:2)" in core_in
    # Nothing changed: nothing rebuilt; the wheel gone from the wheelhouse: rebuilt, same bytes.
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert result["suites"][0]["status"] == "unchanged"
    built.unlink()
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0 and result["suites"][0]["status"] == "locked"
    assert lock_text(config) == text and built.is_file()
    # The project changed: the suite is re-locked with the new wheel.
    local_project(tmp_path, "0.2.0")
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0 and result["suites"][0]["status"] == "locked"
    assert ("common", "0.2.0") in [(p.name, p.version) for p in lockfile.pins(lock_text(config))]


def test_revops_build_fills_the_wheelhouse_around_a_local_projects_wheel(tmp_path, wheelhouse, capsys):
    """What `revops build` does before building: download what the lock pins and the wheelhouse
    lacks; the local project's wheel is found there, not on the index."""
    from revops.build import images as build
    from revops.generate import context

    config = host(tmp_path, {"svc": "alpha==2.0\n-e ../libs/common\n"})
    local_project(tmp_path)
    assert lock(config, *offline(wheelhouse)) == 0
    built_into = tmp_path / ".revops/wheelhouse"
    assert [p.name for p in built_into.iterdir()] == ["common-0.1.0-py3-none-any.whl"]
    lock_path = config.parent / "lockfiles/core.txt"
    build.fill_wheelhouse(lock_path, built_into, wheelhouse)
    found, missing = context.matching_wheels(built_into, context.locked_requirements(lock_path.read_text()))
    assert missing == [] and sorted(found) == ["alpha==2.0", "beta==1.1", "common==0.1.0"]


def test_a_local_projects_build_code_runs_as_nobody_not_as_root(tmp_path, wheelhouse, capsys):
    import zipfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        missing("only root drops privileges (setpriv)")
    config = host(tmp_path, {"svc": "-e ../libs/common\n"})
    project = tmp_path / "opt/mods/libs/common"
    (project / "common").mkdir(parents=True)
    (project / "common/__init__.py").write_text("")
    (project / "setup.py").write_text(
        "import os\nfrom setuptools import setup\n"
        "open('common/_built_by.py', 'w').write(f'UID = {os.getuid()}\\n')\n"
        "setup(name='common', version='0.1.0', packages=['common'])\n")
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0, result
    (built,) = (tmp_path / ".revops/wheelhouse").glob("common-0.1.0-*.whl")
    assert zipfile.ZipFile(built).read("common/_built_by.py") == b"UID = 65534\n"
    assert not any("built as root" in w for w in result["suites"][0]["warnings"])


def test_a_local_project_builds_when_the_target_is_another_interpreter(tmp_path, wheelhouse, capsys):
    if resolver.find_interpreter(NEWER) is None:
        missing(f"no Python {NEWER} on this machine")
    config = host(tmp_path, {"svc": "-e ../libs/common\n"}, image_python=NEWER)
    local_project(tmp_path)
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0, result
    assert [(p.name, p.version) for p in lockfile.pins(lock_text(config))] == [("beta", "1.1"), ("common", "0.1.0")]


def test_a_local_project_that_does_not_build_stops_the_suite(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"svc": "alpha==2.0\n-e ../libs/common\n"})
    local_project(tmp_path)
    (tmp_path / "opt/mods/libs/common/pyproject.toml").write_text(
        '[build-system]\nrequires = ["no-such-backend"]\nbuild-backend = "no_such_backend"\n')
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == errors.EXIT_FAILED
    (suite,) = result["suites"]
    assert suite["status"] == "local-build-failed"
    assert suite["error"].startswith("/opt/mods/svc/requirements.txt:2: '-e ../libs/common' (svc.service): "
                                     "local project /opt/mods/libs/common did not build")
    assert snapshot(config) == {}


def test_a_vcs_line_stops_the_suite_instead_of_vanishing(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"svc": "alpha==2.0\ngit+https://127.0.0.1:9/common.git@v1#egg=common\n"})
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == errors.EXIT_FAILED
    (suite,) = result["suites"]
    assert suite["status"] == "input-error"
    (problem,) = suite["input_errors"]
    assert problem.startswith("/opt/mods/svc/requirements.txt:2: 'git+https://127.0.0.1:9/common.git@v1#egg=common' "
                              "is a VCS URL") and "Way out:" in problem
    assert snapshot(config) == {}


# ---- case 4: markers survive the merge --------------------------------------------------------------

def test_a_pin_for_another_python_neither_clashes_nor_loses_its_guard(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"a": 'beta==1.0; python_version < "3.11"\ndelta==0.5; python_full_version < "3.11.3"\n',
                             "b": "beta==1.1\n"})
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0, result
    text = lock_text(config)
    assert [(p.name, p.version) for p in lockfile.pins(text)] == [("beta", "1.1"), ("delta", "0.5")]
    assert 'delta==0.5 ; python_full_version < "3.11.3"' in text
    core_in = (config.parent / "lockfiles/core.in").read_text()
    assert '    # a.service: beta==1.0; python_version < "3.11" (marker false for Python 3.11.2)' in core_in


# ---- case 5: the lock is for the interpreter that installs it --------------------------------------

def newer_python_running_revops(tmp_path: Path) -> str:
    """A venv of Python 3.11.7 that imports revops and its dependencies from this test's environment."""
    found = resolver.find_interpreter(NEWER)
    if found is None:
        missing(f"no Python {NEWER} on this machine (the pyenv python3)")
    venv = tmp_path / "newer-venv"
    proc.run([found, "-m", "venv", "--without-pip", venv])
    (site,) = (venv / "lib").glob("python3.11/site-packages")
    (site / "revops-borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(venv / "bin" / "python")


def run_revops(python: str, config: Path, *args: str) -> proc.Completed:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return proc.run([python, "-m", "revops", *args, "--config", str(config)], env=env, check=False, timeout=600)


def test_revops_on_a_newer_python_locks_for_the_services_python(tmp_path, wheelhouse):
    newer = newer_python_running_revops(tmp_path)
    assert proc.run([newer, "-c", "import platform; print(platform.python_version())"]).stdout.strip() == NEWER
    config = host(tmp_path, {"svc": "redisish==6.2.0\n"})
    done = run_revops(newer, config, "lock", "--offline", "--find-links", str(wheelhouse), "--prove")
    assert done.returncode == 0, done.stderr
    text = lock_text(config)
    assert [(p.name, p.version) for p in lockfile.pins(text)] == [("redisish", "6.2.0"), ("timeoutish", "5.0.1")]
    fields = lockfile.header_fields(text)
    assert (fields["python"], fields["python-from"]) == (OLDER, "revops.yaml image.python")
    assert run_revops(newer, config, "lock", "--check").returncode == 0
    assert run_revops(sys.executable, config, "lock", "--check").returncode == 0


def test_a_new_target_makes_the_lock_stale_and_relocks_for_it(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"svc": "redisish==6.2.0\n"})
    assert lock(config, *offline(wheelhouse)) == 0
    assert "timeoutish==5.0.1" in lock_text(config)
    if resolver.find_interpreter(NEWER) is None:
        missing(f"no Python {NEWER} on this machine")
    set_image_python(config, NEWER)
    code, checked = lock_json(config, capsys, "--check")
    assert code == errors.EXIT_FAILED
    (suite,) = checked["suites"]
    assert suite["status"] == "stale" and f"resolved for Python {OLDER}, but the target is Python {NEWER}" in suite["error"]
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0 and result["suites"][0]["status"] == "locked"
    assert [p.name for p in lockfile.pins(lock_text(config))] == ["redisish"]
    assert lockfile.header_fields(lock_text(config))["python"] == NEWER


def test_the_target_defaults_to_the_host_venvs_python(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"svc": "redisish==6.2.0\n"}, image_python=None)
    venvs = [{"path": "/opt/mods/svc/venv", "healthy": True, "used_by": ["svc.service"], "python_version": OLDER}]
    (tmp_path / "inventory/venvs.yaml").write_text(yaml.safe_dump({"venvs": venvs}))
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == 0, result
    fields = lockfile.header_fields(lock_text(config))
    assert (fields["python"], fields["python-from"]) == (OLDER, "host venvs (pyvenv.cfg)")
    assert "timeoutish==5.0.1" in lock_text(config)


def test_no_interpreter_of_the_target_is_a_clear_failure(tmp_path, wheelhouse, capsys):
    config = host(tmp_path, {"svc": "alpha\n"}, image_python="3.11.99")
    code, result = lock_json(config, capsys, *offline(wheelhouse))
    assert code == errors.EXIT_FAILED
    (suite,) = result["suites"]
    assert suite["status"] == "resolver-failed"
    assert "no Python 3.11.99" in suite["error"] and "--resolver uv" in suite["error"]
    assert snapshot(config) == {}


def test_uv_resolves_for_the_target_too(tmp_path, wheelhouse, capsys, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if shutil.which("uv") is None:
        missing("uv is not installed (pip install 'revops[test]')")
    config = host(tmp_path, {"svc": "redisish==6.2.0\n"}, image_python="3.11.99")
    code, result = lock_json(config, capsys, *offline(wheelhouse), "--resolver", "uv")
    assert code == 0, result
    assert "timeoutish" not in lock_text(config)
    set_image_python(config, OLDER)
    code, result = lock_json(config, capsys, *offline(wheelhouse), "--resolver", "uv")
    assert code == 0 and "timeoutish==5.0.1" in lock_text(config)


def test_image_python_must_be_a_full_version(tmp_path, capsys):
    config = host(tmp_path, {"svc": "alpha\n"}, image_python="3.11")
    assert lock(config, "--check") == errors.EXIT_USAGE
    assert "image.python" in capsys.readouterr().err


def test_without_an_engine_the_base_image_is_skipped_with_the_reason(tmp_path, monkeypatch):
    from revops.lock import baseimage, target

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    version, why = baseimage.python_of("revflow/python-base:bookworm", tmp_path)
    assert version is None and "the engine cannot be asked" in why
    chosen, _ = target.choose(None, [OLDER], ("revflow/python-base:bookworm", None))
    assert chosen.source == target.FROM_VENVS
    chosen, _ = target.choose(None, [OLDER], ("revflow/python-base:bookworm", "3.11.9"))
    assert (chosen.version, chosen.source) == ("3.11.9", "base image revflow/python-base:bookworm")
