"""The house's shape, checked: imports point down (shells > service > stages > stores > ground
floor), nothing imports a shell, and no module imports itself back through others. Imports inside
functions count: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "songscope"

#: Each module's floor, by its dotted name's prefix (the longest prefix wins); higher may import lower or equal.
FLOORS = {
    "songscope.schema": 0, "songscope.config": 0, "songscope.jsonable": 0, "songscope.seed": 0, "songscope": 0,
    "songscope.store": 1,
    "songscope.ingest": 2, "songscope.clean": 2, "songscope.features": 2, "songscope.profile": 2, "songscope.synth": 2,
    "songscope.compare": 2, "songscope.backends": 2, "songscope.engines": 2, "songscope.evaluate": 2, "songscope.recommend": 2, "songscope.viz": 2,
    "songscope.service": 3,
    "songscope.cli": 4, "songscope.web": 4,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _imports(path: Path, known: set[str]) -> set[str]:
    """songscope modules `path` imports, anywhere in it (``from songscope import x`` names module x when it is one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("songscope")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("songscope") and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    return {name for name in found if name in known}


def _floor(module: str) -> int:
    prefix = max((p for p in FLOORS if module == p or module.startswith(p + ".")), key=len)
    return FLOORS[prefix]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_every_module_has_a_floor():
    assert all(_floor(m) >= 0 for m in _modules())
    assert {"songscope.service", "songscope.store.store", "songscope.store.runs", "songscope.cli", "songscope.web.app"} <= set(_modules())


def test_imports_point_down():
    upward = [f"{a} (floor {_floor(a)}) imports {b} (floor {_floor(b)})" for a, targets in _graph().items() for b in targets
              if _floor(b) > _floor(a) and not (a.startswith("songscope.web") and b.startswith("songscope.web"))]
    assert upward == []


def test_nothing_imports_a_shell():
    """But one shell handing over to the other: `songscope serve` starts the web app."""
    graph = _graph()
    offenders = [f"{a} imports {b}" for a, targets in graph.items() for b in targets
                 if (b == "songscope.cli" or b.startswith("songscope.web")) and not a.startswith("songscope.web")
                 and (a, b) != ("songscope.cli", "songscope.web.app")]
    assert offenders == []


def test_no_import_cycles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    assert cycles == []


@pytest.mark.parametrize("source", ["import songscope.cli\n", "from songscope.web import app\n"])
def test_the_checks_can_fail(tmp_path, source):
    """The walker sees imports anywhere in a module, including inside functions."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    " + source)
    assert _imports(module, {"songscope.cli", "songscope.web", "songscope.web.app"})
