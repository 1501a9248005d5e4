"""EnvironmentFile= values, read only to hide them in what revops writes."""

from __future__ import annotations

from revops import envfile

ENV = """\
# shared secrets of the RevFlow modules
; a comment too
DATABASE_URL=postgresql://revflow:s3cret-pw@db:5432/revflow
API_KEY="sk-live-0123456789"
QUOTED_SINGLE='single quoted value'
   SPACED =  padded-value
export EXPORTED=exported-value
LONG=first-half-\\
second-half
PORT=8550
EMPTY=
not an assignment
"""


def test_values_follow_systemds_env_file_syntax():
    assert envfile.values_in(ENV) == [
        "postgresql://revflow:s3cret-pw@db:5432/revflow", "sk-live-0123456789",
        "single quoted value", "padded-value", "exported-value", "first-half-second-half",
        "8550", "",
    ]


def test_every_long_enough_value_is_hidden_longest_first():
    redactor = envfile.Redactor.of(envfile.values_in(ENV) + ["s3cret-pw"])
    line = ("connect to postgresql://revflow:s3cret-pw@db:5432/revflow failed; key sk-live-0123456789;"
            " password s3cret-pw; port 8550")
    assert redactor.apply(line) == "connect to *** failed; key ***; password ***; port 8550"


def test_an_unreadable_file_is_named_and_the_others_still_read(tmp_path):
    good = tmp_path / "good.env"
    good.write_text("TOKEN=abcdefgh\n")
    values, problems = envfile.read_values([tmp_path / "missing.env", good])
    assert values == ["abcdefgh"]
    assert len(problems) == 1 and "missing.env" in problems[0]
