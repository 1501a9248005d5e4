"""host_run against a real SQLite ledger: what every host-changing run gets on every way out."""

from __future__ import annotations

import pytest

from revops.adapters.ledger import open_ledger
from revops.config import Config
from revops.errors import CheckFailed
from revops.hostrun import host_run


@pytest.fixture
def config(tmp_path, monkeypatch) -> Config:
    monkeypatch.delenv("REVOPS_DATABASE_URL", raising=False)
    return Config(path=tmp_path / "revops.yaml", root=tmp_path)


def runs(config: Config):
    ledger = open_ledger(config.database_url)
    try:
        return ledger.runs(10)
    finally:
        ledger.close()


def lock_is_free(config: Config) -> bool:
    other = open_ledger(config.database_url)
    try:
        with other.lock("bob@ops2"):
            return True
    except CheckFailed:
        return False
    finally:
        other.close()


def test_a_dry_run_creates_no_ledger_file_and_cannot_begin(config):
    with host_run(config, dry_run=True) as run:
        assert run.ledger is None
        with pytest.raises(RuntimeError, match="dry run"):
            run.begin(1)
    assert not (config.base_dir / config.ledger).exists()


def test_a_run_holds_the_lock_records_its_target_and_ends_with_its_outcome(config):
    with host_run(config, dry_run=False) as run:
        run_id = run.begin(2, forced_reason="CHG-7", target="swarm")
        assert not lock_is_free(config)  # a second operator is refused meanwhile
        assert run.confirm(lambda plan: plan == ["svc"], ["svc"], yes=False)
        run.outcome = "2 migrated"
    (got,) = runs(config)
    assert (got.id, got.phase, got.forced_reason, got.target, got.outcome) == (run_id, 2, "CHG-7", "swarm", "2 migrated")
    assert got.finished_at is not None and lock_is_free(config)


def test_a_declined_confirmation_ends_the_run_not_confirmed(config):
    with host_run(config, dry_run=False) as run:
        run.begin(1)
        assert not run.confirm(lambda _plan: False, "the plan", yes=False)
    assert [r.outcome for r in runs(config)] == ["not confirmed"]


def test_ctrl_c_at_the_prompt_ends_the_run_and_goes_up(config):
    def ctrl_c(_plan):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with host_run(config, dry_run=False) as run:
            run.begin(1)
            run.confirm(ctrl_c, "the plan", yes=False)
    assert [r.outcome for r in runs(config)] == ["interrupted at the confirmation; nothing changed"]
    assert lock_is_free(config)


def test_an_error_ends_the_run_with_its_words_and_releases_the_lock(config):
    with pytest.raises(CheckFailed, match="engine gone"):
        with host_run(config, dry_run=False) as run:
            run.begin(None)
            assert run.confirm(lambda _plan: False, "unasked", yes=True)  # --yes asks nothing
            raise CheckFailed("engine gone")
    (got,) = runs(config)
    assert got.outcome == "ended (engine gone)" and got.target == "compose"
    assert lock_is_free(config)


def test_a_second_operator_is_refused_before_any_run_begins(config):
    holder = open_ledger(config.database_url)
    try:
        with holder.lock("alice@ops1 pid 7: revops migrate --phase 1"):
            with pytest.raises(CheckFailed, match="alice@ops1"):
                with host_run(config, dry_run=False) as run:
                    run.begin(1)
    finally:
        holder.close()
    assert runs(config) == []
