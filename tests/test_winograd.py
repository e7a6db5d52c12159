"""Winograd F(m x m, 3 x 3): the derivation, the loop twin, central differences, and the
float32 accuracy of every convolution algorithm against float64, within derived bounds."""

from __future__ import annotations

import importlib.util
import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from refimpl.winograd import (
    WinogradPlan,
    flipped_kernel,
    kernel_gradient,
    transform_kernel,
    transforms,
)

_spec = importlib.util.spec_from_file_location("_loops", Path(__file__).with_name("_loops.py"))
assert _spec is not None
assert _spec.loader is not None
loops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loops)
_spec = importlib.util.spec_from_file_location("_bounds", Path(__file__).with_name("_bounds.py"))
assert _spec is not None
assert _spec.loader is not None
bounds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bounds)

F = Fraction
U64 = 2.0**-53


# -- the derivation ------------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_transforms_compute_the_correlation_exactly(m: int) -> None:
    """``AT @ ((G @ g) * (BT @ d)) == [sum_k g[k] d[i + k]]_i`` in exact arithmetic."""
    t = transforms(m)
    rng = np.random.default_rng(m)
    for _ in range(20):
        d = [
            F(int(v), int(w))
            for v, w in zip(rng.integers(-50, 50, t.alpha), rng.integers(1, 9, t.alpha))
        ]
        g = [F(int(v)) for v in rng.integers(-50, 50, 3)]
        gg = [sum(a * b for a, b in zip(row, g, strict=True)) for row in t.G]
        bd = [sum(a * b for a, b in zip(row, d, strict=True)) for row in t.BT]
        y = [sum(a * x * z for a, x, z in zip(row, gg, bd, strict=True)) for row in t.AT]
        assert y == [sum(g[k] * d[i + k] for k in range(3)) for i in range(m)]


#: Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016,
#: arXiv:1509.09308), section 4.1 (F(2x2, 3x3)) and 4.2 (F(4x4, 3x3)), as printed.
LAVIN_GRAY = {
    2: {
        "BT": [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        "G": [[1, 0, 0], [F(1, 2), F(1, 2), F(1, 2)], [F(1, 2), F(-1, 2), F(1, 2)], [0, 0, 1]],
        "AT": [[1, 1, 1, 0], [0, 1, -1, -1]],
    },
    4: {
        "BT": [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        "G": [
            [F(1, 4), 0, 0],
            [F(-1, 6), F(-1, 6), F(-1, 6)],
            [F(-1, 6), F(1, 6), F(-1, 6)],
            [F(1, 24), F(1, 12), F(1, 6)],
            [F(1, 24), F(-1, 12), F(1, 6)],
            [0, 0, 1],
        ],
        "AT": [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    },
}


@pytest.mark.parametrize("m", [2, 4])
def test_transforms_match_lavin_and_gray_up_to_signs(m: int) -> None:
    """Derived from the paper's points (0, 1, -1, 2, -2 and infinity), the matrices are
    entry by entry equal in magnitude to the paper's, and the same algorithm: for every
    basis kernel and input the tile outputs agree."""
    t, paper = transforms(m, 3, tuple(F(p) for p in (0, 1, -1, 2, -2))), LAVIN_GRAY[m]
    for name in ("AT", "G", "BT"):
        ours = [[abs(v) for v in row] for row in getattr(t, name)]
        assert ours == [[abs(F(v)) for v in row] for row in paper[name]], name

    def run(at, g, bt, kernel, data):  # type: ignore[no-untyped-def]
        gg = [sum(F(a) * b for a, b in zip(row, kernel, strict=True)) for row in g]
        bd = [sum(F(a) * b for a, b in zip(row, data, strict=True)) for row in bt]
        return [sum(F(a) * x * z for a, x, z in zip(row, gg, bd, strict=True)) for row in at]

    for k, i in itertools.product(range(3), range(t.alpha)):
        kernel = [F(int(j == k)) for j in range(3)]
        data = [F(int(j == i)) for j in range(t.alpha)]
        assert run(t.AT, t.G, t.BT, kernel, data) == run(
            paper["AT"], paper["G"], paper["BT"], kernel, data
        )


def test_bias_component_has_an_all_ones_output_row() -> None:
    for m in (2, 4):
        t = transforms(m)
        assert all(row[t.ones] == 1 for row in t.AT)


@pytest.mark.parametrize(("m", "r", "points"), [(0, 3, None), (7, 3, None), (2, 3, (0, 1, 1))])
def test_bad_tile_sizes_and_points_are_refused(m: int, r: int, points: tuple | None) -> None:
    with pytest.raises(ValueError, match=f"m={m}"):
        transforms(m, r, points)


# -- the vectorised plan against its loop twin and central differences (float64) ----------

#: (out_h, out_w, n, channels in, out, input region (top, left, h, w)): "same" padding,
#: outputs that are not whole tiles, "valid" padding (region at (0, 0), input 2 larger).
PLAN_CASES = [
    (6, 5, 2, 3, 2, None),
    (7, 9, 1, 2, 3, None),
    (4, 4, 3, 1, 1, None),
    (5, 6, 2, 2, 2, (0, 0, 7, 8)),
]


def _plan_case(m: int, case: tuple, seed: int):  # type: ignore[no-untyped-def]
    out_h, out_w, n, c, f, region = case
    plan = WinogradPlan(m, out_h, out_w, n, c, f, region, dtype=np.float64)
    rng = np.random.default_rng(seed)
    h, w = plan.input.shape[:2]
    x = rng.standard_normal((h, w, n, c))
    kernel = rng.standard_normal((3, 3, c, f))
    bias = rng.standard_normal(f)
    return plan, x, kernel, bias, rng


def _dz_plan(plan: WinogradPlan) -> WinogradPlan:
    """A plan whose padded buffer holds ``dz`` at ``(1, 1)`` with zeros around, large
    enough for ``plan``'s output tiles."""
    return WinogradPlan(plan.m, plan.th * plan.m, plan.tw * plan.m, plan.n, plan.out_channels,
                        1, (1, 1, plan.out_h, plan.out_w), dtype=np.float64)  # fmt: skip


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("case", PLAN_CASES, ids=str)
def test_plan_equals_the_loop_twin(m: int, case: tuple) -> None:
    plan, x, kernel, bias, rng = _plan_case(m, case, 1)
    t = transforms(m)
    z = plan.correlate(x, transform_kernel(m, kernel, dtype=np.float64), bias).copy()
    want = (
        loops.winograd_correlate_loop(
            plan.padded, kernel, m, t.AT, t.G, t.BT, plan.out_h, plan.out_w
        )
        + bias
    )
    np.testing.assert_allclose(z, want, rtol=1e-12, atol=1e-12)
    # ... and the loop twin is the convolution (direct, float64) of the padded input
    direct = loops.conv2d_forward_loop(
        np.moveaxis(plan.padded, 2, 0), kernel, bias, (1, 1), "valid"
    )[:, : plan.out_h, : plan.out_w]
    np.testing.assert_allclose(np.moveaxis(want, 2, 0), direct, rtol=1e-12, atol=1e-12)
    dz = rng.standard_normal(z.shape)
    dz_plan = _dz_plan(plan)
    dz_plan.input[...] = dz
    s = np.zeros((plan.alpha**2, plan.in_channels, plan.out_channels))
    bias_grad = np.zeros(plan.out_channels)
    plan.accumulate_kernel_gradient(dz_plan.padded, 1, 1, s, bias_grad)
    dk_want = loops.winograd_kernel_gradient_loop(plan.padded, dz, m, t.AT, t.G, t.BT)
    np.testing.assert_allclose(kernel_gradient(m, s), dk_want, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(bias_grad, dz.sum(axis=(0, 1, 2)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("case", PLAN_CASES, ids=str)
def test_plan_gradients_equal_central_differences(m: int, case: tuple) -> None:
    """``L = sum(r * correlate(x, K) + bias)`` is linear in each of ``x``, ``K`` and
    ``bias``, so central differences have no truncation error: they match the kernel,
    bias and input gradients (the input gradient from the flipped kernel's correlation)
    to float64 rounding."""
    plan, x, kernel, bias, rng = _plan_case(m, case, 2)
    r = rng.standard_normal((plan.out_h, plan.out_w, plan.n, plan.out_channels))

    def loss() -> float:
        z = plan.correlate(x, transform_kernel(m, kernel, dtype=np.float64), bias)
        return float(np.sum(r * z))

    def central(target: np.ndarray, h: float = 0.5) -> np.ndarray:
        fd = np.empty(target.shape)
        for idx in np.ndindex(*target.shape):
            old = target[idx]
            target[idx] = old + h
            up = loss()
            target[idx] = old - h
            down = loss()
            target[idx] = old
            fd[idx] = (up - down) / (2 * h)
        return fd

    loss()  # the forward pass the gradient needs (V)
    dz_plan = _dz_plan(plan)
    dz_plan.input[...] = r
    s = np.zeros((plan.alpha**2, plan.in_channels, plan.out_channels))
    bias_grad = np.zeros(plan.out_channels)
    plan.accumulate_kernel_gradient(dz_plan.padded, 1, 1, s, bias_grad)
    dk = kernel_gradient(m, s)
    top, left, h, w = plan.input_region
    dx_plan = WinogradPlan(m, h, w, plan.n, plan.out_channels, plan.in_channels,
                           (2 - top, 2 - left, plan.out_h, plan.out_w), dtype=np.float64)  # fmt: skip
    dx_plan.input[...] = r
    dx = dx_plan.correlate(None, transform_kernel(m, flipped_kernel(kernel), dtype=np.float64))
    scale = float(np.abs(r).sum()) * 100
    for name, grad, target in (("kernel", dk, kernel), ("bias", bias_grad, bias), ("x", dx, x)):
        fd = central(target)
        np.testing.assert_allclose(grad, fd, rtol=0, atol=scale * U64 * 1e3, err_msg=name)
        assert np.abs(fd).max() > 1e-3, name


# -- float32 accuracy against float64, within derived bounds -------------------------------
#
# Each algorithm's float32 forward, input and kernel gradients are compared with a float64
# direct convolution, entry by entry within the bound derived in tests/_bounds.py
# (Higham's gamma_k times the computation on absolute values: Winograd's transform
# growth enters there).


def test_direct64_equals_the_loop_twin() -> None:
    rng = np.random.default_rng(3)
    xpad, kernel = rng.standard_normal((6, 7, 2, 2)), rng.standard_normal((3, 3, 2, 3))
    z = bounds.direct64(xpad, kernel, 4, 5)
    want = loops.conv2d_forward_loop(np.moveaxis(xpad, 2, 0), kernel, None, (1, 1), "valid")
    np.testing.assert_allclose(np.moveaxis(z, 2, 0), want, rtol=1e-13)
    dz = rng.standard_normal((4, 5, 2, 3))
    dk_want = loops.conv2d_backward_loop(np.moveaxis(xpad, 2, 0), kernel, np.moveaxis(dz, 2, 0))[0]
    np.testing.assert_allclose(bounds.kernel_grad64(xpad, dz), dk_want, rtol=1e-13)


def _float32_passes(algorithm: str, x: np.ndarray, kernel: np.ndarray, dz: np.ndarray):  # type: ignore[no-untyped-def]
    """``(z, dK, dX)`` of a "same" 3x3 convolution in float32 by ``algorithm``, through
    the layer (so the plumbing is the trainer's)."""
    from refimpl.layers import Conv2D
    from refimpl.workspace import Workspace

    h, w, _, c = x.shape
    layer = Conv2D(kernel.shape[3], 3, padding="same", use_bias=False, algorithm=algorithm)
    layer.build((h, w, c), np.random.default_rng(0))
    layer.kernel[...] = kernel
    ws = Workspace()
    z = layer.forward(x.astype(np.float32), ws).copy()
    grads = [np.zeros_like(layer.kernel)]
    dx = layer.backward(dz.astype(np.float32), ws, grads)
    assert dx is not None
    return z, grads[0], dx.copy()


@pytest.mark.parametrize("algorithm", ["im2col", "winograd2", "winograd4"])
@pytest.mark.parametrize("data", ["relu", "normal"])
def test_float32_accuracy_within_derived_bounds(algorithm: str, data: str) -> None:
    """The lesson's second convolution (28x28, 32 -> 16 channels) on a sub-batch of 4:
    inputs like ReLU outputs (non-negative) or standard normal, a Glorot kernel.  Prints
    the measured errors (``-s``)."""
    rng = np.random.default_rng(7)
    h, w, n, c, f = 28, 28, 4, 32, 16
    x = rng.standard_normal((h, w, n, c)).astype(np.float32)
    if data == "relu":
        x = np.maximum(x, 0) * np.float32(3)
    limit = np.sqrt(6 / (9 * c + 9 * f))
    kernel = rng.uniform(-limit, limit, (3, 3, c, f)).astype(np.float32)
    dz = (rng.standard_normal((h, w, n, f)) * 1e-3).astype(np.float32)
    z, dk, dx = _float32_passes(algorithm, x, kernel, dz)

    xpad = np.zeros((h + 2, w + 2, n, c))
    xpad[1:-1, 1:-1] = x
    dzpad = np.zeros((h + 2, w + 2, n, f))
    dzpad[1:-1, 1:-1] = dz
    ref = {
        "forward": bounds.direct64(xpad, kernel, h, w),
        "kernel": bounds.kernel_grad64(xpad, dz),
        "input": bounds.direct64(dzpad, flipped_kernel(kernel.astype(np.float64)), h, w),
    }
    bound = bounds.conv_bounds(algorithm, xpad, kernel, None, dz, dzpad)
    got = {"forward": z, "kernel": dk, "input": dx}
    errors = {}
    for key in got:
        err = np.abs(got[key] - ref[key])
        assert np.all(err <= bound[key]), (key, float((err - bound[key]).max()))
        # Not vacuous: the bound is below the values it bounds.  It is a worst case:
        # F(4x4)'s transform growth puts it at 3e-3 of the largest output, and sums over
        # every tile of the batch make the kernel gradient's the loosest (im2col 1e-3,
        # F(4x4) 2e-2).  Structural errors are the loop twin's to catch (1e-11).
        limit = 5e-2 if key == "kernel" else 1e-2
        ratio = bound[key].max() / np.abs(ref[key]).max()
        assert ratio < limit, (key, ratio)
        errors[key] = float(err.max() / np.abs(ref[key]).max())
    print(
        f"{algorithm:9s} {data:6s} max relative error (max|err| / max|exact|): "
        + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
    )


# -- F(4x4)'s forward in float64: the trainer's ReLU decisions -----------------------------
#
# Winograd's transforms mix a whole (m + 2) x (m + 2) input tile into every output of the
# tile, so a rounding error in V, U or M reaches outputs whose own 3x3 window holds only
# small values.  On images with a black background (the lesson's, fed raw 0-255) those
# outputs are the bias alone (0 at initialisation) beside object pixels of ~100: float32
# F(4x4) noise there (~1e-4) flips their ReLU, which changes the gradient by O(1).
# ``WinogradPlan(forward_dtype=float64)`` runs the forward in float64, writes the exact
# value (the bias) where the window is all zeros, and rounds once.


def _object_on_black(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A "same" 3x3 layer's input like the lesson's conv2 sees it: non-negative values
    up to ~150 on a disc, zeros around it; a Glorot kernel; a small bias."""
    rng = np.random.default_rng(seed)
    h = w = 28
    n, c, f = 4, 8, 4
    yy, xx = np.mgrid[0:h, 0:w]
    disc = ((yy - 13) ** 2 + (xx - 15) ** 2 < 7**2)[:, :, None, None]
    x = (np.maximum(rng.standard_normal((h, w, n, c)) * 60 + 40, 0) * disc).astype(np.float32)
    limit = np.sqrt(6 / (9 * c + 9 * f))
    kernel = rng.uniform(-limit, limit, (3, 3, c, f)).astype(np.float32)
    bias = (rng.standard_normal(f) * 1e-4).astype(np.float32)
    return x, kernel, bias


def _forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, forward_dtype: type):  # type: ignore[no-untyped-def]
    h, w, n, c = x.shape
    plan = WinogradPlan(4, h, w, n, c, kernel.shape[3], forward_dtype=forward_dtype)
    u = transform_kernel(4, kernel, dtype=forward_dtype)
    return plan, plan.correlate(x, u, bias).copy()


@pytest.mark.parametrize("bias_zero", [True, False])
def test_float64_forward_gives_the_bias_exactly_where_the_window_is_all_zeros(
    bias_zero: bool,
) -> None:
    x, kernel, bias = _object_on_black(11)
    if bias_zero:
        bias[...] = 0
    xpad = np.zeros((30, 30, *x.shape[2:]))
    xpad[1:-1, 1:-1] = x
    window_zero = bounds.direct64(np.abs(xpad), np.ones((3, 3, x.shape[3], 1)), 28, 28)[..., 0] == 0
    mixed = (window_zero & ~np.all(window_zero.reshape(7, 4, 7, 4, -1), axis=(1, 3)).repeat(4, 0)
             .repeat(4, 1))  # fmt: skip
    assert mixed.sum() > 100  # outputs in tiles that also hold object pixels
    _, z = _forward(x, kernel, bias, np.float64)
    assert np.array_equal(z[window_zero], np.broadcast_to(bias, z[window_zero].shape))
    # ... which float32 F(4x4) misses: its noise there is what flipped the ReLUs
    _, z32 = _forward(x, kernel, bias, np.float32)
    assert np.any(z32[mixed] != bias)


def test_float64_forward_is_rounded_once_within_the_derived_bound() -> None:
    """``|z - exact| <= u32 (|exact| + e64) + e64`` with ``e64`` the float64 Winograd
    bound (tests/_bounds.py's terms with float64's unit roundoff): one rounding to float32
    of a value accurate to float64."""
    x, kernel, bias = _object_on_black(12)
    xpad = np.zeros((30, 30, *x.shape[2:]))
    xpad[1:-1, 1:-1] = x
    exact = bounds.direct64(xpad, kernel, 28, 28) + bias
    k = 4 * 6 + x.shape[3] + 2
    e64 = bounds.gamma(k, U64) * (bounds._winograd_abs(4, xpad, kernel, 28, 28) + np.abs(bias))
    bound = bounds.U32 * (np.abs(exact) + e64) + e64
    plan, z = _forward(x, kernel, bias, np.float64)
    assert z.dtype == np.float32
    assert plan.v.dtype == np.float32
    err = np.abs(z - exact)
    assert np.all(err <= bound)
    # the ReLU decisions are the exact ones wherever the bound decides them
    decided = np.abs(exact) > bound
    assert decided.mean() > 0.99
    assert np.array_equal((z > 0)[decided], (exact > 0)[decided])
    # near zero, where ReLU decides, float32 F(4x4)'s error is 100x larger
    small = np.abs(exact) < 1e-3
    _, z32 = _forward(x, kernel, bias, np.float32)
    assert np.abs(z32 - exact)[small].max() > 100 * err[small].max()


@pytest.mark.parametrize("case", PLAN_CASES, ids=str)
def test_mixed_precision_plan_equals_the_float64_plan(case: tuple) -> None:
    """Storage float32, forward float64: the forward (rounded once) and the kernel
    gradient from the rounded V agree with the all-float64 plan to float32 accuracy,
    with partial tiles and "valid" regions."""
    out_h, out_w, n, c, f, region = case
    plan64, x, kernel, bias, rng = _plan_case(4, case, 5)
    mixed = WinogradPlan(4, out_h, out_w, n, c, f, region, forward_dtype=np.float64)
    want = plan64.correlate(x, transform_kernel(4, kernel, dtype=np.float64), bias).copy()
    got = mixed.correlate(x, transform_kernel(4, kernel, dtype=np.float64), bias)
    np.testing.assert_allclose(got, want, rtol=2**-23, atol=2**-23 * np.abs(want).max())
    dz_plan = _dz_plan(plan64)
    dz_plan.input[...] = rng.standard_normal(want.shape)
    s64 = np.zeros((36, c, f))
    plan64.accumulate_kernel_gradient(dz_plan.padded, 1, 1, s64)
    s32 = np.zeros((36, c, f), np.float32)
    mixed.accumulate_kernel_gradient(dz_plan.padded.astype(np.float32), 1, 1, s32)
    dk = kernel_gradient(4, s64)
    np.testing.assert_allclose(kernel_gradient(4, s32), dk, atol=1e-5 * np.abs(dk).max())
