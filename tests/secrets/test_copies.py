"""The root-only directory of secret copies: modes, owners, atomic writes, refusals with fixes."""

from __future__ import annotations

import os
import stat

import pytest

from revops.errors import CheckFailed
from revops.secrets.copies import KEY_FILE, Copies

UID = 10001

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to the container's uid needs root")


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_write_makes_a_root_only_directory_and_a_0400_copy_of_the_container_uid(tmp_path):
    copies = Copies(tmp_path / ".revops" / "secrets")
    digest = copies.write("api.env", UID, b'TOKEN="t0k3n-value"\n')
    st = os.lstat(copies.path / "api.env")
    assert (st.st_uid, st.st_gid, mode(copies.path / "api.env")) == (UID, UID, 0o400)
    assert mode(copies.path) == 0o700 and os.lstat(copies.path).st_uid == os.geteuid()
    assert mode(copies.path / KEY_FILE) == 0o400
    assert copies.read("api.env") == b'TOKEN="t0k3n-value"\n'
    assert digest.startswith("hmac-sha256:") and "t0k3n" not in digest
    assert digest == copies.digest(b'TOKEN="t0k3n-value"\n') != copies.digest(b'TOKEN="other"\n')
    assert [p.name for p in copies.path.iterdir() if p.name.endswith(".tmp")] == []  # nothing left over
    assert "api.env" in copies.check("api.env", UID)


def test_keep_previous_and_restore_it(tmp_path):
    copies = Copies(tmp_path / "s")
    copies.write("api.env", UID, b"A=1\n")
    copies.write("api.env", UID, b"A=2\n", keep_previous=True)
    assert copies.read("api.env") == b"A=2\n"
    assert copies.restore_previous("api.env") is True
    assert copies.read("api.env") == b"A=1\n"
    assert copies.restore_previous("api.env") is False  # used up
    assert copies.remove("api.env") is True and copies.read("api.env") is None
    assert copies.remove("api.env") is False


@pytest.mark.parametrize("dir_mode", [0o755, 0o750, 0o701])
def test_a_directory_with_the_wrong_mode_is_refused_with_path_and_fix(tmp_path, dir_mode):
    copies = Copies(tmp_path / "s")
    copies.path.mkdir()
    os.chmod(copies.path, dir_mode)
    with pytest.raises(CheckFailed) as refused:
        copies.check("api.env", UID)
    assert str(copies.path) in refused.value.message and f"{dir_mode:04o}" in refused.value.message
    assert f"fix: `chmod 0700 {copies.path}`" in refused.value.message
    with pytest.raises(CheckFailed):  # nor is anything written into it
        copies.write("api.env", UID, b"A=1\n")
    assert not (copies.path / "api.env").exists()


@pytest.mark.parametrize("owner, file_mode, why", [
    (UID, 0o440, "readable by other uids"), (UID, 0o404, "readable by other uids"),
    (UID + 1, 0o400, f"not the container's uid {UID}"), (0, 0o400, f"not the container's uid {UID}"),
])
def test_a_copy_readable_by_another_uid_is_refused_with_path_and_fix(tmp_path, owner, file_mode, why):
    copies = Copies(tmp_path / "s")
    copies.write("api.env", UID, b"A=1\n")
    path = copies.path / "api.env"
    os.chown(path, owner, owner)
    os.chmod(path, file_mode)
    with pytest.raises(CheckFailed) as refused:
        copies.check("api.env", UID)
    assert str(path) in refused.value.message and why in refused.value.message
    assert f"chown {UID}:{UID} {path} && chmod 0400 {path}" in refused.value.message


def test_a_symlink_in_place_of_the_copy_is_refused_and_never_followed(tmp_path):
    copies = Copies(tmp_path / "s")
    copies.write("api.env", UID, b"A=1\n")
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    os.unlink(copies.path / "api.env")
    os.symlink(target, copies.path / "api.env")
    with pytest.raises(CheckFailed, match="not a regular file"):
        copies.check("api.env", UID)
    copies.write("api.env", UID, b"A=2\n")  # rename replaces the link itself
    assert target.read_text() == "keep" and not os.path.islink(copies.path / "api.env")


@pytest.mark.parametrize("name", ["../escape.env", "a/b.env", ".hidden", "", "x.env.previous"])
def test_names_that_are_not_one_plain_component_are_refused(tmp_path, name):
    with pytest.raises(CheckFailed):
        Copies(tmp_path / "s").write(name, UID, b"A=1\n")
    assert not (tmp_path / "escape.env").exists()
