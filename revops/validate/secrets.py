"""Secrets in compose files: inline values, interpolation defaults, and the files of `secrets:`.

Whether a value looks like a secret is revops.secretscan's answer (detect-secrets plus names).
No finding ever repeats the value: it names the key and the kind of secret.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any, Iterator

from revops import secretscan
from revops.validate.documents import ComposeDoc
from revops.validate.findings import ERROR, Finding
from revops.validate.registry import Context, rule, service_key

# Forms that put text of the file in the value when the variable is missing (or, for +, set):
# compose-spec 12-interpolation.md. `?` forms carry an error message, not a value.
FALLBACK_OPERATORS = (":-", "-", ":+", "+")
MAX_NESTING = 16  # ${A:-${B:-...}} deeper than this is read as text: no recursion without bound


@dataclass(frozen=True)
class Fallback:
    variable: str
    text: str  # the literal text compose would substitute, nested references left out


def interpolate(value: str, depth: int = 0) -> tuple[str, list[Fallback]]:
    """(the value's literal text with every reference left out, the fallbacks it holds).

    Compose's interpolation (compose-spec 12-interpolation.md): `$$` is a literal `$`; `$NAME`
    and `${NAME}` are references; `${NAME:-text}`, `${NAME-text}` (and `:+`, `+`) carry text
    that may itself hold references (`${A:-${B:-x}}`). Anything else after `$` stays as it is.
    """
    literal: list[str] = []
    fallbacks: list[Fallback] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char != "$" or i + 1 == len(value):
            literal.append(char)
            i += 1
        elif value[i + 1] == "$":
            literal.append("$")
            i += 2
        elif value[i + 1] == "{":
            end = _closing(value, i + 2)
            if end is None or depth >= MAX_NESTING:
                literal.append(value[i:])
                break
            fallbacks.extend(_braced(value[i + 2:end], depth + 1))
            i = end + 1
        else:
            j = i + 1
            while j < len(value) and (value[j].isalnum() or value[j] == "_"):
                j += 1
            if j == i + 1 or value[i + 1].isdigit():
                literal.append(char)  # not a variable: compose leaves it as written
                i += 1
            else:
                i = j
    return "".join(literal), fallbacks


def _closing(value: str, start: int) -> int | None:
    depth = 1
    for j in range(start, len(value)):
        if value.startswith("${", j):
            depth += 1
        elif value[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return None


def _braced(body: str, depth: int) -> list[Fallback]:
    j = 0
    while j < len(body) and (body[j].isalnum() or body[j] == "_"):
        j += 1
    name, rest = body[:j], body[j:]
    for operator in FALLBACK_OPERATORS:
        if name and rest.startswith(operator):
            text, nested = interpolate(rest[len(operator):], depth)
            return [Fallback(name, text)] + nested
    return []


def environment(svc: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(key suffix for the finding, variable, value) of a service's environment, mapping or list."""
    env = svc.get("environment")
    if isinstance(env, dict):
        for name, value in env.items():
            yield str(name), str(name), None if value is None else str(value)
    elif isinstance(env, list):
        for i, entry in enumerate(env):
            name, sep, value = str(entry).partition("=")
            yield str(i), name, value if sep else None


@rule("inline-secret", ERROR, "no environment value written in the file looks like a secret (detect-secrets: "
      "credentials in URLs, token formats, high-entropy strings; and secret-looking names)")
def inline_secret(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in doc.services().items():
        for suffix, variable, value in environment(svc):
            if value is None:
                continue
            reason = secretscan.looks_secret(variable, interpolate(value)[0], ctx.secret_allow)
            if reason:
                found.append(doc.finding(name, service_key(name, "environment", suffix), "inline-secret", ERROR,
                                         f"{variable} has an inline value that looks like a secret ({reason}); the "
                                         "value is not shown: keep it out of the file (env file or compose secret)"))
    return found


def _strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{key}.{i}")


def _environment_variable(doc: ComposeDoc, key: str) -> str | None:
    """The variable an environment entry sets, for a key such as services.api.environment.3."""
    parts = key.split(".")
    if len(parts) != 4 or parts[0] != "services" or parts[2] != "environment":
        return None
    env = doc.services().get(parts[1], {}).get("environment")
    if isinstance(env, list) and parts[3].isdigit() and int(parts[3]) < len(env):
        return str(env[int(parts[3])]).partition("=")[0]
    return parts[3]


@rule("secret-default", ERROR, "no ${VAR:-default} (or ${VAR-default}) anywhere in the file carries a "
      "secret-looking default")
def secret_default(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for key, text in _strings(doc.data, ""):
        if "${" not in text:
            continue
        setting = _environment_variable(doc, key)
        for fallback in interpolate(text)[1]:
            reason = secretscan.looks_secret(fallback.variable, fallback.text, ctx.secret_allow)
            if reason is None and setting is not None:
                reason = secretscan.looks_secret(setting, fallback.text, ctx.secret_allow)
            if reason:
                service = key.split(".")[1] if key.startswith("services.") else None
                found.append(doc.finding(service, key, "secret-default", ERROR,
                                         f"the default of ${{{fallback.variable}}} looks like a secret ({reason}); "
                                         "the value is not shown: a missing variable must not fall back to a "
                                         "secret written in the file"))
    return found


def secret_files(doc: ComposeDoc) -> Iterator[tuple[str, str]]:
    """(name, file as written) of each top-level secret backed by a file."""
    secrets = doc.data.get("secrets")
    for name, spec in (secrets.items() if isinstance(secrets, dict) else []):
        if isinstance(spec, dict) and isinstance(spec.get("file"), str) and "$" not in spec["file"]:
            yield str(name), spec["file"]


def materialised(doc: ComposeDoc, path: str, ctx: Context) -> bool:
    """A file in the directory of revops' secret copies: `revops migrate` writes it."""
    if ctx.secrets_dir is None:
        return False
    resolved = (doc.path.parent / path).resolve()
    return resolved.parent == ctx.secrets_dir.resolve()


@rule("secret-file-missing", ERROR, "every file-backed secret's file exists and is a regular file (the copies "
      "`revops migrate` writes into secrets.dir excepted: it writes them)")
def secret_file_missing(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, path in secret_files(doc):
        resolved = doc.path.parent / path
        if not resolved.is_file() and not (materialised(doc, path, ctx) and not os.path.lexists(resolved)):
            found.append(doc.finding(None, f"secrets.{name}.file", "secret-file-missing", ERROR,
                                     f"secret {name}: {path} is not a regular file (looked at {resolved})"))
    return found


@rule("secret-file-mode", ERROR, "no file-backed secret's file is open to group or others (mode 0600 or 0400)")
def secret_file_mode(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, path in secret_files(doc):
        try:
            mode = os.stat(doc.path.parent / path).st_mode
        except OSError:
            continue  # secret-file-missing says so
        if stat.S_ISREG(mode) and mode & 0o077:
            found.append(doc.finding(None, f"secrets.{name}.file", "secret-file-mode", ERROR,
                                     f"secret {name}: {path} has mode {stat.S_IMODE(mode):04o}, open to "
                                     f"{_who(mode)}: chmod 600 (or 400) so only its owner reads it"))
    return found


@rule("generated-env-file", ERROR, "a generated compose file has no env_file: its values would be in the "
      "container's configuration (docker inspect, docker-compose config); generate delivers them as a secret")
def generated_env_file(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    if not doc.generated:
        return []
    return [doc.finding(name, service_key(name, "env_file"), "generated-env-file", ERROR,
                        "env_file in a file revops generates: every value of the file would show in `docker "
                        "inspect` and `docker-compose config`; regenerate (the values travel in the service's "
                        "secret file) or drop the mark if the file is yours")
            for name, svc in doc.services().items() if svc.get("env_file") is not None]


def _who(mode: int) -> str:
    return " and ".join(w for w, bits in (("its group", 0o070), ("others", 0o007)) if mode & bits)
