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

Transcendental functions in float32 (``cos``, ``log``, ``exp``, ``power``, ``sqrt``) are
*correctly rounded*: they are computed in float64 and rounded once.  TensorFlow's scalar
CPU kernels are within one ulp of that, and -- measured over 5,054 restart-boundary steps
of ``CosineDecayRestarts`` -- take the same ``floor(log(.)/log(.))`` decisions, where
NumPy's own float32 ``log`` disagrees with TensorFlow 31 times.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

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


#: Elements per block of the float64 kernels below: their float64 temporaries stay in
#: the L2 cache instead of streaming through memory (and the allocator's trimming).
_KERNEL_BLOCK = 2**16


def _in_blocks(kernel: Callable[[np.ndarray], Any], a: np.ndarray, dtype: Any) -> np.ndarray:
    """``kernel(a)`` (elementwise, float64) rounded to ``dtype``, block by block."""
    if a.size <= _KERNEL_BLOCK:
        return np.asarray(kernel(a)).astype(dtype).reshape(a.shape)
    flat = a.reshape(-1)
    out = np.empty(flat.size, dtype)
    for lo in range(0, flat.size, _KERNEL_BLOCK):
        out[lo : lo + _KERNEL_BLOCK] = kernel(flat[lo : lo + _KERNEL_BLOCK])  # rounds once
    return out.reshape(a.shape)


def _correctly_rounded(fn: Any, x: ArrayLike) -> Array:
    a = _float_input(x)
    if isinstance(a, (np.float32, np.float16)):  # the same float64 loop, on one value
        return flush_subnormals(type(a)(fn(np.float64(a))))
    if a.dtype == np.float32 or a.dtype == np.float16:
        return flush_subnormals(_in_blocks(lambda b: fn(b.astype(np.float64)), a, a.dtype))
    return flush_subnormals(fn(a))


#: pi/2 and pi/4 as double-double (hi + lo) for the cosine kernel's argument reduction.
_PIO4_HI = math.pi / 4
_PIO4_LO = 3.061616997868383e-17  # pi/4 - _PIO4_HI, to double precision
#: float32 arguments the tangent kernel of :func:`cos` handles (beyond: NumPy's ``cos``).
_COS_KERNEL_DOMAIN = (-math.pi / 4, 5 * math.pi / 4)
#: Shorter arrays take NumPy's ``cos``: the kernel's ~9 passes cost more than they save.
_COS_KERNEL_MIN_SIZE = 1024


def cos(x: ArrayLike) -> Array:
    """Cosine; float32 results correctly rounded (computed in float64, rounded once).

    NumPy's float64 ``cos`` is not vectorised (about 8 ns per element here), so a
    float32 array of 1,024 elements or more, every one in ``[-pi/4, 5*pi/4]`` (all the
    schedules ask: ``pi * fraction``), takes a float64 tangent kernel instead::

        cos(x) = sin(pi/2 - x) = 2*u / (1 + u*u),   u = tan((pi/2 - x) / 2)

    ``pi/4 - x/2`` is formed in double-double (``x/2`` is exact, the subtraction is
    exact by Sterbenz's lemma where it cancels), ``|u| <= tan(3*pi/8)`` keeps the
    tangent well conditioned, and nothing cancels near the zero of the cosine: the
    float64 value has a relative error of a few float64 ulps, so rounding it to
    float32 gives the correctly rounded result except when the exact value lies
    within ~2**-48 (relative) of a rounding boundary, as with ``cos`` itself.
    Elsewhere (or for float64) NumPy's ``cos``.

    >>> x = np.linspace(0, np.pi, 1025, dtype=np.float32)  # long enough for the kernel
    >>> cos(x)[[0, 256, 512, 1024]]
    array([ 1.0000000e+00,  7.0710677e-01, -4.3711388e-08, -1.0000000e+00], dtype=float32)
    >>> bool(np.array_equal(cos(x), np.cos(x.astype(np.float64)).astype(np.float32)))
    True
    """
    a = _float_input(x)
    if a.dtype == np.float32 and a.size >= _COS_KERNEL_MIN_SIZE:
        lo, hi = _COS_KERNEL_DOMAIN
        if a.min() >= lo and a.max() <= hi:  # NaN fails both tests: NumPy handles it
            return _in_blocks(_cos_tangent_kernel, a, np.float32)
    return _correctly_rounded(np.cos, a)


def _cos_tangent_kernel(a: np.ndarray) -> np.ndarray:
    """float64 ``cos`` of the float32 ``a`` (all in ``_COS_KERNEL_DOMAIN``) via ``tan``."""
    h = np.multiply(a, -0.5, dtype=np.float64)  # -x/2, exact
    h += _PIO4_HI  # pi/4 - x/2: exact where it cancels (Sterbenz)
    h += _PIO4_LO
    u = np.tan(h, out=h)  # NumPy's float64 tan is vectorised
    d = u * u
    d += 1.0
    u += u
    u /= d
    return u


def log(x: ArrayLike) -> Array:
    return _correctly_rounded(np.log, x)


def exp(x: ArrayLike) -> Array:
    return _correctly_rounded(np.exp, x)


def sqrt(x: ArrayLike) -> Array:
    return _correctly_rounded(np.sqrt, x)


def power(x1: ArrayLike, x2: ArrayLike) -> Array:
    """``x1 ** x2`` with C's ``pow`` semantics; float32 results correctly rounded.

    In float32 the value is computed in float64 and rounded once.  NumPy's float64
    ``pow`` is not vectorised, so where one side is a scalar (0-d) the float64 value is
    first ``exp(x2 * log(x1))`` (both vectorised; ~4x faster on 10**6 steps): with a
    finite positive scalar base other than 1 (``decay_rate ** p``) ``log(x1)`` is
    computed once; with a finite scalar exponent other than 0 and 1 (``(1 - p) **
    power``) zero bases are set directly and negative bases go to ``pow``.  Its
    relative error is below ``(2 + |x2 * log(x1)|) * 2**-52`` (under 2,048 float64 ulps
    for every result that is a normal float32), so only values that close to a float32
    rounding boundary can round differently from ``pow``: those -- exact ties such as
    ``b**2`` of a float32 ``b`` among them -- are recomputed with ``pow``.  The result
    is therefore what ``pow`` in float64, rounded once, gives -- correctly rounded --
    whichever ``exp``/``log`` computed the approximation (a scalar uses Python's
    ``math``, an array NumPy's vectorised loops: the same float32 bits).

    >>> power(np.float32(0.604126), np.float32(2))  # a tie: pow rounds it to even
    np.float32(0.36496818)
    """
    s1: Any = x1
    s2: Any = x2
    if type(s1) is type(s2) and type(s1) in _FLOAT32_SCALARS:  # one value: Python floats
        b, e = float(s1), float(s2)
        if b == 1 or e == 0:  # C: pow(1, y) and pow(x, 0) are 1, even for NaN
            return type(s1)(1.0)
        if b == 0 and e == e:  # past a decay's end, (1 - p) ** power: +-0 or +-inf
            r = 0.0 if e > 0 else math.inf
            odd = math.isfinite(e) and e.is_integer() and int(e) % 2 == 1
            return type(s1)(math.copysign(r, b) if odd else r)
        if 0 < b < math.inf and -math.inf < e < math.inf:
            try:
                wide = math.exp(e * math.log(b))
            except OverflowError:
                wide = math.inf
            if _near_rounding_boundary_scalar(wide, type(s1)):
                wide = float(_libm_pow(b, e))
            return flush_subnormals(_ONE[type(s1)] * wide)
        return flush_subnormals(_power_float32(np.asarray(s1), np.asarray(s2), type(s1))[()])
    a1 = x1 if isinstance(x1, (int, float, np.generic)) else np.asarray(x1)
    a2 = x2 if isinstance(x2, (int, float, np.generic)) else np.asarray(x2)
    if type(a2) is int and not -(2**63) <= a2 < 2**63:  # beyond int64: a float exponent
        a2 = float(a2)
    a1, a2 = _keras_promote(a1, a2)
    dtype = np.result_type(a1, a2)
    if dtype == np.float32 or dtype == np.float16:
        return flush_subnormals(_power_float32(np.asarray(a1), np.asarray(a2), dtype)[()])
    if dtype == np.float64:
        return flush_subnormals(_libm_pow(a1, a2)[()])
    return flush_subnormals(np.power(a1, a2))


def _libm_pow(base: Any, exponent: Any) -> np.ndarray:
    """float64 ``pow`` elementwise, C's semantics (1-d operands of the full shape, so
    that NumPy's ``sqrt``/``square`` shortcuts for a scalar or 0-d 0.5 or 2 do not
    apply: ``pow(-0.0, 0.5)`` is +0.0 and ``pow(-inf, 0.5)`` is inf, as in TensorFlow)."""
    b = np.asarray(base, np.float64)
    e = np.asarray(exponent, np.float64)
    shape = np.broadcast_shapes(b.shape, e.shape)
    flat_b = np.broadcast_to(b, shape).reshape(-1)  # 1-d: 0-d operands take the shortcuts
    flat_e = np.array(np.broadcast_to(e, shape)).reshape(-1)
    return np.power(flat_b, flat_e).reshape(shape)


#: An approximation within this many float64 ulps of a float32/float16 rounding
#: boundary is recomputed with ``pow`` (see :func:`power`).
_TIE_ULPS = 2048


@functools.cache
def _rounding_grid(dtype: Any) -> tuple[int, float, float]:
    """For float32/float16 ``dtype``: the float64 mantissa bits below its last one, the
    midpoint between its largest subnormal and its smallest normal, and the distance
    counted as near that midpoint (``_TIE_ULPS`` float64 ulps)."""
    info = np.finfo(dtype)
    tiny = float(info.smallest_normal)
    midpoint = tiny - float(info.smallest_subnormal) / 2
    return 52 - info.nmant, midpoint, _TIE_ULPS * tiny * 2.0**-53


def _near_rounding_boundary(wide: np.ndarray, dtype: Any) -> np.ndarray | None:
    """Where the float64 ``wide`` lies within ``_TIE_ULPS`` float64 ulps of a midpoint
    between two values of ``dtype`` (float32 or float16): where an approximation may
    round the other way; None where no value does (the common case).  With ``drop``
    float64 mantissa bits below ``dtype``'s last one, a normal midpoint has low bits
    ``1 << (drop - 1)``; shifting that to ``_TIE_ULPS`` makes the test one add, one
    mask and one compare (the wrap-around is harmless), and the smallest of the
    shifted low bits tells at once whether any value is near.  The midpoint below the
    smallest normal is off that pattern: tested apart, when a value comes that close
    (``fmin`` of the signed values is at most that of their magnitudes)."""
    drop, midpoint, near_midpoint = _rounding_grid(dtype)
    low = wide.view(np.uint64) + np.uint64((_TIE_ULPS - (1 << (drop - 1))) % 2**64)
    low &= np.uint64((1 << drop) - 1)
    near = None
    if low.size and low.min() <= 2 * _TIE_ULPS:
        near = low <= np.uint64(2 * _TIE_ULPS)
    if wide.size and np.fmin.reduce(wide, axis=None) < 2 * midpoint:
        close = np.abs(np.abs(wide) - midpoint) <= near_midpoint
        near = close if near is None else near | close
    return near


def _near_rounding_boundary_scalar(wide: float, dtype: Any) -> bool:
    """:func:`_near_rounding_boundary` for one Python float."""
    mask, half, midpoint, near_midpoint = _SCALAR_GRID.get(dtype) or _scalar_grid(dtype)
    low = _INT64_BITS.unpack(_FLOAT64_BITS.pack(wide))[0] & mask
    return abs(low - half) <= _TIE_ULPS or abs(abs(wide) - midpoint) <= near_midpoint


_FLOAT64_BITS, _INT64_BITS = struct.Struct("<d"), struct.Struct("<q")
_SCALAR_GRID: dict[Any, tuple[int, int, float, float]] = {}


def _scalar_grid(dtype: Any) -> tuple[int, int, float, float]:
    """:func:`_rounding_grid` as the scalar test uses it: the mask of the dropped
    bits, a midpoint's low bits, the subnormal midpoint and its distance."""
    drop, midpoint, near_midpoint = _rounding_grid(dtype)
    grid = ((1 << drop) - 1, 1 << (drop - 1), midpoint, near_midpoint)
    _SCALAR_GRID[dtype] = grid
    return grid


def _broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """``np.broadcast_shapes(a, b)``, without its cost (~1.5 us) when one is the other
    or a scalar's (the formulas' usual case)."""
    if a == b or not b:
        return a
    if not a:
        return b
    return np.broadcast_shapes(a, b)


def _power_float32(base: np.ndarray, exponent: np.ndarray, dtype: Any) -> np.ndarray:
    """float32 (or float16) ``base ** exponent``, rounded once from float64 ``pow``.

    The same path for a 0-d operand as for an array of them, so that a scalar call
    and a vectorised call give the same bits."""
    shape = _broadcast_shape(base.shape, exponent.shape)
    if (base.ndim == 0 and float(base) == 1) or (exponent.ndim == 0 and float(exponent) == 0):
        return np.ones(shape, dtype)  # C: pow(1, y) and pow(x, 0) are 1, even for NaN
    if base.ndim == 0 and 0 < float(base) < math.inf:
        b = float(base)
        log_base = math.log(b)

        def kernel(e: np.ndarray) -> np.ndarray:
            wide = np.asarray(np.multiply(e, log_base, dtype=np.float64))
            np.exp(wide, out=wide)
            redo = _near_rounding_boundary(wide, dtype)
            if redo is not None and redo.any():
                wide[redo] = _libm_pow(b, e[redo])
            return wide

        return _in_blocks(kernel, exponent, dtype)
    if exponent.ndim == 0 and math.isfinite(float(exponent)) and float(exponent) not in (0, 1):
        e = float(exponent)
        return _in_blocks(lambda b: _power_scalar_exponent(b.reshape(-1), e, dtype), base, dtype)
    return np.asarray(_libm_pow(base, exponent)).astype(dtype)


def _power_scalar_exponent(base: np.ndarray, e: float, dtype: Any) -> np.ndarray:
    """float64 ``base ** e`` for a 1-D float array and a finite scalar ``e`` (not 0, 1),
    exact enough to round to ``dtype`` as ``pow`` does (see :func:`power`).

    Zero bases (every step past a decay's end) are set directly: ``log(0)`` and
    ``exp(-inf)`` take NumPy's slow special-value path (4x slower per element).
    """
    zero = base == 0
    any_zero = bool(zero.any())
    safe = np.where(zero, np.float32(1), base) if any_zero else base
    with np.errstate(divide="ignore", invalid="ignore"):  # negative bases are redone below
        wide = np.log(safe, dtype=np.float64)
    wide *= e
    np.exp(wide, out=wide)
    if any_zero:  # pow(+-0, e): 0 for e > 0, inf for e < 0, signed for odd integer e
        fill = 0.0 if e > 0 else math.inf
        odd = e.is_integer() and int(e) % 2 == 1
        np.copyto(wide, np.copysign(fill, base) if odd else fill, where=zero)
    redo = _near_rounding_boundary(wide, dtype)  # zeros and infinities are not near
    negative = base < 0
    if negative.any():  # pow's sign and integer-exponent rules
        redo = negative if redo is None else redo | negative
    if redo is not None and redo.any():  # and values near a tie
        wide[redo] = _libm_pow(base[redo], e)
    return wide


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
