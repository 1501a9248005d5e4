"""Flag errors of `revops status` are usage errors (exit 2), caught before any source is read."""

from __future__ import annotations

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


def test_json_output_never_imports_rich(fresh_python):
    """`status --json` and `--format prometheus` are for scripts and cron: no Rich (~30 ms)."""
    script = (
        "import sys\n"
        "import revops.cli\n"
        "from revops import output\n"
        "from revops.commands import status\n"
        "output.emit({'services': []}, as_json=True, render=status.render)\n"
        "assert 'rich' not in sys.modules, sorted(m for m in sys.modules if m.startswith('rich'))\n"
        "output.emit({'services': []}, as_json=False, render=lambda r, c: c.print('table'))\n"
        "assert 'rich' in sys.modules\n"
    )
    assert fresh_python(script) == ['{', '  "services": []', '}', 'table']
