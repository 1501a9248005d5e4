"""Comparing revops' reading of unit files with systemd's own, over D-Bus (the oracle).

Unit files are copied under unique names into the test bed's user manager, which parses them
as it parses any unit file and reports ExecStart, EnvironmentFiles, User and LoadState.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from revops.adapters import systemd
from revops.unitfile import RootFS, read_source
from revops.unitfile.loader import Loader
from revops.unitfile.specifiers import HostFacts, facts_of_root


def facts_of_user_manager(env: "dict[str, str] | os._Environ[str]") -> HostFacts:
    """Host facts as the systemd user manager of the current user sees them: the oracle's
    reading of a unit file must expand specifiers as the manager it is compared with does."""
    entry = pwd.getpwuid(os.getuid())
    home = entry.pw_dir
    config = env.get("XDG_CONFIG_HOME") or f"{home}/.config"
    state = config  # systemd 252: %S and %L of a user manager live under $XDG_CONFIG_HOME
    live = facts_of_root("/", live=True)
    return HostFacts(
        scope="user",
        hostname=os.uname().nodename, pretty_hostname=live.pretty_hostname, machine_id=live.machine_id,
        boot_id=live.boot_id, kernel_release=live.kernel_release, architecture=live.architecture,
        os_release=live.os_release,
        user_name=entry.pw_name, uid=str(entry.pw_uid), group_name=grp.getgrgid(os.getgid()).gr_name,
        gid=str(os.getgid()), home=home, shell=entry.pw_shell or "/bin/sh",
        runtime_dir=env.get("XDG_RUNTIME_DIR"), config_dir=config, state_dir=state,
        cache_dir=env.get("XDG_CACHE_HOME") or f"{home}/.cache", logs_dir=f"{state}/log",
        tmp_dir="/tmp", var_tmp_dir="/var/tmp", accounts=live.accounts, unread=live.unread,
    )


PREFIX = "rvoinv-"
REFUSED_STATES = {"bad-setting", "error", "not-found"}


@dataclass
class Verdict:
    name: str
    systemd: dict
    revops: dict
    agree: bool


@dataclass
class OracleRun:
    directory: Path
    written: list[Path] = field(default_factory=list)

    def write(self, name: str, data: bytes) -> str:
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.written.append(path)
        return name

    def cleanup(self) -> None:
        for path in sorted(self.written, key=lambda p: len(p.parts), reverse=True):
            path.unlink(missing_ok=True)
            parent = path.parent
            if parent != self.directory and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()


def user_unit_dir() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user"


def systemd_reading(manager: systemd.Manager, name: str) -> dict:
    props = manager.properties(name)
    state = props.get("LoadState")
    if state in REFUSED_STATES or state == "masked":
        return {"load_state": state}
    return {
        "load_state": state,
        "exec_start": [(c.path, c.argv, c.ignore_failure) for c in systemd.decode_exec(props.get("ExecStart", []))],
        "environment_files": [(path, bool(optional)) for path, optional in props.get("EnvironmentFiles", [])],
        "user": props.get("User") or None,
        "working_directory": props.get("WorkingDirectory") or "",
        "dynamic_user": bool(props.get("DynamicUser")),
    }


def revops_reading(directory: Path, name: str) -> dict:
    fs = RootFS(Path("/"))
    loader = Loader(fs, (str(directory),))
    read = read_source(fs, loader.source(name), facts_of_user_manager(os.environ))
    if read.source.masked:
        return {"load_state": "masked"}
    if read.config is None or any(p.fatal for p in read.problems):
        return {"load_state": "refused", "problems": [(p.code, p.detail) for p in read.problems if p.fatal]}
    c = read.config
    return {
        "load_state": "loaded",
        "exec_start": [(cmd.path, cmd.argv, cmd.ignore_failure) for cmd in c.exec_start],
        "environment_files": list(c.environment_files),
        "user": c.user,
        "working_directory": working_directory_property(c),
        "dynamic_user": c.dynamic_user,
    }


def working_directory_property(c) -> str:
    """WorkingDirectory= as systemd's D-Bus property shows it: "~" for the home, "!" before a
    path allowed to be missing, "" when unset (revops resolves "~" afterwards, at start)."""
    if c.working_directory is None:
        return ""
    path = "~" if c.working_directory_home else c.working_directory
    return ("!" if c.working_directory_optional else "") + path


def agree(theirs: dict, ours: dict) -> bool:
    if theirs["load_state"] in REFUSED_STATES:
        return ours["load_state"] == "refused"
    if theirs["load_state"] != ours["load_state"]:
        return False
    if theirs["load_state"] == "masked":
        return True
    return all(theirs[k] == ours[k] for k in ("exec_start", "environment_files", "user", "working_directory",
                                              "dynamic_user"))


def compare(manager: systemd.Manager, directory: Path, names: list[str]) -> list[Verdict]:
    verdicts = []
    for name in names:
        theirs, ours = systemd_reading(manager, name), revops_reading(directory, name)
        verdicts.append(Verdict(name, theirs, ours, agree(theirs, ours)))
    return verdicts
