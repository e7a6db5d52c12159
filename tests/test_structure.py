"""The package's structure: dependencies point one way.

``refimpl`` is NumPy-only: importing it, or any of its modules, imports neither
TensorFlow nor ``keras_adapter``, and no ``refimpl`` module imports them (or Keras,
torch, JAX) in an import statement, even inside a function.  The commands that need
TensorFlow reach ``keras_adapter`` at run time only through
:func:`refimpl.cli.common.import_extra`.  And no two ``refimpl`` modules import each
other, directly or around a loop, counting imports inside functions too.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import refimpl

ROOT = Path(refimpl.__file__).parent
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(refimpl.__path__, "refimpl.")
    if not info.name.endswith(".__main__")
)

#: Import cycles allowed to exist: none (the schedules' classes register themselves,
#: and the accuracy knowledge lives on them, with refimpl.ulps below everything).  Each
#: entry would be the sorted set of modules on the cycle.
KNOWN_CYCLES: list[frozenset[str]] = []


#: Top-level packages that only an extra provides.
FRAMEWORKS = frozenset({"tensorflow", "keras", "tf_keras", "keras_adapter", "torch", "jax"})

#: The one module allowed to import a framework, and only inside its functions (JAX on
#: first use): refimpl's array namespace on ``jax.numpy`` and ``as_optax``, which hand
#: refimpl's formulas to a JAX the user already runs (the ``jax`` extra).
LAZY_FRAMEWORK_IMPORTS = {"refimpl.optax.jax_namespace": frozenset({"jax"})}


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


def test_no_refimpl_module_imports_a_framework_or_keras_adapter() -> None:
    """Statically, in every import statement (also inside functions) and every
    ``importlib.import_module("...")`` with a constant name."""
    found = [
        (m, name, line)
        for m in MODULES
        for name, line in _imports(m)
        if name.split(".")[0] in FRAMEWORKS - LAZY_FRAMEWORK_IMPORTS.get(m, frozenset())
    ]
    assert not found


def test_the_lazy_framework_imports_are_inside_functions() -> None:
    """``LAZY_FRAMEWORK_IMPORTS``' modules import their framework in functions only."""
    for module, frameworks in LAZY_FRAMEWORK_IMPORTS.items():
        tree = ast.parse(_source(module).read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        named = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        named |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
        assert not {name.split(".")[0] for name in named} & frameworks, module
        assert any(name.split(".")[0] in frameworks for name, _ in _imports(module)), module


def test_the_only_way_into_keras_adapter_is_import_extra() -> None:
    """Besides the import statements (no framework, above), a module is imported by a
    computed name in three places only: ``refimpl.__getattr__`` (``refimpl.<submodule>``),
    ``refimpl.cli`` (its subcommands) and :func:`refimpl.cli.common.import_extra`, the
    documented entry point for what an extra provides."""
    dynamic: dict[str, list[int]] = {}
    for module in ["refimpl", *MODULES]:
        for node in ast.walk(ast.parse(_source(module).read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and not (
                node.args and isinstance(node.args[0], ast.Constant)
            ):
                dynamic.setdefault(module, []).append(node.lineno)
    assert set(dynamic) == {"refimpl", "refimpl.cli", "refimpl.cli.common"}, dynamic
    import refimpl.cli

    assert all(name.startswith("refimpl.cli.") for name in refimpl.cli.SUBCOMMANDS)
    init = ast.parse(_source("refimpl").read_text())
    prefixes = {
        node.args[0].values[0].value
        for node in ast.walk(init)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and node.args
        and isinstance(node.args[0], ast.JoinedStr)
        and isinstance(node.args[0].values[0], ast.Constant)
    }
    assert prefixes == {"refimpl."}


def test_importing_every_refimpl_module_imports_no_framework() -> None:
    """In a fresh interpreter: import each module of refimpl, then look at sys.modules."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not set(json.loads(done.stdout)) & FRAMEWORKS
