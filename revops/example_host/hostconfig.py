"""The example host's revops.yaml (also the repo's own, since the repo is that host's ops repo)."""

from __future__ import annotations

from revops.example_host.catalog import DEPRECATED, SUITES, suite_patterns
from revops.example_host.requirements import OVERRIDES

PHASES = {"core": 1}
LIMITS = {"core": ("512m", 1.0), "lead-gen": ("384m", 0.5), "buyer-intent": ("256m", 0.5),
          "digital-landlord": ("256m", 0.25), "tech-efficiency": ("512m", 0.5)}
IMAGE_BASE = "revflow/python-base:bookworm"


def revops_yaml(live_dir: str | None = None) -> str:
    """Offline the directory is the host's root; live, its unit files name absolute paths of
    this machine (/DIR/opt/...), so the root is / and the host's directories are under DIR."""
    lines = [
        "# revops configuration for the example RevFlow OS host, written by `revops example-host`.",
        "# This directory is both the host's root (host.root: .) and its ops repo: verbs run here"
        if live_dir is None else
        "# This directory holds the live host (run by the user manager) and its ops repo: verbs run here",
        "# write inventory/, lockfiles/ and compose/ beside this file.",
        "host:",
    ]
    if live_dir is None:
        lines += ["  root: .", "  unit_dirs: [etc/systemd/system]", "  venv_search: [opt, srv]"]
    else:
        rel = live_dir.strip("/")
        lines += ["  root: /  # the units run from this directory's paths on this machine",
                  f"  unit_dirs: [\"{rel}/etc/systemd/system\"]", f"  venv_search: [\"{rel}/opt\", \"{rel}/srv\"]"]
    lines += ["  venv_search_depth: 5", "systemd:", f"  bus: {'user' if live_dir else 'system'}", "suites:"]
    lines += _suites()
    lines += [
        "deprecated:",
        f"  - {DEPRECATED}  # v5, replaced by revaudit-v6; in a restart loop",
        f"shared_env_file: {live_dir or ''}/opt/shared-api-engine/.env",
        "image:",
        f"  base: {IMAGE_BASE}",
        "  prefix: revflow",
        "network: revflow-network",
        "health:",
        "  path: /health",
        *_health_timing(live_dir is not None),
        "  retries: 3",
        "  bind_address: 127.0.0.1",
    ]
    return "\n".join(lines) + "\n"


def _health_timing(live: bool) -> list[str]:
    """The fix plan's 30 s interval, except on a live rehearsal host: Docker 20.10 runs a
    container's first health check only one interval after it starts, so a cutover gated on
    Docker's "healthy" would wait 30 s per service there."""
    if not live:
        return ["  interval: 30s", "  timeout: 10s", "  start_period: 10s"]
    return ["  interval: 3s  # rehearsal on this machine; production keeps 30s",
            "  timeout: 3s", "  start_period: 3s"]


def _suites() -> list[str]:
    lines = []
    patterns = suite_patterns()
    for suite in SUITES:
        memory, cpus = LIMITS[suite]
        lines += [f"  {suite}:", f"    phase: {PHASES.get(suite, 2)}", f"    memory: {memory}", f"    cpus: {cpus}",
                  "    units:"]
        lines += [f"      - \"{p}\"" for p in patterns[suite]]
        overrides = OVERRIDES.get(suite)
        if overrides:
            lines.append("    overrides:  # settles the pin conflict between two of its services")
            lines += [f"      {dist}: \"{spec}\"" for dist, spec in sorted(overrides.items())]
    return lines
