"""`%` specifiers (systemd.unit(5) "SPECIFIERS"), resolved as systemd 252 resolves them.

Name specifiers (%n %N %p %P %i %I %j %J %f) come from the unit name alone. Host specifiers
come from `HostFacts`; a fact that is unknown (None) leaves the specifier unexpanded and is
reported, so nothing is made up: scanning a copied root offline cannot know its boot id or
kernel. An unknown specifier letter is an error, as in systemd ("%z" makes the setting invalid).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from revops import unitnames as names
from revops.unitfile.accounts import Accounts, read_accounts
from revops.unitfile.rootfs import RootFS, RootReadError

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class SpecifierError(ValueError):
    """An unknown specifier, or one whose value systemd cannot compute for this unit."""


@dataclass(frozen=True)
class HostFacts:
    """What host specifiers resolve to. None: unknown here, left unexpanded."""

    scope: str = "system"  # "system" or "user": which manager reads the unit
    hostname: str | None = None
    pretty_hostname: str | None = None
    machine_id: str | None = None
    boot_id: str | None = None
    kernel_release: str | None = None
    architecture: str | None = None
    os_release: dict[str, str] = field(default_factory=dict)
    user_name: str | None = "root"
    uid: str | None = "0"
    group_name: str | None = "root"
    gid: str | None = "0"
    home: str | None = "/root"
    shell: str | None = "/bin/sh"
    runtime_dir: str | None = "/run"
    config_dir: str | None = "/etc"
    state_dir: str | None = "/var/lib"
    cache_dir: str | None = "/var/cache"
    logs_dir: str | None = "/var/log"
    tmp_dir: str | None = "/tmp"
    var_tmp_dir: str | None = "/var/tmp"
    accounts: Accounts | None = None  # etc/passwd and etc/group of the root (None: unknown)
    unread: dict[str, str] = field(default_factory=dict)  # host file -> why it was not read


_ARCH = {"x86_64": "x86-64", "aarch64": "arm64", "i686": "x86", "i386": "x86", "armv7l": "arm",
         "ppc64le": "ppc64-le", "s390x": "s390x", "riscv64": "riscv64"}


def facts_of_root(root: "os.PathLike[str] | str | RootFS", *, live: bool) -> HostFacts:
    """Host facts of a system manager on `root`: files under the root (read through the
    root-confined reader: a symlink or FIFO at etc/hostname yields no fact, and says why in
    `unread`), the kernel's when live."""
    fs = root if isinstance(root, RootFS) else RootFS(os.fspath(root))
    unread: dict[str, str] = {}
    hostname = _first_line(fs, "/etc/hostname", unread)
    os_release = _os_release(fs, unread)
    machine_info = _env_file(fs, "/etc/machine-info", unread)
    boot_id = None
    if live:
        boot_id = _first_line(RootFS("/"), "/proc/sys/kernel/random/boot_id", unread)
        boot_id = boot_id.replace("-", "") if boot_id else None
    return HostFacts(
        hostname=hostname,
        pretty_hostname=machine_info.get("PRETTY_HOSTNAME") or (hostname.split(".")[0] if hostname else None),
        machine_id=_first_line(fs, "/etc/machine-id", unread),
        boot_id=boot_id,
        kernel_release=platform.release() if live else None,
        architecture=_ARCH.get(platform.machine(), platform.machine()) if live else None,
        os_release=os_release,
        accounts=read_accounts(fs),
        unread=unread,
    )


def _first_line(fs: RootFS, host_path: str, unread: dict[str, str]) -> str | None:
    try:
        return fs.first_line(host_path)
    except RootReadError as exc:
        if exc.reason != "missing":
            unread[host_path] = exc.reason
        return None


def _env_file(fs: RootFS, host_path: str, unread: dict[str, str]) -> dict[str, str]:
    try:
        text = fs.read_text(host_path, 1 << 20)
    except RootReadError as exc:
        if exc.reason != "missing":
            unread[host_path] = exc.reason
        return {}
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip("\"'")
    return values


def _os_release(fs: RootFS, unread: dict[str, str]) -> dict[str, str]:
    return _env_file(fs, "/etc/os-release", unread) or _env_file(fs, "/usr/lib/os-release", unread)


# Which host file each host specifier comes from (for saying why one is unknown).
FACT_FILES = {"H": "/etc/hostname", "l": "/etc/hostname", "q": "/etc/machine-info", "m": "/etc/machine-id",
              "o": "/etc/os-release", "w": "/etc/os-release", "W": "/etc/os-release", "A": "/etc/os-release",
              "B": "/etc/os-release", "M": "/etc/os-release"}


def why_unknown(letter: str, host: HostFacts) -> str | None:
    """Why a host specifier has no value here, when a file of the root could not be read."""
    path = FACT_FILES.get(letter.lstrip("%"))
    if path and path in host.unread:
        return f"{path}: {host.unread[path]}"
    return None


@dataclass(frozen=True)
class UnitContext:
    """What the specifiers of one unit resolve against."""

    name: str  # "foo@bar.service"
    fragment: str | None  # the fragment path as the host sees it (for %y %Y)
    host: HostFacts

    def lookup(self, letter: str) -> str | None:
        """The value of %letter; None when the host fact is unknown. SpecifierError if invalid."""
        if letter in _INSTANCE_SPECIFIERS and names.is_template(self.name):
            return "%" + letter  # a template has no instance yet: written as is
        if letter in _NAME_SPECIFIERS:
            return _NAME_SPECIFIERS[letter](self.name)
        if letter in _HOST_SPECIFIERS:
            return _HOST_SPECIFIERS[letter](self)
        raise SpecifierError(f"unknown specifier %{letter}")


def _last_component(name: str) -> str:
    stem = names.prefix(name)
    dash = stem.rfind("-")
    return stem[dash + 1:] if dash >= 0 else stem


def _checked(fn):
    def wrapper(name: str) -> str:
        try:
            return fn(name)
        except names.BadName as exc:
            raise SpecifierError(str(exc)) from None
    return wrapper


_INSTANCE_SPECIFIERS = {"i", "I", "f"}
_NAME_SPECIFIERS = {
    "n": lambda n: n,
    "N": lambda n: names.split_suffix(n)[0],
    "p": names.prefix,
    "P": _checked(lambda n: names.unescape(names.prefix(n))),
    "i": lambda n: names.instance(n) or "",
    "I": _checked(lambda n: names.unescape(names.instance(n) or "")),
    "j": _last_component,
    "J": _checked(lambda n: names.unescape(_last_component(n))),
    "f": _checked(lambda n: names.path_unescape(names.instance(n)) if names.instance(n) is not None
                  else names.path_unescape(names.prefix(n))),
}


def _credentials(ctx: UnitContext) -> str | None:
    return None if ctx.host.runtime_dir is None else f"{ctx.host.runtime_dir}/credentials/{ctx.name}"


def _fragment(ctx: UnitContext) -> str:
    if ctx.fragment is None:
        raise SpecifierError("%y/%Y need a fragment file")
    return ctx.fragment


def _short(hostname: str | None) -> str | None:
    return hostname.split(".")[0] if hostname else None


_HOST_SPECIFIERS = {
    "a": lambda c: c.host.architecture,
    "A": lambda c: c.host.os_release.get("IMAGE_VERSION", ""),
    "b": lambda c: c.host.boot_id,
    "B": lambda c: c.host.os_release.get("BUILD_ID", ""),
    "C": lambda c: c.host.cache_dir,
    "d": _credentials,
    "E": lambda c: c.host.config_dir,
    "g": lambda c: c.host.group_name,
    "G": lambda c: c.host.gid,
    "h": lambda c: c.host.home,
    "H": lambda c: c.host.hostname,
    "l": lambda c: _short(c.host.hostname),
    "L": lambda c: c.host.logs_dir,
    "m": lambda c: c.host.machine_id,
    "M": lambda c: c.host.os_release.get("IMAGE_ID", ""),
    "o": lambda c: c.host.os_release.get("ID", ""),
    "q": lambda c: c.host.pretty_hostname,
    "s": lambda c: c.host.shell,
    "S": lambda c: c.host.state_dir,
    "t": lambda c: c.host.runtime_dir,
    "T": lambda c: c.host.tmp_dir,
    "u": lambda c: c.host.user_name,
    "U": lambda c: c.host.uid,
    "v": lambda c: c.host.kernel_release,
    "V": lambda c: c.host.var_tmp_dir,
    "w": lambda c: c.host.os_release.get("VERSION_ID", ""),
    "W": lambda c: c.host.os_release.get("VARIANT_ID", ""),
    "y": _fragment,
    "Y": lambda c: str(PurePosixPath(_fragment(c)).parent),
}


@dataclass
class Expanded:
    text: str
    unknown: list[str] = field(default_factory=list)  # specifiers left as they were ("%b")


def expand(text: str, ctx: UnitContext) -> Expanded:
    """Resolve every specifier of `text`. Raises SpecifierError where systemd would fail."""
    if "%" not in text:
        return Expanded(text)
    out: list[str] = []
    unknown: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:  # a stray % at the end stays
            out.append("%")
            break
        letter = text[i + 1]
        i += 2
        if letter == "%":
            out.append("%")
        elif letter not in _ALNUM:
            out.append("%" + letter)
        else:
            value = ctx.lookup(letter)
            if value is None:
                out.append("%" + letter)
                unknown.append("%" + letter)
            else:
                out.append(value)
    return Expanded("".join(out), unknown)
