"""The Compose Specification's JSON schema, as check-jsonschema vendors it (we keep no copy)."""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

import jsonschema

from revops.validate.documents import ComposeDoc
from revops.validate.findings import ERROR, Finding

PACKAGE = "check_jsonschema.builtin_schemas.vendor"
FILENAME = "compose-spec.json"


def schema_location() -> str:
    return f"{PACKAGE.replace('.', '/')}/{FILENAME}"


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    text = (importlib.resources.files(PACKAGE) / FILENAME).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def check(doc: ComposeDoc) -> list[Finding]:
    found = []
    for error in _meaningful(_validator().iter_errors(_json_shaped(doc.data))):
        path = [str(p) for p in error.absolute_path]
        service = path[1] if len(path) > 1 and path[0] == "services" else None
        key = ".".join(path) or None
        where = "#/" + "/".join(str(p) for p in error.relative_schema_path)
        found.append(doc.finding(service, key or "", "compose-spec", ERROR,
                                 f"{error.message} (schema {schema_location()}{where})"))
    return found


def _meaningful(errors) -> list:
    """Drop "unevaluated properties" errors that only echo a real error found inside the same object.

    Under draft 2020-12 one bad key makes every sibling key "unevaluated" too; the real error
    is the one worth reading.
    """
    errors = sorted(errors, key=lambda e: list(map(str, e.absolute_path)))
    paths = [tuple(map(str, e.absolute_path)) for e in errors]
    kept = []
    for error, path in zip(errors, paths):
        echo = error.validator == "unevaluatedProperties" and any(
            other != path and other[: len(path)] == path for other in paths)
        if not echo:
            kept.append(error)
    return kept


def _json_shaped(value: Any) -> Any:
    """YAML allows keys JSON does not (`on:` reads as true, `8080:` as an int): compare as text."""
    if isinstance(value, dict):
        return {(str(k).lower() if isinstance(k, bool) else str(k)): _json_shaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_shaped(v) for v in value]
    return value
