"""Flag errors of `revops status` are usage errors (exit 2), caught before any source is read."""

from __future__ import annotations

import json

import pytest

from revops import cli


@pytest.fixture
def ops_repo(tmp_path, monkeypatch):
    (tmp_path / "revops.yaml").write_text("suites:\n  core: {phase: 1, units: [a.service]}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args, words", [
    (["--format", "xml"], "--format 'xml'"),
    (["--watch", "--json"], "--watch shows the table"),
    (["--watch", "--interval", "0"], "expected a positive number"),
])
def test_bad_flags_exit_2(ops_repo, capsys, args, words):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["status", *args])
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_missing_inventory_is_a_config_error(ops_repo, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["status", "--json"])
    assert exit_info.value.code == 2
    assert "units.yaml" in capsys.readouterr().err


def test_status_json_never_imports_rich(fresh_python, tmp_path):
    """`status --json` is for scripts and cron: the whole command line runs without Rich (~30 ms)."""
    (tmp_path / "revops.yaml").write_text("systemd: {bus: user}\nsuites:\n  core: {phase: 1, units: [a.service]}\n")
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "units.yaml").write_text(
        "root: /\nscanned_at: '2026-11-22T05:00:00+00:00'\nunits:\n- {name: a.service, path: null}\n")
    script = (
        "import json, sys\n"
        "from revops import cli\n"
        "try:\n"
        f"    cli.main(['status', '--json', '--config', {str(tmp_path / 'revops.yaml')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('rich loaded:', sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    lines = fresh_python(script)
    assert lines[-1] == "rich loaded: []"
    assert [s["name"] for s in json.loads("\n".join(lines[:-1]))["services"]] == ["a.service"]
