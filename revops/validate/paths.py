"""Paths a compose file or Dockerfile names: inside the ops repo, and absolute where they must be.

Compose reads a build context, an env_file, a secret's file, an `extends` file or an `include` on the machine
that runs it, relative to the compose file. A file under review that names `../../etc` would
make CI (or the operator) send host files to the engine or into a container's environment, so
every such path must resolve (symlinks followed) inside the ops repo, or be one of the host
files the config names (the shared env file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from revops.validate.documents import ComposeDoc, DockerfileDoc
from revops.validate.findings import ERROR, Finding
from revops.validate.registry import Context, rule, service_key

REPO_MARKERS = (".git", "revops.yaml")
# Build contexts that are not directories: an image or another service (compose-spec build.additional_contexts).
NOT_PATHS = ("docker-image://", "service:", "target:")


def repo_of(doc: ComposeDoc, ctx: Context) -> Path:
    """The ops repo: the configured one, else the nearest directory above the file holding
    .git or revops.yaml, else the file's own directory."""
    if ctx.repo is not None:
        return ctx.repo.resolve()
    start = doc.path.resolve().parent
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in REPO_MARKERS):
            return directory
    return start


def named_paths(doc: ComposeDoc) -> Iterator[tuple[str | None, str, str, str, Path]]:
    """(service, dotted key, what, value, base directory) of every path compose reads on its host."""
    base = doc.path.parent
    for name, svc in doc.services().items():
        build = svc.get("build")
        if isinstance(build, str):
            yield name, service_key(name, "build"), "build context", build, base
        elif isinstance(build, dict):
            context = str(build.get("context", "."))
            yield name, service_key(name, "build", "context"), "build context", context, base
            dockerfile = build.get("dockerfile")
            if isinstance(dockerfile, str) and not _remote(context):
                yield name, service_key(name, "build", "dockerfile"), "Dockerfile", dockerfile, base / context
            extra = build.get("additional_contexts")
            pairs = extra.items() if isinstance(extra, dict) else (
                str(e).split("=", 1) for e in extra if "=" in str(e)) if isinstance(extra, list) else []
            for key, value in pairs:
                yield name, service_key(name, "build", "additional_contexts", str(key)), "build context", str(value), base
        files = svc.get("env_file")
        for i, entry in enumerate([files] if isinstance(files, (str, dict)) else files if isinstance(files, list) else []):
            path = entry.get("path") if isinstance(entry, dict) else entry
            if path is not None:
                yield name, service_key(name, "env_file", str(i)), "env_file", str(path), base
        extends = svc.get("extends")
        if isinstance(extends, dict) and extends.get("file") is not None:
            yield name, service_key(name, "extends", "file"), "extends file", str(extends["file"]), base
    secrets = doc.data.get("secrets")
    for name, spec in (secrets.items() if isinstance(secrets, dict) else []):
        if isinstance(spec, dict) and isinstance(spec.get("file"), str):
            yield None, f"secrets.{name}.file", "secret file", spec["file"], base
    include = doc.data.get("include")
    for i, entry in enumerate(include if isinstance(include, list) else []):
        for what, value in _include_paths(entry):
            yield None, f"include.{i}", what, value, base


def _include_paths(entry: Any) -> Iterator[tuple[str, str]]:
    if isinstance(entry, str):
        yield "included file", entry
    elif isinstance(entry, dict):
        for key, what in (("path", "included file"), ("env_file", "env_file"), ("project_directory", "project directory")):
            values = entry.get(key)
            for value in values if isinstance(values, list) else [values] if values is not None else []:
                yield what, str(value)


def _remote(value: str) -> bool:
    return "://" in value or value.startswith(("git@", "github.com/"))


@rule("outside-repo", ERROR, "build contexts, Dockerfiles, env_file, secret files, extends and include name "
      "paths inside the ops repo (resolved from the compose file, symlinks followed); the config's shared env "
      "file and the copies revops writes into secrets.dir excepted")
def outside_repo(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    repo = repo_of(doc, ctx)
    trusted = {path.resolve() for path in ctx.trusted_paths}
    copies = ctx.secrets_dir.resolve() if ctx.secrets_dir is not None else None
    found = []
    for service, key, what, value, base in named_paths(doc):
        if "$" in value or value.startswith(NOT_PATHS):
            continue  # interpolated (known only when compose runs), or not a path
        if _remote(value):
            found.append(doc.finding(service, key, "outside-repo", ERROR,
                                     f"{what} {value} is fetched from elsewhere: build from a context in the repo"))
            continue
        if value.startswith("~"):
            found.append(doc.finding(service, key, "outside-repo", ERROR,
                                     f"{what} {value} is in the home directory of whoever runs compose, outside "
                                     f"the repo {repo}"))
            continue
        resolved = (base / value).resolve()
        if resolved in trusted or resolved == repo or resolved.is_relative_to(repo) or (
                what == "secret file" and resolved.parent == copies):
            continue
        found.append(doc.finding(service, key, "outside-repo", ERROR,
                                 f"{what} {value} resolves to {resolved}, outside the repo {repo}: compose would "
                                 "read it from whichever machine runs it; keep it in the repo"))
    return found


def workdir_problem(path: str) -> str | None:
    """Why a working directory is unusable as written, or None: it must be absolute, with no `~`
    (neither compose nor Docker expands it: the process would run in a directory named "~")."""
    text = path.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    if text.startswith("$"):
        return None  # interpolated: known only at build or run time
    if "~" in text:
        return f"{path!r} holds '~', which neither compose nor Docker expands to a home directory"
    if not text.startswith("/"):
        return f"{path!r} is not absolute: it would depend on the image's previous working directory"
    return None


@rule("working-dir", ERROR, "a service's working_dir is an absolute path with no '~'")
def working_dir(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        value = svc.get("working_dir")
        problem = workdir_problem(str(value)) if value is not None else None
        if problem:
            found.append(doc.finding(name, service_key(name, "working_dir"), "working-dir", ERROR,
                                     f"working_dir {problem}; write the absolute path"))
    return found


@rule("dockerfile-workdir", ERROR, "every WORKDIR is an absolute path with no '~' (WORKDIR takes no JSON form)",
      "dockerfile")
def dockerfile_workdir(doc: DockerfileDoc, ctx: Context) -> list[Finding]:
    found = []
    for ins in doc.instructions:
        if ins.keyword != "WORKDIR":
            continue
        problem = workdir_problem(ins.args)
        if problem and ins.args.strip().startswith("["):
            problem = f"{ins.args!r} is not a path: WORKDIR has no JSON form, Docker would take the brackets literally"
        if problem:
            found.append(Finding(doc.name, None, "WORKDIR", "dockerfile-workdir", ERROR,
                                 f"WORKDIR {problem}; write the absolute path", ins.line))
    return found
