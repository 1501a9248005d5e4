"""What the inventory says about where a unit belongs: pure reading of Units, no decisions.

Each function returns the evidence in words (a reason an operator can check against the unit
files), or None when there is none. suggest.py weighs them.
"""

from __future__ import annotations

import posixpath
import re

from revops import unitnames
from revops.model import Unit

_WORDS = re.compile(r"[-_.@]+")
_PYTHON = re.compile(r"^python3?(\.\d+)?$")
# Programs of the host itself: a unit that runs one of these with no code of its own works on
# the host (its files, its processes), which a container cannot see.
_HOST_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/")
# Words in a unit's name that say it tends the venvs themselves (old world: no venvs in containers).
_VENV_WORDS = {"venv", "venvs", "virtualenv", "virtualenvs"}


def stem(name: str) -> str:
    """"revflow-worker@2.service" -> "revflow-worker"; "revflow-backup.service" -> "revflow-backup"."""
    return unitnames.prefix(name)


def belongs_to(child: str, parent: str) -> bool:
    """Whether unit stem `child` names a part of `parent` (revflow-revwins-digest of revflow-revwins)."""
    return child != parent and child.startswith(parent + "-")


def program(unit: Unit) -> tuple[str, ...] | None:
    """What a unit runs, without where its venv is: ("uvicorn", "app:app") or ("python", "worker.py")."""
    if not unit.exec_start or not unit.exec_start[0]:
        return None
    argv = unit.exec_start[0]
    first = posixpath.basename(argv[0])
    first = "python" if _PYTHON.match(first) else first
    script = next((w for w in argv[1:] if not w.startswith("-")), None)
    return (first, posixpath.basename(script)) if script else (first,)


def copy_of(unit: Unit, others: list[Unit]) -> Unit | None:
    """The unit this one copies: same WorkingDirectory, same program, and the directory is
    named after the other (revpublish-v2 runs revpublish's uvicorn app:app from .../revpublish)."""
    wd = unit.working_directory
    if not wd or stem(unit.name) == posixpath.basename(wd.rstrip("/")):
        return None
    mine = program(unit)
    for other in others:
        if other.name == unit.name or other.working_directory != wd or program(other) != mine:
            continue
        if stem(other.name) == posixpath.basename(wd.rstrip("/")):
            return other
    return None


def copy_reason(unit: Unit, original: Unit, where: str) -> str:
    port = f" on port {unit.port} (it on {original.port})" if unit.port and original.port else ""
    what = " ".join(program(unit) or ())
    return (f"a copy of {original.name} ({where}): runs the same {what} from {unit.working_directory}{port}; "
            "retired with the old world, as `revops cleanup` would quarantine it as a duplicate")


def old_world(unit: Unit) -> str | None:
    """Why a unit exists only for the per-service venvs (its name says it tends venvs)."""
    words = set(_WORDS.split(stem(unit.name).lower()))
    found = sorted(words & _VENV_WORDS)
    if not found:
        return None
    return (f"exists for the old world: its name says it tends venvs ({found[0]}); with every service in an "
            "image no venv is left to tend, so it is retired (stopped and disabled) once no unit left under "
            "systemd runs from a venv")


def host_bound(unit: Unit) -> str | None:
    """Why a unit belongs on the host: it runs a program of the host with no code of its own,
    or with full privileges (`+`), so a container would act on its own files, not the host's."""
    if not unit.exec_start or unit.venv:
        return None
    argv = unit.exec_start[0]
    prefixes = (unit.exec_start_prefixes or [""])[0]
    if "+" in prefixes:
        return f"runs {argv[0]} with full privileges (ExecStart=+): it acts on the host, not inside a container"
    if argv[0].startswith(_HOST_DIRS) and not _PYTHON.match(posixpath.basename(argv[0])):
        paths = [w for w in argv[1:] if w.startswith("/")]
        on = f" on {paths[0]}" if paths else ""
        return (f"runs {argv[0]}, a program of the host, with no code of its own{on}: "
                "in a container it would see the container's files, not the host's")
    return None


def job_note(unit: Unit) -> str | None:
    """A Type=oneshot service fired by a timer: what moves and what stays."""
    if unit.service_type != "oneshot" or not unit.timers:
        return None
    timer = unit.timers[0]
    when = ", ".join(f"OnCalendar={c}" for c in timer.on_calendar) or ", ".join(timer.monotonic) or "no trigger"
    return (f"a job fired by {timer.name} ({when}): its code moves into the suite's image and the timer "
            "stays in systemd, repointed to run it once in a fresh container")


def setup_note(unit: Unit, dependents: list[str]) -> str | None:
    """A Type=oneshot service without a timer that others are After=: set-up run once before them."""
    if unit.service_type != "oneshot" or unit.timers or not dependents:
        return None
    few = ", ".join(dependents[:3]) + (f" and {len(dependents) - 3} more" if len(dependents) > 3 else "")
    return (f"one-shot set-up that {few} {'is' if len(dependents) == 1 else 'are'} After=: a compose service "
            "they wait for (condition: service_completed_successfully)")


def venv_name(path: str) -> str | None:
    """A name from a venv's path: /opt/x/shared-venv -> "shared", /srv/x/tools/venv -> "tools"."""
    for part in reversed([p for p in path.split("/") if p]):
        name = re.sub(r"[-_.]?venv$", "", part.lower()).strip("-_.")
        if name:
            return name
    return None
