"""refimpl.kernels.glibc against the C library it reproduces (glibc's libm, through ctypes).

The comparisons with libm need what the kernels reproduce: x86_64 glibc (2.29 to 2.42),
whose ifunc runs the FMA builds on a CPU with FMA and AVX2.  Elsewhere they skip with
the reason; the rest (known answers taken from glibc, shapes, errors, the one code path
for scalars and arrays) runs everywhere.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from refimpl.kernels import glibc
from refimpl.kernels.fma import fma
from refimpl.kernels.glibc import cosf, exp2f, expf, logf, powf

_spec = importlib.util.spec_from_file_location("_libm", Path(__file__).with_name("_libm.py"))
assert _spec is not None
assert _spec.loader is not None
_libm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_libm)
libm, neighbours, assert_same_bits = _libm.libm, _libm.neighbours, _libm.assert_same_bits
REASON = _libm.glibc_fma_reason(29, 42)
needs_glibc = pytest.mark.skipif(REASON is not None, reason=str(REASON))


def f32(*values: float | str) -> np.ndarray:
    """float32 values, from floats or C hex literals."""
    return np.array([float.fromhex(v) if isinstance(v, str) else v for v in values], np.float32)


def from_bits(*bits: int) -> np.ndarray:
    return np.array(bits, np.uint32).view(np.float32)


# --- inputs ---------------------------------------------------------------------------------

RNG = np.random.default_rng(236)
NAN_BITS = (0x7FC00000, 0xFFC00000, 0x7FA00001, 0xFF800001, 0x7FC12345, 0x7F800001)
SPECIALS = np.concatenate(
    [
        f32(0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 2.0**-149, -(2.0**-149), 2.0**-126),
        f32(-(2.0**-126), 2.0**-127, 3.4028235e38, -3.4028235e38, 0.5, -0.5, 2.0, -2.0),
        from_bits(*NAN_BITS),
        np.ldexp(np.float32(1), np.arange(-149, 128)).astype(np.float32),
    ]
)


def random_bits(n: int) -> np.ndarray:
    """Any float32, NaNs and subnormals included, uniformly over the bit patterns."""
    return RNG.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)


def nearest_float32(value: mpmath.mpf) -> np.float32:
    """The float32 nearest a real (rounding through float64 is exact enough here: the
    neighbours are tested too)."""
    return np.float32(float(value))


def multiples_of_half_pi(count: int) -> np.ndarray:
    """The float32 nearest to k*pi/2 for small and for huge k: cos near its zeros and
    extrema, where the reduction cancels."""
    with mpmath.workprec(400):
        small = [nearest_float32(k * mpmath.pi / 2) for k in range(1, 80)]
        exponents = RNG.uniform(7, 127, count)
        huge = []
        for e in exponents:
            k = mpmath.floor(mpmath.ldexp(1, int(e)) * mpmath.mpf(RNG.uniform(1, 2)) / mpmath.pi)
            huge.append(nearest_float32(k * mpmath.pi / 2))
        quarter = [nearest_float32((2 * k + 1) * mpmath.pi / 4) for k in range(0, 80)]
    return neighbours(np.array(small + huge + quarter, np.float32), 1)


def expf_inputs() -> np.ndarray:
    ln2_32 = np.log(2) / 32
    table_edges = ((np.arange(-4800, 4100, 7) + 0.5) * ln2_32).astype(np.float32)
    thresholds = f32(88.0, -88.0, "0x1.62e42ep6", "-0x1.9fe368p6", "-0x1.9d1d9ep6")
    return np.concatenate(
        [
            SPECIALS,
            random_bits(3000),
            RNG.uniform(-110, 95, 2000).astype(np.float32),
            neighbours(thresholds, 3),
            neighbours(table_edges, 1),
            neighbours(f32(np.log(2.0**-126), np.log(2.0**-149), np.log(3.4028235e38)), 40),
            f32(2.0**-25, -(2.0**-25), 2.0**-60),
            f32("0x1.04845ep+5", "-0x1.f8cbb2p+5"),  # an unfused reduction differs
        ]
    )


def exp2f_inputs() -> np.ndarray:
    table_edges = ((np.arange(-4800, 4100, 7) + 0.5) / 32).astype(np.float32)
    thresholds = f32(128.0, -128.0, -149.0, -150.0, -126.0, 127.99999)
    return np.concatenate(
        [
            SPECIALS,
            random_bits(3000),
            RNG.uniform(-160, 130, 2000).astype(np.float32),
            neighbours(thresholds, 3),
            neighbours(table_edges, 1),
            np.arange(-150, 129, dtype=np.float32),
            f32(2.0**-25, -(2.0**-25), 2.0**-60, -(2.0**-60)),
        ]
    )


def logf_inputs() -> np.ndarray:
    k = RNG.integers(-126, 128, 300)
    i = RNG.integers(0, 16, 300)
    subintervals = ((0x3F330000 + (i << 19) + (k << 23)) & 0x7FFFFFFF).astype(np.uint32)
    return np.concatenate(
        [
            SPECIALS,
            random_bits(3000),
            RNG.uniform(0, 100, 2000).astype(np.float32),
            neighbours(subintervals.view(np.float32), 1),
            neighbours(f32(1.0), 40),
            from_bits(*RNG.integers(1, 0x00800000, 300)),  # subnormal
            -RNG.uniform(0, 10, 50).astype(np.float32),
        ]
    )


def cosf_inputs() -> np.ndarray:
    boundaries = f32(2.0**-12, 0.75, np.pi / 4, 120.0, -(2.0**-12), -0.75, -120.0)
    return np.concatenate(
        [
            SPECIALS,
            random_bits(3000),
            RNG.uniform(0, 3.3, 2000).astype(np.float32),
            RNG.uniform(-200, 200, 500).astype(np.float32),
            neighbours(boundaries, 3),
            multiples_of_half_pi(300),
            f32("0x1.8abf54p+6", "0x1.05d696p+5", "0x1.1475b8p+4", "0x1.b1a47cp+6"),
        ]
    )


def powf_inputs() -> tuple[np.ndarray, np.ndarray]:
    edge_x = np.concatenate(
        [
            f32(0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, 3.0, -3.0),
            f32(2.0**-149, -(2.0**-149), 2.0**-130, -(2.0**-130), 3.4028235e38, 0.96),
            f32(1 + 2.0**-23, 1 - 2.0**-24, -(1 + 2.0**-23)),
            from_bits(*NAN_BITS),
        ]
    )
    edge_y = np.concatenate(
        [
            f32(0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, np.inf, -np.inf),
            f32(2.0**23 + 1, 2.0**24, -(2.0**23 + 1), 2.0**30, 1.5, -1.5, 127.0, 128.0),
            f32(-149.0, -150.0, -149.5, 149.0, 150.0, 1e6, -1e6, 2.0**-30),
            from_bits(*NAN_BITS),
        ]
    )
    grid_x, grid_y = (g.ravel() for g in np.meshgrid(edge_x, edge_y))
    # y*log2(x) at the overflow and underflow thresholds and at exp2's rounding
    # boundaries (k + 1/2)/32: powers of two to half-integer multiples of 1/64.
    powers = np.ldexp(np.float32(1), RNG.integers(-3, 4, 600)).astype(np.float32)
    halves = ((2 * RNG.integers(-9000, 8000, 600) + 1) / 64).astype(np.float32)
    threshold_y = neighbours(f32(128.0, -150.0, -149.0, 126.0, -126.0, 127.99999), 3)
    base_2 = np.full(threshold_y.size, 2.0, np.float32)
    negative_x = -RNG.uniform(0, 3, 800).astype(np.float32)
    integer_y = np.round(RNG.uniform(-300, 300, 800)).astype(np.float32)
    xs = [grid_x, random_bits(3000), RNG.uniform(0, 2, 2000).astype(np.float32), powers]
    ys = [grid_y, random_bits(3000), RNG.uniform(0, 1e6, 2000).astype(np.float32), halves]
    xs += [base_2, -base_2, negative_x, f32(*[0.5] * threshold_y.size)]
    ys += [threshold_y, threshold_y, integer_y, -threshold_y]
    return np.concatenate(xs), np.concatenate(ys)


INPUTS: dict[str, Callable[[], tuple[np.ndarray, ...]]] = {
    "expf": lambda: (expf_inputs(),),
    "exp2f": lambda: (exp2f_inputs(),),
    "logf": lambda: (logf_inputs(),),
    "cosf": lambda: (cosf_inputs(),),
    "powf": powf_inputs,
}
KERNELS = {"expf": expf, "exp2f": exp2f, "logf": logf, "cosf": cosf, "powf": powf}


# --- against the C library ------------------------------------------------------------------


@needs_glibc
@pytest.mark.parametrize("name", KERNELS)
def test_matches_libm_on_random_and_edge_inputs(name: str) -> None:
    inputs = INPUTS[name]()
    assert_same_bits(KERNELS[name](*inputs), libm(name, *inputs), *inputs)


@needs_glibc
@pytest.mark.parametrize("name", KERNELS)
def test_the_exact_pass_alone_matches_libm(name: str) -> None:
    """The exact pass (a fused ``fma`` at every site) decides the rare elements near a
    float32 rounding midpoint; here it computes every element."""
    flat = {
        "expf": glibc._expf_flat,
        "exp2f": glibc._exp2f_flat,
        "logf": glibc._logf_flat,
        "cosf": glibc._cosf_flat,
        "powf": glibc._powf_flat,
    }
    inputs = INPUTS[name]()
    got, redo = flat[name](*inputs, fma)
    assert redo.size == 0
    assert_same_bits(got, libm(name, *inputs), *inputs)


# Hypothesis: named strategies for the inputs, the edges pinned with @example.


@st.composite
def any_float32(draw: st.DrawFn) -> np.float32:
    """Any float32 bit pattern: NaN payloads, subnormals and infinities included."""
    return np.uint32(draw(st.integers(0, 2**32 - 1))).view(np.float32)


@st.composite
def schedule_steps(draw: st.DrawFn, low: float, high: float) -> np.float32:
    """A float32 in the range a schedule feeds the function."""
    low32, high32 = float(np.float32(low)), float(np.float32(high))
    return np.float32(draw(st.floats(low32, high32, width=32)))


@st.composite
def near_half_pi(draw: st.DrawFn) -> np.float32:
    """The float32 nearest to k*pi/2, or a neighbour, for k up to 2**130."""
    exponent = draw(st.integers(0, 127))
    fraction = draw(st.floats(1.0, 2.0))
    with mpmath.workprec(400):
        k = mpmath.floor(mpmath.ldexp(fraction, exponent) / mpmath.pi)
        x = nearest_float32(k * mpmath.pi / 2)
    return neighbours(np.array([x]), 1)[draw(st.integers(0, 2))]


@st.composite
def decay_powers(draw: st.DrawFn) -> tuple[np.float32, np.float32]:
    """(base, exponent) of a decay: a base in (0, 2], an exponent in [0, 10**6]."""
    base = draw(st.floats(0.0, 2.0, width=32, exclude_min=True))
    return np.float32(base), np.float32(draw(st.floats(0.0, 1e6, width=32)))


@needs_glibc
@given(x=st.one_of(any_float32(), schedule_steps(-100.0, 90.0)))
@example(x=f32("0x1.38aa58p+0")[0])  # glibc's 0x1.b2253ap+1: 1 ulp above exp(x) rounded
@example(x=f32("-0x1.9d1d9ep6")[0])  # the last x before __math_may_uflowf
@example(x=f32("0x1.62e42ep6")[0])  # the largest finite result
@example(x=from_bits(0x7FA00001)[0])  # a signalling NaN: x + x
def test_expf_matches_libm(x: np.float32) -> None:
    assert_same_bits(np.atleast_1d(expf(x)), libm("expf", np.array([x])), np.array([x]))


@needs_glibc
@given(x=st.one_of(any_float32(), schedule_steps(-160.0, 130.0)))
@example(x=f32("0x1.50cdf6p+3")[0])  # glibc's 0x1.706738p+10: 1 ulp above 2**x rounded
@example(x=f32(-149.0)[0])  # the last x that takes the formula: 2**-149
@example(x=f32("-0x1.2a0002p7")[0])  # just below -149: __math_may_uflowf
@example(x=f32("0x1.fffffep6")[0])  # the largest finite result
@example(x=from_bits(0xFFA00001)[0])  # a signalling NaN: x + x
def test_exp2f_matches_libm(x: np.float32) -> None:
    assert_same_bits(np.atleast_1d(exp2f(x)), libm("exp2f", np.array([x])), np.array([x]))


@needs_glibc
@given(x=st.one_of(any_float32(), schedule_steps(0.0, 100.0)))
@example(x=f32("0x1.92ecdp+5")[0])  # glibc's 0x1.f5abecp+1: 1 ulp above log(x) rounded
@example(x=from_bits(0x00000001)[0])  # the smallest subnormal
@example(x=from_bits(0x80000000)[0])  # -0: -inf
@example(x=from_bits(0xFF800000)[0])  # -inf: the default NaN
def test_logf_matches_libm(x: np.float32) -> None:
    assert_same_bits(np.atleast_1d(logf(x)), libm("logf", np.array([x])), np.array([x]))


@needs_glibc
@given(x=st.one_of(any_float32(), schedule_steps(0.0, 3.3), near_half_pi()))
@example(x=f32("0x1.89700ep-1")[0])  # glibc's 0x1.7020d8p-1: 1 ulp below cos(x) rounded
@example(x=f32(np.pi / 2)[0])  # the reduction cancels: -4.371139e-08
@example(x=f32(1e30)[0])  # the large reduction
@example(x=f32(2.0**-12)[0])  # the first x that takes the polynomial
def test_cosf_matches_libm(x: np.float32) -> None:
    assert_same_bits(np.atleast_1d(cosf(x)), libm("cosf", np.array([x])), np.array([x]))


@needs_glibc
@given(xy=st.one_of(st.tuples(any_float32(), any_float32()), decay_powers()))
@example(xy=(f32("0x1.d39a2cp-1")[0], f32("0x1.2ad2e8p+9")[0]))  # 1 ulp from pow rounded
@example(xy=(f32(2.0)[0], f32(0.5 / 32)[0]))  # y*log2(x) halfway between two k/32
@example(xy=(f32(-2.0)[0], f32(127.0)[0]))  # odd integer exponent: -2**127
@example(xy=(from_bits(0x7FA00001)[0], f32(0.0)[0]))  # a signalling NaN ** 0: NaN
@example(xy=(f32(0.5)[0], f32(149.5)[0]))  # __math_may_uflowf: 2**-149
def test_powf_matches_libm(xy: tuple[np.float32, np.float32]) -> None:
    x, y = (np.array([v]) for v in xy)
    assert_same_bits(np.atleast_1d(powf(*xy)), libm("powf", x, y), x, y)


# --- everywhere: known answers (glibc's, on x86_64 with FMA), shapes, errors -----------------


@pytest.mark.parametrize(
    ("function", "args", "want"),
    [
        # Each 1 ulp from the correctly rounded value, as TensorFlow computes it.
        (cosf, ("0x1.89700ep-1",), "0x1.7020d8p-1"),
        (cosf, ("0x1.242682p+1",), "-0x1.4e5ef4p-1"),
        (logf, ("0x1.92ecdp+5",), "0x1.f5abecp+1"),
        (logf, ("0x1.3777180000000p-1",), "-0x1.fcf744p-2"),
        (expf, ("0x1.38aa58p+0",), "0x1.b2253ap+1"),
        (expf, ("-0x1.26f0ccp+2",), "0x1.469ba6p-7"),
        (exp2f, ("0x1.50cdf6p+3",), "0x1.706738p+10"),
        (exp2f, ("-0x1.4f428p+3",), "0x1.6fe3f4p-11"),
        (powf, ("0x1.d39a2cp-1", "0x1.2ad2e8p+9"), "0x1.bad65ep-79"),
        (powf, ("0x1.e7527ap-1", "0x1.f483acp+8"), "0x1.41a7dcp-36"),
        # An unfused reduction (x*InvLn2N, or x - n*pi/2, rounded first) gives another.
        (expf, ("0x1.04845ep+5",), "0x1.f93e38p+46"),
        (expf, ("-0x1.f8cbb2p+5",), "0x1.f45326p-92"),
        (cosf, ("0x1.8abf54p+6",), "-0x1.1469a2p-2"),
        (cosf, ("0x1.1475b8p+4",), "-0x1.49eeep-16"),
        (cosf, ("0x1.d0f4aap+5",), "-0x1.a44af8p-21"),
        # Special cases.
        (expf, ("-0x1.9d1d9ep6",), "0x1p-149"),
        (exp2f, ("-0x1.2ap7",), "0x1p-149"),
        (exp2f, ("-0x1.2bp7",), "0x1p-149"),
        (exp2f, ("-0x1.2cp7",), "0x0p+0"),
        (exp2f, ("-0x1.1ap7",), "0x1p-141"),
        (logf, ("0x1p-149",), "-0x1.9d1dap6"),
        (powf, ("-0x1p1", "0x1.fcp6"), "-0x1p127"),
        (powf, ("0x1p-1", "0x1.2ap7"), "0x1p-149"),
    ],
)
def test_known_glibc_results(function: Callable[..., np.float32], args: tuple, want: str) -> None:
    got = function(*(np.float32(float.fromhex(a)) for a in args))
    assert float(got).hex() == float.fromhex(want).hex()


def test_special_values_known_answers() -> None:
    nan = float("nan")
    assert np.isnan(expf(np.float32(nan)))
    assert expf(np.float32(-np.inf)) == 0
    assert np.isnan(exp2f(np.float32(nan)))
    assert exp2f(np.float32(-np.inf)) == 0
    assert exp2f(np.float32(np.inf)) == np.inf
    assert exp2f(from_bits(0x7FA00001)[0]).view(np.uint32) == 0x7FE00001  # made quiet
    assert logf(np.float32(0)) == -np.inf
    assert logf(np.float32(1)) == 0
    assert logf(np.float32(-1)).view(np.uint32) == 0xFFC00000  # x86's default NaN
    assert cosf(np.float32(np.inf)).view(np.uint32) == 0xFFC00000
    assert cosf(from_bits(0x7FA00001)[0]).view(np.uint32) == 0x7FE00001  # made quiet
    assert powf(np.float32(-0.0), np.float32(-3)) == -np.inf
    assert powf(np.float32(-np.inf), np.float32(3)) == -np.inf
    assert powf(from_bits(0xFFC00000)[0], np.float32(3)).view(np.uint32) == 0x7FC00000
    assert powf(np.float32(1), np.float32(nan)) == 1
    assert powf(np.float32(nan), np.float32(0)) == 1
    assert np.isnan(powf(from_bits(0x7FA00001)[0], np.float32(0)))  # signalling NaN ** 0


@given(arrays(np.float32, st.integers(1, 40), elements=st.floats(width=32)))
def test_one_code_path_for_scalars_and_arrays(x: np.ndarray) -> None:
    for function in (expf, exp2f, logf, cosf):
        whole = function(x)
        each = np.array([function(v) for v in x], np.float32)
        np.testing.assert_array_equal(whole.view(np.uint32), each.view(np.uint32))
    whole = powf(x, x[::-1])
    each = np.array([powf(a, b) for a, b in zip(x, x[::-1])], np.float32)
    np.testing.assert_array_equal(whole.view(np.uint32), each.view(np.uint32))


def test_blocks_of_a_long_array_are_the_elementwise_results() -> None:
    x = RNG.uniform(-10, 10, glibc._BLOCK * 2 + 17).astype(np.float32)
    np.testing.assert_array_equal(expf(x)[-100:], expf(x[-100:]))
    np.testing.assert_array_equal(exp2f(x)[-100:], exp2f(x[-100:]))
    np.testing.assert_array_equal(powf(x, np.float32(3.0))[-100:], powf(x[-100:], x[-100:] * 0 + 3))


@pytest.mark.parametrize("size", [1000, glibc._BLOCK * 3 + 5])
def test_the_exact_pass_runs_once_on_the_undecided_elements_of_all_blocks(size: int) -> None:
    """A stand-in kernel whose fast pass leaves every 1000th element (from the 7th)
    undecided: the exact pass runs once, after all blocks, and its results land there."""
    calls: list[tuple[bool, int]] = []

    def kernel(a: np.ndarray, fma_: Callable[..., object]) -> tuple[np.ndarray, np.ndarray]:
        calls.append((fma_ is fma, a.size))
        if fma_ is fma:
            return -a, np.zeros(0, np.intp)
        return a.copy(), np.flatnonzero(a % 1000 == 7)

    x = np.arange(size, dtype=np.float32)
    undecided = x % 1000 == 7
    got = glibc._blockwise(kernel, x)
    np.testing.assert_array_equal(got, np.where(undecided, -x, x))
    blocks = [min(glibc._BLOCK, size - lo) for lo in range(0, size, glibc._BLOCK)]
    assert calls == [(False, n) for n in blocks] + [(True, np.count_nonzero(undecided))]


def test_shapes_and_types() -> None:
    assert isinstance(expf(np.float32(1)), np.float32)
    assert isinstance(powf(np.float32(2), np.array(3, np.float32)), np.float32)
    assert cosf(np.zeros((2, 3), np.float32)).shape == (2, 3)
    assert logf(np.ones(0, np.float32)).shape == (0,)
    out = powf(np.ones((3, 1), np.float32), np.ones(4, np.float32))
    assert out.shape == (3, 4)
    assert out.dtype == np.float32
    assert expf([np.float32(0), np.float32(1)]).dtype == np.float32
    swapped = np.array([0.5, 2.0], ">f4")  # float32 in the other byte order
    np.testing.assert_array_equal(logf(swapped), logf(np.array([0.5, 2.0], np.float32)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: expf(1.0), "expf: x must be float32"),
        (lambda: exp2f(np.float16(1)), "exp2f: x must be float32"),
        (lambda: logf(np.arange(3)), "logf: x must be float32"),
        (lambda: cosf(np.float64(1)), "cosf: x must be float32"),
        (lambda: powf(np.float32(2), 3), "powf: y must be float32"),
    ],
)
def test_non_float32_input_is_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
