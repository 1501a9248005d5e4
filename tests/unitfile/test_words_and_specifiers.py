"""Quoting, escapes and specifiers: expectations checked against systemd 252 by the oracle."""

from __future__ import annotations

import pytest

from revops import unitnames as names
from revops.unitfile import specifiers
from revops.unitfile.words import WordError, split_words

HOST = specifiers.HostFacts()


def test_quotes_open_anywhere_and_escapes_work_inside_both_kinds():
    words, unknown = split_words("""/bin/echo "a b" 'c d' e\\ f "g\\"h" 'i\\'j' x"y z"w "" ''""")
    assert words == ["/bin/echo", "a b", "c d", "e\\ f", 'g"h', "i'j", "xy zw", "", ""]
    assert unknown  # "\\ " is not an escape systemd knows: kept verbatim


def test_c_escapes_decode_and_unknown_ones_stay_verbatim():
    words, _ = split_words("\\x41 \\101 \\u00e9 \\t \\s \\$HOME \\q \\\\ tab\\there")
    assert words == ["A", "A", "é", "\t", " ", "\\$HOME", "\\q", "\\", "tab\there"]


def test_unbalanced_quote_is_an_error_and_strict_mode_refuses_unknown_escapes():
    with pytest.raises(WordError):
        split_words('"open')
    with pytest.raises(WordError):
        split_words("A=\\q", strict=True)


def ctx(name: str) -> specifiers.UnitContext:
    return specifiers.UnitContext(name, f"/etc/systemd/system/{name}", HOST)


@pytest.mark.parametrize("text,expected", [
    ("%n %N %p %P", "a-b@x\\x2dy.service a-b@x\\x2dy a-b a/b"),
    ("%i %I %f %j %J", "x\\x2dy x-y /x-y b b"),
    ("%% 100%% %%%% %-z %", "% 100% %% %-z %"),
    ("%t %h %u %U %E", "/run /root root 0 /etc"),
    ("%y %Y", "/etc/systemd/system/a-b@x\\x2dy.service /etc/systemd/system"),
])
def test_specifiers_of_an_instance(text, expected):
    assert specifiers.expand(text, ctx("a-b@x\\x2dy.service")).text == expected


def test_unknown_specifier_letter_is_an_error_and_unknown_host_fact_stays_written():
    with pytest.raises(specifiers.SpecifierError):
        specifiers.expand("%z", ctx("x.service"))
    expanded = specifiers.expand("boot=%b kernel=%v", ctx("x.service"))
    assert expanded.text == "boot=%b kernel=%v" and expanded.unknown == ["%b", "%v"]


def test_instance_specifiers_of_a_template_stay_as_written():
    assert specifiers.expand("%i %I %f %p", ctx("worker@.service")).text == "%i %I %f worker"


def test_f_of_an_instance_that_does_not_escape_a_path_is_an_error():
    with pytest.raises(specifiers.SpecifierError):
        specifiers.expand("%f", ctx("tpl@-leading.service"))


def test_dropin_directory_names_most_specific_first():
    assert names.dropin_dir_names("foo-bar-baz@3.service") == [
        "foo-bar-baz@3.service", "foo-bar-baz@.service", "foo-bar-@3.service", "foo-bar-@.service",
        "foo-@3.service", "foo-@.service"]
