"""systemd over D-Bus (pydbus): the one place revops talks to a service manager.

pydbus (and PyGObject under it) is imported lazily in `connect()`, so commands that only read
files work without it. Manager calls go through a pydbus proxy of the manager object; per-unit
properties are read with raw `GetAll` calls on the unit's object path, because a pydbus proxy
per unit would cost an extra Introspect round trip for every unit.

Every D-Bus failure leaves this module as a CheckFailed (the manager answered "no") or an
AdapterUnavailable (no bus, no manager, not allowed), naming the unit and carrying the
manager's own message.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from revops.backoff import backoff_delays
from revops.coalesce import Coalesced
from revops.errors import AdapterUnavailable, CheckFailed, RevopsError

BUS_NAME = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"

INSTALL_HINT = (
    "apt-get install libgirepository1.0-dev libcairo2-dev pkg-config && "
    "pip install 'revops[systemd]'"
)

# D-Bus error names that mean "you cannot use this manager", not "this request failed".
_UNAVAILABLE_ERRORS = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NoReply",
    "org.freedesktop.DBus.Error.NoServer",
    "org.freedesktop.DBus.Error.Disconnected",
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.freedesktop.DBus.Error.AuthFailed",
    "org.freedesktop.DBus.Error.Timeout",
    "org.freedesktop.DBus.Error.TimedOut",
    "org.freedesktop.DBus.Error.FileNotFound",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
}

# The fields of UnitState: LoadState .. UnitFileState on the Unit interface, the rest on
# the type's own interface (Service has them all; Socket, Timer, ... have Result).
_STATE_PROPERTIES = (
    "ActiveState", "SubState", "Result", "NRestarts", "MainPID", "LoadState",
    "UnitFileState", "ExecMainStatus",
)

# What listed_states() still asks per unit once ListUnitsByPatterns gave the load, active and
# sub states of the loaded ones: each by name, since a GetAll makes the manager serialize
# every one of a Service's ~250 properties (about 5x slower for 150 units).
SERVICE_IFACE = "org.freedesktop.systemd1.Service"
_LISTED_UNIT_PROPERTIES = ("UnitFileState",)
_UNLISTED_UNIT_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState")
_SERVICE_STATE_PROPERTIES = ("Result", "NRestarts", "MainPID")
_OTHER_TYPE_STATE_PROPERTIES = ("Result",)
_TIMER_PROPERTIES = ("ActiveState", "Unit", "LastTriggerUSec", "NextElapseUSecRealtime", "Result")  # Socket, Timer, Mount, ... have no NRestarts/MainPID

# Unit types whose own interface carries some of _STATE_PROPERTIES or properties() fields.
_TYPE_INTERFACES = {
    suffix: f"org.freedesktop.systemd1.{suffix[1:].capitalize()}"
    for suffix in (".service", ".socket", ".timer", ".mount", ".swap", ".path",
                   ".automount", ".scope")
}


@dataclass(frozen=True)
class UnitStatus:
    """One row of ListUnitsByPatterns."""

    name: str
    description: str
    load_state: str
    active_state: str
    sub_state: str
    followed: str
    object_path: str
    job_id: int


@dataclass(frozen=True)
class UnitState:
    """What status needs of one unit; None where the unit type has no such property."""

    name: str
    load_state: str
    active_state: str
    sub_state: str
    result: str | None
    n_restarts: int | None
    main_pid: int | None
    unit_file_state: str | None
    exec_main_status: int | None


@dataclass(frozen=True)
class TimerState:
    """A timer's schedule as the manager holds it now (org.freedesktop.systemd1.Timer,
    org.freedesktop.systemd1(5)): times in microseconds since the epoch, None when never or
    not scheduled (systemd gives 0 then); `result` is the timer's own Result ("success")."""

    name: str
    unit: str  # the unit it fires (Unit property)
    last_trigger_usec: int | None  # LastTriggerUSec: when it last fired
    next_elapse_usec: int | None  # NextElapseUSecRealtime: its next calendar trigger
    result: str | None
    active_state: str


def timer_state_from(name: str, props: dict[str, Any]) -> TimerState:
    def usec(key: str) -> int | None:
        value = int(props.get(key) or 0)
        return value if value > 0 and value != (1 << 64) - 1 else None  # 0 and UINT64_MAX: none

    return TimerState(name=name, unit=props.get("Unit", ""), last_trigger_usec=usec("LastTriggerUSec"),
                      next_elapse_usec=usec("NextElapseUSecRealtime"), result=props.get("Result"),
                      active_state=props.get("ActiveState", "inactive"))


@dataclass(frozen=True)
class ExecCommand:
    """One ExecStart= line as the manager read it (D-Bus type (sasbttttuii))."""

    path: str
    argv: list[str]
    ignore_failure: bool
    pid: int
    code: int
    status: int


# ---------------------------------------------------------------------------------------
# Pure helpers (tested without a bus)


def unit_object_path(name: str) -> str:
    """The object path systemd serves a unit at, escaped as sd-bus escapes path labels.

    Asking for this path makes the manager load the unit if needed, so an unknown unit reads
    as LoadState "not-found" instead of an error.
    """
    label = []
    for index, char in enumerate(name):
        plain = char.isascii() and (char.isalpha() or (char.isdigit() and index > 0))
        if plain:
            label.append(char)
        else:
            label.extend(f"_{byte:02x}" for byte in char.encode())
    return f"{MANAGER_PATH}/unit/{''.join(label) or '_'}"


def decode_exec(entries: Iterable[tuple]) -> list[ExecCommand]:
    """ExecStart's a(sasbttttuii): path, argv, ignore, 4 timestamps, pid, code, status."""
    return [
        ExecCommand(path=e[0], argv=list(e[1]), ignore_failure=bool(e[2]),
                    pid=int(e[7]), code=int(e[8]), status=int(e[9]))
        for e in entries
    ]


def type_interface(name: str) -> str | None:
    """The type-specific interface of a unit ("x.service" -> ...systemd1.Service), if any."""
    dot = name.rfind(".")
    return _TYPE_INTERFACES.get(name[dot:]) if dot >= 0 else None


def unit_state_from(name: str, props: dict[str, Any]) -> UnitState:
    def optional_int(key: str) -> int | None:
        return int(props[key]) if key in props else None

    return UnitState(
        name=name,
        load_state=props.get("LoadState", "not-found"),
        active_state=props.get("ActiveState", "inactive"),
        sub_state=props.get("SubState", "dead"),
        result=props.get("Result"),
        n_restarts=optional_int("NRestarts"),
        main_pid=optional_int("MainPID"),
        unit_file_state=props.get("UnitFileState") or None,
        exec_main_status=optional_int("ExecMainStatus"),
    )


def unit_status_from(row: tuple) -> UnitStatus:
    """A ListUnits row (ssssssouso) as a dataclass."""
    return UnitStatus(name=row[0], description=row[1], load_state=row[2], active_state=row[3],
                      sub_state=row[4], followed=row[5], object_path=row[6], job_id=int(row[7]))


def dbus_error_name(message: str) -> str | None:
    """'GDBus.Error:org.x.Y: text' -> 'org.x.Y' (None when the error is not remote)."""
    prefix = "GDBus.Error:"
    if not message.startswith(prefix):
        return None
    return message[len(prefix):].split(":", 1)[0].strip()


def dbus_error_text(message: str) -> str:
    """The manager's own words, without the GDBus prefix and error name."""
    if dbus_error_name(message) is None:
        return message.strip()
    return message.split(":", 2)[-1].strip()


def translate_error(err: Exception, what: str) -> RevopsError:
    """A GLib.Error from a D-Bus call as the revops error to raise; `what` names the target."""
    message = getattr(err, "message", None) or str(err)
    name = dbus_error_name(message)
    text = f"{what}: {dbus_error_text(message)}"
    if name in _UNAVAILABLE_ERRORS or name is None:
        return AdapterUnavailable(text + (f" ({name})" if name else ""))
    return CheckFailed(text + f" ({name})")


def literal_pattern(name: str) -> str:
    """A unit name as an fnmatch pattern matching only itself (ListUnitsByPatterns globs)."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in name)


def _pick(props: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The wanted entries of an a{sv} GVariant, without converting the other hundreds."""
    picked = {}
    for key in keys:
        value = props.lookup_value(key, None)
        if value is not None:
            picked[key] = value.unpack()
    return picked


# ---------------------------------------------------------------------------------------
# The bus


def _import_bus() -> tuple[Any, Any, Any]:
    try:
        import pydbus
        from gi.repository import GLib
    except ImportError as exc:
        raise AdapterUnavailable(
            f"pydbus is not installed ({exc.name or exc})", hint=INSTALL_HINT
        ) from None
    return pydbus, GLib, GLib.Error


def connect(bus: str = "system") -> "Manager":
    """The systemd manager on the system bus, or the user manager (as `systemctl --user`)."""
    if bus not in ("system", "user"):
        raise AdapterUnavailable(f"systemd bus must be 'system' or 'user', not {bus!r}")
    pydbus, glib, glib_error = _import_bus()
    where = "systemd user manager (session bus)" if bus == "user" else "systemd (system bus)"
    try:
        connection = pydbus.SessionBus() if bus == "user" else pydbus.SystemBus()
        proxy = connection.get(BUS_NAME, MANAGER_PATH)
    except glib_error as err:
        error = translate_error(err, where)
        error.hint = _CONNECT_HINTS[bus]
        raise error from None
    return Manager(bus, connection, proxy, glib)


_CONNECT_HINTS = {
    "user": "DBUS_SESSION_BUS_ADDRESS must name the user manager's bus "
            "(for the test bed: source /var/lib/revops-testbed/env)",
    "system": "this needs a host whose PID 1 is systemd; for a user manager set "
              "systemd: {bus: user} in revops.yaml",
}


class Manager:
    """One systemd manager. Methods raise CheckFailed/AdapterUnavailable, never GLib errors."""

    def __init__(self, bus: str, connection: Any, proxy: Any, glib: Any) -> None:
        self.bus = bus
        self._connection = connection
        self._proxy = proxy
        self._glib = glib
        self._reload = Coalesced(lambda: self._manager_call("daemon-reload", "Reload"))

    # -- low level ------------------------------------------------------------------

    def _manager_call(self, what: str, method: str, *args: Any) -> Any:
        try:
            return getattr(self._proxy, method)(*args)
        except self._glib.Error as err:
            raise translate_error(err, what) from None

    def _raw_call(self, what: str, path: str, iface: str, method: str,
                  signature: str, args: tuple, reply: str) -> Any:
        glib = self._glib
        try:
            result = self._connection.con.call_sync(
                BUS_NAME, path, iface, method, glib.Variant(signature, args),
                glib.VariantType.new(reply), 0, -1, None)
        except glib.Error as err:
            raise translate_error(err, what) from None
        return result.unpack()

    def _get_all(self, name: str, iface: str = "") -> dict[str, Any]:
        """Every property of one unit; iface "" means every interface it implements."""
        (props,) = self._raw_call(name, unit_object_path(name), PROPERTIES_IFACE, "GetAll",
                                  "(s)", (iface,), "(a{sv})")
        return props

    def _get(self, name: str, iface: str, prop: str) -> Any:
        (value,) = self._raw_call(name, unit_object_path(name), PROPERTIES_IFACE, "Get",
                                  "(ss)", (iface, prop), "(v)")
        return value

    # -- reading --------------------------------------------------------------------

    def reload(self) -> None:
        """The manager's Reload, shared by the threads that ask at once (revops.coalesce): each
        returns after a Reload that began after it asked, so its unit-file change is read."""
        self._reload()

    def list_units(self, patterns: list[str] | None = None) -> list[UnitStatus]:
        """Every loaded unit matching the fnmatch patterns (all when None), any state."""
        rows = self._manager_call("list units", "ListUnitsByPatterns", [], list(patterns or []))
        return [unit_status_from(row) for row in rows]

    def states(self, names: list[str]) -> dict[str, UnitState]:
        """ActiveState, SubState, restarts, ... of each unit.

        One GetAll on the Unit interface and one on the type's interface per unit, all sent
        at once and answered in any order (about twice as fast as one after another), and
        only the eight wanted properties are converted from GVariant.
        """
        requests = [(name, UNIT_IFACE) for name in names]
        requests += [(name, iface) for name in names if (iface := type_interface(name))]
        found = self._get_all_many(requests, _STATE_PROPERTIES)
        return {name: unit_state_from(name, found.get(name, {})) for name in names}

    def _get_all_many(self, requests: list[tuple[str, str]],
                      keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        glib = self._glib
        found: dict[str, dict[str, Any]] = {}

        def take(reply: Any, name: str) -> None:
            found.setdefault(name, {}).update(_pick(reply.get_child_value(0), keys))

        calls = [((unit_object_path(name), PROPERTIES_IFACE, "GetAll", glib.Variant("(s)", (iface,))),
                  name, name) for name, iface in requests]
        self._call_many(calls, take)
        return found

    def listed_states(self, names: list[str]) -> dict[str, UnitState]:
        """The UnitStates of states() but exec_main_status (None here), read the cheap way.

        One ListUnitsByPatterns gives load, active and sub state of every loaded unit; then
        only the properties the listing lacks are read, one pipelined Get each: UnitFileState,
        and Result, NRestarts, MainPID of services (Result of other types). A unit the listing
        lacks (not loaded, or asked by an alias) has its states read by Get as well, which
        loads it as states() does, so an unknown unit still reads as "not-found".
        """
        if not names:
            return {}
        listed = {u.name: u for u in self.list_units([literal_pattern(n) for n in names])}
        requests: list[tuple[str, str, str]] = []
        for name in names:
            unit_props = _LISTED_UNIT_PROPERTIES if name in listed else _UNLISTED_UNIT_PROPERTIES
            requests += [(name, UNIT_IFACE, prop) for prop in unit_props]
            iface = type_interface(name)
            if iface is not None:
                type_props = (_SERVICE_STATE_PROPERTIES if iface == SERVICE_IFACE
                              else _OTHER_TYPE_STATE_PROPERTIES)
                requests += [(name, iface, prop) for prop in type_props]
        found = self._get_many(requests)
        states = {}
        for name in names:
            props = found.get(name, {})
            row = listed.get(name)
            if row is not None:
                props.update(LoadState=row.load_state, ActiveState=row.active_state,
                             SubState=row.sub_state)
            states[name] = unit_state_from(name, props)
        return states

    def _get_many(self, requests: list[tuple[str, str, str]]) -> dict[str, dict[str, Any]]:
        """(unit, interface, property) triples read with Get, all sent before any answer is
        awaited; unit -> {property: value}. The first error is raised once all answered."""
        glib = self._glib
        found: dict[str, dict[str, Any]] = {}
        paths = {name: unit_object_path(name) for name, _iface, _prop in requests}

        def call(name: str, iface: str, prop: str) -> tuple:
            # new_tuple/new_string: the generic GLib.Variant(format, value) parses its format
            # in Python, a third of the client's time over a thousand calls.
            args = glib.Variant.new_tuple(glib.Variant.new_string(iface),
                                          glib.Variant.new_string(prop))
            return (paths[name], PROPERTIES_IFACE, "Get", args)

        def take(reply: Any, request: tuple[str, str, str]) -> None:
            name, _iface, prop = request
            found.setdefault(name, {})[prop] = reply.get_child_value(0).get_variant().unpack()

        self._call_many([(call(*r), r[0], r) for r in requests], take)
        return found

    def _call_many(self, calls: list[tuple[tuple, str, Any]],
                   take: Callable[[Any, Any], None]) -> None:
        """Send every ((path, iface, method, args), unit, tag) call at once, then run
        take(reply, tag) for each answer as it comes, in any order. An error names the unit;
        the first one is raised once every call was answered."""
        glib = self._glib
        con = self._connection.con
        errors: list[Exception] = []
        pending = len(calls)

        def answered(connection: Any, result: Any, user: tuple[str, Any]) -> None:
            nonlocal pending
            pending -= 1
            name, tag = user
            try:
                reply = connection.call_finish(result)
            except glib.Error as err:
                errors.append(translate_error(err, name))
                return
            take(reply, tag)

        # A private main context: the answers are dispatched here, on this thread, and
        # nothing else running a GLib loop in the process sees them.
        context = glib.MainContext.new()
        context.push_thread_default()
        try:
            for (path, iface, method, args), name, tag in calls:
                con.call(BUS_NAME, path, iface, method, args, None, 0, -1, None,
                         answered, (name, tag))
            while pending:
                context.iteration(True)
        finally:
            context.pop_thread_default()
        if errors:
            raise errors[0]

    def properties(self, name: str) -> dict[str, Any]:
        """All Unit and Service (or other type) properties of one unit, loading it if needed.

        ExecStart* stay the raw structs D-Bus gives; use decode_exec() to read them.
        """
        self._manager_call(name, "LoadUnit", name)
        props = dict(self._get_all(name, UNIT_IFACE))
        iface = type_interface(name)
        if iface:
            props.update(self._get_all(name, iface))
        return props

    def active_state(self, name: str) -> str:
        return self._get(name, UNIT_IFACE, "ActiveState")

    def timer_states(self, names: list[str]) -> dict[str, TimerState]:
        """Each .timer's last and next trigger and its result, LIVE (GetAll on the Unit and
        Timer interfaces, pipelined as states() does)."""
        timer_iface = _TYPE_INTERFACES[".timer"]
        requests = [(n, UNIT_IFACE) for n in names] + [(n, timer_iface) for n in names]
        found = self._get_all_many(requests, _TIMER_PROPERTIES)
        return {n: timer_state_from(n, found.get(n, {})) for n in names}

    def exec_start(self, name: str) -> list[ExecCommand]:
        """ExecStart= as the manager reads the unit now, its drop-ins applied (after a reload)."""
        iface = type_interface(name)
        if iface != SERVICE_IFACE:
            raise CheckFailed(f"{name}: not a service, it has no ExecStart=")
        return decode_exec(self._get(name, iface, "ExecStart"))

    def dropin_paths(self, name: str) -> list[str]:
        """The drop-in files the manager applied to the unit (DropInPaths)."""
        return list(self._get(name, UNIT_IFACE, "DropInPaths"))

    # -- jobs -----------------------------------------------------------------------

    # Job modes as `systemctl --job-mode`: "replace" (systemctl's default) also stops the
    # units that Require= this one and starts what it requires; "ignore-requirements" acts
    # on this unit alone (what a cutover needs), ordering still honoured.
    def start(self, name: str, timeout: float = 30.0, mode: str = "replace") -> str:
        return self._run_job("StartUnit", name, timeout, mode)

    def stop(self, name: str, timeout: float = 30.0, mode: str = "replace") -> str:
        return self._run_job("StopUnit", name, timeout, mode)

    def restart(self, name: str, timeout: float = 30.0, mode: str = "replace") -> str:
        return self._run_job("RestartUnit", name, timeout, mode)

    def _run_job(self, method: str, name: str, timeout: float, mode: str) -> str:
        """Queue the job in `mode`, wait until it is gone, return the unit's ActiveState."""
        self._manager_call(name, method, name, mode)
        self._wait_no_job(name, timeout, method)
        return self.active_state(name)

    def _wait_no_job(self, name: str, timeout: float, method: str) -> None:
        # The unit's Job property is (0, "/") once no job is queued or running for it.
        deadline = time.monotonic() + timeout
        for delay in backoff_delays():
            job_id, _path = self._get(name, UNIT_IFACE, "Job")
            if job_id == 0:
                return
            if time.monotonic() + delay > deadline:
                raise CheckFailed(
                    f"{name}: {method} job {job_id} still running after {timeout:g}s "
                    f"(state {self.active_state(name)})")
            time.sleep(delay)

    def wait_for(self, name: str, states: set[str], timeout: float) -> str:
        """Poll ActiveState until it is one of `states`; CheckFailed naming all on timeout."""
        deadline = time.monotonic() + timeout
        state = self.active_state(name)
        for delay in backoff_delays():
            if state in states:
                return state
            if time.monotonic() + delay > deadline:
                wanted = "/".join(sorted(states))
                raise CheckFailed(
                    f"{name}: not {wanted} after {timeout:g}s (last ActiveState {state})")
            time.sleep(delay)
            state = self.active_state(name)
        raise AssertionError("unreachable")  # backoff_delays() never ends

    # -- unit files -----------------------------------------------------------------

    def enable(self, names: list[str]) -> None:
        self._unit_files("enable", "EnableUnitFiles", names, with_force=True)

    def disable(self, names: list[str]) -> None:
        self._unit_files("disable", "DisableUnitFiles", names, with_force=False)

    def mask(self, names: list[str]) -> None:
        self._unit_files("mask", "MaskUnitFiles", names, with_force=True)

    def unmask(self, names: list[str]) -> None:
        self._unit_files("unmask", "UnmaskUnitFiles", names, with_force=False)

    def link(self, paths: list[str]) -> None:
        """Make unit files outside the search path known to the manager (systemctl link)."""
        self._unit_files("link", "LinkUnitFiles", paths, with_force=True)

    def _unit_files(self, verb: str, method: str, names: list[str], *, with_force: bool) -> None:
        names = list(names)
        if not names:
            return
        what = f"{verb} {', '.join(names)}"
        # runtime=False (persistent, as systemctl without --runtime); the calls that take a
        # force flag get False, so a foreign symlink in the way is reported, not replaced.
        args: tuple = (names, False, False) if with_force else (names, False)
        self._manager_call(what, method, *args)
        self.reload()

    def reset_failed(self, name: str) -> None:
        self._manager_call(name, "ResetFailedUnit", name)



# ---------------------------------------------------------------------------------------
# Drop-in files: what the manager reads besides the unit file (systemd.unit(5) "DESCRIPTION")


def user_unit_dir() -> Path:
    """Where a user manager reads the user's own unit files: $XDG_CONFIG_HOME/systemd/user
    (~/.config/systemd/user), the directory `systemctl --user edit` writes drop-ins in."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def admin_unit_dir(bus: str, root: Path) -> Path:
    """The manager's directory for the administrator's unit files and drop-ins: etc/systemd/system
    under the host's root for the system manager, user_unit_dir() for a user manager."""
    return user_unit_dir() if bus == "user" else Path(root) / "etc/systemd/system"


# ---------------------------------------------------------------------------------------
# Where a mask goes (systemctl(1) "mask"): MaskUnitFiles with runtime=False writes the symlink
# UNIT -> /dev/null in the admin directory, and without force it refuses ("File ... already
# exists", org.freedesktop.systemd1.UnitExists) when anything but that symlink has the name
# there. A unit file the administrator wrote there (every unit of a host like RevFlow OS,
# /etc/systemd/system) can therefore not be masked without destroying it; a unit linked in
# from elsewhere (LinkUnitFiles) can, once DisableUnitFiles has removed the link (systemd 252,
# seen on the test bed's user manager). A file elsewhere in the search path (/lib/systemd/
# system) is masked over: /etc has precedence (systemd.unit(5), "Unit File Load Path").

ENTRY_NONE, ENTRY_MASK, ENTRY_LINK, ENTRY_FILE, ENTRY_UNREADABLE = "none", "mask", "link", "file", "unreadable"


@dataclass(frozen=True)
class AdminEntry:
    """What the admin directory holds under a unit's name: nothing (ENTRY_NONE), the mask
    symlink to /dev/null (ENTRY_MASK), a symlink elsewhere (ENTRY_LINK, `target` its text),
    anything else, the unit file itself most often (ENTRY_FILE), or what could not be looked at
    (ENTRY_UNREADABLE, `target` the error)."""

    path: Path
    kind: str
    target: str | None = None


def admin_entry(admin_dir: Path, unit: str) -> AdminEntry:
    """The admin directory's entry for `unit` (lstat: a symlink is never followed, a FIFO
    never opened). CheckFailed for a name that is not a unit name: empty, ".", "..", or with
    "/" or NUL (which lstat refuses with ValueError; an inventory is untrusted)."""
    if not unit or "/" in unit or "\x00" in unit or unit in (".", ".."):
        raise CheckFailed(f"{unit!r}: not a unit name")
    path = Path(admin_dir) / unit
    try:
        mode = path.lstat().st_mode
        target = os.readlink(path) if stat.S_ISLNK(mode) else None
    except (FileNotFoundError, NotADirectoryError):
        return AdminEntry(path, ENTRY_NONE)
    except OSError as exc:
        return AdminEntry(path, ENTRY_UNREADABLE, exc.strerror or str(exc))
    if target is not None:
        return AdminEntry(path, ENTRY_MASK if target == os.devnull else ENTRY_LINK, target)
    return AdminEntry(path, ENTRY_FILE)


def mask_blocker(entry: AdminEntry, *, disabled: bool) -> str | None:
    """Why MaskUnitFiles (runtime=False, force=False) cannot place the unit's mask over
    `entry`, or None when it can. `disabled`: DisableUnitFiles has run already, so a link
    still there is one disable does not remove (an alias of another unit, say); before it,
    a link is expected to go with the disable (None). The words say what a sysadmin checks."""
    if entry.kind in (ENTRY_NONE, ENTRY_MASK):
        return None
    if entry.kind == ENTRY_UNREADABLE:
        return f"{entry.path} cannot be looked at ({entry.target}); revops places no mask it cannot check"
    if entry.kind == ENTRY_LINK:
        if not disabled:
            return None
        return (f"{entry.path} is still a symlink to {entry.target} after the disable; a mask would "
                "have to replace it")
    return (f"its unit file {entry.path} is in the manager's admin directory, where the mask would "
            "have to replace it (systemctl(1) mask)")


class DropinFiles:
    """Drop-ins `UNIT_DIR/UNIT.d/NAME` written and removed whole.

    A write goes to a hidden file beside the drop-in (the manager reads only *.conf), is
    flushed to disk and renamed over it, so the manager never reads half a drop-in and a crash
    leaves either the old file or the new one. A UNIT.d that is a symlink (a host linked into
    a user manager) is followed only into one of `confine`, the directories the caller may
    write in; anything else is a CheckFailed naming the path, and nothing is written.
    """

    def __init__(self, unit_dir: Path, confine: Sequence[Path] = ()) -> None:
        self.unit_dir = Path(unit_dir)
        self.confine = tuple(Path(p).resolve() for p in (self.unit_dir, *confine))

    def directory(self, unit: str) -> Path:
        if not unit or "/" in unit or unit in (".", ".."):
            raise CheckFailed(f"{unit!r}: not a unit name")
        return self.unit_dir / f"{unit}.d"

    def _resolved(self, unit: str, name: str) -> Path:
        if not name.endswith(".conf") or "/" in name or name.startswith("."):
            raise CheckFailed(f"{name!r}: not a drop-in file name (NAME.conf)")
        folder = self.directory(unit)
        real = folder.resolve()
        if not any(real == c or real.is_relative_to(c) for c in self.confine):
            raise CheckFailed(f"{folder} leads to {real}, outside {', '.join(map(str, self.confine))}: "
                              "revops writes no drop-in there")
        return real / name

    def read(self, unit: str, name: str, limit: int = 1 << 20) -> str | None:
        """The drop-in's text, or None when there is none; CheckFailed for anything but a
        regular file (a FIFO is never opened)."""
        target = self._resolved(unit, name)
        try:
            mode = target.lstat().st_mode
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(mode):
            raise CheckFailed(f"{target}: not a regular file")
        with open(target, "rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")

    def write(self, unit: str, name: str, text: str) -> Path:
        """Write the drop-in whole (see the class); returns its path."""
        target = self._resolved(unit, name)
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return target

    def remove(self, unit: str, name: str) -> bool:
        """Remove the drop-in; False when there was none. Its directory goes too when that is
        left empty and is a real directory (an empty UNIT.d says nothing to the manager)."""
        target = self._resolved(unit, name)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(target.parent)
        folder = self.directory(unit)
        if not folder.is_symlink():
            try:
                folder.rmdir()
            except OSError:
                pass  # other drop-ins are there
        return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
