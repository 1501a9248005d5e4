"""Fixtures for the lock tests: a tiny wheelhouse of real wheels, and a tiny host using it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The helpers module sits beside this file; make it importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

from lock_wheels import build_wheelhouse, write_host  # noqa: E402


@pytest.fixture(autouse=True)
def _no_pip_environment(monkeypatch):
    """The machine's PIP_* settings (find-links, extra indexes) must not leak into a test."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def tiny_wheelhouse(tmp_path_factory) -> Path:
    return build_wheelhouse(tmp_path_factory.mktemp("tiny-wheelhouse"))


CORE_A = "alpha==2.0  # the API framework\nbeta>=1.0\n"
CORE_B = "-r common.txt\nbeta\\\n  <2\n"
COMMON_B = "alpha>=1.5\n"


@pytest.fixture
def tiny_host(tmp_path) -> Path:
    """Two suites: core (two requirements files, one with -r) and extra (a venv-only service)."""
    services = {
        "svc-a.service": {"suite": "core", "requirements": CORE_A, "app": "import alpha, beta\n"},
        "svc-b.service": {"suite": "core", "requirements": CORE_B, "app": "import alpha\n"},
        "svc-c.service": {"suite": "extra", "installed": [("delta", "0.5"), ("beta", "1.0")],
                          "app": "import delta\n"},
        "svc-old.service": {"suite": "core", "requirements": "alpha==1.0\n", "deprecated": True},
    }
    config = write_host(tmp_path, services, {
        "core": {"phase": 1, "units": ["svc-a.service", "svc-b.service", "svc-old.service"]},
        "extra": {"phase": 2, "units": ["svc-c.service"]},
    }, deprecated=["svc-old.service"])
    (tmp_path / "opt/mods/svc-b/common.txt").write_text(COMMON_B, encoding="utf-8")
    return config
