"""status imports every reader's modules in the calling thread before the readers start.

Two readers importing, each in its own thread, modules that import each other can deadlock;
CPython then raises _DeadlockError in one of them. CI saw it once: the timers figure of a job
came back UNAVAILABLE, "deadlock detected by _ModuleLock('revops.generate.mapping')". The race
itself is about 1 in 40 fresh interpreters, too rare for a test; these hold the table that
prevents it to what the readers import.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import subprocess
import sys

import pytest

from revops import config as config_mod
from revops.status import gather


def _imported(module: str, name: str) -> str:
    """`from revops.adapters import systemd` imports the submodule; `from revops.x import f`, revops.x."""
    package = importlib.import_module(module)
    if hasattr(package, "__path__") and importlib.util.find_spec(f"{module}.{name}") is not None:
        return f"{module}.{name}"
    return module


def _function_imports(source: str | None = None, package: str = "revops.status") -> dict[str, set[str]]:
    """function name in gather.py (a method: Class.method) -> the revops modules its body
    imports: absolute and relative `import`/`from` forms, and importlib.import_module or
    __import__ of a literal name (of any other argument: "?", which no table can hold)."""
    tree = ast.parse(source if source is not None else inspect.getsource(gather))
    found: dict[str, set[str]] = {}
    functions = [(n.name, n) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    functions += [(f"{c.name}.{n.name}", n) for c in tree.body if isinstance(c, ast.ClassDef)
                  for n in c.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for name, fn in functions:
        for node in ast.walk(fn):
            modules: set[str] = set()
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package gather.py is in
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                if base.split(".")[0] == "revops":
                    modules = {_imported(base, a.name) for a in node.names}
            elif isinstance(node, ast.Import):
                modules = {a.name for a in node.names if a.name.split(".")[0] == "revops"}
            elif isinstance(node, ast.Call) and _dynamic_import(node.func):
                arg = node.args[0] if node.args else None
                text = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "?"
                modules = {text} if text == "?" or text.split(".")[0] == "revops" else set()
            if modules:
                found.setdefault(name, set()).update(modules)
    return found


def _dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or \
        (isinstance(func, ast.Attribute) and func.attr == "import_module")


def test_the_import_parse_sees_every_form_an_import_can_take():
    source = (
        "import importlib\n"
        "def a():\n    from . import replicas\n"
        "def b():\n    from .swarm import SwarmReplacements\n"
        "async def c():\n    import revops.jobs\n"
        "class K:\n    def m(self):\n        from ..adapters import systemd\n"
        "def d():\n    importlib.import_module('revops.dropins')\n"
        "def e(name):\n    __import__(name)\n"
        "def f():\n    def inner():\n        from revops.adapters import http\n"
        "def g():\n    import json\n    from typing import Any\n"
    )
    assert _function_imports(source) == {
        "a": {"revops.status.replicas"}, "b": {"revops.status.swarm"}, "c": {"revops.jobs"},
        "K.m": {"revops.adapters.systemd"}, "d": {"revops.dropins"}, "e": {"?"}, "f": {"revops.adapters.http"},
    }


def test_every_function_level_import_of_a_reader_is_in_its_preload_entry():
    imports = _function_imports()
    assert imports, "the readers import their adapters lazily: the parse found none"
    for name, modules in imports.items():
        if name in ("_readers_called", "preload"):
            continue
        assert name in gather.READER_MODULES, f"{name} imports {sorted(modules)} but has no READER_MODULES entry"
        missing = modules - set(gather.READER_MODULES[name])
        assert not missing, f"{name} imports {sorted(missing)} that read_all does not preload"


def _config(tmp_path, swarm: bool = False):
    text = "host: {root: .}\nsuites: {core: {phase: 1, units: [api.service]}}\n"
    if swarm:
        text += "target: swarm\nswarm: {registry: 127.0.0.1:5000}\n"
    (tmp_path / "revops.yaml").write_text(text)
    return config_mod.load(tmp_path / "revops.yaml")


def test_without_a_ledger_file_the_ledger_and_secret_readers_load_nothing(tmp_path):
    cfg = _config(tmp_path)
    called = gather._readers_called(cfg, None, timers=True)
    assert set(called) == {"read_systemd", "read_health", "read_docker", "read_timers"}
    assert not list(tmp_path.rglob("*.db")), "deciding what to preload must not create the ledger"


def test_with_a_ledger_file_every_reader_read_all_runs_is_preloaded(tmp_path):
    from revops.adapters.ledger import open_ledger

    cfg = _config(tmp_path)
    open_ledger(cfg.database_url).close()
    assert set(gather._readers_called(cfg, None, timers=False)) == {
        "read_systemd", "read_health", "read_docker", "read_ledger", "read_secrets", "_secret_figure"}
    (tmp_path / "s").mkdir()
    swarm = _config(tmp_path / "s", swarm=True)
    assert set(gather._readers_called(swarm, None, timers=True)) == {
        "read_systemd", "read_health", "read_swarm", "read_timers", "read_ledger", "read_swarm_secrets",
        "_secret_figure"}


def test_preload_leaves_every_module_loaded_in_a_fresh_interpreter():
    code = ("import sys\nfrom revops.status import gather\n"
            "gather.preload(list(gather.READER_MODULES))\n"
            "wanted = {m for ms in gather.READER_MODULES.values() for m in ms}\n"
            "print(sorted(wanted - set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize("swarm", [False, True])
def test_no_reader_thread_imports_a_revops_module(fresh_python, tmp_path, swarm):
    """The whole of read_all in a fresh interpreter, every source unreachable (each reader
    still imports what it uses before it connects): an audit hook sees every module loaded in
    a thread other than the caller's, and none is revops'. Catches what the parse above cannot:
    a module a reader's helper elsewhere imports lazily."""
    text = "host: {root: .}\nsystemd: {bus: user}\nsuites: {core: {phase: 1, units: [api.service]}}\n"
    if swarm:  # the manager: DOCKER_HOST, below
        text += "target: swarm\nswarm: {registry: 127.0.0.1:5000}\n"
    (tmp_path / "revops.yaml").write_text(text)
    script = (
        "import os, sys, threading\n"
        f"os.environ['DBUS_SESSION_BUS_ADDRESS'] = 'unix:path={tmp_path}/no-bus'\n"
        f"os.environ['DOCKER_HOST'] = 'unix://{tmp_path}/no-engine.sock'\n"
        "main, seen = threading.main_thread(), []\n"
        "sys.addaudithook(lambda event, args: seen.append(args[0]) if event == 'import' "
        "and threading.current_thread() is not main else None)\n"
        "from revops import config\n"
        "from revops.adapters.ledger import open_ledger\n"
        "from revops.model import Timer, Unit\n"
        "from revops.status import gather\n"
        f"cfg = config.load({str(tmp_path / 'revops.yaml')!r})\n"
        "open_ledger(cfg.database_url).close()\n"
        "units = [Unit(name='api.service', path=None, port=1, timers=[Timer(name='api.timer', path=None)])]\n"
        "reads = gather.read_all(cfg, units)\n"
        "print(sorted(reads))\n"
        "print(sorted({m for m in seen if m.split('.')[0] == 'revops'}))\n"
    )
    lines = fresh_python(script)
    assert "timers" in lines[-2] and "secrets" in lines[-2], lines
    assert lines[-1] == "[]", f"imported in a reader's thread: {lines[-1]}"
