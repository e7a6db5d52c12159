"""glibc's float32 ``expf``, ``exp2f``, ``logf``, ``cosf`` and ``powf``, bit for bit, in NumPy.

TensorFlow's CPU kernels evaluate ``tf.math.exp/log/cos/pow`` of a float32 scalar (and of
tensors of fewer than 16 elements) with the C library; XLA:CPU calls ``cosf``, ``powf``
and ``exp2f`` (LLVM's rewrite of ``pow(2**k, x)``).  These are NumPy reproductions of
glibc's functions as x86_64 runs them: the multiarch ifunc picks the FMA builds when the
CPU has FMA and AVX2 (``__expf_fma``, ``__exp2f_fma``, ``__logf_fma``, ``__cosf_fma``,
``__powf_fma``: the generic C of ``sysdeps/ieee754/flt-32``, from ARM's
optimized-routines, compiled with ``-mfma -mavx2``), in which GCC contracted ``a*b + c`` into fused multiply-adds.
Each function runs glibc's algorithm with its tables and polynomials, rounding as
``libm.so.6`` does at every step: an exact ``fma`` at each contracted site (found by
disassembling ``libm.so.6``; listed in each docstring).  The algorithms are the same
from glibc 2.29 to 2.42.

Inputs are float32 (anything :func:`numpy.asarray` makes float32); the result is
float32 of the broadcast shape, a NumPy scalar for scalar inputs.  Special values --
NaN (payload and sign included), infinities, signed zeros, subnormal inputs and results,
overflow and underflow -- are glibc's.  Not reproduced: errno and the floating-point
exception flags.  TensorFlow's CPU kernels run with subnormals flushed to zero (inputs
and results): to reproduce TensorFlow, pass the inputs through
:func:`refimpl.numpy_ops.flush_subnormals` first (``logf`` of a subnormal is then
``-inf``, ``powf`` of one ``0 ** y``) and the results after.

How the fused multiply-adds are computed.  An exact ``fma`` out of float64 operations
(:func:`refimpl.kernels.fma.fma`) takes some 40 NumPy passes, and a function has up to
nine sites.  But only the float32 rounding of the final double reaches the caller, so
each function evaluates one formula, written once with the ``fma`` passed in, in up to
two passes:

1. a fast pass computes every contracted ``a*b + c`` as ``a*b + c`` (rounded twice) --
   except in the argument reductions, where the fused rounding decides a quadrant, a
   table index or a cancellation; those are exact in a few operations (a constant split
   into a high part whose product with a float32 is exact, and a low part; or a table of
   the exact values).  Its double result is then within a few double ulps of glibc's
   (measured: 2 for expf and cosf, 1 for logf; powf see there);
2. elements within ``_TIE_ULPS`` double ulps of a point halfway between two float32
   (about one in 2**18) are recomputed with the exact ``fma`` at every site: all of a
   call's at once, after the fast pass has run block by block over the whole call.

Checked against the C library: all 2**32 inputs of ``expf``, ``exp2f``, ``logf`` and
``cosf`` (0 differences; the fast pass alone would also have matched everywhere: only the
fused reductions change float32 results, e.g. ``expf(0x1.04845ep+5)`` and
``cosf(0x1.8abf54p+6)``; ``exp2f``'s reduction is plain, so its fused polynomial never
changes a float32 result), and 2 * 10**7 inputs of each function
(``benchmarks/scan_glibc_kernels.py``).

Source: glibc 2.36 ``sysdeps/ieee754/flt-32/``: ``e_expf.c``, ``e_exp2f.c``, ``e_exp2f_data.c``,
``e_logf.c``, ``e_logf_data.c``, ``e_powf.c``, ``e_powf_log2_data.c``, ``s_cosf.c``,
``s_sincosf.h``, ``math_config.h``, ``math_errf.c``; ``sysdeps/x86/fpu/``:
``sincosf_poly.h``, ``s_sincosf_data.c``; ``sysdeps/x86_64/fpu/multiarch/``:
``ifunc-fma.h``, ``{e_expf,e_exp2f,e_logf,e_powf,s_cosf}-fma.c``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl.kernels._arrays import NOWHERE, checked, two_pass
from refimpl.kernels.fma import fma

__all__ = ["cosf", "exp2f", "expf", "logf", "powf"]

_Fma = Callable[[Any, Any, Any], Any]

#: A double result this many double ulps from a float32 rounding midpoint is recomputed
#: with exact fused multiply-adds: the fast pass is at most 2 ulps off (512x margin).
_TIE_ULPS = 1 << 10
#: Elements per block: the float64 temporaries of a block stay in the L2 cache.
_BLOCK = 1 << 15


def _f64(value: float | str) -> np.ndarray:
    """A float64 constant as a 0-d array (NumPy takes it faster than a Python float)."""
    return np.array(float.fromhex(value) if isinstance(value, str) else value, np.float64)


def _u32(value: int) -> np.ndarray:
    return np.array(value, np.uint32)


def _u64(value: int) -> np.ndarray:
    return np.array(value, np.uint64)


def _split(value: float, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``value == hi + lo`` exactly, ``hi`` its first ``bits`` significant bits."""
    mantissa, exponent = np.frexp(value)
    hi = float(np.ldexp(np.trunc(np.ldexp(mantissa, bits)), exponent - bits))
    return _f64(hi), _f64(value - hi)


def _plain(a: Any, b: Any, c: Any) -> Any:
    """The fast pass's stand-in for ``fma``: ``a*b + c``, rounded twice."""
    return a * b + c


_SIGN, _ABS = _u32(0x80000000), _u32(0x7FFFFFFF)
_INF_BITS, _ONE_BITS = _u32(0x7F800000), _u32(0x3F800000)
_QUIET = _u32(0x00400000)  # the quiet bit of a float32 NaN
_DEFAULT_NAN = _u32(0xFFC00000)  # x86's NaN for an invalid operation (0/0, inf - inf)
_ZERO_F32 = np.array(0, np.float32)


def _float32(value: npt.ArrayLike, function: str, name: str) -> np.ndarray:
    """``value`` as a native float32 array, or a ValueError naming the argument."""
    return checked(value, np.float32, function, name)


_Kernel = Callable[..., tuple[np.ndarray, np.ndarray]]


def _blockwise(kernel: _Kernel, *arrays: np.ndarray) -> np.ndarray:
    """Run ``kernel`` (elementwise) on the equally long 1-d ``arrays``: its fast pass block
    by block (the float64 temporaries stay in the cache), then its exact pass once, on the
    elements the fast pass could not decide.  ``kernel(*arrays, fma_)`` returns the float32
    results and the indices to redo (none when ``fma_`` is the exact ``fma``)."""
    return two_pass(
        lambda *blocks: kernel(*blocks, _plain),
        lambda *undecided: kernel(*undecided, fma)[0],
        *arrays,
        block=_BLOCK,
        dtype=np.float32,
    )


def _quiet(bits: np.ndarray) -> np.ndarray:
    """The float32 NaN with ``bits`` made quiet, as an x86 arithmetic operation returns it."""
    return (bits | _QUIET).view(np.float32)


_LOW_29_BITS = _u64((1 << 29) - 1)
_NEAR_TEST: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _near_test(ulps: int) -> tuple[np.ndarray, np.ndarray]:
    """The offset and limit with which ``(bits + offset) & _LOW_29_BITS <= limit`` says that
    a double is within ``ulps`` of a float32 midpoint (a wrap-around compare)."""
    _NEAR_TEST[ulps] = _u64((ulps - (1 << 28)) % 2**64), _u64(2 * ulps)
    return _NEAR_TEST[ulps]


def _to_float32(
    y: np.ndarray,
    fma_: _Fma,
    *,
    ulps: int = _TIE_ULPS,
    doubt: np.ndarray | None = None,
    tiny_results: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The double ``y`` rounded to float32, and -- in the fast pass (``fma_`` is
    ``_plain``) -- the indices of the elements within ``ulps`` double ulps of a float32
    rounding midpoint (or flagged in ``doubt``), which the exact pass must redo.

    The float32 rounding of a double is decided by its 29 low mantissa bits, with
    ``0x10000000`` the midpoint, where the result is a normal float32: one add, one mask
    and one compare find the elements near it.  Below 2**-126 (only where
    ``tiny_results``) the midpoints are the odd multiples of 2**-150."""
    if fma_ is not _plain:
        return y.astype(np.float32), NOWHERE
    offset, limit = _NEAR_TEST.get(ulps) or _near_test(ulps)
    low = y.view(np.uint64) + offset
    low &= _LOW_29_BITS
    near = low <= limit
    if tiny_results:
        magnitude = np.abs(y)
        tiny = magnitude < 2.0**-126
        if np.count_nonzero(tiny):
            tiny = np.flatnonzero(tiny)
            scaled = magnitude[tiny] * 2.0**149  # exact; the midpoints are half-integers
            off = np.abs(scaled - (np.floor(scaled) + 0.5))
            near[tiny] = off <= ulps * 2.0**-52 * scaled
    if doubt is not None:
        near |= doubt
    return y.astype(np.float32), np.flatnonzero(near) if np.count_nonzero(near) else NOWHERE


# --- expf --------------------------------------------------------------------------------

#: e_exp2f_data.c (``EXP2F_TABLE_BITS = 5``): ``tab[i] = asuint64(2**(i/32)) - (i << 47)``.
_EXP2F_TABLE = np.array(
    [
        0x3FF0000000000000, 0x3FEFD9B0D3158574, 0x3FEFB5586CF9890F, 0x3FEF9301D0125B51,
        0x3FEF72B83C7D517B, 0x3FEF54873168B9AA, 0x3FEF387A6E756238, 0x3FEF1E9DF51FDEE1,
        0x3FEF06FE0A31B715, 0x3FEEF1A7373AA9CB, 0x3FEEDEA64C123422, 0x3FEECE086061892D,
        0x3FEEBFDAD5362A27, 0x3FEEB42B569D4F82, 0x3FEEAB07DD485429, 0x3FEEA47EB03A5585,
        0x3FEEA09E667F3BCD, 0x3FEE9F75E8EC5F74, 0x3FEEA11473EB0187, 0x3FEEA589994CCE13,
        0x3FEEACE5422AA0DB, 0x3FEEB737B0CDC5E5, 0x3FEEC49182A3F090, 0x3FEED503B23E255D,
        0x3FEEE89F995AD3AD, 0x3FEEFF76F2FB5E47, 0x3FEF199BDD85529C, 0x3FEF3720DCEF9069,
        0x3FEF5818DCFBA487, 0x3FEF7C97337B9B5F, 0x3FEFA4AFA2A490DA, 0x3FEFD0765B6E4540,
    ],
    dtype=np.uint64,
)  # fmt: skip
_EXP2F_MOD, _EXP2F_SHIFT_BITS = _u64(31), _u64(47)
#: e_exp2f_data.c: ``invln2_scaled`` = 32/ln(2), split (26 high bits: exact times a
#: float32), and ``poly_scaled``, the cubic for 2**(r/32) in r.
_INVLN2_32 = 32 * float.fromhex("0x1.71547652b82fep+0")
_INVLN2_32_HI, _INVLN2_32_LO = _split(_INVLN2_32, 26)
_EXPF_C0 = _f64(float.fromhex("0x1.c6af84b912394p-5") / 32**3)
_EXPF_C1 = _f64(float.fromhex("0x1.ebfce50fac4f3p-3") / 32**2)
_EXPF_C2 = _f64(float.fromhex("0x1.62e42ff0c52d6p-1") / 32)
_ONE, _HALF = _f64(1.0), _f64(0.5)
#: e_expf.c, on the bits of x: |x| >= 88 (``top12(88.0f)``), and the thresholds of
#: overflow (x > 0x1.62e42ep6), underflow to 0 (x < -0x1.9fe368p6) and to 2**-149
#: (x < -0x1.9d1d9ep6): larger bits are more negative below zero.
_EXPF_SPECIAL = _u32(0x42B00000)
_EXPF_FLOWS = (
    _u32(int(np.float32(float.fromhex("0x1.62e42ep6")).view(np.uint32))),
    _u32(int(np.float32(float.fromhex("-0x1.9fe368p6")).view(np.uint32))),
    _u32(int(np.float32(float.fromhex("-0x1.9d1d9ep6")).view(np.uint32))),
)


def expf(x: npt.ArrayLike) -> Any:
    """``exp(x)`` in float32, as glibc's ``expf`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``e_expf.c``, ``EXP2F_TABLE_BITS = 5``: a table of 32
    values of 2**(i/32), and a cubic, ``e_exp2f_data.c``)::

        xd = float64(x)
        kd = fma(InvLn2N, xd, SHIFT) - SHIFT   # k = round(x * 32/ln(2)), ties to even
        r = fma(InvLn2N, xd, -kd)              # x*32/ln(2) - k, in [-1/2, 1/2]
        s = asdouble(T[k % 32] + (k << 47))    # 2**(k/32)
        z = fma(C0, r, C1)
        y = fma(C2, r, 1.0)
        y = fma(z, r * r, y)                   # 2**(r/32) = 1 + C2*r + C1*r**2 + C0*r**3
        return float32(y * s)

    with ``InvLn2N = 32/ln(2)`` and ``SHIFT = 1.5 * 2**52``.  The five ``fma`` are
    GCC's contractions in ``__expf_fma`` (``vfmadd132sd``, ``vfmsub132sd``,
    ``vfmadd213sd``, ``vfmadd132sd``, ``vfmadd132sd``); ``r * r`` and ``y * s`` are
    plain.  Special cases, decided on the float32 ``x`` where ``|x| >= 88``: ``-inf ->
    0``, ``+inf`` and NaN give ``x + x`` (NaN: made quiet); ``x > 0x1.62e42ep6 -> inf``,
    ``x < -0x1.9fe368p6 -> 0``, ``x < -0x1.9d1d9ep6 -> 2**-149``; other ``x`` take the
    formula, down to subnormal results.  glibc documents 0.502 ulp (relative error
    1.69 * 2**-34 before the rounding).  TensorFlow flushes subnormal inputs and results
    to zero: flush around this call to reproduce it.  errno and the floating-point flags
    are not reproduced.

    Here the reduction is exact in eleven operations: with ``InvLn2N = hi + lo`` (``hi``
    of 26 bits, so ``xd*hi`` is exact), ``p = xd*InvLn2N`` has the exact error ``e =
    (xd*hi - p) + xd*lo``; ``k = rint(p)`` (where ``p`` is a half-integer, which the
    exact product never is, ``e`` breaks the tie); and ``r = (p - k) + e`` rounds once.

    >>> expf(np.float32(1.0))
    np.float32(2.7182817)
    >>> expf(np.array([0.0, -np.inf, 89.0, -103.5, -87.5], dtype=np.float32))
    array([1.000000e+00, 0.000000e+00,          inf, 1.401298e-45,
           9.982351e-39], dtype=float32)
    """
    a = _float32(x, "expf", "x")
    return _blockwise(_expf_flat, a.reshape(-1)).reshape(a.shape)[()]


def _expf_flat(a: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray]:
    """expf of the 1-d ``a``: the fast pass (``fma_`` is ``_plain``) or the exact one."""
    return _exp_like_flat(a, fma_, _EXPF_SPECIAL, _EXPF_FLOWS, _expf_double)


def _exp_like_flat(
    a: np.ndarray,
    fma_: _Fma,
    special: np.ndarray,
    flows: tuple[Any, Any, Any],
    double: Callable[..., Any],
) -> tuple[np.ndarray, np.ndarray]:
    """expf or exp2f of ``a`` (as ``_expf_flat``): the special cases where glibc's top12
    test sends ``x`` (at least ``special``), then ``double(xd, fma_)``, glibc's double
    before the rounding."""
    bits = a.view(np.uint32)
    done = None
    if np.count_nonzero((bits & _u32(0x7FF00000)) >= special):  # glibc's top12 test
        done, values = _exp_special(a, bits, flows)
        if done is not None:
            if np.count_nonzero(done) == a.size:
                return values, NOWHERE
            a = np.where(done, _ZERO_F32, a)  # no arithmetic on a signalling NaN
    out, redo = _to_float32(double(a.astype(np.float64), fma_), fma_, tiny_results=True)
    if done is not None:
        np.copyto(out, values, where=done)
    return out, redo


def _exp_special(a: np.ndarray, bits: np.ndarray, flows: tuple[Any, Any, Any]) -> tuple[Any, Any]:
    """e_expf.c's and e_exp2f.c's special cases, on the bits: where ``x`` (``|x|`` at least
    88, resp. 128) does not take the formula (None if nowhere), and the results there.
    ``flows`` are the float32 bits above which ``x`` overflows, underflows to 0 and
    underflows to 2**-149 (larger bits are more negative below zero)."""
    overflow_bits, underflow_bits, may_underflow_bits = flows
    nonfinite = (bits & _INF_BITS) == _INF_BITS
    overflow = (bits > overflow_bits) & (bits < _SIGN)  # __math_oflowf(0): inf
    underflow = bits > may_underflow_bits  # may underflow, or -inf or -NaN
    done = nonfinite | overflow | underflow
    if not np.count_nonzero(done):
        return None, None
    x_plus_x = np.where((bits & _ABS) > _INF_BITS, _quiet(bits), a)  # inf or a quiet NaN
    cases = [
        bits == _u32(0xFF800000),  # -inf: 0
        nonfinite,  # +inf, NaN: x + x
        overflow,
        bits > underflow_bits,  # __math_uflowf(0): 0x1p-95f * 0x1p-95f == 0
        underflow,  # __math_may_uflowf(0): 0x1.4p-75f * 0x1.4p-75f == 2**-149
    ]
    values = np.select(cases, [0, x_plus_x, np.inf, 0, 2.0**-149])
    return done, values.astype(np.float32)


def _expf_double(xd: np.ndarray, fma_: _Fma) -> np.ndarray:
    """glibc's double ``y * s`` of ``xd`` (``|x| < 104``), before the rounding to float32."""
    p = xd * _INVLN2_32
    e = (xd * _INVLN2_32_HI - p) + xd * _INVLN2_32_LO  # p + e == xd*InvLn2N exactly
    kd = np.rint(p)
    h = p - kd  # exact
    halfway = np.abs(h) == _HALF
    if np.count_nonzero(halfway):  # round(p + e): e (!= 0) breaks the tie
        kd[halfway] = p[halfway] + np.copysign(0.5, e[halfway])
        h = p - kd
    r = h + e  # fma(InvLn2N, xd, -kd)
    k = kd.astype(np.int64).view(np.uint64)
    s = (_EXP2F_TABLE[k & _EXP2F_MOD] + (k << _EXP2F_SHIFT_BITS)).view(np.float64)
    z = fma_(_EXPF_C0, r, _EXPF_C1)
    y = fma_(_EXPF_C2, r, _ONE)
    y = fma_(z, r * r, y)
    return y * s


# --- exp2f -------------------------------------------------------------------------------

#: e_exp2f_data.c: ``shift_scaled`` = 1.5 * 2**52 / 32, and ``poly``, the cubic for 2**r.
_EXP2F_SHIFT = _f64(1.5 * 2**47)
_EXP2F_C0, _EXP2F_C1, _EXP2F_C2 = (
    _f64(v) for v in ("0x1.c6af84b912394p-5", "0x1.ebfce50fac4f3p-3", "0x1.62e42ff0c52d6p-1")
)
#: e_exp2f.c, on the bits of x: |x| >= 128 (``top12(128.0f)``), and the thresholds of
#: overflow (any x > 0 there), underflow to 0 (x <= -150) and to 2**-149 (x < -149).
_EXP2F_SPECIAL = _u32(0x43000000)
_U64_ZERO = _u64(0)
_EXP2F_FLOWS = (
    _u32(0x42FFFFFF),
    _u32(int(np.float32(-150).view(np.uint32)) - 1),
    _u32(int(np.float32(-149).view(np.uint32))),
)


def exp2f(x: npt.ArrayLike) -> Any:
    """``2 ** x`` in float32, as glibc's ``exp2f`` (x86_64 FMA build) computes it.

    XLA:CPU calls it where LLVM rewrites ``pow(2**k, x)`` into ``exp2(k*x)``.  The
    algorithm (glibc 2.36 ``e_exp2f.c``, with expf's table of 2**(i/32) and the cubic
    ``poly`` for 2**r, ``e_exp2f_data.c``)::

        xd = float64(x)
        kd = xd + SHIFT                        # SHIFT = 1.5 * 2**52 / 32: rounds xd to k/32
        ki = asuint64(kd); kd -= SHIFT
        r = xd - kd                            # exact, in [-1/64, 1/64]
        s = asdouble(T[ki % 32] + (ki << 47))  # 2**(k/32)
        z = fma(C0, r, C1)
        y = fma(C2, r, 1.0)
        y = fma(z, r * r, y)                   # 2**r = 1 + C2*r + C1*r**2 + C0*r**3
        return float32(y * s)

    The three ``fma`` are GCC's contractions in ``__exp2f_fma`` (``vfmadd213sd``,
    ``vfmadd132sd``, ``vfmadd132sd``); the reduction (``vaddsd``, ``vsubsd``), ``r * r``
    and ``y * s`` are plain.  Special cases, decided on the float32 ``x`` where ``|x| >=
    128``: ``-inf -> 0``, ``+inf`` and NaN give ``x + x`` (NaN: made quiet); ``x > 0 ->
    inf``, ``x <= -150 -> 0``, ``x < -149 -> 2**-149``; ``x`` in ``[-149, -128]`` takes
    the formula (subnormal results).  glibc documents 0.502 ulp (relative error 1.69 *
    2**-34 before the rounding).  TensorFlow flushes subnormal inputs and results to zero
    (XLA's code runs in its threads): flush around this call to reproduce it.  errno and
    the floating-point flags are not reproduced.

    The reduction is exact in NumPy too, so only the polynomial's fused roundings are
    redone, near a float32 rounding midpoint.

    >>> exp2f(np.float32(0.5))
    np.float32(1.4142135)
    >>> exp2f(np.array([3.0, -np.inf, 128.0, -149.5, -150.0], dtype=np.float32))
    array([8.e+00, 0.e+00,    inf, 1.e-45, 0.e+00], dtype=float32)
    """
    a = _float32(x, "exp2f", "x")
    return _blockwise(_exp2f_flat, a.reshape(-1)).reshape(a.shape)[()]


def _exp2f_flat(a: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray]:
    """exp2f of the 1-d ``a``: the fast pass (``fma_`` is ``_plain``) or the exact one."""
    return _exp_like_flat(
        a, fma_, _EXP2F_SPECIAL, _EXP2F_FLOWS, lambda xd, f: _exp2f_double(xd, _U64_ZERO, f)[0]
    )


def _exp2f_double(xd: np.ndarray, sign_bias: Any, fma_: _Fma) -> tuple[np.ndarray, np.ndarray]:
    """glibc's double ``2**xd`` (``|xd| < 151``; e_exp2f.c, and ``exp2_inline`` of
    e_powf.c, whose ``sign_bias`` lands in the sign bit) before the rounding to float32,
    and the reduced argument ``r``."""
    shifted = xd + _EXP2F_SHIFT  # k/32 in the low bits of the mantissa
    ki = shifted.view(np.uint64)
    r = xd - (shifted - _EXP2F_SHIFT)
    t = _EXP2F_TABLE[ki & _EXP2F_MOD] + ((ki + sign_bias) << _EXP2F_SHIFT_BITS)
    z = fma_(_EXP2F_C0, r, _EXP2F_C1)
    return fma_(z, r * r, fma_(_EXP2F_C2, r, _ONE)) * t.view(np.float64), r


# --- logf --------------------------------------------------------------------------------

#: e_logf_data.c (``LOGF_TABLE_BITS = 4``): (1/c, log(c)) for the 16 subintervals of
#: [OFF, 2*OFF), OFF = 0x3f330000 (0.6992...), c near each centre.
_LOGF_TABLE = [
    ("0x1.661ec79f8f3bep+0", "-0x1.57bf7808caadep-2"),
    ("0x1.571ed4aaf883dp+0", "-0x1.2bef0a7c06ddbp-2"),
    ("0x1.49539f0f010bp+0", "-0x1.01eae7f513a67p-2"),
    ("0x1.3c995b0b80385p+0", "-0x1.b31d8a68224e9p-3"),
    ("0x1.30d190c8864a5p+0", "-0x1.6574f0ac07758p-3"),
    ("0x1.25e227b0b8eap+0", "-0x1.1aa2bc79c81p-3"),
    ("0x1.1bb4a4a1a343fp+0", "-0x1.a4e76ce8c0e5ep-4"),
    ("0x1.12358f08ae5bap+0", "-0x1.1973c5a611cccp-4"),
    ("0x1.0953f419900a7p+0", "-0x1.252f438e10c1ep-5"),
    ("0x1p+0", "0x0p+0"),
    ("0x1.e608cfd9a47acp-1", "0x1.aa5aa5df25984p-5"),
    ("0x1.ca4b31f026aap-1", "0x1.c5e53aa362eb4p-4"),
    ("0x1.b2036576afce6p-1", "0x1.526e57720db08p-3"),
    ("0x1.9c2d163a1aa2dp-1", "0x1.bc2860d22477p-3"),
    ("0x1.886e6037841edp-1", "0x1.1058bc8a07ee1p-2"),
    ("0x1.767dcf5534862p-1", "0x1.4043057b6ee09p-2"),
]
_INVC = [float.fromhex(invc) for invc, _ in _LOGF_TABLE]
_LOGF_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOGF_A0, _LOGF_A1, _LOGF_A2 = (
    _f64(v) for v in ("-0x1.00ea348b88334p-2", "0x1.5575b0be00b6ap-2", "-0x1.ffffef20a4123p-2")
)
_LOG_OFF, _LOG_TOP = _u32(0x3F330000), _u32(0xFF800000)
#: Tables indexed by the row ``16*k + i + _ROW0`` -- ``int32(ix - OFF) >> 19`` is ``16*k +
#: i`` -- for the exponents k in [-149, 128] (-149: the smallest subnormal, normalised;
#: 128: the largest float32, whose z is below 1).
_ROW0 = np.array(149 * 16, np.int32)
_ROW_SHIFT = np.array(19, np.int32)
_EXPONENTS = np.arange(-149, 129, dtype=np.float64)
#: invc = hi + lo, hi of 29 bits: z*hi is exact for a float32 z, z*hi - 1 too (z*hi is
#: within 5% of 1), so fma(z, invc, -1.0) == (z*hi - 1) + z*lo, rounded once.
_INVC_HI = np.tile([float(_split(v, 29)[0]) for v in _INVC], _EXPONENTS.size)
_INVC_LO = np.tile([float(_split(v, 29)[1]) for v in _INVC], _EXPONENTS.size)
#: fma(k, Ln2, logc[i]) per row: the first contracted site of __logf_fma, exact.
_LOGF_Y0 = np.asarray(
    fma(
        np.repeat(_EXPONENTS, 16),
        _LOGF_LN2,
        np.tile([float.fromhex(logc) for _, logc in _LOGF_TABLE], _EXPONENTS.size),
    )
)
_TWO_23 = np.array(2**23, np.float32)
_MINUS_23_EXPONENTS = _u32(23 << 23)


def logf(x: npt.ArrayLike) -> Any:
    """``log(x)`` in float32, as glibc's ``logf`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``e_logf.c``; ``e_logf_data.c``: ``LOGF_TABLE_BITS = 4``,
    16 subintervals; ``LOGF_POLY_ORDER = 4``, a cubic for log1p)::

        ix = asuint(x)                         # subnormal x: asuint(x * 2**23) - (23 << 23)
        tmp = ix - 0x3f330000
        i = (tmp >> 19) % 16                   # subinterval of z in [0x3f330000, 2 * that)
        k = int32(tmp) >> 23                   # x == 2**k * z
        z = float64(asfloat(ix - (tmp & 0xff800000)))
        r = fma(z, invc[i], -1.0)              # z/c - 1, c near the subinterval's centre
        y0 = fma(k, Ln2, logc[i])
        r2 = r * r
        y = fma(A1, r, A2)
        y = fma(A0, r2, y)
        return float32(fma(y, r2, y0 + r))     # log1p(r) + log(c) + k*ln(2)

    All five ``fma`` are contracted in ``__logf_fma`` (``vfmadd132sd``,
    ``vfmadd132sd``, ``vfmadd213sd``, ``vfmadd231sd``, ``vfmadd132sd``); ``r * r`` and
    ``y0 + r`` are plain.  Special cases: ``logf(1) == +0``, ``+-0 -> -inf``, ``inf ->
    inf``, and ``(x - x) / (x - x)`` for a NaN (made quiet) or negative ``x`` (x86's
    default NaN, ``0xffc00000``, also for ``-inf``).  glibc documents 0.818 ulp
    (relative error 1.957 * 2**-26 before the rounding).  TensorFlow flushes subnormal
    inputs and results to zero: flush around this call to reproduce it.  errno and the
    floating-point flags are not reproduced.

    Here ``y0`` comes from a table of the exact ``fma(k, Ln2, logc)`` for every ``(k,
    i)`` (4,448 doubles, made with :func:`refimpl.kernels.fma.fma` on import), and
    ``r`` from a split of ``invc`` (see ``_INVC_HI``).

    >>> logf(np.float32(2.0))
    np.float32(0.6931472)
    >>> logf(np.array([1.0, 0.0, -1.0, np.inf, 1e-45], dtype=np.float32))
    array([   0.      ,     -inf,       nan,       inf, -103.27893], dtype=float32)
    """
    a = _float32(x, "logf", "x")
    return _blockwise(_logf_flat, a.reshape(-1)).reshape(a.shape)[()]


def _logf_flat(a: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray]:
    """logf of the 1-d ``a``: the fast pass (``fma_`` is ``_plain``) or the exact one."""
    ix = a.view(np.uint32)
    done = None
    # x below 2**-126 (zero, subnormal, negative), inf or NaN: one unsigned compare.
    special = (ix - _u32(0x00800000)) >= _u32(0x7F000000)
    if np.count_nonzero(special):
        cases = [ix << 1 == 0, ix == _INF_BITS, (ix >= _SIGN) | (ix << 1 > 0xFF000000)]
        done = np.logical_or.reduce(cases)  # the rest are subnormal
        invalid = np.where(ix << 1 > 0xFF000000, _quiet(ix), _DEFAULT_NAN.view(np.float32))
        values = np.select(cases, [-np.inf, np.inf, invalid]).astype(np.float32)
        if np.count_nonzero(done) == a.size:
            return values, NOWHERE
        subnormal = np.flatnonzero(special & ~done)
        ix = np.where(done, _ONE_BITS, ix)  # log(1): harmless
        ix[subnormal] = (a[subnormal] * _TWO_23).view(np.uint32) - _MINUS_23_EXPONENTS
    out, redo = _to_float32(_logf_double(ix, fma_), fma_)
    if done is not None:
        np.copyto(out, values, where=done)
    return out, redo


def _logf_double(ix: np.ndarray, fma_: _Fma) -> np.ndarray:
    """glibc's double log of the (normalised) float32 bits ``ix``, before the rounding."""
    tmp = ix - _LOG_OFF
    row = (tmp.view(np.int32) >> _ROW_SHIFT) + _ROW0  # 16*k + i, offset
    z = (ix - (tmp & _LOG_TOP)).view(np.float32).astype(np.float64)
    r = (z * _INVC_HI[row] - _ONE) + z * _INVC_LO[row]  # fma(z, invc, -1.0)
    r2 = r * r
    y = fma_(_LOGF_A1, r, _LOGF_A2)
    y = fma_(_LOGF_A0, r2, y)
    return fma_(y, r2, _LOGF_Y0[row] + r)


# --- cosf --------------------------------------------------------------------------------

#: s_sincosf_data.c (x86, !TOINT_INTRINSICS): 2/pi * 2**24 and pi/2, split (46 high bits:
#: n*hi is exact for |n| < 128, and so is x - n*hi).
_HPI_INV = _f64("0x1.45F306DC9C883p+23")
_HPI_HI, _HPI_LO = _split(float.fromhex("0x1.921FB54442D18p0"), 46)
_QUADRANT_ROUND, _QUADRANT_SHIFT = np.array(0x800000, np.int32), np.array(24, np.int32)
#: s_sincosf_data.c: the cosine c0..c4 (degree 8, even) and sine s1..s3 (degree 7, odd)
#: polynomials on [-pi/4, pi/4].
_COSF_C = [
    _f64(v)
    for v in (
        "0x1p0",
        "-0x1.ffffffd0c621cp-2",
        "0x1.55553e1068f19p-5",
        "-0x1.6c087e89a359dp-10",
        "0x1.99343027bf8c3p-16",
    )
]
_COSF_S = [
    _f64(v) for v in ("-0x1.555545995a603p-3", "0x1.1107605230bc4p-7", "-0x1.994eb3774cf24p-13")
]
#: The result's sign per quadrant n % 4 (``sign[]``, and the table with the negated cosine
#: polynomial in quadrant 2).
_QUADRANT_SIGN = np.array([1.0, -1.0, -1.0, 1.0])
_ODD, _QUADRANT = np.array(1, np.int32), np.array(3, np.int32)
#: s_sincosf.h: 2*pi * 2**-64; s_sincosf_data.c: 4/pi to 192 bits (8 new bits per word).
_PI63 = _f64("0x1.921FB54442D18p-62")
_INV_PIO4 = np.array(
    [
        0xA2, 0xA2F9, 0xA2F983, 0xA2F9836E, 0xF9836E4E, 0x836E4E44, 0x6E4E4415, 0x4E441529,
        0x441529FC, 0x1529FC27, 0x29FC2757, 0xFC2757D1, 0x2757D1F5, 0x57D1F534, 0xD1F534DD,
        0xF534DDC0, 0x34DDC0DB, 0xDDC0DB62, 0xC0DB6295, 0xDB629599, 0x6295993C, 0x95993C43,
        0x993C4390, 0x3C439041,
    ],
    dtype=np.uint64,
)  # fmt: skip
_TINY_COSF, _LARGE_COSF = _u32(0x39800000), _u32(0x42F00000)  # 2**-12 and 120.0


def cosf(x: npt.ArrayLike) -> Any:
    """``cos(x)`` in float32, as glibc's ``cosf`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``s_cosf.c``, ``s_sincosf.h``; x86's ``sincosf_poly.h``
    and ``s_sincosf_data.c``: a degree-8 cosine and a degree-7 sine polynomial on
    ``[-pi/4, pi/4]``, and 4/pi to 192 bits in 24 words)::

        xd = float64(x)
        if |x| < 2**-12: return 1.0                      # on the top 12 bits of x
        if |x| < 120:                                    # reduce_fast (n == 0 below 0.75)
            n = (int32(xd * 2**24*(2/pi)) + 2**23) >> 24  # the quadrant, rounded half up
            xr = fma(-n, pi/2, xd)
        else:                                            # reduce_large, in integers:
            n, xr = ...                                  # |x| * 4/pi (32 x 96 bits)
        x2 = xr * xr
        if n is odd:                                     # the sine polynomial
            x3 = xr * x2
            y = fma(fma(x2, S3, S2), x3 * x2, fma(x3, S1, xr))
        else:                                            # the cosine polynomial
            x4 = x2 * x2
            y = fma(fma(x2, C4, C3), x4 * x2, fma(x4, C2, fma(x2, C1, C0)))
        return float32(sign[n % 4] * y)                  # sign = (1, -1, -1, 1)

    The ``fma`` are GCC's contractions in ``__cosf_fma``: the reduction
    (``vfnmadd132sd``) and every ``a + x*b`` of the polynomials (``vfmadd132sd`` and
    ``vfmadd213sd``); the products of powers of ``xr`` are plain.  For ``|x| < 0.75``
    glibc evaluates the cosine polynomial directly, which is the ``n == 0`` case; for
    ``|x| >= 120`` it picks sign and table by ``n + signbit(x)``, which gives the bits
    of ``cosf(|x|)``.  ``inf`` and NaN give ``(x - x) / (x - x)`` (NaN: made quiet; inf:
    x86's default NaN).  glibc documents 0.5607 ulp (relative error 0.5303 * 2**-23).
    TensorFlow flushes subnormal inputs and results to zero: flush around this call to
    reproduce it.  errno and the floating-point flags are not reproduced.

    Here the fast reduction is exact in four operations, ``xr = (xd - n*hi) - n*lo`` with
    ``pi/2 = hi + lo`` (``hi`` of 46 bits), and the large one is the same integer
    arithmetic as in C (uint64 products wrap alike).

    >>> cosf(np.float32(1.0))
    np.float32(0.5403023)
    >>> cosf(np.array([0.0, 1.5707964, 1e30, np.inf], dtype=np.float32))
    array([ 1.000000e+00, -4.371139e-08, -6.116048e-01,           nan],
          dtype=float32)
    """
    a = _float32(x, "cosf", "x")
    return _blockwise(_cosf_flat, a.reshape(-1)).reshape(a.shape)[()]


def _cosf_flat(a: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray]:
    """cosf of the 1-d ``a``: the fast pass (``fma_`` is ``_plain``) or the exact one."""
    absbits = a.view(np.uint32) & _ABS
    # Not in [2**-12, 120): tiny, large, inf or NaN (one unsigned compare).
    special = (absbits - _TINY_COSF) >= (_LARGE_COSF - _TINY_COSF)
    done = None
    if np.count_nonzero(special):
        tiny = absbits < _TINY_COSF
        nonfinite = absbits >= _INF_BITS
        done = tiny | nonfinite
        nan = _quiet(a.view(np.uint32))
        invalid = np.where(absbits > _INF_BITS, nan, _DEFAULT_NAN.view(np.float32))
        values = np.where(tiny, np.float32(1), invalid)
        if np.count_nonzero(done) == a.size:
            return values, NOWHERE
        large = np.flatnonzero(special & ~done)
        n, xr = _reduce_fast(np.where(special, _ZERO_F32, a).astype(np.float64))
        if large.size:
            n[large], xr[large] = _reduce_large(absbits[large])
    else:
        n, xr = _reduce_fast(a.astype(np.float64))
    out, redo = _to_float32(_cosf_double(n, xr, fma_), fma_)
    if done is not None:
        np.copyto(out, values, where=done)
    return out, redo


def _reduce_fast(xd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s_sincosf.h ``reduce_fast`` (``|x| < 120``): the quadrant ``n`` and
    ``fma(-n, pi/2, xd)``, exactly."""
    n = ((xd * _HPI_INV).astype(np.int32) + _QUADRANT_ROUND) >> _QUADRANT_SHIFT
    nd = n.astype(np.float64)
    return n, (xd - nd * _HPI_HI) - nd * _HPI_LO


def _reduce_large(xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s_sincosf.h ``reduce_large`` of the bits ``xi`` of ``|x| >= 120``: the quadrant and
    the remainder times pi/2, from a 32 x 96-bit fixed-point product with 4/pi."""
    u64 = np.uint64
    word = (xi >> 26) & 15
    m = (((xi & 0xFFFFFF) | 0x800000) << ((xi >> 23) & 7)).astype(u64)
    res0 = ((m * _INV_PIO4[word]) & u64(0xFFFFFFFF)) << u64(32)  # a 32-bit product in C
    res1 = m * _INV_PIO4[word + 4]
    res2 = m * _INV_PIO4[word + 8]
    res0 = ((res2 >> u64(32)) | res0) + res1
    n = (res0 + u64(1 << 61)) >> u64(62)
    res0 -= n << u64(62)
    return n.astype(np.int32), res0.view(np.int64).astype(np.float64) * _PI63


def _cosf_double(n: np.ndarray, xr: np.ndarray, fma_: _Fma) -> np.ndarray:
    """glibc's double cosine in quadrant ``n`` of the remainder ``xr``, before the rounding."""
    x2 = xr * xr
    odd = n & _ODD
    n_odd = np.count_nonzero(odd)
    if n_odd == 0:
        y = _cosine_poly(x2, fma_)
    elif n_odd == n.size:
        y = _sine_poly(xr, x2, fma_)
    else:
        y = np.where(odd, _sine_poly(xr, x2, fma_), _cosine_poly(x2, fma_))
    return y * _QUADRANT_SIGN[n & _QUADRANT]


def _sine_poly(x: np.ndarray, x2: np.ndarray, fma_: _Fma) -> np.ndarray:
    """The sine branch of sincosf_poly.h ``sinf_poly``: ``x + S1*x**3 + S2*x**5 + S3*x**7``."""
    s1, s2, s3 = _COSF_S
    x3 = x * x2
    return fma_(fma_(x2, s3, s2), x3 * x2, fma_(x3, s1, x))


def _cosine_poly(x2: np.ndarray, fma_: _Fma) -> np.ndarray:
    """The cosine branch of sincosf_poly.h ``sinf_poly``: ``C0 + C1*x**2 + ... + C4*x**8``."""
    c0, c1, c2, c3, c4 = _COSF_C
    x4 = x2 * x2
    return fma_(fma_(x2, c4, c3), x4 * x2, fma_(x4, c2, fma_(x2, c1, c0)))


# --- powf --------------------------------------------------------------------------------

#: e_powf_log2_data.c (``POWF_LOG2_TABLE_BITS = 4``; ``POWF_SCALE == 1`` without
#: TOINT_INTRINSICS): log2(c) for logf's subintervals (invc is logf's), and
#: ``POWF_LOG2_POLY_ORDER = 5``: the quintic for log2(1 + r).
_POWF_LOG2C = [
    float.fromhex(v)
    for v in (
        "-0x1.efec65b963019p-2", "-0x1.b0b6832d4fca4p-2", "-0x1.7418b0a1fb77bp-2",
        "-0x1.39de91a6dcf7bp-2", "-0x1.01d9bf3f2b631p-2", "-0x1.97c1d1b3b7afp-3",
        "-0x1.2f9e393af3c9fp-3", "-0x1.960cbbf788d5cp-4", "-0x1.a6f9db6475fcep-5", "0x0p+0",
        "0x1.338ca9f24f53dp-4", "0x1.476a9543891bap-3", "0x1.e840b4ac4e4d2p-3",
        "0x1.40645f0c6651cp-2", "0x1.88e9c2c1b9ff8p-2", "0x1.ce0a44eb17bccp-2",
    )
]  # fmt: skip
_POWF_A = [
    _f64(v)
    for v in (
        "0x1.27616c9496e0bp-2",
        "-0x1.71969a075c67ap-2",
        "0x1.ec70a6ca7baddp-2",
        "-0x1.7154748bef6c8p-1",
        "0x1.71547652ab82bp0",
    )
]
#: ``logc + k`` per row (a plain addition in glibc: tabulated).
_POWF_Y0 = np.tile(_POWF_LOG2C, _EXPONENTS.size) + np.repeat(_EXPONENTS, 16)
#: e_powf.c: the thresholds on y*log2(x) -- overflow, underflow to 0, to 2**-149 --
#: tested where |y*log2(x)| >= 126; and SIGN_BIAS, which lands in the sign bit of 2**k.
_POWF_OVERFLOW = float.fromhex("0x1.fffffffd1d571p+6")
_POWF_THRESHOLDS = (_POWF_OVERFLOW, -150.0, -149.0)
_POWF_BIG = _f64(126.0)
_POWF_SIGN_BIAS = np.uint64(1 << 16)
#: The fast pass's y*log2(x) is within ~5 of its ulps of glibc's, 2**-43.7 (measured:
#: 2**-44); one within 2**-36 of a decision -- a rounding boundary of k (|r| == 1/64) or
#: a threshold -- is recomputed exactly.
_POWF_DOUBT = 2.0**-36
_POWF_EDGE = _f64(1 / 64 - _POWF_DOUBT)
#: Elsewhere the fast pass's double result is within ln(2) * 2**-43.7 relative, some 450
#: ulps, of glibc's (measured: 249); this window has 9x margin.
_POWF_TIE_ULPS = 1 << 12


def powf(x: npt.ArrayLike, y: npt.ArrayLike) -> Any:
    """``x ** y`` in float32, as glibc's ``powf`` (x86_64 FMA build) computes it.

    The algorithm (glibc 2.36 ``e_powf.c``; ``e_powf_log2_data.c``: 16 subintervals,
    ``POWF_LOG2_POLY_ORDER = 5``; ``e_exp2f_data.c``: 32 table entries, a cubic)::

        # log2_inline(ix), ix the bits of |x| (a subnormal normalised as in logf)
        tmp = ix - 0x3f330000; i = (tmp >> 19) % 16; top = tmp & 0xff800000
        k = int32(top) >> 23; z = float64(asfloat(ix - top))
        r = fma(z, invc[i], -1.0)
        y0 = log2c[i] + k
        r2 = r * r
        q = fma(fma(A2, r, A3), r2, fma(A4, r, y0))
        logx = fma(fma(A0, r, A1), r2 * r2, q)
        ylogx = float64(y) * logx
        # if |ylogx| >= 126: ylogx > 0x1.fffffffd1d571p+6 -> +-inf,
        #                    ylogx <= -150 -> +-0, ylogx < -149 -> +-2**-149
        # exp2_inline(ylogx, sign_bias)
        kd = ylogx + 1.5 * 2**47                     # rounds ylogx to k/32
        ki = asuint64(kd); kd -= 1.5 * 2**47
        r = ylogx - kd                               # in [-1/64, 1/64]
        s = asdouble(T[ki % 32] + ((ki + sign_bias) << 47))
        z = fma(C0, r, C1)
        return float32(fma(z, r * r, fma(C2, r, 1.0)) * s)

    ``sign_bias`` is ``1 << 16`` (the result's sign bit) for a negative ``x`` and an
    odd integer ``y``.  All nine ``fma`` are contracted in ``__powf_fma``; ``y0``,
    ``ylogx``, ``kd`` and exp2's ``r`` are plain.  Special cases, as glibc: ``x ** +-0``
    and ``1 ** y`` are 1 (unless the other operand is a signalling NaN); a NaN operand
    gives ``x + y`` (the first NaN, made quiet); ``(+-1) ** +-inf == 1``; ``|x| < 1``
    with ``y == inf`` and ``|x| > 1`` with ``y == -inf`` give 0, other infinite ``y``
    inf; ``x`` zero, infinite or NaN give ``x*x`` (negated for a negative ``x`` and an
    odd integer ``y``), or its reciprocal for a negative ``y`` (``+-0 -> +-inf``); a
    negative finite ``x`` with a non-integer ``y`` gives the default NaN.  glibc
    documents 0.82 ulp (relative error 1.27 * 2**-26 before the rounding).  TensorFlow
    flushes subnormal inputs and results to zero: flush around this call to reproduce it.
    errno and the floating-point flags are not reproduced.

    Fast pass (see the module docstring): the log2 reduction ``r`` is exact, as in logf;
    ``logx`` with twice-rounded ``fma`` is within a few ulps of glibc's, so ``ylogx`` is
    within 2**-43.7 (measured 2**-44).  Where ``ylogx`` is within 2**-36 of a decision --
    ``|r| == 1/64``, where ``kd`` rounds the other way, or a threshold -- the element
    is recomputed exactly; elsewhere ``kd`` is glibc's and the double result within some
    450 ulps of glibc's (measured 249), and it is recomputed within 2**12 ulps of a
    float32 rounding midpoint (one element in 2**16).

    >>> powf(np.float32(2.0), np.float32(0.5))
    np.float32(1.4142135)
    >>> powf(np.float32(-2.0), np.array([3.0, 0.5, -np.inf, 200.0], dtype=np.float32))
    array([-8.,  nan,   1.,  inf], dtype=float32)
    """
    ax = _float32(x, "powf", "x")
    ay = _float32(y, "powf", "y")
    if ax.shape == ay.shape:  # without broadcast_to's cost (a scalar's: 7 us)
        shape, flat = ax.shape, [ax.reshape(-1), ay.reshape(-1)]
    else:
        shape = np.broadcast_shapes(ax.shape, ay.shape)
        flat = [np.broadcast_to(v, shape).reshape(-1) for v in (ax, ay)]
    return _blockwise(_powf_flat, *flat).reshape(shape)[()]


def _powf_flat(ax: np.ndarray, ay: np.ndarray, fma_: _Fma) -> tuple[np.ndarray, np.ndarray]:
    """powf of the 1-d ``ax``, ``ay``: the fast pass (``fma_`` is ``_plain``) or the exact
    one."""
    ix = ax.view(np.uint32)
    done = None
    sign_bias: Any = _u64(0)
    # x below 2**-126 (zero, negative, subnormal), inf or NaN; or y zero, inf or NaN.
    special = ((ix - _u32(0x00800000)) >= _u32(0x7F000000)) | _zero_inf_nan(ay.view(np.uint32))
    if np.count_nonzero(special):
        done, values, ix, sign_bias = _powf_special(ax, ay, special)
        if np.count_nonzero(done) == ax.size:
            return values, NOWHERE
        ay = np.where(done, _ZERO_F32, ay)  # no arithmetic on a signalling NaN
    y, ylogx, r, big = _powf_double(ix, ay.astype(np.float64), sign_bias, fma_)
    doubt = None
    if fma_ is _plain:  # near a decision point, y*log2(x) may be on the other side
        doubt = np.abs(r) >= _POWF_EDGE  # kd may be glibc's plus or minus one
        if big:  # an overflow or underflow threshold
            for threshold in _POWF_THRESHOLDS:
                doubt |= np.abs(ylogx - threshold) <= _POWF_DOUBT
    out, redo = _to_float32(y, fma_, ulps=_POWF_TIE_ULPS, doubt=doubt, tiny_results=big)
    if done is not None:
        np.copyto(out, values, where=done)
    return out, redo


def _zero_inf_nan(i: np.ndarray) -> np.ndarray:
    """e_powf.c ``zeroinfnan``: the float32 bits ``i`` are +-0, +-inf or NaN."""
    return (i + i - _u32(1)) >= _u32(2 * 0x7F800000 - 1)


def _checkint(iy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """e_powf.c ``checkint`` of nonzero finite float32 bits: (odd integer, integer)."""
    e = ((iy >> 23) & 0xFF).astype(np.int32)
    unit = np.uint32(1) << np.clip(0x96 - e, 0, 31).astype(np.uint32)  # the bit of 1
    integer = (e > 0x96) | ((e >= 0x7F) & ((iy & (unit - np.uint32(1))) == 0))
    return integer & (e <= 0x96) & ((iy & unit) != 0), integer


def _powf_special(
    ax: np.ndarray, ay: np.ndarray, special: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """e_powf.c's special cases, decided and computed on the bits: which elements are done
    and their float32 results; for the others the normalised bits of ``|x|`` and the
    sign bias of the result (set for a negative ``x`` and an odd integer ``y``)."""
    ix, iy = ax.view(np.uint32), ay.view(np.uint32)
    bits = np.zeros_like(ix)
    y_zin = _zero_inf_nan(iy)
    if np.count_nonzero(y_zin):
        bits[y_zin] = _powf_y_zero_inf_nan(ix[y_zin], iy[y_zin])
    x_zin = special & ~y_zin & _zero_inf_nan(ix)
    negative = special & ~y_zin & ~x_zin & (ix >= _SIGN)  # finite, nonzero
    done = y_zin | x_zin
    sign_bias: Any = _u64(0)
    if np.count_nonzero(x_zin | negative):
        odd_integer, integer = _checkint(iy)
        if np.count_nonzero(x_zin):
            bits[x_zin] = _powf_x_zero_inf_nan(ix[x_zin], iy[x_zin], odd_integer[x_zin])
        invalid = negative & ~integer  # (x - x) / (x - x)
        bits[invalid] = _DEFAULT_NAN
        done |= invalid
        sign_bias = np.where(negative & odd_integer, _POWF_SIGN_BIAS, _u64(0))
    main_ix = np.where(done, _ONE_BITS, ix & _ABS)
    subnormal = np.flatnonzero(~done & (main_ix < 0x00800000))
    if subnormal.size:
        scaled = np.abs(ax[subnormal]) * _TWO_23  # exact
        main_ix[subnormal] = scaled.view(np.uint32) - _MINUS_23_EXPONENTS
    return done, bits.view(np.float32), main_ix, sign_bias


def _powf_y_zero_inf_nan(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """powf's result bits for ``y`` zero, inf or NaN."""
    x2, y2 = ix << 1, iy << 1
    x_nan, y_nan = x2 > 0xFF000000, y2 > 0xFF000000
    signalling = [((v << 1) ^ (_QUIET << 1)) > (0x7FC00000 << 1) for v in (ix, iy)]
    nan_sum = np.where(x_nan, ix | _QUIET, iy | _QUIET)  # x + y: x86 gives the first NaN
    cases = [
        (y2 == 0) & ~signalling[0],  # x ** +-0: 1
        (ix == _ONE_BITS) & ~signalling[1],  # 1 ** y: 1
        (y2 == 0) | (ix == _ONE_BITS) | x_nan | y_nan,  # x + y
        x2 == 0x7F000000,  # (+-1) ** +-inf: 1
        (x2 < 0x7F000000) == (iy < _SIGN),  # |x| < 1, y == inf; |x| > 1, y == -inf: 0
    ]
    one, zero = _ONE_BITS, np.uint32(0)
    return np.select(cases, [one, one, nan_sum, one, zero], _INF_BITS)  # else y*y: inf


def _powf_x_zero_inf_nan(ix: np.ndarray, iy: np.ndarray, odd_integer: np.ndarray) -> np.ndarray:
    """powf's result bits for ``x`` zero, inf or NaN (``y`` finite, nonzero): ``x*x``,
    negated for a negative ``x`` and an odd integer ``y``; ``1/(that)`` for ``y < 0``."""
    zero = (ix << 1) == 0
    nan = (ix << 1) > 0xFF000000
    flip = np.where((ix >= _SIGN) & odd_integer, _SIGN, np.uint32(0))
    square = np.where(nan, ix | _QUIET, np.where(zero, np.uint32(0), _INF_BITS)) ^ flip
    reciprocal = np.where(zero, _INF_BITS, np.uint32(0)) | (square & _SIGN)
    return np.where((iy >= _SIGN) & ~nan, reciprocal, square)


def _powf_double(
    ix: np.ndarray, yd: np.ndarray, sign_bias: Any, fma_: _Fma
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """glibc's double result (before the rounding), ``ylogx``, exp2's ``r`` and whether
    any ``|ylogx| >= 126``, for the normalised bits ``ix`` of ``|x|``, ``yd = float64(y)``
    and the sign bias."""
    a0, a1, a2, a3, a4 = _POWF_A
    tmp = ix - _LOG_OFF
    row = (tmp.view(np.int32) >> _ROW_SHIFT) + _ROW0
    z = (ix - (tmp & _LOG_TOP)).view(np.float32).astype(np.float64)
    r = (z * _INVC_HI[row] - _ONE) + z * _INVC_LO[row]  # fma(z, invc, -1.0)
    r2 = r * r
    q = fma_(fma_(a2, r, a3), r2, fma_(a4, r, _POWF_Y0[row]))
    logx = fma_(fma_(a0, r, a1), r2 * r2, q)
    ylogx = yd * logx
    # glibc's (asuint64(ylogx) >> 47 & 0xffff) >= 0x80bf: |ylogx| >= 126
    big = bool(np.count_nonzero(np.abs(ylogx) >= _POWF_BIG))
    xd = np.clip(ylogx, -151.0, 129.0) if big else ylogx  # beyond: replaced below
    y, r = _exp2f_double(xd, sign_bias, fma_)
    if big:  # __math_oflowf, __math_uflowf, __math_may_uflowf (xflowf: +-big * big)
        flow = np.where(ylogx > 0, np.inf, np.where(ylogx <= -150, 0.0, 2.0**-149))
        flow = np.where(sign_bias != 0, -flow, flow)
        y = np.where((ylogx > _POWF_OVERFLOW) | (ylogx < -149), flow, y)
    return y, ylogx, r, big
