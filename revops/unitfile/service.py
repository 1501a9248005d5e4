"""The [Unit] and [Service] settings revops needs, applied in order as systemd applies them.

Each setting follows its systemd 252 parser: an empty value resets lists, later values
override or append, and an invalid value is either ignored with a warning or makes the unit
refuse to load ("bad-setting", `fatal`), exactly where systemd does one or the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from revops import unitnames as names
from revops import values
from revops.model import Problem
from revops.unitfile import execline, specifiers
from revops.unitfile.accounts import PASSWD, home_of, user_name_validity
from revops.unitfile.rootfs import RootFS
from revops.unitfile.syntax import Assignment
from revops.unitfile.words import WordError, extract_word, split_words

SERVICE_TYPES = {"simple", "exec", "forking", "oneshot", "dbus", "notify", "idle"}
RESTART_VALUES = {"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = ("1", "yes", "y", "true", "t", "on")
_FALSE = ("0", "no", "n", "false", "f", "off")


@dataclass
class ServiceConfig:
    exec_start: list[execline.ExecCommand] = field(default_factory=list)
    has_exec_stop: bool = False
    user: str | None = None
    user_at: tuple[str | None, int | None] = (None, None)  # file, line of the User= in force
    dynamic_user: bool = False
    working_directory: str | None = None  # as resolved by resolve_context(): "~" only when it could not be
    working_directory_optional: bool = False
    working_directory_home: bool = False  # written as "~" (systemd's D-Bus property reads "~")
    working_directory_at: tuple[str | None, int | None] = (None, None)  # file, line of the setting
    environment_files: list[tuple[str, bool]] = field(default_factory=list)  # (path, optional)
    environment_files_at: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    restart: str | None = None
    type: str | None = None
    remain_after_exit: bool = False
    bus_name: str | None = None
    success_action: bool = False
    after: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    wants: list[str] = field(default_factory=list)
    memory_max: str | None = None
    cpu_quota: str | None = None
    problems: list[Problem] = field(default_factory=list)
    unexpanded: list[str] = field(default_factory=list)


class _Apply:
    def __init__(self, config: ServiceConfig, ctx: specifiers.UnitContext) -> None:
        self.c = config
        self.ctx = ctx

    def problem(self, a: Assignment, code: str, detail: str, fatal: bool = False) -> None:
        self.c.problems.append(Problem(code, f"{a.key}=: {detail}", a.file, a.line, fatal))

    def expand(self, a: Assignment, text: str) -> str | None:
        try:
            result = specifiers.expand(text, self.ctx)
        except specifiers.SpecifierError as exc:
            self.problem(a, "bad-specifier", str(exc))
            return None
        self.c.unexpanded += result.unknown
        return result.text

    # -- [Service] ------------------------------------------------------------------

    def ExecStart(self, a: Assignment) -> None:
        if not a.value:
            self.c.exec_start = []
            return
        parsed = execline.parse_exec(a.value, self.ctx)
        self.c.exec_start += parsed.commands
        for command in parsed.commands:
            self.c.unexpanded += command.unexpanded
        for warning in parsed.warnings:
            self.problem(a, "exec-warning", warning)
        if parsed.error is not None:
            if parsed.error.ignored:
                self.problem(a, "exec-ignored", f"{parsed.error} (ignored: the command has a '-' prefix)")
            else:
                self.problem(a, "bad-setting", f"{parsed.error}; systemd refuses the unit", fatal=True)

    def ExecStop(self, a: Assignment) -> None:
        self.c.has_exec_stop = bool(a.value)

    def Type(self, a: Assignment) -> None:
        if not a.value:
            self.c.type = None
        elif a.value in SERVICE_TYPES:
            self.c.type = a.value
        else:
            self.problem(a, "ignored-setting", f"unknown service type {a.value!r}")

    def Restart(self, a: Assignment) -> None:
        if not a.value:
            self.c.restart = None
        elif a.value in RESTART_VALUES:
            self.c.restart = a.value
        else:
            self.problem(a, "ignored-setting", f"unknown restart policy {a.value!r}")

    def BusName(self, a: Assignment) -> None:
        self.c.bus_name = a.value or None

    def RemainAfterExit(self, a: Assignment) -> None:
        self.c.remain_after_exit = a.value.lower() in ("1", "yes", "true", "on")

    def User(self, a: Assignment) -> None:
        if not a.value:
            self.c.user = None
            return
        try:
            user = specifiers.expand(a.value, self.ctx).text
        except specifiers.SpecifierError as exc:
            self.problem(a, "bad-setting", f"{exc}; systemd refuses the unit", fatal=True)
            return
        validity = user_name_validity(user)
        if validity is None:
            self.problem(a, "bad-setting", f"invalid user name {user!r}; systemd refuses the unit", fatal=True)
            return
        if validity == "relaxed":
            self.problem(a, "user-name-unsafe", f"{user!r} is not a strict user name ([A-Za-z_][A-Za-z0-9_-], "
                         "at most 31 characters): systemd accepts it with a notice, revops writes it into no image")
        self.c.user, self.c.user_at = user, (a.file, a.line)

    def DynamicUser(self, a: Assignment) -> None:
        value = a.value.strip().lower()
        if not value:
            self.c.dynamic_user = False
        elif value in _TRUE or value in _FALSE:
            self.c.dynamic_user = value in _TRUE
        else:
            self.problem(a, "ignored-setting", f"not a boolean: {a.value!r}")

    def WorkingDirectory(self, a: Assignment) -> None:
        value = a.value
        if not value:
            self.c.working_directory, self.c.working_directory_optional = None, False
            self.c.working_directory_home = False
            return
        optional = value.startswith("-")
        value = value[1:] if optional else value
        if value != "~":
            expanded = self.expand(a, value)
            if expanded is None or not expanded.startswith("/") or ".." in expanded.split("/"):
                if expanded is not None:
                    self.problem(a, "bad-setting" if not optional else "ignored-setting",
                                 f"{expanded!r} is not an absolute normalized path", fatal=not optional)
                elif not optional:
                    self.c.problems[-1].fatal = True
                return
            value = _simplify(expanded)
        self.c.working_directory, self.c.working_directory_optional = value, optional
        self.c.working_directory_home = value == "~"
        self.c.working_directory_at = (a.file, a.line)

    def EnvironmentFile(self, a: Assignment) -> None:
        if not a.value:
            self.c.environment_files = []
            return
        expanded = self.expand(a, a.value)
        if expanded is None:
            return
        optional = expanded.startswith("-")
        path = expanded[1:] if optional else expanded
        if not path.startswith("/") or ".." in path.split("/"):
            self.problem(a, "ignored-setting", f"{path!r} is not an absolute normalized path")
            return
        self.c.environment_files.append((_simplify(path), optional))
        self.c.environment_files_at[_simplify(path)] = (a.file, a.line)

    def Environment(self, a: Assignment) -> None:
        if not a.value:
            self.c.environment = {}
            return
        pos = 0
        while True:
            try:
                word, pos = extract_word(a.value, pos, strict=True)
            except WordError as exc:
                self.problem(a, "ignored-setting", f"invalid syntax, rest ignored: {exc}")
                return
            if word is None:
                return
            text = self.expand(a, word.text)
            if text is None:
                continue
            name, sep, val = text.partition("=")
            if not sep or not _ENV_NAME.match(name):
                self.problem(a, "ignored-setting", f"invalid environment assignment {text!r}")
                continue
            self.c.environment.pop(name, None)
            self.c.environment[name] = val

    def MemoryMax(self, a: Assignment) -> None:
        self.c.memory_max = a.value or None

    def CPUQuota(self, a: Assignment) -> None:
        self.c.cpu_quota = a.value or None

    # -- [Unit] ---------------------------------------------------------------------

    def _deps(self, a: Assignment, into: list[str]) -> None:
        try:
            words, _ = split_words(a.value)
        except WordError as exc:
            self.problem(a, "ignored-setting", str(exc))
            return
        for word in words:
            name = self.expand(a, word)
            if name and name not in into:
                into.append(name)

    def After(self, a: Assignment) -> None:
        self._deps(a, self.c.after)

    def Requires(self, a: Assignment) -> None:
        self._deps(a, self.c.requires)

    def Wants(self, a: Assignment) -> None:
        self._deps(a, self.c.wants)


_UNIT_KEYS = {"After", "Requires", "Wants"}
_SERVICE_KEYS = {"ExecStart", "ExecStop", "Type", "BusName", "Restart", "RemainAfterExit", "User", "DynamicUser",
                 "WorkingDirectory", "EnvironmentFile", "Environment", "MemoryMax", "CPUQuota"}


def build(assignments: list[Assignment], ctx: specifiers.UnitContext) -> ServiceConfig:
    """Apply the fragment's and then the drop-ins' assignments; check as systemd's verify does."""
    config = ServiceConfig()
    apply = _Apply(config, ctx)
    for a in assignments:
        if (a.section == "Unit" and a.key in _UNIT_KEYS) or (a.section == "Service" and a.key in _SERVICE_KEYS):
            getattr(apply, a.key)(a)
        elif a.section == "Unit" and a.key == "SuccessAction":
            config.success_action = a.value not in ("", "none")
    _dynamic_user_name(config, ctx)
    _verify(config, ctx.fragment)
    return config


def _dynamic_user_name(c: ServiceConfig, ctx: specifiers.UnitContext) -> None:
    """DynamicUser=yes with no User=: systemd names the user after the unit's prefix when that
    is a strict user name (unit_patch_contexts(), user_from_unit_name()); otherwise it uses a
    hash of the unit name that revops does not reproduce, and says so."""
    if not c.dynamic_user or c.user is not None:
        return
    prefix = names.prefix(ctx.name)
    if values.is_strict_name(prefix):
        c.user = prefix
    else:
        c.problems.append(Problem("dynamic-user-name", f"DynamicUser=yes: the unit prefix {prefix!r} is no strict "
                                  "user name, so systemd names the user by a hash of the unit name", ctx.fragment))


def resolve_context(c: ServiceConfig, host: specifiers.HostFacts, fs: RootFS | None) -> None:
    """Resolve what systemd resolves against the host when it starts the unit (systemd.exec(5)):
    `WorkingDirectory=~` to the home of User= (or of the manager's user) from the root's
    etc/passwd, and check that the working directory and User= exist on the host. What cannot
    be resolved stays as written, with a problem naming the file and line of the setting."""
    file, line = c.working_directory_at
    if host.scope == "user" and host.home and (c.working_directory is None or c.working_directory_home):
        # a user manager starts units in its user's home unless told otherwise, missing or not
        # (systemd 252 unit_patch_contexts(); its D-Bus property then reads "!<home>", or "!~")
        c.working_directory = c.working_directory or host.home
        c.working_directory_optional = True
    if c.working_directory_home:
        home = home_of(c.user, host.user_name, host.home, host.accounts, c.dynamic_user)
        if home.path is None:
            c.problems.append(Problem("working-directory-unresolved", f"WorkingDirectory=~: {home.reason}", file, line))
        else:
            c.working_directory = home.path
    _check_user(c, host)
    _check_plain(c)
    wd = c.working_directory
    if fs is not None and wd and wd.startswith("/") and not fs.is_dir(wd):
        resolved = fs.resolve(wd)
        what = "does not exist" if not resolved.ok else "is not a directory"
        then = ("systemd starts the service in / instead" if c.working_directory_optional
                else "systemd fails the unit at start (exit CHDIR)")
        c.problems.append(Problem("working-directory-missing", f"WorkingDirectory={wd} {what} on the host: {then}",
                                  file, line))


def _check_plain(c: ServiceConfig) -> None:
    """Paths systemd accepts but revops cannot write into a Dockerfile as they are (whitespace,
    quotes, `$`...): a problem here, and generate skips the unit (revops.values)."""
    wd = c.working_directory
    if wd and wd != "~":
        why = values.abs_path(wd)
        if why:
            c.problems.append(Problem("working-directory-unsafe", f"WorkingDirectory={wd!r}: {why}; revops writes "
                                      "it into no Dockerfile", *c.working_directory_at))
    for path, _optional in c.environment_files:
        why = values.abs_path(path)
        if why:
            c.problems.append(Problem("environment-file-unsafe", f"EnvironmentFile={path!r}: {why}; revops writes "
                                      "it into no compose file", *c.environment_files_at.get(path, (None, None))))


def _check_user(c: ServiceConfig, host: specifiers.HostFacts) -> None:
    accounts = host.accounts
    if c.user is None or c.dynamic_user or accounts is None or accounts.unread.get(PASSWD) == "missing":
        return  # a dynamic user is made at start; with no etc/passwd at all the root is a partial copy
    if c.user in ("root", "0") or accounts.user(c.user) is not None:
        return
    c.problems.append(Problem("unknown-user", f"User={c.user}: {accounts.why_unknown()}; "
                              "systemd fails the unit at start (exit USER)", *c.user_at))


def _verify(c: ServiceConfig, file: str | None) -> None:
    if c.type is None:  # systemd infers the type when Type= is not set
        c.type = "dbus" if c.bus_name else "simple" if c.exec_start else "oneshot"
    oneshot = c.type == "oneshot"
    if not c.exec_start and not c.has_exec_stop and not c.success_action:
        c.problems.append(Problem("no-exec-start", "no ExecStart=, ExecStop= or SuccessAction=; "
                                  "systemd refuses the unit", file, None, True))
    elif not c.exec_start and not oneshot:
        c.problems.append(Problem("no-exec-start", "no ExecStart=, which only Type=oneshot allows; "
                                  "systemd refuses the unit", file, None, True))
    elif not c.exec_start and not c.remain_after_exit and not c.success_action:
        c.problems.append(Problem("no-exec-start", "no ExecStart=, which needs RemainAfterExit=yes or "
                                  "SuccessAction=; systemd refuses the unit", file, None, True))
    if len(c.exec_start) > 1 and not oneshot:
        c.problems.append(Problem("multiple-exec-start", f"{len(c.exec_start)} ExecStart= commands, which "
                                  "only Type=oneshot allows; systemd refuses the unit", file, None, True))
    if oneshot and c.restart in ("always", "on-success"):
        c.problems.append(Problem("bad-setting", f"Restart={c.restart} is not allowed with Type=oneshot; "
                                  "systemd refuses the unit", file, None, True))


def _simplify(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)
