"""The example services' requirements files, and what a venv built from them holds.

The files carry the mess the seeds describe: exact pins, ranges, unpinned names, comments,
and inside three suites two services pinning the same distribution differently (settled in
revops.yaml by the suite's `overrides`). Every version named here is in wheelhouse.txt.
"""

from __future__ import annotations

import re
from importlib import resources

from revops.example_host.catalog import Service

# Pin conflicts inside a suite: (suite, distribution, {unit: pin}); the override settles each.
CONFLICTS = (
    ("lead-gen", "requests", {"revprospect.service": "==2.31.0", "revenrich.service": "==2.32.4"}),
    ("buyer-intent", "httpx", {"revintent.service": "==0.27.2", "revsurge.service": "==0.28.1"}),
    ("digital-landlord", "beautifulsoup4", {"revlandlord.service": "==4.12.3", "revtenant.service": "==4.13.4"}),
)
OVERRIDES = {"lead-gen": {"requests": "==2.32.4"}, "buyer-intent": {"httpx": "==0.28.1"},
             "digital-landlord": {"beautifulsoup4": "==4.13.4"}}

# What each distribution pulls in (on CPython 3.11.2, the host's python).
DEPENDS = {
    "fastapi": ("starlette", "pydantic", "typing-extensions"),
    "starlette": ("anyio",),
    "anyio": ("idna", "sniffio", "typing-extensions"),
    "uvicorn": ("click", "h11"),
    "pydantic": ("annotated-types", "pydantic-core", "typing-extensions", "typing-inspection"),
    "pydantic-core": ("typing-extensions",),
    "typing-inspection": ("typing-extensions",),
    "pydantic-settings": ("pydantic", "python-dotenv", "typing-inspection"),
    "requests": ("charset-normalizer", "idna", "urllib3", "certifi"),
    "sqlalchemy": ("greenlet", "typing-extensions"),
    "beautifulsoup4": ("soupsieve", "typing-extensions"),
    "httpx": ("anyio", "certifi", "httpcore", "idna"),
    "httpcore": ("certifi", "h11"),
    "redis": ("async-timeout",),
}

_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^#;]*?)\s*(#.*)?$")


def wheelhouse_pins() -> dict[str, list[str]]:
    """Versions per distribution in wheelhouse.txt, oldest first."""
    text = resources.files("revops.example_host").joinpath("wheelhouse.txt").read_text(encoding="utf-8")
    pins: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins.setdefault(name, []).append(version)
    return {k: sorted(v, key=_version_key) for k, v in pins.items()}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _lines_for(service: Service) -> list[tuple[str, str, str]]:
    """(distribution, specifier, comment) for a service, before any conflict pin."""
    n = service.module.number if service.module else len(service.name)
    if service.role in ("api", "duplicate") and service.port:
        lines = [("fastapi", ("==0.115.12", ">=0.110,<0.116", "")[n % 3], ""),
                 ("uvicorn", ("==0.34.3", ">=0.29", "")[(n + 1) % 3], "ASGI server, started by systemd"),
                 ("pydantic", (">=2.7,<3", "==2.11.7")[n % 2], ""),
                 ("pydantic-settings", "" if n % 2 else "==2.9.1", ""),
                 ("python-dotenv", "", "reads /opt/shared-api-engine/.env in dev")]
    else:
        lines = [("requests", (">=2.31,<3", "")[n % 2], ""),
                 ("sqlalchemy", ("==2.0.41", "~=2.0", ">=2.0")[n % 3], ""),
                 ("psycopg2-binary", "==2.9.10", "PostgreSQL, the one source of truth"),
                 ("redis", (">=5", "==6.2.0")[n % 2], "cache and queues"),
                 ("python-dotenv", "==1.1.0" if n % 2 else "", "")]
    suite = service.suite or ""
    if suite in ("lead-gen", "digital-landlord", "tech-efficiency"):
        lines.append(("beautifulsoup4", ">=4.12", "HTML parsing"))
    if suite in ("lead-gen", "buyer-intent", "tech-efficiency"):
        lines.append(("httpx", ">=0.27", ""))
    if suite == "digital-landlord" and service.role == "api":
        lines.append(("requests", ">=2.31", ""))
    return lines


def requirements_text(service: Service) -> str:
    """The requirements.txt found in the service's directory on the host."""
    pins = {dist: spec[service.name] for _, dist, spec in CONFLICTS if service.name in spec}
    out = [f"# {service.stem} -- installed by hand, do not edit (edited anyway)"]
    lines = _lines_for(service)
    lines += [(dist, "", "") for dist in pins if dist not in {d for d, _, _ in lines}]
    for i, (dist, spec, comment) in enumerate(lines):
        if dist in pins:
            spec, comment = pins[dist], "pinned after an incident, see ops channel"
        line = f"{dist}{spec}"
        if comment:
            line += f"  # {comment}"
        out.append(line)
        if i == 1 and len(service.name) % 3 == 0:
            out.append("")
            out.append("# data")
    return "\n".join(out) + "\n"


def parse(text: str) -> list[tuple[str, str]]:
    """(distribution, specifier) per requirement line; comments and blanks skipped."""
    found = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match:
            found.append((match.group(1).lower(), match.group(3).replace(" ", "")))
    return found


def settled(text: str, overrides: dict[str, str]) -> str:
    """The requirements with the suite's overrides applied: what a build installs."""
    lines = []
    for dist, spec in parse(text):
        lines.append(f"{dist}{overrides.get(dist, spec)}")
    return "\n".join(lines) + "\n"


def installed(text: str) -> dict[str, str]:
    """Distribution -> version a venv built from these requirements holds (closure)."""
    pins = wheelhouse_pins()
    chosen: dict[str, str] = {}
    todo = [(dist, spec) for dist, spec in parse(text)]
    while todo:
        dist, spec = todo.pop(0)
        if dist in chosen:
            continue
        chosen[dist] = spec[2:] if spec.startswith("==") else pins[dist][-1]
        todo += [(dep, "") for dep in DEPENDS.get(dist, ())]
    return dict(sorted(chosen.items()))
