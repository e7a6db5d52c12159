"""lr-refimpl: Keras learning-rate schedules, exact, in NumPy.

``import refimpl`` imports NumPy only.  The schedules live in :mod:`refimpl.schedules`
(also importable as :mod:`refimpl.optimizers.schedules`, as in Keras); the Keras-like
trainer (``Sequential``, ``layers``, ``optimizers``, ``callbacks``, ``datasets``,
``utils``) is imported lazily on first use, so ``import refimpl as keras`` runs the
lesson's code unchanged.
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
    "datasets",
    "layers",
    "optimizers",
    "schedules",
    "testing",
    "utils",
]

_LAZY_MODULES = frozenset(
    {"callbacks", "datasets", "layers", "losses", "models", "optimizers", "testing", "utils"}
)


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"refimpl.{name}")
    if name == "Sequential":
        return importlib.import_module("refimpl.models").Sequential
    raise AttributeError(f"module 'refimpl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
