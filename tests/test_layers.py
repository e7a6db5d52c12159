"""Layers: vectorised passes against loop twins and finite differences; init; arguments."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from refimpl import layers
from refimpl.layers import Workspace

_spec = importlib.util.spec_from_file_location("_loops", Path(__file__).with_name("_loops.py"))
assert _spec is not None
assert _spec.loader is not None
loops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loops)

CONV_CASES = [
    # (input (n, h, w, c), filters, kernel, strides, padding)
    ((2, 6, 5, 1), 3, (3, 3), (1, 1), "same"),  # C < 8: K-major im2col
    ((2, 6, 5, 9), 4, (3, 3), (1, 1), "same"),  # C >= 8: row-major im2col
    ((1, 7, 6, 2), 2, (2, 3), (1, 1), "valid"),
    ((2, 7, 8, 3), 2, (3, 3), (2, 2), "same"),  # strided: col2im scatter path
    ((1, 9, 7, 8), 3, (3, 2), (2, 3), "valid"),
    ((1, 4, 4, 1), 2, (4, 4), (1, 1), "same"),  # even kernel: asymmetric padding
]


def _conv(shape, filters, kernel, strides, padding, activation=None, seed=0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    layer = layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation)
    layer.build(shape[1:], rng)
    layer.bias[...] = rng.standard_normal(filters).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    return layer, x, rng


@pytest.mark.parametrize(("shape", "filters", "kernel", "strides", "padding"), CONV_CASES)
def test_conv2d_forward_and_backward_equal_the_loop_twin(
    shape, filters, kernel, strides, padding
) -> None:
    layer, x, rng = _conv(shape, filters, kernel, strides, padding)
    ws = Workspace()
    z = layer.forward(x, ws).copy()
    want = loops.conv2d_forward_loop(x, layer.kernel, layer.bias, strides, padding)
    assert z.shape == want.shape == (shape[0], *layer.compute_output_shape(shape[1:]))
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=1e-5)

    dz = rng.standard_normal(z.shape).astype(np.float32)
    grads = [np.zeros_like(w) for w in layer.weights]
    dx = layer.backward(dz.copy(), ws, grads)
    dk, db, dx_want = loops.conv2d_backward_loop(x, layer.kernel, dz, strides, padding)
    np.testing.assert_allclose(grads[0], dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads[1], db, rtol=1e-4, atol=1e-4)
    assert dx is not None
    np.testing.assert_allclose(dx, dx_want, rtol=1e-4, atol=1e-4)


def test_conv2d_relu_backward_masks_where_the_output_is_zero() -> None:
    layer, x, rng = _conv((2, 5, 5, 2), 3, (3, 3), (1, 1), "same", activation="relu")
    ws = Workspace()
    y = layer.forward(x, ws).copy()
    z = loops.conv2d_forward_loop(x, layer.kernel, layer.bias, (1, 1), "same")
    np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grads = [np.zeros_like(w) for w in layer.weights]
    dx = layer.backward(dy.copy(), ws, grads)
    dk, _, dx_want = loops.conv2d_backward_loop(x, layer.kernel, dy * (z > 0), (1, 1), "same")
    np.testing.assert_allclose(grads[0], dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dx_want, rtol=1e-4, atol=1e-4)


def test_backward_accumulates_into_grads_over_sub_batches() -> None:
    """Two sub-batches through one workspace sum to the whole batch's gradient."""
    layer, x, rng = _conv((4, 5, 5, 3), 2, (3, 3), (1, 1), "same")
    dz = rng.standard_normal((4, 5, 5, 2)).astype(np.float32)
    whole = [np.zeros_like(w) for w in layer.weights]
    ws = Workspace()
    layer.forward(x, ws)
    layer.backward(dz.copy(), ws, whole, need_dx=False)
    parts = [np.zeros_like(w) for w in layer.weights]
    for lo in (0, 2):
        layer.forward(x[lo : lo + 2], ws)
        assert layer.backward(dz[lo : lo + 2].copy(), ws, parts, need_dx=False) is None
    for a, b in zip(parts, whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_dense_and_flatten_equal_the_loop_twin() -> None:
    rng = np.random.default_rng(3)
    flat, dense = layers.Flatten(), layers.Dense(4)
    flat.build((3, 2, 5), rng)
    dense.build((30,), rng)
    dense.bias[...] = rng.standard_normal(4).astype(np.float32)
    x = rng.standard_normal((3, 3, 2, 5)).astype(np.float32)
    ws_f, ws_d = Workspace(), Workspace()
    h = flat.forward(x, ws_f)
    np.testing.assert_array_equal(h, x.reshape(3, 30))  # C order, as Keras's NHWC Flatten
    z = dense.forward(h, ws_d).copy()
    np.testing.assert_allclose(z, loops.dense_forward_loop(h, dense.kernel, dense.bias), rtol=1e-5)
    dz = rng.standard_normal(z.shape).astype(np.float32)
    grads = [np.zeros_like(w) for w in dense.weights]
    dh = dense.backward(dz.copy(), ws_d, grads)
    dk, db, dh_want = loops.dense_backward_loop(h, dense.kernel, dz)
    np.testing.assert_allclose(grads[0], dk, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[1], db, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dh, dh_want, rtol=1e-5, atol=1e-6)
    assert dh is not None
    dx = flat.backward(dh, ws_f, [])
    assert dx is not None
    assert dx.shape == x.shape


def test_dense_deferred_weight_gradient_equals_the_immediate_one() -> None:
    """Inside begin_batch/end_batch (the trainer's per-thread batch), Dense defers
    ``x^T @ dz`` to one product over all sub-batches' rows and reads a per-batch copy of
    ``kernel^T``; the gradients and ``dL/dx`` equal the per-sub-batch ones, and after
    end_batch a direct call sees the live kernel again."""
    rng = np.random.default_rng(5)
    dense = layers.Dense(3, activation="relu")
    dense.build((7,), rng)
    dense.bias[...] = 0.1
    x = rng.standard_normal((5, 7)).astype(np.float32)
    dy = rng.standard_normal((5, 3)).astype(np.float32)
    immediate = [np.zeros_like(w) for w in dense.weights]
    deferred = [np.zeros_like(w) for w in dense.weights]
    ws_i, ws_d = Workspace(), Workspace()
    dense.begin_batch(ws_d, 5, train=True)
    for lo, hi in ((0, 2), (2, 4), (4, 5)):  # sub-batches of 2, 2 and 1 rows
        y_i = dense.forward(x[lo:hi], ws_i).copy()
        y_d = dense.forward(x[lo:hi], ws_d).copy()
        np.testing.assert_allclose(y_d, y_i, rtol=1e-6)
        dx_i = dense.backward(dy[lo:hi].copy(), ws_i, immediate)
        dx_d = dense.backward(dy[lo:hi].copy(), ws_d, deferred)
        assert dx_i is not None
        assert dx_d is not None
        np.testing.assert_allclose(dx_d, dx_i, rtol=1e-6)
    np.testing.assert_array_equal(deferred[0], 0)  # nothing added before end_batch
    dense.end_batch(ws_d, deferred)
    for a, b in zip(deferred, immediate, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    dense.kernel[...] += 1  # an optimizer update: the per-batch copy must be gone
    np.testing.assert_allclose(
        dense.forward(x, ws_d), np.maximum(x @ dense.kernel + dense.bias, 0), rtol=1e-6
    )


@pytest.mark.parametrize("activation", ["linear", "relu", "softmax"])
def test_finite_difference_gradients(activation: str) -> None:
    """``L = sum(r * y)`` for a fixed random ``r``: analytic vs central differences
    (float64 loss over float32 passes; ``eps`` large enough for float32 rounding)."""
    rng = np.random.default_rng(7)
    conv = layers.Conv2D(3, (3, 3), padding="same", activation="relu")
    flat = layers.Flatten()
    dense = layers.Dense(4, activation=activation)
    conv.build((5, 5, 2), rng)
    flat.build((5, 5, 3), rng)
    dense.build((75,), rng)
    conv.bias[...] = 0.1
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    r = rng.standard_normal((2, 4))

    def loss() -> float:
        ws = [Workspace(), Workspace(), Workspace()]
        y = dense.forward(flat.forward(conv.forward(x, ws[0]), ws[1]), ws[2])
        return float((r * y.astype(np.float64)).sum())

    wss = [Workspace(), Workspace(), Workspace()]
    dense.forward(flat.forward(conv.forward(x, wss[0]), wss[1]), wss[2])
    g_conv = [np.zeros_like(w) for w in conv.weights]
    g_dense = [np.zeros_like(w) for w in dense.weights]
    d = dense.backward(r.astype(np.float32), wss[2], g_dense)
    assert d is not None
    d = flat.backward(d, wss[1], [])
    assert d is not None
    conv.backward(d, wss[0], g_conv, need_dx=False)

    eps = 1e-3
    for weights, grads in ((conv.weights, g_conv), (dense.weights, g_dense)):
        for w, g in zip(weights, grads, strict=True):
            for idx in list(np.ndindex(w.shape))[:: max(1, w.size // 12)]:
                old = w[idx]
                w[idx] = old + eps
                up = loss()
                w[idx] = old - eps
                down = loss()
                w[idx] = old
                fd = (up - down) / (2 * eps)
                assert g[idx] == pytest.approx(fd, rel=2e-2, abs=2e-3), (idx, g[idx], fd)


def test_glorot_uniform_limits_and_seeded_determinism() -> None:
    from refimpl.utils import get_rng, set_random_seed

    set_random_seed(0)
    a = layers.Conv2D(32, 3, padding="same", input_shape=(28, 28, 1))
    a.build((28, 28, 1), get_rng())
    set_random_seed(0)
    b = layers.Conv2D(32, 3, padding="same")
    b.build((28, 28, 1), get_rng())
    np.testing.assert_array_equal(a.kernel, b.kernel)
    assert a.kernel.dtype == np.float32
    limit = math.sqrt(6 / (9 * 1 + 9 * 32))
    assert np.abs(a.kernel).max() <= limit
    assert np.abs(a.kernel).max() > 0.9 * limit  # uses the full range
    np.testing.assert_array_equal(a.bias, 0)
    d = layers.Dense(10)
    d.build((12544,), get_rng())
    assert np.abs(d.kernel).max() <= math.sqrt(6 / (12544 + 10))


def test_parameter_counts_match_keras() -> None:
    rng = np.random.default_rng(0)
    c1 = layers.Conv2D(32, (3, 3), padding="same", activation="relu")
    c1.build((28, 28, 1), rng)
    c2 = layers.Conv2D(16, (3, 3), padding="same", activation="relu")
    c2.build((28, 28, 32), rng)
    d = layers.Dense(10, activation="softmax")
    d.build((12544,), rng)
    assert [c1.count_params(), c2.count_params(), d.count_params()] == [320, 4624, 125450]
    assert c1.kernel.shape == (3, 3, 1, 32)  # HWIO


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: layers.Conv2D(8, 3, padding="full"), "padding='full'"),
        (lambda: layers.Conv2D(8, 3, activation="tanh"), "activation='tanh'"),
        (lambda: layers.Conv2D(0, 3), "filters=0"),
        (lambda: layers.Conv2D(8, (3, 0)), r"kernel_size=\(3, 0\)"),
        (lambda: layers.Conv2D(8, 3, strides=1.5), "strides=1.5"),
        (lambda: layers.Dense(-1), "units=-1"),
        (lambda: layers.Dense(3, activation="sigmoid"), "activation='sigmoid'"),
        (lambda: layers.Dense(3, input_shape=(0,)), r"input_shape=\(0,\)"),
    ],
)
def test_bad_arguments_name_argument_and_value(factory, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        factory()


def test_conv_kernel_larger_than_valid_input_is_rejected() -> None:
    layer = layers.Conv2D(2, 5)
    with pytest.raises(ValueError, match="does not fit"):
        layer.build((3, 3, 1), np.random.default_rng(0))


def test_set_weights_checks_shapes() -> None:
    layer = layers.Dense(2)
    layer.build((3,), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
    layer.set_weights([np.ones((3, 2)), np.ones(2)])
    np.testing.assert_array_equal(layer.get_weights()[0], 1)
