"""The cutover bench's window: the stretch without a 2xx that holds the container's start,
not the longest one of the run (a slow answer under load, half a minute later, was once
taken for the window and gave a start of 31.6 s and a negative overhead)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_cutover.py"


def bench():
    spec = importlib.util.spec_from_file_location("bench_cutover_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def samples(fails: set[int], until: int = 60, period: float = 0.5) -> list[tuple[float, bool]]:
    return [(i * period, i not in fails) for i in range(until)]


def test_the_window_is_the_gap_that_holds_the_start_not_the_longest():
    b = bench()
    seen = samples({10, 11} | {40, 41, 42, 43, 44})  # the cutover at 5.0-5.5 s; a longer slow stretch later
    assert b.longest_gap(seen) == (3.0, 19.5, 22.5)
    assert b.gap_around(seen, 5.2) == (1.5, 4.5, 6.0)


def test_no_window_without_a_failed_answer_around_the_start_or_an_answer_on_each_side():
    b = bench()
    assert b.gap_around(samples(set()), 5.2) is None
    assert b.gap_around(samples({0, 1}), 0.2) is None  # nothing answered before it
    assert b.gap_around(samples(set(range(10, 60))), 5.2) is None  # nothing answered after it


def test_downtime_counts_every_stretch_from_the_last_answer_before_it_to_the_first_after():
    b = bench()
    assert b.downtime(samples(set())) == 0.0
    assert b.downtime(samples({10, 11} | {40})) == 1.5 + 1.0  # 4.5-6.0 s and 19.5-20.5 s
    assert b.downtime(samples({58, 59})) == 1.0  # none came back: to the last attempt


def test_the_broken_image_removes_a_module_each_example_app_imports():
    """--broken must break the example host's apps (once phase 2's light app no longer imported
    fastapi, the only module removed, and a 'broken' image went on serving): each app imports
    a module the break removes."""
    import ast

    from revops.example_host import catalog, sources

    def imported(source: str) -> set[str]:
        tree = ast.parse(source)
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}

    removed = set(bench().BROKEN)
    assert imported(sources.lightapp_py()) & removed
    some_api = next(s for s in catalog.services() if s.role == "api")
    assert imported(sources.app_py(some_api)) & removed
