"""Reading systemd service units from a host's root the way systemd itself reads them.

Pure file reading: nothing here talks to systemd. `read_units()` is the entry point; the
pieces are `syntax` (file syntax), `words` (quoting and escapes), `execline` (ExecStart=),
`specifiers` (%n, %i, ...), `loader` (directories, precedence, masks, aliases, instances,
drop-ins), `service` (the settings and systemd's own checks) and `rootfs` (chroot-like paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from revops.model import Problem
from revops.unitfile import service, specifiers, syntax
from revops.unitfile.loader import Loader, UnitSource
from revops.unitfile.rootfs import RootFS, RootReadError
from revops.unitfile.specifiers import HostFacts, UnitContext

__all__ = ["ReadUnit", "read_units", "read_source", "HostFacts", "RootFS", "Loader"]


@dataclass
class ReadUnit:
    source: UnitSource
    config: service.ServiceConfig | None  # None when masked or no file could be read
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name


def read_units(fs: RootFS, unit_dirs: tuple[str, ...], pattern: str, host: HostFacts) -> list[ReadUnit]:
    loader = Loader(fs, unit_dirs)
    return [read_source(fs, src, host) for src in loader.units(pattern)]


def read_source(fs: RootFS, src: UnitSource, host: HostFacts) -> ReadUnit:
    problems = list(src.problems)
    if src.masked or src.fragment is None:
        return ReadUnit(src, None, problems)
    assignments: list[syntax.Assignment] = []
    refused = False
    for path in [src.fragment, *src.dropins]:
        parsed = _read_file(fs, path)
        problems += parsed.problems
        refused = refused or parsed.fatal
        assignments += parsed.assignments
    if refused:
        return ReadUnit(src, None, problems)
    config = service.build(assignments, UnitContext(src.name, src.fragment, host))
    service.resolve_context(config, host, fs)
    problems += config.problems
    if config.unexpanded:
        letters = sorted(set(config.unexpanded))
        why = sorted({w for w in (specifiers.why_unknown(x, host) for x in letters) if w})
        problems.append(Problem("unexpanded-specifier", "host specifiers unknown offline, left as written: "
                                + " ".join(letters) + (f" ({'; '.join(why)})" if why else ""), src.fragment))
    return ReadUnit(src, config, problems)


UNIT_FILE_LIMIT = 4 << 20  # bytes; systemd's own line limit is 1 MiB, no unit file is near this


def _read_file(fs: RootFS, host_path: str) -> syntax.ParsedFile:
    """One unit file or drop-in, read through the root-confined reader (never a FIFO)."""
    try:
        data = fs.read_bytes(host_path, UNIT_FILE_LIMIT)
    except RootReadError as exc:
        code = "symlink-loop" if "symbolic links" in exc.reason else "unreadable"
        parsed = syntax.ParsedFile(host_path, fatal=True)
        parsed.problems.append(Problem(code, f"{host_path}: {exc.reason}", host_path, None, True))
        return parsed
    return syntax.parse(data, host_path)
