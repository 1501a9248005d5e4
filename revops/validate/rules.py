"""The rules revops holds compose files and Dockerfiles to, each with a stable id.

Each rule is a function of one document (and the context) returning findings; RULES lists them
with their severity and a one-line description (used by SARIF and the docs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from revops.validate import registry
from revops.validate.documents import ComposeDoc, DockerfileDoc
from revops.validate.findings import ERROR, WARNING, Finding
from revops.validate.registry import RULES, Context, Rule, rule, service_key as _key

__all__ = ["RULES", "Context", "Rule", "check_compose", "check_dockerfile", "image_pin_problem"]

DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
RESTART_POLICIES = re.compile(r"^(always|unless-stopped|on-failure(:\d+)?)$")
ROOT_USERS = {"root", "0"}


@rule("healthcheck-missing", ERROR, "every service has an enabled healthcheck with a test")
def healthcheck_missing(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        hc = svc.get("healthcheck")
        if not isinstance(hc, dict) or hc.get("disable") is True or _test_disabled(hc.get("test")):
            found.append(doc.finding(name, _key(name, "healthcheck"), "healthcheck-missing", ERROR,
                                     "no healthcheck (or disabled): compose cannot tell a hung service from a healthy one"))
    return found


def _test_disabled(test: Any) -> bool:
    if test is None:
        return True
    if isinstance(test, list):
        return not test or test[0] == "NONE"
    return not str(test).strip()


@rule("healthcheck-duration", ERROR, "healthcheck interval, timeout and start_period are valid durations; retries a positive integer")
def healthcheck_duration(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        hc = svc.get("healthcheck")
        if not isinstance(hc, dict):
            continue
        for field in ("interval", "timeout", "start_period"):
            if field in hc and not (isinstance(hc[field], str) and DURATION.match(hc[field]) and _positive(hc[field])):
                found.append(doc.finding(name, _key(name, "healthcheck", field), "healthcheck-duration", ERROR,
                                         f"{field}: {hc[field]!r} is not a duration such as 30s or 1m30s"))
        retries = hc.get("retries")
        if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 1):
            found.append(doc.finding(name, _key(name, "healthcheck", "retries"), "healthcheck-duration", ERROR,
                                     f"retries: {retries!r} is not a positive integer"))
    return found


def _positive(duration: str) -> bool:
    return any(float(n) > 0 for n in re.findall(r"\d+(?:\.\d+)?", duration))


@rule("restart-missing", ERROR, "every long-running service has a restart policy other than \"no\"")
def restart_missing(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    once = _runs_once(doc.services())
    for name, svc in doc.services().items():
        policy = svc.get("restart")
        if name in once and str(policy) == "no":
            continue  # a job or a set-up: its exit is its result, a restart would run it again
        deploy = (svc.get("deploy") or {}).get("restart_policy") if isinstance(svc.get("deploy"), dict) else None
        if policy is None and deploy:
            continue
        if policy is None or not RESTART_POLICIES.match(str(policy)):
            found.append(doc.finding(name, _key(name, "restart"), "restart-missing", ERROR,
                                     f"restart: {policy!r}: use unless-stopped (or always, on-failure) so a crash is recovered"))
    return found


def _runs_once(services: dict[str, Any]) -> set[str]:
    """Services meant to exit: a job in a `profiles:` (never started by `up`, run by its timer
    with `compose run --rm`) or a set-up another service waits for with `condition:
    service_completed_successfully` (compose spec, depends_on long syntax), or one generate
    labelled so (`revops.kind`: a Type=oneshot unit that nothing waits for)."""
    once = {name for name, svc in services.items() if isinstance(svc, dict) and (
        svc.get("profiles") or (isinstance(svc.get("labels"), dict)
                                and svc["labels"].get("revops.kind") in ("job", "setup")))}
    for svc in services.values():
        deps = svc.get("depends_on") if isinstance(svc, dict) else None
        if isinstance(deps, dict):
            once |= {str(k) for k, v in deps.items()
                     if isinstance(v, dict) and v.get("condition") == "service_completed_successfully"}
    return once


def _depends(svc: dict[str, Any]) -> list[str]:
    deps = svc.get("depends_on") or []
    if isinstance(deps, dict):
        return [str(k) for k in deps]
    return [str(d) for d in deps] if isinstance(deps, list) else []


@rule("depends-on-unknown", ERROR, "depends_on names services defined in the same file")
def depends_on_unknown(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    services = doc.services()
    return [doc.finding(name, _key(name, "depends_on", dep), "depends-on-unknown", ERROR,
                        f"depends on {dep!r}, which this file does not define")
            for name, svc in services.items() for dep in _depends(svc) if dep not in services]


@rule("depends-on-cycle", ERROR, "depends_on has no cycle")
def depends_on_cycle(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    graph = {name: [d for d in _depends(svc)] for name, svc in doc.services().items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep in graph and state.get(dep) is None:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [node])
    return [doc.finding(cycle[0], _key(cycle[0], "depends_on"), "depends-on-cycle", ERROR,
                        "depends_on cycle: " + " -> ".join(cycle)) for cycle in cycles]


@rule("network-undefined", ERROR, "every network a service joins is declared under top-level networks")
def network_undefined(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    declared = set((doc.data.get("networks") or {}).keys()) if isinstance(doc.data.get("networks"), dict) else set()
    found = []
    for name, svc in doc.services().items():
        nets = svc.get("networks") or []
        names = list(nets.keys()) if isinstance(nets, dict) else list(nets)
        for net in names:
            if net != "default" and net not in declared:
                found.append(doc.finding(name, _key(name, "networks"), "network-undefined", ERROR,
                                         f"joins network {net!r}, which is not declared under top-level networks"))
    return found


@rule("env-file-missing", ERROR, "every env_file exists (paths relative to the compose file)")
def env_file_missing(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        files = svc.get("env_file") or []
        for i, entry in enumerate([files] if isinstance(files, (str, dict)) else files):
            path = entry.get("path") if isinstance(entry, dict) else entry
            required = entry.get("required", True) if isinstance(entry, dict) else True
            if path is None or not required:
                continue
            resolved = Path(path) if Path(str(path)).is_absolute() else doc.path.parent / str(path)
            if not resolved.is_file():
                found.append(doc.finding(name, _key(name, "env_file", str(i)), "env-file-missing", ERROR,
                                         f"env_file {path} does not exist (looked at {resolved})"))
    return found


@rule("root-user", ERROR, "no service runs as root")
def root_user(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        user = svc.get("user")
        if user is None:
            found.append(doc.finding(name, _key(name, "user"), "root-user", WARNING,
                                     "no user: runs as the image's default user, root unless the image sets USER"))
        elif str(user).split(":")[0] in ROOT_USERS:
            found.append(doc.finding(name, _key(name, "user"), "root-user", ERROR,
                                     f"user: {user!r} runs as root; use the service's own non-root user"))
    return found


def image_pin_problem(image: str, base_image: str | None) -> tuple[str, str] | None:
    """(severity, message) when an image reference is not pinned, else None."""
    if "@sha256:" in image:
        return None
    name, tag = _split_tag(image)
    if tag not in (None, "latest"):
        return None
    what = f"{image!r} is {'unpinned' if tag is None else 'the moving tag latest'}"
    if base_image and _split_tag(base_image)[0] == name:
        return WARNING, f"{what}: tolerated for the configured base during the migration; pin it"
    return ERROR, f"{what}: pin a tag or digest so a rebuild gives the same image"


def _split_tag(image: str) -> tuple[str, str | None]:
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image[: image.rfind(":")], image[image.rfind(":") + 1:]
    return image, None


@rule("image-unpinned", ERROR, "images are pinned (no bare or latest tag; the configured base is only a warning)")
def image_unpinned(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        image = svc.get("image")
        if isinstance(image, str):
            problem = image_pin_problem(image, ctx.base_image)
            if problem:
                found.append(doc.finding(name, _key(name, "image"), "image-unpinned", problem[0], problem[1]))
    return found


def _from_image(instruction) -> str:
    words = [w for w in instruction.args.split() if not w.startswith("--")]
    return words[0] if words else ""


def _stages(doc: DockerfileDoc) -> list[tuple[str | None, list]]:
    stages: list[tuple[str | None, list]] = []
    for ins in doc.instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            stage = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append((stage, [ins]))
        elif stages:
            stages[-1][1].append(ins)
    return stages


@rule("dockerfile-from-unpinned", ERROR, "a Dockerfile's FROM images are pinned (the configured base: a warning)", "dockerfile")
def dockerfile_from_unpinned(doc: DockerfileDoc, ctx: Context) -> list[Finding]:
    found = []
    names: set[str] = set()
    for stage, instructions in _stages(doc):
        image = _from_image(instructions[0])
        if image.lower() not in names and image != "scratch" and "$" not in image:
            problem = image_pin_problem(image, ctx.base_image)
            if problem:
                found.append(Finding(doc.name, stage, "FROM", "dockerfile-from-unpinned", problem[0], problem[1],
                                     instructions[0].line))
        if stage:
            names.add(stage.lower())
    return found


@rule("dockerfile-cmd-exec-form", ERROR, "CMD and ENTRYPOINT use the exec form (a JSON argv), never a shell string", "dockerfile")
def dockerfile_cmd_exec_form(doc: DockerfileDoc, ctx: Context) -> list[Finding]:
    found = []
    for stage, instructions in _stages(doc):
        for ins in instructions:
            if ins.keyword in ("CMD", "ENTRYPOINT") and not _json_argv(ins.args):
                found.append(Finding(doc.name, stage, ins.keyword, "dockerfile-cmd-exec-form", ERROR,
                                     f"{ins.keyword} {ins.args[:60]!r} is shell form: signals reach the shell, "
                                     "not the service, and the text is re-parsed", ins.line))
    return found


def _json_argv(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


@rule("dockerfile-root-user", ERROR, "every final stage switches to a non-root USER", "dockerfile")
def dockerfile_root_user(doc: DockerfileDoc, ctx: Context) -> list[Finding]:
    stages = _stages(doc)
    used = {_from_image(ins[0]).lower() for _, ins in stages}
    found = []
    for stage, instructions in stages:
        if stage and stage.lower() in used:
            continue  # a base for other stages, not an image that runs
        users = [i for i in instructions if i.keyword == "USER"]
        user = users[-1].args.split(":")[0].strip() if users else None
        if user is None or user in ROOT_USERS:
            found.append(Finding(doc.name, stage, "USER", "dockerfile-root-user", ERROR,
                                 "the image runs as root: add USER with a non-root user",
                                 (users[-1] if users else instructions[0]).line))
    return found


# Shell text that runs what it was given: command substitution, word-splitting tricks, a pipe
# into a shell, eval. Harmless build steps do not need them; an injected value usually does.
_INJECTION = re.compile(r"\$\(|`|\$\{?IFS\b|\|\s*(ba|da|z|k)?sh\b|\beval\s")


@rule("dockerfile-run-injection", ERROR, "no shell-form RUN carries command substitution, $IFS tricks, a pipe into a shell or eval", "dockerfile")
def dockerfile_run_injection(doc: DockerfileDoc, ctx: Context) -> list[Finding]:
    found = []
    for stage, instructions in _stages(doc):
        for ins in instructions:
            if ins.keyword != "RUN" or _json_argv(ins.args):
                continue
            match = _INJECTION.search(ins.args)
            if match:
                found.append(Finding(doc.name, stage, "RUN", "dockerfile-run-injection", ERROR,
                                     f"RUN runs shell text with {match.group()!r}: a value reached the shell; "
                                     "use the exec form and plain values", ins.line))
    return found


def check_compose(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    return registry.check(doc, ctx, "compose")


def check_dockerfile(doc: DockerfileDoc, ctx: Context) -> list[Finding]:
    return registry.check(doc, ctx, "dockerfile")


# The rules of the other modules register themselves when imported.
from revops.validate import cis, paths, ports, secrets, stack  # noqa: E402,F401
