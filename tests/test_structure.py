"""The package's structure: dependencies point one way.

No two ``refimpl`` modules import each other, directly or around a loop, counting
imports inside functions too.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import refimpl

ROOT = Path(refimpl.__file__).parent
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(refimpl.__path__, "refimpl.")
    if not info.name.endswith(".__main__")
)

#: Import cycles that exist and are someone's open work (issue 12 §4: the lead
#: restructures refimpl/schedules so that classes register themselves).  Each entry is
#: the sorted set of modules on the cycle.
KNOWN_CYCLES: list[frozenset[str]] = [
    frozenset({"refimpl.schedules.serialization", "refimpl.schedules.sequential"}),
    frozenset({"refimpl.schedules.serialization", "refimpl.schedules.time_based"}),
    frozenset({"refimpl.schedules.serialization", "refimpl.schedules.warmup"}),
]


def _source(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    assert spec.origin is not None, module
    return Path(spec.origin)


def _imports(module: str) -> list[tuple[str, int]]:
    """Every module ``module`` imports (at top level or inside a function), with its line:
    ``import a.b``, ``from a import b`` (``a.b`` when that is a module, else ``a``),
    relative imports, and ``importlib.import_module("a.b")`` with a constant name."""
    path = _source(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = sub in MODULES or (not sub.startswith("refimpl.") and _is_module(sub))
                found.append((sub if is_module else base, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_refimpl_modules() -> None:
    graph = {m: {name for name, _ in _imports(m) if name in MODULES and name != m} for m in MODULES}
    # Each known cycle is the whole component or a loop inside a bigger one.
    unexpected = [sorted(c) for c in _cycles(graph) if not any(k <= c for k in KNOWN_CYCLES)]
    assert not unexpected


def test_plotting_and_report_depend_one_way() -> None:
    """report draws with plotting; plotting knows nothing of the report."""
    assert "refimpl.plotting" in {name for name, _ in _imports("refimpl.report")}
    assert not {name for name, _ in _imports("refimpl.plotting")} & {"refimpl.report"}
