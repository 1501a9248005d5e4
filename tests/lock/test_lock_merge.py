"""Merging a suite's requirements, finding conflicts, applying overrides: pure data."""

from revops.lock import lockfile
from revops.lock.merge import merge, render_in, resolver_input
from revops.lock.sources import ServiceRequirements, Wanted
from revops.lock.target import Target


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


PY3112, PY3117 = Target("3.11.2", "test"), Target("3.11.7", "test")


def test_markers_kept_when_every_service_has_one_dropped_when_one_has_none():
    merged = merge("s", [service("a", 'tomli; python_version < "3.12"'), service("b", 'tomli; python_version < "3.12"'),
                         service("c", 'zipp; python_version >= "3.8"'), service("d", "zipp")], target=PY3112)
    assert [line.requirement for line in merged.lines] == ['tomli; python_version < "3.12"', "zipp"]


def test_pins_only_for_other_interpreters_do_not_conflict():
    merged = merge("s", [service("a", 'attrs==21.0; python_version < "3"'), service("b", "attrs==23.1")])
    assert merged.conflicts == []


# ---- issue 14 case 4: markers survive the merge ---------------------------------------------------

def test_a_pin_whose_marker_is_false_for_the_target_does_not_join_the_merged_spec():
    services = [service("a", 'tomli==1.2.0; python_version < "3.11"'), service("b", "tomli==2.0.1")]
    merged = merge("s", services, target=PY3112)
    assert merged.conflicts == []
    (line,) = merged.lines
    assert line.requirement == "tomli==2.0.1"
    assert [(s.pin, s.services) for s in line.elsewhere] == [('tomli==1.2.0; python_version < "3.11"', ["a.service"])]
    text = render_in(merged, services, "s.txt")
    assert '    # a.service: tomli==1.2.0; python_version < "3.11" (marker false for Python 3.11.2)' in text
    assert "# Target: Python 3.11.2; markers are judged for it." in text


def test_a_guarded_pin_keeps_its_guard_and_beats_a_pin_for_another_interpreter():
    services = [service("a", 'async-timeout==5.0.1; python_full_version < "3.11.3"'),
                service("b", 'async-timeout==4.0.2; python_full_version >= "3.11.3"')]
    (line,) = merge("s", services, target=PY3112).lines
    assert line.requirement == 'async-timeout==5.0.1; python_full_version < "3.11.3"'
    (line,) = merge("s", services, target=PY3117).lines
    assert line.requirement == 'async-timeout==4.0.2; python_full_version >= "3.11.3"'


def test_a_distribution_asked_for_only_elsewhere_is_named_not_locked():
    services = [service("a", 'exceptiongroup==1.2.0; python_version < "3.11"', "fastapi")]
    merged = merge("s", services, target=PY3112)
    assert [line.requirement for line in merged.lines] == ["fastapi"]
    assert [(n.dist, [s.pin for s in n.sides]) for n in merged.not_for_target] == [
        ("exceptiongroup", ['exceptiongroup==1.2.0; python_version < "3.11"'])]
    assert "# Not locked: asked for only where a marker is false for Python 3.11.2:" in render_in(merged, services, "s.txt")


def test_two_true_markers_are_joined_and_a_real_conflict_under_them_is_found():
    services = [service("a", 'idna>=3; os_name == "posix"'), service("b", 'idna<3; python_version >= "3.8"')]
    merged = merge("s", services, target=PY3112)
    assert [c.dist for c in merged.conflicts] == ["idna"]
    services = [service("a", 'idna>=3; os_name == "posix"'), service("b", 'idna<4; python_version >= "3.8"')]
    (line,) = merge("s", services, target=PY3112).lines
    assert line.requirement == 'idna<4,>=3; (os_name == "posix") or (python_version >= "3.8")'


def test_an_override_for_a_distribution_no_pin_needs_on_the_target_is_unused():
    merged = merge("s", [service("a", 'tomli==1.2.0; python_version < "3.11"')], overrides=(("tomli", "==2.0.1"),),
                   target=PY3112)
    assert merged.lines == [] and merged.unused_overrides == ["tomli"]


def test_constraints_are_kept_for_the_target_and_given_to_the_resolver_as_a_file():
    a = service("a", "alpha")
    a.constraints = [Wanted("a.service", "alpha<2", "/opt/mods/a/c.txt:1"),
                     Wanted("a.service", 'beta==1.0; python_version < "3"', "/opt/mods/a/c.txt:2")]
    merged = merge("s", [a], target=PY3112)
    assert [side.pin for side in merged.constraints] == ["alpha<2"]
    text = render_in(merged, [a], "s.txt")
    assert "#   alpha<2  (a.service: /opt/mods/a/c.txt:1)" in text
    resolver_text, files = resolver_input(merged, text)
    assert resolver_text == text + "-c constraints.txt\n" and files == {"constraints.txt": "alpha<2\n"}


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


def test_the_target_comes_from_revops_yaml_else_the_venvs_else_this_interpreter():
    import platform

    from revops.lock import target

    assert target.choose("3.11.2", ["3.9.18"]) == (Target("3.11.2", target.FROM_CONFIG), [])
    chosen, warnings = target.choose(None, ["3.11.2", "3.11.2", "3.9.18", "3.12"])
    assert chosen == Target("3.11.2", target.FROM_VENVS)
    assert warnings and "2 at 3.11.2, 1 at 3.9.18" in warnings[0] and "image.python" in warnings[0]
    chosen, warnings = target.choose(None, ["3.11"])
    assert chosen == Target(platform.python_version(), target.FROM_RUNNING) and "image.python" in warnings[0]


def test_the_targets_markers_are_its_own_and_a_linux_images():
    env = Target("3.11.2", "test").environment()
    assert (env["python_version"], env["python_full_version"], env["sys_platform"]) == ("3.11", "3.11.2", "linux")
