"""The oracle: systemd's own reading of unit files, over D-Bus, against revops' reading.

Every *.service of this machine's /lib/systemd/system and every tricky case is copied into
the test bed's user manager under a unique prefixed name (never a name of the manager's own
units), read back over D-Bus, and compared. Files are removed and the manager reloaded after.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from oracle import PREFIX, OracleRun, compare, facts_of_user_manager, user_unit_dir  # noqa: E402
from tricky_cases import CASES, QUERIES  # noqa: E402

from revops.adapters import systemd  # noqa: E402
from revops.unitfile import RootFS, read_source  # noqa: E402
from revops.unitfile.loader import Loader  # noqa: E402
from revops import unitnames as names  # noqa: E402

SYSTEM_UNITS = Path("/lib/systemd/system")


@pytest.fixture
def manager(testbed) -> systemd.Manager:
    return systemd.connect("user")


@pytest.fixture
def oracle(manager) -> Iterator[OracleRun]:
    run = OracleRun(user_unit_dir())
    run.directory.mkdir(parents=True, exist_ok=True)
    yield run
    run.cleanup()
    manager.reload()


def _report(verdicts) -> str:
    return "\n".join(f"{v.name}\n  systemd: {v.systemd}\n  revops:  {v.revops}" for v in verdicts if not v.agree)


@pytest.mark.realstack
def test_every_system_service_of_this_machine_reads_as_systemd_reads_it(manager, oracle):
    files = sorted(SYSTEM_UNITS.glob("*.service"))
    assert files, "no unit files in /lib/systemd/system to compare"
    queries = []
    for path in files:
        name = oracle.write(PREFIX + path.name, path.read_bytes())
        queries.append(name.replace("@.service", "@oracle-1.service") if names.is_template(name) else name)
    manager.reload()
    verdicts = compare(manager, oracle.directory, queries)
    refused = [v.name for v in verdicts if v.systemd["load_state"] not in ("loaded", "masked")]
    print(f"compared {len(verdicts)} units; refused by the manager: {refused or 'none'}")
    assert len(verdicts) == len(files)
    assert all(v.agree for v in verdicts), _report(verdicts)


@pytest.mark.realstack
def test_tricky_unit_files_read_as_systemd_reads_them(manager, oracle):
    for name, data in CASES.items():
        oracle.write(PREFIX + name, data)
    manager.reload()
    verdicts = compare(manager, oracle.directory, [PREFIX + q for q in QUERIES])
    assert {v.systemd["load_state"] for v in verdicts} >= {"loaded", "masked", "bad-setting", "error"}
    assert all(v.agree for v in verdicts), _report(verdicts)


@pytest.mark.realstack
def test_tilde_is_where_the_user_manager_really_starts_the_service(manager, oracle, tmp_path):
    """systemd resolves WorkingDirectory=~ only when it starts the unit: run one and compare."""
    out = tmp_path / "pwd.txt"
    unit = (b"[Unit]\nDescription=revops tilde case\n\n[Service]\nType=oneshot\nWorkingDirectory=~\n"
            + f"ExecStart=/bin/sh -c 'pwd > {out}'\n".encode())
    name = oracle.write(PREFIX + "wd-run.service", unit)
    manager.reload()
    manager.start(name, timeout=30)
    fs = RootFS(Path("/"))
    read = read_source(fs, Loader(fs, (str(oracle.directory),)).source(name), facts_of_user_manager(os.environ))
    assert out.read_text().strip() == read.config.working_directory
