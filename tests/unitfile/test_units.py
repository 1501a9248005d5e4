"""Reading whole units from a root: syntax, ExecStart, settings, systemd's own refusals.

The tricky cases are the ones the oracle test also loads into systemd; the expectations
below are what systemd 252 reported for them over D-Bus.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tricky_cases import CASES  # noqa: E402

from revops.unitfile import RootFS, read_source, read_units  # noqa: E402
from revops.unitfile.loader import Loader  # noqa: E402
from revops.unitfile.specifiers import HostFacts  # noqa: E402

UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "usr/local/lib/systemd/system",
             "lib/systemd/system", "usr/lib/systemd/system")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    etc = tmp_path / "etc/systemd/system"
    for name, data in CASES.items():
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_bytes(data)
    return tmp_path


def read(root: Path, name: str):
    fs = RootFS(root)
    return read_source(fs, Loader(fs, UNIT_DIRS).source(name), HostFacts())


def argvs(unit) -> list[tuple[str, list[str], str]]:
    return [(c.path, c.argv, c.prefixes) for c in unit.config.exec_start]


def codes(unit) -> set[str]:
    return {p.code for p in unit.problems}


def test_prefixes_combined_and_at_moves_argv0(root):
    unit = read(root, "prefixes.service")
    assert argvs(unit) == [("/bin/sleep", ["mysleep", "5"], "-@+"), ("/bin/true", ["/bin/true"], "!!"),
                           ("/bin/true", ["/bin/true", "x"], "-:"), ("/bin/false", ["/bin/false"], "-!")]
    assert unit.config.exec_start[0].contract == ["/bin/sleep", "5"]


def test_semicolons_split_commands_and_escaped_or_quoted_ones_are_arguments(root):
    assert [c.argv for c in read(root, "semicolons.service").config.exec_start] == [
        ["/bin/echo", "one"], ["/bin/echo", "two", ";", ";", ";", "three;"]]


def test_empty_execstart_resets_and_later_lines_append(root):
    assert [c.argv for c in read(root, "reset.service").config.exec_start] == [
        ["/bin/echo", "second"], ["/bin/echo", "third"]]


def test_continuation_skips_comment_lines(root):
    unit = read(root, "contin.service")
    assert unit.config.exec_start[0].argv == ["/bin/echo", "one", "two", "three"]
    assert unit.config.environment == {"A": "1", "B": "2"}


def test_environment_files_reset_simplify_and_ignore_bad_paths(root):
    unit = read(root, "envfiles.service")
    assert unit.config.environment_files == [("/etc/last.env", False)]
    assert sum(p.code == "ignored-setting" for p in unit.problems) == 2


def test_dropins_apply_sorted_skip_empty_and_non_conf(root):
    unit = read(root, "dropped.service")
    assert [os.path.basename(p) for p in unit.source.dropins] == ["10-exec.conf", "20-env.conf", "30-user.conf"]
    assert unit.config.exec_start[0].argv == ["/bin/echo", "from-dropin", "dropped.service"]
    assert unit.config.environment_files == [("/etc/base.env", False), ("/etc/extra.env", True)]
    assert unit.config.user == "daemon"


def test_template_instance_gets_template_and_instance_dropins(root):
    unit = read(root, "tpl@special.service")
    assert unit.source.fragment.endswith("/tpl@.service")
    assert unit.config.exec_start[0].argv[1:4] == ["inst=special", "unesc=special", "file=/special"]
    assert unit.config.environment_files == [("/etc/tpl/special.env", True), ("/etc/tpl-common.env", False)]
    assert unit.config.user == "daemon"


def test_more_specific_dash_prefix_dropin_wins(root):
    assert read(root, "dash-name-x.service").config.environment_files == [
        ("/etc/prefix-more-specific.env", False)]


@pytest.mark.parametrize("name,code", [
    ("noexec.service", "no-exec-start"), ("noexec-oneshot.service", "no-exec-start"),
    ("twoexec.service", "multiple-exec-start"), ("badspec.service", "bad-setting"),
    ("unbalanced.service", "bad-setting"), ("atonly.service", "bad-setting"),
    ("dirpath.service", "bad-setting"), ("oneshot-restart.service", "bad-setting"),
    ("badutf8.service", "invalid-utf8"), ("badheader.service", "bad-section-header"),
    ("lowercase.service", "no-exec-start"),
])
def test_units_systemd_refuses_are_listed_with_a_fatal_problem(root, name, code):
    unit = read(root, name)
    assert code in codes(unit)
    assert any(p.fatal for p in unit.problems)
    assert all(p.file for p in unit.problems)


def test_invalid_utf8_is_located_at_its_line(root):
    problem = next(p for p in read(root, "badutf8.service").problems if p.code == "invalid-utf8")
    assert problem.line == 6 and problem.file.endswith("badutf8.service")


def test_garbage_lines_and_unknown_sections_are_noted_and_skipped(root):
    unit = read(root, "garbage.service")
    assert argvs(unit) == [("/bin/true", ["/bin/true"], "")]
    lines = {(p.code, p.line) for p in unit.problems}
    assert lines >= {("assignment-outside-section", 1), ("garbage-line", 3), ("garbage-line", 4),
                     ("unknown-section", 7)}
    assert not any(p.fatal for p in unit.problems)


def test_ignored_bad_command_with_dash_keeps_the_unit(root):
    unit = read(root, "badspec-ignored.service")
    assert argvs(unit) == [("/bin/true", ["/bin/true"], "")]
    assert "exec-ignored" in codes(unit) and not any(p.fatal for p in unit.problems)


def test_bom_spaces_relative_program_and_slashes(root):
    assert argvs(read(root, "bom.service")) == [("/bin/true", ["/bin/true"], "")]
    assert argvs(read(root, "spaces.service")) == [("/bin/echo", ["/bin/echo", "spaced"], "")]
    assert argvs(read(root, "relative.service")) == [("sleep", ["sleep", "5"], "")]
    assert argvs(read(root, "slashes.service")) == [("/bin/echo", ["//bin///echo", "./x"], "")]


def test_empty_file_is_masked(root):
    unit = read(root, "empty.service")
    assert unit.source.masked and unit.config is None


# -- directories, precedence, links ---------------------------------------------------------


def write(root: Path, rel: str, text: str = "[Service]\nExecStart=/bin/true\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def link(root: Path, rel: str, target: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def by_name(root: Path) -> dict:
    return {u.name: u for u in read_units(RootFS(root), UNIT_DIRS, "*", HostFacts())}


def test_etc_overrides_lib_and_merged_usr_is_read_once(tmp_path):
    write(tmp_path, "usr/lib/systemd/system/a.service", "[Service]\nExecStart=/bin/vendor\n")
    write(tmp_path, "etc/systemd/system/a.service", "[Service]\nExecStart=/bin/admin\n")
    write(tmp_path, "usr/lib/systemd/system/a.service.d/x.conf", "[Service]\nUser=vendor\n")
    write(tmp_path, "etc/systemd/system/a.service.d/x.conf", "[Service]\nUser=admin\n")
    link(tmp_path, "lib", "usr/lib")
    units = by_name(tmp_path)
    assert list(units) == ["a.service"]
    assert units["a.service"].config.exec_start[0].path == "/bin/admin"
    assert units["a.service"].config.user == "admin"
    assert units["a.service"].source.dropins == ["/etc/systemd/system/a.service.d/x.conf"]


def test_masks_aliases_instances_loops_and_dangling_links(tmp_path):
    write(tmp_path, "lib/systemd/system/masked.service")
    link(tmp_path, "etc/systemd/system/masked.service", "/dev/null")
    write(tmp_path, "lib/systemd/system/real.service")
    link(tmp_path, "etc/systemd/system/other-name.service", "/lib/systemd/system/real.service")
    write(tmp_path, "lib/systemd/system/w@.service", "[Service]\nExecStart=/bin/echo %i\n")
    link(tmp_path, "etc/systemd/system/multi-user.target.wants/w@3.service", "/lib/systemd/system/w@.service")
    write(tmp_path, "lib/systemd/system/lonely@.service", "[Service]\nExecStart=/bin/echo %i\n")
    link(tmp_path, "etc/systemd/system/loop.service", "loop2.service")
    link(tmp_path, "etc/systemd/system/loop2.service", "loop.service")
    link(tmp_path, "etc/systemd/system/gone.service", "/opt/nowhere/gone.service")
    units = by_name(tmp_path)
    assert set(units) == {"masked.service", "real.service", "w@3.service", "lonely@.service",
                          "loop.service", "loop2.service", "gone.service"}
    assert units["masked.service"].source.masked
    assert units["real.service"].source.aliases == ["other-name.service"]
    assert units["w@3.service"].config.exec_start[0].argv == ["/bin/echo", "3"]
    assert units["lonely@.service"].source.template
    assert units["lonely@.service"].config.exec_start[0].argv == ["/bin/echo", "%i"]
    assert "symlink-loop" in codes(units["loop.service"])
    assert "dangling-symlink" in codes(units["gone.service"])


def test_absolute_links_resolve_inside_the_root(tmp_path):
    write(tmp_path, "opt/app/app.service", "[Service]\nExecStart=/opt/app/run\n")
    link(tmp_path, "etc/systemd/system/app.service", "/opt/app/app.service")
    unit = by_name(tmp_path)["app.service"]
    assert unit.source.fragment == "/opt/app/app.service" and unit.config.exec_start[0].path == "/opt/app/run"


def test_unreadable_fragment_is_a_problem_not_a_crash(tmp_path):
    (tmp_path / "opt/dir.service").mkdir(parents=True)
    link(tmp_path, "etc/systemd/system/dir.service", "/opt/dir.service")
    unit = by_name(tmp_path)["dir.service"]
    assert "unreadable" in codes(unit) and unit.config is None
