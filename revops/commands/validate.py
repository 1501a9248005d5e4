"""`revops validate [PATHS]`: what CI runs on compose files and Dockerfiles.

Every finding names the file, the service, the key and the rule. Exit 1 on any error finding
(invalid YAML included), 0 otherwise (warnings shown; `--strict` fails on them too); 2 only for
bad usage, such as a path that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.text import Text

from revops.config import Config
from revops.errors import UsageError
from revops.validate import formats, validate_paths
from revops.validate.findings import ERROR, WARNING, ValidationResult

FORMATS = ("text", "json", "junit", "sarif")
EXTERNAL_CHECKS = ("compose-config", "hadolint")


@dataclass
class Request:
    paths: list[Path]
    fmt: str = "text"
    strict: bool = False
    externals: bool = True


def default_paths(config: Config | None) -> list[Path]:
    if config is None:
        return [Path("compose")]
    compose = config.out("compose")
    try:
        return [compose.relative_to(Path.cwd())]  # findings then name files as the repo does
    except ValueError:
        return [compose]


def run(request: Request, config: Config | None) -> ValidationResult:
    if request.fmt not in FORMATS:
        raise UsageError(f"--format {request.fmt!r}: expected one of {', '.join(FORMATS)}")
    return validate_paths(request.paths or default_paths(config), config,
                          externals=request.externals, strict=request.strict)


def renderer(fmt: str):
    """The render function for a format (json is output.emit's own)."""
    if fmt == "junit":
        return lambda result, console: console.out(formats.junit(result), end="", highlight=False)
    if fmt == "sarif":
        return lambda result, console: console.out(formats.sarif(result), end="", highlight=False)
    return render


def render(result: ValidationResult, console: Console) -> None:
    styles = {ERROR: "red", WARNING: "yellow"}
    for finding in result.findings:
        style = styles.get(finding.severity, "dim")
        console.print(formats.text_line(finding), style=style, highlight=False, markup=False)
    for check in result.checks:
        if check.status == "skipped":
            console.print(f"skipped {check.name}: {check.detail}", style="dim", highlight=False, markup=False)
        elif check.name in EXTERNAL_CHECKS:  # which binary ran, and its version
            console.print(f"ran {check.name}: {check.detail}", style="dim", highlight=False, markup=False)
    verdict = Text("ok", style="green") if result.ok else Text("failed", style="bold red")
    console.print(Text.assemble(verdict, f": {len(result.files)} file(s), {result.errors} error(s), "
                                f"{result.warnings} warning(s); checks: "
                                f"{', '.join(c.name for c in result.checks if c.status == 'ran')}"), highlight=False)
