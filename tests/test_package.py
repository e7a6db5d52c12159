"""The top-level package: ``import refimpl`` is NumPy-only, every public submodule is a
lazily imported attribute of ``refimpl``, and every name in every ``__all__`` resolves."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys

import pytest

import refimpl

#: Top-level packages that ``import refimpl`` must not load (NumPy only).
HEAVY = (
    "hypothesis",
    "jax",
    "keras",
    "matplotlib",
    "pandas",
    "scipy",
    "tensorflow",
    "tf_keras",
    "torch",
)

#: What the schedules need, so ``import refimpl`` loads it; everything else is lazy.
EAGER = frozenset({"exceptions", "kernels", "numpy_ops", "schedules", "modes", "runs", "ulps"})

PUBLIC_SUBMODULES = sorted(
    info.name for info in pkgutil.iter_modules(refimpl.__path__) if not info.name.startswith("_")
)
ALL_MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(refimpl.__path__, "refimpl.")
    if not info.name.endswith(".__main__")  # runs the command line when imported
)


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter; return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_public_submodules_are_found() -> None:
    assert {"layers", "losses", "metrics", "models", "schedules"} <= set(PUBLIC_SUBMODULES)


def test_import_refimpl_loads_numpy_only_and_no_lazy_submodule() -> None:
    out = _fresh("import json, sys, refimpl\nprint(json.dumps(sorted(sys.modules)))\n")
    loaded = set(json.loads(out))
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    assert {n for n in PUBLIC_SUBMODULES if f"refimpl.{n}" in loaded} == EAGER


@pytest.mark.parametrize("name", PUBLIC_SUBMODULES)
def test_every_public_submodule_is_an_attribute_of_a_fresh_refimpl(name: str) -> None:
    """In a new interpreter (so no earlier import has bound it), ``refimpl.<name>`` is the
    submodule, and it is listed in ``__all__`` and ``dir(refimpl)``."""
    _fresh(
        "import sys, refimpl\n"
        f"module = getattr(refimpl, {name!r})\n"
        f"assert module is sys.modules['refimpl.' + {name!r}], module\n"
    )
    assert name in dir(refimpl)
    assert (name in refimpl.__all__) == (name not in NEEDS_AN_EXTRA)


#: Public submodules left out of ``__all__``: ``testing`` needs an optional dependency
#: (Hypothesis; ``from refimpl import *`` works with NumPy alone), ``torch`` and ``optax``
#: are named like frameworks (``from refimpl import *`` must not shadow ``import torch``).
NEEDS_AN_EXTRA = frozenset({"optax", "testing", "torch"})


def test_top_level_all_is_the_public_submodules_and_the_documented_names() -> None:
    assert len(refimpl.__all__) == len(set(refimpl.__all__))
    assert set(refimpl.__all__) == {
        *(set(PUBLIC_SUBMODULES) - NEEDS_AN_EXTRA),
        "ScheduleWarning",
        "Sequential",
        "__version__",
    }


def test_star_import_needs_numpy_only() -> None:
    """``from refimpl import *`` with the optional dependencies made unimportable."""
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in HEAVY)
    _fresh(f"import sys; {blocked}\nfrom refimpl import *\nassert callable(Sequential)\n")
    assert refimpl.Sequential is importlib.import_module("refimpl.models").Sequential
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = refimpl.nope  # type: ignore[attr-defined]


@pytest.mark.parametrize("module_name", ["refimpl", *ALL_MODULES])
def test_every_name_in_all_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", [])
    assert len(names) == len(set(names)), module_name
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, (module_name, missing)


@pytest.mark.parametrize("module_name", ALL_MODULES)
def test_all_lists_every_public_function_and_class(module_name: str) -> None:
    """Each module's ``__all__`` names every public function and class it defines
    (``layers``' teaching functions ``relu_forward``, ``softmax``, ... included)."""
    module = importlib.import_module(module_name)
    public = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    assert public <= set(getattr(module, "__all__", [])), sorted(
        public - set(getattr(module, "__all__", []))
    )
