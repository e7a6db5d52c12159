"""JAX's dtypes for an Optax schedule: which float each operation computes in.

Optax writes its schedules with Python numbers for the hyperparameters and lets JAX's
type promotion pick the dtypes.  Python numbers are *weakly typed*: they take the dtype
of the array they meet.  An integer count meeting a Python float becomes the *default*
float (float32, or float64 with ``jax_enable_x64``), still weakly typed; but an integer
count *divided by* a Python int becomes ``to_inexact(count.dtype)`` -- float32 for an
int32 count, whatever x64 says, and strongly typed (measured, jax 0.10.2)::

    count = jnp.int32(5)               # optax's optimizer count is always int32
    (count / 3).dtype                  # float32, even with x64 enabled
    jnp.minimum(count, 3.0).dtype      # float64 with x64 (float32 without), weak

So with x64 on and Optax's int32 count, ``linear_schedule``, ``polynomial_schedule`` and
``exponential_decay`` compute in float32, ``cosine_decay_schedule`` and
``piecewise_constant_schedule`` in float64, and ``warmup_cosine_decay_schedule``
computes its cosine in float64 and rounds it to float32 where it joins the float32
warmup (``jnp.where`` of a strong float32 and a weak float64 is float32).

:class:`JaxTypes` holds what decides this (x64, the count's dtype); :class:`JaxType` is
one value's (dtype, weak) and :func:`join` is JAX's promotion of two of them.  The
formulas in :mod:`refimpl.optax` cast explicitly to what JAX would give, so that the
array namespace's own (TensorFlow) promotion rules never decide a dtype.

>>> types = JaxTypes(x64=True)
>>> types.default_float, types.quotient
(dtype('float64'), dtype('float32'))
>>> join(JaxType(np.dtype("float32"), weak=False), JaxType(np.dtype("float64"), weak=True))
JaxType(dtype=dtype('float32'), weak=False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["DEFAULT", "EXACT", "JaxType", "JaxTypes", "join"]

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_INT32 = np.dtype(np.int32)
_INT64 = np.dtype(np.int64)


class JaxType(NamedTuple):
    """A value's dtype and whether JAX holds it weakly typed (a Python number, or a
    result of one meeting an integer)."""

    dtype: np.dtype
    weak: bool


@dataclass(frozen=True)
class JaxTypes:
    """What decides the dtypes of an Optax schedule in JAX.

    ``x64``: whether ``jax_enable_x64`` is on.  ``count``: the count's dtype -- int32
    by default, what Optax's optimizers count in (``inject_hyperparams``,
    ``scale_by_schedule``: ``jnp.zeros([], jnp.int32)``, even with x64); int64 is a
    Python int or a default-dtype array under x64.  ``exact``: float64 everywhere and
    a float64 count (``schedule.exact``).
    """

    x64: bool = False
    count: np.dtype = _INT32
    exact: bool = False

    def __post_init__(self) -> None:
        count = np.dtype(self.count)
        object.__setattr__(self, "count", count)
        if self.exact:
            return
        if count not in (_INT32, _INT64):
            raise ValueError(
                f"Argument `count_dtype` must be 'int32' or 'int64'. Received: count_dtype={count}"
            )
        if count == _INT64 and not self.x64:
            raise ValueError(
                "Argument `count_dtype` can be 'int64' only with x64=True (without x64 JAX "
                "converts an int64 count to int32). Received: count_dtype='int64', x64=False"
            )

    @property
    def default_float(self) -> np.dtype:
        """The dtype of a Python float (weakly typed) meeting an integer."""
        return _FLOAT64 if self.x64 or self.exact else _FLOAT32

    @property
    def default_int(self) -> np.dtype:
        """The dtype of a Python int on its own."""
        return _INT64 if self.x64 else _INT32

    @property
    def quotient(self) -> np.dtype:
        """The dtype of ``count / n`` (``jnp.true_divide`` of two integers:
        ``to_inexact_dtype`` of the count's dtype, strongly typed)."""
        if self.exact:
            return _FLOAT64
        return _FLOAT64 if self.count == _INT64 else _FLOAT32

    def python(self, value: Any) -> JaxType:
        """The type of a Python number as JAX holds it (weak, default dtype)."""
        if isinstance(value, float):
            return JaxType(self.default_float, weak=True)
        return JaxType(self.default_int, weak=True)

    def weak_float(self) -> JaxType:
        """An integer meeting a Python float: the default float, weak."""
        return JaxType(self.default_float, weak=True)

    def strong_quotient(self) -> JaxType:
        """``count / n``: :attr:`quotient`, strong."""
        return JaxType(self.quotient, weak=False)


#: The default: x64 off, Optax's int32 count.
DEFAULT = JaxTypes()

#: float64 "true math": what ``schedule.exact`` computes with.
EXACT = JaxTypes(x64=True, count=_FLOAT64, exact=True)


def join(a: JaxType, b: JaxType) -> JaxType:
    """JAX's promotion of two values' types (``jnp.where(c, a, b)``), for the floats and
    weak integers schedules produce: a strong dtype wins over a weak one (a weak
    float64 meeting a strong float32 is float32), two strong or two weak floats give the
    wider, and a weak integer meeting a float takes the float's type.

    >>> f32, f64 = np.dtype("float32"), np.dtype("float64")
    >>> join(JaxType(f32, False), JaxType(f64, False))
    JaxType(dtype=dtype('float64'), weak=False)
    """
    if a.dtype == b.dtype:
        return JaxType(a.dtype, a.weak and b.weak)
    if a.dtype.kind != b.dtype.kind:  # an integer meets a float: the float's type
        floating = a if a.dtype.kind == "f" else b
        other = b if floating is a else a
        if other.weak or floating.weak is False:
            return floating
        return JaxType(floating.dtype, weak=True)
    if a.weak != b.weak:
        return b if a.weak else a
    wide = a if a.dtype.itemsize >= b.dtype.itemsize else b
    return JaxType(wide.dtype, a.weak and b.weak)
