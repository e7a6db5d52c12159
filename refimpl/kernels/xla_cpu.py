"""XLA:CPU's own float32 ``log`` and ``exp``, bit for bit, in NumPy.

Under ``jit_compile=True`` TensorFlow 2.21 compiles the train step with XLA:CPU, which
does not call the C library for ``log`` and ``exp`` of float32 values: it inlines the
Cephes polynomials that ``xla/service/cpu/llvm_ir_runtime.cc`` emits
(``GenerateVF32Log``, ``GenerateVF32Exp``; symbol names ``log_f32``/``exp_f32`` in the
dumped LLVM IR), and compiles them with ``llvm::FPOpFusion::Fast``
(``CompilerTargetOptions`` in ``xla/service/cpu/cpu_compiler.cc``: "Always allow FMA
fusion").  On a CPU with FMA every ``a * b + c`` of those polynomials becomes one fused
multiply-add, rounded once; the functions here reproduce exactly which ones (read from
the x86-64 code LLVM generates for the dumped ``*.ir-with-opt.ll``, and checked against
the real op: ``tests/test_kernels_xla_cpu.py``, ``benchmarks/scan_kernels.py``).

Everything else the schedules compute under XLA:CPU uses the C library: float32 ``cos``,
``pow`` and ``exp2`` (LLVM turns ``pow(2**k, x)`` into ``exp2(k * x)``) call glibc's
``cosf``/``powf``/``exp2f``, and float64 ``log``/``exp``/``cos``/``pow`` glibc's double
functions (``REGISTER_LIBM_SYMBOL`` in XLA's CPU runtime symbol table).

XLA's code runs in TensorFlow's threads, with denormals flushed: subnormal inputs read
as zero (DAZ) and subnormal results come out as zero (FTZ).  The FMA placement is that of
an x86-64 CPU with FMA (Haswell and later, every AVX-512 CPU); without FMA, LLVM would
emit a separate multiply and add and these functions would not match.  Both functions take and return float32, and
accept a scalar or an array (one code path; a scalar gives a NumPy scalar).

>>> float(log_f32(np.float32(2.0)))
0.6931471824645996
>>> float(exp_f32(np.float32(1.0)))
2.7182817459106445
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl.kernels.fma import fma_float32

__all__ = ["exp_f32", "log_f32"]

_F32 = np.float32
_TINY = np.float32(np.finfo(np.float32).smallest_normal)

# Cephes log coefficients, as float32 constants (GenerateVF32Log).
_SQRTHF = _F32(0.707106781186547524)
_LOG_P = tuple(
    _F32(c)
    for c in (
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        +1.4249322787e-1,
        -1.6668057665e-1,
        +2.0000714765e-1,
        -2.4999993993e-1,
        +3.3333331174e-1,
    )
)
_LOG_Q1 = _F32(-2.12194440e-4)
_LOG_Q2 = _F32(0.693359375)

# Cephes exp coefficients (GenerateVF32Exp).
_LOG2EF = _F32(1.44269504088896341)
_EXP_C1 = _F32(0.693359375)
_EXP_C2 = _F32(-2.12194440e-4)
_EXP_P = tuple(
    _F32(c)
    for c in (
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    )
)


def _daz(x: np.ndarray) -> np.ndarray:
    """Subnormal inputs read as (signed) zero, as with the MXCSR DAZ bit TensorFlow sets."""
    return np.where(np.abs(x) < _TINY, np.copysign(_F32(0), x), x)


def _ftz(x: np.ndarray) -> np.ndarray:
    """Subnormal results come out as (signed) zero (MXCSR FTZ)."""
    return np.where(np.abs(x) < _TINY, np.copysign(_F32(0), x), x)


def _fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a * b + c`` on float32 values rounded once to float32 (an x86 ``vfmadd``), with
    results below the smallest normal float32 flushed to zero (FTZ)."""
    return _ftz(np.asarray(fma_float32(a, b, c)))


def _as_f32(x: npt.ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _result(out: np.ndarray, like: np.ndarray) -> Any:
    return out[()] if like.ndim == 0 else out


def log_f32(x: npt.ArrayLike) -> Any:
    """XLA:CPU's float32 natural logarithm (``xla/service/cpu/llvm_ir_runtime.cc``,
    ``GenerateVF32Log``), with the fused multiply-adds LLVM forms on x86-64 with FMA.

    Algorithm (all float32; ``fma`` rounds once)::

        t = max(x, 2**-126)                     # normal range only
        e = (exponent bits of t) - 127 + 1
        m = t with exponent set to 2**-1        # mantissa in [0.5, 1)
        if m < 0.70710677:  e = e - 1;  v = (m - 1) + m
        else:               v = m - 1
        v2 = v * v;  v3 = v2 * v
        y  = fma(fma(v, P0, P1), v, P2)
        y1 = fma(fma(v, P3, P4), v, P5)
        y2 = fma(fma(v, P6, P7), v, P8)
        y  = fma(fma(y, v3, y1), v3, y2)
        y  = fma(y, v3, e * Q1)
        r  = fma(e, Q2, fma(v2, -0.5, v) + y)

    ``x == 0`` gives ``-inf``, ``+inf`` gives ``+inf``, ``x < 0`` and NaN give a NaN
    with every bit set (``0xffffffff``).  Subnormal inputs read as 0 (DAZ).
    Accurate to about 1 ulp; it is *not* glibc's ``logf``.

    >>> log_f32(np.array([1.0, 0.0, -1.0, np.inf], np.float32))
    array([  0., -inf,  nan,  inf], dtype=float32)
    """
    xa = _as_f32(x)
    x32 = _daz(np.atleast_1d(xa))
    with np.errstate(invalid="ignore"):
        invalid = ~(x32 > 0)
        is_zero = x32 == 0
        is_inf = x32 == np.inf
        t = np.where(x32 > _TINY, x32, _TINY)  # vmaxss; NaN takes the bound (masked below)
    bits = t.view(np.uint32)
    e = (bits >> np.uint32(23)).astype(np.int32) - np.int32(127)
    ef = _F32(1) + e.astype(np.float32)
    m = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(np.float32)
    small = m < _SQRTHF
    v = (m - _F32(1)) + np.where(small, m, _F32(0))
    ef = ef - np.where(small, _F32(1), _F32(0))
    v2 = v * v
    v3 = v2 * v
    p0, p1, p2, p3, p4, p5, p6, p7, p8 = _LOG_P
    y = _fma(_fma(v, p0 * np.ones_like(v), p1 * np.ones_like(v)), v, p2 * np.ones_like(v))
    y1 = _fma(_fma(v, p3 * np.ones_like(v), p4 * np.ones_like(v)), v, p5 * np.ones_like(v))
    y2 = _fma(_fma(v, p6 * np.ones_like(v), p7 * np.ones_like(v)), v, p8 * np.ones_like(v))
    y = _fma(_fma(y, v3, y1), v3, y2)
    y = _fma(y, v3, ef * _LOG_Q1)
    r = _fma(v2, np.full_like(v, -0.5), v) + y
    r = _fma(ef, np.full_like(v, _LOG_Q2), r)
    rbits = r.view(np.uint32) | np.where(invalid, np.uint32(0xFFFFFFFF), np.uint32(0))
    out = rbits.view(np.float32)
    out = np.where(is_zero, _F32(-np.inf), np.where(is_inf, _F32(np.inf), out))
    return _result(out.reshape(xa.shape), xa)


def exp_f32(x: npt.ArrayLike) -> Any:
    """XLA:CPU's float32 exponential (``xla/service/cpu/llvm_ir_runtime.cc``,
    ``GenerateVF32Exp``), with the fused multiply-adds LLVM forms on x86-64 with FMA.

    Algorithm (all float32; ``fma`` rounds once)::

        x = min(max(x, -87.8), 88.8)
        n = min(max(floor(fma(x, LOG2E, 0.5)), -127), 127)
        a = fma(n, -C2, fma(n, -C1, x))          # x - n*log(2), in two parts
        z = fma(fma(fma(fma(fma(a, P0, P1), a, P2), a, P3), a, P4), a, P5)
        z = fma(z, a * a, a) + 1
        r = z * 2**n                             # 2**-127 is built as 0

    A NaN comes back quieted (bit 22 set); results below 2**-126 are 0 (FTZ);
    ``exp(88.72284)`` is the largest float32 rather than inf (a documented XLA quirk).  Not glibc's ``expf``.

    >>> exp_f32(np.array([0.0, -100.0, 100.0], np.float32)).tolist()
    [1.0, 0.0, inf]
    """
    xa = _as_f32(x)
    x32 = _daz(np.atleast_1d(xa))
    with np.errstate(invalid="ignore", over="ignore"):
        nan = np.isnan(x32)
        xc = np.minimum(np.maximum(x32, _F32(-87.8)), _F32(88.8))
        one = np.ones_like(xc)
        n = np.floor(_fma(xc, _LOG2EF * one, _F32(0.5) * one))
        n = np.minimum(np.maximum(n, _F32(-127)), _F32(127))
        a = _fma(n, -_EXP_C1 * one, xc)
        a = _fma(n, -_EXP_C2 * one, a)
        z = _fma(a, _EXP_P[0] * one, _EXP_P[1] * one)
        for p in _EXP_P[2:]:
            z = _fma(z, a, p * one)
        z = _fma(z, a * a, a) + _F32(1)
        n_i = np.where(nan, 0, n).astype(np.int32)
        pow2 = ((n_i + np.int32(127)).astype(np.uint32) << np.uint32(23)).view(np.float32)
        out = _ftz(z * pow2)
        quiet = (x32.view(np.uint32) | np.uint32(0x00400000)).view(np.float32)
        out = np.where(nan, quiet, out)  # arithmetic quiets a signalling NaN
    return _result(out.reshape(xa.shape), xa)
