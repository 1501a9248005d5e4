"""Each service's requirements: its requirements.txt, else its venv's top-level distributions."""

from lock_wheels import broken_venv, install_fake_dist

from revops.lock import sources


def test_requirements_file_wins_and_is_read_with_includes_comments_and_continuations(tmp_path):
    workdir = tmp_path / "opt/mods/svc"
    workdir.mkdir(parents=True)
    (workdir / "requirements.txt").write_text(
        "# header\nfastapi==0.115.12  # web\n\n--index-url http://127.0.0.1/simple\nuvicorn\\\n  >=0.29\n-r more.txt\n")
    (workdir / "more.txt").write_text("redis>=5\n")
    install_fake_dist(workdir / "venv", "requests", "2.31.0")
    found = sources.gather("svc.service", "/opt/mods/svc", "/opt/mods/svc/venv", tmp_path)
    assert found.source == "requirements.txt"
    assert found.source_path == "/opt/mods/svc/requirements.txt"
    assert [w.requirement for w in found.wanted] == ["fastapi==0.115.12", "uvicorn>=0.29", "redis>=5"]
    assert [w.origin for w in found.wanted] == [
        "/opt/mods/svc/requirements.txt:2", "/opt/mods/svc/requirements.txt:5", "/opt/mods/svc/more.txt:1"]
    assert [str(w).split(" not honoured")[0] for w in found.warnings] == [
        "/opt/mods/svc/requirements.txt:4: --index-url"]
    assert found.errors == []


def test_a_bad_line_is_an_error_naming_file_line_and_unit(tmp_path):
    workdir = tmp_path / "opt/mods/svc"
    workdir.mkdir(parents=True)
    (workdir / "requirements.txt").write_text("fastapi\nthis is not a requirement ==\n")
    found = sources.gather("svc.service", "/opt/mods/svc", None, tmp_path)
    (error,) = found.errors
    assert str(error).startswith("/opt/mods/svc/requirements.txt:2: not a requirement")
    assert "svc.service" in str(error)


def test_venv_gives_its_top_level_distributions_even_with_a_broken_interpreter(tmp_path):
    venv = tmp_path / "opt/mods/svc/venv"
    broken_venv(venv)
    install_fake_dist(venv, "fastapi", "0.115.12", ("starlette>=0.40", "pydantic>=2"))
    install_fake_dist(venv, "starlette", "0.46.2", ("anyio>=3",))
    install_fake_dist(venv, "anyio", "4.9.0")
    install_fake_dist(venv, "pydantic", "2.11.7")
    install_fake_dist(venv, "redis", "6.2.0")
    install_fake_dist(venv, "pip", "23.2.1")
    found = sources.gather("svc.service", "/opt/mods/svc", "/opt/mods/svc/venv", tmp_path)
    assert found.source == "venv" and found.source_path == "/opt/mods/svc/venv"
    assert [w.requirement for w in found.wanted] == ["fastapi==0.115.12", "redis==6.2.0"]


def test_half_installed_distributions_are_named_not_fatal(tmp_path):
    venv = tmp_path / "v"
    install_fake_dist(venv, "redis", "6.2.0")
    install_fake_dist(venv, "requests", "2.31.0", metadata=False)
    found = sources.from_venv("svc.service", venv, "/v")
    assert [w.requirement for w in found.wanted] == ["redis==6.2.0"]
    assert any("requests-2.31.0.dist-info: METADATA missing" in note for note in found.notes)


def test_extra_dependencies_make_the_parent_carry_the_extra(tmp_path):
    venv = tmp_path / "v"
    (venv / "pyvenv.cfg").parent.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("version = 3.11.2\n")
    install_fake_dist(venv, "uvicorn", "0.34.3", ("h11>=0.8", 'httptools>=0.6; extra == "standard"',
                                                  'uvloop>=0.15; extra == "standard" and sys_platform != "win32"'))
    install_fake_dist(venv, "h11", "0.16.0")
    install_fake_dist(venv, "httptools", "0.6.4")
    install_fake_dist(venv, "uvloop", "0.21.0")
    found = sources.from_venv("svc.service", venv, "/v")
    assert [w.requirement for w in found.wanted] == ["uvicorn[standard]==0.34.3"]


def test_markers_are_judged_for_the_venvs_python(tmp_path):
    venv = tmp_path / "v"
    (venv / "pyvenv.cfg").parent.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("version = 3.11.2\n")
    install_fake_dist(venv, "anyio", "4.9.0", ('exceptiongroup>=1; python_version < "3.11"',))
    install_fake_dist(venv, "exceptiongroup", "1.2.0")  # left over, not needed on 3.11
    found = sources.from_venv("svc.service", venv, "/v")
    assert [w.requirement for w in found.wanted] == ["anyio==4.9.0", "exceptiongroup==1.2.0"]


def test_distributions_requiring_each_other_are_kept(tmp_path):
    venv = tmp_path / "v"
    install_fake_dist(venv, "left", "1.0", ("right",))
    install_fake_dist(venv, "right", "1.0", ("left",))
    found = sources.from_venv("svc.service", venv, "/v")
    assert [w.requirement for w in found.wanted] == ["left==1.0", "right==1.0"]


def test_no_source_says_why(tmp_path):
    (tmp_path / "opt/mods/svc").mkdir(parents=True)
    found = sources.gather("svc.service", "/opt/mods/svc", "/opt/mods/svc/venv", tmp_path)
    assert found.source == "none" and found.wanted == []
    assert found.notes == ["no requirements.txt in its working directory and no venv on disk"]
