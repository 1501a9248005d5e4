"""The repo's committed inventory is what `inventory scan` reads on a fresh example host.

Lockfiles and compose/ have the same guard in tests/lock and tests/generate.
"""

from pathlib import Path

import yaml

from revops import config
from revops.commands import example_host, inventory

REPO = Path(__file__).resolve().parents[1]


def without_scan_time(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("scanned_at", None)
    return doc


def test_repo_inventory_matches_a_fresh_scan_of_the_example_host(tmp_path):
    host = tmp_path / "host"
    example_host.run(host, live=False)
    inventory.run(config.load(host / "revops.yaml"), live=False)
    for name in ("units.yaml", "venvs.yaml"):
        fresh = without_scan_time(host / "inventory" / name)
        committed = without_scan_time(REPO / "inventory" / name)
        assert fresh == committed, f"inventory/{name} drifted: rerun the scan on the example host and commit it"


def test_a_rescan_with_nothing_changed_leaves_the_files_byte_identical(tmp_path):
    host = tmp_path / "host"
    example_host.run(host, live=False)
    cfg = config.load(host / "revops.yaml")
    inventory.run(cfg, live=False)
    before = {p.name: p.read_bytes() for p in (host / "inventory").iterdir()}
    inventory.run(cfg, live=False)
    after = {p.name: p.read_bytes() for p in (host / "inventory").iterdir()}
    assert before == after
