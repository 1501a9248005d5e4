"""`revops suites suggest` on the example host with its suites (and other destinations) removed."""

from __future__ import annotations

import json
import re

import pytest

from revops import cli, config, coverage, model
from revops.commands import example_host, inventory, suites
from revops.lock import merge, reqfile, sources, target


def run_main(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code


def without(text: str, *keys: str) -> str:
    """revops.yaml's text without the top-level blocks named."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"^[A-Za-z_]+:", line):
            skipping = line.split(":")[0] in keys
        if not skipping:
            out.append(line)
    return "".join(out)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("host")
    example_host.run(root, live=False)
    path = root / "revops.yaml"
    path.write_text("# the operator's own words stay\n" + without(path.read_text(), "suites", "retire", "keep_on_host"))
    inventory.run(config.load(path, suites_required=False), live=False)
    return root


def test_proposes_a_destination_for_every_live_unit(host):
    cfg = config.load(host / "revops.yaml", suites_required=False)
    result = suites.suggest(cfg)
    p = result.proposal
    assert (p.live, p.covered_before) == (147, 0)
    inv = model.load(cfg.out("inventory"))
    live = {d.unit for d in coverage.measure(inv, cfg).destinations}
    assert {pl.unit for pl in p.placements} == live
    assert all(pl.reasons and all(pl.reasons) for pl in p.placements)
    by_unit = {pl.unit: pl for pl in p.placements}
    assert by_unit["revflow-venv-heal.service"].kind == "retire"
    assert "venv" in by_unit["revflow-venv-heal.service"].reasons[0]
    assert by_unit["revpublish-v2.service"].kind == "retire"  # a copy of revpublish
    assert by_unit["revflow-tmp-clean.service"].kind == "keep-on-host"
    # the template's instances stay together; a job says how it will run
    workers = {by_unit[f"revflow-worker@{n}.service"].suite for n in (1, 2, 3)}
    assert len(workers) == 1
    assert any("timer" in r for r in by_unit["revflow-backup.service"].reasons)
    assert by_unit["revflow-revwins-digest.service"].suite == by_unit["revflow-revwins.service"].suite


def test_every_proposed_suite_locks_without_a_pin_conflict(host):
    cfg = config.load(host / "revops.yaml", suites_required=False)
    proposal = suites.suggest(cfg).proposal
    inv = model.load(cfg.out("inventory"))
    reader = reqfile.Reader(cfg.root, cfg.cache_dir)
    python, _ = target.choose(cfg.image_python, [v.python_version for v in inv.venvs if v.python_version])
    by_suite: dict[str, list] = {}
    for pl in proposal.placements:
        if pl.kind == "suite":
            unit = inv.unit(pl.unit)
            by_suite.setdefault(pl.suite, []).append(
                sources.gather(unit.name, unit.working_directory, unit.venv, cfg.root, reader))
    assert len(by_suite) >= 5
    for name, services in by_suite.items():
        merged = merge.merge(name, services, (), python)
        assert merged.conflicts == [], (name, [c.describe() for c in merged.conflicts])


def test_write_keeps_comments_and_passes_the_loader(host, tmp_path):
    (tmp_path / "revops.yaml").write_text((host / "revops.yaml").read_text())
    for name in ("inventory",):
        (tmp_path / name).symlink_to(host / name)
    text = (host / "revops.yaml").read_text().replace("root: .", f"root: {host}")
    (tmp_path / "revops.yaml").write_text(text)
    assert run_main(["suites", "suggest", "--config", str(tmp_path / "revops.yaml"), "--write", "--json"]) == 0
    written = (tmp_path / "revops.yaml").read_text()
    assert written.startswith("# the operator's own words stay\n")
    assert "suggested: true" in written and "Proposed by `revops suites suggest`" in written
    cfg = config.load(tmp_path / "revops.yaml")  # the ordinary loader: suites now required
    assert cfg.suites and all(s.suggested for s in cfg.suites)
    inv = model.load(host / "inventory")
    measured = coverage.measure(inv, cfg)
    assert measured.complete, measured.uncovered
    assert cfg.retired("revflow-venv-heal.service") and cfg.kept_on_host("revflow-log-shipper.service")


def test_json_contract(host, capsys):
    assert run_main(["suites", "suggest", "--config", str(host / "revops.yaml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["covered_before"] == 0 and out["covered_after"] == out["live"] == 147
    assert out["written"] is False and out["units"] and out["suites"]


def joining_core():
    from revops.suites.suggest import Placement, Proposal, SuiteProposal

    return Proposal(placements=[Placement("revwins.service", "suite", "core", 1, ["the same venv as revpublish"]),
                                Placement("revold.service", "retire", reasons=["a copy of revpublish"])],
                    suites=[SuiteProposal("core", 1, ["revwins.service"], new=False)])


@pytest.mark.parametrize("text, key, line", [
    # the suite's unit list is also the deprecated list: appending to it would deprecate the new unit
    ("host: {root: /}\nsuites:\n  core:\n    phase: 1\n    units: &core  # shared\n      - revpublish.service\n"
     "deprecated: *core\n", "suites.core.units", 5),
    # the suite's body comes from a merge key: its units belong to the anchored mapping
    ("host: {root: /}\nsuites:\n  base: &base\n    phase: 1\n    units: [revbase.service]\n"
     "  core:\n    <<: *base\n    units: [revpublish.service]\n", "suites.core", 7),
    # retire: is an alias of keep_on_host: a retired unit would be kept on the host as well
    ("host: {root: /}\nsuites:\n  core:\n    phase: 1\n    units: [revpublish.service]\n"
     "keep_on_host: &kept\n  revtmp.service: cleans /tmp\nretire: *kept\n", "retire", 6),
])
def test_write_refuses_to_add_to_what_an_anchor_shares_naming_file_key_and_line(tmp_path, text, key, line):
    from revops.errors import ConfigError
    from revops.suites import write

    path = tmp_path / "revops.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        write.write(path, text, joining_core())
    assert refused.value.exit_code == 2 and refused.value.key == key and refused.value.line == line, refused.value
    assert "nothing written" in refused.value.message
    assert path.read_text() == text


def test_write_adds_beside_anchors_it_does_not_touch_and_keeps_them(tmp_path):
    from revops.suites import write

    text = ("# the operator's words\nhost: {root: /}\nsuites:\n  core:\n    phase: 1\n    units:\n"
            "      - revpublish.service  # the API\ndeprecated: &old [revlegacy.service]\n"
            "cleanup: {leftovers: *old}\n")
    out = write.render(text, joining_core(), tmp_path / "revops.yaml")
    doc = config.parse(out, tmp_path / "revops.yaml")
    assert "# the operator's words" in out and "# the API" in out and "*old" in out
    assert [list(s.units) for s in doc.suites if s.name == "core"] == [["revpublish.service", "revwins.service"]]


def test_write_refuses_a_file_its_round_trip_editor_cannot_read_naming_file_and_line(tmp_path):
    from revops.errors import ConfigError
    from revops.suites import write

    # revops' loader takes `retire:<TAB>`; the round-trip editor does not
    text = "# mine\nhost: {root: /}\nsuites:\n  core:\n    phase: 1\n    units: [revpublish.service]\nretire:\t\n"
    path = tmp_path / "revops.yaml"
    path.write_text(text)
    config.parse(text, path)
    with pytest.raises(ConfigError) as refused:
        write.write(path, text, joining_core())
    assert refused.value.exit_code == 2 and refused.value.line == 7 and "nothing written" in refused.value.message
    assert path.read_text() == text


def test_a_reason_holding_control_characters_from_a_unit_file_is_written_escaped(tmp_path):
    from revops.suites import write
    from revops.suites.suggest import Placement, Proposal, SuiteProposal

    reason = "fired by revwins.timer (OnCalendar=*-*-* 02:00\x1b[2J\x07\u2028retire: {x: y})"
    proposal = Proposal(placements=[Placement("revwins.service", "suite", "core", 1, [reason])],
                        suites=[SuiteProposal("core", 1, ["revwins.service"], new=False)])
    text = "host: {root: /}\nsuites:\n  core:\n    phase: 1\n    units: [revpublish.service]\n"
    out = write.render(text, proposal, tmp_path / "revops.yaml")  # raised "U+001B is not allowed in YAML"
    assert "\\x1b[2J\\x07" in out and "\x1b" not in out and "\u2028" not in out
    assert config.parse(out, tmp_path / "revops.yaml").retire == ()  # the U+2028 did not end the comment
