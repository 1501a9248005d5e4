"""The lock's header and the rule that every entry is `==` with a sha256 hash."""

import hashlib

from revops.lock import lockfile
from revops.lock.resolver import explain, strip_tool_header

HASH = "--hash=sha256:" + "ab" * 32
BODY = f"alpha==2.0 \\\n    {HASH}\n    # via -r core.in\nbeta==1.1 \\\n    {HASH} \\\n    {HASH}\n"


def test_header_round_trips_and_digest_is_sha256_of_the_input():
    text = lockfile.header("core", "core.in", lockfile.digest("alpha\n"), "0.1.0", "pip-tools 7.6.2",
                           "3.11.2", "revops.yaml image.python") + BODY
    fields = lockfile.header_fields(text)
    assert fields["input-sha256"] == hashlib.sha256(b"alpha\n").hexdigest()
    assert fields["suite"] == "core" and fields["revops"] == "0.1.0" and fields["resolver"] == "pip-tools 7.6.2"
    assert fields["python"] == "3.11.2" and fields["python-from"] == "revops.yaml image.python"


def test_hashes_are_narrowed_to_those_a_service_pinned_and_a_miss_is_named():
    other = "--hash=sha256:" + "cd" * 32
    body = f"alpha==2.0 ; python_version >= \"3\" \\\n    {HASH} \\\n    {other}\n    # via -r core.in\nbeta==1.1 \\\n    {HASH}\n"
    narrowed, missed = lockfile.restrict_hashes(body, {"alpha": frozenset({"cd" * 32})})
    assert missed == []
    assert narrowed == f"alpha==2.0 ; python_version >= \"3\" \\\n    {other}\n    # via -r core.in\nbeta==1.1 \\\n    {HASH}\n"
    assert lockfile.unpinned_entries(narrowed) == []
    _, missed = lockfile.restrict_hashes(body, {"beta": frozenset({"ef" * 32})})
    assert missed == ["beta"]


def test_pins_counts_hashes_per_entry():
    assert [(p.name, p.version, p.hashes) for p in lockfile.pins(BODY)] == [("alpha", "2.0", 1), ("beta", "1.1", 2)]
    assert lockfile.unpinned_entries(BODY) == []


def test_entries_without_exact_pin_or_hash_are_found():
    body = BODY + "gamma>=1.0 \\\n    " + HASH + "\ndelta==0.5\n"
    assert lockfile.unpinned_entries(body) == ["gamma>=1.0", "delta==0.5"]


def test_tool_header_is_stripped_and_a_traceback_shrinks_to_its_message():
    assert strip_tool_header("# old header\n#\n\n" + BODY) == BODY
    stderr = "Traceback (most recent call last):\n  File \"x\", line 1\n    boom()\nValueError: no versions\n"
    assert explain(stderr) == "ValueError: no versions"
    many = "\n".join(f"line {i}" for i in range(40))
    assert explain(many).splitlines()[0] == "... (15 lines before)"


def test_the_app_module_is_what_the_unit_runs(tmp_path):
    from revops.lock.proof import app_module

    venv = "/opt/mods/x/venv/bin"
    assert app_module([[f"{venv}/uvicorn", "app:app", "--port", "8000"]], None) == "app"
    assert app_module([[f"{venv}/gunicorn", "-k", "uvicorn.workers.UvicornWorker", "svc.main:create()"]], None) == "svc.main"
    assert app_module([[f"{venv}/python", "-m", "worker", "--queue", "q"]], None) == "worker"
    assert app_module([[f"{venv}/python", "-m", "uvicorn", "api:app"]], None) == "api"
    assert app_module([[f"{venv}/python3", "/opt/mods/x/job.py"]], None) == "job"
    (tmp_path / "app.py").write_text("")
    assert app_module([["/bin/sh", "-c", "true"]], tmp_path) == "app"
    assert app_module([["/bin/sh", "-c", "true"]], tmp_path / "nowhere") is None
