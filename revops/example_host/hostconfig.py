"""The example host's revops.yaml (also the repo's own, since the repo is that host's ops repo)."""

from __future__ import annotations

from revops.example_host.catalog import (DEPRECATED, DUPLICATES, FAILING, LEFTOVERS, PLATFORM_JOBS, SHARED_VENV, SUITES,
                                         TEMPLATE, TOOLS_VENV, suite_patterns)
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
        *_reasons("retire", RETIRE),
        *_reasons("keep_on_host", KEEP_ON_HOST),
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


# The host's other units, placed as `revops suites suggest` proposed and then reviewed: the
# platform's jobs and leftovers by the venv they share, one suite per old code base, the
# copies and the venv healer retired, the host's own chores kept under systemd.
HEAL = "revflow-venv-heal"
PLATFORM_SUITES = {
    "platform": sorted([f"{stem}.service" for stem, _, _ in PLATFORM_JOBS if stem != HEAL]
                       + [f"{stem}.service" for stem, _, venv in LEFTOVERS if venv == SHARED_VENV]
                       + [TEMPLATE, "revflow-db-migrate.service"]),
    "tools": sorted(f"{stem}.service" for stem, _, venv in LEFTOVERS if venv == TOOLS_VENV),
    "legacy": sorted(f"{stem}.service" for stem, _, venv in LEFTOVERS if venv not in (None, SHARED_VENV, TOOLS_VENV)),
    "revwins": [FAILING, "revflow-revwins-digest.service"],
}
PLATFORM_PHASE = 3
RETIRE = {f"{HEAL}.service": "rebuilds venvs that fail to import: with every service in an image no venv is left to "
                             "tend, so it is retired once no unit left under systemd runs from a venv"}
RETIRE |= {f"{stem}.service": f"a copy of {original if port else original + '-fetcher'}.service running its code "
                              "under another name: retired with the old world, not migrated twice"
           for stem, original, _, port in DUPLICATES}
KEEP_ON_HOST = {
    "revflow-log-shipper.service": "tails the host's own /var/log/revflow: a container would see its own files",
    "revflow-tmp-clean.service": "cleans the host's /tmp/revflow with full privileges (ExecStart=+)",
}


def _reasons(key: str, entries: dict[str, str]) -> list[str]:
    return [f"{key}:"] + [f"  {name}: \"{reason}\"" for name, reason in sorted(entries.items())]


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
    for suite, units in PLATFORM_SUITES.items():
        lines += [f"  {suite}:", f"    phase: {PLATFORM_PHASE}", "    memory: 256m", "    cpus: 0.25", "    units:"]
        lines += [f"      - \"{u}\"" for u in units]
    return lines
