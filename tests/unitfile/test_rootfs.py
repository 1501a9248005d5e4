"""RootFS: the one root-confined reader (issue #12, kinds 3 and 4)."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from revops.unitfile.rootfs import RootFS, RootReadError


@pytest.fixture
def root(tmp_path) -> Path:
    (tmp_path / "root/etc").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("the machine's own secret\n")
    return tmp_path / "root"


def test_a_regular_file_is_read_and_bounded(root):
    (root / "etc/hostname").write_text("revflow-prod\nsecond line\n")
    fs = RootFS(root)
    assert fs.read_text("/etc/hostname") == "revflow-prod\nsecond line\n"
    assert fs.first_line("etc/hostname") == "revflow-prod"
    with pytest.raises(RootReadError, match="larger than 5 bytes"):
        fs.read_bytes("/etc/hostname", limit=5)


@pytest.mark.parametrize("target", ["ABS_OUTSIDE", "../../outside.txt", "../../../../../outside.txt"])
def test_a_symlink_is_followed_inside_the_root_never_out_of_it(root, target):
    outside = root.parent / "outside.txt"
    link = str(outside) if target == "ABS_OUTSIDE" else target
    os.symlink(link, root / "etc/hostname")
    fs = RootFS(root)
    with pytest.raises(RootReadError) as raised:
        fs.read_text("/etc/hostname")
    assert "secret" not in str(raised.value)
    # inside the root, the same absolute link points under the root: give it a file there
    mirrored = root / str(outside).lstrip("/")
    mirrored.parent.mkdir(parents=True, exist_ok=True)
    mirrored.write_text("the host's own file\n")
    if target == "ABS_OUTSIDE":
        assert fs.read_text("/etc/hostname") == "the host's own file\n"


def test_a_symlinked_parent_directory_cannot_lead_out(root):
    os.symlink(str(root.parent), root / "etc/up")  # absolute: means <root><parent> on the host
    os.symlink("../../..", root / "etc/rel")
    fs = RootFS(root)
    for path in ("/etc/up/outside.txt", "/etc/rel/outside.txt", "/../outside.txt", "/etc/../../outside.txt"):
        with pytest.raises(RootReadError):
            fs.read_text(path)


@pytest.mark.parametrize("kind", ["fifo", "socket", "directory", "device"])
def test_only_regular_files_are_opened_and_nothing_blocks(root, kind):
    path = root / "etc/hostname"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    elif kind == "directory":
        path.mkdir()
    else:
        os.symlink("/dev/zero", path)  # inside the root: <root>/dev/zero, made a real device below
        (root / "dev").mkdir()
        os.mknod(root / "dev/zero", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    with pytest.raises(RootReadError, match="not a regular file"):
        RootFS(root).read_bytes("/etc/hostname")


def test_a_loop_and_a_missing_file_say_so(root):
    os.symlink("b", root / "etc/a")
    os.symlink("a", root / "etc/b")
    fs = RootFS(root)
    with pytest.raises(RootReadError, match="symbolic links"):
        fs.read_text("/etc/a")
    with pytest.raises(RootReadError, match="missing"):
        fs.read_text("/etc/none")


def test_looking_without_reading_stays_inside(root):
    os.symlink(str(root.parent), root / "etc/up")
    fs = RootFS(root)
    assert not fs.exists("/etc/up/outside.txt") and not fs.is_file("/etc/up/outside.txt")
    assert fs.lexists("/etc/up") and fs.listdir("/etc/up") == []
    assert fs.readlink("/etc/up") == str(root.parent)
