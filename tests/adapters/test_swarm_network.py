"""Cluster.ensure_network when the manager refuses a create: the network it says exists is
looked for again (a manager whose engine just restarted was seen to list it only later).
A scripted low-level API stands in for the manager; the real one is exercised by
tests/migrate/test_migrate_swarm_realstack.py."""

from __future__ import annotations

import docker.errors
import pytest

from revops.adapters import swarm
from revops.errors import CheckFailed

OVERLAY = {"Name": "revflow-network", "Driver": "overlay", "Scope": "swarm"}


class Api:
    def __init__(self, listed_after: int, conflict: bool = True, found=OVERLAY) -> None:
        self.lists = 0
        self.listed_after = listed_after  # the list shows the network from this call on
        self.conflict = conflict
        self.found = found
        self.created = []

    def networks(self, names):
        self.lists += 1
        return [self.found] if self.found and self.lists > self.listed_after else []

    def inspect_network(self, name, scope=None):
        raise docker.errors.NotFound("no such network")

    def create_network(self, name, **options):
        if self.conflict:
            raise docker.errors.APIError(f"network with name {name} already exists")
        self.created.append((name, options))


def cluster(api: Api) -> swarm.Cluster:
    c = swarm.Cluster.__new__(swarm.Cluster)
    c.api, c.where = api, "unix:///run/manager.sock"
    return c


def test_a_refused_create_finds_the_network_once_the_manager_lists_it(monkeypatch):
    monkeypatch.setattr(swarm.time, "sleep", lambda _s: None)
    api = Api(listed_after=3)
    assert cluster(api).ensure_network("revflow-network", {}) == "network revflow-network present"
    assert api.lists == 4


def test_a_refused_create_for_a_network_never_listed_is_the_managers_error(monkeypatch):
    monkeypatch.setattr(swarm, "NETWORK_SETTLE_S", 0.0)
    with pytest.raises(CheckFailed, match="network revflow-network: network with name revflow-network already exists"):
        cluster(Api(listed_after=10**6)).ensure_network("revflow-network", {})


def test_a_refused_create_that_finds_a_local_network_says_so(monkeypatch):
    monkeypatch.setattr(swarm.time, "sleep", lambda _s: None)
    api = Api(listed_after=1, found={"Name": "revflow-network", "Driver": "bridge", "Scope": "local"})
    with pytest.raises(CheckFailed, match="exists as a local bridge network"):
        cluster(api).ensure_network("revflow-network", {})


def test_a_missing_network_is_created_as_an_attachable_overlay():
    api = Api(listed_after=10**6, conflict=False)
    assert cluster(api).ensure_network("revflow-network", {"revops.managed": "true"}).endswith("created (overlay, attachable)")
    assert api.created == [("revflow-network", {"driver": "overlay", "attachable": True,
                                                 "labels": {"revops.managed": "true"}, "check_duplicate": True})]
