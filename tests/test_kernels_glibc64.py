"""refimpl.kernels.glibc64 against the C library it reproduces (glibc's libm, through ctypes,
and Python's ``math`` module, which calls it).

The comparisons with libm need what the kernels reproduce: x86_64 glibc 2.35 to 2.42 (the
same C), whose ifunc runs the FMA builds on a CPU with FMA and AVX2, compiled as Debian
12's (another compiler may contract other ``a*b + c``).  Elsewhere they skip with the
reason; the rest (known answers taken from glibc, shapes, errors, the one code path for
scalars and arrays) runs everywhere.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from refimpl.kernels import glibc64
from refimpl.kernels.fma import fma_unscaled
from refimpl.kernels.glibc64 import cos, exp, exp2, log, pow

_spec = importlib.util.spec_from_file_location("_libm", Path(__file__).with_name("_libm.py"))
assert _spec is not None
assert _spec.loader is not None
_libm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_libm)
libm, neighbours, assert_same_bits = _libm.libm, _libm.neighbours, _libm.assert_same_bits
REASON = _libm.glibc_fma_reason(35, 42)
needs_glibc = pytest.mark.skipif(REASON is not None, reason=str(REASON))


def f64(*values: float | str) -> np.ndarray:
    """float64 values, from floats or C hex literals."""
    return np.array([float.fromhex(v) if isinstance(v, str) else v for v in values], np.float64)


def from_bits(*bits: int) -> np.ndarray:
    return np.array(bits, np.uint64).view(np.float64)


# --- inputs ---------------------------------------------------------------------------------

RNG = np.random.default_rng(236)
NAN_BITS = (
    0x7FF8000000000000,
    0xFFF8000000000000,
    0x7FF4000000000001,
    0xFFF0000000000001,
    0x7FF8000012345678,
)
SPECIALS = np.concatenate(
    [
        f64(0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 5e-324, -5e-324, 2.0**-1022, -(2.0**-1022)),
        f64(1.7976931348623157e308, -1.7976931348623157e308, 0.5, -0.5, 2.0, -2.0),
        from_bits(*NAN_BITS),
        np.ldexp(1.0, np.arange(-1074, 1024, 7)),
        -np.ldexp(1.0, np.arange(-1074, 1024, 13)),
    ]
)


def random_bits(n: int) -> np.ndarray:
    """Any double, NaNs and subnormals included, uniformly over the bit patterns."""
    return RNG.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)


def exp_inputs() -> np.ndarray:
    edges = f64(709.782712893384, -708.3964185322641, -745.1332191019411, 512.0, -512.0)
    edges = np.concatenate([edges, f64(1024.0, -1024.0, 2.0**-54, -(2.0**-54))])
    halfway = (np.arange(-90000, 90000, 97) + 0.5) * (math.log(2) / 128)  # k's ties
    return np.concatenate(
        [
            SPECIALS,
            random_bits(2000),
            RNG.uniform(-750, 710, 2000),
            RNG.uniform(-1, 1, 1000),
            neighbours(edges, 3),
            neighbours(halfway, 1),
        ]
    )


def exp2_inputs() -> np.ndarray:
    edges = f64(1024.0, -1022.0, -1074.0, -1075.0, 928.0, -928.0, 512.0, -512.0)
    return np.concatenate(
        [
            SPECIALS,
            random_bits(2000),
            RNG.uniform(-1100, 1030, 2000),
            neighbours(edges, 3),
            neighbours((np.arange(-1075 * 128, 1024 * 128, 61) + 0.5) / 128, 1),
        ]
    )


def log_inputs() -> np.ndarray:
    near_one = f64(1.0, 1 - 2.0**-4, 1 + float.fromhex("0x1.09p-4"))
    subintervals = from_bits(*(0x3FE6000000000000 + (np.arange(128) << 45)).tolist())
    return np.concatenate(
        [
            SPECIALS,
            random_bits(2000),
            np.abs(random_bits(1000)),
            RNG.uniform(0, 1e6, 1000),
            RNG.uniform(0.9375, 1.0645, 1000),
            1 + RNG.uniform(-1e-9, 1e-9, 300),
            neighbours(near_one, 3),
            neighbours(subintervals, 1),
            from_bits(*RNG.integers(1, 2**52, 300, dtype=np.uint64).tolist()),  # subnormal
        ]
    )


def cos_inputs() -> np.ndarray:
    edges = f64(2.0**-27, 0.85546875, 2.426265, 105414350.0, 0.126, 1e22, 2.0**1023)
    multiples = np.arange(1, 2000) * (np.pi / 2)  # cos near its zeros: the reduction cancels
    return np.concatenate(
        [
            SPECIALS,
            random_bits(2000),
            RNG.uniform(0, 4, 2000),
            RNG.uniform(-1e8, 1e8, 500),
            np.exp(RNG.uniform(19, 709, 500)),
            neighbours(edges, 3),
            neighbours(multiples, 1),
            neighbours((np.arange(0, 110) + 0.5) / 128, 1),  # do_cos's table rows
        ]
    )


def pow_inputs() -> tuple[np.ndarray, np.ndarray]:
    edge_x = np.concatenate(
        [
            f64(0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, 3.0, -3.0),
            f64(5e-324, -5e-324, 2.0**-1022, 1.7976931348623157e308, 1 + 2.0**-52, 1 - 2.0**-53),
            from_bits(*NAN_BITS),
        ]
    )
    edge_y = np.concatenate(
        [
            f64(0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, np.inf, -np.inf),
            f64(2.0**53, 2.0**53 + 2, 2.0**63, -(2.0**63), 2.0**-65, 2.0**-66, -(2.0**-66)),
            f64(1075.0, -1075.0, 1e300, 1023.0, -1022.0),
            from_bits(*NAN_BITS),
        ]
    )
    grid_x, grid_y = (g.ravel() for g in np.meshgrid(edge_x, edge_y))
    flows = neighbours(f64(1024.0, -1075.0, 512.0, -512.0, -1022.0, 1023.0), 2)
    xs = [grid_x, random_bits(2000), RNG.uniform(0, 2, 2000), -RNG.uniform(0, 3, 500)]
    ys = [
        grid_y,
        random_bits(2000),
        RNG.uniform(-1e6, 1e6, 2000),
        np.round(RNG.uniform(-300, 300, 500)),
    ]
    xs += [np.full(flows.size, 2.0), 1 + RNG.uniform(-1e-9, 1e-9, 500), RNG.uniform(0, 2, 1000)]
    ys += [flows, RNG.uniform(-1e12, 1e12, 500), RNG.uniform(-30, 30, 1000)]
    return np.concatenate(xs), np.concatenate(ys)


INPUTS: dict[str, Callable[[], tuple[np.ndarray, ...]]] = {
    "exp": lambda: (exp_inputs(),),
    "exp2": lambda: (exp2_inputs(),),
    "log": lambda: (log_inputs(),),
    "cos": lambda: (cos_inputs(),),
    "pow": pow_inputs,
}
KERNELS = {"exp": exp, "exp2": exp2, "log": log, "cos": cos, "pow": pow}


# --- against the C library ------------------------------------------------------------------


@needs_glibc
@pytest.mark.parametrize("name", KERNELS)
def test_matches_libm_on_random_and_edge_inputs(name: str) -> None:
    inputs = INPUTS[name]()
    assert_same_bits(KERNELS[name](*inputs), libm(name, *inputs), *inputs)


@needs_glibc
def test_matches_pythons_math_module() -> None:
    """``math.exp/log/pow/cos`` are glibc's on Linux: the same doubles (finite cases)."""
    x = RNG.uniform(-700, 700, 2000)
    assert_same_bits(exp(x), np.array([math.exp(v) for v in x]), x)
    x = RNG.uniform(0, 1e6, 2000)
    assert_same_bits(log(x), np.array([math.log(v) for v in x]), x)
    x = RNG.uniform(0, 4, 2000)
    assert_same_bits(cos(x), np.array([math.cos(v) for v in x]), x)
    x, y = RNG.uniform(0, 2, 2000), RNG.uniform(-100, 100, 2000)
    assert_same_bits(pow(x, y), np.array([math.pow(a, b) for a, b in zip(x, y)]), x, y)


@needs_glibc
def test_the_exact_pass_alone_matches_libm() -> None:
    """The exact pass (``fma_unscaled`` at every contracted site) decides the elements the
    fast pass cannot certify; here it computes every element, against libm."""
    fused = fma_unscaled
    x = RNG.uniform(-500, 500, 3000)
    _, sbits, tmp = glibc64._exp_core(x, fused)
    scale = sbits.view(np.float64)
    assert_same_bits(fused(scale, tmp, scale), libm("exp", x), x)
    x = RNG.uniform(0.5, 1e6, 3000)
    x = x[(x.view(np.uint64) - glibc64._NEAR_ONE_LO) >= glibc64._NEAR_ONE_SPAN]
    hi, y, _ = glibc64._log_core(x.view(np.uint64), fused)
    assert_same_bits(hi + y, libm("log", x), x)
    x = RNG.uniform(0.9375, 1.0645, 3000)
    hi, y, _ = glibc64._log_near_one_core(x, fused)
    assert_same_bits(hi + y, libm("log", x), x)
    x, y = RNG.uniform(0.01, 2, 3000), RNG.uniform(-100, 100, 3000)
    got = glibc64._pow_exact(x.view(np.uint64), y, np.zeros(x.size, np.uint64))
    assert_same_bits(got, libm("pow", x, y), x, y)
    x = RNG.uniform(0, 0.85, 3000)
    cs, cor, _ = glibc64._do_cos(x, np.zeros_like(x), fused)
    assert_same_bits(cs + cor, libm("cos", x), x)
    x = RNG.uniform(0.86, 2.42, 3000)
    y = glibc64._HP0 - x
    a = y + glibc64._HP1
    da = (y - a) + glibc64._HP1
    wide = np.abs(a) >= 0.126
    sn, cor, _ = glibc64._do_sin(a[wide], da[wide], fused)
    assert_same_bits(np.copysign(sn + cor, a[wide]), libm("cos", x[wide]), x[wide])
    base, t, _ = glibc64._taylor_sin(a[~wide], da[~wide], fused)
    assert_same_bits(base + t, libm("cos", x[~wide]), x[~wide])


# Hypothesis: named strategies for the inputs, the edges pinned with @example.


@st.composite
def any_float64(draw: st.DrawFn) -> float:
    """Any double bit pattern: NaN payloads, subnormals and infinities included."""
    return float(np.uint64(draw(st.integers(0, 2**64 - 1))).view(np.float64))


@st.composite
def schedule_values(draw: st.DrawFn, low: float, high: float) -> float:
    """A double in the range a schedule feeds the function."""
    return draw(st.floats(low, high))


@st.composite
def decay_powers(draw: st.DrawFn) -> tuple[float, float]:
    """(base, exponent) of a decay: a base in (0, 2], an exponent in [-10**6, 10**6]."""
    return draw(st.floats(0.0, 2.0, exclude_min=True)), draw(st.floats(-1e6, 1e6))


def _one(function: Callable[..., np.ndarray], name: str, *args: float) -> None:
    arrays = [np.array([v]) for v in args]
    assert_same_bits(function(*args), libm(name, *arrays), *arrays)


@needs_glibc
@given(x=st.one_of(any_float64(), schedule_values(-750.0, 710.0)))
@example(x=float.fromhex("-0x1.3556928540d14p+4"))  # an unfused evaluation is 1 ulp off
@example(x=float.fromhex("-0x1.23e257e17f92ap+3"))  # glibc: 1 ulp from exp(x) rounded
@example(x=709.782712893384)  # the largest finite result
@example(x=-745.1332191019411)  # the smallest subnormal result
@example(x=float.fromhex("0x1.62e42fefa39efp-8"))  # k's rounding: about ln(2)/128
def test_exp_matches_libm(x: float) -> None:
    _one(exp, "exp", x)


@needs_glibc
@given(x=st.one_of(any_float64(), schedule_values(-1100.0, 1030.0)))
@example(x=float.fromhex("-0x1.a995cefb66ed2p+3"))  # glibc: 1 ulp from 2**x rounded
@example(x=-1074.5)  # specialcase: rounded once into the subnormals
@example(x=928.0000000000001)  # specialcase from here on
def test_exp2_matches_libm(x: float) -> None:
    _one(exp2, "exp2", x)


@needs_glibc
@given(x=st.one_of(any_float64(), schedule_values(0.0, 1e6), schedule_values(0.9, 1.1)))
@example(x=float.fromhex("0x1.0edcd4bfe0791p+0"))  # near 1: an unfused evaluation is off
@example(x=float.fromhex("0x1.2aaa8033af526p+0"))  # glibc: 1 ulp from log(x) rounded
@example(x=5e-324)  # the smallest subnormal
@example(x=-0.0)  # -inf
@example(x=float.fromhex("0x1.108ffffffffffp+0"))  # the last x near 1
def test_log_matches_libm(x: float) -> None:
    _one(log, "log", x)


@needs_glibc
@given(xy=st.one_of(st.tuples(any_float64(), any_float64()), decay_powers()))
@example(xy=(float.fromhex("0x1.dc9327a063d1ap+0"), float.fromhex("-0x1.1e2643bbdcde0p+4")))
@example(xy=(float.fromhex("0x1.cbe1d40b375b3p+0"), float.fromhex("-0x1.5b7f7547801f8p+4")))
@example(xy=(-2.0, 1023.0))  # odd integer exponent: -2**1023
@example(xy=(-2.0, -1074.0))  # even: 2**-1074, specialcase into the subnormals
@example(xy=(1 + 2.0**-52, 2.0**62))  # |y * log(x)| ~ 1024: overflows
@example(xy=(float(from_bits(0x7FF4000000000001)[0]), 0.0))  # signalling NaN ** 0: NaN
def test_pow_matches_libm(xy: tuple[float, float]) -> None:
    _one(pow, "pow", *xy)


@needs_glibc
@given(x=st.one_of(any_float64(), schedule_values(0.0, 4.0), schedule_values(-1e9, 1e9)))
@example(x=float.fromhex("0x1.3a945297462d2p-1"))  # do_cos: an unfused evaluation is off
@example(x=float.fromhex("0x1.49388bffccba6p+0"))  # do_sin: likewise
@example(x=float.fromhex("0x1.511a13243e612p+0"))  # glibc: 1 ulp from cos(x) rounded
@example(x=math.pi / 2)  # the reduction cancels: 6.123233995736766e-17
@example(x=1e22)  # __branred
def test_cos_matches_libm(x: float) -> None:
    _one(cos, "cos", x)


# --- everywhere: known answers (glibc's, on x86_64 with FMA), shapes, errors -----------------


@pytest.mark.parametrize(
    ("function", "args", "want"),
    [
        # Each 1 ulp from the correctly rounded value, as TensorFlow computes it.
        (exp, ("-0x1.23e257e17f92ap+3",), "0x1.ca7403c882414p-14"),
        (exp, ("0x1.31937a1a0865cp+4",), "0x1.77ab49bcdbbbdp+27"),
        (exp2, ("-0x1.a995cefb66ed2p+3",), "0x1.a001b4b1280a8p-14"),
        (exp2, ("0x1.32a6b43743240p+3",), "0x1.7f70226f43849p+9"),
        (log, ("0x1.2aaa8033af526p+0",), "0x1.3bb236d42862ep-3"),
        (log, ("0x1.0412269e6fce1p+5",), "0x1.bda235b7bad58p+1"),
        (pow, ("0x1.cbe1d40b375b3p+0", "-0x1.5b7f7547801f8p+4"), "0x1.905c25eab120dp-19"),
        (pow, ("0x1.e8bc1510ddd8ep+0", "0x1.dca1a06ca7bfcp+4"), "0x1.bae4cc952fd7dp+27"),
        (cos, ("0x1.511a13243e612p+0",), "0x1.014cf168655e2p-2"),
        (cos, ("0x1.b943ce7f3f2a0p-3",), "0x1.f42955b821bf6p-1"),
        # An unfused a*b + c somewhere gives another double.
        (exp, ("-0x1.3556928540d14p+4",), "0x1.13cbdc8defb91p-28"),
        (exp, ("0x1.62969d6e91decp+3",), "0x1.fb2cb38f8a4f3p+15"),
        (log, ("0x1.0edcd4bfe0791p+0",), "0x1.ce4f565fb1026p-5"),
        (log, ("0x1.e869ae239dd49p-1",), "-0x1.825d568b0a53dp-5"),
        (pow, ("0x1.dc9327a063d1ap+0", "-0x1.1e2643bbdcde0p+4"), "0x1.f3f2a0b13c2d3p-17"),
        (pow, ("0x1.3fd3293a54422p-1", "0x1.8aad5b4547338p+2"), "0x1.c1ef79a7df403p-5"),
        (cos, ("0x1.3a945297462d2p-1",), "0x1.a25c8311f3229p-1"),
        (cos, ("0x1.49388bffccba6p+0",), "0x1.1fafb28c4e9d6p-2"),
        (cos, ("0x1.047999698d271p+1",), "-0x1.ca6b8f82c9d8ep-2"),
        # Fusing one particular site changes the result (each site unfused in turn on
        # 10**6 random inputs): exp's q and final fma (in specialcase), log's B2 and B5
        # terms and y near 1, pow's final fma, do_cos's cor, do_sin's c*sn and s*cs
        # terms, TAYLOR_SIN's last two.
        (exp, ("0x1.ba397a1a64ee0p+7",), "0x1.ff228eb90fd7bp+318"),
        (exp, ("0x1.5c0c053f0ea52p+9",), "0x1.30b2771e58779p+1004"),
        (log, ("0x1.0fdc7b5cc5638p+0",), "0x1.ec750d4983c17p-5"),
        (log, ("0x1.0eaa8e953c18ep+0",), "0x1.c85e4a69b49a9p-5"),
        (log, ("0x1.e475a0893211fp-1",), "-0x1.c4f1454e1f0e9p-5"),
        (pow, ("0x1.7f572495c534ep-1", "-0x1.527b9eb2197d0p+2"), "0x1.27bc67d5a857bp+2"),
        (cos, ("0x1.35f20d4f540c1p-1",), "0x1.a503f9e99be56p-1"),
        (cos, ("0x1.08e6ff43903a6p+1",), "-0x1.e9cf9698afedap-2"),
        (cos, ("0x1.6510df132dcfdp+0",), "0x1.669afc4570708p-3"),
        (cos, ("0x1.78ff84ccee40ep+0",), "0x1.915de14b6eaa1p-4"),
        (cos, ("0x1.81083a2e944e0p+0",), "0x1.1143b1c82111ap-4"),
        # Special cases.
        (exp, ("-0x1.74910d52d3051p+9",), "0x0.0000000000001p-1022"),
        (exp2, ("-0x1.0c8p+10",), "0x0.0000000000001p-1022"),
        (pow, ("-0x1p+1", "0x1.ff8p+9"), "-0x1p+1023"),
        (log, ("0x0.0000000000001p-1022",), "-0x1.74385446d71c3p+9"),
        (cos, ("0x1.0f0cf064dd592p+73",), "0x1.0be2cef01c8f4p-1"),  # 1e22: __branred
    ],
)
def test_known_glibc_results(function: Callable[..., np.float64], args: tuple, want: str) -> None:
    got = function(*(float.fromhex(a) for a in args))
    assert float(got).hex() == float.fromhex(want).hex()


def test_special_values_known_answers() -> None:
    nan = float("nan")
    assert np.isnan(exp(nan))
    assert exp(-np.inf) == 0
    assert exp(1000.0) == np.inf
    assert exp2(-1075.0) == 0
    assert log(0.0) == -np.inf
    assert log(1.0) == 0
    assert log(-1.0).view(np.uint64) == 0xFFF8000000000000  # x86's default NaN
    assert cos(np.inf).view(np.uint64) == 0xFFF8000000000000
    assert cos(from_bits(0x7FF4000000000001)[0]).view(np.uint64) == 0x7FFC000000000001
    assert pow(-0.0, -3.0) == -np.inf
    assert pow(-np.inf, 3.0) == -np.inf
    assert pow(1.0, nan) == 1
    assert pow(nan, 0.0) == 1
    assert np.isnan(pow(from_bits(0x7FF4000000000001)[0], 0.0))  # signalling NaN ** 0
    assert pow(-8.0, 1 / 3).view(np.uint64) == 0xFFF8000000000000


@given(arrays(np.float64, st.integers(1, 40), elements=st.floats()))
def test_one_code_path_for_scalars_and_arrays(x: np.ndarray) -> None:
    for function in (exp, exp2, log, cos):
        whole = function(x)
        each = np.array([function(v) for v in x])
        np.testing.assert_array_equal(whole.view(np.uint64), each.view(np.uint64))
    whole = pow(x, x[::-1])
    each = np.array([pow(a, b) for a, b in zip(x, x[::-1])])
    np.testing.assert_array_equal(whole.view(np.uint64), each.view(np.uint64))


def test_blocks_of_a_long_array_are_the_elementwise_results() -> None:
    x = RNG.uniform(-10, 10, glibc64._BLOCK * 2 + 17)
    np.testing.assert_array_equal(exp(x)[-100:], exp(x[-100:]))
    np.testing.assert_array_equal(cos(x)[-100:], cos(x[-100:]))
    np.testing.assert_array_equal(pow(np.abs(x), 3.0)[-100:], pow(np.abs(x[-100:]), 3.0))


def test_shapes_and_types() -> None:
    assert isinstance(exp(1.0), np.float64)
    assert isinstance(pow(np.float64(2), np.array(3.0)), np.float64)
    assert cos(np.zeros((2, 3))).shape == (2, 3)
    assert log(np.ones(0)).shape == (0,)
    out = pow(np.ones((3, 1)), np.ones(4))
    assert out.shape == (3, 4)
    assert out.dtype == np.float64
    swapped = np.array([0.5, 2.0], ">f8")  # float64 in the other byte order
    np.testing.assert_array_equal(log(swapped), log(np.array([0.5, 2.0])))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: exp(np.float32(1)), "exp: x must be float64"),
        (lambda: exp2(1), "exp2: x must be float64"),
        (lambda: log(np.arange(3)), "log: x must be float64"),
        (lambda: cos("1"), "cos: x must be float64"),
        (lambda: pow(2.0, np.float32(3)), "pow: y must be float64"),
    ],
)
def test_non_float64_input_is_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
