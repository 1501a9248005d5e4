"""Env file values, read only to hide them in what revops writes."""

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
DB_PASSWORD=hunter22secret # rotated in May
TOKEN="abc\\"defghi"
PEM="-----BEGIN KEY-----
MIIEvQIBADANBgkqhkiG9w0B
-----END KEY-----"
PORT=8550
EMPTY=
"""


def test_every_spelling_systemd_or_compose_would_give_a_value_is_found():
    values = envfile.values_in(ENV)
    for value in ("postgresql://revflow:s3cret-pw@db:5432/revflow", "sk-live-0123456789",
                  "single quoted value", "padded-value", "exported-value",
                  "first-half-second-half",            # systemd joins continued lines
                  "hunter22secret # rotated in May",   # systemd keeps what follows " #"
                  "hunter22secret",                    # compose drops the inline comment
                  'abc\\"defghi', 'abc"defghi',         # with and without the escape
                  "MIIEvQIBADANBgkqhkiG9w0B", "-----END KEY-----"):  # each line of a PEM
        assert value in values, value
    assert "# shared secrets of the RevFlow modules" not in values


def test_every_long_enough_value_is_hidden_longest_first():
    redactor = envfile.Redactor.of(envfile.values_in(ENV) | {"s3cret-pw"})
    line = ("connect to postgresql://revflow:s3cret-pw@db:5432/revflow failed; key sk-live-0123456789;"
            " password s3cret-pw; db password hunter22secret; port 8550")
    assert redactor.apply(line) == ("connect to *** failed; key ***; password ***; "
                                    "db password ***; port 8550")


def test_the_start_of_a_value_cut_off_at_the_end_is_hidden_when_the_text_was_cut():
    redactor = envfile.Redactor.of(["sk-live-0123456789"])
    body = '{"error": "bad key sk-live-01'  # a reader kept only the first characters
    assert redactor.apply(body, cut=True) == '{"error": "bad key ***'
    assert redactor.apply(body) == body


def test_an_unreadable_file_is_named_and_the_others_still_read(tmp_path):
    good = tmp_path / "good.env"
    good.write_text("TOKEN=abcdefgh\n")
    values, problems = envfile.read_values([tmp_path / "missing.env", good])
    assert "abcdefgh" in values
    assert len(problems) == 1 and "missing.env" in problems[0]


def test_an_env_file_that_is_a_fifo_is_named_not_waited_on(tmp_path):
    import os

    from revops.envfile import read_values

    os.mkfifo(tmp_path / "shared.env")
    (tmp_path / "ok.env").write_text("API_KEY=abcdefgh\n")
    values, problems = read_values([tmp_path / "shared.env", tmp_path / "ok.env"])
    assert values == {"abcdefgh"}
    assert problems == [f"{tmp_path / 'shared.env'}: not a regular file (fifo)"]
