"""generate parses what it is about to write, and refuses to write anything else.

Each compose file must load with revops' one YAML loader (revops.yamlsafe) into the services the plan holds, with
the plan's values (command, working_dir, user, image, secrets and no env_file, environment,
ports, labels).
Each Dockerfile is parsed by BuildKit's own Dockerfile parser (the `dockerfile` package wraps
moby/buildkit's Go parser, so this is the grammar `docker build` reads, not an imitation):
every instruction must be a Dockerfile instruction, each service must have its build stage
whose CMD is the plan's command and whose ENTRYPOINT the plan's (or none) in JSON form, whose WORKDIR is the plan's path and whose COPY
is in JSON form, and each image user must be created by a JSON-form RUN. A value that changed
the structure of a file (a newline, a quote, a shell word) shows up here as a mismatch.
"""

from __future__ import annotations

from typing import Any

import dockerfile
import jinja2

from revops import yamlsafe
from revops.errors import ConfigError
from revops.generate import render as R
from revops.generate import stack
from revops.generate.spec import Plan, ServiceSpec, SuiteSpec

INSTRUCTIONS = {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}


class _Mismatch(ValueError):
    pass


def check_files(plan: Plan, files: dict[str, str], settings: R.Settings, env: jinja2.Environment,
                stack_services: "list[stack.StackService] | None" = None) -> None:
    """ConfigError (exit 2) naming the file, when a rendered file does not parse into the plan."""
    everything = [s for suite in plan.suites for s in suite.services]
    for rel, text in files.items():
        try:
            if rel.endswith(stack.STACK_SUFFIX):
                check_stack(text, stack_services or [], settings.network)
            elif rel.endswith("/Dockerfile"):
                suite = next(s for s in plan.suites if R.dockerfile_path(s.name) == rel)
                check_dockerfile(text, suite)
            elif rel.endswith(".yml"):
                suite_name = rel[: -len(".yml")]
                services = everything if rel == R.TOP_LEVEL else \
                    [s for suite in plan.suites if suite.name == suite_name for s in suite.services]
                check_compose(text, services, settings)
        except _Mismatch as exc:
            raise ConfigError(f"compose/{rel}", None, f"the rendered file does not parse into the plan: {exc}; "
                              f"nothing written (templates: {_template_dirs(env)})") from None


def _template_dirs(env: jinja2.Environment) -> str:
    return ", ".join(str(d) for d in getattr(env.loader, "directories", []))


# -- Dockerfiles ---------------------------------------------------------------------------


def check_dockerfile(text: str, suite: SuiteSpec) -> None:
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise _Mismatch(f"BuildKit cannot parse it: {exc}") from None
    for c in commands:
        if c.cmd.upper() not in INSTRUCTIONS:
            raise _Mismatch(f"line {c.start_line}: {c.cmd!r} is not a Dockerfile instruction")
    stages = _stages(commands)
    users = {c.value[-1] for c in commands if c.cmd.upper() == "RUN" and c.json and c.value}
    for user, _uid in suite.users:
        if user not in users:
            raise _Mismatch(f"no JSON-form RUN creates the user {user!r}")
    for s in suite.services:
        stage = stages.get(s.name)
        if stage is None:
            raise _Mismatch(f"no build stage named {s.name!r}")
        _expect_stage(stage, s)


def _stages(commands: tuple[Any, ...]) -> dict[str, list[Any]]:
    stages: dict[str, list[Any]] = {}
    current: list[Any] | None = None
    for c in commands:
        if c.cmd.upper() == "FROM":
            words = list(c.value)
            current = []
            if len(words) == 3 and words[1].upper() == "AS":
                stages[words[2]] = current
            continue
        if current is not None:
            current.append(c)
    return stages


def _expect_stage(stage: list[Any], s: ServiceSpec) -> None:
    cmds = [c for c in stage if c.cmd.upper() == "CMD"]
    if not cmds or not cmds[-1].json or list(cmds[-1].value) != list(s.command):
        raise _Mismatch(f"stage {s.name!r}: CMD is not the command {list(s.command)} in JSON form")
    entrypoints = [c for c in stage if c.cmd.upper() == "ENTRYPOINT"]
    want = list(s.entrypoint) if s.entrypoint else None
    got = (list(entrypoints[-1].value) if entrypoints[-1].json else "shell form") if entrypoints else None
    if got != want:
        raise _Mismatch(f"stage {s.name!r}: ENTRYPOINT is {got!r}, the plan has {want!r} in JSON form")
    workdirs = [c for c in stage if c.cmd.upper() == "WORKDIR"]
    if workdirs and list(workdirs[-1].value) != [s.working_dir]:
        raise _Mismatch(f"stage {s.name!r}: WORKDIR is {list(workdirs[-1].value)}, not {s.working_dir!r}")
    for c in stage:
        if c.cmd.upper() in ("COPY", "ADD") and not c.json:
            raise _Mismatch(f"line {c.start_line}: stage {s.name!r}: {c.cmd} is not in JSON form")
    copies = [list(c.value) for c in stage if c.cmd.upper() == "COPY"]
    for number, script in enumerate(s.scripts, start=1):
        if [f".stage/scripts/{s.name}/{number}", script] not in copies:
            raise _Mismatch(f"stage {s.name!r}: no COPY of the script {script!r} its command runs")


# -- compose files -------------------------------------------------------------------------


def _cq(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, (list, tuple)):
        return [_cq(v) for v in value]
    return value


def check_compose(text: str, services: list[ServiceSpec], settings: R.Settings) -> None:
    try:  # the loader every reader of these files uses (validate, migrate): bounded, no duplicate keys
        doc = yamlsafe.load_text(text, "compose file").data
    except yamlsafe.YamlError as exc:
        raise _Mismatch(f"not YAML revops reads: {exc.message}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise _Mismatch("no services: mapping at the top")
    got = doc["services"]
    if sorted(got) != sorted(s.name for s in services):
        raise _Mismatch(f"services are {sorted(map(str, got))}, the plan has {sorted(s.name for s in services)}")
    networks = doc.get("networks")
    if not isinstance(networks, dict) or settings.network not in networks:
        raise _Mismatch(f"the network {settings.network!r} is not declared")
    secrets = {s.secret: {"file": _cq(s.secret_file)} for s in services if s.secret} or None
    if doc.get("secrets") != secrets:
        raise _Mismatch(f"secrets are {doc.get('secrets')!r}, the plan has {secrets!r}")
    for s in services:
        _expect_service(got[s.name], s)


def _expect_service(svc: Any, s: ServiceSpec) -> None:
    if not isinstance(svc, dict):
        raise _Mismatch(f"service {s.name!r} is not a mapping")
    expected = {
        "image": s.image, "command": _cq(list(s.command)), "working_dir": _cq(s.working_dir),
        "user": f"{s.uid}:{s.uid}", "env_file": None, "secrets": [s.secret] if s.secret else None,
        "environment": {k: _cq(v) for k, v in s.environment} or None,
        "ports": [f"{s.bind_address}:{s.port}:{s.port}"] if s.port is not None else None,
        "labels": {k: _cq(v) for k, v in s.labels.items()},
    }
    for key, want in expected.items():
        if svc.get(key) != want:
            raise _Mismatch(f"service {s.name!r}: {key} is {svc.get(key)!r}, the plan has {want!r}")


# -- the stack file ------------------------------------------------------------------------


def check_stack(text: str, services: "list[stack.StackService]", network: str) -> None:
    """The stack file holds the plan's services with the plan's values, and nothing that would
    carry an env file's values or build on a node (no env_file, no build)."""
    try:
        doc = yamlsafe.load_text(text, "stack file").data
    except yamlsafe.YamlError as exc:
        raise _Mismatch(f"not YAML revops reads: {exc.message}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise _Mismatch("no services: mapping at the top")
    got = doc["services"]
    if sorted(got) != sorted(s.spec.name for s in services):
        raise _Mismatch(f"services are {sorted(map(str, got))}, the plan has {sorted(s.spec.name for s in services)}")
    networks = doc.get("networks")
    if not isinstance(networks, dict) or not isinstance(networks.get(network), dict) \
            or networks[network].get("external") is not True:
        raise _Mismatch(f"the network {network!r} is not declared external")
    declared = doc.get("secrets") or {}
    for item in services:
        _expect_stack_service(got[item.spec.name], item, declared)


def _expect_stack_service(svc: Any, item: "stack.StackService", declared: Any) -> None:
    s = item.spec
    if not isinstance(svc, dict) or not isinstance(svc.get("deploy"), dict):
        raise _Mismatch(f"service {s.name!r} is not a mapping with deploy:")
    for key in ("build", "env_file", "container_name", "depends_on"):
        if key in svc:
            raise _Mismatch(f"service {s.name!r} has {key}:, which a stack file must not carry")
    port = [{"target": s.port, "published": s.port, "protocol": "tcp", "mode": "host"}] if item.published else None
    expected = {
        "image": _cq(item.image), "command": _cq(list(s.command)), "working_dir": _cq(s.working_dir),
        "user": _cq(f"{s.uid}:{s.uid}"), "environment": {k: _cq(v) for k, v in s.environment} or None, "ports": port,
        "labels": {k: _cq(v) for k, v in s.labels.items()},
        "secrets": [{"source": item.secret.name, "target": item.secret.target, "uid": str(s.uid),
                     "gid": str(s.uid), "mode": stack.SECRET_MODE}] if item.secret else None,
    }
    for key, want in expected.items():
        if svc.get(key) != want:
            raise _Mismatch(f"service {s.name!r}: {key} is {svc.get(key)!r}, the plan has {want!r}")
    deploy = svc["deploy"]
    for key, want in (("mode", item.mode), ("replicas", item.replicas), ("endpoint_mode", "dnsrr")):
        if deploy.get(key) != want:
            raise _Mismatch(f"service {s.name!r}: deploy.{key} is {deploy.get(key)!r}, the plan has {want!r}")
    if item.secret is not None:
        name = item.secret.name
        if not isinstance(declared, dict) or declared.get(name) != {"external": True, "name": name}:
            raise _Mismatch(f"secret {name!r} is not declared external under that name")
