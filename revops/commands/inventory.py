"""`revops inventory scan`: every service unit and every venv of a host, with live state.

Plan: read the unit files (revops.unitfile) and the venvs (revops.venvs) under the root,
optionally ask systemd for the live state, then write inventory/units.yaml and venvs.yaml.
Problems found on the host are data, not failures: the verb exits 0 when it could scan, and 2
when the configuration or the root is unusable.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import config as config_mod
from revops import coverage, model, output, regularfile, venvs, yamlsafe
from revops.errors import EXIT_OK, AdapterUnavailable, CheckFailed, ConfigError, UsageError
from revops.coverage import Coverage
from revops.model import Inventory, LiveState, Problem, Unit, Venv
from revops.secrets.digest import environment_record
from revops.unitfile import ReadUnit, RootFS, read_units
from revops.unitfile.ports import port_of
from revops.unitfile.specifiers import facts_of_root
from revops.unitfile.timer import read_timers

UNKNOWN_SHOWN = 10  # units named in the "unknown to the manager" line; the JSON has every one
RESTART_LOOP_MIN = 3  # NRestarts at or above this, or SubState auto-restart, is a restart loop


@dataclass
class ScanResult:
    inventory: Inventory
    bus: str
    live_reason: str | None = None  # why live state is UNAVAILABLE (None when read)
    written: list[str] = field(default_factory=list)
    unchanged: bool = False
    coverage: Coverage | None = None  # how many live units revops.yaml gives a destination

    @property
    def exit_code(self) -> int:
        return EXIT_OK  # the scan ran: problems found on the host are data, not a failure

    def contract(self) -> dict[str, Any]:
        """The JSON of design.md: {"units": [...], "venvs": [...]}, and "coverage"
        (revops.coverage.Coverage.to_dict) when revops.yaml was read."""
        data = self.inventory.to_dict()
        if self.coverage is not None:
            data["coverage"] = self.coverage.to_dict()
        return data


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


# -- plan -------------------------------------------------------------------------------


def scan_config(config_path: Path | None, root: Path | None, output_dir: Path | None,
                write: bool) -> tuple[config_mod.Config, bool]:
    """The configuration a scan runs with, and whether it writes.

    `--root` works without a revops.yaml (a copied root looked at from anywhere): defaults
    are used then, and the inventory is written only where `--output-dir` says."""
    try:
        cfg = config_mod.load(config_path)
    except ConfigError:
        if root is None or config_path is not None:
            raise
        cfg = config_mod.Config(path=Path.cwd() / config_mod.CONFIG_NAME, root=root)
        write = write and output_dir is not None
    if root is not None:
        cfg = dataclasses.replace(cfg, root=root.resolve())
    return cfg, write


def run(cfg: config_mod.Config, *, live: bool | None = None, user: bool = False,
        output_dir: Path | None = None, write: bool = True, deep: bool = False) -> ScanResult:
    root = Path(cfg.root)
    if not root.is_dir():
        raise UsageError(f"host root {root} is not a directory (host.root in {cfg.path}, or --root)")
    fs = RootFS(root)
    scanning_slash = fs.root == Path("/")
    read = read_units(fs, cfg.unit_dirs, cfg.unit_pattern, facts_of_root(root, live=scanning_slash))
    units = [to_unit(r, cfg, fs) for r in read]
    attach_timers(units, *read_timers(fs, cfg.unit_dirs))
    found_venvs = scan_venvs(fs, cfg, units, deep=deep)
    bus = "user" if user else cfg.bus
    want_live = scanning_slash if live is None else live
    shown_root = _root_as_written(root, cfg)
    reason = attach_live(units, bus) if want_live else (
        f"not read: offline scan of host root {shown_root} (pass --live to ask the {bus} manager)")
    if not want_live:
        for unit in units:
            unit.live = LiveState(model.UNAVAILABLE, None, reason)
    inventory = Inventory(root=shown_root, scanned_at=None, units=units, venvs=found_venvs)
    result = ScanResult(inventory, bus, reason, coverage=coverage.measure(inventory, cfg))
    if write:
        target = output_dir or cfg.out("inventory")
        result.written, result.unchanged = write_inventory(inventory, Path(target))
        if Path(target) == cfg.out("inventory"):  # the one the other verbs read
            for path in result.written:
                model.store_cache(Path(path), cfg.cache_dir)
    return result


def _root_as_written(root: Path, cfg: config_mod.Config) -> str:
    """The root relative to the ops repo when it lies inside it, so the committed inventory
    of a host kept beside its ops repo reads the same wherever that repo is checked out."""
    try:
        rel = root.resolve().relative_to(cfg.base_dir.resolve())
    except ValueError:
        return str(root)
    return str(rel) if str(rel) != "." else "."


def to_unit(r: ReadUnit, cfg: config_mod.Config, fs: RootFS) -> Unit:
    src, c = r.source, r.config
    suite = cfg.suite_of(src.name)
    unit = Unit(
        name=src.name,
        path=src.fragment.lstrip("/") if src.fragment else (src.entry_path or "").lstrip("/") or None,
        suite=suite.name if suite else None, phase=suite.phase if suite else None,
        deprecated=cfg.is_deprecated(src.name), masked=src.masked, template=src.template,
        aliases=src.aliases, dropins=list(src.dropins), problems=sorted(r.problems, key=_problem_key),
    )
    if c is not None:
        commands = [cmd.contract for cmd in c.exec_start]
        unit.exec_start = commands
        unit.exec_start_prefixes = [cmd.prefixes for cmd in c.exec_start]
        unit.working_directory = c.working_directory
        unit.user = c.user
        unit.environment_files = [path for path, _optional in c.environment_files]
        # Stored nowhere: a secret-looking value is kept as its digest only.
        unit.environment, unit.environment_digests = environment_record(c.environment, cfg.secrets_allow)
        unit.restart = c.restart
        unit.service_type = c.type or "simple"
        unit.after, unit.requires, unit.wants = list(c.after), list(c.requires), list(c.wants)
        unit.remain_after_exit = c.remain_after_exit
        unit.memory_max, unit.cpu_quota = c.memory_max, c.cpu_quota
        unit.port = port_of(commands, c.environment)
        unit.venv = next((v for v in (venvs.venv_of_command(cmd, fs) for cmd in commands) if v), None)
    return unit


def attach_timers(units: list[Unit], fired: dict[str, list[model.Timer]], problems: list[Problem]) -> None:
    """Each unit's timers (sorted by name); a timer's problems go to the unit it fires."""
    by_name = {u.name: u for u in units}
    for name, timers in fired.items():
        unit = by_name.get(name)
        if unit is None:
            continue  # a timer of a unit that is no service of this scan
        unit.timers = sorted(timers, key=lambda t: t.name)
        paths = {p for t in timers for p in (t.path, *t.dropins) if p}
        unit.problems = sorted([*unit.problems, *(p for p in problems if (p.file or "").lstrip("/") in paths)],
                               key=_problem_key)


def _problem_key(p: Problem) -> tuple:
    return (p.file or "", p.line or 0, p.code, p.detail)


def scan_venvs(fs: RootFS, cfg: config_mod.Config, units: list[Unit], *, deep: bool) -> list[Venv]:
    search = ["/" + s.strip("/") for s in cfg.venv_search]
    search += sorted({u.working_directory for u in units if u.working_directory and u.working_directory != "~"})
    paths = set(venvs.discover(fs, search, cfg.venv_search_depth))
    used_by: dict[str, list[str]] = {}
    for unit in units:
        if unit.venv:
            paths.add(unit.venv)
            used_by.setdefault(unit.venv, []).append(unit.name)
    return [venvs.check(fs, p, used_by.get(p, []), deep=deep) for p in sorted(paths)]


# -- live state -------------------------------------------------------------------------


def attach_live(units: list[Unit], bus: str) -> str | None:
    """Fill each unit's live state from systemd; on failure mark it UNAVAILABLE with why."""
    checked_at = now()
    try:
        from revops.adapters import systemd  # about 10 ms: an offline scan never needs it

        manager = systemd.connect(bus)
        states = manager.states([u.name for u in units if not u.template])
    except (AdapterUnavailable, CheckFailed) as exc:
        reason = f"{bus} bus: {exc.message}"
        for unit in units:
            unit.live = LiveState(model.UNAVAILABLE, checked_at, reason)
        return reason
    for unit in units:
        state = states.get(unit.name)
        if state is None:
            unit.live = LiveState(model.UNAVAILABLE, checked_at, "a template is not a unit systemd runs")
            continue
        unit.live = LiveState(
            model.LIVE, checked_at, None, load_state=state.load_state, active_state=state.active_state,
            sub_state=state.sub_state, result=state.result, n_restarts=state.n_restarts,
            main_pid=state.main_pid, unit_file_state=state.unit_file_state)
    return None


# -- files ------------------------------------------------------------------------------


# libyaml when present: the pure-Python codec takes seconds on a 1,000-unit inventory
# (revops.yamlsafe reads with libyaml too).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(doc: dict[str, Any]) -> str:
    return yaml.dump(output.to_jsonable(doc), Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=4096)


def _previous(path: Path) -> dict[str, Any]:
    """The inventory written last time, or {} when there is none worth keeping."""
    try:
        data = yamlsafe.load_file(path, max_bytes=regularfile.DEFAULT_LIMIT).data
    except ConfigError:
        return {}
    return data if isinstance(data, dict) else {}


def _stable_live(units: list[dict[str, Any]], previous: dict[str, Any]) -> None:
    """Keep a unit's previous live.checked_at when its live state did not change, so an
    unchanged host rescans to an identical file (checked_at: when this state was first seen)."""
    before = {u.get("name"): u.get("live") for u in previous.get("units") or [] if isinstance(u, dict)}
    for unit in units:
        old, new = before.get(unit["name"]), unit.get("live")
        if isinstance(old, dict) and isinstance(new, dict):
            if {k: v for k, v in old.items() if k != "checked_at"} == {k: v for k, v in new.items() if k != "checked_at"}:
                new["checked_at"] = old.get("checked_at")


def write_inventory(inventory: Inventory, directory: Path) -> tuple[list[str], bool]:
    """Write units.yaml and venvs.yaml; `scanned_at` moves only when the content changed."""
    directory.mkdir(parents=True, exist_ok=True)
    units_path, venvs_path = directory / model.UNITS_FILE, directory / model.VENVS_FILE
    units = output.to_jsonable(sorted(inventory.units, key=lambda u: u.name))
    old_units = _previous(units_path)
    _stable_live(units, old_units)
    venv_list = output.to_jsonable(sorted(inventory.venvs, key=lambda v: v.path))
    old_venvs = _previous(venvs_path)
    same = old_units.get("units") == units and old_venvs.get("venvs") == venv_list \
        and old_units.get("root") == inventory.root
    stamp = old_units.get("scanned_at") if same and old_units.get("scanned_at") else now()
    inventory.scanned_at = stamp
    header = {"root": inventory.root, "scanned_at": stamp,
              "provenance": "unit files and venvs read from disk at scanned_at; live: see each "
                            "unit's live.provenance and live.checked_at"}
    texts = {units_path: _dump({**header, "units": units}), venvs_path: _dump({**header, "venvs": venv_list})}
    written = []
    for path, text in texts.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        written.append(str(path))
    return written, same


# -- rendering --------------------------------------------------------------------------


def restart_loop(unit: Unit) -> bool:
    live = unit.live
    if live is None or live.provenance != model.LIVE:
        return False
    return live.sub_state == "auto-restart" or (live.n_restarts or 0) >= RESTART_LOOP_MIN


def render(result: ScanResult, console: Console) -> None:
    inv = result.inventory
    console.print(Text.assemble((f"Inventory of {inv.root}", "bold"), f": {len(inv.units)} units, {len(inv.venvs)} venvs"
                  + (f" (written {', '.join(result.written)}{', unchanged' if result.unchanged else ''})"
                     if result.written else "")))
    _render_suites(inv, console)
    if result.coverage is not None:
        render_coverage(result.coverage, console)
    if result.live_reason:
        console.print(Text.assemble("live state: ", ("UNAVAILABLE", "yellow"), f" ({result.live_reason})"))
    else:
        loops = [u.name for u in inv.units if restart_loop(u)]
        failed = [u.name for u in inv.units if u.live and u.live.active_state == "failed"]
        console.print(f"live state: LIVE from the {result.bus} manager; restart loops: "
                      f"{', '.join(loops) or 'none'}; failed: {', '.join(failed) or 'none'}")
        unknown = not_loaded(inv.units)
        if unknown:
            shown = ", ".join(f"{name} (LoadState {state})" for name, state in unknown[:UNKNOWN_SHOWN])
            if len(unknown) > UNKNOWN_SHOWN:
                shown += f" and {len(unknown) - UNKNOWN_SHOWN} more (--json gives each unit's live.load_state)"
            console.print(Text.assemble(("unknown to the manager: ", "yellow"), shown,
                f": files on disk the {result.bus} manager has not loaded (not linked, or no daemon-reload "
                "since they were written)"))
    deprecated = [u.name for u in inv.units if u.deprecated]
    console.print(f"deprecated units: {', '.join(deprecated) or 'none'}")
    masked = [u.name for u in inv.units if u.masked]
    if masked:
        console.print(f"masked units: {', '.join(masked)}")
    _render_venvs(inv, console)
    _render_problems(inv, console)


def not_loaded(units: list[Unit]) -> list[tuple[str, str]]:
    """(unit, LoadState) of each unit read LIVE whose LoadState is not-found: a file on disk
    the manager has not loaded (org.freedesktop.systemd1(5), "LoadState"). A unit it loaded and
    refused (bad-setting, error) is the scan's own problem to report, with file and line."""
    return [(u.name, u.live.load_state) for u in units
            if u.live is not None and u.live.provenance == model.LIVE and u.live.load_state == "not-found"]


def render_coverage(measured: Coverage, console: Console) -> None:
    """One line with the figure, and the units without a destination (revops.yaml decides)."""
    by = ", ".join(f"{n} {kind}" for kind, n in sorted(measured.counts().items()))
    style = "green" if measured.complete else "yellow"
    console.print(Text.assemble("coverage: ", (measured.figure(), style), f" ({by})"))
    if measured.uncovered:
        console.print(Text.assemble(("without a destination: ", "yellow"), ", ".join(measured.uncovered),
                                    " (`revops suites suggest` proposes one for each)"))


def _render_suites(inv: Inventory, console: Console) -> None:
    table = Table("phase", "suite", "units", "with problems", title="Units by suite")
    groups = Counter((u.phase, u.suite) for u in inv.units)
    troubled = Counter((u.phase, u.suite) for u in inv.units if u.problems)
    for phase, suite in sorted(groups, key=lambda k: (k[0] is None, k[0] or 0, k[1] or "")):
        table.add_row(str(phase or "-"), suite or "(no suite)", str(groups[(phase, suite)]),
                      str(troubled[(phase, suite)]))
    console.print(table)


def _render_venvs(inv: Inventory, console: Console) -> None:
    broken = [v for v in inv.venvs if not v.healthy]
    orphans = [v for v in inv.venvs if v.orphan]
    kinds = Counter(code for v in broken for code in v.problems)
    console.print(f"venvs: {len(inv.venvs) - len(broken)} healthy, {len(broken)} corrupted, "
                  f"{len(orphans)} orphans (used by no unit)")
    if kinds:
        table = Table("problem", "venvs", title="Corrupted venvs by kind")
        for code, count in sorted(kinds.items()):
            table.add_row(code, str(count))
        console.print(table)
    in_use = [v for v in broken if v.used_by]
    for venv in in_use[:20]:
        console.print(Text.assemble("  ", (venv.path, "red"), f" used by {', '.join(venv.used_by)}: {', '.join(venv.problems)}"))


def _render_problems(inv: Inventory, console: Console) -> None:
    rows = [(u.name, p) for u in inv.units for p in u.problems]
    if not rows:
        console.print("unit problems: none")
        return
    refused = sorted({name for name, p in rows if p.fatal})
    console.print(f"unit problems: {len(rows)} on {len({n for n, _ in rows})} units; "
                  f"systemd would refuse: {', '.join(refused) or 'none'}")
    table = Table("unit", "problem", "where", "detail")
    for name, p in rows[:40]:
        where = f"{p.file}:{p.line}" if p.file and p.line else (p.file or "")
        table.add_row(name, p.code, where, p.detail)
    console.print(table)
    if len(rows) > 40:
        console.print(f"... and {len(rows) - 40} more (see --json)")
