"""revops.dropins: names, paths and text of the drop-ins revops writes; the quoting checked
against revops' own reading of ExecStart= (the real manager judges it in
tests/adapters/test_systemd_dropins.py)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revops import dropins
from revops.unitfile import specifiers
from revops.unitfile.execline import parse_exec

CTX = specifiers.UnitContext("x.service", "/etc/systemd/system/x.service", specifiers.HostFacts())


def read_back(line: str) -> tuple[list[str], str]:
    """ExecStart= as revops' unit-file reader (systemd 252's rules) reads the line."""
    parsed = parse_exec(line, CTX)
    assert parsed.error is None and len(parsed.commands) == 1, (line, parsed)
    command = parsed.commands[0]
    return [command.path, *command.argv[1:]], command.prefixes


def test_the_file_is_named_by_priority_and_purpose():
    assert dropins.filename("stabilize") == "50-revops-stabilize.conf"
    assert dropins.path(PurePosixPath("/etc/systemd/system"), "revflow-worker@1.service", "job") == \
        PurePosixPath("/etc/systemd/system/revflow-worker@1.service.d/50-revops-job.conf")


@pytest.mark.parametrize("purpose", ["", "Stabilize", "a/b", "../x", "x.conf", "-x", "a b", "x" * 50])
def test_a_purpose_that_is_not_a_short_word_is_refused(purpose):
    with pytest.raises(dropins.DropinError, match="purpose"):
        dropins.filename(purpose)


@pytest.mark.parametrize("unit", ["../x.service", "a/b.service", "x", "x.conf", ""])
def test_a_unit_that_is_not_a_unit_name_is_refused(unit):
    with pytest.raises(dropins.DropinError, match="not a valid unit name"):
        dropins.directory(PurePosixPath("/etc/systemd/system"), unit)


@pytest.mark.parametrize("word, written", [
    ("app:app", "app:app"),
    ("two words", '"two words"'),
    ('say "hi"', r'"say \"hi\""'),
    ("it's", '"it\'s"'),
    ("C:\\dir", r'"C:\\dir"'),
    ("100%", "100%%"),
    ("%i", "%%i"),
    ("$HOME", "$HOME"),  # substituted by systemd at start, as the original line had it
    (";", "\\;"),
    (";x", ";x"),
    ("", '""'),
    ("line\nbreak\ttab", r'"line\nbreak\ttab"'),
    ("bell\x07del\x7f", r'"bell\adel\x7f"'),
    ("naïve ✓", '"naïve ✓"'),
])
def test_each_word_is_quoted_as_systemd_reads_it(word, written):
    assert dropins.quote_word(word) == written
    assert read_back(f"/bin/echo {written}")[0] == ["/bin/echo", word]


def test_prefixes_are_kept_before_the_program():
    line = dropins.exec_line(["/opt/v/bin/python", "-m", "app"], "-:")
    assert line == "-:/opt/v/bin/python -m app"
    assert read_back(line) == (["/opt/v/bin/python", "-m", "app"], "-:")
    argv0 = dropins.exec_line(["/opt/v/bin/python", "revpublish", "app.py"], "@")
    parsed = parse_exec(argv0, CTX).commands[0]
    assert (parsed.path, parsed.argv, parsed.prefixes) == ("/opt/v/bin/python", ["revpublish", "app.py"], "@")


@pytest.mark.parametrize("argv, prefixes, why", [
    ([], "", "empty command"),
    (["relative/python"], "", "absolute path or a plain name"),
    (["/opt/my venv/bin/python"], "", "absolute path or a plain name"),
    (['/opt/"x"/python'], "", "absolute path or a plain name"),
    (["/opt/dir/"], "", "absolute path or a plain name"),
    (["/bin/true"], "x", "prefixes"),
    (["/bin/true"], "+!", "prefixes"),
    (["/bin/true"], "@", "argv\\[0\\]"),
])
def test_a_command_systemd_would_refuse_is_refused(argv, prefixes, why):
    with pytest.raises(dropins.DropinError, match=why):
        dropins.exec_line(argv, prefixes)


def test_the_drop_in_resets_then_sets_exec_start_under_its_header():
    d = dropins.exec_start_dropin("revpublish.service", "stabilize",
                                  ["/opt/suite/bin/uvicorn", "app:app", "--port", "8550"],
                                  note="suite core\n[Service]\nExecStart=/bin/evil")
    lines = d.text.splitlines()
    assert lines[0] == "# revops: stabilize"
    assert lines[-3:] == ["[Service]", "ExecStart=", "ExecStart=/opt/suite/bin/uvicorn app:app --port 8550"]
    # A note is one comment line: it cannot open a section or set a directive.
    assert [line for line in lines if not line.startswith("#")] == lines[-3:]
    assert dropins.written_by_revops(d.text, "stabilize")
    assert not dropins.written_by_revops(d.text, "job")
    assert not dropins.written_by_revops("[Service]\nExecStart=\n", "stabilize")
    assert d.path(PurePosixPath("/u")) == PurePosixPath("/u/revpublish.service.d/50-revops-stabilize.conf")


WORDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=6))
def test_any_argument_list_reads_back_unchanged(args):
    """Whatever the words (quotes, backslashes, %, ;, control characters, unicode), the line
    reads back as the same argv: the quoting loses nothing and adds nothing."""
    line = dropins.exec_line(["/opt/suite/bin/python", *args])
    assert read_back(line) == (["/opt/suite/bin/python", *args], "")


def test_resets_come_before_exec_start_from_a_fixed_table_only():
    d = dropins.exec_start_dropin("revflow-backup.service", "job-container", ["/usr/bin/docker-compose", "run"],
                                  resets=("User", "DynamicUser", "Environment"))
    body = d.text.split("[Service]\n", 1)[1].splitlines()
    assert body == ["User=", "DynamicUser=no", "Environment=", "ExecStart=", "ExecStart=/usr/bin/docker-compose run"]
    with pytest.raises(dropins.DropinError, match="does not reset ExecStartPre"):
        dropins.exec_start_dropin("x.service", "job-container", ["/bin/true"], resets=("ExecStartPre",))
