"""``jax.numpy`` operations the Optax formulas use, written over an array namespace.

Each helper emits the operations JAX's lowering emits (the HLO XLA then rewrites), so
that a traced formula is the graph XLA sees:

- :func:`clip` -- ``jnp.clip(x, lo, hi)`` is ``minimum(maximum(x, lo), hi)``.
- :func:`power` -- ``x ** p``: a Python int ``p`` is ``lax.integer_pow``, lowered to
  multiplications by binary exponentiation (``x * x`` for 2, ``(x * x) * x`` for 3,
  ``1 / ...`` for a negative ``p``, a constant 1 for 0); a Python float ``p`` is
  ``lax.pow`` (one ``power`` operation, which XLA may still rewrite).
- :func:`as_type` -- the ``convert`` JAX inserts where two dtypes meet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Lane", "as_type", "clip", "lanes", "power"]


def clip(x: Any, lo: int, hi: int, xp: Any) -> Any:
    """``jnp.clip(x, lo, hi)`` as JAX lowers it: ``minimum(maximum(x, lo), hi)``.

    >>> from refimpl import numpy_ops
    >>> clip(numpy_ops.convert_to_tensor(7), 0, 5, numpy_ops)
    np.int32(5)
    """
    return xp.minimum(xp.maximum(x, lo), hi)


def power(x: Any, p: Any, xp: Any) -> Any:
    """``x ** p`` as JAX lowers it (see the module docstring).

    >>> from refimpl import numpy_ops
    >>> power(numpy_ops.convert_to_tensor(3.0), 5, numpy_ops)   # x * (x**2)**2
    np.float32(243.0)
    """
    if type(p) is float:
        return xp.power(x, p)
    n = int(p)
    if n == 0:  # full_like(x, 1)
        return xp.convert_to_tensor(1, x.dtype)
    if n == 2:
        return xp.multiply(x, x)
    if n in (3, -3):
        cube = xp.multiply(xp.multiply(x, x), x)
        return cube if n > 0 else xp.divide(xp.convert_to_tensor(1, x.dtype), cube)
    if n == -1:
        return xp.divide(xp.convert_to_tensor(1, x.dtype), x)
    k = abs(n)
    acc = None
    base = x
    while k > 0:  # lax._integer_pow: binary exponentiation
        if k & 1:
            acc = base if acc is None else xp.multiply(acc, base)
        k >>= 1
        if k > 0:
            base = xp.multiply(base, base)
    return acc if n > 0 else xp.divide(xp.convert_to_tensor(1, x.dtype), acc)


def as_type(x: Any, dtype: np.dtype, xp: Any) -> Any:
    """``x`` in ``dtype``: a Python number converted directly (JAX's weak type takes
    the dtype it meets), a tensor of another dtype converted (``convert``)."""
    if isinstance(x, (int, float)):
        return xp.convert_to_tensor(x, dtype)
    if np.dtype(getattr(x.dtype, "name", x.dtype)) == dtype:  # a tf.DType has a name
        return x
    return xp.cast(x, dtype)


class Lane(float):
    """One element of a constant *vector* in Optax's vectorised code.

    ``piecewise_interpolate_schedule`` computes every interval at once: its interval
    sizes, values and differences are constant vectors, which XLA treats unlike scalar
    constants (``jnp.pi``, ``1``), broadcast to the vector's shape:
    ``HandleMultiply``'s ``(A * C1) * C2 -> A * fl(C1 * C2)`` matches two constants of
    the *same* form only (two vectors, or two broadcast scalars; measured on jaxlib
    0.10.2's optimized HLO).  refimpl's formulas evaluate one interval at a time; a
    ``Lane`` tells the ``"jit"`` tracer that a constant is such a vector's element.
    XLA turns a vector whose elements are all equal into a broadcast scalar, so
    :func:`lanes` only marks vectors with different elements.

    Elsewhere a ``Lane`` is just its float value.
    """

    __slots__ = ()


def lanes(values: Any) -> list[Any]:
    """``values`` (one per interval) as Python numbers, wrapped in :class:`Lane` unless
    they are all equal (then XLA holds a broadcast scalar).

    >>> lanes([55, 55]), lanes([0.5, 0.25])
    ([55.0, 55.0], [0.5, 0.25])
    >>> type(lanes([0.5, 0.25])[0]).__name__
    'Lane'
    """
    floats = [float(v) for v in values]
    if len(set(floats)) <= 1:
        return floats
    return [Lane(v) for v in floats]
