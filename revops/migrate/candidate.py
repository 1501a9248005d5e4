"""Pre-verification: proving a service's replacement before its unit is stopped.

Two ways, chosen per service (revops.yaml `suites.X.preverify`, else by kind; see
plan.preverify_mode), both made by the target from the replacement preflight created, so they
run the very image, environment, user and command the cutover will start:

- full: a candidate container beside the unit, its port published on an ephemeral 127.0.0.1
  port, gated on revops' own GET /health (2xx, deadline, backoff), then removed. For services
  that serve a port: a second copy answers only the requests sent to it.
- import: the import check below, for services that must not run twice (a worker would take
  jobs beside its unit, a scheduler would fire twice). It runs none of the service's code
  beyond importing its entry module, with no network and every mount read-only.

This module is the pure part: the import check's program, the argv that runs it, and how its
answer reads. The program is a constant; the service's argv reaches it as one JSON argument
(data, never code), so what the check runs cannot be changed by a unit file.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass

CANDIDATE_LABEL = "revops.candidate"  # on every candidate container: the unit it stands in for
MARKER = "revops-import-check:"  # the first words of the program's answer line on stdout
IMPORT_CHECK_TIMEOUT_S = 120.0  # an import that takes longer is stuck (a network wait, a lock)

_PYTHON = re.compile(r"python(?:\d+(?:\.\d+)*)?")

# What the image's interpreter runs. For each kind of argv (the same rules, stated in the
# README, "Pre-verified cutover"):
# - `PROGRAM ... MODULE:ATTR ...` (uvicorn, gunicorn, hypercorn ...): MODULE imported from the
#   working directory (and uvicorn's --app-dir), ATTR looked up; then PROGRAM's own file, when
#   it is Python (a venv's console script), compiled and its imports found;
# - `python SCRIPT`: SCRIPT compiled and each module its top level imports found (not run: a
#   worker's script starts its work when run);
# - `python -m MODULE`: found, its source compiled and its top-level imports found;
# - `python -c CODE`: CODE compiled.
# "Found" means importlib.util.find_spec of the top-level package: the module is there,
# nothing of it runs. Imports inside functions, `if` or `try` blocks are optional by design
# and not checked.
IMPORT_CHECK = r"""
import ast, importlib, importlib.util, json, os, re, shutil, sys

MARKER = "revops-import-check:"
checked = []

def answer(ok, words):
    sys.stdout.flush()
    print(MARKER, json.dumps({"ok": ok, "words": words, "checked": checked}), flush=True)
    sys.exit(0 if ok else 1)

def top_imports(tree):
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.append(node.module)
    return names

def find_all(names, where):
    missing = []
    for top in dict.fromkeys(n.split(".")[0] for n in names if n != "__future__"):
        try:
            found = importlib.util.find_spec(top)
        except (ImportError, ValueError) as exc:
            found, top = None, f"{top} ({exc})"
        if found is None:
            missing.append(top)
    if missing:
        answer(False, f"{where} imports {', '.join(missing)}: no such module in the image")

def check_source(path, source=None):
    try:
        if source is None:
            with open(path, "rb") as handle:
                source = handle.read()
        tree = compile(source, path, "exec", ast.PyCF_ONLY_AST)
        compile(tree, path, "exec")
    except OSError as exc:
        answer(False, f"cannot read {path}: {exc.strerror or exc}")
    except (SyntaxError, ValueError) as exc:
        answer(False, f"{path} does not compile: {type(exc).__name__}: {exc}")
    find_all(top_imports(tree), path)
    checked.append(f"{path} compiles, its imports found")

def import_entry(entry, extra_path):
    module, _, attr = entry.partition(":")
    for where in reversed([os.getcwd()] + extra_path):
        if where not in sys.path:
            sys.path.insert(0, where)
    try:
        target = importlib.import_module(module)
        for part in attr.split(".") if attr else ():
            target = getattr(target, part)
    except BaseException as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = tb.tb_frame.f_code.co_filename if tb is not None else "<string>"
        at = f" ({where}:{tb.tb_lineno})" if where != "<string>" else ""
        answer(False, f"import {entry}: {type(exc).__name__}: {exc}{at}")
    checked.append(f"imported {entry}")

def python_target(args):
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-m", "-c"):
            return (arg, args[i + 1]) if i + 1 < len(args) else (arg, None)
        if arg[:2] in ("-m", "-c") and len(arg) > 2 and not arg.startswith("--"):
            return (arg[:2], arg[2:])
        if arg in ("-W", "-X"):
            i += 2
            continue
        if arg == "-" or not arg.startswith("-"):
            return ("script", arg)
        i += 1
    return (None, None)

def main():
    argv = json.loads(sys.argv[1])
    program, args = argv[0], argv[1:]
    if re.fullmatch(r"python(?:\d+(?:\.\d+)*)?", os.path.basename(program)):
        kind, target = python_target(args)
        if kind == "script" and target != "-":
            path = os.path.abspath(target)
            sys.path.insert(0, os.path.dirname(path))
            check_source(path)
        elif kind == "-m" and target:
            sys.path.insert(0, os.getcwd())
            try:
                spec = importlib.util.find_spec(target)
            except (ImportError, ValueError) as exc:
                answer(False, f"-m {target}: {type(exc).__name__}: {exc}")
            if spec is None:
                answer(False, f"-m {target}: no such module in the image")
            if spec.submodule_search_locations is not None:
                spec = importlib.util.find_spec(target + ".__main__")
                if spec is None:
                    answer(False, f"-m {target}: a package with no __main__ module")
            source = spec.loader.get_source(spec.name) if spec and spec.loader else None
            if source is None:
                answer(False, f"-m {target}: no source to compile")
            check_source(spec.origin, source)
        elif kind == "-c" and target is not None:
            check_source("<-c>", target)
        else:
            answer(False, "the argv names no script, -m module or -c code to check")
        answer(True, "; ".join(checked))
    entries = [a for a in args if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", a)]
    app_dir = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--app-dir"]
    app_dir += [a.split("=", 1)[1] for a in args if a.startswith("--app-dir=")]
    for entry in entries[:1]:
        import_entry(entry, [os.path.abspath(d) for d in app_dir])
    path = program if os.path.isabs(program) else shutil.which(program)
    if path and os.path.isfile(path):
        with open(path, "rb") as handle:
            head = handle.readline()
        if head.startswith(b"#!") and b"python" in head:
            check_source(path)
    if not checked:
        answer(False, f"{program}: not Python and no MODULE:ATTR in its argv; nothing to import "
                      "(set preverify: full or off for its suite)")
    answer(True, "; ".join(checked))

main()
"""


def interpreter_for(argv: list[str] | tuple[str, ...]) -> str:
    """The image's Python that runs the service: argv[0] when it is one; else the `python`
    beside an absolute argv[0] (a venv's console script: /opt/venv/bin/uvicorn ->
    /opt/venv/bin/python); else python3 on the image's PATH."""
    program = argv[0] if argv else ""
    if _PYTHON.fullmatch(posixpath.basename(program)):
        return program
    if posixpath.isabs(program):
        return posixpath.join(posixpath.dirname(program), "python")
    return "python3"


def import_check_argv(argv: list[str] | tuple[str, ...]) -> list[str]:
    """The exec-form command that checks `argv` (the service's command) in its image."""
    if not argv:
        raise ValueError("the service has no command to check")
    return [interpreter_for(argv), "-c", IMPORT_CHECK, json.dumps(list(argv))]


@dataclass(frozen=True)
class ImportCheck:
    ok: bool
    words: str  # what was checked, or what failed (already redacted by the caller)


def read_answer(status: int, stdout: str, stderr: str) -> ImportCheck:
    """The check's verdict from its exit status and output: its answer line when it wrote one
    (the last, so the service's own prints before it do not count), else the end of stderr
    (the interpreter itself could not start, or the import killed the process)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                answer = json.loads(line[len(MARKER):])
                return ImportCheck(bool(answer["ok"]) and status == 0, str(answer["words"]))
            except (ValueError, KeyError, TypeError):
                break
    tail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-3:])
    return ImportCheck(False, f"the check exited {status} without an answer" + (f": {tail}" if tail else ""))
