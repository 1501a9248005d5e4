"""The import check's program run by this machine's interpreter, on services of our own in a
temporary directory (in an image it is the same program run by the image's interpreter:
tests/migrate/test_migrate_waves.py). Nothing of a service may run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from revops.migrate import candidate as C


def check(tmp_path, argv):
    command = C.import_check_argv(argv)
    command[0] = sys.executable if command[0] in ("python3", "python") else command[0]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    return C.read_answer(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def app(tmp_path):
    (tmp_path / "ran").unlink(missing_ok=True)
    (tmp_path / "good.py").write_text("import json\nfrom os import path\nopen('ran', 'w').write('x')\n")
    (tmp_path / "broken.py").write_text("import json\nimport no_such_package_here\nopen('ran', 'w')\n")
    (tmp_path / "syntax.py").write_text("def f(:\n")
    (tmp_path / "webapp.py").write_text("import json\napp = object()\n")
    (tmp_path / "badapp.py").write_text("import no_such_package_here\napp = object()\n")
    return tmp_path


@pytest.mark.parametrize("argv, ok, words", [
    (["python3", "good.py"], True, "good.py compiles, its imports found"),
    (["python3", "-u", "broken.py"], False, "imports no_such_package_here: no such module in the image"),
    (["python3", "syntax.py"], False, "does not compile: SyntaxError"),
    (["python3", "missing.py"], False, "cannot read"),
    (["python3", "-m", "json.tool"], True, "compiles, its imports found"),
    (["python3", "-m", "no_such_package_here"], False, "no such module in the image"),
    (["python3", "-c", "import json"], True, "<-c> compiles"),
    (["python3"], False, "names no script, -m module or -c code"),
    (["uvicorn", "webapp:app", "--port", "8000"], True, "imported webapp:app"),
    (["uvicorn", "badapp:app"], False, "import badapp:app: ModuleNotFoundError"),
    (["uvicorn", "webapp:missing"], False, "AttributeError"),
    (["true"], False, "nothing to import"),
])
def test_the_import_check_runs_nothing_of_the_service(app, argv, ok, words):
    said = check(app, argv)
    assert said.ok is ok and words in said.words, said
    assert not (app / "ran").exists()  # the script's top level never ran


def test_the_argv_reaches_the_program_as_data(tmp_path):
    hostile = ["python3", "x.py'); import os; os.system('touch pwned'); print('"]
    command = C.import_check_argv(hostile)
    assert command[:3] == ["python3", "-c", C.IMPORT_CHECK] and len(command) == 4
    said = check(tmp_path, hostile)
    assert not said.ok and "cannot read" in said.words
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("argv, interpreter", [
    (["/opt/venv/bin/python3.11", "app.py"], "/opt/venv/bin/python3.11"),
    (["/opt/venv/bin/uvicorn", "app:app"], "/opt/venv/bin/python"),
    (["gunicorn", "app:app"], "python3"),
])
def test_the_interpreter_is_the_services_own(argv, interpreter):
    assert C.interpreter_for(argv) == interpreter


def test_an_answer_is_read_from_the_last_marker_line_only():
    fake = 'revops-import-check: {"ok": true, "words": "printed by the app", "checked": []}'
    real = 'revops-import-check: {"ok": false, "words": "import x: boom", "checked": []}'
    assert C.read_answer(1, f"{fake}\n{real}\n", "").words == "import x: boom"
    assert not C.read_answer(1, fake, "").ok  # an exit status of 1 is a failure whatever was printed
    said = C.read_answer(137, "", "line1\nKilled\n")
    assert not said.ok and "exited 137 without an answer" in said.words and "Killed" in said.words
