"""Comparing a schedule's values with the reference's: ulp distance, bounds, tolerances.

The pure-NumPy half of :mod:`refimpl.testing` (which adds Hypothesis strategies on
top): :func:`ulp_distance` counts the representable values between two numbers,
:func:`within_bounds` is the one rule every comparison in the project applies (``ulps``
of the reference, plus an absolute forward-error bound where a formula cancels) -- both
from :mod:`refimpl.ulps` -- and :func:`tolerance` gives refimpl's documented bound
against TensorFlow for a schedule named by its class and config (each class derives its
own: :meth:`~refimpl.schedules.LearningRateSchedule.rounding_bound`).

Imports NumPy and the schedules only, so the command line (``lr-refimpl table``) and a
plain install use it without the ``test`` extra.  :mod:`refimpl.testing` re-exports
every name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from refimpl.ulps import half_epsilon, ulp_distance, within_bounds

__all__ = ["tolerance", "ulp_distance", "within_bounds"]


def tolerance(name: str, config: dict[str, Any], dtype: Any) -> tuple[int, Callable[[Any], Any]]:
    """refimpl's documented accuracy against TensorFlow's eager scalar call: the
    ``rounding_bound`` of the schedule class ``name`` built from ``config``.

    ``dtype`` is the compute dtype: anything ``np.dtype`` accepts (``"float32"``,
    ``np.float64``, ``np.dtype("float32")``) or a TensorFlow ``DType``.

    Returns ``(ulps, atol)`` for :func:`assert_schedules_match`: a value is within
    bounds when it is at most ``ulps`` ulp from TensorFlow's, or within ``atol(steps)``
    plus ``ulps`` ulp of it.  ``ulps`` is 0 for the formulas without transcendental
    functions, else 2 (the rounding of the result); ``atol`` is the propagated error of
    a transcendental intermediate (0 where there is none).

    Derivation (``u`` is half the dtype's epsilon, ``2**-24`` in float32): a platform's
    ``cos``/``exp``/``pow``/``log`` within one ulp of refimpl's (glibc's algorithms;
    on x86-64 Linux TensorFlow calls glibc itself: 0 ulp measured), and one ulp of a value ``v`` is at most ``2u * |v|``.  Both then run the
    same operations on values that differ: a product by a common factor scales the
    difference, and rounding two values within ``d`` of each other, both at most ``M``
    in size, leaves them within ``d + 2u * M`` (one ulp of ``M`` more).  So for the
    cosine schedules, from ``|cos' - cos| <= u``: ``1 + cos`` is within ``5u`` (it
    rounds on ``[0, 2]``), ``0.5 * (1 + cos)`` within ``2.5u``, and each later
    product and sum adds its own rounding, up to the factor the result is multiplied
    by last (the learning rate), whose own rounding is the ``ulps``.  Composite
    schedules take the loosest of their children.

    >>> import numpy as np
    >>> config = {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}
    >>> ulps, atol = tolerance("InverseTimeDecay", config, "float32")
    >>> ulps, float(atol(np.array([10]))[0])
    (0, 0.0)
    >>> config = {"initial_learning_rate": 1.0, "decay_steps": 100}
    >>> ulps, atol = tolerance("CosineDecay", config, np.float32)
    >>> ulps, float(atol(np.array([10]))[0] / 2**-24)  # 2.5u + 2u (product) + 2u (sum)
    (2, 6.5)
    """
    from refimpl.exceptions import ScheduleWarning
    from refimpl.schedules import deserialize

    half_epsilon(dtype)  # a bad dtype is a TypeError/ValueError naming it, first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # odd configs still have a bound
        schedule = deserialize({"class_name": name, "config": config})
    return schedule.rounding_bound(dtype)
