"""Whether pins can live together: PEP 440 specifiers as version intervals."""

import pytest

from revops.lock.specs import admitted, compatible


@pytest.mark.parametrize("a, b", [
    ("==2.31.0", "==2.32.3"),
    ("==2.0", "<2.0"),
    ("==2.0", ">2.0"),
    (">=3", "<2"),
    (">1.0", "<=1.0"),
    ("~=2.2", "<2.2"),
    ("~=2.2.3", ">=2.3"),
    ("==1.4.*", ">=1.5"),
    ("==1.4.*", "==1.5.0"),
    ("!=1.0", "==1.0"),
    ("!=1.*", "==1.9.9"),
    (">=1.0,<1.0", ""),
])
def test_pins_that_cannot_live_together(a, b):
    assert not compatible(a, b)
    assert not compatible(b, a)


@pytest.mark.parametrize("a, b", [
    ("==2.32.3", ">=2.31"),
    (">1", "<2"),  # no boundary version is in both, but 1.5 is
    (">=1.0,<2", ">=1.5"),
    ("~=2.0", ">=2.0.41"),
    ("==1.4.*", "==1.4.2"),
    ("==1.4.*", ">=1.4.9"),
    ("!=1.0", ">=1.0"),
    ("", "==0.1"),
    ("<=1.0", ">=1.0"),
    ("===weird", "==1.0"),  # arbitrary equality is left to the resolver
])
def test_pins_that_can(a, b):
    assert compatible(a, b)
    assert compatible(b, a)


def test_three_pins_each_pair_fine_but_not_all_together():
    # [1,2] without 1.5, [1.5,3] and [0,1.5]: every pair meets, the three never do.
    sets = (">=1,<=2,!=1.5", ">=1.5,<=3", ">=0,<=1.5")
    assert compatible(sets[0], sets[1]) and compatible(sets[0], sets[2]) and compatible(sets[1], sets[2])
    assert not compatible(*sets)


def test_admitted_is_a_single_closed_point_for_an_exact_pin():
    (interval,) = admitted("==2.0")
    assert str(interval.lo) == str(interval.hi) == "2.0"
    assert interval.lo_closed and interval.hi_closed
