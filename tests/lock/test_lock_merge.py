"""Merging a suite's requirements, finding conflicts, applying overrides: pure data."""

from revops.lock import lockfile
from revops.lock.merge import merge, render_in
from revops.lock.sources import ServiceRequirements, Wanted


def service(name, *requirements, source="requirements.txt"):
    path = f"/opt/mods/{name}/requirements.txt"
    wanted = [Wanted(f"{name}.service", r, f"{path}:{i}") for i, r in enumerate(requirements, 1)]
    return ServiceRequirements(f"{name}.service", source, path, wanted)


def test_conflict_names_both_services_and_both_pins():
    merged = merge("lead-gen", [service("revprospect", "requests==2.31.0", "fastapi"),
                                service("revenrich", "requests==2.32.4")])
    (conflict,) = merged.conflicts
    assert conflict.dist == "requests"
    assert {(s.pin, tuple(s.services)) for s in conflict.sides} == {
        ("requests==2.31.0", ("revprospect.service",)), ("requests==2.32.4", ("revenrich.service",))}
    assert conflict.sides[0].origins == ["/opt/mods/revenrich/requirements.txt:1"]
    assert "revprospect.service" in conflict.describe() and "requests==2.32.4" in conflict.describe()


def test_exact_pin_against_an_upper_bound_is_a_conflict():
    merged = merge("s", [service("a", "httpx==0.28.1"), service("b", "httpx<0.28")])
    assert [c.dist for c in merged.conflicts] == ["httpx"]


def test_services_asking_the_same_way_share_one_side():
    merged = merge("s", [service("a", "requests==2.31.0"), service("b", "requests==2.31.0"),
                         service("c", "requests==2.32.4")])
    (conflict,) = merged.conflicts
    assert [s.services for s in conflict.sides] == [["a.service", "b.service"], ["c.service"]]


def test_override_settles_the_conflict_and_is_reported():
    merged = merge("lead-gen", [service("revprospect", "requests==2.31.0"), service("revenrich", "requests==2.32.4")],
                   overrides=(("requests", "==2.32.4"),))
    assert merged.conflicts == []
    (applied,) = merged.overrides
    assert applied.settled_conflict and applied.spec == "==2.32.4"
    assert sorted(s.pin for s in applied.replaced) == ["requests==2.31.0", "requests==2.32.4"]
    assert [line.requirement for line in merged.lines] == ["requests==2.32.4"]


def test_unused_override_is_named():
    merged = merge("s", [service("a", "fastapi")], overrides=(("Requests", "==2.32.4"),))
    assert merged.unused_overrides == ["requests"]


def test_compatible_ranges_merge_into_one_line_with_extras_and_names_normalised():
    merged = merge("s", [service("a", "Typing_Extensions>=4.0"), service("b", "typing-extensions<5"),
                         service("c", "uvicorn[standard]>=0.29"), service("d", "uvicorn==0.34.3")])
    assert merged.conflicts == []
    assert [line.requirement for line in merged.lines] == ["typing-extensions<5,>=4.0", "uvicorn[standard]==0.34.3,>=0.29"]


def test_markers_kept_when_every_service_has_one_dropped_when_one_has_none():
    merged = merge("s", [service("a", 'tomli; python_version < "3.11"'), service("b", 'tomli; python_version < "3.11"'),
                         service("c", 'zipp; python_version < "3.8"'), service("d", "zipp")])
    assert [line.requirement for line in merged.lines] == ['tomli; python_version < "3.11"', "zipp"]


def test_pins_only_for_other_interpreters_do_not_conflict():
    merged = merge("s", [service("a", 'attrs==21.0; python_version < "3"'), service("b", "attrs==23.1")])
    assert merged.conflicts == []


def test_rendered_input_explains_every_line_and_is_deterministic():
    services = [service("b", "requests>=2.31", "fastapi==0.115.12"), service("a", "requests==2.32.4"),
                ServiceRequirements("c.service", "none", None, notes=["no requirements.txt"])]
    merged = merge("core", services)
    text = render_in(merged, services, "core.txt")
    assert text == render_in(merge("core", list(reversed(services))), list(reversed(services)), "core.txt")
    lines = text.splitlines()
    assert lines.index("fastapi==0.115.12") < lines.index("requests==2.32.4,>=2.31")
    after_requests = lines[lines.index("requests==2.32.4,>=2.31") + 1:]
    assert after_requests[:2] == ["    # a.service: requests==2.32.4", "    # b.service: requests>=2.31"]
    assert "#   c.service: none (no requirements.txt)" in lines
    assert lockfile.digest(text) == lockfile.digest(text.encode().decode())


def test_rendered_override_says_what_it_replaced():
    services = [service("revprospect", "requests==2.31.0"), service("revenrich", "requests==2.32.4")]
    text = render_in(merge("lead-gen", services, (("requests", "==2.32.4"),)), services, "lead-gen.txt")
    assert "requests==2.32.4\n    # override ==2.32.4 from revops.yaml suites.lead-gen.overrides (settles a conflict)" in text
    assert "    # revprospect.service: requests==2.31.0" in text


def test_python_mismatch_is_named_only_when_versions_differ():
    from revops.commands.lock import python_mismatch

    assert python_mismatch({"3.11.2": ["a.service", "b.service"]}, "3.11.2") == []
    assert python_mismatch({"3.11": ["a.service"]}, "3.11.7") == []
    (warning,) = python_mismatch({"3.11.2": ["a.service", "b.service"], "3.11.7": ["c.service"]}, "3.11.7")
    assert "Python 3.11.7" in warning and "2 service venv(s) run Python 3.11.2" in warning
