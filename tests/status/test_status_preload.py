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

from revops import config as config_mod
from revops.status import gather


def _imported(module: str, name: str) -> str:
    """`from revops.adapters import systemd` imports the submodule; `from revops.x import f`, revops.x."""
    package = importlib.import_module(module)
    if hasattr(package, "__path__") and importlib.util.find_spec(f"{module}.{name}") is not None:
        return f"{module}.{name}"
    return module


def _function_imports() -> dict[str, set[str]]:
    """function name in gather.py -> the revops modules its body imports."""
    tree = ast.parse(inspect.getsource(gather))
    found: dict[str, set[str]] = {}
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("revops"):
                found.setdefault(fn.name, set()).update(_imported(node.module, a.name) for a in node.names)
            elif isinstance(node, ast.Import):
                found.setdefault(fn.name, set()).update(a.name for a in node.names if a.name.startswith("revops"))
    return found


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
    swarm = _config(tmp_path / "s" if (tmp_path / "s").mkdir() is None else tmp_path, swarm=True)
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
