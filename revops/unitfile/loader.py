"""Which unit files make up each service on a host, in systemd's precedence.

Unit directories are searched in order; the first directory holding a name wins (so
/etc/systemd/system overrides /lib/systemd/system). A file of size 0 or a link to /dev/null
masks the name. A link to a file of another name is an alias. Template instances are found
from the `*.wants/`, `*.requires/` and `*.upholds/` links. Drop-ins come from `NAME.d/*.conf`
of the unit, its template, its dash prefixes and `service.d/`, in every directory; for one
file name the most specific name in the highest directory wins; all apply sorted by file name.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field

from revops.model import Problem
from revops import unitnames as names
from revops.unitfile.rootfs import RootFS, file_kind

DEPENDENCY_DIRS = (".wants", ".requires", ".upholds")


@dataclass
class Entry:
    """One name in one unit directory."""

    name: str
    host_path: str  # where the entry is, as the host sees it
    kind: str  # "file", "masked", "alias", "link", "broken"
    target: str | None = None  # the resolved host path (file/link) or alias target name
    problem: Problem | None = None


@dataclass
class UnitSource:
    name: str
    fragment: str | None  # host path of the file systemd reads
    entry_path: str | None  # host path of the name in its unit directory
    masked: bool = False
    template: bool = False
    aliases: list[str] = field(default_factory=list)
    dropins: list[str] = field(default_factory=list)  # host paths, in the order they apply
    problems: list[Problem] = field(default_factory=list)


@dataclass
class UnitDir:
    host_path: str
    listing: dict[str, os.DirEntry] = field(default_factory=dict)


class Loader:
    def __init__(self, fs: RootFS, unit_dirs: tuple[str, ...], suffix: str = ".service") -> None:
        self.fs = fs
        self.suffix = suffix
        self.dirs = self._dirs(unit_dirs)
        self._listings = {d.host_path.rstrip("/"): d.listing for d in self.dirs}
        self.entries: dict[str, Entry] = {}  # the winning entry of each name
        self.instances: set[str] = set()
        self._scan()

    # -- directories --------------------------------------------------------------

    def _dirs(self, unit_dirs: tuple[str, ...]) -> list[UnitDir]:
        seen: set[str] = set()
        dirs = []
        for rel in unit_dirs:
            resolved = self.fs.resolve("/" + rel.strip("/"))
            if not resolved.ok or resolved.host_path in seen or not resolved.real.is_dir():
                continue
            seen.add(resolved.host_path)
            unit_dir = UnitDir(resolved.host_path)
            try:
                with os.scandir(resolved.real) as it:
                    unit_dir.listing = {e.name: e for e in it}
            except OSError:
                continue
            dirs.append(unit_dir)
        return dirs

    def _scan(self) -> None:
        for unit_dir in self.dirs:
            for name, entry in sorted(unit_dir.listing.items()):
                if name.endswith(DEPENDENCY_DIRS) and entry.is_dir(follow_symlinks=False):
                    self._instances_in(entry)
                    continue
                if not name.endswith(self.suffix) or name in self.entries:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    continue
                self.entries[name] = self._entry(unit_dir, name, entry)

    def _instances_in(self, entry: os.DirEntry) -> None:
        try:
            children = os.listdir(entry.path)
        except OSError:
            return
        for child in children:
            if child.endswith(self.suffix) and names.is_instance(child):
                self.instances.add(child)

    def _entry(self, unit_dir: UnitDir, name: str, entry: os.DirEntry) -> Entry:
        host_path = f"{unit_dir.host_path.rstrip('/')}/{name}"
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            return Entry(name, host_path, "broken", problem=Problem("unreadable", str(exc), host_path))
        if stat.S_ISREG(st.st_mode):
            return Entry(name, host_path, "masked" if st.st_size == 0 else "file", host_path)
        if stat.S_ISLNK(st.st_mode):
            return self._link(name, host_path, entry)
        # systemd's name map takes regular files and symlinks only (a FIFO is never opened)
        return Entry(name, host_path, "broken", problem=Problem(
            "not-a-regular-file", f"{host_path}: a {file_kind(st.st_mode)}, not a unit file; systemd ignores it",
            host_path, None, True))

    def _link(self, name: str, host_path: str, entry: os.DirEntry) -> Entry:
        try:
            target = os.readlink(entry.path)
        except OSError as exc:
            return Entry(name, host_path, "broken", problem=Problem("unreadable", str(exc), host_path))
        if target == "/dev/null":
            return Entry(name, host_path, "masked")
        resolved = self.fs.resolve(host_path)
        if resolved.error == "loop":
            return Entry(name, host_path, "broken", problem=Problem(
                "symlink-loop", f"{host_path} -> {target}: too many levels of symbolic links", host_path, None, True))
        if not resolved.ok:
            return Entry(name, host_path, "broken", problem=Problem(
                "dangling-symlink", f"{host_path} -> {target}: {resolved.error}", host_path, None, True))
        if resolved.host_path == "/dev/null":
            return Entry(name, host_path, "masked")
        target_name = os.path.basename(resolved.host_path)
        if target_name != name and names.is_valid(target_name) and not (
                names.is_instance(name) and names.is_template(target_name)):
            return Entry(name, host_path, "alias", target_name)
        kind = "link"
        try:
            st = os.stat(resolved.real)
        except OSError:
            st = None
        if st is not None and ((stat.S_ISREG(st.st_mode) and st.st_size == 0) or _is_dev_null(st)):
            kind = "masked"  # anything else that is not a regular file is refused when read
        return Entry(name, host_path, kind, resolved.host_path)

    # -- units ----------------------------------------------------------------------

    def units(self, pattern: str = "*") -> list[UnitSource]:
        aliases: dict[str, list[str]] = {}
        for entry in self.entries.values():
            if entry.kind == "alias" and entry.target:
                aliases.setdefault(entry.target, []).append(entry.name)
        wanted: set[str] = {n for n, e in self.entries.items() if e.kind != "alias"}
        wanted |= {t for t in aliases if t not in self.entries}
        templates_used = set()
        for inst in self.instances:
            if inst in self.entries or names.template_of(inst) in self.entries:
                wanted.add(inst)
                templates_used.add(names.template_of(inst))
        wanted -= {n for n in templates_used if self.entries.get(n) and self.entries[n].kind != "masked"}
        return [self.source(n, aliases.get(n, [])) for n in sorted(wanted) if fnmatch.fnmatchcase(n, pattern)]

    def source(self, name: str, aliases: list[str] | None = None) -> UnitSource:
        entry = self.entries.get(name)
        if entry is None and names.is_instance(name):
            entry = self.entries.get(names.template_of(name))
        src = UnitSource(name, None, entry.host_path if entry else None, template=names.is_template(name),
                         aliases=sorted(aliases or []))
        if entry is None:
            linked = self._alias_target_path(name)
            if linked is None:
                src.problems.append(Problem("not-found", f"{name}: no unit file", None, None, True))
                return src
            src.fragment = linked
        elif entry.kind == "masked":
            src.masked = True
            return src
        elif entry.problem is not None:
            src.problems.append(entry.problem)
            return src
        else:
            src.fragment = entry.target
        src.dropins = self.dropins(name, src.aliases)
        return src

    def _alias_target_path(self, name: str) -> str | None:
        for entry in self.entries.values():
            if entry.kind == "alias" and entry.target == name:
                resolved = self.fs.resolve(entry.host_path)
                if resolved.ok:
                    return resolved.host_path
        return None

    def dropins(self, name: str, aliases: list[str]) -> list[str]:
        candidates: list[str] = []
        for unit_name in [name, *aliases]:
            for unit_dir in self.dirs:
                for dropin_name in names.dropin_dir_names(unit_name):
                    candidates.append(f"{unit_dir.host_path.rstrip('/')}/{dropin_name}.d")
        for unit_dir in self.dirs:
            candidates.append(f"{unit_dir.host_path.rstrip('/')}/{self.suffix.lstrip('.')}.d")
        return self._conf_files(candidates)

    def _conf_files(self, directories: list[str]) -> list[str]:
        chosen: dict[str, str] = {}
        masked: set[str] = set()
        listed: set[str] = set()
        for directory in directories:
            if directory in listed or not self._dir_listed(directory):
                continue
            listed.add(directory)
            for file_name in sorted(self._listdir(directory)):
                if not file_name.endswith(".conf") or file_name in chosen or file_name in masked:
                    continue
                path = f"{directory}/{file_name}"
                if self._is_mask(path):
                    masked.add(file_name)
                else:
                    chosen[file_name] = path
        return [chosen[k] for k in sorted(chosen)]

    def _dir_listed(self, directory: str) -> bool:
        parent, base = directory.rsplit("/", 1)
        listing = self._listings.get(parent)
        entry = listing.get(base) if listing is not None else None
        return entry is not None and entry.is_dir()

    def _listdir(self, directory: str) -> list[str]:
        return self.fs.listdir(directory)

    def _is_mask(self, host_path: str) -> bool:
        """An empty regular file or a link to /dev/null masks a drop-in (systemd's null_or_empty)."""
        try:
            st = self.fs.lstat(host_path)
            if stat.S_ISLNK(st.st_mode) and self.fs.readlink(host_path) == "/dev/null":
                return True
        except OSError:
            return False
        resolved = self.fs.resolve(host_path)
        if not resolved.ok:
            return False
        if resolved.host_path == "/dev/null":
            return True
        try:
            st = os.stat(resolved.real)
        except OSError:
            return False
        return (stat.S_ISREG(st.st_mode) and st.st_size == 0) or _is_dev_null(st)


def _is_dev_null(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
