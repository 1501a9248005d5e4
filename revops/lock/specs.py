"""Can two version specifiers ever be met by one version? Pure PEP 440 interval arithmetic.

`packaging` parses and orders versions but has no "is this intersection empty" test, so each
specifier becomes a set of intervals over the version order, and sets are intersected.
The answer is conservative: it says "impossible" only when no version at all could satisfy
both sides (pre-release exclusion rules are ignored, so the resolver stays the backstop).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Interval:
    """Versions between lo and hi; None is unbounded on that side."""

    lo: Version | None
    lo_closed: bool
    hi: Version | None
    hi_closed: bool

    def is_empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        if self.lo != self.hi:
            return self.lo > self.hi
        return not (self.lo_closed and self.hi_closed)


EVERYTHING = (Interval(None, False, None, False),)


def _point(version: Version) -> Interval:
    return Interval(version, True, version, True)


def _prefix_range(prefix: str) -> Interval:
    """`==1.2.*` matches every version whose release starts with 1.2, pre-releases included."""
    release = [int(part) for part in Version(prefix).release]
    upper = release[:-1] + [release[-1] + 1]
    lo = Version(".".join(map(str, release)) + ".dev0")
    hi = Version(".".join(map(str, upper)) + ".dev0")
    if Version(prefix).epoch:
        lo = Version(f"{Version(prefix).epoch}!{lo}")
        hi = Version(f"{Version(prefix).epoch}!{hi}")
    return Interval(lo, True, hi, False)


def _complement(interval: Interval) -> tuple[Interval, ...]:
    below = Interval(None, False, interval.lo, not interval.lo_closed)
    above = Interval(interval.hi, not interval.hi_closed, None, False)
    return tuple(part for part in (below, above) if not (part.lo is None and part.hi is None))


def intervals_of(spec: Specifier) -> tuple[Interval, ...] | None:
    """The versions one specifier admits, or None when we cannot reason about it (===)."""
    op, text = spec.operator, spec.version
    try:
        if text.endswith(".*"):
            matched = _prefix_range(text[:-2])
            return (matched,) if op == "==" else _complement(matched)
        version = Version(text)
    except InvalidVersion:
        return None
    if op == "==":
        return (_point(version),)
    if op == "!=":
        return _complement(_point(version))
    if op == "<":
        return (Interval(None, False, version, False),)
    if op == "<=":
        return (Interval(None, False, version, True),)
    if op == ">":
        return (Interval(version, False, None, False),)
    if op == ">=":
        return (Interval(version, True, None, False),)
    if op == "~=":
        # ~=2.2.3 means >=2.2.3 and ==2.2.*: drop the last release part for the prefix.
        prefix = ".".join(map(str, version.release[:-1]))
        if version.epoch:
            prefix = f"{version.epoch}!{prefix}"
        return intersect((Interval(version, True, None, False),), (_prefix_range(prefix),))
    return None  # "===" compares strings, not versions


def _meet(a: Interval, b: Interval) -> Interval:
    lo, lo_closed = a.lo, a.lo_closed
    if lo is None or (b.lo is not None and (b.lo > lo or (b.lo == lo and not b.lo_closed))):
        lo, lo_closed = b.lo, b.lo_closed
    hi, hi_closed = a.hi, a.hi_closed
    if hi is None or (b.hi is not None and (b.hi < hi or (b.hi == hi and not b.hi_closed))):
        hi, hi_closed = b.hi, b.hi_closed
    return Interval(lo, lo_closed, hi, hi_closed)


def intersect(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> tuple[Interval, ...]:
    met = (_meet(x, y) for x in a for y in b)
    return tuple(part for part in met if not part.is_empty())


def admitted(specifiers: SpecifierSet | str) -> tuple[Interval, ...]:
    """Versions a whole specifier set admits; specifiers we cannot model admit everything."""
    spec_set = specifiers if isinstance(specifiers, SpecifierSet) else SpecifierSet(specifiers)
    result = EVERYTHING
    for spec in spec_set:
        parts = intervals_of(spec)
        if parts is not None:
            result = intersect(result, parts)
    return result


def compatible(*specifier_sets: SpecifierSet | str) -> bool:
    """True when at least one version could satisfy every set at once."""
    result = EVERYTHING
    for spec_set in specifier_sets:
        result = intersect(result, admitted(spec_set))
        if not result:
            return False
    return True

