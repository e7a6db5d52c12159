"""The array namespace the schedule formulas run on: a NumPy twin of ``keras.ops``.

Every formula in :mod:`refimpl.schedules` is written once, as a function of the step
over an array namespace ``xp``.  Inside Keras, ``xp`` is ``keras.ops``; everywhere else
it is this module, which implements the small subset of ``keras.ops`` the formulas use,
with the same names, signatures and TensorFlow-backend dtype rules:

- :func:`convert_to_tensor` gives a Python ``float`` the dtype **float32** and a Python
  ``int`` **int32** (TensorFlow's rule, whatever ``floatx()`` says); NumPy scalars and
  arrays keep their dtype.
- Arithmetic between an array and a Python number keeps the array's dtype (NumPy 2's
  "weak scalar" rule, the same as TensorFlow's).
- Unary float functions of an integer array return float32, as ``keras.ops`` does.

The float functions (``cos``, ``log``, ``exp``, ``power``) are the ones TensorFlow's CPU
kernels run on a scalar -- what Keras computes when a schedule is called on one step:
glibc's ``cosf``/``logf``/``expf``/``powf`` in float32, reproduced bit for bit by
:mod:`refimpl.kernels.glibc`, with subnormal results flushed to zero as TensorFlow's
threads do.  (Not correctly rounded: ``logf`` is within 0.82 ulp, and a
``floor(log(.) / log(.))`` decision can depend on that last bit -- measured:
``CosineDecayRestarts(1.0, 177, t_mul=1.279183747360298)`` at step 2,141,614.)
In float64: glibc's ``cos``/``log``/``exp``/``pow``, bit for bit too
(:mod:`refimpl.kernels.glibc64`; NumPy's own float64 ``log``, ``exp`` and ``power``
differ from them in the last bit on this machine).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl.kernels import glibc, glibc64

__all__ = [
    "add",
    "array",
    "bitwise_xor",
    "cast",
    "ceil",
    "cond",
    "convert_to_tensor",
    "cos",
    "divide",
    "equal",
    "exp",
    "floor",
    "flush_subnormals",
    "log",
    "logical_and",
    "maximum",
    "minimum",
    "multiply",
    "negative",
    "numpy_dtype",
    "power",
    "right_shift",
    "sqrt",
    "subtract",
    "where",
]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_FLOAT_SCALARS = (np.float16, np.float32, np.float64)
_FLOAT32_SCALARS = (np.float16, np.float32)  # computed in float64 and rounded

ArrayLike = npt.ArrayLike
Array = Any  # np.ndarray or NumPy scalar; kept loose so formulas type-check for both backends


def convert_to_tensor(x: ArrayLike, dtype: npt.DTypeLike | None = None) -> Array:
    """``np.asarray`` with TensorFlow's dtypes for Python scalars (float32, int32).

    A scalar (Python or NumPy) gives a NumPy scalar, not a 0-d array: arithmetic on
    NumPy scalars is ~5x cheaper and rounds the same (``np.float32`` ops are float32
    ops), which is what keeps a scalar-step call cheap.
    """
    if dtype is not None:
        if type(x) in (float, int) or isinstance(x, np.generic):
            dt = np.dtype(dtype)
            if dt.kind == "f":
                scalar_type: Any = dt.type
                return scalar_type(x)
            return np.asarray(x, dtype=dtype)[()]
        return np.asarray(x, dtype=dtype)
    if type(x) is float:
        return _ONE[np.float32] * x  # np.float32(x), cheaper
    if isinstance(x, (np.generic, np.ndarray)):
        return x
    if isinstance(x, bool):
        return np.bool_(x)
    if isinstance(x, int):
        small = _INT32_MIN <= x <= _INT32_MAX
        return np.int32(x) if small else np.int64(x)
    if isinstance(x, float):
        return np.float32(x)
    return np.asarray(x)


def numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a NumPy, TensorFlow or Keras dtype (for branching on hyperparameters)."""
    return np.dtype(getattr(dtype, "as_numpy_dtype", dtype))


def cast(x: ArrayLike, dtype: npt.DTypeLike) -> Array:
    """Convert ``x`` to ``dtype`` (round to nearest even, truncate float to int).

    As in TensorFlow, a Python scalar is first converted with
    :func:`convert_to_tensor` (so a Python float goes through float32): Keras's
    ``ops.cast(0.1, "float64")`` is ``0.10000000149011612``.

    >>> float(cast(0.1, "float64"))
    0.10000000149011612

    TensorFlow's CPU kernels also treat subnormal inputs and outputs as zero, so a
    subnormal hyperparameter casts to 0 (measured: ``ops.cast(1.4e-45, "float64")``).

    A scalar gives a NumPy scalar; a Python scalar's result is cached (hyperparameters
    are cast on every call).
    """
    if type(x) is int and -_EXACT_DOUBLE_INT <= x <= _EXACT_DOUBLE_INT:  # a step
        one = _float_one(dtype)
        if one is not None:  # float(x) is exact: one rounding, as via int32/int64
            return one * float(x)
    elif type(x) in _FLOAT_SCALARS and type(_float_one(dtype)) is type(x):  # already in dtype
        return flush_subnormals(x)
    if type(x) in (int, float):
        key = (type(x), x, dtype)
        try:
            hit = _SCALAR_CASTS.get(key)
        except TypeError:  # an unhashable dtype object: no caching
            return _cast(x, dtype)
        if hit is not None:
            return hit
        out = _cast(x, dtype)
        if x == x and x != 0 and len(_SCALAR_CASTS) < 4096:
            _SCALAR_CASTS[key] = out  # a NumPy scalar: immutable, safe to share
        return out
    return _cast(x, dtype)


_SCALAR_CASTS: dict[tuple[Any, ...], Any] = {}


def _float_one(dtype: Any) -> Any:
    """1 as a NumPy scalar of ``dtype`` if that is float32 or float64 given as a NumPy
    dtype (what the formulas pass), else None."""
    try:
        return _ONE_OF_DTYPE.get(dtype)
    except TypeError:  # an unhashable dtype object
        return None


def _cast(x: ArrayLike, dtype: npt.DTypeLike) -> Array:
    a = convert_to_tensor(x)
    if isinstance(a, np.generic):
        dt: Any = np.dtype(dtype)
        if a.dtype.kind == "f":
            a = flush_subnormals(a)
        if dt.kind == "f" and a.dtype.kind in "biuf":  # no astype: ~10x cheaper on scalars
            return flush_subnormals(dt.type(a))
        if dt.kind == a.dtype.kind == "i" and dt.itemsize >= a.dtype.itemsize:
            return dt.type(a)  # widening an integer: exact
        return np.asarray(a).astype(dt)[()]
    if a.dtype.kind in "biu":  # integers and booleans are never subnormal
        return a.astype(dtype, copy=False)
    return flush_subnormals(flush_subnormals(a).astype(dtype, copy=False))


def _cast_exact(x: ArrayLike, dtype: npt.DTypeLike) -> np.ndarray:
    return np.asarray(x).astype(dtype, copy=False)


def array(x: ArrayLike, dtype: npt.DTypeLike | None = None) -> np.ndarray:
    return convert_to_tensor(x, dtype)


def _float_input(x: ArrayLike) -> Any:
    """``x`` as a float array or NumPy float scalar (integers become float32)."""
    if isinstance(x, np.floating):
        return x
    a = np.asarray(x)
    if a.dtype.kind in "biu":
        return a.astype(np.float32)
    return a


_SMALLEST_NORMAL = {n: float(np.finfo(f"float{8 * n}").smallest_normal) for n in (2, 4, 8)}
_SMALLEST_NORMAL_OF_SCALAR = {t: _SMALLEST_NORMAL[np.dtype(t).itemsize] for t in _FLOAT_SCALARS}

#: ``_ONE[t] * v`` is the Python float ``v`` rounded once to the NumPy scalar type ``t``
#: (NumPy 2 converts a Python float to the other operand's type, then multiplies by 1
#: exactly): the same value as ``t(v)``, at a quarter of the cost.
_ONE: dict[Any, Any] = {t: t(1) for t in _FLOAT_SCALARS}
#: ... and likewise for these dtypes (a Python int up to 2**53 is exact as a float).
_ONE_OF_DTYPE: dict[Any, Any] = {np.dtype(t): t(1) for t in (np.float32, np.float64)}
_EXACT_DOUBLE_INT = 2**53


def flush_subnormals(x: Any) -> Any:
    """Replace subnormal floats by (signed) zero, as TensorFlow's CPU kernels do.

    TensorFlow runs its CPU ops in flush-to-zero mode: a float32 result below
    ``1.18e-38`` in magnitude comes out as 0 (measured: ``NaturalExpDecay(1.0, 6, 2.0)``
    at step 263 is 0.0 in TensorFlow, 8.4e-39 in IEEE arithmetic).

    >>> flush_subnormals(np.float32(1e-39)), flush_subnormals(np.float32(1e-30))
    (np.float32(0.0), np.float32(1e-30))
    """
    tiny_scalar = _SMALLEST_NORMAL_OF_SCALAR.get(type(x))
    if tiny_scalar is not None:  # one value (the scalar-step path): no array machinery
        return x * 0 if abs(float(x)) < tiny_scalar else x
    if isinstance(x, np.floating):
        return x * 0 if abs(float(x)) < _SMALLEST_NORMAL[x.itemsize] else x
    a = np.asarray(x)
    if a.dtype.kind != "f":
        return x
    tiny = _SMALLEST_NORMAL[a.dtype.itemsize]
    if a.ndim == 0:
        return a * 0 if abs(float(a)) < tiny else x
    if a.size == 0 or a.min() >= tiny:  # one reduction decides the common case (NaN: no)
        return x
    flush = np.abs(a) < tiny
    flush &= a != 0  # zeros need no flushing (rates that decay to 0)
    if not flush.any():
        return x
    out = a.copy()
    np.multiply(out, 0, out=out, where=flush)  # keeps the sign, like TensorFlow
    return out[()]


def _tf_cpu_kernel(float32_kernel: Callable[..., Any], float64_kernel: Callable[..., Any]) -> Any:
    """A float function as TensorFlow's CPU kernel computes it on a scalar: float32 (and
    float16, computed in float32 as Eigen does) by glibc's float function, float64 by the
    double one; inputs and results flushed to zero where subnormal (TensorFlow's threads
    run with FTZ/DAZ).  Integers become float32 first, as in ``keras.ops``."""

    def kernel(*args: ArrayLike) -> Array:
        inputs = [_float_input(a) for a in args]
        dtype = np.result_type(*inputs)
        if dtype == np.float64:
            wide = [np.asarray(a, np.float64) for a in inputs]
            return flush_subnormals(float64_kernel(*wide)[()])
        narrow = [np.asarray(a, np.float32) for a in inputs]
        out = flush_subnormals(float32_kernel(*narrow))
        return out if dtype == np.float32 else flush_subnormals(np.asarray(out).astype(dtype)[()])

    return kernel


def _broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """``np.broadcast_shapes(a, b)``, without its cost (~1.5 us) when one is the other
    or a scalar's (the formulas' usual case)."""
    if a == b or not b:
        return a
    if not a:
        return b
    return np.broadcast_shapes(a, b)


_cos = _tf_cpu_kernel(glibc.cosf, glibc64.cos)
_log = _tf_cpu_kernel(glibc.logf, glibc64.log)
_exp = _tf_cpu_kernel(glibc.expf, glibc64.exp)
_pow = _tf_cpu_kernel(glibc.powf, glibc64.pow)


def cos(x: ArrayLike) -> Array:
    """Cosine, as TensorFlow's CPU kernel computes it on a scalar: glibc's ``cosf`` in
    float32 (bit for bit: :func:`refimpl.kernels.glibc.cosf`), ``cos`` in float64.

    >>> cos(np.float32([0.0, 1.0, np.pi]))
    array([ 1.       ,  0.5403023, -1.       ], dtype=float32)
    """
    return _cos(x)


def log(x: ArrayLike) -> Array:
    """Natural logarithm: glibc's ``logf`` in float32, ``log`` in float64 (bit for bit)."""
    return _log(x)


def exp(x: ArrayLike) -> Array:
    """Exponential: glibc's ``expf`` in float32, ``exp`` in float64 (bit for bit)."""
    return _exp(x)


def sqrt(x: ArrayLike) -> Array:
    """Square root, correctly rounded (IEEE), in the input's float dtype."""
    return flush_subnormals(np.sqrt(_float_input(x)))


def power(x1: ArrayLike, x2: ArrayLike) -> Array:
    """``x1 ** x2`` as TensorFlow's ``Pow`` kernel computes it on scalars: glibc's
    ``powf`` in float32 (Eigen's scalar path calls ``std::pow``), C's ``pow`` in float64;
    subnormal results flushed.  Integer operands follow Keras's promotion.

    >>> power(np.float32(0.98), np.float32(9.0))
    np.float32(0.8337479)
    """
    a1 = x1 if isinstance(x1, (int, float, np.generic)) else np.asarray(x1)
    a2 = x2 if isinstance(x2, (int, float, np.generic)) else np.asarray(x2)
    if type(a2) is int and not -(2**63) <= a2 < 2**63:  # beyond int64: a float exponent
        a2 = float(a2)
    a1, a2 = _keras_promote(a1, a2)
    if np.result_type(a1, a2).kind != "f":
        return np.power(a1, a2)
    a1, a2 = convert_to_tensor(a1), convert_to_tensor(a2)
    return _pow(*_keras_promote(a1, a2))


def floor(x: ArrayLike) -> Array:
    return np.floor(_float_input(x))  # a NumPy scalar stays one


def ceil(x: ArrayLike) -> Array:
    return np.ceil(_float_input(x))


def _keras_promote(x1: Any, x2: Any) -> tuple[Any, Any]:
    """Keras's (JAX-style) promotion where it differs from NumPy's: an integer array
    meeting a float array takes the float's dtype (NumPy would widen int32 + float32
    to float64), and meeting a Python float it becomes float32 (NumPy: float64).  Only
    the integer-``initial_learning_rate`` path of the schedules ever meets this."""
    d1, d2 = getattr(x1, "dtype", None), getattr(x2, "dtype", None)
    if d1 is None or d2 is None:
        if d1 is not None and d1.kind in "iu" and type(x2) is float:
            return np.asarray(x1).astype(np.float32)[()], x2
        if d2 is not None and d2.kind in "iu" and type(x1) is float:
            return x1, np.asarray(x2).astype(np.float32)[()]
        return x1, x2
    if (d1.kind in "iu") == (d2.kind in "iu"):
        return x1, x2
    if d1.kind in "iu" and d2.kind == "f":
        return x1.astype(d2), x2
    if d2.kind in "iu" and d1.kind == "f":
        return x1, x2.astype(d1)
    return x1, x2


def minimum(x1: ArrayLike, x2: ArrayLike) -> Array:
    return np.minimum(*_keras_promote(x1, x2))


def maximum(x1: ArrayLike, x2: ArrayLike) -> Array:
    return np.maximum(*_keras_promote(x1, x2))


def cond(pred: ArrayLike, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Array:
    """``keras.ops.cond``: one branch for a scalar ``pred``; for an array of predicates
    (a vector of steps) both branches, selected elementwise.

    >>> float(cond(np.asarray(True), lambda: 1.0, lambda: 2.0))
    1.0
    >>> cond(np.array([True, False]), lambda: np.float32(1), lambda: np.float32(2))
    array([1., 2.], dtype=float32)
    """
    p = np.asarray(pred)
    if p.ndim == 0:
        return true_fn() if bool(p) else false_fn()
    return where(p, true_fn(), false_fn())


def where(condition: ArrayLike, x1: ArrayLike, x2: ArrayLike) -> Array:
    """``np.where`` with Keras's promotion.  A scalar ``x1`` over an array condition is
    a masked copy (``np.copyto(..., where=condition)``): the same values, ~5x faster
    than ``np.where``'s broadcasting loop.

    >>> where(np.arange(4) < 2, np.float32(1), np.zeros(4, np.float32))
    array([1., 1., 0., 0.], dtype=float32)
    """
    if type(condition) is np.bool_ and type(x1) is type(x2) and type(x1) in _FLOAT_SCALARS:
        return x1 if condition else x2  # one step, one dtype: pick
    if (
        type(condition) is np.bool_
        and isinstance(x1, (int, float, np.generic))
        and isinstance(x2, (int, float, np.generic))
    ):  # one step: pick, in the promoted dtype
        dt = np.result_type(*_keras_promote(x1, x2))
        return dt.type(x1 if condition else x2)
    x1, x2 = _keras_promote(x1, x2)
    cond = np.asarray(condition)
    if cond.ndim and cond.dtype == np.bool_ and np.ndim(x1) == 0:
        shape = _broadcast_shape(cond.shape, np.shape(x2))
        if shape == cond.shape:
            out = np.empty(shape, np.result_type(x1, x2))
            np.copyto(out, x2, casting="unsafe")
            np.copyto(out, x1, casting="unsafe", where=cond)
            return out
    return np.where(cond, x1, x2)


def equal(x1: ArrayLike, x2: ArrayLike) -> Array:
    return np.equal(x1, x2)


def logical_and(x1: ArrayLike, x2: ArrayLike) -> Array:
    return np.logical_and(x1, x2)


def negative(x: ArrayLike) -> Array:
    return np.negative(x)


def bitwise_xor(x1: ArrayLike, x2: ArrayLike) -> Array:
    return np.bitwise_xor(x1, x2)


def right_shift(x: ArrayLike, y: int) -> Array:
    a = np.asarray(x)
    return np.right_shift(a, np.asarray(y, dtype=a.dtype))


def add(x1: ArrayLike, x2: ArrayLike) -> Array:
    if type(x1) is type(x2) and type(x1) in _FLOAT_SCALARS:  # two NumPy scalars: operator
        return x1 + x2  # type: ignore[operator]
    return np.add(*_keras_promote(x1, x2))


def subtract(x1: ArrayLike, x2: ArrayLike) -> Array:
    if type(x1) is type(x2) and type(x1) in _FLOAT_SCALARS:
        return x1 - x2  # type: ignore[operator]
    return np.subtract(*_keras_promote(x1, x2))


def multiply(x1: ArrayLike, x2: ArrayLike) -> Array:
    if type(x1) is type(x2) and type(x1) in _FLOAT_SCALARS:
        return x1 * x2  # type: ignore[operator]
    return np.multiply(*_keras_promote(x1, x2))


def divide(x1: ArrayLike, x2: ArrayLike) -> Array:
    """True division; two integer arrays give float32 (Keras's ``floatx``), not float64."""
    if type(x1) is type(x2) and type(x1) in _FLOAT_SCALARS:
        return x1 / x2  # type: ignore[operator]
    d1, d2 = getattr(x1, "dtype", None), getattr(x2, "dtype", None)
    if d1 is not None and d2 is not None and d1.kind in "iu" and d2.kind in "iu":
        return np.divide(np.asarray(x1, np.float32), np.asarray(x2, np.float32))
    return np.divide(*_keras_promote(x1, x2))


#: The same namespace for float64 "true math": ``cast`` converts Python floats directly
#: (no detour through float32).  Used by ``LearningRateSchedule.exact``.
exact_ops = SimpleNamespace(**{name: globals()[name] for name in __all__})
exact_ops.cast = _cast_exact
