"""LiveHost's own decisions: the port test and whether systemd could start a unit again.

Sockets here are real (a bind test sends no traffic); systemd is a small stand-in answering
`states`, as only the decision on its answer is under test (the real bus: test_migrate_realstack).
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from revops.errors import CheckFailed
from revops.migrate import plan as P
from revops.migrate.host import LiveHost, port_free
from revops.model import Unit

UNREACHABLE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never an address of this machine


def test_a_port_someone_listens_on_is_not_free():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_free("127.0.0.1", port) is False
    assert port_free("127.0.0.1", port) is True


def test_a_bind_error_other_than_in_use_is_a_failed_check_naming_the_address():
    with pytest.raises(CheckFailed) as caught:
        port_free(UNREACHABLE, 8004)
    assert f"{UNREACHABLE}:8004" in caught.value.message
    assert "assign requested address" in caught.value.message


class OneUnitSystemd:
    def __init__(self, load_state: str) -> None:
        self.load_state = load_state

    def states(self, names):
        return {n: SimpleNamespace(load_state=self.load_state, active_state="inactive") for n in names}


def _host_and_plan(make_config, load_state: str, fragment: str | None):
    config = make_config()
    unit = Unit(name="revpublish.service", path=fragment, port=8550)
    host = LiveHost(config, OneUnitSystemd(load_state), engine=None, compose=None, compose_files=[])
    return host, P.service_plan(unit, config, []), config


def test_a_known_unit_can_be_started_again(make_config):
    host, sp, _ = _host_and_plan(make_config, "loaded", None)
    assert host.unit_unloadable(sp) is None


def test_an_unknown_unit_with_its_file_can_be_linked_again(make_config):
    host, sp, config = _host_and_plan(make_config, "not-found", "/etc/systemd/system/revpublish.service")
    path = config.root / "etc/systemd/system/revpublish.service"
    assert "no unit file at" in host.unit_unloadable(sp) and str(path) in host.unit_unloadable(sp)
    path.parent.mkdir(parents=True)
    path.write_text("[Service]\nExecStart=/bin/true\n")
    assert host.unit_unloadable(sp) is None


def test_an_unknown_unit_without_a_file_cannot_be_started(make_config):
    host, sp, _ = _host_and_plan(make_config, "not-found", None)
    assert host.unit_unloadable(sp) == ("revpublish.service: systemd does not know it (LoadState "
                                        "not-found) and no unit file known")
