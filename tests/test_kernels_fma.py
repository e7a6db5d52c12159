"""refimpl.kernels.fma against exact rational arithmetic (fractions.Fraction).

The oracle rounds the exact rational ``a*b + c`` once with CPython's correctly rounded
integer division (ties to even, subnormals, OverflowError past the largest double);
C's ``fma`` from the C library is a second oracle where one is found.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.kernels.fma import fma

MAX = sys.float_info.max
TINY = 5e-324  # the smallest subnormal, 2**-1074


def exact_fma(a: float, b: float, c: float) -> float:
    """``a*b + c`` rounded once to the nearest double, from exact rationals (finite
    operands; an exact zero is +0 unless both ``a*b`` and ``c`` are -0, as in IEEE)."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        negative_zero = (math.copysign(1, a) * math.copysign(1, b) < 0) and (a == 0 or b == 0)
        return -0.0 if negative_zero and math.copysign(1, c) < 0 else 0.0
    try:
        return exact.numerator / exact.denominator  # correctly rounded, signed
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def same_double(got: float, want: float) -> bool:
    """Equal bits (zeros' signs included), or both NaN."""
    return np.float64(got).view(np.uint64) == np.float64(want).view(np.uint64) or (
        math.isnan(got) and math.isnan(want)
    )


# --- strategies ----------------------------------------------------------------------------

finite_doubles = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def scaled_doubles(draw: st.DrawFn, min_exponent: int = -1074, max_exponent: int = 1023) -> float:
    """A finite double with a random significand and a binary exponent in the range."""
    significand = draw(st.integers(2**52, 2**53 - 1))
    exponent = draw(st.integers(min_exponent, max_exponent))
    value = math.ldexp(significand, exponent - 52)
    return value if draw(st.booleans()) else -value


@st.composite
def cancelling_triples(draw: st.DrawFn) -> tuple[float, float, float]:
    """``c`` within a few ulps of ``-a*b``: the fused result is the product's low part."""
    a = draw(scaled_doubles(-500, 500))
    b = draw(scaled_doubles(-500, 500))
    c = -(a * b)
    for _ in range(draw(st.integers(0, 3))):
        c = math.nextafter(c, draw(st.sampled_from([math.inf, -math.inf])))
    return a, b, c


@st.composite
def halfway_triples(draw: st.DrawFn) -> tuple[float, float, float]:
    """``a*b`` exactly halfway between two doubles (a 54-bit odd product of two 27-bit
    odd integers), with ``c`` zero (a tie: to even) or a sticky bit either way."""
    while True:
        m1 = draw(st.integers(2**26, 2**27 - 1)) | 1
        m2 = draw(st.integers(2**26, 2**27 - 1)) | 1
        if (m1 * m2).bit_length() == 54:
            break
    shift = draw(st.integers(-600, 600))
    a, b = math.ldexp(m1, shift), math.ldexp(m2, -26 - shift)
    sticky = draw(st.sampled_from([0.0, -0.0, 1.0, -1.0])) * math.ldexp(1, -200)
    return a, b, sticky


@st.composite
def subnormal_triples(draw: st.DrawFn) -> tuple[float, float, float]:
    """Results near or below the smallest normal: products of a few subnormal ulps,
    halves of them included, and a ``c`` of a few subnormal ulps or a sticky bit."""
    k = draw(st.integers(-(2**60), 2**60))
    half_ulps = draw(st.integers(-64, 64))
    a = math.ldexp(k, -537) if k else 1.0
    b = math.ldexp(1, -538) if k else math.ldexp(half_ulps, -1075)
    c = draw(st.sampled_from([0.0, -0.0, TINY, -TINY, 3 * TINY, 2.0**-1022, -(2.0**-1022)]))
    return a, b, c


@st.composite
def overflowing_triples(draw: st.DrawFn) -> tuple[float, float, float]:
    """``a*b`` beyond the largest double, brought back (or not) by ``c``."""
    a = draw(st.floats(1.0, 2.0)) * 2.0**600
    b = draw(st.floats(2.0**423, 2.0**425))
    c = -draw(st.floats(MAX / 4, MAX))
    return a, b, c


@st.composite
def fma_triples(draw: st.DrawFn) -> tuple[float, float, float]:
    """Any finite triple, with the adversarial families above over-represented."""
    return draw(
        st.one_of(
            st.tuples(finite_doubles, finite_doubles, finite_doubles),
            st.tuples(scaled_doubles(), scaled_doubles(), scaled_doubles()),
            cancelling_triples(),
            halfway_triples(),
            subnormal_triples(),
            overflowing_triples(),
        )
    )


# --- tests ---------------------------------------------------------------------------------


@given(fma_triples())
@example((1 + 2.0**-30, 1 + 2.0**-30, -1.0))  # the low bits a*b + c loses
@example((MAX, 2.0, -MAX))  # a*b overflows, the sum does not
@example((MAX, 1 + 2.0**-52, 0.0))  # overflows after rounding
@example((2.0**-537, 2.0**-538, 0.0))  # exactly half the smallest subnormal: to 0
@example((2.0**-537, 2.0**-538, TINY))  # a tie at the subnormal grid, broken by c
@example((3 * 2.0**-538, 2.0**-538, -0.0))  # 1.5 subnormal ulps: to 2 (even)
@example((2.0**-1074, 0.5, -0.0))  # a tie with zero: to +0
@example((-(2.0**-1074), 0.5, 0.0))  # ... and to -0
@example((1e-300, 1e-300, -1e-300))  # c swamps a*b
@example((1.0, 1.0, 2.0**-600))  # a*b swamps c: a sticky bit only
def test_fma_is_the_exact_sum_rounded_once(triple: tuple[float, float, float]) -> None:
    a, b, c = triple
    got = fma(a, b, c)
    assert isinstance(got, np.float64)
    assert same_double(float(got), exact_fma(a, b, c)), (a.hex(), b.hex(), c.hex())


def test_fma_vectorised_over_random_and_adversarial_inputs() -> None:
    rng = np.random.default_rng(20080401)
    n = 1500
    bits = rng.integers(0, 2**64, (3, n), dtype=np.uint64)
    random = bits.view(np.float64)
    random = np.where(np.isfinite(random), random, 1.5)
    moderate = np.ldexp(rng.uniform(1, 2, (3, n)), rng.integers(-60, 60, (3, n)))
    moderate[2] = -(moderate[0] * moderate[1]) * (1 + rng.integers(-2, 3, n) * 2.0**-52)
    for a, b, c in (random, moderate):
        got = fma(a, b, c)
        want = np.array([exact_fma(*t) for t in zip(a.tolist(), b.tolist(), c.tolist())])
        np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(
    ("a", "b", "c", "want"),
    [
        (INF, 0.0, 1.0, NAN),  # inf * 0
        (INF, 2.0, -INF, NAN),  # inf - inf
        (INF, -2.0, 1.0, -INF),
        (MAX, 10.0, -INF, -INF),  # a*b is finite: the result is c
        (MAX, 10.0, NAN, NAN),
        (NAN, 0.0, INF, NAN),
        (2.0, 3.0, INF, INF),
        (0.0, INF, 1.0, NAN),
        (-0.0, 5.0, -0.0, -0.0),  # (-0) + (-0)
        (-0.0, 5.0, 0.0, 0.0),  # (-0) + (+0)
        (0.0, -5.0, -0.0, -0.0),
        (2.0, 3.0, -6.0, 0.0),  # exact cancellation: +0
        (-(2.0**-600), 2.0**-600, 0.0, -0.0),  # underflows to -0
        (MAX, MAX, -INF, -INF),
        (MAX, 2.0, -MAX, MAX),
        (TINY, 0.5, 0.0, 0.0),
        (3 * TINY, 0.5, 0.0, 2 * TINY),
    ],
)
def test_special_values_are_cs(a: float, b: float, c: float, want: float) -> None:
    assert same_double(float(fma(a, b, c)), want)


def test_broadcasting_dtypes_and_bad_input() -> None:
    out = fma(np.arange(3.0)[:, None], np.ones(4, np.float32), 1)
    assert out.shape == (3, 4)
    assert out.dtype == np.float64
    assert isinstance(fma(1.0, 2.0, 3.0), np.float64)
    assert fma(np.float64(2.0), 3, np.array(1.0)) == 7.0
    with pytest.raises(ValueError, match=r"fma: b must be real numbers, got 1j"):
        fma(1.0, 1j, 0.0)


LIBM = ctypes.util.find_library("m")


@pytest.mark.skipif(LIBM is None, reason="no C math library found to compare with")
def test_matches_the_c_librarys_fma() -> None:
    c_fma = ctypes.CDLL(LIBM).fma
    c_fma.argtypes = [ctypes.c_double] * 3
    c_fma.restype = ctypes.c_double
    rng = np.random.default_rng(7)
    a, b, c = rng.integers(0, 2**64, (3, 20_000), dtype=np.uint64).view(np.float64)
    got = fma(a, b, c)
    want = np.array(list(map(c_fma, a.tolist(), b.tolist(), c.tolist())))
    same = (got.view(np.uint64) == want.view(np.uint64)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), np.flatnonzero(~same)[:5]
