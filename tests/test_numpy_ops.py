"""The NumPy namespace: TensorFlow's dtype rules, and correctly rounded float32 functions.

The correct rounding is checked against mpmath at 60 significant digits (an
independent oracle: refimpl computes in float64 and rounds once).
"""

from __future__ import annotations

import math
from unittest import mock

import mpmath
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from refimpl import numpy_ops as xp

mpmath.mp.dps = 60

FINITE32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


def correctly_rounded(fn, *args: float) -> np.float32:
    """Round mpmath's value of ``fn(*args)`` to the nearest float32 (ties to even)."""
    exact = fn(*[mpmath.mpf(float(a)) for a in args])
    # float64 rounding first could double-round; go through a 60-digit string instead.
    lo = np.float32(float(exact))
    candidates = [np.nextafter(lo, np.float32(-np.inf)), lo, np.nextafter(lo, np.float32(np.inf))]
    return min(
        candidates, key=lambda c: (abs(mpmath.mpf(float(c)) - exact), int(c.view(np.int32)) & 1)
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "domain"),
    [
        (xp.cos, mpmath.cos, st.floats(0, 7, width=32)),
        (xp.log, mpmath.log, st.floats(2.0**-100, 2.0**100, width=32)),
        (xp.exp, mpmath.exp, st.floats(-80, 80, width=32)),
    ],
)
@given(data=st.data())
def test_float32_unary_functions_are_correctly_rounded(ours, theirs, domain, data) -> None:
    x = np.float32(data.draw(domain))
    assert ours(np.asarray(x)) == correctly_rounded(theirs, x)


@given(
    base=st.floats(0.0078125, 1.0, width=32),
    exponents=arrays(np.float32, 8, elements=st.floats(0, 2000, width=32)),
)
def test_float32_power_with_scalar_base_is_correctly_rounded(
    base: float, exponents: np.ndarray
) -> None:
    # The exp(e * log(b)) path (decay_rate ** p).
    got = xp.power(np.float32(base), exponents)
    want = [correctly_rounded(mpmath.power, base, e) for e in exponents]
    want = [
        w if abs(float(w)) >= np.finfo(np.float32).smallest_normal else np.float32(0) for w in want
    ]
    np.testing.assert_array_equal(got, np.array(want, dtype=np.float32))


@given(
    bases=arrays(np.float32, 8, elements=st.floats(0, 1, width=32)), e=st.floats(0.125, 5, width=32)
)
def test_float32_power_with_scalar_exponent_is_correctly_rounded(
    bases: np.ndarray, e: float
) -> None:
    got = xp.power(bases, np.float32(e))
    want = [correctly_rounded(mpmath.power, b, e) for b in bases]
    want = [
        w if abs(float(w)) >= np.finfo(np.float32).smallest_normal else np.float32(0) for w in want
    ]
    np.testing.assert_array_equal(got, np.array(want, dtype=np.float32))


F32 = np.float32
#: float32 neighbours of the tangent kernel's domain ends and of cos's zero at pi/2.
KERNEL_EDGES = [
    np.nextafter(F32(-math.pi / 4), F32(1)),
    np.nextafter(F32(5 * math.pi / 4), F32(-1)),
    F32(math.pi / 2),
    np.nextafter(F32(math.pi / 2), F32(0)),
    np.nextafter(F32(math.pi / 2), F32(4)),
    F32(math.pi),
    F32(0.0),
]


@given(x=arrays(np.float32, 12, elements=st.floats(-0.78125, 3.921875, width=32)))
@example(x=np.array(KERNEL_EDGES * 2, dtype=np.float32)[:12])
def test_float32_cos_tangent_kernel_is_correctly_rounded(x: np.ndarray) -> None:
    long = np.resize(x, xp._COS_KERNEL_MIN_SIZE)  # long enough to take the kernel
    with mock.patch.object(xp, "_cos_tangent_kernel", wraps=xp._cos_tangent_kernel) as kernel:
        got = xp.cos(long)
    kernel.assert_called_once()
    want = np.array([correctly_rounded(mpmath.cos, v) for v in x], dtype=np.float32)
    np.testing.assert_array_equal(np.resize(got, x.size), want)
    np.testing.assert_array_equal(got, np.resize(want, long.size))


@given(
    x=arrays(np.float32, 8, elements=st.floats(-0.78125, 3.921875, width=32)),
    outside=st.one_of(st.floats(-1e6, -0.8125, width=32), st.floats(3.9375, 1e6, width=32)),
)
def test_float32_cos_outside_the_kernel_domain_is_correctly_rounded(
    x: np.ndarray, outside: float
) -> None:
    x[0] = outside  # one element outside sends the whole array to NumPy's cos
    long = np.resize(x, xp._COS_KERNEL_MIN_SIZE)
    with mock.patch.object(xp, "_cos_tangent_kernel") as kernel:
        got = xp.cos(long)
    kernel.assert_not_called()
    want = np.array([correctly_rounded(mpmath.cos, v) for v in x], dtype=np.float32)
    np.testing.assert_array_equal(np.resize(got, x.size), want)


SPECIAL32 = [0.0, -0.0, 0.5, -0.5, 2.0, -2.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e-40]


@pytest.mark.parametrize(
    "e",
    [1.5, -1.5, 3.0, -3.0, 2.0, -2.0, 0.5, 0.001, 100.0, 0.0, 1.0, math.inf, -math.inf, math.nan],
)
def test_float32_power_special_values_follow_c_pow(e: float) -> None:
    """Zeros, signs, infinities and NaN as C's ``pow`` (TensorFlow's semantics: e.g.
    ``pow(-0.0, 0.5)`` is +0.0 where NumPy's ``sqrt`` shortcut gives -0.0), in float64
    then rounded and flushed, on every path: array and scalar base and exponent."""
    bases = np.array(SPECIAL32, dtype=np.float32)
    with np.errstate(all="ignore"):
        c_pow = np.power(bases.astype(np.float64), np.full(bases.size, e))  # no shortcut
        want = xp.flush_subnormals(c_pow.astype(np.float32))
        got = [
            xp.power(bases, np.float32(e)),
            np.array([xp.power(b, np.float32(e)) for b in bases]),
            np.array([xp.power(b, np.full(2048, np.float32(e)))[0] for b in bases]),
        ]
    for g in got:
        np.testing.assert_array_equal(g, want)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(want))


@given(b=st.floats(2.0**-20, 2.0**20, width=32), e=st.sampled_from([2.0, 3.0, 1.5, -2.0]))
@example(b=0.604126, e=2.0)  # b*b is exactly halfway between two float32 values
def test_float32_power_rounds_exact_ties_to_even(b: float, e: float) -> None:
    """Integer and half-integer powers of float32 values are often exact in float64 and
    sometimes exactly halfway between float32 values: round half to even, as ``pow``
    then one rounding does -- not as an ``exp(e * log b)`` approximation would."""
    b32 = np.float32(b)
    exact = mpmath.power(mpmath.mpf(float(b32)), e)
    want = correctly_rounded(lambda x: mpmath.power(x, e), b32)
    if abs(float(exact)) < np.finfo(np.float32).smallest_normal:
        want = np.float32(0)
    assert xp.power(b32, np.float32(e)) == want
    assert xp.power(np.full(2048, b32), np.float32(e))[0] == want
    assert xp.power(b32, np.full(2048, np.float32(e)))[0] == want


def test_tensorflow_scalar_dtype_rules() -> None:
    assert xp.convert_to_tensor(0.1).dtype == np.float32
    assert xp.convert_to_tensor(1).dtype == np.int32
    assert xp.convert_to_tensor(2**40).dtype == np.int64
    assert xp.convert_to_tensor(np.float64(0.1)).dtype == np.float64
    # ops.cast of a Python float goes through float32, as in TensorFlow.
    assert float(xp.cast(0.1, "float64")) == float(np.float32(0.1))
    assert float(xp.exact_ops.cast(0.1, "float64")) == 0.1


def test_weak_python_scalars_keep_float32() -> None:
    a = np.ones(3, np.float32)
    assert (a * 0.1).dtype == np.float32
    assert xp.where(a > 0, 1.0, a).dtype == np.float32


def test_flush_subnormals() -> None:
    tiny = np.finfo(np.float32).smallest_normal
    out = xp.flush_subnormals(np.array([tiny, tiny / 2, -tiny / 4, 1.0], np.float32))
    np.testing.assert_array_equal(out, np.float32([tiny, 0, 0, 1]))
    assert np.signbit(out[2])


UNARY = {"cos": xp.cos, "log": xp.log, "exp": xp.exp, "sqrt": xp.sqrt, "floor": xp.floor}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(x=st.floats(0, 3.875, width=32) | FINITE32)
def test_scalar_and_array_paths_give_the_same_bits(name: str, x: float) -> None:
    """A NumPy scalar (a scalar-step call) takes the same computation as arrays of
    every length (a vectorised call; 2,048 takes the kernels)."""
    fn = UNARY[name]
    with np.errstate(all="ignore"):
        one = fn(np.float32(x))
        assert isinstance(one, np.float32)
        for n in (1, 2048):
            many = fn(np.full(n, x, dtype=np.float32))
            np.testing.assert_array_equal(many.view(np.uint32), np.full(n, one).view(np.uint32))


@given(
    base=st.floats(0, 4, width=32) | FINITE32,
    exponent=st.floats(-50, 50, width=32) | FINITE32,
)
def test_scalar_and_array_power_give_the_same_bits(base: float, exponent: float) -> None:
    b, e = np.float32(base), np.float32(exponent)
    with np.errstate(all="ignore"):
        one = xp.power(b, e)
        assert isinstance(one, np.float32)
        for n in (1, 2048):
            arrays_of = (np.full(n, b), np.full(n, e))
            for got in (
                xp.power(b, arrays_of[1]),
                xp.power(arrays_of[0], e),
            ):
                np.testing.assert_array_equal(got.view(np.uint32), np.full(n, one).view(np.uint32))


@given(x=st.integers(-(2**63), 2**63 - 1))
@example(x=2**24 + 1)  # float32 rounds it (to even)
@example(x=2**53 + 1)  # beyond the fast path: float64 would round before float32 does
@example(x=-(2**53) - 1)
@example(x=2**53)
@example(x=2**31)  # beyond int32
def test_cast_of_a_python_int_rounds_once(x: int) -> None:
    """An int step cast to a float dtype is rounded once from the exact integer, as
    TensorFlow's int32/int64 -> float cast does (NumPy's C cast is the oracle)."""
    for dtype in (np.float32, np.float64, np.dtype("float32"), "float64"):
        got = xp.cast(x, dtype)
        want = np.array(x, np.int64).astype(dtype)[()]
        assert type(got) is type(want)
        assert got.tobytes() == want.tobytes()


@given(x=st.floats())
@example(x=1e39)  # overflows float32
@example(x=1e-40)  # a float32 subnormal (convert_to_tensor keeps it; cast flushes it)
@example(x=-0.0)
def test_python_float_converts_to_float32_like_numpy(x: float) -> None:
    with np.errstate(all="ignore"):
        got, want = xp.convert_to_tensor(x), np.float32(x)
    assert type(got) is np.float32
    assert got.tobytes() == want.tobytes() or (math.isnan(got) and math.isnan(want))


@pytest.mark.parametrize("kind", [np.float16, np.float32, np.float64])
def test_flush_subnormals_on_numpy_scalars(kind: type) -> None:
    tiny = np.finfo(kind).smallest_normal
    assert xp.flush_subnormals(kind(tiny)) == tiny
    for value, sign in ((tiny / 2, False), (-tiny / 4, True)):
        out = xp.flush_subnormals(kind(value))
        assert type(out) is kind
        assert out == 0
        assert np.signbit(out) == sign
    assert math.isnan(xp.flush_subnormals(kind(math.nan)))


def test_where_on_scalars_picks_without_promotion() -> None:
    one, two = np.float32(1), np.float32(2)
    assert xp.where(np.True_, one, two) is one
    assert xp.where(np.False_, one, two) is two
    mixed = xp.where(np.True_, np.float32(1), np.float64(2))  # promoted, as np.where does
    assert type(mixed) is np.float64


def test_where_with_a_scalar_condition_still_broadcasts() -> None:
    out = xp.where(np.True_, 1.0, np.zeros(4, np.float32))
    np.testing.assert_array_equal(out, np.ones(4, np.float32))
    assert out.dtype == np.float32
    assert xp.where(np.False_, np.float32(1), np.float32(2)) == np.float32(2)


def test_casts_flush_subnormal_inputs_whatever_the_target() -> None:
    assert not xp.cast(1e-40, "bool")
    assert xp.cast(1e-40, "float64") == 0.0
    assert not xp.cast(np.array([1e-40], np.float32), "bool")[0]


@pytest.mark.parametrize("fn", [xp.cos, xp.log, xp.exp, xp.sqrt, xp.flush_subnormals])
def test_empty_arrays(fn) -> None:  # type: ignore[no-untyped-def]
    out = fn(np.array([], np.float32))
    assert out.shape == (0,)
    assert out.dtype == np.float32


@pytest.mark.parametrize("e", [0.5, 2.0, -1.0, 3.0, -3.0, 1.5, math.inf, math.nan, 0.0])
def test_float64_power_follows_c_pow_on_every_path(e: float) -> None:
    """float64 has no rounding step, but the same C semantics as float32 (TensorFlow's):
    NumPy's shortcut for a 0-d exponent 0.5 would give pow(-0.0, 0.5) = -0.0."""
    bases = np.array(SPECIAL32, dtype=np.float64)
    with np.errstate(all="ignore"):
        want = xp.flush_subnormals(np.power(bases, np.full(bases.size, e)))
        for got in (
            xp.power(bases, np.float64(e)),
            np.array([xp.power(b, np.float64(e)) for b in bases]),
            np.array([xp.power(np.asarray(b), np.asarray(np.float64(e))) for b in bases]),
        ):
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize(
    ("base", "e", "dtype"),
    [(0.026197083, 23.979674412892166, np.float32), (0.6343, 21.31607813999304, np.float16)],
)
def test_power_rounds_at_the_subnormal_boundary_like_pow(base: float, e: float, dtype) -> None:  # type: ignore[no-untyped-def]
    """The midpoint between the largest subnormal and the smallest normal is not on the
    normal grid's midpoint pattern: checked separately (a review's counterexamples)."""
    b = dtype(base)
    want = xp.flush_subnormals(dtype(np.power(np.array([float(b)]), np.array([e]))[0]))
    assert want == np.finfo(dtype).smallest_normal  # the case: rounds up to normal
    assert xp.power(b, e) == want
    assert xp.power(np.full(3000, b), e)[0] == want


def test_integers_meeting_python_floats_become_float32_as_in_keras() -> None:
    ints = np.array([2, 3], np.int32)
    for result in (xp.power(ints, 0.5), xp.add(ints, 0.5), xp.multiply(np.int32(2), 0.5)):
        assert np.asarray(result).dtype == np.float32
    np.testing.assert_array_equal(xp.power(ints, 0.5), np.sqrt(np.float32([2, 3])))


def test_power_with_an_exponent_beyond_int64() -> None:
    assert xp.power(np.float32(0.5), 2**64) == 0.0
    assert xp.power(np.float32(2.0), -(2**70)) == 0.0
