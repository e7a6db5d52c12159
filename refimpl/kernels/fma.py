"""The fused multiply-add ``fma(a, b, c)``: ``a*b + c`` rounded once, in float64 NumPy
(and :func:`fma_float32`, the same in float32).

C's ``fma`` (and the FMA instructions compilers emit for ``a*b + c``) rounds the exact
value of ``a*b + c`` to the nearest double, ties to even.  NumPy has no such ufunc; this
module computes it from ordinary float64 operations, vectorised, over the whole double
range:

1. Special operands take IEEE arithmetic directly: where ``a`` or ``b`` is infinite or
   NaN, or one of them is zero, ``a*b`` is exact and ``a*b + c`` is already the answer;
   where only ``c`` is infinite or NaN, the answer is ``c`` (``a*b`` is finite, even
   when its rounded value would overflow).
2. Otherwise ``a = ma * 2**ea`` and ``b = mb * 2**eb`` with ``0.5 <= |ma|, |mb| < 1``
   (:func:`numpy.frexp`, exact), and ``c' = c * 2**-(ea + eb)``: the sum
   ``ma*mb + c'`` is computed in a range where nothing overflows or underflows.  A
   ``c'`` of 2**60 or more swamps the product (the answer is ``c``); one below 2**-200
   acts only through its sign (a sticky bit) and is replaced by ``+-2**-300``.
3. The emulated FMA of Boldo and Melquiond (2008), which rounds an intermediate to odd
   so that the final rounding to nearest is correct::

       p, e   = two_product(ma, mb)      # Dekker/Veltkamp: p + e == ma*mb exactly
       th, tl = two_sum(c', p)           # Knuth: th + tl == c' + p exactly
       v      = round_to_odd(tl + e)     # two_sum, then odd-ify an inexact even result
       z      = th + v                   # == RN(ma*mb + c')

4. ``z * 2**(ea + eb)`` (:func:`numpy.ldexp`) is exact, or overflows to inf exactly when
   C's ``fma`` does.  A result below 2**-1022 is rounded again, to the subnormal grid;
   that second rounding is wrong only where ``z`` lies exactly halfway between two
   subnormals, and there the sign of the exact remainder (known from the error terms
   above) picks the neighbour.

The result is the correctly rounded ``a*b + c`` for every finite input, subnormal
inputs and results and overflow included, with C's special values (inf, NaN, signed
zeros).  Not reproduced: NaN payloads (a NaN result is some quiet NaN), floating-point
exception flags and errno; rounding modes other than to-nearest.

:func:`fma_float32` is C's ``fmaf`` (x86's ``vfmadd...ss``): the product of two float32 is
exact in float64, so one float64 sum rounded to odd, then to float32, is the single
correct rounding.

Reference: S. Boldo and G. Melquiond, "Emulation of a FMA and correctly rounded sums:
proved algorithms using rounding to odd", IEEE Trans. Computers 57(4), 462-471 (2008);
T. J. Dekker, "A floating-point technique for extending the available precision",
Numer. Math. 18, 224-242 (1971).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["fma", "fma_float32", "fma_unscaled"]

#: Veltkamp's splitting constant for doubles: 2**27 + 1.
_SPLITTER = 134217729.0
#: A scaled ``c`` this far above the product swamps it: ``fma`` returns ``c``.
_SWAMP_EXPONENT = 60
#: A scaled ``c`` this far below the product acts only as a sticky bit ...
_STICKY_EXPONENT = -200
#: ... and is replaced by this stand-in (with its sign).
_STICKY = 2.0**-300


def fma(a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike) -> Any:
    """``a*b + c`` with a single rounding (to nearest, ties to even), as C's ``fma``.

    ``a``, ``b`` and ``c`` are real numbers or arrays (converted to float64, as C
    converts its arguments); the result is a float64 array of their broadcast shape,
    or a NumPy float64 for scalar arguments.  Exact over the whole double range, see
    the module docstring for the algorithm; NaN payloads and floating-point flags are
    not reproduced.

    >>> x = 1 + 2.0**-30
    >>> float(fma(x, x, -1.0)) == 2.0**-29 + 2.0**-60  # a*b + c would lose 2**-60
    True
    >>> float(x * x - 1.0) == 2.0**-29
    True
    >>> fma(np.array([1e308, np.inf, 0.0]), 2.0, np.array([-1.5e308, -np.inf, -0.0]))
    array([5.e+307,     nan, 0.e+00])
    """
    arrays = [_as_float64(v, name) for v, name in ((a, "a"), (b, "b"), (c, "c"))]
    shape = np.broadcast_shapes(*(v.shape for v in arrays))
    flat = [np.broadcast_to(v, shape).reshape(-1) for v in arrays]
    return _fma_flat(*flat).reshape(shape)[()]


def fma_unscaled(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``fma(a, b, c)`` of float64 arrays in a moderate range, three times cheaper.

    Boldo and Melquiond's emulated FMA (step 3 of the module docstring) on the operands as
    they are, without :func:`fma`'s special values and scaling; so it is the correctly
    rounded ``a*b + c`` only where no step overflows or underflows: ``a``, ``b`` and ``c``
    finite, ``|a|, |b| < 2**995``, ``a*b`` zero or of magnitude in ``[2**-960, 2**1020]``,
    ``|c| < 2**1020`` and the result zero or at least 2**-1022.  No checks: the caller
    guarantees the range (the polynomials and reductions of
    :mod:`refimpl.kernels.glibc64` stay far inside it).  The arrays broadcast; the
    result is a float64 array.

    >>> x = np.array([1 + 2.0**-30])
    >>> fma_unscaled(x, x, np.array([-1.0])) == 2.0**-29 + 2.0**-60
    array([ True])
    """
    return _fma_scaled(*np.broadcast_arrays(a, b, c))[0]


def fma_float32(a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike) -> Any:
    """``a*b + c`` with a single rounding to float32 (to nearest, ties to even), as C's
    ``fmaf`` and x86's ``vfmadd...ss``.

    ``a``, ``b`` and ``c`` are real numbers or arrays (converted to float32, as C converts
    the arguments of ``fmaf``); the result is a float32 array of their broadcast shape,
    or a NumPy float32 for scalar arguments.  Subnormal results are rounded, not flushed
    (XLA:CPU flushes them: :mod:`refimpl.kernels.xla_cpu` does that itself); NaN
    payloads and floating-point flags are not reproduced.

    Algorithm: ``p = float64(a) * float64(b)`` is exact (two 24-bit significands), and so
    is Knuth's TwoSum ``s + err == p + c`` (nothing reaches the float64 subnormals or
    overflows).  ``s`` made odd where ``err != 0`` -- the double next to the exact sum,
    toward zero, with its last bit set -- is the sum rounded to odd with 53 bits, and
    rounding that to float32 (24 bits, or fewer for a subnormal result) is the correct
    rounding of the exact sum (Boldo and Melquiond: rounding to odd with at least two
    extra bits, then to nearest).

    >>> x = np.float32(1 + 2.0**-12)
    >>> float(fma_float32(x, x, np.float32(-1))) == 2.0**-11 + 2.0**-24  # exact here
    True
    >>> float(x * x - np.float32(1)) == 2.0**-11  # a*b rounded first loses 2**-24
    True
    >>> fma_float32(np.float32(3e38), np.float32(2), np.float32(-3e38))
    np.float32(3e+38)
    """
    # inf - inf and 0 * inf are NaN, values past the largest float32 inf, as in C.
    with np.errstate(invalid="ignore", over="ignore"):
        a32, b32, c32 = (
            _as_real(v, name, np.float32, "fma_float32")
            for v, name in ((a, "a"), (b, "b"), (c, "c"))
        )
        p = a32.astype(np.float64) * b32  # exact
        c64 = c32.astype(np.float64)
        s = p + c64
        bv = s - p
        err = (p - (s - bv)) + (c64 - bv)
        inexact = (err != 0) & np.isfinite(s)
        toward_zero = np.where((err > 0) == (s > 0), s, np.nextafter(s, 0.0))
        odd = np.where(inexact, (toward_zero.view(np.uint64) | np.uint64(1)).view(np.float64), s)
        out = odd.astype(np.float32)
    return np.asarray(out)[()]


def _as_real(value: npt.ArrayLike, name: str, dtype: type, function: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise ValueError(
            f"{function}: {name} must be real numbers, got {value!r} (dtype {array.dtype})"
        )
    return array.astype(dtype, copy=False)


def _as_float64(value: npt.ArrayLike, name: str) -> np.ndarray:
    return _as_real(value, name, np.float64, "fma")


def _fma_flat(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """:func:`fma` of three 1-d float64 arrays of one length."""
    finite_product = np.isfinite(a) & np.isfinite(b)
    with np.errstate(all="ignore"):  # inf - inf and 0 * inf are NaN, as in C
        out = a * b + c  # exact product: a or b is 0, inf or NaN (or replaced below)
    np.copyto(out, c, where=finite_product & ~np.isfinite(c))
    general = finite_product & np.isfinite(c) & (a != 0) & (b != 0)
    if general.any():
        where = np.flatnonzero(general)
        out[where] = _fma_finite(a[where], b[where], c[where])
    return out


def _fma_finite(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """:func:`fma` where ``a``, ``b``, ``c`` are finite and ``a``, ``b`` nonzero."""
    ma, ea = np.frexp(a)
    mb, eb = np.frexp(b)
    scale = ea + eb  # a*b == ma*mb * 2**scale, 0.25 <= |ma*mb| < 1
    ec = np.frexp(c)[1]
    swamped = (c != 0) & (ec - scale >= _SWAMP_EXPONENT)
    sticky = (c != 0) & (ec - scale < _STICKY_EXPONENT)
    shift = np.where(swamped | sticky, 0, -scale)
    c_scaled = np.ldexp(c, shift)
    c_scaled[swamped] = 0.0
    c_scaled[sticky] = np.copysign(_STICKY, c[sticky])
    z, direction = _fma_scaled(ma, mb, c_scaled)
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(z, scale)  # exact, or inf, or rounded to a subnormal (fixed below)
    below_normal = np.flatnonzero(np.abs(out) <= np.finfo(np.float64).smallest_normal)
    if below_normal.size:
        out[below_normal] = _round_subnormal(
            out[below_normal], z[below_normal], direction[below_normal], scale[below_normal]
        )
    out[swamped] = c[swamped]  # |a*b| < ulp(c)/4: RN(c + a*b) == c
    return out


def _fma_scaled(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boldo and Melquiond's emulated FMA: ``z == RN(a*b + c)`` and the sign (-1, 0, 1)
    of ``a*b + c - z``, for ``0.5 <= |a|, |b| < 1`` and ``c`` zero or of magnitude in
    ``[2**-300, 2**60]`` (so that no step overflows or underflows)."""
    p, e = _two_product(a, b)
    th, tl = _two_sum(c, p)
    v, v_direction = _round_to_odd_sum(tl, e)
    z, w = _two_sum(th, v)
    # a*b + c - z == w + (tl + e - v), and |tl + e - v| < ulp(v) <= |w| unless w == 0.
    direction = np.where(w != 0, np.sign(w), v_direction)
    return z, direction


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``p, e`` with ``p = RN(a*b)`` and ``p + e == a*b`` exactly (Dekker), for ``a``,
    ``b`` whose product's error is not below the subnormal range."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split: ``a == hi + lo`` exactly, each with at most 26 significant bits."""
    t = a * _SPLITTER
    hi = t - (t - a)
    return hi, a - hi


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s, e`` with ``s = RN(a + b)`` and ``s + e == a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _round_to_odd_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a + b`` rounded to odd (the exact sum if representable, else whichever of the two
    doubles around it has an odd last bit), and the sign of ``a + b`` minus that."""
    s, e = _two_sum(a, b)
    bits = s.view(np.int64)
    make_odd = (e != 0) & ((bits & 1) == 0)
    # One step toward the exact sum: away from zero when e has the sign of s (s != 0
    # whenever e != 0, since no step underflows).
    away = np.signbit(e) == np.signbit(s)
    odd = (bits + np.where(away, 1, -1)).view(np.float64)
    direction = np.where(make_odd, -np.sign(e), np.sign(e))
    return np.where(make_odd, odd, s), direction


def _round_subnormal(
    rounded: np.ndarray, z: np.ndarray, direction: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Correct ``rounded == ldexp(z, scale)`` (a subnormal or zero, or the smallest normal)
    where ``z`` was exactly halfway between two points of the subnormal grid: there the
    exact value lies on the side ``direction`` of ``z``, not necessarily at the even one."""
    back = np.ldexp(rounded, -scale)  # exact: a multiple of the grid, scaled back up
    half_step = np.ldexp(1.0, np.clip(-1075 - scale, -1074, 1023))  # 2**-1075 scaled
    halfway = (np.abs(z - back) == half_step) & (direction != 0)
    with np.errstate(under="ignore"):
        exact_side = np.ldexp(z + direction * half_step, scale)  # a grid point: exact
    return np.where(halfway, exact_side, rounded)
