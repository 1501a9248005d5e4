"""The lock's header and the rule that every entry is `==` with a sha256 hash."""

import hashlib
import os
import platform

import pytest

from revops import cli
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


# -- a lock read back is checked (issue 12, kind 7) -----------------------------------------

GOOD = lockfile.header("core", "core.in", lockfile.digest("alpha\n"), "0.1.0", "pip-tools 7.6.2",
                       platform.python_version(), "the running interpreter") + BODY


def test_a_lock_revops_wrote_reads_back(tmp_path):
    (tmp_path / "core.txt").write_text(GOOD)
    assert lockfile.read_lock(tmp_path / "core.txt", "core") == GOOD
    assert lockfile.recorded_digest(tmp_path / "core.txt", "core") == lockfile.digest("alpha\n")
    assert lockfile.recorded_digest(tmp_path / "absent.txt") is None


@pytest.mark.parametrize("old, new, expected", [
    (f"# input-sha256: {lockfile.digest('alpha' + chr(10))}", "# input-sha256: $(id)", "header input-sha256: expected a sha256"),
    ("# suite: core", "# suite: lead-gen", "this is the lock of suite 'lead-gen', not 'core'"),
    ("# suite: core", "# suite: ../../etc", "header suite: expected a suite name"),
    (f"# python: {platform.python_version()}", "# python: [/]", "header python: expected a Python version"),
], ids=["digest", "other-suite", "suite-path", "python"])
def test_a_header_revops_did_not_write_is_exit_2_naming_file_and_line(tmp_path, old, new, expected):
    assert old in GOOD
    text = GOOD.replace(old, new)
    (tmp_path / "core.txt").write_text(text)
    with pytest.raises(lockfile.LockfileError) as caught:
        lockfile.read_lock(tmp_path / "core.txt", "core")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith(new.split(":")[0]))
    assert caught.value.exit_code == 2 and f"{tmp_path / 'core.txt'}:{line}: " in caught.value.message
    assert expected in caught.value.message


def test_a_lock_that_is_not_utf8_or_not_a_file_is_refused(tmp_path, ends):
    (tmp_path / "bad.txt").write_bytes(b"# suite: core\nalpha==1 \xff\n")
    with pytest.raises(lockfile.LockfileError, match="bad.txt:2: not UTF-8"):
        lockfile.read_lock(tmp_path / "bad.txt")
    os.mkfifo(tmp_path / "fifo.txt")
    assert "a FIFO" in ends(lambda: pytest.raises(lockfile.LockfileError, lockfile.read_lock, tmp_path / "fifo.txt").value).message


def test_lock_check_on_a_lock_of_another_suite_exits_2(tiny_host, tmp_path, monkeypatch, capsys):
    locks = tiny_host.parent / "lockfiles"
    locks.mkdir(exist_ok=True)
    (locks / "core.in").write_text("alpha\n")
    (locks / "core.txt").write_text(GOOD.replace("# suite: core", "# suite: extra"))
    monkeypatch.chdir(tiny_host.parent)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lock", "--check", "--suite", "core"])
    assert exit_info.value.code == 2
    assert "core.txt:3: header suite: this is the lock of suite 'extra'" in capsys.readouterr().err


def test_a_lock_revops_wrote_is_installable_markers_extras_and_comments_included(tmp_path):
    body = (f"alpha[extra-one,two]==2.0.post1+local ; python_version < \"3.12\" and sys_platform != 'win32' \\\n"
            f"    {HASH}\n    # via -r core.in\n\n{BODY}"
            "    # local project /opt/revflow-os/modules/x, built by revops lock\n")
    lockfile.check_installable(tmp_path / "core.txt", "# suite: core\n" + body)  # raises nothing


@pytest.mark.parametrize("entry", [
    "-r /etc/shadow",  # pip reads another file (and quotes its lines in its error)
    "--requirement=/etc/shadow",
    "-c /root/constraints.txt",
    "--index-url http://127.0.0.1:9/simple",  # every package from another index
    "--extra-index-url=http://127.0.0.1:9/simple",
    "--find-links /tmp/wheels",
    "--trusted-host 127.0.0.1",
    "-e /opt/revflow-os/modules/x",  # runs the project's build (code from input)
    "/tmp/evil-1.0-py3-none-any.whl",
    "evil @ file:///tmp/evil-1.0-py3-none-any.whl",
    "gamma==${HOME}",  # pip expands ${VAR} from its environment
    "gamma>=1.0",
    "gamma==1.0",  # no hash
    f"gamma==1.0 ; python_version > '3' -r /etc/shadow {HASH}",
    f"gamma==1.0 {HASH} --index-url http://127.0.0.1:9/simple",
    f"gamma==1.0 {HASH} --config-settings=--build-option=--evil",
    f"gamma==1.0 \\\n    {HASH} \\",  # a continuation into nothing
])
def test_a_lock_entry_that_is_more_than_a_hashed_pin_is_exit_2_naming_file_and_line(tmp_path, entry):
    path = tmp_path / "core.txt"
    text = f"# suite: core\n{BODY}{entry}\n"
    with pytest.raises(lockfile.LockfileError) as refused:
        lockfile.check_installable(path, text)
    assert refused.value.exit_code == 2
    assert refused.value.message.startswith(f"{path}:{BODY.count(chr(10)) + 2}:"), refused.value.message


def test_the_proof_refuses_a_lock_with_a_pip_option_before_pip_is_run(tmp_path):
    from revops.lock import proof

    lock = tmp_path / "core.txt"
    lock.write_text("fastapi==0.110.0 \\\n    --hash=sha256:" + "a" * 64 + "\n-r /etc/shadow\n")
    with pytest.raises(lockfile.LockfileError, match=r"core.txt:3: '-r /etc/shadow'"):
        proof.fill_and_prove(tmp_path / "venv", lock, [], [])
    assert not (tmp_path / "venv").exists()
