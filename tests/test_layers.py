"""The floor plan of revops, held by its imports (read with ast: every import, inside functions
too, since a function's import is still a dependency).

- `revops/commands/` composes the verbs; only it and `revops/cli.py` import `revops.commands`,
  so nothing below calls up into a verb.
- The adapters (one per outside system) import no revops code but the small neutral modules.
- No two modules import each other, directly or through others; nor two rooms (a package
  such as revops/migrate/, or a top-level module), so the floors stack one way only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "revops"
ADAPTERS_MAY_IMPORT = {"revops.adapters", "revops.errors", "revops.backoff", "revops.coalesce"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The revops modules `path` (module `name`) imports: `from a.b import c` names a.b.c when
    that is a module, else a.b. A package's own __init__ is not implied by its submodules."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m == "revops" or m.startswith("revops.")}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported(path, name, known) - {name} for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def test_only_commands_and_cli_import_the_verbs():
    edges = graph()
    upward = sorted(f"{src} imports {dst}" for src, dsts in edges.items() for dst in dsts
                    if (dst == "revops.commands" or dst.startswith("revops.commands."))
                    and not (src == "revops.cli" or src.startswith("revops.commands")))
    assert upward == []


def test_adapters_import_only_the_neutral_modules():
    edges = graph()
    wrong = sorted(f"{src} imports {dst}" for src, dsts in edges.items() if src.startswith("revops.adapters")
                   for dst in dsts if not any(dst == m or dst.startswith(m + ".") for m in ADAPTERS_MAY_IMPORT))
    assert wrong == []


def room(module: str) -> str:
    """revops.migrate.plan -> revops.migrate; a top-level module is its own room."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else module


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_cycles_between_rooms():
    rooms: dict[str, set[str]] = {}
    for src, dsts in graph().items():
        rooms.setdefault(room(src), set()).update(room(d) for d in dsts if room(d) != room(src))
    assert cycles(rooms) == []


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set(), "c": {"b"}}, []),
])
def test_the_cycle_finder_finds_cycles_and_only_them(edges, expected):
    assert cycles(edges) == expected


def test_the_reader_resolves_relative_imports_and_submodules(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("from . import plan\nfrom .journal import Journal\nimport revops.errors\n"
                      "def f():\n    from revops.commands import lock\n", encoding="utf-8")
    known = {"revops.migrate.plan", "revops.migrate.journal", "revops.errors", "revops.commands.lock"}
    assert imported(source, "revops.migrate.mod", known) == known
