"""The journal, the same tests against SQLite (a temp file) and the test bed's PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import sys
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from revops.adapters import ledger as ledger_mod
from revops.adapters import proc
from revops.adapters.ledger import open_ledger
from revops.errors import AdapterUnavailable, CheckFailed, UsageError

REPO = Path(__file__).resolve().parents[2]

# Run in another process: the lock and a kill -9 must hold across processes, not threads.
CHILD = r"""
import os, signal, sys
from revops.adapters.ledger import open_ledger
from revops.errors import CheckFailed

url, action = sys.argv[1], sys.argv[2]
ledger = open_ledger(url)
if action == "try-lock":
    try:
        with ledger.lock("bob@ops2"):
            print("ACQUIRED")
    except CheckFailed as exc:
        print("REFUSED " + exc.message)
elif action == "crash-in-step":
    run = ledger.begin_run("carol", "revops migrate --phase 1", 1, False)
    ledger.step_started(run, "revpublish", "stop-unit", "StopUnit revpublish.service")
    os.kill(os.getpid(), signal.SIGKILL)
elif action == "crash-holding-lock":
    ledger.lock("dave").__enter__()
    ledger.begin_run("dave", "revops migrate --phase 2", 2, False)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def run_child(url: str, action: str) -> proc.Completed:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return proc.run([sys.executable, "-c", CHILD, url, action], env=env, check=False,
                    timeout=60)


# ---------------------------------------------------------------------------------------
# One URL per test: a fresh SQLite file, or a fresh schema in the throwaway PostgreSQL


def _with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_url(testbed) -> Iterator[str]:
    import psycopg  # test set-up only: a private schema per test

    base = testbed.database_url
    schema = f"revops_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    yield _with_search_path(base, schema)
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.realstack)])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/ops/ledger.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(url) -> Iterator[ledger_mod.Ledger]:
    led = open_ledger(url)
    yield led
    led.close()


# ---------------------------------------------------------------------------------------
# Both backends


def test_schema_is_created_and_versioned(url):
    first = open_ledger(url)
    assert first.schema_version() == ledger_mod.MIGRATIONS[-1][0]
    run = first.begin_run("alice", "revops migrate --phase 1", 1, False)
    first.close()
    again = open_ledger(url)  # reopening applies nothing twice and keeps the data
    assert again.schema_version() == ledger_mod.MIGRATIONS[-1][0]
    assert [r.id for r in again.runs(10)] == [run]
    again.close()


def test_each_run_records_its_target_and_older_runs_were_for_compose(url, monkeypatch):
    with monkeypatch.context() as older:  # a ledger made by a revops that knew schema 1 only
        older.setattr(ledger_mod, "MIGRATIONS", ledger_mod.MIGRATIONS[:1])
        first = open_ledger(url)
        before = first._insert(  # as that revops wrote a run: no target column yet
            "INSERT INTO runs (started_at, operator, host, command, phase, dry_run) VALUES (?, ?, ?, ?, ?, ?)",
            (ledger_mod.now(), "alice", "ops1", "revops migrate --phase 1", 1, 0))
        first.close()
    upgraded = open_ledger(url)
    assert upgraded.schema_version() == ledger_mod.MIGRATIONS[-1][0]
    swarm = upgraded.begin_run("bob", "revops migrate --phase 2", 2, False, target="swarm")
    assert {r.id: r.target for r in upgraded.runs(5)} == {before: "compose", swarm: "swarm"}
    assert upgraded.run(upgraded.begin_run("carol", "revops quick-wins", None, False)).target == "compose"
    upgraded.close()


def test_run_and_steps_are_written_and_read_back(ledger, url):
    run = ledger.begin_run("alice", "revops migrate --phase 1 --yes", 1, dry_run=False,
                           forced_reason="phase 0 verified by hand")
    stop = ledger.step_started(run, "revpublish", "stop-unit", "StopUnit revpublish.service")
    ledger.step_finished(stop, "done")
    up = ledger.step_started(run, "revpublish", "start-container")
    ledger.step_finished(up, "failed", reason="health: HTTP 500 after 30s")
    ledger.finish_run(run, "rolled-back")

    reader = open_ledger(url)  # another connection sees every write: all were committed
    (got,) = reader.runs(5)
    assert (got.id, got.operator, got.command, got.phase, got.dry_run) == (
        run, "alice", "revops migrate --phase 1 --yes", 1, False)
    assert got.forced_reason == "phase 0 verified by hand"
    assert got.outcome == "rolled-back" and got.finished_at >= got.started_at
    assert got.host == socket.gethostname()
    steps = reader.steps(run)
    assert [(s.step, s.state, s.reason) for s in steps] == [
        ("stop-unit", "done", None), ("start-container", "failed", "health: HTTP 500 after 30s")]
    assert steps[0].detail == "StopUnit revpublish.service"
    assert all(s.finished_at is not None for s in steps)
    assert reader.open_steps() == []
    reader.close()


def test_service_state_is_upserted_with_its_time(ledger):
    run = ledger.begin_run("alice", "revops migrate --phase 1", 1, False)
    ledger.set_service_state("revpublish", "migrated", run)
    first = ledger.service_states()["revpublish"].updated_at
    ledger.set_service_state("revpublish", "rolled-back", run, reason="never healthy")
    ledger.set_service_state("revcore-gateway", "migrated", run)
    states = ledger.service_states()
    assert sorted(states) == ["revcore-gateway", "revpublish"]
    record = states["revpublish"]
    assert (record.migration_state, record.run_id, record.reason) == (
        "rolled-back", run, "never healthy")
    assert record.updated_at >= first


def test_inventory_snapshots_are_recorded(ledger):
    first = ledger.record_inventory("sha256:aaa", 149, 255)
    second = ledger.record_inventory("sha256:bbb", 150, 255)
    snaps = ledger.inventory_snapshots(5)
    assert [(s.id, s.digest, s.units, s.venvs) for s in snaps] == [
        (second, "sha256:bbb", 150, 255), (first, "sha256:aaa", 149, 255)]


def test_open_steps_survive_a_kill_9(ledger, url):
    done = run_child(url, "crash-in-step")
    assert done.returncode == -signal.SIGKILL
    (step,) = ledger.open_steps()
    assert (step.service, step.step, step.state, step.finished_at) == (
        "revpublish", "stop-unit", "started", None)
    assert ledger.open_steps("revpublish") == [step]
    assert ledger.open_steps("revscore-iq") == []
    (run,) = ledger.runs(5)
    assert run.id == step.run_id and run.outcome is None and run.finished_at is None


def test_dropped_ledger_leaves_its_step_open(url):
    led = open_ledger(url)
    run = led.begin_run("alice", "revops migrate --phase 1", 1, False)
    step = led.step_started(run, "revaudit-v6", "stop-unit")
    del led  # no finish, no close: as a crash would leave it
    fresh = open_ledger(url)
    assert [s.id for s in fresh.open_steps()] == [step]
    fresh.close()


def test_lock_refuses_a_second_holder_in_another_process(ledger, url):
    with ledger.lock("alice@ops1"):
        run = ledger.begin_run("alice", "revops migrate --phase 1", 1, False)
        refused = run_child(url, "try-lock")
        assert refused.returncode == 0, refused.stderr
        line = refused.stdout.strip()
        assert line.startswith("REFUSED ledger locked by alice@ops1 since ")
        assert line.endswith(f"(run {run})")
    assert run_child(url, "try-lock").stdout.strip() == "ACQUIRED"


def test_lock_refuses_a_second_holder_in_the_same_process(ledger, url):
    other = open_ledger(url)
    with ledger.lock("alice"):
        with pytest.raises(CheckFailed, match=r"ledger locked by alice since .* \(no run yet\)"):
            with other.lock("bob"):
                pass
    with other.lock("bob"):  # free again once alice is done
        pass
    other.close()


def test_lock_of_a_killed_holder_is_released(ledger, url):
    assert run_child(url, "crash-holding-lock").returncode == -signal.SIGKILL
    with ledger.lock("erin"):
        assert ledger.begin_run("erin", "revops migrate --phase 2", 2, False) > 0


def test_secrets_in_free_text_are_not_stored(ledger):
    run = ledger.begin_run("alice", "revops migrate --db postgresql://ops:hunter2@db/x "
                           "--password s3cret", 1, False)
    step = ledger.step_started(run, "revpublish", "compose-up", "env API_KEY=abc123")
    ledger.step_finished(step, "failed", reason="DB_PASSWORD=pw1 rejected")
    stored = repr(ledger.runs(1)) + repr(ledger.steps(run))
    for secret in ("hunter2", "s3cret", "abc123", "pw1"):
        assert secret not in stored
    assert "postgresql://ops:***@db/x" in stored


def test_finishing_an_unknown_step_is_an_error(ledger):
    with pytest.raises(CheckFailed, match="no step 999"):
        ledger.step_finished(999, "done")
    with pytest.raises(ValueError):
        ledger.step_finished(1, "started")


# ---------------------------------------------------------------------------------------
# Unusable ledgers


def test_unwritable_sqlite_path_is_adapter_unavailable(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the ledger's directory should be\n")
    with pytest.raises(AdapterUnavailable) as caught:
        open_ledger(f"sqlite://{blocker}/ledger.db")
    assert f"sqlite://{blocker}/ledger.db" in caught.value.message
    assert "cannot open" in caught.value.message


def test_sqlite_path_that_is_a_directory_is_adapter_unavailable(tmp_path):
    (tmp_path / "ledger.db").mkdir()
    with pytest.raises(AdapterUnavailable, match="unable to open database file"):
        open_ledger(f"sqlite://{tmp_path}/ledger.db")


def test_unreachable_postgresql_names_the_url_without_password():
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(AdapterUnavailable) as caught:
            open_ledger(f"postgresql://ops:hunter2@127.0.0.1:{port}/revops")
    assert f"postgresql://ops:***@127.0.0.1:{port}/revops" in caught.value.message
    assert "hunter2" not in caught.value.message


@pytest.mark.realstack
def test_postgresql_gone_mid_run_is_adapter_unavailable(postgres_url, testbed):
    import psycopg  # test set-up only: cut the ledger's connection as a server restart would

    tag = f"revops-test-{uuid.uuid4().hex[:8]}"
    led = open_ledger(f"{postgres_url}&application_name={tag}")
    run = led.begin_run("alice", "revops migrate --phase 1", 1, False)
    with psycopg.connect(testbed.database_url, autocommit=True) as admin:
        (killed,) = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s", (tag,)).fetchone()
    assert killed == 1
    with pytest.raises(AdapterUnavailable, match=r"ledger postgresql://.*: cannot write"):
        led.step_started(run, "revpublish", "stop-unit")
    led.close()


def test_three_and_four_slash_sqlite_urls_name_the_same_file(tmp_path):
    # Config.database_url writes sqlite:/// + an absolute path: four slashes.
    first = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    run = first.begin_run("alice", "revops migrate --phase 1", 1, True)
    first.close()
    second = open_ledger(f"sqlite://{tmp_path}/ledger.db")
    assert [r.id for r in second.runs(5)] == [run]
    assert second.runs(5)[0].dry_run is True
    second.close()
    assert (tmp_path / "ledger.db").is_file() and (tmp_path / "ledger.db.lock").exists() is False


def test_unknown_url_scheme_is_a_usage_error():
    with pytest.raises(UsageError, match="sqlite:///ABSOLUTE/PATH"):
        open_ledger("mysql://ops@db/revops")


# ---------------------------------------------------------------------------------------
# Pure helpers


def test_one_schema_text_differs_only_in_the_id_column():
    sqlite = ledger_mod.schema_statements(ledger_mod.MIGRATIONS[0][1], "sqlite")
    postgres = ledger_mod.schema_statements(ledger_mod.MIGRATIONS[0][1], "postgresql")
    assert len(sqlite) == len(postgres) > 5
    normalise = lambda s: s.replace(ledger_mod.ID_COLUMN["sqlite"], "<id>").replace(  # noqa: E731
        ledger_mod.ID_COLUMN["postgresql"], "<id>")
    assert [normalise(s) for s in sqlite] == [normalise(s) for s in postgres]


def test_pending_migrations_go_forward_only():
    latest = ledger_mod.MIGRATIONS[-1][0]
    assert [v for v, _ in ledger_mod.pending_migrations(0)] == [
        v for v, _ in ledger_mod.MIGRATIONS]
    assert ledger_mod.pending_migrations(latest) == []
    with pytest.raises(AdapterUnavailable, match="newer than this revops"):
        ledger_mod.pending_migrations(latest + 1)


def test_safe_url_strips_passwords():
    assert ledger_mod.safe_url("postgresql://ops:pw@db:5432/x?sslmode=require&password=pw") == (
        "postgresql://ops:***@db:5432/x?sslmode=require&password=***")
    assert ledger_mod.safe_url("sqlite:///srv/ops/ledger.db") == "sqlite:///srv/ops/ledger.db"


def test_advisory_key_is_stable_and_per_schema():
    key = ledger_mod.advisory_key("revops", "public")
    assert key == ledger_mod.advisory_key("revops", "public")
    assert key != ledger_mod.advisory_key("revops", "other")
    assert -(2**63) <= key < 2**63


# ---------------------------------------------------------------------------------------
# Rows read back are checked (issue 12, kind 7): a row revops did not write as it is, is a
# clear error naming the ledger, the table, the row and the column; never a crash or a guess.


def test_a_service_row_with_an_unknown_state_is_named(ledger, url):
    run = ledger.begin_run("alice", "revops migrate", 1, False)
    ledger.set_service_state("revpublish.service", "migrated", run)
    ledger._write("UPDATE services SET migration_state = ? WHERE service = ?", ("pwned", "revpublish.service"))
    with pytest.raises(ledger_mod.LedgerDataError) as caught:
        ledger.service_states()
    assert caught.value.exit_code == 2
    assert caught.value.message == (f"ledger {ledger.url}: services row 'revpublish.service': migration_state is "
                                    f"'pwned', expected one of {', '.join(ledger_mod.MIGRATION_STATES)}")


def test_a_run_row_with_a_bad_flag_is_named(ledger):
    run = ledger.begin_run("alice", "revops migrate", 1, False)
    ledger._write("UPDATE runs SET dry_run = 7 WHERE id = ?", (run,))
    with pytest.raises(ledger_mod.LedgerDataError, match=f"runs row {run}: dry_run is 7, expected 0 or 1"):
        ledger.runs()
    with pytest.raises(ledger_mod.LedgerDataError, match=f"runs row {run}"):
        ledger.run(run)


def test_an_unknown_migration_state_is_never_written(ledger):
    with pytest.raises(ValueError, match="not 'half-done'"):
        ledger.set_service_state("revpublish.service", "half-done", None)
    assert ledger.service_states() == {}


def test_a_repoint_is_recorded_then_moved_through_its_states(ledger):
    run = ledger.begin_run("alice", "revops stabilize", None, False)
    ledger.set_repoint("revpublish.service", "stabilize", "repointing", run,
                       dropin="/etc/systemd/system/revpublish.service.d/50-revops-stabilize.conf",
                       exec_before=["/opt/m/venv/bin/uvicorn", "app:app", "--api-key", "s3cr3t", "TOKEN=abc"],
                       exec_after=["/opt/suite/bin/uvicorn", "app:app"], uses_before="/opt/m/venv",
                       uses_after="/opt/suite", restarts_before=7)
    ledger.set_repoint("revpublish.service", "stabilize", "repointed", run, reason="healthy")
    record = ledger.repoints("stabilize")["revpublish.service"]
    assert (record.state, record.restarts_before, record.uses_before, record.uses_after, record.reason) == (
        "repointed", 7, "/opt/m/venv", "/opt/suite", "healthy")
    # The argv a unit ran is kept for status, but never the secrets on its command line.
    assert record.argv_before == ["/opt/m/venv/bin/uvicorn", "app:app", "--api-key", "***", "TOKEN=***"]
    assert record.argv_after == ["/opt/suite/bin/uvicorn", "app:app"]
    assert ledger.repoints() == {"revpublish.service stabilize": record}
    assert ledger.repoints("job") == {}


def test_a_first_repoint_record_needs_its_drop_in_and_both_commands(ledger):
    with pytest.raises(ValueError, match="lacks dropin, exec_before, exec_after"):
        ledger.set_repoint("revpublish.service", "stabilize", "repointed", None)
    with pytest.raises(ValueError, match="not 'half'"):
        ledger.set_repoint("revpublish.service", "stabilize", "half", None, dropin="x", exec_before=[], exec_after=[])
    assert ledger.repoints() == {}


def test_a_step_row_with_an_unknown_state_or_a_blob_is_named(tmp_path):
    import sqlite3

    url = f"sqlite://{tmp_path}/ledger.db"
    led = open_ledger(url)
    run = led.begin_run("alice", "revops migrate", 1, False)
    step = led.step_started(run, "revpublish", "stop-unit")
    raw = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    raw.execute("PRAGMA ignore_check_constraints = ON")  # what a hand edit or another tool can do
    raw.execute("UPDATE steps SET state = 'exploded' WHERE id = ?", (step,))
    with pytest.raises(ledger_mod.LedgerDataError, match=f"steps row {step}: state is 'exploded', expected one of"):
        led.steps(run)
    raw.execute("UPDATE steps SET state = 'started', started_at = x'3132' WHERE id = ?", (step,))  # a blob
    with pytest.raises(ledger_mod.LedgerDataError, match="started_at is b'12', expected str"):
        led.open_steps()
    raw.close()
    led.close()


@pytest.mark.parametrize("where", ["ledger.db", "ledger.db.lock"])
def test_a_fifo_where_the_ledger_is_kept_is_refused_without_blocking(tmp_path, where, ends):
    os.mkfifo(tmp_path / where)
    error = ends(lambda: pytest.raises(ledger_mod.LedgerDataError, open_ledger, f"sqlite://{tmp_path}/ledger.db").value)
    assert "not a regular file" in error.message
