"""From inventory units to ServiceSpecs: the decisions of generation, pure and testable.

Nothing here reads the disk: the inventory, the config and the locks' digests come in as data.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from pathlib import PurePosixPath

from revops import secretscan, unitnames, values
from revops.config import Config, Suite, duration_seconds
from revops.values import parse_uid
from revops.generate import replica
from revops.generate.spec import (DEFAULT_RUN_USER, JOB, SERVICE, SETUP, VENV_IN_IMAGE, Healthcheck, Plan, ServiceSpec,
                                  Skipped, SuiteSpec)
from revops.model import Inventory, Unit

_HOST_FLAGS = ("--host", "-h")
_BIND_FLAGS = ("--bind", "-b")
_LOCAL_HOSTS = {"127.0.0.1", "0.0.0.0", "localhost", "::1", "::"}
_PYTHONS = re.compile(r"^(/usr(/local)?/bin/)?python3?(\.\d+)?$")
_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)*)?")  # argv[0]'s name: python, python3, python3.11
_PYTHON_OPTIONS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")  # python(1): the next word is theirs
_MEMORY = re.compile(r"^(\d+)([KMGT]?)$", re.IGNORECASE)
_CPU_QUOTA = re.compile(r"^(\d+(\.\d+)?)%$")
_FIRST_UID = 10001
# systemd's environment expansion in ExecStart: `$$` is a literal `$`, `$NAME`/`${NAME}` are expanded.
_SYSTEMD_DOLLAR = re.compile(r"\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def skip_reason(unit: Unit, config: Config, locked: set[str]) -> str | None:
    """Why a unit gets no container, or None when it is migrated."""
    if unit.deprecated or config.is_deprecated(unit.name):
        return "deprecated: retired, not migrated (see `deprecated:` in revops.yaml)"
    if getattr(unit, "template", False) or unit.name.endswith("@.service"):
        return "template unit: only its instances can be migrated"
    if unit.masked:
        return "masked: systemd will not run it, so neither will compose"
    suite = getattr(config.suite_of(unit.name), "name", None)
    if suite is None:
        return "in no suite: add it to a suite in revops.yaml to migrate it"
    fatal = [p for p in unit.problems if getattr(p, "fatal", False)]
    if fatal:
        return f"systemd would refuse it: {fatal[0].code} ({fatal[0].detail})"
    if not unit.exec_start:
        return "no ExecStart: nothing to run"
    if len(unit.exec_start) > 1 and unit_kind(unit) != SETUP:
        return (f"{len(unit.exec_start)} ExecStart lines: a container runs one command (only a one-shot set-up "
                "runs its lines as a chain of services); keep it under systemd (keep_on_host:) or split it")
    if _expands_variables(unit):
        return ("ExecStart uses $VAR expansion: systemd fills it from the unit's environment when it starts; "
                "a compose command cannot be mapped faithfully, so keep it under systemd or spell the value out")
    if not unit.working_directory:
        return "no WorkingDirectory: the service's code cannot be located to copy into the image"
    if unit.working_directory.startswith("~"):
        return (f"WorkingDirectory={unit.working_directory} unresolved: the user's home could not be read from "
                "the host's etc/passwd (see the unit's working-directory-unresolved problem)")
    if host_path(unit.working_directory, config) == "/":
        return "WorkingDirectory is /: the service's code cannot be told apart from the whole host"
    unsafe = unsafe_value(unit, config)
    if unsafe:
        return f"a value that cannot be written safely into a Dockerfile or compose file: {unsafe}"
    if suite not in locked:
        return f"no lock for suite {suite!r}: run `revops lock` first"
    return None


def unsafe_value(unit: Unit, config: Config) -> str | None:
    """The first value of the unit that fails revops.values' checks, as "what 'value': why"."""
    if not unitnames.is_valid(unit.name):
        return f"unit name {unit.name!r}: not a valid unit name"
    checks = [
        ("compose service name", unit.service_name, values.name),
        ("User=", run_user(unit), values.user_name),
        ("WorkingDirectory=", host_path(unit.working_directory or "", config), values.abs_path),
        ("port", unit.port, values.port),
    ]
    checks += [("ExecStart=", argv, values.argv) for argv in unit.exec_start]
    checks += [("EnvironmentFile=", path, values.abs_path) for path in unit.environment_files]
    for key, value in sorted(unit.environment.items()):
        checks.append(("Environment= name", key, values.env_key))
        if value is not None:  # a withheld value is never written
            checks.append((f"Environment={key}=", value, values.text))
    return values.first_problem(checks)


def _substitutes(unit: Unit) -> bool:
    """The `:` prefix turns systemd's environment substitution off for the command."""
    prefixes = getattr(unit, "exec_start_prefixes", None) or [""]
    return ":" not in prefixes[0]


def _expands_variables(unit: Unit) -> bool:
    return _substitutes(unit) and any(
        match.group() != "$$" for argv in unit.exec_start for word in argv for match in _SYSTEMD_DOLLAR.finditer(word))


def unit_kind(unit: Unit) -> str:
    """job (a timer fires it), setup (Type=oneshot, no timer: run once before others) or service."""
    if any(not t.masked for t in unit.timers):
        return JOB
    if unit.service_type == "oneshot":
        return SETUP
    return SERVICE


def other_destination(unit: Unit, config: Config) -> tuple[str, str] | None:
    """("retired" | "kept-on-host", reason) when revops.yaml gives the unit no container."""
    reason = config.retired(unit.name)
    if reason is not None:
        return "retired", f"retire: {reason}"
    reason = config.kept_on_host(unit.name)
    if reason is not None:
        return "kept-on-host", f"keep_on_host: {reason}"
    return None


def _unescape_dollars(argv: list[str]) -> list[str]:
    """What systemd passes for `$$`: one `$` (compose escaping happens in the templates)."""
    return [_SYSTEMD_DOLLAR.sub(lambda m: "$" if m.group() == "$$" else m.group(), word) for word in argv]


def host_path(path: str, config: Config) -> str:
    """A unit's path with the host root stripped, i.e. the path the service expects inside the image.

    On a host copied or made under a directory (root != /), units name absolute paths under it;
    inside the image the code lives where a real host keeps it.
    """
    root = str(config.root)
    if root != "/" and (path == root or path.startswith(root.rstrip("/") + "/")):
        return "/" + posixpath.relpath(path, root) if path != root else "/"
    return path


def map_argv(argv: list[str], venv: str | None, config: Config) -> tuple[tuple[str, ...], list[str]]:
    """ExecStart argv -> the container's command; returns it with notes on what changed."""
    venv_host = host_path(venv, config) if venv else None
    mapped, notes = map_venv([host_path(word, config) for word in argv], venv_host, VENV_IN_IMAGE)
    rebound = _rebind(mapped)
    if rebound != mapped:
        notes.append("listen address -> 0.0.0.0: inside the container loopback is the container's own; "
                     "exposure is set by the host side of the published port")
    return tuple(rebound), notes


def map_venv(argv: list[str], venv: str | None, to: str) -> tuple[list[str], list[str]]:
    """The argv with the paths in `venv` (its interpreter, its scripts, any file in it) moved
    to the same place in the venv at `to`, and a bare system interpreter (python3,
    /usr/bin/python3.11) replaced by `to`/bin/python, since the packages live in that venv.
    The one mapping of a unit's command onto a suite's venv: into the image (generate) and on
    the host (stabilize). Returns the new argv and notes on what changed."""
    notes: list[str] = []
    base = venv.rstrip("/") if venv else None
    to = to.rstrip("/")
    mapped = [_map_word(word, base, to) for word in argv]
    if _PYTHONS.match(mapped[0]):
        notes.append(f"interpreter {argv[0]} -> {to}/bin/python (the suite's packages live in the venv)")
        mapped[0] = f"{to}/bin/python"
    return mapped, notes


def _map_word(word: str, venv: str | None, to: str) -> str:
    if venv and (word == venv or word.startswith(venv + "/")):
        return to + word[len(venv):]
    return word


def _rebind(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, word in enumerate(out):
        if word in _HOST_FLAGS and i + 1 < len(out) and out[i + 1] in _LOCAL_HOSTS:
            out[i + 1] = "0.0.0.0"
        elif word.startswith("--host=") and word.split("=", 1)[1] in _LOCAL_HOSTS:
            out[i] = "--host=0.0.0.0"
        elif word in _BIND_FLAGS and i + 1 < len(out):
            out[i + 1] = _rebind_address(out[i + 1])
        elif word.startswith("--bind="):
            out[i] = "--bind=" + _rebind_address(word.split("=", 1)[1])
    return out


def _rebind_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if sep and host.strip("[]") in _LOCAL_HOSTS:
        return f"0.0.0.0:{port}"
    return value


def memory_limit(unit: Unit, suite: Suite) -> tuple[str, str | None]:
    """compose mem_limit from MemoryMax= (bytes, K, M, G, T), else the suite default."""
    raw = (unit.memory_max or "").strip()
    match = _MEMORY.match(raw)
    if match:
        number, unit_suffix = match.groups()
        return (f"{number}{unit_suffix.lower()}" if unit_suffix else f"{number}b"), None
    if raw and raw != "infinity":
        return suite.memory, f"MemoryMax={raw} has no fixed size; using the suite default {suite.memory}"
    return suite.memory, None


def cpu_limit(unit: Unit, suite: Suite) -> tuple[float, str | None]:
    """compose cpus from CPUQuota= (150% -> 1.5), else the suite default."""
    raw = (unit.cpu_quota or "").strip()
    match = _CPU_QUOTA.match(raw)
    if match and float(match.group(1)) > 0:
        return round(float(match.group(1)) / 100, 2), None
    if raw:
        return suite.cpus, f"CPUQuota={raw} not understood; using the suite default {suite.cpus}"
    return suite.cpus, None


def healthcheck(port: int | None, config: Config) -> Healthcheck:
    h = config.health
    if port is not None:
        # No curl in the base image: the venv's python fetches the URL; urlopen raises on >= 400.
        # Any 2xx is healthy, as revops' own probe (adapters/http.py) judges it.
        script = ("import sys, urllib.request; "
                  f"sys.exit(0 if 200 <= urllib.request.urlopen(sys.argv[1], timeout={max(1, int(duration_seconds(h.timeout)))}).status < 300 else 1)")
        test = ("CMD", f"{VENV_IN_IMAGE}/bin/python", "-c", script, f"http://127.0.0.1:{port}{h.path}")
        kind = "http"
    else:
        # A worker serves no HTTP: the check can only tell that PID 1 runs and is no zombie.
        script = "import sys; sys.exit(1 if open('/proc/1/stat').read().split(') ')[1][0] in 'ZX' else 0)"
        test = ("CMD", f"{VENV_IN_IMAGE}/bin/python", "-c", script)
        kind = "process"
    return Healthcheck(test, h.interval, h.timeout, h.retries, h.start_period, kind)


def secret_name(service: str) -> str:
    """The compose secret of a service, and its copy's file name: `<service>.env`."""
    return f"{service}.env"


def secret_file_path(name: str, config: Config, compose_dir: str) -> str:
    """Where compose finds a service's copy: relative to compose/ when the copies' directory
    (secrets.dir) lies in the ops repo, else absolute."""
    return _relative_if_inside(str(PurePosixPath(config.secrets_path) / name), str(config.base_dir), compose_dir)


def split_environment(unit: Unit, allow: tuple[str, ...]) -> tuple[list[tuple[str, str]], list[str]]:
    """(written inline, delivered in the secret file) of a unit's Environment=: a value the
    inventory withheld, or that looks like a secret now (secretscan, revops.yaml secrets.allow),
    never goes inline."""
    inline, withheld = [], []
    for key, value in sorted(unit.environment.items()):
        if value is None or secretscan.looks_secret(key, value, allow):
            withheld.append(key)
        else:
            inline.append((key, value))
    return inline, withheld


def _relative_if_inside(path: str, base: str, from_dir: str) -> str:
    base = base.rstrip("/") or "/"
    if base != "/" and (path == base or path.startswith(base + "/")):
        return posixpath.relpath(path, from_dir)
    return path


def run_user(unit: Unit) -> str:
    """The image user: User= (a numeric UID becomes "u<uid>", a name useradd accepts), or
    revflow for root and units with no User=."""
    if unit.user and unit.user not in ("root", "0"):
        uid = parse_uid(unit.user)
        return f"u{uid}" if uid is not None else unit.user
    return DEFAULT_RUN_USER


def service_spec(unit: Unit, suite: Suite, config: Config, migrated: dict[str, str],
                 kinds: dict[str, str] | None = None, *, line: int = 0, name: str | None = None) -> ServiceSpec:
    """migrated maps every migrated unit name to its compose service name (for depends_on);
    kinds maps compose service names to their kind (a set-up is waited for until it completed,
    a job is never waited for). `line` picks the ExecStart line, `name` the compose name (the
    steps of a set-up chain)."""
    kinds = kinds or {}
    raw = unit.exec_start[line]
    argv = _unescape_dollars(raw) if _substitutes(unit) else raw
    command, notes = map_argv(argv, unit.venv, config)
    mem, mem_note = memory_limit(unit, suite)
    cpus, cpu_note = cpu_limit(unit, suite)
    notes += [n for n in (mem_note, cpu_note) if n]
    environment, withheld = split_environment(unit, config.secrets_allow)
    notes += [f"Environment={key}=... looks like a secret: delivered in the secret file {secret_name(unit.service_name)}, "
              "never written here" for key in withheld]
    secret = secret_name(unit.service_name) if unit.environment_files or withheld else None
    if unit.user in ("root", "0") or not unit.user:
        notes.append(f"runs as {DEFAULT_RUN_USER!r}: the unit has {'User=' + unit.user if unit.user else 'no User='}")
    compose_dir = str(config.out("compose"))
    deps = sorted({migrated[dep] for dep in [*unit.after, *unit.requires]
                   if dep in migrated and dep != unit.name and migrated[dep] != unit.service_name})
    jobs = [d for d in deps if kinds.get(d) == JOB]
    if jobs:
        notes.append(f"After=/Requires= on the job(s) {', '.join(jobs)}: a job runs on its timer, not before "
                     "other services, so nothing waits for it")
    working_dir = host_path(unit.working_directory or "/", config)
    scripts = outside_scripts(command, working_dir)
    notes += [f"{script} is outside WorkingDirectory: build copies it into the image at the same path"
              for script in scripts]
    notes += [f"{path} (a file the program is handed, outside WorkingDirectory) is not copied into the image: "
              "settings may hold secrets; mount it, or move it into the code dir" for path in
              _outside_py_words(command, working_dir) if path not in scripts]
    kind = unit_kind(unit)
    if kind == JOB:
        notes.append("a job: never started by `up` (profile jobs); its timer stays in systemd and runs it once "
                     "in a fresh container (`compose run --rm`)")
    return ServiceSpec(
        name=name or unit.service_name, unit=unit.name, suite=suite.name, phase=suite.phase, image="",
        command=command, working_dir=working_dir, user=run_user(unit),
        environment=tuple(environment), port=unit.port, bind_address=config.health.bind_address,
        mem_limit=mem, cpus=cpus, depends_on=tuple(d for d in deps if kinds.get(d, SERVICE) == SERVICE),
        healthcheck=healthcheck(unit.port, config), code_dir=unit.working_directory or "/", notes=tuple(notes),
        secret=secret, secret_file=secret_file_path(secret, config, compose_dir) if secret else None,
        secret_keys=tuple(withheld),
        kind=kind, depends_completed=tuple(d for d in deps if kinds.get(d) == SETUP),
        timers=tuple(t.name for t in unit.timers if not t.masked),
        env_file_hosts=tuple(host_path(p, config) for p in unit.environment_files),
        scripts=scripts,
    )


def outside_scripts(command: tuple[str, ...], working_dir: str) -> tuple[str, ...]:
    """The Python script `command` runs (argv[0] a python, its options skipped: python(1)
    "interface options"), when it is a plain absolute `*.py` path outside `working_dir` and
    outside the image's venv: the image copies only the working directory, so without it the
    container fails with "can't open file". Only the script the interpreter runs: a `.py` the
    program is handed (a settings module, a gunicorn config) is configuration that may hold
    secrets, never copied into an image (service_spec notes it). A path as the image holds it
    (the host root already stripped); () when there is none."""
    script = _interpreter_script(command)
    return (script,) if script is not None and script in _outside_py_words(command, working_dir) else ()


def _interpreter_script(command: tuple[str, ...]) -> str | None:
    """The word python runs as its script: None for -c, -m, - (stdin) or a program not python."""
    if not command or not _PYTHON_NAME.fullmatch(PurePosixPath(command[0]).name):
        return None
    words = iter(command[1:])
    for word in words:
        if word == "--":
            return next(words, None)
        if word == "-" or word.startswith(("-c", "-m")):
            return None
        if word in _PYTHON_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _outside_py_words(command: tuple[str, ...], working_dir: str) -> list[str]:
    """The plain absolute `*.py` words after argv[0] outside `working_dir` and the image's venv,
    each once, in order (a path a Dockerfile could misread is never one: values.abs_path)."""
    base = working_dir.rstrip("/") or "/"
    found: list[str] = []
    for path in command[1:]:
        if not path.endswith(".py") or values.abs_path(path) is not None:
            continue
        inside = base == "/" or path.startswith(base + "/")
        if not inside and not path.startswith(VENV_IN_IMAGE + "/") and path not in found:
            found.append(path)
    return found


def setup_chain(unit: Unit, suite: Suite, config: Config, migrated: dict[str, str],
                kinds: dict[str, str]) -> list[ServiceSpec]:
    """A set-up's ExecStart lines as services run in order, each after the one before completed
    (systemd runs a oneshot's lines in order and stops at the first that fails); the last one
    has the unit's name, so its dependents wait for the whole chain."""
    count = len(unit.exec_start)
    names = [f"{unit.service_name}-step{i + 1}" for i in range(count - 1)] + [unit.service_name]
    specs = []
    for i, name in enumerate(names):
        spec = service_spec(unit, suite, config, migrated, kinds, line=i, name=name)
        if i:
            spec = dataclasses.replace(spec, depends_on=(), depends_completed=(names[i - 1],),
                                       notes=(*spec.notes, f"ExecStart line {i + 1} of {count}: runs once "
                                              f"{names[i - 1]} completed successfully"))
        elif count > 1:
            spec = dataclasses.replace(spec, notes=(*spec.notes, f"ExecStart line 1 of {count}"))
        specs.append(spec)
    return specs


def replica_spec(group: replica.Replicated, units: list[Unit], suite: Suite, config: Config,
                 migrated: dict[str, str], kinds: dict[str, str]) -> ServiceSpec:
    """One service for a template's numbered instances (see revops.generate.replica)."""
    first = dataclasses.replace(units[0], name=group.template, exec_start=[list(group.argv)],
                                environment=dict(group.environment))
    spec = service_spec(first, suite, config, migrated, kinds, name=_compose_name(unitnames.prefix(group.template)))
    command = replica.command(f"{VENV_IN_IMAGE}/bin/python", spec.command, group.substituted)
    note = (f"{len(units)} instances ({', '.join(group.instances)}) as {len(units)} replicas: instance names are "
            "numbers, so %i is each replica's number (read from its DNS name when it starts)")
    # a script named by its instance's number (/opt/w/%i.py): each replica runs its own file
    numbers = [unitnames.instance(name) or "" for name in group.instances]
    scripts = tuple(dict.fromkeys(s.replace(replica.PLACEHOLDER, n) for s in spec.scripts for n in numbers))
    return dataclasses.replace(spec, command=command, replicas=len(units), instances=group.instances,
                               notes=(*spec.notes, note), scripts=scripts)


def _compose_name(stem: str) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]", "-", stem)


def plan(inventory: Inventory, config: Config, lock_digests: dict[str, str]) -> Plan:
    """Every unit becomes a service of its suite (a job, a set-up, replicas), has another
    destination (retired, kept on the host), or is skipped with a reason."""
    result = Plan()
    chosen: list[tuple[Unit, Suite]] = []
    for unit in sorted(inventory.units, key=lambda u: u.name):
        other = other_destination(unit, config) if not (unit.masked or config.is_deprecated(unit.name)) else None
        if other is not None:
            (result.retired if other[0] == "retired" else result.kept_on_host).append(Skipped(unit.name, other[1]))
            continue
        reason = skip_reason(unit, config, set(lock_digests))
        if reason:
            result.skipped.append(Skipped(unit.name, reason))
            continue
        suite = config.suite_of(unit.name)
        assert suite is not None  # skip_reason() skipped the units of no suite
        chosen.append((unit, suite))
    groups, notes = _replica_groups(chosen)
    in_groups = {u.name for units, _ in groups.values() for u in units}
    singles = [(u, s) for u, s in chosen if u.name not in in_groups]
    result.skipped.extend(_name_clashes(singles + [(units[0], suite) for units, suite in groups.values()],
                                        {g.template: _compose_name(unitnames.prefix(g.template)) for g in groups}))
    clashing = {s.unit for s in result.skipped}
    singles = [(u, s) for u, s in singles if u.name not in clashing]
    migrated = {u.name: u.service_name for u, _ in singles}
    kinds = {u.service_name: unit_kind(u) for u, _ in singles}
    for group, (units, _suite) in groups.items():
        if units[0].name in clashing:
            continue
        name = _compose_name(unitnames.prefix(group.template))
        migrated.update({u.name: name for u in units} | {group.template: name})
        kinds[name] = SERVICE
    by_suite: dict[str, list[ServiceSpec]] = {}
    for unit, suite in singles:
        if unit_kind(unit) == SETUP:
            specs = setup_chain(unit, suite, config, migrated, kinds)
        else:
            spec = service_spec(unit, suite, config, migrated, kinds)
            specs = [dataclasses.replace(spec, notes=(*spec.notes, notes[unit.name])) if unit.name in notes else spec]
        by_suite.setdefault(suite.name, []).extend(specs)
    for group, (units, suite) in groups.items():
        if units[0].name not in clashing:
            by_suite.setdefault(suite.name, []).append(replica_spec(group, units, suite, config, migrated, kinds))
    for suite in sorted(config.suites, key=lambda s: (s.phase, s.name)):
        services = tuple(sorted(by_suite.get(suite.name, []), key=lambda s: s.name))
        if not services:
            continue
        users = {user: _FIRST_UID + i for i, user in enumerate(sorted({s.user for s in services}))}
        result.suites.append(SuiteSpec(
            name=suite.name, phase=suite.phase, lock_path=f"{config.lockfiles_dir}/{suite.name}.txt",
            lock_digest=lock_digests[suite.name],
            services=tuple(dataclasses.replace(s, uid=users[s.user]) for s in services),
            users=tuple(users.items()),
        ))
    result.skipped.sort(key=lambda s: s.unit)
    return result


def _name_clashes(chosen: list[tuple[Unit, Suite]], renamed: dict[str, str] | None = None) -> list[Skipped]:
    """Units whose compose name another took first (`renamed`: {template: name} of replicas)."""
    renamed = renamed or {}
    seen: dict[str, str] = {}
    clashes = []
    for unit, _ in chosen:
        key = unitnames.template_of(unit.name) if unitnames.is_instance(unit.name) else unit.name
        name = renamed.get(key, unit.service_name)
        steps = [name] + ([f"{name}-step{i + 1}" for i in range(len(unit.exec_start) - 1)]
                          if unit_kind(unit) == SETUP else [])
        taken = next((seen[n] for n in steps if n in seen and seen[n] != key), None)
        if taken is not None:
            clashes.append(Skipped(unit.name, f"its compose name {name!r} is taken by {taken}"))
            continue
        for n in steps:
            seen[n] = key
    return clashes


def _replica_groups(chosen: list[tuple[Unit, Suite]]
                    ) -> tuple[dict[replica.Replicated, tuple[list[Unit], Suite]], dict[str, str]]:
    """The templates whose instances become one replicated service, and for the others why not."""
    by_template: dict[str, list[tuple[Unit, Suite]]] = {}
    for unit, suite in chosen:
        if unitnames.is_instance(unit.name):
            by_template.setdefault(unitnames.template_of(unit.name), []).append((unit, suite))
    groups: dict[replica.Replicated, tuple[list[Unit], Suite]] = {}
    notes: dict[str, str] = {}
    for template, members in sorted(by_template.items()):
        units = [u for u, _ in members]
        suites = {s.name for _, s in members}
        group, why = replica.derive(units) if len(suites) == 1 and unit_kind(units[0]) == SERVICE else (
            None, "instances of different suites or kinds: one service per instance")
        if group is None:
            notes.update({u.name: f"{template}: {why}" for u in units} if len(units) > 1 else {})
            continue
        groups[group] = (units, members[0][1])
    return groups, notes
