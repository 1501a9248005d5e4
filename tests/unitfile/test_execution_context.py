"""A unit's execution context as systemd resolves it against the host (issue #14, case 6), and
host facts read only through the root-confined reader (issue #12, kinds 3 and 4).

systemd.exec(5) WorkingDirectory=: "~" is the home of User= (of the manager's user without
one); systemd 252 hard-codes /root for UID 0 and / for nobody, and a dynamic user has no home.
systemd.unit(5): %h, %u, %U are the manager's user ("not influenced by the User= setting").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revops import config as config_mod
from revops.commands import inventory
from revops.lock import sources
from revops.unitfile import RootFS, read_units
from revops.unitfile.specifiers import facts_of_root

PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
          "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
          "nohome:x:1001:1001::relative/home:/bin/sh\n")
UNITS = "etc/systemd/system"


def host(tmp_path: Path, unit: str, passwd: str | None = PASSWD) -> Path:
    root = tmp_path / "root"
    (root / UNITS).mkdir(parents=True, exist_ok=True)
    (root / "home/alice").mkdir(parents=True, exist_ok=True)
    (root / "root").mkdir(exist_ok=True)
    if passwd is not None:
        (root / "etc/passwd").write_text(passwd)
    (root / UNITS / "app.service").write_text("[Service]\nExecStart=/usr/bin/app\n" + unit)
    return root


def read(root: Path):
    fs = RootFS(root)
    (unit,) = read_units(fs, (UNITS,), "*", facts_of_root(fs, live=False))
    return unit


def problem(unit, code):
    found = [p for p in unit.problems if p.code == code]
    assert found, [(p.code, p.detail) for p in unit.problems]
    return found[0]


@pytest.mark.parametrize("setting, home", [
    ("User=alice\nWorkingDirectory=~\n", "/home/alice"),
    ("WorkingDirectory=-~\nUser=alice\n", "/home/alice"),  # the order of the settings does not matter
    ("User=1000\nWorkingDirectory=~\n", "/home/alice"),  # a numeric UID, looked up in etc/passwd
    ("WorkingDirectory=~\n", "/root"),  # no User=: the system manager's own user
    ("User=root\nWorkingDirectory=~\n", "/root"),
    ("User=nobody\nWorkingDirectory=~\n", "/"),  # hard-coded in systemd, whatever etc/passwd says
])
def test_tilde_is_the_home_of_the_user_from_the_hosts_own_passwd(tmp_path, setting, home):
    unit = read(host(tmp_path, setting))
    assert unit.config.working_directory == home
    assert not [p for p in unit.problems if p.code.startswith("working-directory")]


@pytest.mark.parametrize("setting, code, words", [
    ("User=bob\nWorkingDirectory=~\n", "working-directory-unresolved", "no such user in /etc/passwd"),
    ("User=nohome\nWorkingDirectory=~\n", "working-directory-unresolved", "not an absolute path"),
    ("DynamicUser=yes\nUser=alice\nWorkingDirectory=~\n", "working-directory-unresolved", "DynamicUser=yes"),
])
def test_a_home_systemd_could_not_find_is_a_problem_with_file_and_line(tmp_path, setting, code, words):
    unit = read(host(tmp_path, setting))
    found = problem(unit, code)
    assert words in found.detail and found.file == f"/{UNITS}/app.service"
    assert found.line == 2 + setting.splitlines().index("WorkingDirectory=~") + 1
    assert unit.config.working_directory == "~"


def test_an_unknown_user_is_a_problem_at_its_line(tmp_path):
    unit = read(host(tmp_path, "User=bob\n"))
    found = problem(unit, "unknown-user")
    assert (found.file, found.line, found.fatal) == (f"/{UNITS}/app.service", 3, False)


def test_passwd_that_is_a_fifo_or_leads_outside_the_root_is_never_read(tmp_path):
    root = host(tmp_path, "User=alice\nWorkingDirectory=~\n", passwd=None)
    os.mkfifo(root / "etc/passwd")
    found = problem(read(root), "working-directory-unresolved")
    assert "/etc/passwd could not be read: not a regular file (fifo)" in found.detail
    os.unlink(root / "etc/passwd")
    outside = tmp_path / "passwd"
    outside.write_text("alice:x:1000:1000::/home/evil:/bin/sh\n")
    os.symlink(str(outside), root / "etc/passwd")
    unit = read(root)
    assert unit.config.working_directory == "~"  # this machine's file was not read
    assert "/home/evil" not in repr(unit.problems)


def test_home_specifiers_are_the_managers_user_not_user_setting(tmp_path):
    unit = read(host(tmp_path, "User=alice\nEnvironment=H=%h U=%u I=%U\n"))
    assert unit.config.environment == {"H": "/root", "U": "root", "I": "0"}


def test_a_missing_working_directory_is_said_with_what_systemd_does(tmp_path):
    unit = read(host(tmp_path, "WorkingDirectory=-/srv/gone\n"))
    found = problem(unit, "working-directory-missing")
    assert "starts the service in / instead" in found.detail and found.line == 3
    unit = read(host(tmp_path, "WorkingDirectory=/srv/gone\n"))
    assert "fails the unit at start" in problem(unit, "working-directory-missing").detail


def test_a_relative_environment_file_is_ignored_as_systemd_ignores_it(tmp_path):
    unit = read(host(tmp_path, "EnvironmentFile=relative.env\n"))
    found = problem(unit, "ignored-setting")
    assert "relative.env" in found.detail and found.line == 3 and unit.config.environment_files == []


def test_the_user_name_rules_are_systemds(tmp_path):
    for name, refused in [("alice", False), ("1000", False), ("a b", False), ("0123", True), ("a:b", True),
                          ("a/b", True), ("..", True), ("-1", True), ("al\x01ice", True)]:
        unit = read(host(tmp_path, f"User={name}\n"))
        fatal = [p for p in unit.problems if p.fatal]
        assert bool(fatal) == refused, (name, unit.problems)
    unit = read(host(tmp_path, "User=a b\n"))
    assert problem(unit, "user-name-unsafe").line == 3


def test_inventory_and_lock_see_the_resolved_home(tmp_path):
    root = host(tmp_path, "User=alice\nWorkingDirectory=~\n")
    (root / "home/alice/requirements.txt").write_text("six==1.17.0\n")
    cfg = config_mod.Config(path=tmp_path / "revops.yaml", root=root, unit_dirs=(UNITS,))
    (unit,) = inventory.run(cfg, live=False, write=False).inventory.units
    assert unit.working_directory == "/home/alice"
    found = sources.gather(unit.name, unit.working_directory, unit.venv, root)
    assert found.source == sources.SOURCE_FILE and found.source_path == "/home/alice/requirements.txt"


# -- host facts: etc/hostname and friends (issue #12: a symlink out of the root, a FIFO) --------


@pytest.mark.parametrize("make", ["fifo", "outside", "device"])
def test_a_hostile_etc_hostname_gives_no_fact_and_the_unit_says_why(tmp_path, make):
    root = host(tmp_path, "Environment=HOST=%H\n")
    if make == "fifo":
        os.mkfifo(root / "etc/hostname")
    elif make == "outside":
        (tmp_path / "secret").write_text("this-machines-secret\n")
        os.symlink(str(tmp_path / "secret"), root / "etc/hostname")
    else:
        os.symlink("/dev/zero", root / "etc/hostname")  # /dev/zero under the root: absent here
    unit = read(root)
    assert unit.config.environment == {"HOST": "%H"}
    found = problem(unit, "unexpanded-specifier")
    assert "%H" in found.detail and "this-machines-secret" not in repr(unit)
    if make == "fifo":
        assert "/etc/hostname: not a regular file (fifo)" in found.detail


@pytest.mark.parametrize("where", ["fragment", "dropin"])
def test_a_fifo_unit_file_or_dropin_is_a_problem_not_a_hang(tmp_path, where):
    root = host(tmp_path, "")
    if where == "fragment":
        os.unlink(root / UNITS / "app.service")
        os.mkfifo(root / UNITS / "app.service")
    else:
        (root / UNITS / "app.service.d").mkdir()
        os.mkfifo(root / UNITS / "app.service.d/10-x.conf")
    unit = read(root)
    assert unit.config is None
    codes = {p.code for p in unit.problems}
    assert codes & {"not-a-regular-file", "unreadable"}, unit.problems
    assert any("fifo" in p.detail for p in unit.problems)


def test_a_fifo_pyvenv_cfg_and_a_fifo_in_record_do_not_hang_the_scan(tmp_path):
    root = host(tmp_path, "WorkingDirectory=/opt/app\n")
    (root / UNITS / "app.service").write_text("[Service]\nExecStart=/opt/app/venv/bin/python -m app\n")
    venv = root / "opt/app/venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to("/usr/bin/python3")
    site = venv / "lib/python3.11/site-packages"
    (site / "x-1.0.dist-info").mkdir(parents=True)
    (site / "x-1.0.dist-info/METADATA").write_text("Name: x\nVersion: 1.0\n")
    os.mkfifo(site / "x.py")
    (site / "x-1.0.dist-info/RECORD").write_text("x.py,sha256=AAAA,1\n../../../../../../../etc/passwd,sha256=AAAA,1\n")
    os.mkfifo(venv / "pyvenv.cfg")
    cfg = config_mod.Config(path=tmp_path / "revops.yaml", root=root, unit_dirs=(UNITS,), venv_search=("opt",))
    (found,) = inventory.run(cfg, live=False, write=False).inventory.venvs
    assert "pyvenv-cfg-missing" in found.problems
    assert any("fifo" in d for d in found.details)


@pytest.mark.parametrize("setting, code", [
    ("WorkingDirectory=/opt/my app\n", "working-directory-unsafe"),
    ("WorkingDirectory=/opt/$HOME\n", "working-directory-unsafe"),
    ('EnvironmentFile=/etc/a"b.env\n', "environment-file-unsafe"),
])
def test_a_path_systemd_takes_but_no_dockerfile_can_is_a_problem_at_its_line(tmp_path, setting, code):
    unit = read(host(tmp_path, setting))
    found = problem(unit, code)
    assert (found.file, found.line, found.fatal) == (f"/{UNITS}/app.service", 3, False)


def test_a_dynamic_user_is_named_after_the_unit_as_systemd_names_it(tmp_path):
    unit = read(host(tmp_path, "DynamicUser=yes\n"))
    assert unit.config.user == "app" and unit.config.dynamic_user
    assert not [p for p in unit.problems if p.code == "unknown-user"]  # made at start, not in etc/passwd
