"""Seeded fuzzing of the unit file reader (issue #12, "Done when"): random bytes and random
mutations of real unit files never raise anything but revops' own problems, and never hang
(pytest-timeout bounds the whole run; no wall time is asserted)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tricky_cases import CASES  # noqa: E402

from revops.unitfile import HostFacts, RootFS, read_units  # noqa: E402
from revops.unitfile.specifiers import facts_of_root  # noqa: E402

SEEDS = range(40)
TOKENS = [b"\\", b"\"", b"'", b"%", b"%n", b"%i", b"%z", b"$", b"${X}", b";", b"\n", b"\\\n", b"[Service]", b"=",
          b"ExecStart=", b"User=", b"WorkingDirectory=~", b"DynamicUser=yes", b"EnvironmentFile=-", b"\x00", b"\xff",
          b"\xef\xbb\xbf", b"#", b"@", b"-", b"+", b"!", b":", b" " * 50, b"x" * 5000]


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        choice = rng.random()
        pos = rng.randint(0, len(out))
        if choice < 0.4:
            out[pos:pos] = rng.choice(TOKENS)
        elif choice < 0.7 and out:
            del out[pos:pos + rng.randint(1, 8)]
        else:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(out)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_and_random_unit_files_are_read_without_crashing(tmp_path, seed):
    rng = random.Random(seed)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    (tmp_path / "etc/passwd").write_bytes(mutate(b"root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n", rng))
    (tmp_path / "etc/hostname").write_bytes(mutate(b"revflow\n", rng))
    names = sorted(n for n in CASES if "/" not in n)
    for i in range(12):
        data = mutate(CASES[rng.choice(names)], rng) if i < 10 else bytes(rng.randrange(256) for _ in range(400))
        (units / f"fuzz{i}.service").write_bytes(data)
    (units / "fuzz0.service.d").mkdir()
    (units / "fuzz0.service.d/10.conf").write_bytes(mutate(b"[Service]\nUser=alice\nWorkingDirectory=~\n", rng))
    fs = RootFS(tmp_path)
    for facts in (HostFacts(), facts_of_root(fs, live=False)):
        read = read_units(fs, ("etc/systemd/system",), "*", facts)
        assert len(read) >= 11  # every file is listed, readable or not
        for unit in read:
            assert unit.config is not None or unit.problems or unit.source.masked
