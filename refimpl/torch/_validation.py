"""Argument checks shared by the torch schedulers.

Where torch validates an argument, refimpl raises torch's exception type with torch's
message (tests compare them with torch's own).  Where torch accepts a value and then
fails at a later ``step()`` (``StepLR(step_size=0)``: ``ZeroDivisionError`` at the
first step) or accepts junk (a string, ``None``, NaN where a number belongs), refimpl
refuses it up front with an error that names the argument and the value.  Values torch
accepts and computes something surprising from are accepted, reproduced, and warned
about with :class:`~refimpl.ScheduleWarning`.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from refimpl.exceptions import ScheduleWarning

__all__ = ["check_callable", "check_count", "check_real", "is_real", "warn"]


def warn(message: str, stacklevel: int = 4) -> None:
    """A :class:`~refimpl.ScheduleWarning` attributed to the caller of the constructor
    (``stacklevel`` 4: ``warn <- check <- __init__ <- caller``)."""
    warnings.warn(message, ScheduleWarning, stacklevel=stacklevel)


def is_real(value: Any) -> bool:
    """A real number that is not a bool: Python int/float or a NumPy int/float scalar."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, numbers.Real)


def check_real(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """``value`` as a float; ``TypeError`` unless a real number, ``ValueError`` for NaN,
    a warning for an infinite value unless ``allow_inf``.

    >>> check_real("gamma", 0.5)
    0.5
    >>> check_real("gamma", "0.5")
    Traceback (most recent call last):
    TypeError: Argument `gamma` must be a real number. Received: gamma='0.5' (str)
    """
    if not is_real(value):
        raise TypeError(
            f"Argument `{name}` must be a real number. "
            f"Received: {name}={value!r} ({type(value).__name__})"
        )
    as_float = float(value)
    if math.isnan(as_float):
        raise ValueError(f"Argument `{name}` must not be NaN. Received: {name}={value!r}")
    if math.isinf(as_float) and not allow_inf:
        warn(
            f"Argument `{name}` is infinite ({value!r}): torch accepts it, and the rates "
            "it computes are then inf, NaN or 0.",
            stacklevel=4,
        )
    return as_float


def check_count(name: str, value: Any, *, minimum: int, why: str = "") -> int:
    """An integral number of steps, at least ``minimum``; returned as an int.

    A float with an integral value (``30.0``) is accepted, as torch computes with it
    exactly as with ``30``; ``why`` says what torch does below ``minimum``.

    >>> check_count("step_size", 30.0, minimum=1)
    30
    >>> check_count("step_size", 0, minimum=1, why="torch fails at the first step()")
    Traceback (most recent call last):
    ValueError: Argument `step_size` must be an integer >= 1 (torch fails at the first step()). Received: step_size=0
    """
    if not is_real(value):
        raise TypeError(
            f"Argument `{name}` must be an integer. "
            f"Received: {name}={value!r} ({type(value).__name__})"
        )
    as_float = float(value)
    if not math.isfinite(as_float) or as_float != math.floor(as_float):
        raise ValueError(f"Argument `{name}` must be an integer. Received: {name}={value!r}")
    as_int = int(value)
    if as_int < minimum:
        reason = f" ({why})" if why else ""
        raise ValueError(
            f"Argument `{name}` must be an integer >= {minimum}{reason}. Received: {name}={value!r}"
        )
    return as_int


def check_callable(name: str, value: Any) -> None:
    if not callable(value):
        raise TypeError(
            f"Argument `{name}` must be a function of the epoch. "
            f"Received: {name}={value!r} ({type(value).__name__})"
        )
