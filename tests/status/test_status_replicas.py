"""Status of a template's numbered instances run as one replicated compose service: each
instance reads its own replica (compose's container-number label), a missing or extra replica
shows as it is. read_docker against a scripted engine listing; classify and the table from data."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from revops.adapters.docker_engine import ContainerState, ContainerSummary
from revops.model import Unit
from revops.status import classify, gather, replicas
from revops.status import render as table
from revops.status.figures import LIVE, StatusReport

from status_builders import T, probe, service, unit

TEMPLATE = "revflow-worker@.service"
WORKERS = [f"revflow-worker@{n}.service" for n in (1, 2, 3)]


def replica(number: int | None, *, v2: bool = False, oneoff: bool = False, cid: str | None = None,
            state: str = "running") -> ContainerSummary:
    labels = {"revops.managed": "true", "revops.unit": TEMPLATE, "com.docker.compose.service": "revflow-worker",
              "com.docker.compose.oneoff": "True" if oneoff else "False"}
    if number is not None:
        labels["com.docker.compose.container-number"] = str(number)
    name = f"ops-revflow-worker-{number}" if v2 else f"ops_revflow-worker_{number}"
    return ContainerSummary(cid or f"r{number}{'x' if oneoff else ''}", name, "img", state, "Up", "healthy", labels)


def own(unit_name: str, cid: str) -> ContainerSummary:
    return ContainerSummary(cid, f"ops_{cid}", "img", "running", "Up", "healthy",
                            {"revops.managed": "true", "revops.unit": unit_name})


class Engine:
    """The engine's listing (newest first) and each container's inspect."""

    def __init__(self, listed):
        self.listed = listed

    def list_containers(self, labels=(), *, all=True):
        assert list(labels) == [gather.MANAGED_LABEL]
        return list(self.listed)

    def container_state(self, cid):
        c = next(c for c in self.listed if c.id == cid)
        return ContainerState(c.id, c.name, c.image, c.state, None, c.health, 0, None, 0, None, c.labels)

    def close(self):
        pass


def read(listed, names=WORKERS, live=None):
    return gather.read_docker(list(names), Engine(listed), live)


def test_each_instance_reads_its_own_replica_by_compose_number():
    figures = read([replica(3), replica(1), replica(2)]).figures
    for n, name in enumerate(WORKERS, 1):
        fig = figures[name]
        assert (fig.provenance, fig.present, fig.running) == (LIVE, True, True)
        assert (fig.id, fig.name, fig.replica) == (f"r{n}", f"ops_revflow-worker_{n}", n)
        assert (fig.replica_of, fig.replicas, fig.extra_replicas) == (TEMPLATE, [1, 2, 3], [])


def test_compose_v2_names_carry_the_same_number_label():
    fig = read([replica(2, v2=True), replica(1, v2=True)], WORKERS[:2]).figures[WORKERS[1]]
    assert (fig.name, fig.replica) == ("ops-revflow-worker-2", 2)


def test_an_instance_without_its_replica_says_so_and_borrows_no_other_figure():
    figures = read([replica(1), replica(2)], live={TEMPLATE: frozenset({1, 2, 3})}).figures
    missing = figures[WORKERS[2]]
    assert (missing.present, missing.id, missing.name, missing.state, missing.replica) == (False, None, None, None, 3)
    assert missing.reason == f"no replica 3 of {TEMPLATE}'s service (the engine has replica 1, 2)"
    assert missing.provenance == LIVE and figures[WORKERS[0]].id == "r1"


def test_a_replica_no_live_instance_accounts_for_is_listed_on_every_instance_and_flagged():
    live = {TEMPLATE: frozenset({1, 2})}
    figures = read([replica(4), replica(3), replica(2), replica(1)], WORKERS[:2], live).figures
    assert figures[WORKERS[0]].extra_replicas == ["ops_revflow-worker_3", "ops_revflow-worker_4"]
    assert figures[WORKERS[0]].replicas == [1, 2, 3, 4]
    judged = classify.judge(service(WORKERS[0], systemd=unit("inactive", "dead", file_state="disabled"),
                                    ctr=figures[WORKERS[0]], health=probe()))
    assert "extra-replicas" in judged.flags and judged.verdict == "degraded"


def test_scope_of_one_instance_does_not_make_its_siblings_extra():
    fig = read([replica(3), replica(2), replica(1)], [WORKERS[0]], {TEMPLATE: frozenset({1, 2, 3})}).figures[WORKERS[0]]
    assert (fig.id, fig.extra_replicas) == ("r1", [])


def test_the_newest_container_of_a_number_wins_and_compose_run_containers_are_no_replica():
    listed = [replica(1, oneoff=True), replica(1, cid="new1", state="restarting"), replica(1, cid="old1", state="exited")]
    fig = read(listed, WORKERS[:1]).figures[WORKERS[0]]
    assert (fig.id, fig.state, fig.replicas) == ("new1", "restarting", [1])


def test_a_template_container_without_a_number_is_extra_and_never_an_instances():
    fig = read([replica(None, cid="bare")], WORKERS[:1]).figures[WORKERS[0]]
    assert fig.present is False and fig.extra_replicas == ["ops_revflow-worker_None"]
    assert "1 of its containers carry no com.docker.compose.container-number label" in fig.reason


def test_an_instance_cut_over_alone_keeps_its_own_container_and_others_are_untouched():
    figures = read([own("revflow-worker@1.service", "solo"), own("revpublish.service", "pub")],
                   [WORKERS[0], "revpublish.service", WORKERS[1]]).figures
    assert (figures[WORKERS[0]].id, figures[WORKERS[0]].replica) == ("solo", None)
    assert (figures["revpublish.service"].id, figures["revpublish.service"].replica_of) == ("pub", None)
    assert figures[WORKERS[1]].present is False and figures[WORKERS[1]].reason is None  # no replica at all


def test_live_instances_come_from_the_whole_inventory_without_masked_or_parameter_instances():
    units = [Unit(name=w, path=None) for w in WORKERS] + [
        Unit(name="revflow-worker@4.service", path=None, masked=True),
        Unit(name="tenant@acme.service", path=None), Unit(name="revpublish.service", path=None)]
    assert replicas.expected(units) == {TEMPLATE: frozenset({1, 2, 3})}
    assert replicas.numbered_instance("w@07.service") == ("w@.service", 7)
    assert replicas.numbered_instance("w@.service") is None and replicas.numbered_instance("w@a1.service") is None
    assert replicas.expected([Unit(name=f"w@{'9' * 5000}.service", path=None)]) == {}  # no ValueError


def test_json_keeps_the_container_keys_and_adds_the_replica_ones():
    fig = read([replica(1)], WORKERS[:1]).figures[WORKERS[0]]
    keys = list(dataclasses.asdict(fig))
    assert keys[:14] == ["provenance", "checked_at", "reason", "present", "name", "id", "state", "running",
                         "health", "image", "restart_count", "runtime", "cluster", "replica"]
    assert keys[14:] == ["replica_of", "replicas", "extra_replicas"]


def test_the_table_shows_each_instances_replica_number_and_a_missing_one():
    figures = read([replica(1)], WORKERS[:2], {TEMPLATE: frozenset({1, 2})}).figures
    rows = [classify.judge(service(w, systemd=unit("inactive", "dead", file_state="disabled"), ctr=figures[w],
                                   health=probe())) for w in WORKERS[:2]]
    from revops.status.summary import summarize

    report = StatusReport(T, "revops.yaml", {}, [], rows, summarize(rows))
    out = io.StringIO()
    table.render(report, Console(file=out, width=250, color_system=None))
    text = out.getvalue()
    assert "running (healthy) #1" in text and "- (no replica 2)" in text


def numbered(number_label: str, cid: str) -> ContainerSummary:
    """A container revops did not make, labelled as a replica of the template."""
    c = replica(None, cid=cid)
    return dataclasses.replace(c, name=f"foreign-{cid}",
                               labels={**c.labels, "com.docker.compose.container-number": number_label})


def test_a_container_number_label_that_is_no_number_compose_writes_is_an_extra_not_a_failed_read():
    odd = [numbered("9" * 5000, "huge"), numbered("-1", "neg"), numbered("02", "zero"), numbered("٣", "arabic")]
    read_ = gather.guarded("docker", lambda: read([replica(1), replica(2), replica(3), *odd]))
    assert read_.report.provenance == LIVE, read_.report.reason
    figure = read_.figures[WORKERS[1]]
    assert figure.present and figure.replica == 2 and figure.replicas == [1, 2, 3]
    assert sorted(figure.extra_replicas) == sorted(c.name for c in odd)


def test_a_second_container_claiming_a_replicas_number_is_flagged_extra():
    dup = dataclasses.replace(replica(1), id="dup1", name="other_revflow-worker_1")
    figures = read([replica(1), replica(2), replica(3), dup]).figures
    assert figures[WORKERS[0]].present and figures[WORKERS[0]].replica == 1
    assert all(f.extra_replicas == ["other_revflow-worker_1"] for f in figures.values())
