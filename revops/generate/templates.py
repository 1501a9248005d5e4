"""Finding and loading the Jinja templates: a site `templates/` first, then the packaged ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # revops/
NAMES = ("Dockerfile.j2", "compose-file.yml.j2", "compose-service.yml.j2")


def packaged_dir() -> Path:
    """In a wheel the templates ship as revops/_templates; in a source checkout they sit at the repo root."""
    shipped = PACKAGE_DIR / "_templates"
    if shipped.is_dir():
        return shipped
    return PACKAGE_DIR.parent / "templates"


def search_path(site_dir: Path | None) -> list[Path]:
    dirs = [site_dir] if site_dir is not None and site_dir.is_dir() else []
    return dirs + [packaged_dir()]


def quote(value: Any) -> str:
    """A YAML/Dockerfile-safe scalar or flow list: JSON is valid in both, and stable."""
    return json.dumps(value, ensure_ascii=False)


def compose_quote(value: Any) -> str:
    """quote() for compose files: `$` doubled, since compose would otherwise interpolate `$VAR`
    from the operator's shell; `$$` reaches the container as one literal `$`."""
    return quote(value).replace("$", "$$")


def environment(site_dir: Path | None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in search_path(site_dir)]),
        undefined=jinja2.StrictUndefined,  # a typo in a site template fails loudly
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = quote
    env.filters["cq"] = compose_quote
    return env
