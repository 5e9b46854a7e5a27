"""The house's shape, checked: imports point down, package by package, in the order of the design

    shells (cli, web) > service > viz > backends > evaluate, recommend
    > cluster, features, clean, ingest, audio (and the other stages) > store > the ground floor

nothing imports a shell, no module imports itself back through others, no package imports
another's private module, and pyspark is imported only under backends/spark/. Imports inside
functions count: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "songscope"

#: Each module's floor, by its dotted name's prefix (the longest prefix wins); a module may import
#: its own floor or lower. The ground floor (`songscope` itself: schema, config, errors, jsonable,
#: artists, ...) imports nothing of ours above it.
FLOORS = {
    "songscope": 0,
    "songscope.store": 1,
    "songscope.cluster": 2, "songscope.features": 2, "songscope.clean": 2, "songscope.ingest": 2, "songscope.profile": 2,
    "songscope.synth": 2, "songscope.audio": 2,
    "songscope.evaluate": 3, "songscope.recommend": 3, "songscope.compare": 3,
    "songscope.backends": 4,
    "songscope.viz": 5,
    "songscope.service": 6,
    "songscope.cli": 7, "songscope.web": 7,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _imported_names(path: Path) -> set[str]:
    """Every module name `path` imports (any package's), anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


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


def test_the_floors_are_the_designs_order():
    """Equal floors are only the stages side by side; each named package sits strictly above the one the design puts below it."""
    order = ["songscope", "songscope.store", "songscope.cluster", "songscope.evaluate", "songscope.backends", "songscope.viz", "songscope.service",
             "songscope.cli"]
    assert [FLOORS[p] for p in order] == sorted(FLOORS[p] for p in order) and len({FLOORS[p] for p in order}) == len(order)
    assert FLOORS["songscope.web"] == FLOORS["songscope.cli"] and FLOORS["songscope.recommend"] == FLOORS["songscope.evaluate"]


def test_no_package_imports_another_packages_private_module():
    """A module whose name starts with ``_`` is its package's own (`cluster/_lloyd.py` is reached through `cluster/kmeans.py`)."""
    offenders = []
    for name, path in _modules().items():
        for imported in _imported_names(path):
            parts = imported.split(".")
            private = next((i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")), None)
            if imported.startswith("songscope.") and private is not None and not name.startswith(".".join(parts[:private]) + "."):
                offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_only_the_spark_backend_imports_pyspark():
    """So the base install needs no Java, and Spark lives in one place."""
    offenders = [f"{name} imports {imported}" for name, path in _modules().items() for imported in _imported_names(path)
                 if imported.split(".")[0] == "pyspark" and not name.startswith("songscope.backends.spark")]
    assert offenders == []


def test_nothing_imports_a_shell():
    """But one shell handing over to the other: `songscope serve` starts the web app."""
    graph = _graph()

    def shell(module: str) -> str | None:
        return next((s for s in ("songscope.cli", "songscope.web") if module == s or module.startswith(s + ".")), None)

    offenders = [f"{a} imports {b}" for a, targets in graph.items() for b in targets
                 if shell(b) is not None and shell(a) != shell(b) and (a, b) != ("songscope.cli.serve", "songscope.web.app")]
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


def test_an_upward_import_among_the_stages_is_caught():
    """The import `engines/spark.py` made before the backends had one package (a stage importing a backend)."""
    assert _floor("songscope.backends.spark.catalogue") > _floor("songscope.cluster.local")
    assert _floor("songscope.viz.report") > _floor("songscope.evaluate.select") > _floor("songscope.features")


@pytest.mark.parametrize("source", ["import songscope.cli\n", "from songscope.web import app\n"])
def test_the_checks_can_fail(tmp_path, source):
    """The walker sees imports anywhere in a module, including inside functions."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    " + source)
    assert _imports(module, {"songscope.cli", "songscope.web", "songscope.web.app"})


#: Generated code, exempt from the size rule (written by cluster/_generate_widths.py).
GENERATED = {"songscope.cluster._lloyd_widths"}
#: The most lines a hand-written module may have: past this it has more than one job.
MAX_MODULE_LINES = 600


def test_no_module_is_over_600_lines():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _modules().items() if name not in GENERATED}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
    modules = _modules()
    assert all("Generated by" in modules[name].read_text(encoding="utf-8") for name in GENERATED)  # exempt only what says it is generated
