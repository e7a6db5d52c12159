"""im2col plans: both fill orders, the ones column for the bias, strided targets, the
chunked kernel gradient, and both input-gradient paths, against float64 sums."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from refimpl import im2col
from refimpl.im2col import Im2colPlan


def _direct(
    xpad: np.ndarray, kernel: np.ndarray, strides: tuple[int, int], ho: int, wo: int
) -> np.ndarray:
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    out = np.zeros((ho, wo, xpad.shape[2], kernel.shape[3]))
    for u, v in itertools.product(range(kh), range(kw)):
        patch = xpad[u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw]
        out += np.einsum("hwnc,cf->hwnf", patch, kernel[u, v])
    return out


@pytest.mark.parametrize("channels", [3, 9], ids=["k_major", "row_major"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 1)])
@pytest.mark.parametrize("into_view", [False, True], ids=["own_buffer", "strided_target"])
def test_plan_against_a_float64_sum(
    channels: int, strides: tuple[int, int], into_view: bool
) -> None:
    rng = np.random.default_rng(channels)
    h, w, n, f = 7, 6, 2, 4
    pads = (1, 1, 1, 1)
    plan = Im2colPlan(h, w, n, channels, f, (3, 3), strides, pads, True)
    assert plan.k_major == (channels < im2col.K_MAJOR_BELOW)
    x = rng.standard_normal((h, w, n, channels)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, channels, f)).astype(np.float32)
    bias = rng.standard_normal(f).astype(np.float32)
    kmat = np.concatenate([kernel.reshape(-1, f), bias[None]])
    target = None
    if into_view:  # e.g. the inside of the next layer's zero-padded buffer
        big = np.zeros((plan.ho + 2, plan.wo + 2, n, f), np.float32)
        target = big[1:-1, 1:-1]
    z = plan.correlate(x, kmat, target)
    xpad = np.pad(x.astype(np.float64), ((1, 1), (1, 1), (0, 0), (0, 0)))
    want = _direct(xpad, kernel.astype(np.float64), strides, plan.ho, plan.wo) + bias
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=1e-5)
    if into_view:
        assert z is target
        border = np.ones(big.shape[:2], bool)
        border[1:-1, 1:-1] = False
        assert not big[border].any()  # the border is untouched
    dz = rng.standard_normal(z.shape).astype(np.float32)
    dk = plan.kernel_gradient(dz)
    dk_want = np.zeros((3, 3, channels, f))
    sh, sw = strides
    for u, v in itertools.product(range(3), range(3)):
        patch = xpad[u : u + sh * (plan.ho - 1) + 1 : sh, v : v + sw * (plan.wo - 1) + 1 : sw]
        dk_want[u, v] = np.einsum("hwnc,hwnf->cf", patch, dz)
    np.testing.assert_allclose(dk[: plan.k].reshape(dk_want.shape), dk_want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk[plan.k], dz.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    dx = plan.input_gradient(dz, kernel)
    dxpad = np.zeros_like(xpad)
    for u, v in itertools.product(range(3), range(3)):
        dxpad[u : u + sh * (plan.ho - 1) + 1 : sh, v : v + sw * (plan.wo - 1) + 1 : sw] += (
            np.einsum("hwnf,cf->hwnc", dz, kernel[u, v])
        )
    np.testing.assert_allclose(dx, dxpad[1:-1, 1:-1], rtol=1e-4, atol=1e-4)


def test_an_unpadded_plan_needs_its_input() -> None:
    plan = Im2colPlan(4, 4, 1, 2, 2, (3, 3), (1, 1), (0, 0, 0, 0), False)
    assert plan.input is None
    with pytest.raises(ValueError, match="needs its input"):
        plan.correlate(None, np.zeros((18, 2), np.float32))
