"""Counting ulps: the distance between two floats in representable values, the one
bounds rule every comparison in the project applies, and the rounding arithmetic the
schedules' documented bounds are derived with.  NumPy only, no refimpl import: the
lowest layer (:mod:`refimpl.comparison` re-exports it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "HALF_EPS_FLOAT32",
    "constant",
    "half_epsilon",
    "rounded",
    "ulp_distance",
    "within_bounds",
]

#: Half of float32's machine epsilon: the relative rounding error of one float32 operation.
HALF_EPS_FLOAT32 = 2.0**-24


def half_epsilon(dtype: Any) -> float:
    """Half the machine epsilon of a floating ``dtype`` (anything ``np.dtype`` takes, or
    a TensorFlow ``DType``): ``2**-24`` for float32.

    >>> half_epsilon("float32") == 2.0**-24
    True
    """
    if dtype is None:
        raise TypeError("tolerance: dtype must be a floating dtype, not None")
    try:
        resolved = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
    except TypeError:
        raise TypeError(
            f"tolerance: dtype must be a NumPy dtype-like (e.g. 'float32', np.float32). "
            f"Received: dtype={dtype!r}"
        ) from None
    if resolved.kind != "f":
        raise ValueError(
            f"tolerance: dtype must be a floating dtype (float16, float32, float64). "
            f"Received: dtype={dtype!r}"
        )
    return float(np.finfo(resolved).eps) / 2


def rounded(d: Any, size: Any, u: float) -> Any:
    """Two values within ``d`` of each other, both at most ``size``, after each is
    rounded (relative error ``u``): within ``d + 2u * size``."""
    return d + 2 * u * size


def constant(value: float) -> Callable[[Any], Any]:
    """A bound that is the same at every step."""
    return lambda s: np.full(np.shape(s), value)


def ulp_distance(a: Any, b: Any, dtype: Any = None) -> np.ndarray:
    """How many representable values of ``dtype`` lie between ``a`` and ``b`` (0: equal).

    NaN against NaN is 0; NaN against a number is the largest int64.

    >>> int(ulp_distance(np.float32(1.0), np.nextafter(np.float32(1.0), np.float32(2))))
    1
    >>> int(ulp_distance(0.0, -0.0, "float32"))
    0
    """
    dt = np.dtype(dtype) if dtype is not None else np.result_type(np.asarray(a), np.asarray(b))
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    ints = {2: np.int16, 4: np.int32, 8: np.int64}[dt.itemsize]
    x = np.asarray(a, dtype=dt)
    y = np.asarray(b, dtype=dt)

    def ordered(v: np.ndarray) -> np.ndarray:
        i = v.view(ints).astype(np.int64)
        return np.where(i < 0, np.iinfo(ints).min - i, i)

    with np.errstate(over="ignore"):
        dist = np.abs(ordered(x) - ordered(y))
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    dist = np.where(nan_x & nan_y, 0, dist)
    return np.where(nan_x ^ nan_y, np.iinfo(np.int64).max, dist)


def within_bounds(got: Any, want: Any, *, ulps: int = 0, atol: Any = 0.0) -> np.ndarray:
    """Where ``got`` is within bounds of the reference ``want``: at most ``ulps`` ulp
    (of ``want``'s dtype) apart, or -- where ``atol > 0`` -- within ``atol`` plus
    ``ulps`` ulp of ``want`` (the rule of :func:`assert_schedules_match` and of
    ``lr-refimpl parity``; ``atol`` broadcasts against the values).

    >>> one = np.float32(1.0)
    >>> within_bounds(np.nextafter(one, np.float32(2)), one, ulps=1).tolist()
    True
    >>> within_bounds(one + np.float32(1e-6), one, ulps=2, atol=1e-6).tolist()
    True
    """
    want = np.asarray(want)
    got = np.asarray(got)
    dtype = want.dtype if want.dtype.kind == "f" else np.dtype(np.float64)
    dist = ulp_distance(got.astype(dtype), want, dtype)
    extra = np.broadcast_to(np.asarray(atol, np.float64), want.shape)
    with np.errstate(invalid="ignore"):
        rounding = ulps * np.spacing(np.abs(want.astype(dtype))).astype(np.float64)
        close = np.abs(got.astype(np.float64) - want.astype(np.float64)) <= np.where(
            extra > 0, extra + rounding, 0.0
        )
    return np.asarray((dist <= ulps) | close)
