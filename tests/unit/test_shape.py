"""The package keeps its shape: each step imports only the steps below it, no import cycle,
vector backends reached only through their base and factory, and classes and functions
short enough to read in one sitting."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "qa"

# What each part of the package may import (besides itself): the pipeline, bottom up.
LAYERS = {
    "core": set(),
    "ingest": {"core"},
    "chunk": {"core", "ingest"},
    "embed": {"core"},
    "store": {"core", "ingest", "chunk"},
    "milvus": {"core", "ingest", "store"},
    "vectors": {"core", "store", "milvus"},
    "index": {"core", "ingest", "chunk", "embed", "store", "vectors"},
    "collection": {"core", "ingest", "chunk", "embed", "store", "vectors", "milvus", "index"},
    "search": {"core", "ingest", "chunk", "embed", "store", "index"},
    "answer": {"core", "ingest", "embed", "index", "search"},
    "service": {
        *("core", "ingest", "embed", "store", "vectors", "index", "collection", "search"),
        "answer",
    },
    "api": {"core", "ingest", "store", "index", "search", "answer", "service"},
    "eval": {"core", "ingest", "embed", "store", "search", "answer", "collection", "service"},
    "cli": {"core", "ingest", "store", "api", "service", "eval"},
    # child processes for tests and benchmarks: nothing imports it
    "testing": {"core", "milvus"},
}
BACKENDS = ("qa.vectors.faiss", "qa.vectors.milvus")
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 60
REASON = "# long:"  # on the line of a def or class: why it may be longer


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path) -> Iterator[str]:
    """The ``qa`` modules ``path`` imports, anywhere in it (a name imported from a package
    counts as its submodule when there is one)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "qa")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "qa":
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield full if full in MODULES else node.module


GRAPH = {name: set(imported(path)) - {name} for name, path in MODULES.items()}


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "qa"


def test_each_step_imports_only_the_steps_below_it():
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if part(module) in LAYERS
        and part(target) != part(module)
        and part(target) not in LAYERS[part(module)] | {"qa"}
    ]
    assert not wrong, wrong
    assert set(LAYERS) | {"qa"} >= {part(m) for m in MODULES}, "a new part needs a layer"


def test_the_import_graph_has_no_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_vector_backends_are_reached_through_their_base_and_factory():
    outside = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target.startswith(BACKENDS)
        and not module.startswith(BACKENDS)
        and module != "qa.vectors.factory"
    ]
    assert not outside, outside
    crossed = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith(BACKENDS)
        for target in targets
        if target.startswith("qa.vectors")
        and target != "qa.vectors.base"
        and not target.startswith(".".join(module.split(".")[:3]))
    ]
    assert not crossed, crossed


BENCHMARKS = {f"bench.{p.stem}": p for p in sorted((REPO / "bench").glob("*.py"))}


def test_classes_and_functions_are_short_or_say_why():
    """In the package and in the benchmarks alike."""
    too_long = []
    for name, path in {**MODULES, **BENCHMARKS}.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit = MAX_FUNCTION_LINES
            else:
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit and REASON not in lines[node.lineno - 1]:
                too_long.append(f"{name}.{node.name}: {length} lines (limit {limit})")
    assert not too_long, too_long
