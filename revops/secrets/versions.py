"""Which version of its copy each service runs with, told by digests (never by values).

A compose file-backed secret is a bind mount of the copy's inode, taken when the container
starts: rewriting the copy (a new file renamed into place) changes nothing for a running
container until it is started again. So what a container holds is the copy revops last
started it with, which the ledger records in the reason of the step that did it (its keyed
digest, `hmac-sha256:` and 16 hex). On a Swarm target the version is the Docker secret the
service mounts, named by the digest of its content: `sha256:` and the 12 hex of its name. What it should hold is what the unit and its env files
give now (bundle.read, digested with the copies' key): `revops status` compares the two, and
`revops secrets rotate` brings the containers that differ up to date.
"""

from __future__ import annotations

import re
from typing import Mapping, Protocol

WRITE_SECRET = "write-secret"  # migrate: the copy written before the container's first start
ROTATE_SECRET = "rotate-secret"  # rotate: a new copy, the container restarted and healthy on it
RESTORE_SECRET = "restore-secret"  # rotate's rollback: the previous copy back, restarted on it
# Steps after which the service's container runs with the digest their reason names.
HELD_STEPS = (WRITE_SECRET, ROTATE_SECRET, RESTORE_SECRET)
# A compose copy's keyed digest, or a Swarm secret's version as its name carries it (the Docker
# secret `revpublish.env-0123456789ab` is `sha256:0123456789ab`: revops.migrate.swarmhost).
DIGEST = re.compile(r"hmac-sha256:[0-9a-f]{16}|(?<![-\w])sha256:[0-9a-f]{12}(?![0-9a-f])")


class StepRow(Protocol):
    reason: str | None
    finished_at: str | None


def digest_in(reason: str | None) -> str | None:
    """The last keyed digest a step's reason names, or None."""
    found = DIGEST.findall(reason or "")
    return found[-1] if found else None


def held(last_done: Mapping[str, StepRow]) -> dict[str, tuple[str, str | None]]:
    """{unit: (digest its container was last started with, when)} from the ledger's newest
    done HELD_STEPS step of each unit (Ledger.last_done)."""
    out = {}
    for unit, row in last_done.items():
        digest = digest_in(row.reason)
        if digest is not None:
            out[unit] = (digest, row.finished_at)
    return out
