"""The rate as Optax reports it: ``optax.inject_hyperparams``'s state.

A common way to log the learning rate in JAX is to wrap the optimizer in
``optax.inject_hyperparams`` and read ``state.hyperparams["learning_rate"]``.  What that
holds is not "the rate at step n" (measured, optax 0.2.8):

1. **One update late.**  ``init`` stores the rate at count 0; each ``update`` computes
   the rate at the current count (which it then increments) and stores it.  After ``n``
   updates the state holds the rate of update ``n - 1`` (0-based), the rate the last
   update *used* -- not the one the next update will use.
2. **Cast to the parameters' dtype -- sometimes.**  ``_convert_floats`` converts a
   *weakly typed* value (a Python number; the result of a schedule where a Python
   float met the integer count: ``cosine_decay_schedule``, ``constant_schedule``,
   ``piecewise_constant_schedule``) to the parameters' highest dtype (or
   ``hyperparam_dtype``), and leaves a *strongly typed* one alone
   (``linear_schedule``, ``polynomial_schedule``, ``exponential_decay``: the count
   divided by an int is a strong float32).  With bfloat16 parameters a cosine decay
   from 0.1 reports ``0.10009765625``; a linear schedule from 0.1 reports float32
   ``0.10000000149011612``.
3. **Eager at init.**  ``opt.init(params)`` is usually not jitted: the count-0 value is
   computed op by op; the updates run under ``jax.jit``.

:func:`reported_rates` computes these values; :func:`reported_dtype` the dtype the state
holds.

>>> from refimpl.optax import cosine_decay_schedule, linear_schedule
>>> reported_rates(cosine_decay_schedule(0.1, 3), [0, 1, 2], dtype="bfloat16").tolist()
[0.10009765625, 0.10009765625, 0.0751953125]
>>> reported_dtype(linear_schedule(0.1, 0.0, 3), "bfloat16")
'float32'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl.optax import _modes
from refimpl.optax._base import Schedule, check_real
from refimpl.optax._types import JaxTypes
from refimpl.optax.polynomial import ConstantSchedule

__all__ = ["reported_dtype", "reported_rates", "to_bfloat16"]

#: The parameter dtypes :func:`reported_rates` converts to.
DTYPES = ("bfloat16", "float16", "float32", "float64")


def _check_dtype(dtype: Any, x64: bool) -> str:
    name = str(np.dtype(dtype)) if dtype != "bfloat16" else "bfloat16"
    if name not in DTYPES:
        raise ValueError(
            f"Argument `dtype` must be one of {', '.join(DTYPES)}. Received: dtype={dtype!r}"
        )
    if name == "float64" and not x64:
        raise ValueError(
            "Argument `dtype` can be float64 only with x64=True (JAX holds float32 "
            "otherwise). Received: dtype='float64', x64=False"
        )
    return name


def _as_schedule(schedule: Any) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        return ConstantSchedule(check_real("learning_rate", schedule))
    raise TypeError(
        "Argument `schedule` must be a refimpl.optax schedule or a Python number (a "
        f"fixed learning rate). Received: schedule={schedule!r}"
    )


def reported_dtype(schedule: Any, dtype: Any = "float32", *, x64: bool = False) -> str:
    """The dtype ``state.hyperparams["learning_rate"]`` has with parameters of ``dtype``
    (their highest dtype, or ``hyperparam_dtype``): ``dtype`` if the schedule's result
    is weakly typed (or a Python number), else the schedule's own dtype."""
    name = _check_dtype(dtype, x64)
    result = _as_schedule(schedule).result_type(JaxTypes(x64=x64))
    return name if result.weak else str(result.dtype)


def reported_rates(
    schedule: Any,
    updates: npt.ArrayLike,
    *,
    dtype: Any = "float32",
    mode: str = "jit",
    init_mode: str = "eager",
    x64: bool = False,
) -> np.ndarray:
    """``state.hyperparams["learning_rate"]`` of ``optax.inject_hyperparams`` after each
    number of updates in ``updates`` (0: right after ``init``), as float64 (every value
    a bfloat16, float16 or float32 holds is exact in float64).

    ``dtype``: the parameters' highest dtype (or ``hyperparam_dtype``); ``mode``: how
    the updates run (``"jit"``: a jitted update step); ``init_mode``: how ``init`` ran
    (``"eager"`` unless you jit it).  See the module docstring for the rules.
    """
    name = _check_dtype(dtype, x64)
    sched = _as_schedule(schedule)
    n = np.asarray(updates)
    if n.dtype.kind not in "iu" or (n.size and n.min() < 0):
        raise ValueError(
            f"Argument `updates` must hold counts of updates >= 0. Received: updates={updates!r}"
        )
    _modes.check_mode(mode)
    _modes.check_mode(init_mode)
    counts = np.maximum(n.astype(np.int64) - 1, 0)
    later = sched(counts, mode=mode, x64=x64)
    first = sched(np.zeros_like(counts), mode=init_mode, x64=x64)
    values = np.where(n == 0, first, later)
    weak = sched.result_type(JaxTypes(x64=x64)).weak
    if not weak:
        return values.astype(np.float64)
    return _convert(np.asarray(values, np.float64), name)


def _convert(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` (float64, each a float32 or float64 result) converted to ``name``
    with one rounding to nearest even (XLA's ``convert``), as float64."""
    if name == "bfloat16":
        return to_bfloat16(values).astype(np.float64)
    return values.astype(name).astype(np.float64)


def to_bfloat16(values: npt.ArrayLike) -> np.ndarray:
    """``values`` rounded to bfloat16 (8 significant bits, float32's exponent range),
    to nearest, ties to even, in one rounding from their own precision; as float32
    (which holds every bfloat16 exactly).  NaN stays NaN, overflow gives inf, and a
    subnormal result is flushed to (signed) zero, as XLA:CPU's conversion does
    (measured: ``2.0**-133`` converts to 0).

    >>> to_bfloat16([0.1, 1.0 + 2**-8, 1.0 + 3 * 2**-9]).tolist()
    [0.10009765625, 1.0, 1.0078125]
    """
    x = np.asarray(values, np.float64)
    out = np.array(x, copy=True)
    finite = np.isfinite(x) & (x != 0)
    mantissa, exponent = np.frexp(x[finite])  # x = m * 2**e, 0.5 <= |m| < 1
    with np.errstate(over="ignore"):
        out[finite] = np.ldexp(np.round(np.ldexp(mantissa, 8)), exponent - 8)  # ties to even
    big = np.isfinite(x) & (np.abs(out) >= 2.0**128 * (1 - 2.0**-9))
    out[big] = np.copysign(np.inf, x[big])
    tiny = np.abs(out) < 2.0**-126  # bfloat16 subnormals: flushed, as XLA:CPU does
    out[tiny] = np.copysign(0.0, x[tiny])
    return out.astype(np.float32)
