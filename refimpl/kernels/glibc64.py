"""glibc's double ``exp``, ``exp2``, ``log``, ``pow`` and ``cos``, bit for bit, in NumPy.

TensorFlow's float64 CPU kernels (Eigen's scalar path: ``std::exp`` ...) and XLA:CPU's
float64 code call the C library for these functions; NumPy's own float64 ``exp``, ``log``
and ``power`` are not glibc's (on an AVX-512 CPU they differ in the last bit on 0.2-5 % of
inputs), and whether ``np.cos`` calls libm depends on the build.  These are NumPy
reproductions of glibc 2.36's functions as x86_64 runs them: the multiarch ifunc picks
``__exp_fma``, ``__log_fma``, ``__pow_fma`` and ``__cos_fma`` when the CPU has FMA and
AVX2 (the generic C of ``sysdeps/ieee754/dbl-64`` compiled with ``-mfma -mavx2``, in
which GCC contracted ``a*b + c`` into fused multiply-adds: every site is listed in the
function's docstring, as found by disassembling ``libm.so.6``); 2.36 has no FMA variant
of ``exp2``, whose generic build has none.  Each function runs glibc's algorithm with
its tables (:mod:`refimpl.kernels._glibc64_data`) and polynomials, rounding as
``libm.so.6`` does at every step.  The C is the same from glibc 2.35 to 2.42 (exp,
exp2, log and pow, from ARM's optimized-routines, since 2.28; cos is IBM's Accurate
Mathematical Library, simplified); the fused sites are those GCC 12 chose for Debian
12's build (2.36-9): another compiler may contract differently.

Inputs are float64 (a Python float, an ``np.float64`` or a float64 array); the result is
float64 of the broadcast shape, a NumPy scalar for scalar inputs.  Special values -- NaN
(payload and sign included), infinities, signed zeros, subnormal inputs and results,
overflow and underflow -- are glibc's.  Not reproduced: errno and the floating-point
exception flags.  (TensorFlow flushes subnormals to zero: pass inputs and results through
:func:`refimpl.numpy_ops.flush_subnormals` to reproduce it.)

How the fused roundings are reproduced.  A double result has no spare bits to hide an
error in, so every ``fma`` must round as the hardware does; the exact ``fma`` out of
float64 operations costs some 35 NumPy passes, and a function has 8 to 20 sites.  So each
function evaluates its formula, written once with the ``fma`` passed in, in two passes:

1. The fast pass computes each contracted ``a*b + c`` as ``a*b + c`` (rounded twice),
   except where the fused rounding decides something discrete (exp's ``k``, cos's
   quadrant: elements near a decision are left to the exact pass) and where the fused
   value is exact for a few operations: products that are exact (listed), Dekker's
   exact product error (log's and pow's ``fma(z, invc, -1)``, pow's ``y*log(x)``), and
   cos's argument reduction.  Every function ends with one sum, ``base + cor`` (log,
   cos: a plain addition of an exact ``base``) or ``scale + scale*tmp`` (exp, pow:
   fused); the fast pass knows ``cor`` (``tmp``) to within a bound ``E``: a few ulps of
   the terms whose rounding differs, per function at least twice a worst-case estimate
   and 5 to 30 times the largest deviation measured on 10**6 inputs per path.  Where the
   final rounding gives the same double at both ends of ``[cor - E, cor + E]`` (rounding
   is monotonic), that double is glibc's.
2. Elsewhere -- 0.1 to 11 % of the elements, by function and range -- the exact pass
   evaluates the formula with :func:`refimpl.kernels.fma.fma_unscaled` (Boldo and
   Melquiond's exact fma; exact here, where every operand is far from overflow and
   underflow) at every contracted site.

Checked against the C library (ctypes, and Python's ``math`` module, which is glibc's):
10**7 random inputs per function over the whole domain (random bit patterns) and dense
sweeps of the ranges schedules use (``benchmarks/scan_glibc_kernels.py``), the special
values and edges in ``tests/test_kernels_glibc64.py``; 0 differences.

Source: glibc 2.36 ``sysdeps/ieee754/dbl-64/``: ``e_exp.c``, ``e_exp2.c``,
``e_exp_data.c``, ``e_log.c``, ``e_log_data.c``, ``e_pow.c``, ``e_pow_log_data.c``,
``s_sin.c``, ``usncs.h``, ``sincostab.c``, ``branred.c``, ``branred.h``,
``math_config.h``, ``math_err.c``; ``sysdeps/x86_64/fpu/multiarch/``: ``ifunc-fma.h``,
``ifunc-avx-fma4.h``, ``{e_exp,e_log,e_pow,s_sin}-fma.c``, ``Makefile`` (``-mfma
-mavx2``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl.kernels import _glibc64_data as data
from refimpl.kernels._arrays import blockwise, checked
from refimpl.kernels.fma import fma_unscaled as _fused

__all__ = ["cos", "exp", "exp2", "log", "pow"]

_Fma = Callable[[Any, Any, Any], Any]

#: Elements per block: large enough to spread the exact pass's per-call cost over many
#: elements, small enough for the float64 temporaries to stay in cache (measured: 2**16
#: beats 2**14 by 1.1 to 1.6x in CPU time, 2**17 is slower for log and pow).
_BLOCK = 1 << 16


def _f64(value: float | str) -> np.ndarray:
    """A float64 constant as a 0-d array (NumPy takes it faster than a Python float)."""
    return np.array(float.fromhex(value) if isinstance(value, str) else value, np.float64)


def _u64(value: int) -> np.ndarray:
    return np.array(value, np.uint64)


def _plain(a: Any, b: Any, c: Any) -> Any:
    """The fast pass's stand-in for ``fma``: ``a*b + c``, rounded twice."""
    return a * b + c


def _float64(value: npt.ArrayLike, function: str, name: str) -> np.ndarray:
    """``value`` as a native float64 array, or a ValueError naming the argument."""
    return checked(value, np.float64, function, name)


def _blockwise(kernel: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """``kernel`` (elementwise, float64 out) of the equally long 1-d ``arrays``, block by
    block."""
    return blockwise(kernel, *arrays, block=_BLOCK, dtype=np.float64)


def _top12(x: np.ndarray) -> np.ndarray:
    """The sign and exponent bits of ``x`` (``asuint64(x) >> 52``), as int64."""
    return (x.view(np.uint64) >> _u64(52)).astype(np.int64)


_ONE = _f64(1.0)
_TWO_M1022, _TWO_1009 = _f64(2.0**-1022), _f64(2.0**1009)

_VELTKAMP = _f64(2.0**27 + 1)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split: ``a == hi + lo`` exactly, each with at most 26 significant bits."""
    t = a * _VELTKAMP
    hi = t - (t - a)
    return hi, a - hi


def _product_error(a: np.ndarray, b: np.ndarray, p: np.ndarray, b_split: Any = None) -> np.ndarray:
    """Dekker: ``a*b - p`` exactly, for ``p = a*b`` rounded (no overflow or underflow)."""
    ah, al = _split(a)
    bh, bl = _split(b) if b_split is None else b_split
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


# --- exp ---------------------------------------------------------------------------------

#: e_exp_data.c (EXP_TABLE_BITS = 7): 128/ln(2); -ln(2)/128 in two parts (the high part
#: has 36 bits: its product with |k| < 2**17 is exact); the rounding shift 1.5 * 2**52.
_INVLN2N = _f64("0x1.71547652b82fep7")
_NEGLN2HIN = _f64("-0x1.62e42fefa0000p-8")
_NEGLN2LON = _f64("-0x1.cf79abc9e3b3ap-47")
_SHIFT = _f64("0x1.8p52")
_TWO_17 = _f64(2.0**17)
_EXP_MOD, _EXP_TOP = _u64(127), _u64(45)
_SBITS_DOWN, _SBITS_UP = _u64(1009 << 52), _u64(1022 << 52)
_SIGN_OF_K = _u64(0x80000000)
_NEGLN2HIN_SPLIT = _split(_NEGLN2HIN)
_SIGN = _u64(1 << 63)


def exp(x: npt.ArrayLike) -> Any:
    """``e ** x`` in float64, as glibc's ``exp`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``e_exp.c``; ``e_exp_data.c``: 2**(i/128) as ``H[i] * (1 +
    T[i])``, a quartic for exp(r) - 1 - r)::

        kd = fma(x, InvLn2N, SHIFT) - SHIFT      # k = round(x * 128/ln(2)), ties to even
        r = fma(kd, NegLn2hiN, x)                # x - k*ln(2)/128, in two parts
        r = fma(kd, NegLn2loN, r)
        tail = T[k % 128];  scale = H[k % 128] * 2**(k // 128)
        r2 = r * r
        q = fma(fma(r, C3, C2), r2, tail + r)
        tmp = fma(r2 * r2, fma(r, C5, C4), q)    # exp(r) - 1 + tail
        return fma(scale, tmp, scale)            # scale * (1 + tmp)

    with ``InvLn2N = 128/ln(2)``, ``SHIFT = 1.5 * 2**52``.  All eight ``fma`` are GCC's
    contractions in ``__exp_fma`` (in order: ``vfmadd132sd``, ``vfmadd231sd``,
    ``vfmadd231sd``, ``vfmadd213sd``, ``vfmadd132sd``, ``vfmadd132sd``, ``vfmadd132sd``,
    ``vfmadd132sd``); ``r * r``, ``r2 * r2`` and ``tail + r`` are plain.  For ``512 <= |x|
    < 1024`` e_exp.c's ``specialcase`` keeps the scale's exponent in range: ``2**1009 *
    fma(s, tmp, s)`` with ``s = scale / 2**1009`` for k > 0; for k < 0, ``s = scale *
    2**1022``, ``y = s + s*tmp`` unfused, rounded once more below 1 (``hi + lo`` around
    1.0: one rounding into the subnormals), times 2**-1022.  Special cases: ``|x| <
    2**-54`` gives ``1.0 + x``; ``x >= 1024`` and ``+inf`` inf, ``x <= -1024`` and
    ``-inf`` 0; NaN comes back quiet.  glibc documents 0.511 ulp.

    Here ``fma(kd, NegLn2hiN, x)`` is exact in both passes (``x + kd*NegLn2hiN`` is exact,
    and so is the product below ``|k| = 2**17``, Dekker's error above); ``k`` is the fast
    pass's unless ``x * InvLn2N`` is within 2**-30 of a half-integer.

    >>> exp(1.0)
    np.float64(2.718281828459045)
    >>> exp(np.array([0.0, -np.inf, 710.0, -745.1, 1e-300]))
    array([1.e+000, 0.e+000,     inf, 5.e-324, 1.e+000])
    """
    a = _float64(x, "exp", "x")
    return _blockwise(_exp_flat, a.reshape(-1)).reshape(a.shape)[()]


def _exp_flat(x: np.ndarray) -> np.ndarray:
    abstop = _top12(x) & 0x7FF
    formula = (abstop >= 0x3C9) & (abstop < 0x409)  # 2**-54 <= |x| < 1024
    if np.count_nonzero(formula) == x.size:
        return _exp_formula(x, abstop)
    out = np.empty_like(x)
    with np.errstate(invalid="ignore"):
        out[:] = _ONE + x  # |x| < 2**-54, inf, NaN (made quiet)
    bits = x.view(np.uint64)
    big = (abstop >= 0x409) & (abstop < 0x7FF)  # 1024 <= |x| < inf
    out[big & (bits >> _u64(63) == 1)] = 0.0  # __math_uflow(0)
    out[big & (bits >> _u64(63) == 0)] = np.inf  # __math_oflow(0)
    out[bits == _u64(0xFFF0000000000000)] = 0.0  # -inf
    if np.count_nonzero(formula):
        out[formula] = _exp_formula(x[formula], abstop[formula])
    return out


#: The fast pass's tmp is within 4 * 2**-61 of glibc's: |r|, |tail + r|, |q| and |tmp| are
#: below 2**-8, and each of their roundings that an unfused product moves (by at most
#: 2**-70) can flip by one ulp, 2**-61 (measured: 1 ulp at most, on 10**6 inputs); two
#: ulps more cover the plain ``scale*t`` of the certificate.
_EXP_TMP_ERROR = _f64(6 * 2.0**-61)
#: k is taken from the fast pass's x * InvLn2N unless that is this close to a half-integer
#: (its rounding error is below 2**-35).
_KD_DOUBT = _f64(0.5 - 2.0**-30)


def _exp_formula(x: np.ndarray, abstop: np.ndarray) -> np.ndarray:
    """exp of ``2**-54 <= |x| < 1024`` (``specialcase`` from 512 on)."""
    large = abstop == 0x408
    ki, sbits, tmp = _exp_core(x, _plain)
    y, uncertain = _exp_result(tmp, sbits, ki, large, _EXP_TMP_ERROR)
    p = x * _INVLN2N
    uncertain |= np.abs(p - np.rint(p)) >= _KD_DOUBT  # kd may not be glibc's
    if np.count_nonzero(uncertain):
        redo = np.flatnonzero(uncertain)
        ki, sbits, tmp = _exp_core(x[redo], _fused)
        y[redo] = _exp_exact_result(tmp, sbits, ki, large[redo])
    return y


def _exp_result(
    tmp: np.ndarray, sbits: np.ndarray, ki: np.ndarray, large: np.ndarray, error: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The fast pass's result ``scale * (1 + tmp)`` from ``tmp`` known to ``error``, and
    where it is not certain; ``large`` marks the ``specialcase`` elements (there results
    below 2**-1022 are never certain)."""
    y, uncertain = _scaled_sum(sbits.view(np.float64), tmp, error)
    if np.count_nonzero(large):
        w = np.flatnonzero(large)
        up = (ki[w] & _SIGN_OF_K) == 0
        shifted = np.where(up, sbits[w] - _SBITS_DOWN, sbits[w] + _SBITS_UP)
        e = error if np.ndim(error) == 0 else error[w]
        v, unsure = _scaled_sum(shifted.view(np.float64), tmp[w], e)
        unsure |= ~up & (np.abs(v) < _ONE)
        with np.errstate(over="ignore"):
            y[w] = np.where(up, v * _TWO_1009, v * _TWO_M1022)
        uncertain[w] = unsure
    return y, uncertain


def _exp_exact_result(
    tmp: np.ndarray, sbits: np.ndarray, ki: np.ndarray, large: np.ndarray
) -> np.ndarray:
    """glibc's result from its ``tmp``: ``fma(scale, tmp, scale)``, or ``specialcase``."""
    if np.count_nonzero(large):
        y = _exp_specialcase(tmp, sbits, ki, _fused)
        normal = np.flatnonzero(~large)
        scale = sbits[normal].view(np.float64)
        y[normal] = _fused(scale, tmp[normal], scale)
        return y
    scale = sbits.view(np.float64)
    return _fused(scale, tmp, scale)


def _scaled_sum(scale: np.ndarray, tmp: np.ndarray, error: Any) -> tuple[np.ndarray, np.ndarray]:
    """``fma(scale, tmp, scale)`` where that is certain from ``tmp``, known to ``error``:
    the values, and where they are not certain (the plain ``scale + scale*t`` of ``t =
    tmp - error`` and ``tmp + error`` differ; both are monotonic in ``t``, and ``error``
    also covers their own rounding of ``scale*t``)."""
    with np.errstate(over="ignore", invalid="ignore"):  # specialcase's scale: replaced
        low = scale + scale * (tmp - error)
        high = scale + scale * (tmp + error)
    return low, low != high


def _exp_core(
    x: np.ndarray, fma_: _Fma, xtail: Any = None, sign_bias: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """e_exp.c for ``|x| < 1024`` (and e_pow.c's ``exp_inline`` of ``x + xtail``, whose
    ``sign_bias`` lands in the sign bit): ``ki`` (k in its low bits), the bits of the
    scale 2**(k/128) (before any special-case adjustment) and ``tmp``, with exp(x) ==
    scale * (1 + tmp)."""
    c2, c3, c4, c5 = data.EXP_POLY
    kd = fma_(x, _INVLN2N, _SHIFT)
    ki = kd.view(np.uint64)
    kd = kd - _SHIFT
    # fma(kd, NegLn2hiN, x), exactly in both passes: x + p is exact (p is within a
    # factor 2 of -x), and so is p's error e (Dekker), zero for |k| < 2**17.
    p = kd * _NEGLN2HIN
    r = x + p
    if np.count_nonzero(np.abs(kd) >= _TWO_17):
        r = r + _product_error(kd, _NEGLN2HIN, p, _NEGLN2HIN_SPLIT)
    r = fma_(kd, _NEGLN2LON, r)
    if xtail is not None:
        r = r + xtail
    idx = (ki & _EXP_MOD) << _u64(1)
    tail = data.EXP_TABLE[idx].view(np.float64)
    top = ki if sign_bias is None else ki + sign_bias
    sbits = data.EXP_TABLE[idx + _u64(1)] + (top << _EXP_TOP)
    r2 = r * r
    q = fma_(fma_(r, c3, c2), r2, r + tail)
    tmp = fma_(r2 * r2, fma_(r, c5, c4), q)
    return ki, sbits, tmp


def _exp_specialcase(
    tmp: np.ndarray,
    sbits: np.ndarray,
    ki: np.ndarray,
    fma_: _Fma,
    shift: tuple[np.ndarray, np.ndarray] = (_SBITS_DOWN, _TWO_1009),
) -> np.ndarray:
    """e_exp.c's and e_pow.c's ``specialcase`` (e_exp2.c's with ``shift = (1 << 52, 2.0)``
    and no fma): ``scale * (1 + tmp)`` where ``|x| >= 512``, the scale's exponent shifted
    out of the way and back; below 2**-1022 rounded once, a zero signed as the scale."""
    down, factor = shift
    positive = (ki & _SIGN_OF_K) == 0
    out = np.empty_like(tmp)
    with np.errstate(over="ignore", under="ignore"):
        if np.count_nonzero(positive):
            up = (sbits[positive] - down).view(np.float64)
            out[positive] = factor * fma_(up, tmp[positive], up)  # may overflow
        if np.count_nonzero(~positive):
            down_bits = sbits[~positive] + _SBITS_UP
            scale = down_bits.view(np.float64)
            scaled_tmp = scale * tmp[~positive]
            y = scale + scaled_tmp  # not fused: scale*tmp has a second use
            one = np.where(y < 0, -_ONE, _ONE)
            lo = (scale - y) + scaled_tmp
            hi = one + y
            lo = ((one - hi) + y) + lo
            tiny = (hi + lo) - one
            zero = tiny == 0
            tiny[zero] = (down_bits[zero] & _SIGN).view(np.float64)  # 0 signed as the scale
            out[~positive] = _TWO_M1022 * np.where(np.abs(y) < _ONE, tiny, y)
    return out


# --- exp2 --------------------------------------------------------------------------------

_EXP2_SHIFT = _f64("0x1.8p45")  # 1.5 * 2**52 / 128


def exp2(x: npt.ArrayLike) -> Any:
    """``2 ** x`` in float64, as glibc's ``exp2`` computes it (XLA:CPU calls it where LLVM
    rewrites ``pow(2**k, x)`` into ``exp2(k*x)``).

    glibc 2.36 has no FMA build of ``exp2``: x86_64 runs the generic ``e_exp2.c``, plain
    double arithmetic, which NumPy reproduces operation for operation (no second pass)::

        kd = (x + SHIFT) - SHIFT                 # SHIFT = 1.5 * 2**52 / 128: k/128 ~= x
        r = x - kd                               # exact, in [-1/256, 1/256]
        tail = T[k % 128];  scale = H[k % 128] * 2**(k // 128)
        r2 = r * r
        tmp = ((tail + r*C1) + r2*(C2 + r*C3)) + (r2*r2)*(C4 + r*C5)
        return scale + scale * tmp

    with exp's table and ``exp2_poly`` (``e_exp_data.c``).  For ``|x| > 928`` e_exp2.c's
    ``specialcase``: ``2 * (s + s*tmp)`` with ``s = scale / 2`` for k > 0, exp's careful
    rounding into the subnormals for k < 0.  Special cases: ``|x| < 2**-54`` gives ``1.0
    + x``; ``x >= 1024`` and ``+inf`` inf, ``x <= -1075`` and ``-inf`` 0; NaN comes back
    quiet.  glibc documents 0.511 ulp without fma (0.507 with).

    >>> exp2(0.5)
    np.float64(1.4142135623730951)
    >>> exp2(np.array([10.0, -1074.0, 1024.0, -1075.0]))
    array([1.024e+003, 4.941e-324,       inf, 0.000e+000])
    """
    a = _float64(x, "exp2", "x")
    return _blockwise(_exp2_flat, a.reshape(-1)).reshape(a.shape)[()]


def _exp2_flat(x: np.ndarray) -> np.ndarray:
    bits = x.view(np.uint64)
    abstop = _top12(x) & 0x7FF
    main = (abstop >= 0x3C9) & (abstop < 0x408)  # 2**-54 <= |x| < 512
    if np.count_nonzero(main) == x.size:
        ki, sbits, tmp = _exp2_core(x)
        scale = sbits.view(np.float64)
        return scale + scale * tmp
    out = np.empty_like(x)
    with np.errstate(invalid="ignore"):
        out[:] = _ONE + x  # |x| < 2**-54, inf, NaN (made quiet)
    big = (abstop >= 0x409) & (abstop < 0x7FF)  # 1024 <= |x| < inf
    out[big & (bits >> _u64(63) == 0)] = np.inf  # __math_oflow(0)
    out[big & (bits >= _u64(0xC090CC0000000000))] = 0.0  # x <= -1075: __math_uflow(0)
    out[bits == _u64(0xFFF0000000000000)] = 0.0  # -inf
    # The formula: |x| < 512, and -1075 < x <= -1024 (specialcase above |x| = 928).
    formula = (
        main
        | (abstop == 0x408)
        | (big & (bits < _u64(0xC090CC0000000000)) & (bits >> _u64(63) == 1))
    )
    if np.count_nonzero(formula):
        where = np.flatnonzero(formula)
        xs = x[where]
        ki, sbits, tmp = _exp2_core(xs)
        special = (xs.view(np.uint64) << _u64(1)) > _u64(0x811A000000000000)  # |x| > 928
        scale = sbits.view(np.float64)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            y = scale + scale * tmp
        y[special] = _exp_specialcase(
            tmp[special], sbits[special], ki[special], _plain, (_u64(1 << 52), _f64(2.0))
        )
        out[where] = y
    return out


def _exp2_core(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """e_exp2.c (generic build: no fma) for ``|x| < 1075``: ``ki``, the bits of the scale
    and ``tmp``."""
    c1, c2, c3, c4, c5 = data.EXP2_POLY
    kd = x + _EXP2_SHIFT
    ki = kd.view(np.uint64)
    kd = kd - _EXP2_SHIFT
    r = x - kd
    idx = (ki & _EXP_MOD) << _u64(1)
    tail = data.EXP_TABLE[idx].view(np.float64)
    sbits = data.EXP_TABLE[idx + _u64(1)] + (ki << _EXP_TOP)
    r2 = r * r
    tmp = ((tail + r * c1) + r2 * (c2 + r * c3)) + (r2 * r2) * (c4 + r * c5)
    return ki, sbits, tmp


# --- log ---------------------------------------------------------------------------------

#: e_log_data.c: ln(2) in two parts (the high part has 42 bits: exact times |k| < 2**11).
_LN2HI, _LN2LO = _f64("0x1.62e42fefa3800p-1"), _f64("0x1.ef35793c76730p-45")
_LOG_OFF = _u64(0x3FE6000000000000)
_EXPONENT_MASK = _u64(0xFFF << 52)
#: Near 1 (x in [1 - 2**-4, 1 + 0x1.09p-4)) log takes its own polynomial.
_NEAR_ONE_LO, _NEAR_ONE_SPAN = (
    _u64(0x3FEE000000000000),
    _u64(0x3FF1090000000000 - 0x3FEE000000000000),
)
_MINUS_ONE, _TWO_27, _TWO_52 = _f64(-1.0), _f64(2.0**27), _f64(2.0**52)
_DEFAULT_NAN = _u64(0xFFF8000000000000)  # x86's NaN for an invalid operation
_QUIET = _u64(1 << 51)
#: invc = hi + lo per row, Veltkamp-split once (Dekker's exact product needs it).
_INVC = data.LOG_TABLE[:, 0]


_INVC_HI, _INVC_LO = _split(_INVC)


def log(x: npt.ArrayLike) -> Any:
    """``log(x)`` in float64, as glibc's ``log`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``e_log.c``; ``e_log_data.c``: LOG_TABLE_BITS = 7, 128
    subintervals with (1/c, log(c)), a quintic ``A`` for log1p(r) - r, and ``B``, a
    degree-11 polynomial near 1)::

        # x = 2**k * z, z in [0x1.6p-1, 0x1.6p0) (a subnormal x normalised first)
        w = fma(kd, Ln2hi, logc[i])          # exact: k*Ln2hi has 53 bits, the sum is exact
        r = fma(z, invc[i], -1.0)            # z/c - 1, |r| < 1/256
        hi = w + r
        lo = fma(kd, Ln2lo, (w - hi) + r)
        r2 = r * r
        q = fma(fma(r, A4, A3), r2, fma(r, A2, A1))
        y = fma(r * r2, q, fma(r2, A0, lo))
        return y + hi

        # near 1, x in [1 - 2**-4, 1 + 0x1.09p-4): r = x - 1 (exact), r3 = r * r * r
        poly = fma(fma(pc, r3, pb), r3, pa)  # B1 + r*B2 + ..., nine fma (Horner-ish)
        rhi = r rounded to 27 bits;  rlo = r - rhi
        hi = r - rhi**2/2;  lo = (r - hi) - rhi**2/2        # exact products
        lo = fma(-rlo/2, rhi + r, lo)
        return fma(poly, r3, lo) + hi

    The contractions in ``__log_fma``: eight on the main path (``vfmadd213sd``,
    ``vfmadd132sd``, ``vfmadd213sd``, ``vfmadd231sd``, ``vfmadd132sd``, ``vfmadd231sd``,
    ``vfmadd132sd``, ``vfmadd132sd``), fifteen near 1 (nine in the polynomial, four with
    exact products in the split of ``r``, ``lo`` and ``y``); ``y + hi`` is plain.
    Special cases: ``log(1) == +0``, ``+-0 -> -inf``, ``inf -> inf``; a negative ``x``
    (``-inf`` too) gives x86's default NaN, a NaN comes back quiet.  glibc documents 0.519
    ulp.

    Here ``r`` is exact in both passes: ``p = z*invc`` is within 2**-8 of 1, so ``p - 1``
    is exact, and Dekker's product error ``e`` gives ``fma(z, invc, -1) == (p - 1) + e``.

    >>> log(2.0)
    np.float64(0.6931471805599453)
    >>> log(np.array([1.0, 0.0, -1.0, np.inf, 5e-324]))
    array([   0.        ,          -inf,           nan,           inf,
           -744.44007192])
    """
    a = _float64(x, "log", "x")
    return _blockwise(_log_flat, a.reshape(-1)).reshape(a.shape)[()]


def _log_flat(x: np.ndarray) -> np.ndarray:
    ix = x.view(np.uint64)
    top = (ix >> _u64(48)).astype(np.int64)
    near_one = (ix - _NEAR_ONE_LO) < _NEAR_ONE_SPAN
    special = ((top - 0x10) >= 0x7FE0) | (top < 0x10)  # below 2**-1022, negative, inf, NaN
    out = np.empty_like(x)
    if np.count_nonzero(special):
        nan = (ix << _u64(1)) > _u64(0xFFE0000000000000)
        values = np.where(nan, (ix | _QUIET).view(np.float64), _DEFAULT_NAN.view(np.float64))
        values[ix << _u64(1) == 0] = -np.inf  # +-0: __math_divzero(1)
        values[ix == _u64(0x7FF0000000000000)] = np.inf
        done = special & ((ix << _u64(1) == 0) | (top >= 0x7FF0) | (top >= 0x8000))
        out[done] = values[done]
        subnormal = special & ~done
        ix = ix.copy()
        ix[subnormal] = (x[subnormal] * _TWO_52).view(np.uint64) - _u64(52 << 52)
        main = ~near_one & ~done
    else:
        main = ~near_one
    if np.count_nonzero(near_one):
        out[near_one] = _log_near_one(x[near_one])
    if np.count_nonzero(main):
        out[main] = _log_main(ix[main])
    return out


def _log_main(ix: np.ndarray) -> np.ndarray:
    """log of the (normalised) bits ``ix`` outside the near-1 interval."""
    return _certified_sum(_log_core, _LOG_ERROR, ix)


#: The fast pass's |y - glibc's y| is below _LOG_ERROR times the magnitudes that bound its
#: rounding errors (main path: |y| + |lo| + r**2 + |k*Ln2lo|; near 1: |y| + |lo| +
#: |r**3|/2): at most 4 * 2**-53 times those by a worst-case count of the unfused
#: roundings and their flips, at most 2.6 * 2**-53 measured on 10**6 inputs per path.
_LOG_ERROR = _f64(2.0**-50)


def _certified_sum(
    kernel: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]], error: Any, *args: np.ndarray
) -> np.ndarray:
    """``base + cor`` rounded, for ``base, cor, bound = kernel(*args, fma)``: from the fast
    pass (``fma`` unfused) where its ``cor``, known to ``error * bound``, gives a certain
    result; from the exact pass elsewhere."""
    base, cor, bound = kernel(*args, _plain)
    out, uncertain = _sum_within(base, cor, bound * error)
    if np.count_nonzero(uncertain):
        redo = np.flatnonzero(uncertain)
        base, cor, _ = kernel(*(a[redo] for a in args), _fused)
        out[redo] = base + cor
    return out


def _sum_within(a: np.ndarray, b: np.ndarray, error: Any) -> tuple[np.ndarray, np.ndarray]:
    """``a + b`` rounded, where that is certain though ``b`` is known only to ``error``: the
    values, and where they are not certain (``a + (b - error)`` and ``a + (b + error)``
    round differently; the rounding is monotonic)."""
    low = a + (b - error)
    return low, low != a + (b + error)


def _log_core(ix: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """e_log.c's main path for the normalised bits ``ix``: ``hi`` and ``y``, with log(x) ==
    hi + y rounded, and the magnitudes that bound the fast pass's error in ``y``."""
    a0, a1, a2, a3, a4 = data.LOG_POLY
    tmp = ix - _LOG_OFF
    i = ((tmp >> _u64(45)) & _EXP_MOD).astype(np.intp)
    k = tmp.view(np.int64) >> 52
    z = (ix - (tmp & _EXPONENT_MASK)).view(np.float64)
    kd = k.astype(np.float64)
    w = fma_(kd, _LN2HI, data.LOG_TABLE[i, 1])  # exact: the product and the sum
    p = z * _INVC[i]
    r = (p + _MINUS_ONE) + _product_error(z, _INVC[i], p, (_INVC_HI[i], _INVC_LO[i]))
    hi = r + w
    r2 = r * r
    lo_product = kd * _LN2LO
    lo = fma_(kd, _LN2LO, (w - hi) + r)
    s1 = fma_(r2, a0, lo)
    y = fma_(r * r2, fma_(fma_(r, a4, a3), r2, fma_(r, a2, a1)), s1)
    return hi, y, np.abs(y) + np.abs(lo) + r2 + np.abs(lo_product)


def _log_near_one(x: np.ndarray) -> np.ndarray:
    """log of ``x`` in [1 - 2**-4, 1 + 0x1.09p-4): e_log.c's polynomial in ``r = x - 1``."""
    out = _certified_sum(_log_near_one_core, _LOG_ERROR, x)
    out[x == _ONE] = 0.0
    return out


def _log_near_one_core(x: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """e_log.c near 1: ``hi``, ``y`` with log(x) == hi + y rounded, and the magnitudes that
    bound the fast pass's error in ``y``."""
    b = data.LOG_POLY1
    r = x - _ONE  # exact
    r2 = r * r
    r3 = r * r2
    pa = fma_(r2, b[3], fma_(r, b[2], b[1]))
    pb = fma_(r2, b[6], fma_(r, b[5], b[4]))
    pc = fma_(r3, b[10], fma_(r2, b[9], fma_(r, b[8], b[7])))
    poly = fma_(fma_(pc, r3, pb), r3, pa)
    w = r * _TWO_27
    rhi = (r + w) - w
    rlo = r - rhi
    w = (rhi * rhi) * b[0]  # b[0] == -0.5: exact
    hi = r + w
    lo = (r - hi) + w
    lo = fma_(b[0] * rlo, rhi + r, lo)
    y = fma_(poly, r3, lo)
    return hi, y, np.abs(y) + np.abs(lo) + np.abs(r3) * 0.25


# --- pow ---------------------------------------------------------------------------------

_POW_OFF = _u64(0x3FE6955500000000)
_POW_INVC, _POW_LOGC, _POW_LOGCTAIL = data.POW_LOG_TABLE.T.copy()
_POW_INVC_SPLIT = _split(_POW_INVC)
#: e_pow.c: SIGN_BIAS = 0x800 << EXP_TABLE_BITS, added to k: lands in the sign bit.
_POW_SIGN_BIAS = _u64(0x800 << 7)
_ABS = _u64((1 << 63) - 1)
_INF_BITS = _u64(0x7FF0000000000000)
_ONE_BITS = _u64(0x3FF0000000000000)


def pow(x: npt.ArrayLike, y: npt.ArrayLike) -> Any:
    """``x ** y`` in float64, as glibc's ``pow`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``e_pow.c``; ``e_pow_log_data.c``: 128 subintervals with
    (1/c, log(c) in two parts), 1/c of 8 bits, a degree-7 polynomial ``A``; then exp's
    algorithm on a double-double)::

        # log_inline: |x| = 2**k * z, z in [0x1.6955p-1, 2 * that)
        r = fma(z, invc, -1.0)                     # exactly representable
        t1 = fma(kd, Ln2hi, logc);  t2 = t1 + r    # exact product
        lo1 = fma(kd, Ln2lo, logctail);  lo2 = (t1 - t2) + r
        ar = -0.5 * r;  ar2 = r * ar;  ar3 = r * ar2
        hi = t2 + ar2
        lo3 = fma(ar, r, -ar2);  lo4 = (t2 - hi) + ar2
        q = fma(ar2, fma(fma(r, A6, A5), ar2, fma(r, A4, A3)), fma(r, A2, A1))
        lo = fma(ar3, q, ((lo1 + lo2) + lo3) + lo4)
        logx = hi + lo;  tail = (hi - logx) + lo
        # y * log(x) as ehi + elo
        ehi = y * logx
        elo = fma(y, tail, fma(logx, y, -ehi))
        # exp_inline(ehi, elo): exp's formula with r = fma(kd, NegLn2loN, ...) + elo,
        # the result's sign in the scale (x < 0 and y an odd integer)
        return fma(scale, tmp, scale)

    Twenty contractions in ``__pow_fma``: ten in ``log_inline`` (``t1``, ``lo1``, ``r``,
    the five of ``q``, ``lo3``, ``lo``), two for ``elo`` and exp's eight (see
    :func:`exp`); the other operations are plain.  ``specialcase`` as in :func:`exp` for
    ``512 <= |ehi| < 1024`` (below 2**-1022 with the result's sign).  Special cases as
    e_pow.c: ``x ** +-0`` and ``1 ** y`` are 1 (unless the other operand is a signalling
    NaN); a NaN operand gives ``x + y``; ``(+-1) ** +-inf == 1``; ``|x| < 1`` with ``y ==
    inf`` and ``|x| > 1`` with ``y == -inf`` give 0, other infinite ``y`` inf; ``x`` zero
    or infinite gives ``x*x`` (negated for a negative ``x`` and an odd integer ``y``), or
    its reciprocal for a negative ``y`` (``+-0 -> +-inf``); a negative finite ``x`` with a
    non-integer ``y`` gives the default NaN; ``|y| < 2**-65`` gives ``1 +- y``, ``|y| >=
    2**63`` 0 or inf; ``|y*log(x)| >= 1024`` 0 or inf (signed).  glibc documents 0.54 ulp.

    Here ``r``, ``lo3`` and ``fma(logx, y, -ehi)`` are exact in both passes (Dekker's
    product error); the fast pass's ``tmp`` is known to 6 * 2**-61 plus a bound
    proportional to ``|y|`` and to log_inline's low-order terms.

    >>> pow(2.0, 0.5)
    np.float64(1.4142135623730951)
    >>> pow(-2.0, np.array([3.0, 0.5, -np.inf, 1100.0]))
    array([-8., nan,  1., inf])
    """
    ax = _float64(x, "pow", "x")
    ay = _float64(y, "pow", "y")
    shape = np.broadcast_shapes(ax.shape, ay.shape)
    flat = [np.broadcast_to(v, shape).reshape(-1) for v in (ax, ay)]
    return _blockwise(_pow_flat, *flat).reshape(shape)[()]


def _zero_inf_nan(i: np.ndarray) -> np.ndarray:
    """e_pow.c ``zeroinfnan``: the bits ``i`` are +-0, +-inf or NaN."""
    return (i + i - _u64(1)) >= _u64(2 * 0x7FF0000000000000 - 1)


def _checkint(iy: np.ndarray) -> np.ndarray:
    """e_pow.c ``checkint`` of nonzero finite bits: 0 not an integer, 1 odd, 2 even."""
    e = ((iy >> _u64(52)) & _u64(0x7FF)).astype(np.int64)
    shift = np.clip(0x3FF + 52 - e, 0, 63).astype(np.uint64)
    unit = _u64(1) << shift
    out = np.where((iy & unit) != 0, 1, 2)
    out = np.where((iy & (unit - _u64(1))) != 0, 0, out)
    out = np.where(e > 0x3FF + 52, 2, out)
    return np.where(e < 0x3FF, 0, out)


def _pow_flat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ix, iy = x.view(np.uint64), y.view(np.uint64)
    topx = (ix >> _u64(52)).astype(np.int64)
    topy = (iy >> _u64(52)).astype(np.int64) & 0x7FF
    special = ((topx - 1) >= 0x7FE) | (topx < 1) | ((topy - 0x3BE) >= 0x80) | (topy < 0x3BE)
    out = np.empty_like(x)
    sign_bias = np.zeros_like(ix)
    main = ~special
    if np.count_nonzero(special):
        done, values, ix, sign_bias = _pow_special(x, y, special)
        out[done] = values[done]
        main = ~done
    if np.count_nonzero(main):
        where = np.flatnonzero(main)
        out[where] = _pow_main(ix[where], y[where], sign_bias[where])
    return out


def _pow_special(
    x: np.ndarray, y: np.ndarray, special: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """e_pow.c's special cases: which elements are done and their results; for the others
    the normalised bits of ``|x|`` and the sign bias (negative ``x``, odd integer ``y``)."""
    ix, iy = x.view(np.uint64), y.view(np.uint64)
    values = np.zeros_like(x)
    sign_bias = np.zeros_like(ix)
    with np.errstate(all="ignore"):
        x_plus_y = x + y
        y_zin = special & _zero_inf_nan(iy)
        x_signalling = ((ix & _ABS) > _INF_BITS) & ((ix & _QUIET) == 0)
        y_signalling = ((iy & _ABS) > _INF_BITS) & ((iy & _QUIET) == 0)
        nan = ((ix << _u64(1)) > (_INF_BITS << _u64(1))) | (
            (iy << _u64(1)) > (_INF_BITS << _u64(1))
        )
        cases = [
            (iy << _u64(1)) == 0,
            ix == _ONE_BITS,
            nan,
            (ix << _u64(1)) == (_ONE_BITS << _u64(1)),
            ((ix << _u64(1)) < (_ONE_BITS << _u64(1))) == ((iy >> _u64(63)) == 0),
        ]
        choices = [
            np.where(x_signalling, x_plus_y, _ONE),
            np.where(y_signalling, x_plus_y, _ONE),
            x_plus_y,
            _ONE,
            np.zeros_like(x),
        ]
        values = np.where(y_zin, np.select(cases, choices, y * y), values)
        done = y_zin.copy()
        x_zin = special & ~y_zin & _zero_inf_nan(ix)
        negative = special & ~y_zin & ~x_zin & ((ix >> _u64(63)) == 1)
        if np.count_nonzero(x_zin | negative):
            yint = _checkint(iy)
            x2 = x * x
            flip = ((ix >> _u64(63)) == 1) & (yint == 1)
            x2 = np.where(flip, -x2, x2)
            x_values = np.where((iy >> _u64(63)) == 1, _ONE / x2, x2)
            values = np.where(x_zin, x_values, values)
            done |= x_zin
            invalid = negative & (yint == 0)
            values[invalid] = _DEFAULT_NAN.view(np.float64)
            done |= invalid
            sign_bias = np.where(negative & (yint == 1), _POW_SIGN_BIAS, sign_bias)
        ix = np.where(special & ~done, ix & _ABS, ix)
        topy = (iy >> _u64(52)).astype(np.int64) & 0x7FF
        y_edge = special & ~done & (((topy - 0x3BE) >= 0x80) | (topy < 0x3BE))
        one_x = ix == _ONE_BITS
        above = ix > _ONE_BITS
        tiny_y = topy < 0x3BE
        flow = np.where(above == ((iy >> _u64(63)) == 0), np.inf, 0.0)
        y_values = np.where(
            one_x, _ONE, np.where(tiny_y, np.where(above, _ONE + y, _ONE - y), flow)
        )
        values = np.where(y_edge, y_values, values)
        done |= y_edge
        subnormal = special & ~done & ((ix >> _u64(52)) == 0)
        if np.count_nonzero(subnormal):
            scaled = (x[subnormal] * _TWO_52).view(np.uint64) & _ABS
            ix = ix.copy()
            ix[subnormal] = scaled - _u64(52 << 52)
    return done, values, ix, sign_bias


#: The fast pass's |tmp - glibc's tmp| in exp_inline is below _EXP_TMP_ERROR plus
#: _POW_ERROR times |y| * (the magnitudes that bound log_inline's rounding errors) + |elo|
#: (worst case about 6 * 2**-53 of those; measured: the exp part's 2**-61 dominates).
_POW_ERROR = _f64(2.0**-49)


def _pow_main(ix: np.ndarray, y: np.ndarray, sign_bias: np.ndarray) -> np.ndarray:
    """pow of the normalised bits ``ix`` of ``|x|`` and a finite ``y`` (2**-65 <= |y| <
    2**63), the sign of the result in ``sign_bias``."""
    ehi, elo, bound = _pow_log(ix, y, _plain)
    size = np.abs(ehi)
    negative = sign_bias != 0
    # exp_inline gives +-(1 + ehi) == +-1 for |ehi| < 2**-54, +-0 or +-inf for |ehi| >=
    # 1024: taken from the fast ehi away from those edges (glibc's ehi is within a few
    # ulps of it).  At the edges, and around |ehi| == 512 (specialcase from there on),
    # the exact pass.
    out = np.where(negative, -_ONE, _ONE)
    far = size >= _f64(1100.0)
    flow = np.where(ehi < 0, 0.0, np.inf)
    out[far] = np.where(negative, -flow, flow)[far]
    fast = (size >= _f64(2.0**-53)) & (size < _f64(1000.0))
    fast &= (size < _f64(511.0)) | (size >= _f64(513.0))
    p = ehi * _INVLN2N
    fast &= np.abs(p - np.rint(p)) < _KD_DOUBT  # kd is glibc's
    redo = ~fast & ~far & (size >= _f64(2.0**-60))
    if np.count_nonzero(fast):
        w = np.flatnonzero(fast)
        ki, sbits, tmp = _exp_core(ehi[w], _plain, elo[w], sign_bias[w])
        error = _EXP_TMP_ERROR + _POW_ERROR * bound[w]
        out[w], uncertain = _exp_result(tmp, sbits, ki, size[w] >= 512, error)
        redo[w[uncertain]] = True
    if np.count_nonzero(redo):
        w = np.flatnonzero(redo)
        out[w] = _pow_exact(ix[w], y[w], sign_bias[w])
    return out


def _pow_exact(ix: np.ndarray, y: np.ndarray, sign_bias: np.ndarray) -> np.ndarray:
    """pow with a fused multiply-add at every contracted site."""
    ehi, elo, _ = _pow_log(ix, y, _fused)
    abstop = _top12(ehi) & 0x7FF
    negative = sign_bias != 0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        one = _ONE + ehi
        out = np.where(negative, -one, one)  # |ehi| < 2**-54
        flow = np.where(ehi < 0, 0.0, np.inf)
        out = np.where(abstop >= 0x409, np.where(negative, -flow, flow), out)
    formula = (abstop >= 0x3C9) & (abstop < 0x409)
    if np.count_nonzero(formula):
        w = np.flatnonzero(formula)
        ki, sbits, tmp = _exp_core(ehi[w], _fused, elo[w], sign_bias[w])
        out[w] = _exp_exact_result(tmp, sbits, ki, abstop[w] == 0x408)
    return out


def _pow_log(
    ix: np.ndarray, y: np.ndarray, fma_: _Fma
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """e_pow.c ``log_inline`` of the normalised bits ``ix`` times ``y``: ``ehi + elo``
    ~= y * log(x), and the magnitudes that bound the fast pass's error in it."""
    a = data.POW_LOG_POLY
    tmp = ix - _POW_OFF
    i = ((tmp >> _u64(45)) & _EXP_MOD).astype(np.intp)
    k = tmp.view(np.int64) >> 52
    z = (ix - (tmp & _EXPONENT_MASK)).view(np.float64)
    kd = k.astype(np.float64)
    invc = _POW_INVC[i]
    # r = fma(z, invc, -1.0), exactly (it is representable: invc has 8 bits).
    p = z * invc
    r = (p + _MINUS_ONE) + _product_error(
        z, invc, p, (_POW_INVC_SPLIT[0][i], _POW_INVC_SPLIT[1][i])
    )
    t1 = fma_(kd, _LN2HI, _POW_LOGC[i])  # exact product
    t2 = t1 + r
    lo1 = fma_(kd, _LN2LO, _POW_LOGCTAIL[i])
    lo2 = (t1 - t2) + r
    ar = a[0] * r  # a[0] == -0.5: exact
    ar2 = r * ar
    ar3 = r * ar2
    hi = t2 + ar2
    lo3 = _product_error(ar, r, ar2)  # fma(ar, r, -ar2): exactly representable
    lo4 = (t2 - hi) + ar2
    q = fma_(ar2, fma_(fma_(r, a[6], a[5]), ar2, fma_(r, a[4], a[3])), fma_(r, a[2], a[1]))
    s = ((lo1 + lo2) + lo3) + lo4
    lo = fma_(ar3, q, s)
    logx = hi + lo
    tail = (hi - logx) + lo
    ehi = y * logx
    elo = fma_(y, tail, _product_error(logx, y, ehi))  # fma(y, logx, -ehi): exact
    bound = np.abs(y) * (
        np.abs(kd * _LN2LO) + np.abs(lo1) + np.abs(s) + np.abs(ar3) + np.abs(lo) + np.abs(tail)
    ) + np.abs(elo)
    return ehi, elo, bound


# --- cos ---------------------------------------------------------------------------------

#: s_sin.c / usncs.h: the polynomials of do_sin/do_cos (sin and cos of |x| < 1/256) and
#: TAYLOR_SIN (|x| < 0.126), pi/2 as hp0 + hp1, and reduce_sincos's 2/pi and pi/2 in four
#: parts (mp1, mp2, pp3 short enough that their products with n < 2**26 are exact; pp4).
_SN3, _SN5 = (
    _f64(-1.66666666666664880952546298448555e-01),
    _f64(8.33333214285722277379541354343671e-03),
)
_CS2, _CS4, _CS6 = (
    _f64(4.99999999999999999999950396842453e-01),
    _f64(-4.16666666666664434524222570944589e-02),
    _f64(1.38888874007937613028114285595617e-03),
)
_S1, _S2, _S3, _S4, _S5 = (
    _f64(v)
    for v in (
        "-0x1.5555555555555p-3",
        "0x1.1111111110ECEp-7",
        "-0x1.A01A019DB08B8p-13",
        "0x1.71DE27B9A7ED9p-19",
        "-0x1.ADDFFC2FCDF59p-26",
    )
)
_BIG = _f64("0x1.8p45")
_HP0, _HP1 = _f64("0x1.921FB54442D18p0"), _f64("0x1.1A62633145C07p-54")
_MP1, _MP2 = _f64("0x1.921FB58000000p0"), _f64("-0x1.DDE973C000000p-27")
_PP3, _PP4 = _f64("-0x1.CB3B398000000p-55"), _f64("-0x1.d747f23e32ed7p-83")
_HPINV, _TOINT = _f64("0x1.45F306DC9C883p-1"), _f64("0x1.8p52")
_TAYLOR_LIMIT = _f64(0.126)
_HALF = _f64(0.5)


def cos(x: npt.ArrayLike) -> Any:
    """``cos(x)`` in float64, as glibc's ``cos`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``s_sin.c``, ``usncs.h``; ``sincostab.c``: sin and cos of
    j/128, each as a double and a correction, for j = 0..109)::

        if |x| < 2**-27:  return 1.0
        if |x| < 0.855469:  return do_cos(x, 0)
        if |x| < 2.426265:                        # cos(x) = sin(pi/2 - |x|)
            y = hp0 - |x|;  a = y + hp1;  da = (y - a) + hp1
            return do_sin(a, da)
        n, a, da = reduce_sincos(x) if |x| < 105414350 else branred(x)
        y = do_cos(a, da) if n is even else do_sin(a, da)   # n + 1 odd / even
        return -y if (n + 1) & 2 else y

        do_cos(a, da):    # j = round(|a| * 128), x = |a| - j/128 + da (sign-adjusted)
            s = fma(x * xx, fma(xx, SN5, SN3), x)          # sin(x), xx = x * x
            c = xx * fma(xx, fma(xx, CS6, CS4), CS2)        # 1 - cos(x)
            cor = fma(-s, sn, fma(-c, cs, fma(-s, ssn, ccs)))
            return cs + cor
        do_sin(a, da):    # |a| < 0.126: TAYLOR_SIN
            t = fma(a*a, fma(poly(a*a), a, -0.5*da), da);  return a + t
                          # else, x = |a| - j/128, dx = +-da
            s = x + fma(x * xx, fma(xx, SN5, SN3), dx)
            c = fma(x, dx, xx * fma(xx, fma(xx, CS6, CS4), CS2))
            cor = fma(s, cs, fma(-c, sn, fma(s, ccs, ssn)))
            return copysign(sn + cor, a)
        reduce_sincos(x):  # n = round(x * 2/pi), ties to even
            t = fma(x, hpinv, toint);  xn = t - toint
            y = fma(-xn, mp2, fma(-xn, mp1, x))            # exact products
            t2 = fma(-xn, pp3, y);  db = fma(-xn, pp3, y - t2)
            a = fma(-xn, pp4, t2);  da = db + fma(-xn, pp4, t2 - a)

    The contractions in ``__cos_fma``: seven in ``reduce_sincos``, seven in ``do_cos``,
    eight in ``do_sin``, six in ``TAYLOR_SIN`` (``vfmadd``, ``vfnmadd``, ``vfmsub``; the
    sums with ``cs``, ``sn`` and ``a`` at the end are plain).  ``__branred`` (|x| >=
    105414350: x times 2/pi from ``toverp``, 75 digits of base 2**24) is the generic
    build, plain arithmetic, reproduced as is.  ``inf`` gives x86's default NaN, a NaN
    comes back quiet.  glibc documents 0.548 ulp.

    >>> cos(1.0)
    np.float64(0.5403023058681398)
    >>> cos(np.array([0.0, np.pi / 2, 1e22, np.inf]))
    array([1.00000000e+00, 6.12323400e-17, 5.23214785e-01,            nan])
    """
    a = _float64(x, "cos", "x")
    return _blockwise(_cos_flat, a.reshape(-1)).reshape(a.shape)[()]


def _cos_flat(x: np.ndarray) -> np.ndarray:
    k = ((x.view(np.uint64) >> _u64(32)) & _u64(0x7FFFFFFF)).astype(np.int64)
    out = np.ones_like(x)  # |x| < 2**-27
    small = (k >= 0x3E400000) & (k < 0x3FEB6000)  # |x| < 0.855469: do_cos(x, 0)
    middle = (k >= 0x3FEB6000) & (k < 0x400368FD)  # < 2.426265: do_sin(pi/2 - |x|)
    reduce = (k >= 0x400368FD) & (k < 0x419921FB)  # < 105414350: reduce_sincos
    huge = (k >= 0x419921FB) & (k < 0x7FF00000)  # finite: __branred
    nonfinite = k >= 0x7FF00000
    if np.count_nonzero(nonfinite):
        with np.errstate(invalid="ignore"):
            out[nonfinite] = x[nonfinite] / x[nonfinite]
    if np.count_nonzero(small):
        xs = x[small]
        out[small] = _sincos(xs, np.where(xs < 0, -0.0, 0.0), np.ones(xs.size, np.int64))
    if np.count_nonzero(middle):
        y = _HP0 - np.abs(x[middle])  # exact
        a = y + _HP1
        out[middle] = _sincos(a, (y - a) + _HP1, np.zeros(a.size, np.int64))
    for where, reduction in ((reduce, _reduce_sincos), (huge, _branred)):
        if np.count_nonzero(where):
            n, a, da = reduction(x[where])
            out[where] = _sincos(a, da, n + 1)
    return out


def _sincos(a: np.ndarray, da: np.ndarray, n: np.ndarray) -> np.ndarray:
    """s_sin.c ``do_sincos(a, da, n)``: do_cos if n is odd, else do_sin, negated if
    ``n & 2``; each with its fast pass, certified, and its exact pass where not."""
    odd = (n & 1) == 1
    taylor = ~odd & (np.abs(a) < _TAYLOR_LIMIT)
    out = np.empty_like(a)
    for where, kernel in ((odd, _do_cos), (~odd & ~taylor, _do_sin), (taylor, _taylor_sin)):
        if np.count_nonzero(where):
            w = np.flatnonzero(where)
            values = _certified_sum(kernel, _COS_ERROR, a[w], da[w])
            if kernel is _do_sin:
                values = np.copysign(values, a[w])
            out[w] = values
    return np.where((n & 2) == 2, -out, out)


#: The fast pass's |cor - glibc's cor| is below _COS_ERROR times the magnitudes that
#: bound its rounding errors (do_cos: |s*sn| + 2|c| + |cor|; do_sin: |s*cs| + 2|c| +
#: |cor|; TAYLOR_SIN: |t| + |a**3|/4): at most 3.5 * 2**-53 times those by a worst-case
#: count, at most 1.6 * 2**-53 measured on 10**6 inputs per path.
_COS_ERROR = _f64(2.0**-50)


def _table_row(ax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``u = big + |x|`` rounds ``|x|`` to j/128: the table row j and ``|x| - j/128``."""
    u = ax + _BIG
    j = (u.view(np.uint64) & _u64(0xFFFFFFFF)).astype(np.intp)
    return j, ax - (u - _BIG)


def _do_cos(a: np.ndarray, da: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s_sin.c ``do_cos(a, da)``: ``cs`` and ``cor`` with cos(a + da) == cs + cor rounded,
    and the magnitudes that bound the fast pass's error in ``cor``."""
    dx = np.where(a < 0, -da, da)
    j, x = _table_row(np.abs(a))
    x = x + dx
    sn, ssn, cs, ccs = data.SINCOS_TABLE[j].T
    xx = x * x
    s = fma_(x * xx, fma_(xx, _SN5, _SN3), x)
    c = xx * fma_(xx, fma_(xx, _CS6, _CS4), _CS2)
    cor = fma_(-s, sn, fma_(-c, cs, fma_(-s, ssn, ccs)))
    return cs, cor, np.abs(s * sn) + 2 * np.abs(c) + np.abs(cor)


def _do_sin(a: np.ndarray, da: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s_sin.c ``do_sin(a, da)`` for ``|a| >= 0.126``: ``sn`` and ``cor`` with sin(|a| +
    da) == sn + cor rounded (the caller gives it a's sign), and the error bound's terms."""
    dx = np.where(a <= 0, -da, da)
    j, x = _table_row(np.abs(a))
    sn, ssn, cs, ccs = data.SINCOS_TABLE[j].T
    xx = x * x
    s = x + fma_(x * xx, fma_(xx, _SN5, _SN3), dx)
    c = fma_(x, dx, xx * fma_(xx, fma_(xx, _CS6, _CS4), _CS2))
    cor = fma_(s, cs, fma_(-c, sn, fma_(s, ccs, ssn)))
    return sn, cor, np.abs(s * cs) + 2 * np.abs(c) + np.abs(cor)


def _taylor_sin(
    a: np.ndarray, da: np.ndarray, fma_: _Fma
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s_sin.c ``TAYLOR_SIN(a*a, a, da)`` (``|a| < 0.126``): ``a`` and ``t`` with sin(a +
    da) == a + t rounded, and the error bound's terms."""
    xx = a * a
    poly = fma_(fma_(fma_(fma_(xx, _S5, _S4), xx, _S3), xx, _S2), xx, _S1)
    t = fma_(xx, fma_(poly, a, -(_HALF * da)), da)
    return a, t, np.abs(t) + np.abs(xx * a) * 0.25


def _reduce_sincos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s_sin.c ``reduce_sincos`` (|x| < 105414350): the quadrant n and x - n*pi/2 as a + da.
    Exact in the fast pass too: the products with mp1, mp2 and pp3 are exact, the two
    with pp4 fused exactly; the quadrant is recomputed fused where x*2/pi is near a
    half-integer."""
    t = x * _HPINV + _TOINT  # fma(x, hpinv, toint)
    p = x * _HPINV
    doubt = np.abs(p - np.rint(p)) >= _KD_DOUBT
    if np.count_nonzero(doubt):
        t[doubt] = _fused(x[doubt], _HPINV, _TOINT)
    xn = t - _TOINT
    n = (t.view(np.uint64) & _u64(3)).astype(np.int64)
    y = (x - xn * _MP1) - xn * _MP2  # exact products: fma == plain
    t1 = xn * _PP3
    t2 = y - t1
    db = (y - t2) - t1
    b = _fused(-xn, _PP4, t2)
    da = db + _fused(-xn, _PP4, t2 - b)
    return n, b, da


#: branred.h: 2**-600, 2**576, 2**-24, 1.5 * 2**52 and 1.5 * 2**54 (rounding to integers and
#: to multiples of 4), Veltkamp's 2**27 + 1, and its own pi/2 = hp0 + hp1 = mp1 + mp2.
_TWO_M600, _TWO_576, _TWO_M24 = _f64(2.0**-600), _f64(2.0**576), _f64(2.0**-24)
_BIG1 = _f64("0x1.8p54")
_BRANRED_MP1 = np.array(0x3FF921FB58000000, np.uint64).view(np.float64)
_BRANRED_MP2 = np.array(0xBE4DDE9740000000, np.uint64).view(np.float64)
_DIGITS = np.arange(6)


def _branred_part(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One half of branred.c: ``x`` times 2/pi (base-2**24 digits from ``toverp``, from the
    one matching x's exponent on) as ``sum`` (a multiple of 4 removed) + ``b`` + ``bb``."""
    e = ((x.view(np.uint64) >> _u64(52)) & _u64(2047)).astype(np.int64)
    k = np.where(e < 450, 0, (e - 450) // 24)
    gor = _TWO_576 * np.ldexp(1.0, -24 * k)  # t576 with k*24 off its exponent
    scales = gor[:, None] * np.ldexp(1.0, -24 * _DIGITS)  # gor, gor * tm24, ...: exact
    r = (x[:, None] * data.TOVERP[k[:, None] + _DIGITS]) * scales
    total = np.zeros_like(x)
    for i in range(3):
        s = (r[:, i] + _SHIFT) - _SHIFT
        total = total + s
        r[:, i] = r[:, i] - s
    t = np.zeros_like(x)
    for i in range(6):
        t = t + r[:, 5 - i]
    bb = r[:, 0] - t
    for i in range(1, 6):
        bb = bb + r[:, i]
    s = (t + _SHIFT) - _SHIFT
    total = total + s
    t = t - s
    b = t + bb
    bb = (t - b) + bb
    s = (total + _BIG1) - _BIG1
    return total - s, b, bb


def _branred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """branred.c ``__branred`` (|x| >= 105414350; generic build, no fma): the quadrant n
    and x - n*pi/2 as a + da, from x split in two halves of 26 bits."""
    x = x * _TWO_M600
    t = x * _VELTKAMP
    x1 = t - (t - x)
    x2 = x - x1
    sum1, b1, bb1 = _branred_part(x1)
    sum2, b2, bb2 = _branred_part(x2)
    total = sum1 + sum2
    b = b1 + b2
    bb = np.where(np.abs(b1) > np.abs(b2), (b1 - b) + b2, (b2 - b) + b1)
    up, down = b > _HALF, b < -_HALF
    b = np.where(up, b - _ONE, np.where(down, b + _ONE, b))
    total = np.where(up, total + _ONE, np.where(down, total - _ONE, total))
    s = b + ((bb + bb1) + bb2)
    t = ((b - s) + bb) + (bb1 + bb2)
    b = s * _VELTKAMP
    t1 = b - (b - s)
    t2 = s - t1
    b = s * _HP0
    bb = (((t1 * _BRANRED_MP1 - b) + t1 * _BRANRED_MP2) + t2 * _BRANRED_MP1) + (
        (t2 * _BRANRED_MP2 + s * _HP1) + t * _HP0
    )
    s = b + bb
    t = (b - s) + bb
    return total.astype(np.int64) & 3, s, t
