"""Argument checks shared by the schedule constructors.

Every error names the argument and the value received.  Keras 3 itself only checks
``decay_steps > 0`` (``ValueError``) and the length rule of ``PiecewiseConstantDecay``;
refimpl raises the same exception types there, with Keras's wording, and additionally
rejects strings, ``None`` and NaN where a number belongs (``TypeError`` / ``ValueError``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from refimpl.exceptions import ScheduleWarning

__all__ = [
    "check_bool",
    "check_initial_learning_rate",
    "check_name",
    "check_number",
    "check_positive_steps",
    "warn",
]


def warn(message: str, stacklevel: int = 4) -> None:
    """Emit a :class:`~refimpl.ScheduleWarning` attributed to the user's call site
    (``stacklevel`` counts this function's frame as 1)."""
    warnings.warn(message, ScheduleWarning, stacklevel=stacklevel)


def _is_real_number(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def check_number(
    name: str,
    value: Any,
    *,
    allow_nan: bool = False,
    allow_inf: bool = False,
    stacklevel: int = 4,
) -> float:
    """Check that ``value`` is a real number (Python or NumPy scalar); return it as float.

    NaN is a ``ValueError`` unless ``allow_nan``.  An infinite value is accepted, as
    Keras accepts it, but warns (the formula then computes with inf: inf or NaN
    rates, or a rate that never changes) unless ``allow_inf`` (a boundary at inf is
    one that is never crossed).  ``stacklevel`` is that of :func:`warn` as seen from
    the caller of the constructor (4: ``warn <- check_number <- __init__ <- caller``).

    >>> check_number("decay_rate", 0.5)
    0.5
    >>> check_number("decay_rate", "0.5")
    Traceback (most recent call last):
    TypeError: Argument `decay_rate` must be a real number. Received: decay_rate='0.5' (str)
    """
    if not _is_real_number(value):
        raise TypeError(
            f"Argument `{name}` must be a real number. "
            f"Received: {name}={value!r} ({type(value).__name__})"
        )
    as_float = float(value)
    if math.isnan(as_float) and not allow_nan:
        raise ValueError(f"Argument `{name}` must not be NaN. Received: {name}={value!r}")
    if math.isinf(as_float) and not allow_inf:
        warn(
            f"Argument `{name}` is infinite ({value!r}): Keras accepts it, but the formula "
            "then computes with inf, which gives inf or NaN rates (or a rate that never "
            "changes).",
            stacklevel=stacklevel,
        )
    return as_float


def check_positive_steps(name: str, value: Any) -> float:
    """Keras's one check: ``value > 0``, with Keras's exact message."""
    as_float = check_number(name, value, stacklevel=5)
    if as_float <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")
    return as_float


def check_bool(name: str, value: Any) -> bool:
    """Accept Python and NumPy booleans only (Keras branches on them with Python ``if``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"Argument `{name}` must be a bool. Received: {name}={value!r} ({type(value).__name__})"
        )
    return bool(value)


def check_name(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(
            f"Argument `name` must be a string or None. "
            f"Received: name={value!r} ({type(value).__name__})"
        )
    return value


def check_initial_learning_rate(value: Any, name: str = "initial_learning_rate") -> float:
    """A real number; an integer one gets a warning, since Keras then computes in int32."""
    as_float = check_number(name, value, allow_inf=True)  # warned about below
    if isinstance(value, (numbers.Integral, np.integer)) or (
        isinstance(value, np.ndarray) and value.dtype.kind in "iu"
    ):
        warn(
            f"Argument `{name}` is an integer ({value!r}): Keras then computes the schedule "
            "in int32 and truncates every other hyperparameter (a decay_rate of 0.96 "
            f"becomes 0). Pass {float(value)!r} for a float schedule."
        )
    if math.isinf(as_float):
        warn(f"Argument `{name}` is infinite ({value!r}): every learning rate is inf or NaN.")
    return as_float
