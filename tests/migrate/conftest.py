"""Fixtures of the migrate tests: a small revops.yaml with the example host's suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from revops import config as config_mod

CONFIG = """
host: {root: .}
systemd: {mask_on_migrate: %s}
health: {interval: 2s, timeout: 1s, retries: 3, start_period: 4s}
suites:
  core:
    phase: 1
    units: [revcore-gateway.service, revpublish.service, revaudit-v6.service, revscore-iq.service]
  lead-gen:
    phase: 2
    units: ["revflow-leadgen-*.service"]
deprecated: [revaudit.service]
"""


def _make_config(tmp_path: Path, mask: bool = False) -> config_mod.Config:
    path = tmp_path / "revops.yaml"
    path.write_text(CONFIG % ("true" if mask else "false"))
    return config_mod.load(path)



@pytest.fixture
def make_config(tmp_path):
    return lambda mask=False: _make_config(tmp_path, mask)
