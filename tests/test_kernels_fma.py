"""refimpl.kernels.fma against exact rational arithmetic (fractions.Fraction).

The oracle rounds the exact rational ``a*b + c`` once: to a double with CPython's
correctly rounded integer division (ties to even, subnormals, OverflowError past the
largest double), to a float32 with an integer rounding written out below.  C's ``fma``
and ``fmaf`` from the C library are second oracles where one is found.
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

from refimpl.kernels.fma import fma, fma_float32, fma_unscaled

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


# --- fma_unscaled ---------------------------------------------------------------------------


@st.composite
def moderate_triples(draw: st.DrawFn) -> tuple[float, float, float]:
    """Triples inside fma_unscaled's range: random, cancelling and halfway ones."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return (
            draw(scaled_doubles(-400, 400)),
            draw(scaled_doubles(-400, 400)),
            draw(st.one_of(st.just(0.0), scaled_doubles(-900, 900))),
        )
    if kind == 1:
        return draw(cancelling_triples())
    return draw(halfway_triples())


@given(moderate_triples())
@example((1 + 2.0**-30, 1 + 2.0**-30, -1.0))
@example((0.0, 1.5, -0.0))  # a zero product
@example((2.0**-480, 2.0**-480, 1.0))  # a*b far below c's last bit: a sticky bit
def test_fma_unscaled_is_the_exact_sum_rounded_once(triple: tuple[float, float, float]) -> None:
    a, b, c = (np.array([v]) for v in triple)
    got = fma_unscaled(a, b, c)
    assert got.shape == (1,)
    assert same_double(float(got[0]), exact_fma(*triple)), tuple(v.hex() for v in triple)


def test_fma_unscaled_equals_fma_in_its_range() -> None:
    rng = np.random.default_rng(3)
    a, b, c = np.ldexp(rng.uniform(-1, 1, (3, 5000)), rng.integers(-300, 300, (3, 5000)))
    c[::3] = -(a[::3] * b[::3])  # cancellation
    np.testing.assert_array_equal(fma_unscaled(a, b, c), fma(a, b, c))
    np.testing.assert_array_equal(fma_unscaled(a, np.float64(3.0), 1.0), fma(a, 3.0, 1.0))


# --- fma_float32 ---------------------------------------------------------------------------

F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = 2.0**-149  # the smallest float32 subnormal


def round_to_float32(exact: Fraction) -> float:
    """A nonzero rational rounded once to the nearest float32 (ties to even; subnormals;
    inf from the halfway point past the largest float32 on), as a Python float."""
    magnitude = abs(exact)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1  # now 2**exponent <= magnitude < 2**(exponent + 1)
    unit = Fraction(2) ** max(exponent - 23, -149)  # the spacing of float32 there
    steps = magnitude / unit
    whole = steps.numerator // steps.denominator
    rest = steps - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    value = whole * unit
    rounded = math.inf if value >= 2**128 else float(value)  # exact: a float32
    return rounded if exact > 0 else -rounded


def exact_fma_float32(a: float, b: float, c: float) -> float:
    """``a*b + c`` of finite float32 values rounded once to float32, from exact rationals."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        return exact_fma(a, b, c)  # the sign of an exact zero, as in IEEE
    return round_to_float32(exact)


def same_float32(got: np.float32, want: float) -> bool:
    return bool(np.float32(want).view(np.uint32) == np.float32(got).view(np.uint32)) or (
        math.isnan(got) and math.isnan(want)
    )


finite_float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def scaled_float32(draw: st.DrawFn, min_exponent: int = -149, max_exponent: int = 127) -> float:
    """A finite float32 with a random 24-bit significand and a binary exponent in range."""
    significand = draw(st.integers(2**23, 2**24 - 1))
    exponent = draw(st.integers(min_exponent, max_exponent))
    value = float(np.float32(math.ldexp(significand, exponent - 23)))  # rounds subnormals
    return value if draw(st.booleans()) else -value


@st.composite
def float32_triples(draw: st.DrawFn) -> tuple[float, float, float]:
    """Finite float32 triples: random, cancelling (``c`` within a few ulps of ``-a*b``),
    ``a*b`` halfway between two float32 (odd 25-bit products, ``c`` zero or a sticky
    bit), results near the subnormals, and products past the largest float32."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(finite_float32), draw(finite_float32), draw(finite_float32)
    if kind == 1:
        return draw(scaled_float32()), draw(scaled_float32()), draw(scaled_float32())
    if kind == 2:
        a, b = draw(scaled_float32(-60, 60)), draw(scaled_float32(-60, 60))
        c = np.float32(-(a * b))
        for _ in range(draw(st.integers(0, 3))):
            c = np.nextafter(c, draw(st.sampled_from([np.float32(np.inf), np.float32(-np.inf)])))
        return a, b, float(c)
    if kind == 3:
        while True:
            m1 = draw(st.integers(2**12, 2**13 - 1)) | 1
            m2 = draw(st.integers(2**12, 2**13 - 1)) | 1
            if (m1 * m2).bit_length() == 25:
                break
        shift = draw(st.integers(-60, 60))
        sticky = draw(st.sampled_from([0.0, -0.0, 1.0, -1.0])) * 2.0**-100
        return math.ldexp(m1, shift), math.ldexp(m2, -12 - shift), sticky
    if kind == 4:
        a = draw(scaled_float32(-80, -60))
        b = draw(scaled_float32(-89, -60))
        c = draw(st.sampled_from([0.0, -0.0, F32_TINY, -F32_TINY, 3 * F32_TINY, 2.0**-126]))
        return a, b, c
    a = draw(st.floats(1.0, 2.0, width=32)) * 2.0**100
    b = draw(st.floats(2.0**27, 2.0**29, width=32))
    return a, b, -draw(st.floats(F32_MAX / 4, F32_MAX, width=32))


@given(float32_triples())
@example((1 + 2.0**-12, 1 + 2.0**-12, -1.0))  # the low bits a*b + c loses
@example((F32_MAX, 2.0, -F32_MAX))  # a*b overflows float32, the sum does not
@example((F32_MAX, 1 + 2.0**-23, 0.0))  # overflows after rounding
@example((2.0**-75, 2.0**-75, 0.0))  # exactly half the smallest subnormal: to 0
@example((2.0**-75, 2.0**-75, F32_TINY))  # a tie at the subnormal grid: 2 units, even
@example((3 * 2.0**-76, 2.0**-75, -0.0))  # 1.5 subnormal units: to 2 (even)
@example((F32_TINY, 0.5, -0.0))  # a tie with zero: to +0
@example((2.0**-100, 2.0**-100, 1.0))  # a*b below c's last bit: a sticky bit only
@example((4097.0, 4097.0, 0.0))  # 2**24 + 2**13 + 1: halfway, to even (down)
@example((4097.0, 4097.0, 2.0**-100))  # ... a sticky bit the float64 sum loses: up
@example((4097.0, -4097.0, 2.0**-100))  # ... and toward zero: down
def test_fma_float32_is_the_exact_sum_rounded_once(triple: tuple[float, float, float]) -> None:
    a, b, c = (float(np.float32(v)) for v in triple)
    got = fma_float32(a, b, c)
    assert isinstance(got, np.float32)
    assert same_float32(got, exact_fma_float32(a, b, c)), (a.hex(), b.hex(), c.hex())


def test_fma_float32_vectorised_over_random_bit_patterns() -> None:
    rng = np.random.default_rng(2008)
    bits = rng.integers(0, 2**32, (3, 2000), dtype=np.uint64).astype(np.uint32)
    a, b, c = np.where(np.isfinite(bits.view(np.float32)), bits.view(np.float32), 1.5)
    moderate = np.ldexp(rng.uniform(1, 2, (3, 2000)), rng.integers(-30, 30, (3, 2000)))
    m = moderate.astype(np.float32)
    m[2] = -(m[0] * m[1]) * (1 + rng.integers(-2, 3, 2000) * 2.0**-23)
    for x, y, z in ((a, b, c), tuple(m)):
        got = fma_float32(x, y, z)
        triples = zip(x.tolist(), y.tolist(), z.tolist())
        want = np.array([exact_fma_float32(*t) for t in triples], np.float32)
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize(
    ("a", "b", "c", "want"),
    [
        (INF, 0.0, 1.0, NAN),
        (INF, 2.0, -INF, NAN),
        (INF, -2.0, 1.0, -INF),
        (F32_MAX, 10.0, -INF, -INF),  # a*b is finite: the result is c
        (NAN, 0.0, INF, NAN),
        (-0.0, 5.0, -0.0, -0.0),
        (-0.0, 5.0, 0.0, 0.0),
        (2.0, 3.0, -6.0, 0.0),
        (-(2.0**-80), 2.0**-80, 0.0, -0.0),  # underflows to -0
        (F32_MAX, 2.0, -F32_MAX, F32_MAX),
        (3 * F32_TINY, 0.5, 0.0, 2 * F32_TINY),
    ],
)
def test_fma_float32_special_values_are_cs(a: float, b: float, c: float, want: float) -> None:
    assert same_float32(fma_float32(a, b, c), want)


def test_fma_float32_broadcasting_dtypes_and_bad_input() -> None:
    out = fma_float32(np.arange(3.0)[:, None], np.ones(4, np.float32), 1)
    assert out.shape == (3, 4)
    assert out.dtype == np.float32
    assert fma_float32(np.float32(2), 3, 1.0) == np.float32(7)
    assert fma_float32(1e300, 1.0, 0.0) == np.inf  # converted to float32 first, as in C
    with pytest.raises(ValueError, match=r"fma_float32: c must be real numbers, got 'x'"):
        fma_float32(1.0, 1.0, "x")


@pytest.mark.skipif(LIBM is None, reason="no C math library found to compare with")
def test_fma_float32_matches_the_c_librarys_fmaf() -> None:
    c_fmaf = ctypes.CDLL(LIBM).fmaf
    c_fmaf.argtypes = [ctypes.c_float] * 3
    c_fmaf.restype = ctypes.c_float
    rng = np.random.default_rng(8)
    bits = rng.integers(0, 2**32, (3, 20_000), dtype=np.uint64).astype(np.uint32)
    a, b, c = bits.view(np.float32)
    got = fma_float32(a, b, c)
    want = np.array(list(map(c_fmaf, a.tolist(), b.tolist(), c.tolist())), np.float32)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), np.flatnonzero(~same)[:5]
