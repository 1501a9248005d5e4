"""A template's numbered instances (revflow-worker@1..3) as one compose service with replicas.

systemd runs one process per enabled instance and fills `%i` with the instance name. When the
names are numbers and the instances differ only where `%i` stood, they are one service with as
many replicas as instances, and each replica must see its own number where `%i` was. Compose
(v1 and v2) gives a replica no variable for its number; Docker's embedded DNS does name it:
the PTR record of a container's address on a user-defined network is its container name,
`<project>_<service>_<N>` (compose v1), `<project>-<service>-<N>` (compose v2) or
`<service>.<N>.<task id>` (a Swarm task). REPLICA_SCRIPT asks that once, replaces `%i` with N
in the argv and in the environment variables named, and execs the argv: exit 1 with the reason
when the number cannot be read (never a guess).

Parameter instances (names that are not numbers) stay one service per instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from revops import unitnames
from revops.model import Unit

PLACEHOLDER = "%i"

# stdlib only, for any image with a Python; argv: [-c, SCRIPT, NAME..., "--", program, args...]
REPLICA_SCRIPT = (
    "import os, re, socket, struct, sys\n"
    "names, argv = sys.argv[1:sys.argv.index('--')], sys.argv[sys.argv.index('--') + 1:]\n"
    "ip = socket.gethostbyname(socket.gethostname())\n"
    "q = b''.join(bytes([len(p)]) + p.encode() for p in ip.split('.')[::-1] + ['in-addr', 'arpa']) + b'\\0'\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.settimeout(5)\n"
    "s.sendto(struct.pack('>6H', os.getpid() & 65535, 256, 1, 0, 0, 0) + q + struct.pack('>2H', 12, 1), ('127.0.0.11', 53))\n"
    "r, i, labels = s.recv(512), 12 + len(q) + 4, []\n"
    "if len(r) > i and r[3] & 15 == 0 and r[7]:\n"
    "    if r[i] >= 192:\n"
    "        i += 2\n"
    "    else:\n"
    "        while r[i]:\n"
    "            i += 1 + r[i]\n"
    "        i += 1\n"
    "    i += 10\n"
    "    while i < len(r) and 0 < r[i] < 64:\n"
    "        labels.append(r[i + 1:i + 1 + r[i]].decode()); i += 1 + r[i]\n"
    "n = labels[1] if len(labels) > 2 and labels[1].isdigit() else (re.split('[_-]', labels[0])[-1] if labels else '')\n"
    "if not n.isdigit():\n"
    "    sys.exit(f'revops replica: no replica number in the DNS name of {ip}: {labels}')\n"
    "env = {k: (v.replace('%i', n) if k in names else v) for k, v in os.environ.items()}\n"
    "os.execvpe(argv[0], [w.replace('%i', n) for w in argv], env)\n"
)


@dataclass(frozen=True)
class Replicated:
    """What the instances share, with `%i` where each had its own number."""

    template: str  # "revflow-worker@.service"
    instances: tuple[str, ...]
    argv: tuple[str, ...]  # ExecStart with %i
    environment: tuple[tuple[str, str], ...]  # Environment= with %i
    substituted: tuple[str, ...]  # names of the variables holding %i


def derive(instances: list[Unit]) -> tuple[Replicated | None, str]:
    """The template form of instances, or None with why they stay one service per instance."""
    names = [unitnames.instance(u.name) or "" for u in instances]
    if len(instances) < 2:
        return None, "one instance: a service of its own"
    if not all(n.isascii() and n.isdigit() for n in names):
        return None, "instance names are parameters, not numbers: one service per instance"
    if sorted(names, key=lambda n: (len(n), n)) != [str(i) for i in range(1, len(names) + 1)]:
        # compose numbers the replicas 1..N, and replica N puts N where %i was
        return None, (f"instance numbers are not 1..{len(names)} (compose numbers replicas so): "
                      "one service per instance")
    first = instances[0]
    for unit in instances[1:]:
        for attr in ("working_directory", "user", "environment_files", "port", "venv", "memory_max", "cpu_quota",
                     "service_type", "restart"):
            if getattr(unit, attr) != getattr(first, attr):
                return None, f"instances differ in {attr}: one service per instance"
    if first.port is not None:
        return None, "instances publish a port: one service per instance (replicas cannot share a host port)"
    argv = _common([u.exec_start[0] if u.exec_start else [] for u in instances], names)
    keys = sorted(first.environment)
    if any(sorted(u.environment) != keys for u in instances):
        return None, "instances set different variables: one service per instance"
    values = _common([[u.environment[k] for k in keys] for u in instances], names)
    if argv is None or values is None or len({len(u.exec_start) for u in instances}) != 1 or len(first.exec_start) != 1:
        return None, "instances differ beyond their number: one service per instance"
    environment = tuple(zip(keys, values))
    return Replicated(unitnames.template_of(first.name), tuple(u.name for u in instances), tuple(argv),
                      environment, tuple(k for k, v in environment if PLACEHOLDER in v)), ""


def _common(rows: list[list[str]], names: list[str]) -> list[str] | None:
    """Each row's words with its own instance name replaced by %i, when that makes them equal."""
    if len({len(row) for row in rows}) != 1:
        return None
    out = []
    for column in zip(*rows):
        if any(PLACEHOLDER in word for word in column):
            return None  # a literal %i (written %%i) would be taken for the number
        if len(set(column)) == 1:  # the same in every instance (of distinct names): no %i in it,
            out.append(column[0])  # even where it holds a number's digits (/usr/bin/python3, @3)
            continue
        forms = {word.replace(name, PLACEHOLDER) for word, name in zip(column, names)}
        if len(forms) != 1:
            return None
        out.append(forms.pop())
    return out


def command(python: str, argv: tuple[str, ...], substituted: tuple[str, ...]) -> tuple[str, ...]:
    """The replicas' command: REPLICA_SCRIPT under the image's Python, then the argv with %i."""
    return (python, "-c", REPLICA_SCRIPT, *substituted, "--", *argv)
