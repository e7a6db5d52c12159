"""What TensorFlow's CPU kernels run for a float function on a scalar (eager, and graph
mode: the same kernels): the C library's float functions, subnormal results flushed to zero.

Eigen's scalar path -- what a 1-element tensor takes: ``TensorExecutor``'s ``EvalRange``
scalar loop -> ``scalar_pow_op::operator()`` -> ``numext::pow`` -> ``std::pow`` (Eigen 3.5.0
as bundled with TensorFlow 2.21) -- calls glibc ``powf``/``cosf``/``logf``/``expf``; so there
is no "Eigen scalar pow" to emulate: refimpl's glibc kernels plus a flush to zero are it.
Tensors of 16 or more float32 elements take Eigen's packet functions instead (pinned in the
last test), which is why a schedule evaluated over a whole horizon as one TensorFlow tensor
is not what the train step computes.

Subnormal inputs are outside the claim for ``logf`` (see that test).  The reference here
is the C library itself, called through ``ctypes`` in this (non-FTZ)
thread, then flushed; nothing comes from refimpl.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

pytestmark = pytest.mark.tf

_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_TINY = np.finfo(np.float32).smallest_normal


def _glibc(name: str, *args: np.ndarray) -> np.ndarray:
    fn = getattr(_LIBM, name)
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float] * len(args)
    out = np.array([fn(*map(float, values)) for values in zip(*args)], dtype=np.float32)
    return np.where(np.abs(out) < _TINY, np.copysign(np.float32(0), out), out)  # FTZ


def _random_bits(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)


def _assert_same_bits(got: np.ndarray, want: np.ndarray) -> None:
    bad = got.view(np.uint32) != want.view(np.uint32)
    assert not bad.any(), list(zip(got[bad][:5], want[bad][:5]))


def test_scalar_pow_is_glibc_powf_with_flush_to_zero() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([_random_bits(rng, 1500), rng.uniform(0, 3, 1000).astype(np.float32)])
    y = np.concatenate([_random_bits(rng, 1500), rng.uniform(-200, 200, 1000).astype(np.float32)])
    y[-300:] = np.round(y[-300:])  # integral exponents (negative bases are defined there)
    x[-300:] = -x[-300:]
    got = np.array([tf.pow(a, b).numpy() for a, b in zip(tf.constant(x), tf.constant(y))])
    _assert_same_bits(got, _glibc("powf", x, y))


@pytest.mark.parametrize(
    ("name", "op"), [("cosf", tf.math.cos), ("logf", tf.math.log), ("expf", tf.math.exp)]
)
def test_scalar_unary_kernels_are_glibc(name: str, op) -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate([_random_bits(rng, 1200), rng.uniform(-100, 100, 800).astype(np.float32)])
    # NaN payloads are not part of the claim for these three, nor subnormal inputs: glibc's
    # logf rescales them with a float multiply, which TensorFlow's threads (DAZ set) read
    # as 0 -- the result is then neither log(x) nor log(0) (measured: -103.97 for 6.1e-39).
    x = x[~np.isnan(x) & ~((x != 0) & (np.abs(x) < _TINY))]
    got = np.array([op(v).numpy() for v in tf.constant(x)])
    _assert_same_bits(got, _glibc(name, x))


def test_sixteen_elements_take_eigens_packet_pow() -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(0.01, 2, 1600).astype(np.float32)
    y = rng.uniform(-30, 30, 1600).astype(np.float32)
    vector = tf.pow(tf.constant(x), tf.constant(y)).numpy()
    assert (vector != _glibc("powf", x, y)).sum() > 50
