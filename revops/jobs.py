"""A timer-fired job's cutover: its unit repointed to run the job once in a fresh container.

The job's timer stays in systemd with its schedule (OnCalendar=, Persistent=,
RandomizedDelaySec= untouched); only the service it fires changes, through the one drop-in
module (revops.dropins, via revops.repoint's journaled step pair): its ExecStart= becomes
`<compose> -f FILE... --profile jobs run --rm --no-deps -T SERVICE`, so the container's exit
code is the unit's result and its output goes to the journal like the old process's. The
service has no restart policy and is in the `jobs` profile, so `up` never starts it.

A job is cut over between runs, never while it runs (`between_runs` says why not now), and
put back by removing the drop-in (rollback). Pure: the caller brings the compose argv and
the unit's live state.
"""

from __future__ import annotations

from typing import Sequence

from revops.generate.spec import JOBS_PROFILE
from revops.repoint import Repoint

PURPOSE = "job-container"
# What the repointed unit runs is the compose client, not the job: it needs the engine's
# socket (root's, or the docker group's), not the job's user, and the job's environment
# reaches the container through its compose secret, never the client's environment, where
# COMPOSE_*/DOCKER_HOST values from an env file would steer compose itself. So the drop-in
# resets the unit's user, its environment and a socket family filter that would refuse the
# engine's AF_UNIX socket (systemd.exec(5): User=, Environment=, EnvironmentFile=,
# RestrictAddressFamilies=; an empty assignment resets each to its default).
RESETS = ("User", "Group", "DynamicUser", "SupplementaryGroups", "Environment", "EnvironmentFile",
          "RestrictAddressFamilies")


def run_argv(compose: Sequence[str], files: Sequence[str], service: str, project: str | None = None) -> tuple[str, ...]:
    """The exec-form argv the job's unit runs: one `compose run --rm` of its service.

    `--profile` is a global option (compose 1.28+, and v2) and comes before `run`; `-T`: no
    pseudo-terminal (systemd gives the unit none); `--no-deps`: a job never starts services."""
    argv = list(compose)
    if project:
        argv += ["-p", project]
    for path in files:
        argv += ["-f", str(path)]
    return (*argv, "--profile", JOBS_PROFILE, "run", "--rm", "--no-deps", "-T", service)


def repoint(unit: str, service: str, before: Sequence[str], compose: Sequence[str], files: Sequence[str],
            project: str | None = None, venv: str | None = None) -> Repoint:
    """The Repoint of a job's unit: no restart (its timer starts it at its next trigger)."""
    return Repoint(unit=unit, purpose=PURPOSE, argv=run_argv(compose, files, service, project), before=tuple(before),
                   uses_before=venv, uses_after=f"compose service {service}", restart=False, resets=RESETS,
                   note=f"a job: its timer fires it; each run is a fresh container of compose service {service}")


def between_runs(active_state: str | None, sub_state: str | None) -> str | None:
    """Why a job cannot be cut over now (it is running: `activating`/`active` and not exited),
    or None. systemd.service(5): a Type=oneshot unit is "activating" while its command runs."""
    if active_state in ("activating", "deactivating", "reloading"):
        return f"the job is running ({active_state}/{sub_state}): cut over between runs"
    if active_state == "active" and sub_state not in ("exited", None):
        return f"the job is running (active/{sub_state}): cut over between runs"
    return None
