"""generate.replica.derive: when numbered instances are one replicated service, from data."""

from __future__ import annotations

from revops.generate import replica
from revops.model import Unit


def instance(n: int, argv: list[str], **env: str) -> Unit:
    return Unit(name=f"w@{n}.service", path="etc/systemd/system/w@.service", exec_start=[argv], environment=env)


def test_a_word_the_same_in_every_instance_keeps_its_digits_even_when_they_are_an_instance_number():
    units = [instance(n, ["/usr/bin/python3", "/srv/w2/worker.py", f"q-{n}"], PYTHON="3", QUEUE=f"q{n}")
             for n in (1, 2, 3)]
    group, why = replica.derive(units)
    assert why == "" and group is not None
    assert group.argv == ("/usr/bin/python3", "/srv/w2/worker.py", "q-%i")
    assert dict(group.environment) == {"PYTHON": "3", "QUEUE": "q%i"} and group.substituted == ("QUEUE",)


def test_instances_that_differ_beyond_their_number_stay_apart():
    units = [instance(1, ["/usr/bin/python3", "a.py"]), instance(2, ["/usr/bin/python3", "b.py"])]
    assert replica.derive(units) == (None, "instances differ beyond their number: one service per instance")


def test_instances_not_numbered_1_to_n_stay_apart_as_replica_n_would_see_another_number():
    """Compose numbers the replicas 1..N; instances 2 and 5 would become 1 and 2 (%i wrong)."""
    for numbers in (("2", "5"), ("0", "1"), ("01", "02"), ("1", "1")):
        units = [Unit(name=f"w@{n}.service", path="etc/systemd/system/w@.service", exec_start=[["/bin/w", f"--id={n}"]])
                 for n in numbers]
        group, why = replica.derive(units)
        assert group is None and "1.." in why, numbers
    assert replica.derive([instance(n, ["/bin/w", f"--id={n}"]) for n in (2, 1)])[0] is not None
