"""The cutover journal and resume against the test bed's PostgreSQL, in a schema of our own
(the database is shared with other tests)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import psycopg
import pytest

from revops.adapters.ledger import open_ledger
from revops.migrate import plan as P
from revops.migrate import resume
from revops.migrate.executor import MIGRATED, ROLLED_BACK, Executor
from revops.journal import Journal
from revops.model import Inventory, Unit

from test_migrate_executor import ScriptedHost

pytestmark = pytest.mark.realstack


@pytest.fixture
def pg_ledger(testbed):
    schema = f"revops_mg_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(testbed.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{testbed.database_url}?options={quote(f'-csearch_path={schema}')}"
    ledger = open_ledger(url)
    try:
        yield ledger
    finally:
        ledger.close()
        with psycopg.connect(testbed.database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_cutover_and_rollback_journal_on_postgres(pg_ledger, make_config):
    cfg = make_config()
    inv = Inventory("/", None, [Unit(name="revcore-gateway.service", path=None, port=8004),
                                Unit(name="revpublish.service", path=None, port=8550)])
    plan = P.build(inv, cfg, 1)
    run_id = pg_ledger.begin_run("op", "migrate --phase 1", 1, False)
    host = ScriptedHost(pg_ledger)
    results = Executor(host, Journal(pg_ledger, run_id), mask=False).run(plan.services[:1])
    assert results[0].outcome == MIGRATED
    assert host.open_while_acting == list(P.STEPS)  # journaled before each action, on PostgreSQL too
    # a killed run: wait-healthy started, never finished
    dead = pg_ledger.begin_run("op", "migrate", 1, False)
    pg_ledger.set_service_state("revpublish.service", P.MIGRATING, dead)
    pg_ledger.step_started(dead, "revpublish.service", P.WAIT_HEALTHY, "")
    run_id = pg_ledger.begin_run("op", "migrate", 1, False)
    settled = resume.converge(inv, cfg, pg_ledger, Journal(pg_ledger, run_id), ScriptedHost(healthy=False), [])
    assert [(r.unit, r.outcome) for r in settled] == [("revpublish.service", ROLLED_BACK)]
    assert pg_ledger.open_steps() == []
    assert resume.service_states(pg_ledger) == {"revcore-gateway.service": MIGRATED,
                                                "revpublish.service": ROLLED_BACK}


def test_a_wave_journals_from_several_threads_on_postgres(pg_ledger, make_config):
    """Several services in flight write the one ledger connection at once: every step is
    journaled before it acts and closed after, none lost or left open."""
    cfg = make_config()
    inv = Inventory("/", None, [Unit(name=f"revflow-leadgen-{i}.service", path=None, port=8700 + i)
                                for i in range(8)])
    plan = P.build(inv, cfg, 2, force_reason="test", parallel=4)
    run_id = pg_ledger.begin_run("op", "migrate --phase 2", 2, False)
    host = ScriptedHost(pg_ledger, delay=0.01)
    results = Executor(host, Journal(pg_ledger, run_id), mask=False, parallel=4).run(plan.services)
    assert [r.outcome for r in results] == [MIGRATED] * 8
    assert sorted(host.open_while_acting) == sorted(list(P.STEPS) * 8)
    assert pg_ledger.open_steps() == []
    steps = pg_ledger.steps(run_id)
    assert len(steps) == 8 * len(P.STEPS) and {s.state for s in steps} == {"done"}
