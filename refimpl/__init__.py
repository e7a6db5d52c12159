"""lr-refimpl: Keras learning-rate schedules, exact, in NumPy.

``import refimpl`` imports NumPy only.  The schedules live in :mod:`refimpl.schedules`
(also importable as :mod:`refimpl.optimizers.schedules`, as in Keras); every other
public submodule -- the Keras-like trainer (``Sequential``, ``layers``, ``losses``,
``metrics``, ``models``, ``optimizers``, ``callbacks``, ``datasets``, ``utils``; inside it
``engine``, ``im2col``, ``winograd``, ``workspace``, ``weights_file``, ``progbar``), the
schedules' machinery (``namespace``, ``modes``, ``kernels``, ``ulps``), the tooling (``cli``,
``comparison``, ``keras_config``, ``lesson``, ``plotting``, ``report``, ``testing``,
``translate``), PyTorch's schedulers in NumPy (``torch``:
:mod:`refimpl.torch.lr_scheduler`) and Optax's (``optax``: :mod:`refimpl.optax`) -- is
imported lazily on first attribute access, so
``import refimpl as keras`` runs the lesson's code unchanged and ``refimpl.metrics``
works without an explicit ``import refimpl.metrics``.
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
    "comparison",
    "datasets",
    "engine",
    "exceptions",
    "im2col",
    "keras_config",
    "kernels",
    "layers",
    "lesson",
    "losses",
    "metrics",
    "models",
    "modes",
    "namespace",
    "numpy_ops",
    "optimizers",
    "plotting",
    "progbar",
    "report",
    "runs",
    "schedules",
    "translate",
    "ulps",
    "utils",
    "weights_file",
    "winograd",
    "workspace",
]  # not ``testing``: it needs Hypothesis (the test extra), and ``from refimpl import *``
#    must work with NumPy alone; ``refimpl.testing`` is still imported on first use.
#    Not ``torch`` or ``optax`` either (NumPy only, but ``from refimpl import *`` would bind
#    the names over PyTorch and Optax themselves); they are imported on first use too.

#: Every public submodule; all but ``exceptions``, ``numpy_ops``, ``ulps``, ``runs`` and
#: ``schedules`` (which the schedules need) are imported on first use by :func:`__getattr__`.
_SUBMODULES = (frozenset(__all__) - {"ScheduleWarning", "Sequential", "__version__"}) | {
    "optax",
    "testing",
    "torch",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"refimpl.{name}")
    if name == "Sequential":
        return importlib.import_module("refimpl.models").Sequential
    raise AttributeError(f"module 'refimpl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
