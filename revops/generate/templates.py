"""Finding, loading and rendering the Jinja templates: a site `templates/` first, then the
packaged ones.

Templates are data, not code: they render in Jinja's ImmutableSandboxedEnvironment, so a
template can format the values it is given and nothing else (no attribute starting with `_`,
no mutation of the data, no reaching Python's globals). A template that tries, or that is
broken, is a ConfigError (exit 2) naming the template file and line. Template files are read
through the root-confined reader with their directory as the root: a template that is a FIFO,
or a symlink leading out of its directory, is never read; a site template directory that is a
symlink leading out of the ops repo is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from revops.errors import ConfigError
from revops.unitfile.rootfs import RootFS, RootReadError

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # revops/
NAMES = ("Dockerfile.j2", "compose-file.yml.j2", "compose-service.yml.j2", "stack-file.yml.j2")
TEMPLATE_LIMIT = 1 << 20  # bytes; the packaged templates are a few KiB


def packaged_dir() -> Path:
    """In a wheel the templates ship as revops/_templates; in a source checkout they sit at the repo root."""
    shipped = PACKAGE_DIR / "_templates"
    if shipped.is_dir():
        return shipped
    return PACKAGE_DIR.parent / "templates"


def site_dir_checked(site_dir: Path | None, ops_repo: Path | None = None) -> Path | None:
    """The site template directory when there is one; ConfigError when it (or a link on the way)
    leads outside the ops repo that holds it."""
    if site_dir is None or not os.path.lexists(site_dir):
        return None
    repo = Path(os.path.realpath(ops_repo if ops_repo is not None else site_dir.parent))
    real = Path(os.path.realpath(site_dir))
    if real != repo and not real.is_relative_to(repo):
        raise ConfigError(str(site_dir), None, f"the site template directory leads outside the ops repo "
                          f"{repo} (to {real}); refused: keep site templates inside the ops repo")
    return site_dir if real.is_dir() else None


def search_path(site_dir: Path | None, ops_repo: Path | None = None) -> list[Path]:
    site = site_dir_checked(site_dir, ops_repo)
    return ([site] if site is not None else []) + [packaged_dir()]


class ConfinedLoader(jinja2.BaseLoader):
    """Loads `name` from the first directory holding it, read as a regular file under that
    directory only (RootFS with the directory as root)."""

    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template.startswith("/") or ".." in template.split("/"):
            raise jinja2.TemplateNotFound(template)
        for directory in self.directories:
            fs = RootFS(directory, cache=False)
            if not fs.lexists("/" + template):
                continue
            shown = str(directory / template)
            try:
                text = fs.read_text("/" + template, TEMPLATE_LIMIT, errors="strict")
            except RootReadError as exc:
                raise ConfigError(shown, None, f"template not read: {exc.reason}") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(shown, None, f"template is not UTF-8 ({exc.reason} at byte {exc.start})") from None
            # Up to date for the environment's life (one generate run): the include in
            # compose-file.yml.j2 then compiles once, not once per service (a 40x cost), and
            # a template edited mid-run cannot give a run two versions of itself.
            return text, shown, lambda: True
        raise jinja2.TemplateNotFound(template)


def quote(value: Any) -> str:
    """A YAML/Dockerfile-safe scalar or flow list: JSON is valid in both, and stable."""
    return json.dumps(value, ensure_ascii=False)


def compose_quote(value: Any) -> str:
    """quote() for compose files: `$` doubled, since compose would otherwise interpolate `$VAR`
    from the operator's shell; `$$` reaches the container as one literal `$`."""
    return quote(value).replace("$", "$$")


def environment(site_dir: Path | None, ops_repo: Path | None = None) -> jinja2.Environment:
    env = ImmutableSandboxedEnvironment(
        loader=ConfinedLoader(search_path(site_dir, ops_repo)),
        undefined=jinja2.StrictUndefined,  # a typo in a site template fails loudly
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = quote
    env.filters["cq"] = compose_quote
    return env


RENDER_SECONDS = 20  # one template; the packaged ones take milliseconds
RENDER_LIMIT = 64 << 20  # characters one template may produce


class _TooLong(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """SIGALRM after `seconds` (main thread only: elsewhere the output bound alone applies)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TooLong(f"still rendering after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _bounded(template: jinja2.Template, data: dict[str, Any]) -> str:
    parts, size = [], 0
    for part in template.generate(**data):
        size += len(part)
        if size > RENDER_LIMIT:
            raise _TooLong(f"more than {RENDER_LIMIT} characters of output")
        parts.append(part)
    return "".join(parts)


def render(env: jinja2.Environment, name: str, **data: Any) -> str:
    """Render template `name` with `data`; every template failure is a ConfigError (exit 2)
    naming the template file and, where Jinja knows it, the line. A template that runs away
    (loops for long, or writes without end) is stopped and is such an error too."""
    try:
        with _deadline(RENDER_SECONDS):
            return _bounded(env.get_template(name), data)
    except ConfigError:
        raise
    except _TooLong as exc:
        where, line = _template_frame(exc, name)
        raise ConfigError(where, None, f"template stopped: {exc}", line) from None
    except RecursionError:
        raise ConfigError(name, None, "template nested too deep") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(exc.filename or name, None, f"template syntax error: {exc.message}", exc.lineno) from None
    except SecurityError as exc:
        where, line = _template_frame(exc, name)
        raise ConfigError(where, None, f"the template tried to reach beyond its data ({exc}); templates "
                          "render in a sandbox and may only format the values they are given", line) from None
    except jinja2.TemplateError as exc:
        where, line = _template_frame(exc, name)
        raise ConfigError(where, None, f"template error: {exc}", line) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        where, line = _template_frame(exc, name)
        raise ConfigError(where, None, f"template error: {type(exc).__name__}: {exc}", line) from None


def _template_frame(exc: BaseException, name: str) -> tuple[str, int | None]:
    """The innermost template file and line in the traceback (Jinja rewrites frames so they
    carry the template's file name and line)."""
    where, line = name, None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or filename == "<template>":
            where, line = filename, tb.tb_lineno
        tb = tb.tb_next
    return where, line
