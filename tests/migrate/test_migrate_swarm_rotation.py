"""secrets rotate on a Swarm target: SwarmHost's rotation steps against a scripted cluster (the
adapter's dataclasses, changed the way the manager changes them on a service update) and a
real SQLite ledger. The real cluster is test_migrate_swarm_realstack.py's.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from revops import config as config_mod
from revops.adapters.ledger import open_ledger
from revops.adapters.swarm import Node, SecretRef, Service, Task
from revops.adapters.systemd import UnitState
from revops.cli import app
from revops.commands import secrets as secrets_cmd
from revops.errors import CheckFailed
from revops.generate.stack import env_digest
from revops.journal import Journal
from revops.migrate import plan as P
from revops.migrate import rotation
from revops.migrate.stackfile import StackFile
from revops.migrate.swarmhost import SwarmHost
from revops.secrets import versions
from revops.secrets.bundle import Bundle

OLD_PAIRS = (("DATABASE_PASSWORD", "hunter22"),)
NEW_PAIRS = (("DATABASE_PASSWORD", "correct-horse-42"),)
OLD_TEXT, NEW_TEXT = Bundle("u", OLD_PAIRS, ()).text(), Bundle("u", NEW_PAIRS, ()).text()
OLD = f"revpublish.env-{env_digest(OLD_TEXT)[:12]}"
NEW = f"revpublish.env-{env_digest(NEW_TEXT)[:12]}"
MOUNT = {"source": OLD, "target": "revpublish.env", "uid": "1001", "gid": "1001", "mode": 0o400}
STACK = {"version": "3.9", "services": {"revpublish": {
    "image": "10.0.0.5:5000/revflow/revpublish:abc", "labels": {"revops.unit": "revpublish.service"},
    "secrets": [MOUNT], "deploy": {"mode": "replicated", "replicas": 2}}},
    "secrets": {OLD: {"external": True, "name": OLD}}}
SP = P.ServicePlan("revpublish.service", "revpublish", "core", 1, None, None, 0.2, secret="revpublish.env")
ROLLED_BACK = "update rolled back due to failure or early termination of task t9"


def ref(name):
    return SecretRef(name, f"id-{name}", "revpublish.env", "1001", "1001", 0o400)


class Cluster:
    """A manager as a secret swap sees it: `swap` is what Swarm does with the update
    (ok: tasks replaced on the new secret; rollback: Swarm's own rollback to the old one)."""

    def __init__(self, swap="ok", create_fails=False):
        self.swap, self.create_fails = swap, create_fails
        self.secrets = {OLD}
        self.on, self.state, self.message = OLD, "completed", None
        self.swaps, self.removed_secrets, self.created = [], [], []

    def nodes(self):
        return [Node(f"n{i}", f"swarm-{i}", "worker", "ready", "active", f"10.0.0.{i}", "", "") for i in (1, 2)]

    def service(self, name):
        return Service("svc", name, {}, {}, "replicated", 2, "img", (), self.state, self.message, None, None, "", "",
                       secrets=(ref(self.on),))

    def services(self, labels=()):
        return [self.service("revflow_revpublish")]

    def tasks(self, service=None, labels=()):
        state = "starting" if self.state == "updating" else "running"
        return [Task(f"t{i}", "svc", i, f"n{i}", "running", state, state, None, "9999", "9999",
                     secrets=(self.on,)) for i in (1, 2)]

    def logs_tail(self, service, lines=15):
        return ["refused: DATABASE_PASSWORD=correct-horse-42 is wrong"]

    def secret_names(self, labels=()):
        return set(self.secrets)

    def create_secret(self, name, data, labels):
        if self.create_fails:
            raise CheckFailed(f"Swarm manager at unix:///x: create secret {name}: rpc error: raft not ready")
        self.secrets.add(name)
        self.created.append((name, data))

    def secret_id(self, name):
        return f"id-{name}" if name in self.secrets else None

    def remove_secret(self, name):
        self.removed_secrets.append(name)
        self.secrets.discard(name)
        return True

    def swap_secret(self, service, new):
        self.swaps.append(new)
        if self.swap == "rollback" and new.name == NEW:  # the new tasks failed; Swarm went back
            self.on, self.state, self.message = OLD, "rollback_completed", ROLLED_BACK
        elif self.swap == "stuck" and new.name == NEW:  # the new tasks never get healthy
            self.on, self.state, self.message = NEW, "updating", "update in progress"
        else:
            self.on, self.state, self.message = new.name, "completed", None


class Systemd:
    def states(self, names):
        return {n: UnitState(n, "loaded", "inactive", "dead", None, 0, 0, "disabled", None) for n in names}


def make(tmp_path, cluster, pairs=NEW_PAIRS):
    cfg = config_mod.Config(path=tmp_path / "revops.yaml", root=tmp_path)
    host = SwarmHost(cfg, Systemd(), cluster, None, StackFile(str(tmp_path / "s.stack.yml"), STACK),
                     deploy=lambda path: "unused", stack_name="revflow", registry_address="10.0.0.5:5000",
                     network="revflow-network")
    host._bundle = lambda sp, fresh=False: Bundle(sp.unit, pairs, ("EnvironmentFile=/opt/shared/.env",))
    return host


@pytest.fixture
def journal(tmp_path):
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield ledger, Journal(ledger, ledger.begin_run("op", "secrets rotate", None, False))
    ledger.close()


def _ledger_text(ledger, run_id):
    return json.dumps([(s.step, s.state, s.reason) for s in ledger.steps(run_id)])


def test_a_rotation_swaps_in_the_new_digest_named_secret_and_records_its_digest(tmp_path, journal):
    ledger, jrn = journal
    cluster = Cluster()
    host = make(tmp_path, cluster)
    assert host.secret_digest_now(SP) == f"sha256:{env_digest(NEW_TEXT)[:12]}"
    done = rotation.rotate_one(host, jrn, SP, lambda: False, lambda _m: None)
    assert done.outcome == rotation.ROTATED, done.reason
    assert done.held == f"sha256:{NEW.rsplit('-', 1)[1]}"
    # One update: the new secret at the stack file's file, owner and mode; the old one gone.
    assert cluster.swaps == [SecretRef(NEW, f"id-{NEW}", "revpublish.env", "1001", "1001", 0o400)]
    assert cluster.created == [(NEW, NEW_TEXT)] and cluster.removed_secrets == [OLD]
    assert f"secret {OLD} removed (no service mounts it)" in done.reason
    assert "2/2 tasks running and healthy on secret " + NEW in done.reason
    assert versions.held(ledger.last_done(versions.HELD_STEPS))[SP.unit][0] == done.held
    text = _ledger_text(ledger, jrn.run_id) + (done.reason or "")
    assert "correct-horse-42" not in text and "hunter22" not in text


def test_a_rotation_swarm_rolled_back_ends_on_the_old_secret_with_swarms_reason(tmp_path, journal):
    ledger, jrn = journal
    cluster = Cluster(swap="rollback")
    done = rotation.rotate_one(make(tmp_path, cluster), jrn, SP, lambda: False, lambda _m: None)
    assert done.outcome == rotation.RESTORED
    assert "rollback_completed" in done.reason and ROLLED_BACK in done.reason
    assert done.held == f"sha256:{OLD.rsplit('-', 1)[1]}" and cluster.on == OLD
    assert [s.name for s in cluster.swaps] == [NEW]  # Swarm put it back: no second update
    assert cluster.removed_secrets == [NEW] and OLD in cluster.secrets  # the failed values do not linger
    steps = [(s.step, s.state) for s in ledger.steps(jrn.run_id)]
    assert steps == [(versions.ROTATE_SECRET, "failed"), (versions.RESTORE_SECRET, "done")]
    assert versions.held(ledger.last_done(versions.HELD_STEPS))[SP.unit][0] == done.held
    result = rotation.RotationResult(False, rotations=[done])
    assert secrets_cmd._exit_code(result) == 1
    text = _ledger_text(ledger, jrn.run_id) + done.reason
    assert "correct-horse-42" not in text and "hunter22" not in text  # the log tail was redacted


def test_a_gate_that_fails_while_swarm_holds_the_new_secret_is_updated_back(tmp_path, journal):
    ledger, jrn = journal
    cluster = Cluster(swap="stuck")
    done = rotation.rotate_one(make(tmp_path, cluster), jrn, SP, lambda: False, lambda _m: None)
    assert done.outcome == rotation.RESTORED and "not healthy within" in done.reason
    assert "starting" in done.reason and "correct-horse-42" not in done.reason
    assert [s.name for s in cluster.swaps] == [NEW, OLD] and cluster.on == OLD
    assert cluster.removed_secrets == [NEW]


def test_a_secret_that_cannot_be_created_changes_nothing(tmp_path, journal):
    ledger, jrn = journal
    cluster = Cluster(create_fails=True)
    done = rotation.rotate_one(make(tmp_path, cluster), jrn, SP, lambda: False, lambda _m: None)
    assert done.outcome == rotation.NOT_STARTED and "raft not ready" in done.reason
    assert cluster.swaps == [] and cluster.on == OLD and cluster.secrets == {OLD} and cluster.removed_secrets == []
    assert [(s.step, s.state) for s in ledger.steps(jrn.run_id)] == [(versions.ROTATE_SECRET, "failed")]


def test_an_update_the_manager_refuses_takes_the_new_secret_away_again(tmp_path, journal):
    ledger, jrn = journal
    cluster = Cluster()

    def refuse(service, new):
        raise CheckFailed("Swarm manager at unix:///x: update service revflow_revpublish: update out of sequence")
    cluster.swap_secret = refuse
    done = rotation.rotate_one(make(tmp_path, cluster), jrn, SP, lambda: False, lambda _m: None)
    assert done.outcome == rotation.NOT_STARTED and "out of sequence" in done.reason
    assert cluster.on == OLD and cluster.removed_secrets == [NEW] and cluster.secrets == {OLD}


def test_a_service_already_on_the_current_secret_is_not_updated(tmp_path, journal):
    ledger, jrn = journal
    cluster = Cluster()
    done = rotation.rotate_one(make(tmp_path, cluster, pairs=OLD_PAIRS), jrn, SP, lambda: False, lambda _m: None)
    assert done.outcome == rotation.ROTATED and cluster.swaps == [] and cluster.created == []
    assert done.held == f"sha256:{OLD.rsplit('-', 1)[1]}" and cluster.removed_secrets == []


# -- the verb, dry run: digests only -------------------------------------------------------

RUNNER = CliRunner()
SWARM_BLOCK = "\nswarm:\n  registry: 127.0.0.1:5999\n  insecure_registry: true\n"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("swarm-rotate-host")
    for args in (["example-host", str(root)], ["inventory", "scan", "--config", str(root / "revops.yaml")]):
        result = RUNNER.invoke(app, args)
        assert result.exit_code == 0, result.output
    with open(root / "revops.yaml", "a") as f:
        f.write(SWARM_BLOCK)
    return root


@pytest.fixture(autouse=True)
def sqlite_ledger(monkeypatch):
    monkeypatch.delenv("REVOPS_DATABASE_URL", raising=False)


def test_dry_run_on_swarm_shows_digests_only_and_connects_to_nothing(host, tmp_path):
    config = replace(config_mod.load(host / "revops.yaml"), ledger=str(tmp_path / "ledger.sqlite"))
    ledger = open_ledger(config.database_url)
    run_id = ledger.begin_run("op", "migrate", 1, False)
    gateway = "revcore-gateway.service"
    ledger.set_service_state(gateway, P.MIGRATED, run_id)
    ledger.step_finished(ledger.step_started(run_id, gateway, versions.WRITE_SECRET, ""), "done",
                         f"secret revcore-gateway.env-000000000000 created; sha256:000000000000")
    ledger.close()

    def no_host(_inputs):
        raise AssertionError("a dry run connects to no cluster")
    result = secrets_cmd.run(config, [], dry_run=True, target="swarm", host_factory=no_host)
    [c] = result.candidates
    assert c.unit == gateway and c.held == "sha256:000000000000" and c.outdated
    assert c.current.startswith("sha256:") and len(c.current) == len("sha256:") + 12
    out = io.StringIO()
    secrets_cmd.render(result, Console(file=out, width=200))
    shown = out.getvalue()
    assert "sha256:000000000000" in shown and c.current in shown and "dry run: nothing was changed" in shown
    from revops.migrate import wiring
    [unit] = [u for u in wiring.read_inputs(config).inventory.units if u.name == gateway]
    values = [line.split("=", 1)[1] for path in unit.environment_files
              for line in (host / path.lstrip("/")).read_text().splitlines() if "=" in line and not line.startswith("#")]
    assert values and not any(len(v) > 3 and v in shown for v in values)

    cli = RUNNER.invoke(app, ["secrets", "rotate", "--target", "swarm", "--dry-run", "--config", str(host / "revops.yaml")])
    assert cli.exit_code == 0 and "dry run: nothing was changed" in cli.output, cli.output


def test_status_on_swarm_flags_a_service_whose_secret_name_is_older_than_its_env_files(host):
    from revops.migrate import wiring
    from revops.status.gather import read_swarm_secrets

    config = config_mod.load(host / "revops.yaml")
    units = wiring.read_inputs(config).inventory.units
    gateway, publish = (next(u for u in units if u.name == n) for n in ("revcore-gateway.service", "revpublish.service"))
    now = secrets_cmd.current_digest(config, "swarm")(P.service_plan(publish, config, wiring.read_inputs(config).files))

    class Manager:
        closed = False

        def services(self, labels=()):
            assert labels == ["com.docker.stack.namespace=revflow"]
            return [Service(f"s-{u.service_name}", f"revflow_{u.service_name}", {}, {"revops.unit": u.name}, "replicated",
                            1, "img", (), "completed", None, None, "2026-01-01T00:00:00Z", "", "",
                            secrets=(SecretRef(f"{u.service_name}.env-{digest}", "id", f"{u.service_name}.env"),))
                    for u, digest in ((gateway, "000000000000"), (publish, now.split(":")[1]))]

        def close(self): self.closed = True

    manager = Manager()
    read = read_swarm_secrets(config, units, manager)
    old, current = read.figures["revcore-gateway.service"], read.figures["revpublish.service"]
    assert (old.provenance, old.held, old.outdated) == ("LIVE", "sha256:000000000000", True)
    assert old.current.startswith("sha256:") and old.name == "revcore-gateway.env-000000000000"
    assert (current.held, current.current, current.outdated) == (now, now, False)
    assert set(read.figures) == {"revcore-gateway.service", "revpublish.service"} and manager.closed
