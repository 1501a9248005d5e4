"""The host's own accounts (etc/passwd, etc/group under the root) and systemd's user name rules.

systemd resolves `User=` names, `WorkingDirectory=~` and dynamic users against the accounts of
the host it runs on; offline, revops reads the same from the copied root's files, through the
root-confined reader (a symlinked etc/passwd cannot make revops read this machine's).

User name rules: systemd's `valid_user_group_name()` (src/basic/user-util.c, and the
"User/Group Name Syntax" document, systemd.io/USER_NAMES). `User=` accepts the relaxed form
(anything but the worst: no control characters, ':' or '/', not all digits, no padding, not
'.' or '..') or a numeric UID; systemd only *synthesizes* users with strict names
(`^[A-Za-z_][A-Za-z0-9_-]*$`, at most 31 characters). revops creates a user in every image it
generates, so it accepts a name for an image only when it is strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from revops.unitfile.rootfs import RootFS, RootReadError
from revops.values import is_strict_name, parse_uid

PASSWD = "/etc/passwd"
GROUP = "/etc/group"
ACCOUNTS_LIMIT = 16 << 20  # a passwd of 100,000 accounts is ~8 MiB
NOBODY_UID = 65534
_DIGITS = re.compile(r"^[0-9]+$")


def user_name_validity(name: str) -> str | None:
    """"uid" (a numeric UID), "strict", "relaxed" (systemd accepts it with a notice) or None
    (systemd refuses the unit)."""
    if not name:
        return None
    if parse_uid(name) is not None:
        return "uid"
    if name.startswith(" ") or name.endswith(" ") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    if ":" in name or "/" in name or _DIGITS.fullmatch(name) or name in (".", ".."):
        return None
    if name[0] == "-" and (len(name) == 1 or _DIGITS.fullmatch(name[1:])):
        return None
    return "strict" if is_strict_name(name) else "relaxed"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass
class Accounts:
    """etc/passwd and etc/group of one host root; `unread` says why either could not be read."""

    users: dict[str, Account] = field(default_factory=dict)
    by_uid: dict[int, Account] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    unread: dict[str, str] = field(default_factory=dict)  # host path -> reason

    def user(self, name_or_uid: str) -> Account | None:
        uid = parse_uid(name_or_uid)
        if uid is not None:
            return self.by_uid.get(uid)
        return self.users.get(name_or_uid)

    def why_unknown(self) -> str:
        if PASSWD in self.unread:
            return f"{PASSWD} could not be read: {self.unread[PASSWD]}"
        return f"no such user in {PASSWD}"


def read_accounts(fs: RootFS) -> Accounts:
    """The accounts of the host under `fs`. Malformed lines are skipped, as getpwent() does."""
    accounts = Accounts()
    for line in _lines(fs, PASSWD, accounts.unread):
        fields = line.split(":")
        if len(fields) != 7 or not fields[0] or fields[0].startswith(("+", "-", "#")):
            continue
        uid, gid = parse_uid(fields[2]), parse_uid(fields[3])
        if uid is None or gid is None:
            continue
        account = Account(fields[0], uid, gid, fields[5], fields[6])
        accounts.users.setdefault(account.name, account)
        accounts.by_uid.setdefault(uid, account)
    for line in _lines(fs, GROUP, accounts.unread):
        fields = line.split(":")
        if len(fields) == 4 and fields[0] and parse_uid(fields[2]) is not None:
            accounts.groups.setdefault(fields[0], int(fields[2]))
    return accounts


def _lines(fs: RootFS, host_path: str, unread: dict[str, str]) -> list[str]:
    try:
        return fs.read_text(host_path, ACCOUNTS_LIMIT).splitlines()
    except RootReadError as exc:
        unread[host_path] = exc.reason
        return []


@dataclass(frozen=True)
class Home:
    path: str | None  # the directory systemd changes into, None when it cannot
    reason: str | None = None  # why not (the unit fails to start then)


def home_of(user: str | None, manager_user: str | None, manager_home: str | None,
            accounts: Accounts | None, dynamic: bool) -> Home:
    """Where `WorkingDirectory=~` takes a unit, as systemd 252's exec_child() decides.

    `user` is User= (None: the manager's own user). UID 0 is /root and nobody is / (both
    hard-coded in systemd); a dynamic user has no home, so the unit fails to start; otherwise
    the account's home from etc/passwd, which must be an absolute path."""
    if dynamic:
        return Home(None, "DynamicUser=yes has no home directory: systemd fails the unit at start (exit CHDIR)")
    if user is None:  # the manager's own user: root's /root for the system manager
        return Home(manager_home or "/root")
    if user in ("root", "0"):
        return Home("/root")
    if user in ("nobody", str(NOBODY_UID)):
        return Home("/")
    account = accounts.user(user) if accounts is not None else None
    if account is None:
        why = accounts.why_unknown() if accounts is not None else "the host's accounts are unknown"
        return Home(None, f"user {user!r}: {why}; systemd fails the unit at start (exit USER)")
    home = account.home
    if not home.startswith("/") or any(p in ("..",) for p in home.split("/")) or any(ord(c) < 32 for c in home):
        return Home(None, f"user {user!r} has home {home!r} in {PASSWD}, not an absolute path; "
                          "systemd fails the unit at start (exit CHDIR)")
    return Home("/" + "/".join(p for p in home.split("/") if p not in ("", ".")))
