"""Venv health by reading files: one venv per kind of damage, as the example host makes them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revops import venvs
from revops.example_host import venvs as fake
from revops.example_host.tree import Tree, write
from revops.unitfile.rootfs import RootFS

DISTS = {"anyio": "4.9.0", "click": "8.2.1"}


def host_root(tmp_path: Path, kind: str | None) -> RootFS:
    tree = Tree()
    tree.file("/usr/bin/python3.11", b"#!fake interpreter\n", 0o755)
    tree.symlink("/usr/bin/python3", "python3.11")
    if kind is None:
        fake.add_healthy(tree, "/opt/app/venv", DISTS)
    else:
        fake.add_corrupted(tree, "/opt/app/venv", kind, DISTS)
    write(tree, tmp_path)
    return RootFS(tmp_path)


def add_healthy_at(root: Path, path: str) -> None:
    tree = Tree()
    fake.add_healthy(tree, path, DISTS)
    write(tree, root)


def test_a_healthy_venv_is_healthy_and_its_version_read(tmp_path):
    venv = venvs.check(host_root(tmp_path, None), "/opt/app/venv", ["app.service"])
    assert venv.healthy and venv.problems == [] and venv.python_version == "3.11.2"
    assert venv.used_by == ["app.service"]


@pytest.mark.parametrize("kind", fake.KINDS)
def test_each_kind_of_damage_is_found_by_its_code(tmp_path, kind):
    venv = venvs.check(host_root(tmp_path, kind), "/opt/app/venv", [])
    assert not venv.healthy
    assert kind in venv.problems, venv.details
    assert all(detail.split(":", 1)[0] in venv.problems for detail in venv.details)


def test_interpreter_link_resolves_inside_the_root_not_on_this_machine(tmp_path):
    fs = host_root(tmp_path, None)
    os.unlink(tmp_path / "usr/bin/python3.11")  # the host's python is gone; this machine's is not
    venv = venvs.check(fs, "/opt/app/venv", [])
    assert venv.problems[0] == venvs.INTERPRETER_MISSING


def test_discovery_finds_candidates_without_descending_into_them(tmp_path):
    fs = host_root(tmp_path, None)
    (tmp_path / "srv/x/lib/python3.11/site-packages").mkdir(parents=True)
    (tmp_path / "srv/x/bin").mkdir(parents=True)
    (tmp_path / "srv/x/bin/python3").symlink_to("/usr/bin/python3")
    (tmp_path / "opt/app/venv/nested/bin").mkdir(parents=True)
    (tmp_path / "opt/app/venv/nested/bin/activate").write_text("")
    (tmp_path / "opt/deep/a/b/c/d/e/venv/bin").mkdir(parents=True)
    (tmp_path / "opt/deep/a/b/c/d/e/venv/pyvenv.cfg").write_text("home = /usr/bin\n")
    assert venvs.discover(fs, ["/opt", "/srv"], depth=4) == ["/opt/app/venv", "/srv/x"]


def test_a_venv_is_judged_by_its_whole_shape_not_by_one_stray_file(tmp_path):
    fs = host_root(tmp_path, None)
    modules = tmp_path / "opt/modules"
    (modules / "pyvenv.cfg").parent.mkdir(parents=True)
    (modules / "pyvenv.cfg").write_text("")  # the stray empty file of issue #12
    (tmp_path / "opt/lone-lib/lib/python3.11/site-packages").mkdir(parents=True)
    (tmp_path / "opt/lone-bin/bin").mkdir(parents=True)
    (tmp_path / "opt/lone-bin/bin/activate").write_text("")
    add_healthy_at(tmp_path, "/opt/modules/one/venv")
    assert venvs.shape(fs, "/opt/modules") == {"pyvenv.cfg"}
    assert not venvs.is_venv(fs, "/opt/modules")
    assert not venvs.is_venv(fs, "/opt/lone-lib") and not venvs.is_venv(fs, "/opt/lone-bin")
    assert venvs.is_venv(fs, "/opt/app/venv")
    assert venvs.shape(fs, "/opt/app/venv") == {"pyvenv.cfg", "bin", "lib"}
    # discovery looks past the stray file and finds the venv inside the modules directory
    assert venvs.discover(fs, ["/opt"], depth=4) == ["/opt/app/venv", "/opt/modules/one/venv"]


def test_venv_of_a_command_is_the_directory_whose_bin_holds_the_program(tmp_path):
    fs = host_root(tmp_path, None)
    assert venvs.venv_of_command(["/opt/app/venv/bin/pip", "list"], fs) == "/opt/app/venv"
    assert venvs.venv_of_command(["/usr/bin/env", "/opt/app/venv/bin/python3", "-m", "app"], fs) == "/opt/app/venv"
    assert venvs.venv_of_command(["/usr/bin/python3", "app.py"], fs) is None
