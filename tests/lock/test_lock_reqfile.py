"""Requirements files read as pip reads them, inside the host root (issue 14, cases 2 and 3)."""

from __future__ import annotations

import os
import threading

import pytest

from revops.adapters import pip_reqfile
from revops.lock import reqfile, sources

SIX_A = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
SIX_B = "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81"


def write(root, host_path, text):
    path = root / host_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def read(root, text, host_path="/opt/mods/svc/requirements.txt", **files):
    write(root, host_path, text)
    for name, body in files.items():
        write(root, f"/opt/mods/svc/{name.replace('__', '/')}", body)
    return reqfile.Reader(root).read(host_path)


def problems(found):
    return [(p.line, p.detail) for p in found]


# ---- case 2: a hashed pip-compile output is a requirements file --------------------------------

def test_a_hashed_pip_compile_output_is_read_with_its_hashes(tmp_path):
    found = read(tmp_path, f"six==1.17.0 \\\n    --hash=sha256:{SIX_A} \\\n    --hash=sha256:{SIX_B}\n"
                           "    # via -r requirements.in\n")
    assert found.errors == [] and found.warnings == []
    (six,) = found.requested
    assert (six.requirement, six.line, six.hashes) == ("six==1.17.0", 1, frozenset({SIX_A, SIX_B}))


def test_per_requirement_build_options_are_read_and_reported_as_not_honoured(tmp_path):
    found = read(tmp_path, "alpha==1.0 --config-settings=editable_mode=compat\n"
                           'beta>=2 --global-option="--no-user-cfg" --install-option=--prefix=/x\n')
    assert [r.requirement for r in found.requested] == ["alpha==1.0", "beta>=2"]
    assert [(line, detail.split(":")[0]) for line, detail in problems(found.warnings)] == [
        (1, "--config-settings not honoured"), (2, "--global-option not honoured"),
        (2, "--install-option not honoured")]
    assert found.errors == []


def test_global_options_are_reported_with_their_line_and_no_credentials(tmp_path):
    found = read(tmp_path, "--index-url https://deploy:s3cret@packages.invalid/simple\n"
                           "--extra-index-url https://other.invalid/simple\n--find-links ./wheels\n--pre\n"
                           "--only-binary :all:\n--prefer-binary\n--trusted-host packages.invalid\n--no-binary gamma\n"
                           "alpha\n")
    assert [r.requirement for r in found.requested] == ["alpha"]
    assert [(line, detail.split(" ")[0]) for line, detail in problems(found.warnings)] == [
        (1, "--index-url"), (2, "--extra-index-url"), (3, "--find-links"), (4, "--pre"), (7, "--trusted-host"),
        (8, "--no-binary")]
    assert [(line, detail.split(":")[0]) for line, detail in problems(found.notes)] == [
        (5, "--only-binary"), (6, "--prefer-binary")]
    assert "s3cret" not in repr(found)


def test_continuations_comments_markers_and_extras_read_as_pip_does(tmp_path):
    found = read(tmp_path, "# header\nuvicorn[standard] \\\n  >= 0.29 ; python_version >= \"3.8\"  # web\n\n"
                           "requests==2.31.0 # pinned\n  # an indented comment \\\nredis\n")
    assert [(r.line, r.requirement) for r in found.requested] == [
        (2, 'uvicorn[standard]>=0.29; python_version >= "3.8"'), (5, "requests==2.31.0"), (7, "redis")]


def test_environment_variables_are_expanded_as_pip_does_and_an_unset_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHA_MIN", "1.5")
    monkeypatch.delenv("BETA_MAX", raising=False)
    found = read(tmp_path, "alpha>=${ALPHA_MIN}\nbeta<${BETA_MAX}\n")
    assert [r.requirement for r in found.requested] == ["alpha>=1.5"]
    ((line, detail),) = problems(found.errors)
    assert line == 2 and "${BETA_MAX}" in detail and "not set" in detail


def test_includes_and_constraints_nest_relative_to_the_including_file(tmp_path):
    found = read(tmp_path, "-r reqs/base.txt\n-c constraints.txt\nalpha\n",
                 **{"reqs__base.txt": "--requirement=more.txt\nbeta\n", "reqs__more.txt": "gamma\n",
                                   "constraints.txt": "beta<2\n-c more-constraints.txt\n",
                                   "more-constraints.txt": "gamma==1.0\n"})
    assert [(r.origin, r.requirement, r.constraint) for r in found.requested] == [
        ("/opt/mods/svc/reqs/more.txt:1", "gamma", False),
        ("/opt/mods/svc/reqs/base.txt:2", "beta", False),
        ("/opt/mods/svc/constraints.txt:1", "beta<2", True),
        ("/opt/mods/svc/more-constraints.txt:1", "gamma==1.0", True),
        ("/opt/mods/svc/requirements.txt:3", "alpha", False)]
    assert found.errors == []


def test_a_bad_option_or_requirement_names_its_line(tmp_path):
    found = read(tmp_path, "alpha --bogus\nbeta >>= 1\ngamma --hash=md5:abc\n")
    assert [(line, detail.split(":")[0]) for line, detail in problems(found.errors)] == [
        (1, "pip cannot read 'alpha --bogus'"), (2, "not a requirement"), (3, "pip cannot read 'gamma --hash=md5")]


# ---- includes stay inside the root ------------------------------------------------------------

def test_an_include_that_climbs_out_of_the_root_is_an_error(tmp_path):
    found = read(tmp_path, "alpha\n-r ../../../../../etc/passwd\n")
    ((line, detail),) = problems(found.errors)
    assert line == 2 and "leaves the host root" in detail
    assert [r.requirement for r in found.requested] == ["alpha"]


def test_an_absolute_include_and_an_absolute_symlink_are_read_under_the_root_not_this_machine(tmp_path):
    assert os.path.exists("/etc/hostname") or os.path.exists("/etc/passwd")
    (tmp_path / "opt/mods/svc").mkdir(parents=True)
    (tmp_path / "opt/mods/svc/linked.txt").symlink_to("/etc/passwd")
    found = read(tmp_path, "-r /etc/hostname\n-r linked.txt\n")
    assert [(line, detail) for line, detail in problems(found.errors)] == [
        (1, "/etc/hostname: no such file"), (2, "/opt/mods/svc/linked.txt: no such file")]
    write(tmp_path, "/etc/passwd", "delta==0.5\n")
    found = reqfile.Reader(tmp_path).read("/opt/mods/svc/requirements.txt")
    assert [(r.origin, r.requirement) for r in found.requested] == [("/etc/passwd:1", "delta==0.5")]


def test_an_include_loop_is_an_error_naming_the_chain(tmp_path):
    found = read(tmp_path, "alpha\n-r more.txt\n", **{"more.txt": "beta\n-r requirements.txt\n"})
    ((line, detail),) = problems(found.errors)
    assert line == 2 and "loop" in detail
    assert "/opt/mods/svc/requirements.txt -> /opt/mods/svc/more.txt -> /opt/mods/svc/requirements.txt" in detail
    assert [r.requirement for r in found.requested] == ["alpha", "beta"]


def test_the_same_file_included_twice_is_not_a_loop(tmp_path):
    found = read(tmp_path, "-r a.txt\n-r b.txt\n", **{"a.txt": "-r common.txt\n", "b.txt": "-r common.txt\n",
                                                      "common.txt": "alpha\n"})
    assert found.errors == [] and [r.requirement for r in found.requested] == ["alpha", "alpha"]


def test_a_fifo_or_a_directory_is_not_read_and_nothing_blocks(tmp_path):
    (tmp_path / "opt/mods/svc/dir.txt").mkdir(parents=True)
    os.mkfifo(tmp_path / "opt/mods/svc/pipe.txt")
    result = {}
    reader = threading.Thread(target=lambda: result.update(found=read(tmp_path, "-r pipe.txt\n-r dir.txt\n")))
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # unblock the reader before failing
        with open(tmp_path / "opt/mods/svc/pipe.txt", "w"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert [(line, detail) for line, detail in problems(result["found"].errors)] == [
        (1, "/opt/mods/svc/pipe.txt: not a regular file"), (2, "/opt/mods/svc/dir.txt: not a regular file")]


def test_a_requirements_file_from_a_url_is_never_fetched(tmp_path):
    found = read(tmp_path, "-r https://127.0.0.1:9/reqs.txt\n-c file:///opt/mods/svc/c.txt\n",
                 **{"c.txt": "alpha<2\n"})
    ((line, detail),) = problems(found.errors)
    assert line == 1 and "never from a URL" in detail
    assert [(r.requirement, r.constraint) for r in found.requested] == [("alpha<2", True)]


# ---- case 3: nothing is dropped: a local project is built, the rest is an error ---------------------

@pytest.mark.parametrize("line, kind", [
    ("-e git+https://127.0.0.1/repo.git#egg=common", "an editable VCS or URL requirement"),
    ("git+https://127.0.0.1/repo.git@v1#egg=common", "a VCS URL"),
    ("common @ git+https://127.0.0.1/repo.git@v1", "a VCS URL"),
    ("https://127.0.0.1/common-1.0-py3-none-any.whl", "a direct URL"),
    ("common @ https://127.0.0.1/common-1.0.tar.gz", "a direct URL"),
])
def test_a_line_the_lock_cannot_pin_stops_with_file_line_and_way_out(tmp_path, line, kind):
    found = read(tmp_path, f"six==1.17.0\n{line}\n")
    ((number, detail),) = problems(found.errors)
    assert number == 2 and f"is {kind}" in detail and "Way out:" in detail and "name==version" in detail
    assert [r.requirement for r in found.requested] == ["six==1.17.0"] and found.local == []


def project(root, host_path, name="common"):
    write(root, f"{host_path}/pyproject.toml", f'[project]\nname = "{name}"\nversion = "0.1.0"\n')
    write(root, f"{host_path}/{name}/__init__.py", "VALUE = 1\n")


@pytest.mark.parametrize("line, extras, marker", [
    ("-e ../libs/common", (), None),
    ("../libs/common[fast,cli] ; python_version >= '3.8'", ("cli", "fast"), 'python_version >= "3.8"'),
    ("file:///opt/mods/libs/common", (), None),
    ("common[cli] @ file:///opt/mods/libs/common", ("cli",), None),
])
def test_a_local_project_under_the_root_is_carried_to_be_built(tmp_path, line, extras, marker):
    project(tmp_path, "/opt/mods/libs/common")
    found = read(tmp_path, f"six==1.17.0\n{line}\n")
    assert found.errors == []
    (local,) = found.local
    assert (local.host_path, local.extras, local.marker, local.origin) == (
        "/opt/mods/libs/common", extras, marker, "/opt/mods/svc/requirements.txt:2")
    assert len(local.digest) == 64


def test_the_digest_of_a_local_project_follows_its_files_not_its_caches(tmp_path):
    project(tmp_path, "/opt/mods/libs/common")
    first = read(tmp_path, "-e ../libs/common\n").local[0].digest
    write(tmp_path, "/opt/mods/libs/common/common/__pycache__/x.pyc", "cache")
    write(tmp_path, "/opt/mods/libs/common/.env", "API_KEY=secret")
    write(tmp_path, "/opt/mods/libs/common/build/lib/junk.py", "")
    assert read(tmp_path, "-e ../libs/common\n").local[0].digest == first
    write(tmp_path, "/opt/mods/libs/common/common/__init__.py", "VALUE = 2\n")
    assert read(tmp_path, "-e ../libs/common\n").local[0].digest != first


@pytest.mark.parametrize("setup, line, why", [
    (None, "-e ../libs/common", "/opt/mods/libs/common: no such file or directory"),
    ("empty", "-e ../libs/common", "is not a Python project (no pyproject.toml or setup.py)"),
    ("link", "-e ../libs/common", "is a symbolic link; revops builds local projects from regular files only"),
    (None, "../../../../../../srv/lib", "leaves the host root"),
    (None, "./notes.txt", "neither a project directory nor a wheel or sdist file"),
])
def test_a_local_path_that_cannot_be_built_is_an_error_naming_why(tmp_path, setup, line, why):
    if setup == "empty":
        (tmp_path / "opt/mods/libs/common").mkdir(parents=True)
    if setup == "link":
        project(tmp_path, "/opt/mods/libs/common")
        (tmp_path / "opt/mods/libs/common/common/secret.py").symlink_to("/etc/passwd")
    write(tmp_path, "/opt/mods/svc/notes.txt", "")
    found = read(tmp_path, f"alpha\n{line}\n")
    ((number, detail),) = problems(found.errors)
    assert number == 2 and why in detail
    assert found.local == []


def test_a_local_path_constraint_is_refused_as_pip_refuses_it(tmp_path):
    project(tmp_path, "/opt/mods/libs/common")
    found = read(tmp_path, "-c c.txt\n", **{"c.txt": "../libs/common\n"})
    ((number, detail),) = problems(found.errors)
    assert number == 1 and "a constraint must name a distribution" in detail


def test_the_issues_editable_case_reaches_the_service_as_a_local_project(tmp_path):
    project(tmp_path, "/opt/mods/libs/common")
    write(tmp_path, "/opt/mods/svc/requirements.txt", "six==1.17.0\n-e ../libs/common\n")
    found = sources.gather("svc.service", "/opt/mods/svc", None, tmp_path)
    assert found.errors == [] and [w.requirement for w in found.wanted] == ["six==1.17.0"]
    assert [(x.service, x.host_path, x.origin) for x in found.local] == [
        ("svc.service", "/opt/mods/libs/common", "/opt/mods/svc/requirements.txt:2")]


def test_a_name_at_url_is_not_mistaken_for_a_path(tmp_path):
    found = read(tmp_path, "alpha[x] @ https://127.0.0.1/a.whl ; python_version >= '3'\nbeta[y]==1.0\n")
    assert [line for line, _ in problems(found.errors)] == [1]
    assert [r.requirement for r in found.requested] == ["beta[y]==1.0"]


# ---- the cache of pip's reading ------------------------------------------------------------------

def test_an_unchanged_file_is_read_from_the_cache_without_pip(tmp_path, monkeypatch):
    text = f"six==1.17.0 --hash=sha256:{SIX_A}\n--pre\n"
    cache = tmp_path / "cache"
    first = read(tmp_path, text)
    write(tmp_path, "/opt/mods/svc/requirements.txt", text)
    assert reqfile.Reader(tmp_path, cache).read("/opt/mods/svc/requirements.txt") == first

    def no_pip(content):
        raise AssertionError("pip was asked again")

    monkeypatch.setattr(pip_reqfile, "read", no_pip)
    assert reqfile.Reader(tmp_path, cache).read("/opt/mods/svc/requirements.txt") == first
    write(tmp_path, "/opt/mods/svc/requirements.txt", "alpha>=${ALPHA_MIN}\n")
    with pytest.raises(AssertionError, match="asked again"):
        reqfile.Reader(tmp_path, cache).read("/opt/mods/svc/requirements.txt")
