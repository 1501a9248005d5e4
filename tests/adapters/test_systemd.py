"""The systemd adapter: pure helpers, then the real user manager of the test bed over D-Bus.

The real tests check every figure against what `systemctl --user` prints for the same unit.
The user manager is shared with other tests: units get unique names and are removed after.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from revops.adapters import proc
from revops.adapters import systemd
from revops.errors import AdapterUnavailable, CheckFailed

# ---------------------------------------------------------------------------------------
# Pure helpers


@pytest.mark.parametrize("name, path", [
    ("revpublish.service", "/org/freedesktop/systemd1/unit/revpublish_2eservice"),
    ("revflow-worker@3.service",
     "/org/freedesktop/systemd1/unit/revflow_2dworker_403_2eservice"),
    ("2fa.service", "/org/freedesktop/systemd1/unit/_32fa_2eservice"),
    ("a_b.timer", "/org/freedesktop/systemd1/unit/a_5fb_2etimer"),
])
def test_unit_object_path_escapes_as_sd_bus(name, path):
    assert systemd.unit_object_path(name) == path


def test_decode_exec_reads_the_dbus_struct():
    raw = [("/usr/bin/env", ["env", "A=1", "/bin/true"], True, 0, 0, 0, 0, 4242, 1, 0),
           ("/bin/echo", ["/bin/echo", "two words"], False, 1, 2, 3, 4, 0, 0, 0)]
    first, second = systemd.decode_exec(raw)
    assert (first.path, first.argv, first.ignore_failure, first.pid, first.code) == (
        "/usr/bin/env", ["env", "A=1", "/bin/true"], True, 4242, 1)
    assert (second.argv, second.ignore_failure) == (["/bin/echo", "two words"], False)


def test_unit_state_marks_missing_properties_as_none():
    state = systemd.unit_state_from("x.timer", {"LoadState": "loaded", "ActiveState": "active",
                                                "SubState": "waiting", "Result": "success",
                                                "UnitFileState": "enabled"})
    assert (state.load_state, state.active_state, state.sub_state) == (
        "loaded", "active", "waiting")
    assert state.n_restarts is None and state.main_pid is None


def test_literal_pattern_escapes_what_fnmatch_would_glob():
    assert systemd.literal_pattern("revflow-worker@3.service") == "revflow-worker@3.service"
    assert systemd.literal_pattern(r"dev-disk-by\x2duuid.swap") == r"dev-disk-by\\x2duuid.swap"
    assert systemd.literal_pattern("a*b?[c].service") == r"a\*b\?\[c\].service"


def test_errors_carry_the_managers_message_and_name():
    class FakeGLibError(Exception):  # the shape of a GLib.Error: only .message is read
        message = ("GDBus.Error:org.freedesktop.systemd1.NoSuchUnit: "
                   "Unit nope.service not loaded.")

    err = systemd.translate_error(FakeGLibError(), "nope.service")
    assert isinstance(err, CheckFailed) and not isinstance(err, AdapterUnavailable)
    assert err.message == ("nope.service: Unit nope.service not loaded. "
                           "(org.freedesktop.systemd1.NoSuchUnit)")

    FakeGLibError.message = ("GDBus.Error:org.freedesktop.DBus.Error.AccessDenied: "
                             "Permission denied")
    denied = systemd.translate_error(FakeGLibError(), "stop revpublish.service")
    assert isinstance(denied, AdapterUnavailable)
    assert "stop revpublish.service: Permission denied" in denied.message

    FakeGLibError.message = "Could not connect: No such file or directory"
    assert isinstance(systemd.translate_error(FakeGLibError(), "bus"), AdapterUnavailable)


def test_missing_pydbus_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydbus", None)  # makes `import pydbus` fail
    with pytest.raises(AdapterUnavailable) as caught:
        systemd.connect("user")
    assert "pydbus is not installed" in caught.value.message
    assert "pip install 'revops[systemd]'" in caught.value.hint


def test_bus_must_be_system_or_user():
    with pytest.raises(AdapterUnavailable, match="'system' or 'user'"):
        systemd.connect("session")


def test_a_bus_that_is_not_there_is_adapter_unavailable(tmp_path):
    # In a fresh process: Gio keeps one session connection per process, so a test that
    # connected earlier in this one would hide the missing bus.
    script = ("from revops.adapters import systemd\n"
              "from revops.errors import AdapterUnavailable\n"
              "try:\n    systemd.connect('user')\n"
              "except AdapterUnavailable as exc:\n    print('UNAVAILABLE', exc.message)\n")
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = proc.run([sys.executable, "-c", script], env=env, timeout=60)
    assert done.stdout.startswith("UNAVAILABLE systemd user manager (session bus): ")
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------
# The real user manager


def systemctl(*args: str, check: bool = True) -> str:
    return proc.run(["systemctl", "--user", *args], check=check, timeout=30).stdout.strip()


def show(name: str, prop: str) -> str:
    return systemctl("show", "-p", prop, "--value", name)


class UserUnits:
    """Writes uniquely named units for one test and removes every trace afterwards."""

    def __init__(self, testbed) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.files: list[Path] = []
        self.names: list[str] = []
        self.dirs = {"config": testbed.user_unit_dir,
                     "runtime": testbed.xdg_runtime_dir / "systemd" / "user"}

    def write(self, stem: str, text: str, where: str = "config") -> str:
        name = f"revops-test-{stem}-{self.tag}.service"
        directory = self.dirs[where]
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text(text)
        self.files.append(path)
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.names:
            systemctl("stop", name, check=False)
            systemctl("unmask", name, check=False)
            systemctl("disable", name, check=False)
            systemctl("reset-failed", name, check=False)
        for path in self.files:
            path.unlink(missing_ok=True)
        systemctl("daemon-reload", check=False)


@pytest.fixture
def manager(testbed) -> systemd.Manager:
    return systemd.connect("user")


@pytest.fixture
def units(testbed) -> Iterator[UserUnits]:
    made = UserUnits(testbed)
    yield made
    made.cleanup()


CRASH_LOOP = """\
[Unit]
Description=revops test: exits 1 forever
StartLimitIntervalSec=0

[Service]
ExecStart=/bin/sh -c 'exit 1'
Restart=always
RestartSec=200ms
"""

LONG_RUNNING = """\
[Unit]
Description=revops test: sleeps

[Service]
ExecStart=/bin/sleep 600

[Install]
WantedBy=default.target
"""


@pytest.mark.realstack
def test_crash_loop_restarts_are_read_over_dbus(manager, units):
    name = units.write("crashloop", CRASH_LOOP)
    manager.reload()
    manager.start(name, timeout=10)
    restarts = 0
    for _ in range(100):  # NRestarts grows every 200 ms; wait for a few, at most ~20 s
        restarts = manager.states([name])[name].n_restarts or 0
        if restarts >= 2:
            break
        time.sleep(0.2)
    assert restarts >= 2
    # The figures move every 200 ms: compare one systemctl reading with D-Bus readings taken
    # just before and after it, and insist on equality once both D-Bus readings agree.
    def figures(state: systemd.UnitState) -> dict[str, str]:
        return {"NRestarts": str(state.n_restarts), "Result": str(state.result),
                "ExecMainStatus": str(state.exec_main_status)}

    for _ in range(20):
        before = manager.states([name])[name]
        lines = systemctl("show", "-p", "NRestarts", "-p", "Result", "-p", "ExecMainStatus",
                          name).splitlines()
        after = manager.states([name])[name]
        if figures(before) == figures(after):
            assert dict(line.split("=", 1) for line in lines) == figures(before)
            break
    else:
        pytest.fail("NRestarts never held still across one systemctl call")
    assert before.n_restarts >= 2 and before.load_state == "loaded"
    # A stop is a manual intervention: systemd then zeroes the counter; D-Bus sees it too.
    assert manager.stop(name) in ("inactive", "failed")
    assert manager.states([name])[name].n_restarts == int(show(name, "NRestarts"))


@pytest.mark.realstack
def test_states_of_units_that_are_not_loaded_say_not_found(manager):
    name = f"revops-test-absent-{uuid.uuid4().hex[:8]}.service"
    state = manager.states([name])[name]
    assert (state.load_state, state.active_state) == ("not-found", "inactive")
    assert show(name, "LoadState") == "not-found"


@pytest.mark.realstack
def test_list_units_is_one_call_with_patterns(manager, units):
    name = units.write("listed", LONG_RUNNING)
    manager.reload()
    manager.start(name)
    (row,) = manager.list_units([f"revops-test-listed-{units.tag}*"])
    assert (row.name, row.load_state, row.active_state, row.sub_state) == (
        name, "loaded", "active", "running")
    assert row.object_path == systemd.unit_object_path(name)
    everything = {u.name for u in manager.list_units()}
    assert name in everything and "default.target" in everything


@pytest.mark.realstack
def test_start_stop_enable_disable_mask_unmask(manager, units):
    # The file lives in the runtime unit directory so that enable and mask can write their
    # symlinks into $XDG_CONFIG_HOME/systemd/user without a file already being there.
    name = units.write("lifecycle", LONG_RUNNING, where="runtime")
    manager.reload()

    assert manager.start(name) == "active"
    assert systemctl("is-active", name) == "active"
    state = manager.states([name])[name]
    assert state.main_pid == int(show(name, "MainPID")) > 0
    assert manager.restart(name) == "active"
    assert manager.states([name])[name].main_pid != state.main_pid

    assert manager.stop(name) == "inactive"
    assert systemctl("is-active", name, check=False) == "inactive"

    manager.enable([name])
    assert systemctl("is-enabled", name) == "enabled"
    assert manager.states([name])[name].unit_file_state == "enabled"
    manager.disable([name])
    assert systemctl("is-enabled", name, check=False) == "disabled"

    manager.mask([name])
    assert systemctl("is-enabled", name, check=False) == "masked"
    with pytest.raises(CheckFailed, match=name):
        manager.start(name)
    manager.unmask([name])
    assert systemctl("is-enabled", name, check=False) == "disabled"
    assert manager.start(name) == "active"


@pytest.mark.realstack
def test_masks_from_many_threads_are_each_read_by_a_shared_reload(manager, units):
    """Waves mask units from several threads at once; their reloads share runs
    (revops.coalesce), and the manager still reads every mask."""
    names = [units.write(f"many{i}", LONG_RUNNING, where="runtime") for i in range(6)]
    manager.reload()
    before = manager._reload.runs
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda name: manager.mask([name]), names))
    assert {name: show(name, "LoadState") for name in names} == dict.fromkeys(names, "masked")
    assert 1 <= manager._reload.runs - before <= len(names)


@pytest.mark.realstack
def test_link_makes_an_outside_unit_file_known(manager, units, tmp_path):
    name = f"revops-test-linked-{units.tag}.service"
    outside = tmp_path / name
    outside.write_text(LONG_RUNNING)
    units.names.append(name)
    units.files.append(units.dirs["config"] / name)  # where link puts its symlink
    manager.link([str(outside)])
    assert manager.start(name) == "active"
    fragment = manager.properties(name)["FragmentPath"]
    assert fragment == show(name, "FragmentPath")
    assert Path(fragment).parent == units.dirs["config"]  # the symlink link() made ...
    assert Path(fragment).resolve() == outside.resolve()  # ... to the file outside


@pytest.mark.realstack
def test_wait_for_names_unit_wanted_and_last_state(manager, units):
    name = units.write("waiter", LONG_RUNNING)
    manager.reload()
    with pytest.raises(CheckFailed) as caught:
        manager.wait_for(name, {"active"}, timeout=0.3)
    assert caught.value.message == f"{name}: not active after 0.3s (last ActiveState inactive)"
    manager.start(name)
    assert manager.wait_for(name, {"active"}, timeout=5) == "active"


@pytest.mark.realstack
def test_properties_match_systemctl_show(manager, units, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    name = units.write("props", f"""\
[Unit]
Description=revops test: two ExecStart lines

[Service]
Type=oneshot
WorkingDirectory={workdir}
EnvironmentFile=-{tmp_path}/missing.env
Environment=GREETING=hello
ExecStart=/bin/echo first-line
ExecStart=-/bin/sh -c 'exit 0'
""")
    props = manager.properties(name)  # not loaded yet: properties() loads it
    commands = systemd.decode_exec(props["ExecStart"])
    assert [(c.path, c.argv, c.ignore_failure) for c in commands] == [
        ("/bin/echo", ["/bin/echo", "first-line"], False),
        ("/bin/sh", ["/bin/sh", "-c", "exit 0"], True),
    ]
    shown = show(name, "ExecStart")
    assert shown.count("path=") == 2
    assert "argv[]=/bin/echo first-line ; ignore_errors=no" in shown
    assert "ignore_errors=yes" in shown
    assert props["EnvironmentFiles"] == [(f"{tmp_path}/missing.env", True)]
    assert show(name, "EnvironmentFiles") == f"{tmp_path}/missing.env (ignore_errors=yes)"
    for key in ("FragmentPath", "WorkingDirectory", "User", "Type", "LoadState"):
        assert str(props[key]) == show(name, key), key
    assert props["Environment"] == ["GREETING=hello"]
    assert props["DropInPaths"] == []


@pytest.mark.realstack
def test_starting_an_unknown_unit_is_check_failed_naming_it(manager):
    name = f"revops-test-nothing-{uuid.uuid4().hex[:8]}.service"
    with pytest.raises(CheckFailed, match=rf"{name}: Unit {name} not found"):
        manager.start(name)


FAILS_ONCE = """\
[Unit]
Description=revops test: exits 3, no restart

[Service]
ExecStart=/bin/sh -c 'exit 3'
"""

SHOWN = ("LoadState", "ActiveState", "SubState", "Result", "NRestarts", "MainPID", "UnitFileState")


def shown(name: str) -> dict[str, str]:
    lines = systemctl("show", *(f"-p{p}" for p in SHOWN), name).splitlines()
    return dict(line.split("=", 1) for line in lines)


def as_shown(state: systemd.UnitState) -> dict[str, str]:
    """A UnitState as `systemctl show` prints it ("" for what the unit type lacks)."""
    values = (state.load_state, state.active_state, state.sub_state, state.result,
              state.n_restarts, state.main_pid, state.unit_file_state)
    return {p: "" if v is None else str(v) for p, v in zip(SHOWN, values)
            if v is not None or p in ("UnitFileState",)}


@pytest.mark.realstack
def test_listed_states_match_states_and_systemctl_show(manager, units):
    running = units.write("listed-running", LONG_RUNNING, where="runtime")
    failed = units.write("listed-failed", FAILS_ONCE)
    idle = units.write("listed-idle", LONG_RUNNING, where="runtime")
    absent = f"revops-test-absent-{units.tag}.service"
    manager.reload()
    manager.start(running)
    manager.enable([running])
    manager.start(failed)
    assert manager.wait_for(failed, {"failed"}, timeout=10) == "failed"
    names = [running, failed, idle, absent, "default.target", "dbus.socket"]
    # Both paths: units the listing has, and units only a Get loads (idle, absent).
    assert {u.name for u in manager.list_units(names)} >= {running, failed, "default.target"}
    assert not manager.list_units([idle, absent])

    listed = manager.listed_states(names)
    full = manager.states(names)

    for name in names:
        assert listed[name] == dataclasses.replace(full[name], exec_main_status=None), name
        seen = shown(name)
        assert {p: seen[p] for p in as_shown(listed[name])} == as_shown(listed[name]), name
    assert (listed[running].active_state, listed[running].unit_file_state) == ("active", "enabled")
    assert listed[running].main_pid > 0
    assert (listed[failed].active_state, listed[failed].result) == ("failed", "exit-code")
    assert listed[absent].load_state == "not-found"
    assert listed["default.target"].result is None  # a target has no Result property
    assert manager.listed_states([]) == {}


