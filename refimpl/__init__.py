"""lr-refimpl: Keras learning-rate schedules, exact, in NumPy.

``import refimpl`` imports NumPy only.  The schedules live in :mod:`refimpl.schedules`
(also importable as :mod:`refimpl.optimizers.schedules`, as in Keras); every other
public submodule -- the Keras-like trainer (``Sequential``, ``layers``, ``losses``,
``metrics``, ``models``, ``optimizers``, ``callbacks``, ``datasets``, ``utils``) and the
tooling (``cli``, ``lesson``, ``plotting``, ``report``, ``testing``) -- is imported lazily
on first attribute access, so ``import refimpl as keras`` runs the lesson's code
unchanged and ``refimpl.metrics`` works without an explicit ``import refimpl.metrics``.
"""

from __future__ import annotations

import importlib
from typing import Any

from refimpl import schedules
from refimpl._version import __version__
from refimpl.exceptions import ScheduleWarning

__all__ = [
    "ScheduleWarning",
    "Sequential",
    "__version__",
    "callbacks",
    "cli",
    "datasets",
    "exceptions",
    "kernels",
    "layers",
    "lesson",
    "losses",
    "metrics",
    "models",
    "numpy_ops",
    "optimizers",
    "plotting",
    "report",
    "schedules",
    "utils",
]  # not ``testing``: it needs Hypothesis (the test extra), and ``from refimpl import *``
#    must work with NumPy alone; ``refimpl.testing`` is still imported on first use.

#: Every public submodule; all but ``exceptions``, ``numpy_ops`` and ``schedules``
#: (which the schedules need) are imported on first use by :func:`__getattr__`.
_SUBMODULES = (frozenset(__all__) - {"ScheduleWarning", "Sequential", "__version__"}) | {"testing"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"refimpl.{name}")
    if name == "Sequential":
        return importlib.import_module("refimpl.models").Sequential
    raise AttributeError(f"module 'refimpl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
