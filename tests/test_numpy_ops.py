"""The NumPy namespace: TensorFlow's dtype rules, and TensorFlow's CPU float kernels.

The float32 functions are checked against their real oracle: the C library (glibc's
``cosf``, ``logf``, ``expf``, ``powf``), called through ``ctypes``, its results flushed to
zero where subnormal -- what TensorFlow's CPU kernel computes on a scalar (measured in
tests/test_kernels_tensorflow.py).  Nothing on the oracle side comes from refimpl.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import platform

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl import numpy_ops as xp

FINITE32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
for _name, _arity in (("cosf", 1), ("logf", 1), ("expf", 1), ("powf", 2)):
    getattr(_LIBM, _name).restype = ctypes.c_float
    getattr(_LIBM, _name).argtypes = [ctypes.c_float] * _arity

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the oracle is glibc's libm (refimpl reproduces glibc's float functions)",
)


def tf_cpu(name: str, *args: float) -> np.float32:
    """The C library's float function, its result flushed to zero (TensorFlow's FTZ)."""
    value = np.float32(getattr(_LIBM, name)(*(float(a) for a in args)))
    return np.float32(0.0) * value if abs(value) < np.finfo(np.float32).smallest_normal else value


def same_bits(a: object, b: object) -> bool:
    x, y = np.float32(a), np.float32(b)
    return x.tobytes() == y.tobytes() or (bool(np.isnan(x)) and bool(np.isnan(y)))


@glibc_only
@pytest.mark.parametrize(
    ("name", "fn", "domain"),
    [
        ("cosf", xp.cos, st.floats(-7, 7, width=32) | FINITE32),
        ("logf", xp.log, st.floats(2.0**-100, 2.0**100, width=32) | FINITE32),
        ("expf", xp.exp, st.floats(-104, 89, width=32) | FINITE32),
    ],
)
@given(data=st.data())
def test_float32_functions_are_tensorflows_cpu_kernels(name, fn, domain, data) -> None:  # type: ignore[no-untyped-def]
    x = np.float32(data.draw(domain))
    with np.errstate(all="ignore"):
        assert same_bits(fn(x), tf_cpu(name, x))
        assert same_bits(fn(np.full(3, x))[1], tf_cpu(name, x))


@glibc_only
@given(base=st.floats(0, 4, width=32) | FINITE32, exponent=st.floats(-50, 4000, width=32))
@example(base=0.98, exponent=9.0)
@example(base=0.604126, exponent=2.0)  # b*b is halfway between two float32 values
@example(base=0.026197083, exponent=23.979674412892166)  # rounds up to the smallest normal
def test_float32_power_is_tensorflows_cpu_kernel(base: float, exponent: float) -> None:
    b, e = np.float32(base), np.float32(exponent)
    with np.errstate(all="ignore"):
        want = tf_cpu("powf", b, e)
        assert same_bits(xp.power(b, e), want)
        assert same_bits(xp.power(np.full(3, b), e)[2], want)
        assert same_bits(xp.power(b, np.full(3, e))[0], want)


SPECIAL32 = [0.0, -0.0, 0.5, -0.5, 2.0, -2.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e-40]


@glibc_only
@pytest.mark.parametrize(
    "e",
    [1.5, -1.5, 3.0, -3.0, 2.0, -2.0, 0.5, 0.001, 100.0, 0.0, 1.0, math.inf, -math.inf, math.nan],
)
def test_float32_power_special_values_follow_c_pow(e: float) -> None:
    """Zeros, signs, infinities and NaN as C's ``powf`` (TensorFlow's semantics: e.g.
    ``pow(-0.0, 0.5)`` is +0.0 where NumPy's ``sqrt`` shortcut gives -0.0), on every
    path: array and scalar base and exponent."""
    bases = np.array(SPECIAL32, dtype=np.float32)
    want = np.array([tf_cpu("powf", b, e) for b in bases], np.float32)
    with np.errstate(all="ignore"):
        got = [
            xp.power(bases, np.float32(e)),
            np.array([xp.power(b, np.float32(e)) for b in bases]),
            np.array([xp.power(b, np.full(5, np.float32(e)))[0] for b in bases]),
        ]
    for g in got:
        assert all(same_bits(a, b) for a, b in zip(g, want, strict=True)), (g, want)


def test_float16_is_computed_in_float32_then_rounded() -> None:
    """Eigen computes a half-precision function in float and rounds the result."""
    x = np.float16(0.7)
    assert xp.cos(x) == np.float16(xp.cos(np.float32(x)))
    assert xp.cos(x).dtype == np.float16


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


def test_integers_meeting_python_floats_become_float32_as_in_keras() -> None:
    ints = np.array([2, 3], np.int32)
    for result in (xp.power(ints, 0.5), xp.add(ints, 0.5), xp.multiply(np.int32(2), 0.5)):
        assert np.asarray(result).dtype == np.float32
    np.testing.assert_array_equal(xp.power(ints, 0.5), np.sqrt(np.float32([2, 3])))


def test_power_with_an_exponent_beyond_int64() -> None:
    assert xp.power(np.float32(0.5), 2**64) == 0.0
    assert xp.power(np.float32(2.0), -(2**70)) == 0.0
