"""The .timer units of a host, read as systemd reads them, and the service each one fires.

A job (a Type=oneshot service) keeps its schedule in systemd when its code moves into a
container, so the inventory records which timer fires it and the settings that make its
schedule: OnCalendar= (systemd.time(7)), the monotonic triggers (OnBootSec=, ...),
Persistent=, RandomizedDelaySec=, AccuracySec= (systemd.timer(5)). Unit= names the service
fired; by default it is the service of the timer's own name. Same directories, precedence,
masks and drop-ins as the services (revops.unitfile.loader).
"""

from __future__ import annotations

from revops import unitnames
from revops.model import Problem, Timer
from revops.unitfile import syntax
from revops.unitfile.loader import Loader, UnitSource
from revops.unitfile.rootfs import RootFS, RootReadError

TIMER_SECTIONS = frozenset({"Unit", "Timer", "Install"})
MONOTONIC = ("OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec")
_TRUE = ("1", "yes", "y", "true", "t", "on")
_FALSE = ("0", "no", "n", "false", "f", "off")
TIMER_FILE_LIMIT = 1 << 20


def read_timers(fs: RootFS, unit_dirs: tuple[str, ...]) -> tuple[dict[str, list[Timer]], list[Problem]]:
    """{service name: the timers whose Unit= is that service}, and the problems met on the way
    (file and line). A masked timer is listed (masked: it fires nothing)."""
    loader = Loader(fs, unit_dirs, suffix=".timer")
    enabled = _enabled_names(fs, loader)
    fired: dict[str, list[Timer]] = {}
    problems: list[Problem] = []
    for src in loader.units("*"):
        if src.template:
            continue  # a template timer fires nothing until an instance of it is enabled
        timer, target, found = _read(fs, src)
        problems += found
        if timer is None or target is None:
            continue
        timer.enabled = src.name in enabled
        fired.setdefault(target, []).append(timer)
    return fired, problems


def _enabled_names(fs: RootFS, loader: Loader) -> set[str]:
    """Timer names linked from any `*.wants/` or `*.requires/` directory (what `enable` makes)."""
    names: set[str] = set()
    for unit_dir in loader.dirs:
        for dir_name, entry in unit_dir.listing.items():
            if dir_name.endswith((".wants", ".requires")) and entry.is_dir(follow_symlinks=False):
                names |= {n for n in fs.listdir(f"{unit_dir.host_path.rstrip('/')}/{dir_name}") if n.endswith(".timer")}
    return names


def _read(fs: RootFS, src: UnitSource) -> tuple[Timer | None, str | None, list[Problem]]:
    problems = list(src.problems)
    default_target = src.name[: -len(".timer")] + ".service"
    if src.masked:
        return Timer(src.name, (src.entry_path or "").lstrip("/") or None, masked=True), default_target, problems
    if src.fragment is None:
        return None, None, problems
    timer = Timer(src.name, src.fragment.lstrip("/"), dropins=list(src.dropins))
    target = default_target
    for path in [src.fragment, *src.dropins]:
        try:
            parsed = syntax.parse(fs.read_bytes(path, TIMER_FILE_LIMIT), path, TIMER_SECTIONS)
        except RootReadError as exc:
            problems.append(Problem("unreadable", f"{path}: {exc.reason}", path, None, True))
            return None, None, problems
        problems += parsed.problems
        if parsed.fatal:
            return None, None, problems
        for a in parsed.assignments:
            if a.section == "Timer":
                target = _apply(timer, a, target, problems)
    if not (timer.on_calendar or timer.monotonic):
        problems.append(Problem("timer-without-trigger", f"{src.name}: no OnCalendar= nor monotonic trigger; "
                                "systemd refuses the timer", src.fragment, None, True))
    return timer, target, problems


def _apply(timer: Timer, a: syntax.Assignment, target: str, problems: list[Problem]) -> str:
    """One [Timer] assignment, as systemd's timer parser takes it; returns the Unit= in force."""
    if a.key == "OnCalendar":
        timer.on_calendar = [] if not a.value else [*timer.on_calendar, a.value]
    elif a.key in MONOTONIC:
        kept = [m for m in timer.monotonic if not m.startswith(a.key + "=")]
        timer.monotonic = kept if not a.value else [*timer.monotonic, f"{a.key}={a.value}"]
    elif a.key == "Persistent":
        flag = _boolean(a, problems)
        timer.persistent = timer.persistent if flag is None else flag
    elif a.key == "RandomizedDelaySec":
        timer.randomized_delay_sec = a.value or None
    elif a.key == "AccuracySec":
        timer.accuracy_sec = a.value or None
    elif a.key == "Unit":
        if unitnames.is_valid(a.value) and not unitnames.is_template(a.value):
            return a.value
        problems.append(Problem("bad-setting", f"Unit=: {a.value!r} is not a unit a timer can fire; ignored",
                                a.file, a.line))
    return target


def _boolean(a: syntax.Assignment, problems: list[Problem]) -> bool | None:
    value = a.value.lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    problems.append(Problem("ignored-setting", f"{a.key}=: {a.value!r} is not a boolean; ignored", a.file, a.line))
    return None
