"""What one service may read: its EnvironmentFile= values and its secret Environment= values.

Read from the host root now, as systemd would give them to the unit: the unit file and its
drop-ins through revops.unitfile (Environment=), each EnvironmentFile= through the root-confined
reader and revops.entrypoint's parser (the same code the image runs, so the container gets what
systemd gives the unit). The bundle lives in memory only: `copies` writes it into the service's
copy, `digest` names it; nothing here is stored or shown.

Order, as systemd.exec(5) applies it: Environment= first, then each EnvironmentFile= in order,
a later assignment of the same variable winning. In the container compose sets the inline
Environment= values and the entrypoint then loads the copy over them, so the result is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from revops import entrypoint
from revops.errors import CheckFailed
from revops.unitfile import RootFS, read_source
from revops.unitfile.loader import Loader
from revops.unitfile.rootfs import RootReadError
from revops.unitfile.specifiers import facts_of_root

ENV_FILE_LIMIT = entrypoint.MAX_FILE  # what the entrypoint would refuse, refused here first


@dataclass(frozen=True)
class Bundle:
    unit: str
    pairs: tuple[tuple[str, str], ...]  # (name, value) in the order systemd applies them
    sources: tuple[str, ...]  # where they came from, in words (no value): shown in step lines
    skipped: tuple[str, ...] = ()  # optional env files (EnvironmentFile=-) that are missing

    def text(self) -> bytes:
        """The copy's content: one `KEY="value"` line per variable (entrypoint.render)."""
        return entrypoint.render(self.pairs).encode("utf-8", "surrogatepass")

    def values(self) -> set[str]:
        """Every value, to hide them in the service's own words (logs, /health bodies)."""
        return {v for _k, v in self.pairs if v}


def read(root: Path, unit_dirs: tuple[str, ...], unit: str, secret_keys: tuple[str, ...]) -> Bundle:
    """The bundle of `unit`: the values of `secret_keys` (its Environment= names generate did not
    write inline) and every EnvironmentFile= of the unit, read under `root`.

    Raises CheckFailed naming the unit file or env file (never a value) when the unit cannot be
    read, a secret key is no longer set, or an env file is missing (not optional), unreadable or
    one systemd would refuse."""
    fs = RootFS(root)
    found = [s for s in Loader(fs, unit_dirs).units(unit) if s.name == unit]
    if not found:
        raise CheckFailed(f"{unit}: no unit file under {root} to read its environment from")
    read_unit = read_source(fs, found[0], facts_of_root(fs, live=fs.root == Path("/")))
    if read_unit.config is None:
        raise CheckFailed(f"{unit}: its unit file cannot be read ({found[0].fragment or 'masked'})")
    config = read_unit.config
    missing = [k for k in secret_keys if k not in config.environment]
    if missing:
        raise CheckFailed(f"{unit}: Environment={', '.join(missing)} no longer set in the unit",
                          hint="run `revops inventory scan` and `revops generate`")
    pairs = [(k, config.environment[k]) for k in secret_keys if entrypoint.valid_name(k)]
    sources = [f"Environment= {', '.join(secret_keys)}"] if secret_keys else []
    skipped = []
    for path, optional in config.environment_files:
        try:
            data = fs.read_bytes(path, ENV_FILE_LIMIT)
        except RootReadError as exc:
            if optional and not fs.lexists(path):
                skipped.append(path)  # systemd skips a missing EnvironmentFile=-
                continue
            raise CheckFailed(f"{unit}: EnvironmentFile={path}: {exc.reason}") from None
        try:
            parsed = entrypoint.parse(data.decode("utf-8", "surrogateescape"))
        except entrypoint.EnvFileError as exc:
            raise CheckFailed(f"{unit}: EnvironmentFile={path}: {exc} (systemd refuses this file)") from None
        pairs += [(k, v) for k, v in parsed if entrypoint.valid_name(k)]
        sources.append(f"EnvironmentFile={path}")
    # The last assignment wins (systemd); one line per variable in the copy.
    merged = dict(pairs)
    return Bundle(unit, tuple(merged.items()), tuple(sources), tuple(skipped))
