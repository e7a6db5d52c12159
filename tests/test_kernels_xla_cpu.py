"""refimpl.kernels.xla_cpu against XLA:CPU itself: ``tf.function(jit_compile=True)`` on
float32 scalars, one call per input, compared bit for bit (NaN bit patterns included).

The inputs are the edges (zeros, infinities, NaNs, subnormals, the normal range's ends,
the polynomials' branch points) plus seeded random bit patterns and random values in the
range the schedules use.  The expected values come from TensorFlow, never from refimpl.
"""

from __future__ import annotations

import numpy as np
import pytest

from refimpl.kernels import xla_cpu

tf = pytest.importorskip("tensorflow")

pytestmark = pytest.mark.tf

_EDGES = np.array(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.0,
        0.5,
        np.inf,
        -np.inf,
        np.nan,
        1e-45,
        -1e-45,
        1e-40,
        1.1754942e-38,
        1.17549435e-38,
        3.4028235e38,
        0.70710677,
        0.7071068,
        0.70710665,
        1.0000001,
        0.99999994,
        -87.8,
        -87.33655,
        -87.4,
        -103.0,
        88.8,
        88.72283,
        88.72284,
        88.7229,
        89.0,
        1e-8,
        -1e-8,
        0.34657359,
        -0.34657359,
    ],
    dtype=np.float32,
)
_SIGNALLING_NAN = np.array([0x7F800001, 0xFFA00000], dtype=np.uint32).view(np.float32)


def _inputs(low: float, high: float) -> np.ndarray:
    rng = np.random.default_rng(20261201)
    bits = rng.integers(0, 2**32, 900, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = rng.uniform(low, high, 600).astype(np.float32)
    return np.concatenate([_EDGES, _SIGNALLING_NAN, bits, values])


def _xla_scalar(op, xs: np.ndarray) -> np.ndarray:
    fn = tf.function(op, jit_compile=True)
    return np.array([fn(tf.constant(x)).numpy() for x in xs], dtype=np.float32)


def _assert_same_bits(got: np.ndarray, want: np.ndarray, xs: np.ndarray) -> None:
    bad = got.view(np.uint32) != want.view(np.uint32)
    assert not bad.any(), [
        (f"{x!r}", f"xla={w!r}", f"refimpl={g!r}") for x, g, w in zip(xs[bad], got[bad], want[bad])
    ][:10]


@pytest.mark.parametrize(
    ("name", "op", "low", "high"),
    [
        ("log_f32", tf.math.log, 0.0, 3.0),
        ("exp_f32", tf.math.exp, -90.0, 90.0),
    ],
)
def test_matches_xla_cpu_scalar_op(name: str, op, low: float, high: float) -> None:
    xs = _inputs(low, high)
    want = _xla_scalar(op, xs)
    _assert_same_bits(getattr(xla_cpu, name)(xs), want, xs)


@pytest.mark.parametrize("name", ["log_f32", "exp_f32"])
def test_scalar_and_array_calls_agree(name: str) -> None:
    fn = getattr(xla_cpu, name)
    xs = _inputs(-3.0, 3.0)
    whole = fn(xs)
    for x, w in zip(xs[:200], whole[:200]):
        one = fn(x)
        assert isinstance(one, np.float32)
        assert one.view(np.uint32) == w.view(np.uint32)


def test_log_is_not_glibc_logf() -> None:
    """Pins why this module exists: XLA's float32 log differs from the C library's
    (which rounds correctly far more often), so glibc's logf cannot stand in for it."""
    xs = np.linspace(0.5, 2.0, 2001, dtype=np.float32)
    correctly_rounded = np.log(xs.astype(np.float64)).astype(np.float32)
    assert (xla_cpu.log_f32(xs) != correctly_rounded).sum() > 50
