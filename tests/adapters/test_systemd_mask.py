"""Where a mask can go (systemctl(1) "mask"): the admin directory's entry for a unit, read with
lstat, and the rule revops derives from it. The rule itself is proven on the test bed's real
user manager below: MaskUnitFiles (runtime=False, force=False, as revops calls it) refuses a
unit whose file is a regular file in the admin directory, and masks a linked unit once
DisableUnitFiles removed its link."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from revops.adapters import proc, systemd
from revops.errors import CheckFailed


def test_each_kind_of_admin_entry_is_told_apart_without_following_a_symlink(tmp_path):
    (tmp_path / "file.service").write_text("[Service]\nExecStart=/bin/true\n")
    (tmp_path / "link.service").symlink_to("/opt/app/link.service")  # dangling: never followed
    (tmp_path / "masked.service").symlink_to(os.devnull)
    os.mkfifo(tmp_path / "fifo.service")  # never opened
    kinds = {n: systemd.admin_entry(tmp_path, n) for n in
             ("file.service", "link.service", "masked.service", "fifo.service", "none.service")}
    assert {n: e.kind for n, e in kinds.items()} == {
        "file.service": systemd.ENTRY_FILE, "link.service": systemd.ENTRY_LINK,
        "masked.service": systemd.ENTRY_MASK, "fifo.service": systemd.ENTRY_FILE, "none.service": systemd.ENTRY_NONE}
    assert kinds["link.service"].target == "/opt/app/link.service"
    assert systemd.admin_entry(tmp_path / "no-such-dir", "x.service").kind == systemd.ENTRY_NONE
    with pytest.raises(CheckFailed, match="not a unit name"):
        systemd.admin_entry(tmp_path, "../x.service")
    for hostile in ("x\x00.service", "..", "", "a/../x.service"):  # lstat raised ValueError on NUL
        with pytest.raises(CheckFailed, match="not a unit name"):
            systemd.admin_entry(tmp_path, hostile)


def test_only_a_file_of_the_admin_directory_or_a_link_the_disable_left_blocks_the_mask(tmp_path):
    def entry(kind, target=None):
        return systemd.AdminEntry(tmp_path / "x.service", kind, target)

    for kind in (systemd.ENTRY_NONE, systemd.ENTRY_MASK):
        assert systemd.mask_blocker(entry(kind), disabled=False) is None
        assert systemd.mask_blocker(entry(kind), disabled=True) is None
    why = systemd.mask_blocker(entry(systemd.ENTRY_FILE), disabled=True)
    assert why == (f"its unit file {tmp_path}/x.service is in the manager's admin directory, where the mask "
                   "would have to replace it (systemctl(1) mask)")
    assert systemd.mask_blocker(entry(systemd.ENTRY_FILE), disabled=False) == why
    # A link goes with the disable (LinkUnitFiles' link): planned as masked; one still there after
    # the disable is not replaced.
    assert systemd.mask_blocker(entry(systemd.ENTRY_LINK, "/opt/x.service"), disabled=False) is None
    assert "still a symlink to /opt/x.service" in systemd.mask_blocker(entry(systemd.ENTRY_LINK, "/opt/x.service"),
                                                                        disabled=True)
    assert "cannot be looked at (Permission denied)" in systemd.mask_blocker(
        entry(systemd.ENTRY_UNREADABLE, "Permission denied"), disabled=False)


# ---------------------------------------------------------------------------------------
# systemd's own rule, on the real user manager

UNIT = "[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=default.target\n"


def systemctl(*args: str, check: bool = True) -> str:
    return proc.run(["systemctl", "--user", *args], check=check, timeout=30).stdout.strip()


@pytest.fixture
def names(testbed) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        systemctl("stop", name, check=False)
        systemctl("unmask", name, check=False)
        systemctl("disable", name, check=False)
        (testbed.user_unit_dir / name).unlink(missing_ok=True)
    systemctl("daemon-reload", check=False)


@pytest.mark.realstack
def test_systemd_refuses_a_mask_over_an_admin_unit_file_and_masks_a_linked_unit_once_disabled(testbed, names, tmp_path):
    manager = systemd.connect("user")
    admin = testbed.user_unit_dir
    admin.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    own, linked = f"revops-test-own-{tag}.service", f"revops-test-linked-{tag}.service"
    names.extend([own, linked])
    (admin / own).write_text(UNIT)
    outside = tmp_path / linked
    outside.write_text(UNIT)
    manager.reload()
    manager.link([str(outside)])
    manager.enable([own, linked])
    assert systemctl("is-enabled", own, linked).split() == ["enabled", "enabled"]

    manager.disable([own, linked])
    assert systemd.admin_entry(admin, own).kind == systemd.ENTRY_FILE
    assert systemd.admin_entry(admin, linked).kind == systemd.ENTRY_NONE  # the disable took the link
    assert systemd.mask_blocker(systemd.admin_entry(admin, own), disabled=True) is not None
    assert systemd.mask_blocker(systemd.admin_entry(admin, linked), disabled=True) is None
    with pytest.raises(CheckFailed, match=r"already exists.*UnitExists"):
        manager.mask([own])
    assert (admin / own).read_text() == UNIT  # untouched: the refusal changed nothing
    manager.mask([linked])
    assert systemctl("is-enabled", linked, check=False) == "masked"
    assert systemd.admin_entry(admin, linked).kind == systemd.ENTRY_MASK
    # Unmasking leaves the linked unit unknown until it is linked again.
    manager.unmask([linked])
    assert manager.states([linked])[linked].load_state == "not-found"
    manager.link([str(outside)])
    assert systemctl("is-enabled", linked, check=False) == "linked"
    assert Path(os.readlink(admin / linked)) == outside
