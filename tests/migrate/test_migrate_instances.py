"""A template's instances in `revops migrate`, as generate made them: numbered instances one
item for their replicated compose service (stopped, started, gated, disabled and put back
together), parameter instances one item each; the plan says which.

Plan and executor logic with data and migrate_helpers.ScriptedHost; LiveHost's handling of
the instances with a stand-in manager and engine that record what they are asked."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from revops import output
from revops.adapters.ledger import open_ledger
from revops.commands import migrate, rollback
from revops.generate import replica
from revops.journal import Journal
from revops.migrate import instances as I
from revops.migrate import plan as P
from revops.migrate import resume
from revops.migrate.executor import MIGRATED, ROLLED_BACK, Executor
from revops.model import Inventory, Unit

from migrate_helpers import ScriptedHost

FILES = ["/srv/ops/compose/docker-compose.yml"]
TEMPLATE = "revflow-leadgen-worker@.service"
WORKERS = [f"revflow-leadgen-worker@{n}.service" for n in (1, 2, 3)]
TENANTS = ["revflow-leadgen-tenant@acme.service", "revflow-leadgen-tenant@zeta.service"]


def worker(name: str, **more) -> Unit:
    n = name.split("@")[1].split(".")[0]
    return Unit(name=name, path="etc/systemd/system/revflow-leadgen-worker@.service", venv="/opt/w/venv",
                exec_start=[["/opt/w/venv/bin/python", "worker.py", "--queue", f"q-{n}"]],
                environment_files=["/etc/revflow/shared.env"], after=["revflow-leadgen-1.service"], **more)


def inventory() -> Inventory:
    return Inventory(root="/", scanned_at=None, units=[
        Unit(name="revflow-leadgen-1.service", path=None, port=9001, venv="/opt/a/venv"),
        *[worker(n) for n in WORKERS],
        Unit(name="revflow-leadgen-report.service", path=None, after=[WORKERS[1]], requires=[WORKERS[1]]),
        *[Unit(name=t, path="etc/systemd/system/revflow-leadgen-tenant@.service") for t in TENANTS],
    ])


# What generate writes: one service for the numbered template, one per parameter instance.
COMPOSE_UNITS = {"revflow-leadgen-1.service": "revflow-leadgen-1", TEMPLATE: "revflow-leadgen-worker",
                 "revflow-leadgen-report.service": "revflow-leadgen-report",
                 **{t: t.replace("@", "-").removesuffix(".service") for t in TENANTS}}


def build(cfg, **kw) -> P.Plan:
    return P.build(inventory(), cfg, 2, compose_files=FILES, compose_units=COMPOSE_UNITS, **kw)


@pytest.fixture
def ledger(tmp_path):
    led = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield led
    led.close()


# -- the plan ---------------------------------------------------------------------------

def test_numbered_instances_are_one_item_for_their_replicated_service(make_config):
    plan = build(make_config())
    [group] = [sp for sp in plan.services if sp.instances]
    assert (group.unit, group.service, group.instances, group.instances_as) == (
        TEMPLATE, "revflow-leadgen-worker", WORKERS, "replicas (instance names are numbers)")
    assert group.units == WORKERS and group.port is None and group.preverify == P.PREVERIFY_IMPORT
    assert group.secret == "revflow-leadgen-worker-.env"  # the name generate gives its secret
    assert [s.name for s in group.steps] == [P.PREFLIGHT, P.WRITE_SECRET, P.VERIFY_CANDIDATE, P.STOP_UNIT,
                                             P.START_CONTAINER, P.WAIT_HEALTHY, P.DISABLE_UNIT]
    words = {s.name: s.changes for s in group.steps}
    assert words[P.STOP_UNIT] == f"stops {', '.join(WORKERS)}, each alone, and waits until each is inactive"
    assert "starts compose service revflow-leadgen-worker with its 3 replicas, one per instance" in words[P.START_CONTAINER]
    assert f"for all 3 replicas to be Docker health 'healthy'" in words[P.WAIT_HEALTHY]
    assert f"removes them and starts {', '.join(WORKERS)} again" in words[P.WAIT_HEALTHY]
    assert words[P.DISABLE_UNIT].startswith(f"disables {', '.join(WORKERS)}")
    assert not any(u in plan.units for u in WORKERS)  # never an item per numbered instance
    assert not any(s.unit in WORKERS for s in plan.skipped)


def test_on_the_swarm_target_a_replicated_templates_instances_stay_under_systemd(make_config):
    plan = build(make_config(), target="swarm")
    assert not any(sp.instances for sp in plan.services)
    [stays] = [s for s in plan.skipped if s.unit == TEMPLATE]
    assert stays.reason.startswith("a template's 3 numbered instances: on the swarm target they stay under systemd")
    assert "revflow-leadgen-tenant@acme.service" in plan.units  # a parameter instance is a service of its own


def test_a_unit_after_one_instance_waits_for_the_whole_group(make_config):
    plan = build(make_config())
    report = next(sp for sp in plan.services if sp.unit == "revflow-leadgen-report.service")
    assert report.after == [TEMPLATE]
    group = next(sp for sp in plan.services if sp.instances)
    assert group.after == ["revflow-leadgen-1.service"]
    assert plan.waves == [["revflow-leadgen-1.service", *TENANTS], [TEMPLATE], ["revflow-leadgen-report.service"]]


def test_parameter_instances_are_one_item_each_and_the_plan_says_why(make_config):
    plan = build(make_config())
    tenants = [sp for sp in plan.services if sp.unit in TENANTS]
    assert [(sp.unit, sp.instances, sp.instances_as) for sp in tenants] == [
        (t, [], "one service per instance (instance names are parameters)") for t in TENANTS]
    out = io.StringIO()
    migrate.render_plan(plan, output.make_console(file=out, width=400))
    text = out.getvalue()
    assert (f"{TEMPLATE} ({', '.join(WORKERS)}) -> compose service revflow-leadgen-worker with 3 replicas "
            "(instance names are numbers) (lead-gen, no port; after revflow-leadgen-1.service)") in text
    assert (f"{TENANTS[0]} -> container revflow-leadgen-tenant-acme (lead-gen, no port; one service per instance "
            "(instance names are parameters))") in text


def test_numbered_instances_generate_kept_apart_are_one_item_each(make_config):
    units = {u: s for u, s in COMPOSE_UNITS.items() if u != TEMPLATE}
    units |= {w: w.replace("@", "-").removesuffix(".service") for w in WORKERS}
    plan = P.build(inventory(), make_config(), 2, compose_files=FILES, compose_units=units)
    items = [sp for sp in plan.services if sp.unit in WORKERS]
    assert [sp.instances_as for sp in items] == [I.NUMBERED_APART] * 3 and all(not sp.instances for sp in items)


def test_naming_one_instance_cuts_over_its_whole_group(make_config):
    plan = build(make_config(), only=["revflow-leadgen-worker@2"])
    assert [sp.unit for sp in plan.services] == [TEMPLATE]


def test_the_group_is_migrated_only_when_every_instance_is(make_config):
    some = build(make_config(), states={WORKERS[0]: MIGRATED})
    assert TEMPLATE in some.units
    every = build(make_config(), states={w: MIGRATED for w in WORKERS})
    assert TEMPLATE not in every.units and P.Skipped(TEMPLATE, "already migrated") in every.skipped


def test_an_earlier_phases_gate_verifies_the_group_as_one(make_config):
    earlier = [u.name for u, _ in P.earlier_units(inventory(), make_config(), 3, COMPOSE_UNITS)]
    assert TEMPLATE in earlier and not set(WORKERS) & set(earlier)


def test_the_import_check_checks_the_argv_inside_the_replica_wrapper():
    wrapped = list(replica.command("/opt/venv/bin/python", ("/opt/venv/bin/python", "worker.py", "q-%i"), ("Q",)))
    assert I.unwrap(wrapped) == ["/opt/venv/bin/python", "worker.py", "q-1"]
    assert I.unwrap(["/opt/venv/bin/python", "-c", "print(1)"]) == ["/opt/venv/bin/python", "-c", "print(1)"]


# -- the cutover, rollback and resume ---------------------------------------------------

def group_plan(make_config) -> P.ServicePlan:
    return next(sp for sp in build(make_config()).services if sp.instances)


def test_the_group_migrates_as_one_and_the_ledger_records_each_instance(make_config, ledger):
    host = ScriptedHost(ledger)
    run_id = ledger.begin_run("op", "migrate --phase 2", 2, False)
    [result] = Executor(host, Journal(ledger, run_id), mask=False).run([group_plan(make_config)])
    assert result.outcome == MIGRATED
    assert host.calls_of(TEMPLATE) == ["preflight", "write_secret", "check_imports", "stop_unit",
                                       "start_replacement", "wait_replacement_healthy", "retire_unit"]
    assert resume.service_states(ledger) == {TEMPLATE: MIGRATED, **{w: MIGRATED for w in WORKERS}}
    assert {s.service for s in ledger.steps(run_id)} == {TEMPLATE}


def test_a_group_not_healthy_is_rolled_back_and_every_instance_recorded(make_config, ledger):
    host = ScriptedHost(ledger, healthy=False)
    run_id = ledger.begin_run("op", "migrate --phase 2", 2, False)
    [result] = Executor(host, Journal(ledger, run_id), mask=False).run([group_plan(make_config)])
    assert result.outcome == ROLLED_BACK
    assert host.calls_of(TEMPLATE)[-4:] == ["remove_replacement", "remove_secret", "start_unit", "wait_unit_healthy"]
    assert resume.service_states(ledger) == {TEMPLATE: ROLLED_BACK, **{w: ROLLED_BACK for w in WORKERS}}


def test_rollback_of_one_instance_or_the_phase_puts_the_whole_group_back(make_config):
    cfg = make_config()
    [sp], _ = rollback.choose(inventory(), cfg, ["revflow-leadgen-worker@3"], None, {}, FILES, COMPOSE_UNITS)
    assert (sp.unit, sp.instances) == (TEMPLATE, WORKERS)
    states = {w: MIGRATED for w in WORKERS} | {"revflow-leadgen-report.service": MIGRATED}
    chosen, _ = rollback.choose(inventory(), cfg, [], 2, states, FILES, COMPOSE_UNITS)
    assert [s.unit for s in chosen] == ["revflow-leadgen-report.service", TEMPLATE]  # dependents first


def test_resume_settles_a_killed_group_as_the_one_item_it_was(make_config, ledger):
    dead = ledger.begin_run("op", "migrate --phase 2", 2, False)
    ledger.set_service_state(TEMPLATE, P.MIGRATING, dead)
    ledger.step_started(dead, TEMPLATE, P.WAIT_HEALTHY, "")
    run_id = ledger.begin_run("op", "migrate --phase 2", 2, False)
    host = ScriptedHost(ledger)
    [result] = resume.converge(inventory(), make_config(), ledger, Journal(ledger, run_id), host, FILES)
    assert (result.unit, result.outcome) == (TEMPLATE, MIGRATED)
    assert host.calls_of(TEMPLATE) == ["replacement_verdict", "retire_unit"]
    assert resume.service_states(ledger) == {TEMPLATE: MIGRATED, **{w: MIGRATED for w in WORKERS}}


# -- LiveHost: every instance, every replica ----------------------------------------------

class Manager:
    """systemd as LiveHost asks it: every call recorded; each unit loaded and active."""

    def __init__(self):
        self.calls = []

    def states(self, names):
        return {n: SimpleNamespace(load_state="loaded", active_state="active", sub_state="running",
                                   unit_file_state="disabled", result="success") for n in names}

    def stop(self, name, timeout=30.0, mode="replace"):
        self.calls.append(f"stop {name} {mode}")
        return "inactive"

    def start(self, name, timeout=30.0, mode="replace"):
        self.calls.append(f"start {name} {mode}")
        return "active"

    def wait_for(self, name, states, timeout):
        return sorted(states)[0]

    def enable(self, names):
        self.calls.append(f"enable {' '.join(names)}")

    def disable(self, names):
        self.calls.append(f"disable {' '.join(names)}")

    def mask(self, names):
        self.calls.append(f"mask {' '.join(names)}")


class Engine:
    """The engine's containers of the service: `replicas` maps an id to (status, health)."""

    def __init__(self, replicas):
        self.replicas = replicas

    def list_containers(self, labels=(), all=True):
        return [SimpleNamespace(id=cid, name=f"p_revflow-leadgen-worker_{cid}") for cid in self.replicas]

    def container_state(self, cid):
        if cid not in self.replicas:
            return None
        status, health = self.replicas[cid]
        return SimpleNamespace(id=cid, name=f"p_revflow-leadgen-worker_{cid}", status=status, health=health,
                               exit_code=1 if status == "exited" else None, restart_count=0, labels={})

    def logs_tail(self, cid, lines=50):
        return ["boom"]


def live(make_config, replicas=None):
    from revops.migrate.host import LiveHost

    host = LiveHost(make_config(), Manager(), Engine(replicas or {}), compose=None, compose_files=[], services={})
    host._project = "p"
    return host


def test_live_host_stops_disables_and_starts_again_every_instance(make_config):
    host, sp = live(make_config), group_plan(make_config)
    host.stop_unit(sp)
    host.retire_unit(sp, mask=True)
    host.start_unit(sp)
    assert host.systemd.calls == [
        *[f"stop {w} ignore-requirements" for w in WORKERS], f"disable {' '.join(WORKERS)}", f"mask {' '.join(WORKERS)}",
        *[c for w in WORKERS for c in (f"enable {w}", f"start {w} ignore-requirements")]]
    assert host.wait_unit_healthy(sp, 5).ok and host.unit_unloadable(sp) is None


@pytest.mark.parametrize("replicas, ok, words", [
    ({"1": ("running", "healthy"), "2": ("running", "healthy"), "3": ("running", "healthy")}, True,
     "3 of 3 replicas healthy (3 found)"),
    ({"1": ("running", "healthy"), "2": ("running", "starting")}, None, "1 of 3 replicas healthy (2 found)"),
    ({"1": ("running", "healthy"), "2": ("exited", None), "3": ("running", "healthy")}, False,
     "replica p_revflow-leadgen-worker_2 exited (exit 1"),
])
def test_the_gate_wants_every_replica_healthy_and_fails_on_one_that_died(make_config, replicas, ok, words):
    host, sp = live(make_config, replicas), group_plan(make_config)
    verdict, said = host._replicas_now(sp, 5.0)
    assert (verdict.ok if verdict else None) == ok and words in said
    assert host.replacement_verdict(sp).ok is bool(ok)


def test_preflight_refuses_a_group_whose_compose_service_was_made_for_other_instances(make_config):
    from revops.errors import CheckFailed
    from revops.migrate.composefile import ComposeService
    from revops.migrate.host import LiveHost

    made = ComposeService("revflow-leadgen-worker", TEMPLATE, None, FILES[0], instances=tuple(WORKERS[:2]))
    host = LiveHost(make_config(), Manager(), Engine({}), compose=None, compose_files=FILES, services={TEMPLATE: made})
    with pytest.raises(CheckFailed, match="was generated for revflow-leadgen-worker@1.service, "
                                          "revflow-leadgen-worker@2.service .revops.instances."):
        host.preflight(group_plan(make_config))


def test_the_gate_reads_the_host_only_for_earlier_services_the_ledger_says_migrated(make_config):
    """plan.gate blocks on the ledger's state alone; asking the host about a service with no
    container cost a compose process each (16 s of a bench run on an unmigrated phase 1)."""
    from revops.migrate import wiring
    from revops.migrate.executor import Verdict

    config = make_config()
    earlier = [u.name for u, _ in P.earlier_units(inventory(), config, 3, COMPOSE_UNITS)]
    assert len(earlier) >= 2
    asked = []
    host = SimpleNamespace(replacement_verdict=lambda sp: asked.append(sp.unit) or Verdict(True))
    inputs = SimpleNamespace(inventory=inventory(), config=config, files=["docker-compose.yml"],
                             project=SimpleNamespace(units=COMPOSE_UNITS))
    read = wiring.read_earlier(inputs, 3, {earlier[0]: MIGRATED, earlier[1]: ROLLED_BACK}, host, None)
    assert asked == [earlier[0]]
    assert [(h.unit, h.healthy) for h in read] == [(u, u == earlier[0]) for u in earlier]
    blockers = {b.unit: b.reason for b in P.gate(read, None).blockers}
    assert earlier[0] not in blockers and blockers[earlier[1]] == "not migrated (ledger: rolled-back)"
