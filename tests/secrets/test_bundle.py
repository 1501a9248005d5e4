"""What a service may read, read from the host root as systemd gives it to the unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from revops import entrypoint
from revops.config import DEFAULT_UNIT_DIRS
from revops.errors import CheckFailed
from revops.secrets import bundle

DSN = "postgresql://app:s3cr3t-pass@db/app"


def host(tmp_path: Path, unit: str, files: dict[str, str]) -> Path:
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/systemd/system/api.service").write_text(unit)
    for path, text in files.items():
        (tmp_path / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path.lstrip("/")).write_text(text)
    return tmp_path


UNIT = f"""[Service]
Environment="DATABASE_URL={DSN}" RELAY_TOKEN=tok-123456 LOG_LEVEL=info
EnvironmentFile=/opt/shared/.env
EnvironmentFile=-/opt/missing.env
EnvironmentFile=/opt/api/override.env
ExecStart=/usr/bin/true
"""


def test_secret_environment_then_env_files_in_order_the_last_one_winning(tmp_path):
    root = host(tmp_path, UNIT, {"/opt/shared/.env": "# c\nJWT_SECRET='a b'\nRELAY_TOKEN=from-file\n",
                                 "/opt/api/override.env": 'JWT_SECRET="over\\"ride"\nBAD-NAME=x\n'})
    found = bundle.read(root, DEFAULT_UNIT_DIRS, "api.service", ("DATABASE_URL", "RELAY_TOKEN"))
    # systemd.exec(5): EnvironmentFile= overrides Environment=; a later file overrides an earlier one.
    assert dict(found.pairs) == {"DATABASE_URL": DSN, "RELAY_TOKEN": "from-file", "JWT_SECRET": 'over"ride'}
    assert found.skipped == ("/opt/missing.env",)
    assert "LOG_LEVEL" not in dict(found.pairs)  # written inline by generate, not in the copy
    # The copy reads back, through the image's own entrypoint, as the same variables.
    assert entrypoint.environment(entrypoint.parse(found.text().decode())) == dict(found.pairs)
    assert not [s for s in found.sources if DSN in s or "from-file" in s]  # sources name, never show


def test_a_missing_required_env_file_is_refused_naming_it(tmp_path):
    root = host(tmp_path, UNIT, {"/opt/shared/.env": "A=1\n"})
    with pytest.raises(CheckFailed, match="EnvironmentFile=/opt/api/override.env"):
        bundle.read(root, DEFAULT_UNIT_DIRS, "api.service", ())


def test_an_env_file_systemd_refuses_is_refused_without_its_value(tmp_path):
    root = host(tmp_path, UNIT, {"/opt/shared/.env": "A=1\n", "/opt/api/override.env": "X=1\n"})
    (root / "opt/api/override.env").write_bytes(b"PASSWORD=caf\xe9-s3cret\n")
    with pytest.raises(CheckFailed) as refused:
        bundle.read(root, DEFAULT_UNIT_DIRS, "api.service", ())
    assert "PASSWORD" in refused.value.message and "s3cret" not in refused.value.message


def test_an_env_file_outside_the_root_through_a_symlink_is_not_read(tmp_path):
    outside = tmp_path / "outside.env"
    outside.write_text("STOLEN=1\n")
    root = host(tmp_path / "root", UNIT, {"/opt/api/override.env": "X=1\n"})
    (root / "opt/shared").mkdir(parents=True)
    (root / "opt/shared/.env").symlink_to("../../../outside.env")
    # Resolved as inside a chroot: ../../../outside.env is <root>/outside.env, which is not there.
    with pytest.raises(CheckFailed, match="EnvironmentFile=/opt/shared/.env: missing"):
        bundle.read(root, DEFAULT_UNIT_DIRS, "api.service", ())


def test_a_secret_key_gone_from_the_unit_says_to_rescan(tmp_path):
    root = host(tmp_path, UNIT, {"/opt/shared/.env": "", "/opt/api/override.env": ""})
    with pytest.raises(CheckFailed, match="Environment=OLD_TOKEN no longer set"):
        bundle.read(root, DEFAULT_UNIT_DIRS, "api.service", ("OLD_TOKEN",))
