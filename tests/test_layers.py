"""Layers: vectorised passes against loop twins and finite differences; init (seeded); arguments."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refimpl import layers
from refimpl.layers import to_keras_layout, to_trainer_layout
from refimpl.workspace import Workspace


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


loops = _load("_loops")
bounds = _load("_bounds")


def _fwd(layer: layers.Layer, x: np.ndarray, ws: Workspace, **kwargs: Any) -> np.ndarray:
    """``layer.forward`` on Keras-layout ``x``; the output in Keras's layout (a copy)."""
    return np.array(to_keras_layout(layer.forward(to_trainer_layout(x), ws, **kwargs)))


def _bwd(
    layer: layers.Layer, dy: np.ndarray, ws: Workspace, grads: list[np.ndarray], **kwargs: Any
) -> np.ndarray | None:
    """``layer.backward`` on Keras-layout ``dy``; ``dL/dx`` in Keras's layout (a copy)."""
    dx = layer.backward(to_trainer_layout(dy.copy()), ws, grads, **kwargs)
    return None if dx is None else np.array(to_keras_layout(dx))


CONV_CASES = [
    # (input (n, h, w, c), filters, kernel, strides, padding, algorithm)
    ((2, 6, 5, 1), 3, (3, 3), (1, 1), "same", "im2col"),  # C < 8: K-major im2col
    ((2, 6, 5, 9), 4, (3, 3), (1, 1), "same", "im2col"),  # C >= 8: row-major im2col
    ((1, 7, 6, 2), 2, (2, 3), (1, 1), "valid", "im2col"),
    ((2, 7, 8, 3), 2, (3, 3), (2, 2), "same", "im2col"),  # strided: col2im scatter path
    ((1, 9, 7, 8), 3, (3, 2), (2, 3), "valid", "im2col"),
    ((1, 4, 4, 1), 2, (4, 4), (1, 1), "same", "im2col"),  # even kernel: asymmetric padding
    ((2, 6, 5, 9), 4, (3, 3), (1, 1), "same", "winograd2"),  # outputs not whole tiles
    ((2, 8, 8, 3), 2, (3, 3), (1, 1), "same", "winograd2"),
    ((1, 7, 9, 2), 3, (3, 3), (1, 1), "valid", "winograd2"),
    ((2, 6, 5, 9), 4, (3, 3), (1, 1), "same", "winograd4"),
    ((2, 8, 8, 3), 2, (3, 3), (1, 1), "same", "winograd4"),
    ((1, 7, 9, 2), 3, (3, 3), (1, 1), "valid", "winograd4"),
]


def _conv(shape, filters, kernel, strides, padding, activation=None, seed=0, algorithm="auto"):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    layer = layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, activation=activation,
        algorithm=algorithm,
    )  # fmt: skip
    layer.build(shape[1:], rng)
    layer.bias[...] = rng.standard_normal(filters).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    return layer, x, rng


@pytest.mark.parametrize(
    ("shape", "filters", "kernel", "strides", "padding", "algorithm"), CONV_CASES
)
def test_conv2d_forward_and_backward_equal_the_loop_twin(
    shape, filters, kernel, strides, padding, algorithm
) -> None:
    """Random float32 data, a loose tolerance; the exact and the bound-checked
    comparisons follow below."""
    layer, x, rng = _conv(shape, filters, kernel, strides, padding, algorithm=algorithm)
    assert layer.resolved_algorithm == algorithm
    ws = Workspace()
    z = _fwd(layer, x, ws)
    want = loops.conv2d_forward_loop(x, layer.kernel, layer.bias, strides, padding)
    assert z.shape == want.shape == (shape[0], *layer.compute_output_shape(shape[1:]))
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=2e-5)

    dz = rng.standard_normal(z.shape).astype(np.float32)
    grads = [np.zeros_like(w) for w in layer.weights]
    dx = _bwd(layer, dz, ws, grads)
    dk, db, dx_want = loops.conv2d_backward_loop(x, layer.kernel, dz, strides, padding)
    np.testing.assert_allclose(grads[0], dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads[1], db, rtol=1e-4, atol=1e-4)
    assert dx is not None
    np.testing.assert_allclose(dx, dx_want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("algorithm", ["im2col", "winograd4"])
def test_conv2d_relu_backward_masks_where_the_output_is_zero(algorithm: str) -> None:
    layer, x, rng = _conv(
        (2, 5, 5, 2), 3, (3, 3), (1, 1), "same", activation="relu", algorithm=algorithm
    )
    ws = Workspace()
    y = _fwd(layer, x, ws)
    z = loops.conv2d_forward_loop(x, layer.kernel, layer.bias, (1, 1), "same")
    np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grads = [np.zeros_like(w) for w in layer.weights]
    dx = _bwd(layer, dy, ws, grads)
    dk, _, dx_want = loops.conv2d_backward_loop(x, layer.kernel, dy * (z > 0), (1, 1), "same")
    np.testing.assert_allclose(grads[0], dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dx_want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("algorithm", ["im2col", "winograd2", "winograd4"])
@pytest.mark.parametrize("batched", [False, True], ids=["direct", "begin_end_batch"])
def test_backward_accumulates_into_grads_over_sub_batches(algorithm: str, batched: bool) -> None:
    """Two sub-batches through one workspace sum to the whole batch's gradient, with
    the weight gradients added at once or deferred to end_batch (Winograd's S)."""
    layer, x, rng = _conv((4, 5, 5, 3), 2, (3, 3), (1, 1), "same", algorithm=algorithm)
    dz = rng.standard_normal((4, 5, 5, 2)).astype(np.float32)
    whole = [np.zeros_like(w) for w in layer.weights]
    ws = Workspace()
    _fwd(layer, x, ws)
    _bwd(layer, dz, ws, whole, need_dx=False)
    parts = [np.zeros_like(w) for w in layer.weights]
    if batched:
        layer.begin_batch(ws, 4, train=True)
    for lo in (0, 2):
        _fwd(layer, x[lo : lo + 2], ws)
        assert _bwd(layer, dz[lo : lo + 2], ws, parts, need_dx=False) is None
    if batched:
        layer.end_batch(ws, parts)
    for a, b in zip(parts, whole, strict=True):  # float32 sums in another order: 1e-5 of the scale
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(np.abs(b).max()))


def test_dense_and_flatten_equal_the_loop_twin() -> None:
    rng = np.random.default_rng(3)
    flat, dense = layers.Flatten(), layers.Dense(4)
    flat.build((3, 2, 5), rng)
    dense.build((30,), rng)
    dense.bias[...] = rng.standard_normal(4).astype(np.float32)
    x = rng.standard_normal((3, 3, 2, 5)).astype(np.float32)
    ws_f, ws_d = Workspace(), Workspace()
    h = _fwd(flat, x, ws_f)
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
    dx = _bwd(flat, dh, ws_f, [])
    assert dx is not None
    np.testing.assert_array_equal(dx, dh.reshape(x.shape))


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


# --- every variant: loop twin and central differences, on exactly representable data ----
#
# Each vectorised pass is checked against its loop twin (tests/_loops.py, float64) and
# against central differences of the scalar loss ``L = sum(r * y)`` for a fixed random
# ``r``.  The layers compute in float32 only (weights and buffers are float32), so rather
# than guess a tolerance for float32 rounding the data sit on coarse dyadic grids: ``x``
# and ``r`` are multiples of 2**-3 in [-1, 1], kernels multiples of 2**-6 in [-1/2, 1/2],
# biases odd multiples of 2**-10, and steps ``h`` powers of two.  Every product and
# partial sum of a pre-activation -- at the base point and with one entry moved by
# ``+-h`` -- is then a multiple of a known ``q`` far below ``2**24 * q`` in magnitude
# (asserted by ``_assert_exact``), so float32 computes it exactly in any summation order;
# the same holds for the gradients and for the float64 loss.  Hence for "linear" and
# "relu" (``h`` too small to cross a ReLU kink, also asserted) the loss is exactly linear
# along each step, and the layer, its loop twin and the central differences agree
# *exactly*: zero tolerance.  For "softmax" the only rounding is float32's exp, sum and
# divide; ``_Softmax`` derives the tolerance from float32's epsilon, ``h`` and the data.

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)
X_STEP, X_MAX = 2.0**-3, 1.0  # inputs
R_STEP, R_MAX = 2.0**-3, 1.0  # the loss's weights r = dL/dy
K_STEP, K_MAX = 2.0**-6, 0.5  # kernels
B_STEP, B_MAX = 2.0**-10, 0.5  # biases: odd multiples, so with x * kernel on 2**-9, z != 0
H_EXACT = 2.0**-12  # linear and relu (_draw keeps z farther than a step from the kink)
ACTIVATIONS = ("linear", "relu", "softmax")

CONV_INPUT = (2, 6, 5, 2)  # (n, H, W, C)
CONV_FILTERS = 3
# Kernels are non-square, so mixing up the two axes shows; (4, 2) pads "same" unevenly
# on both axes at stride 1 ((1, 2) rows, (0, 1) columns), (3, 2) evenly on one.
CONV_GEOMETRIES = [
    (padding, strides, kernel)
    for padding in ("same", "valid")
    for strides in ((1, 1), (2, 2))
    for kernel in ((3, 2), (4, 2))
]
CONV_VARIANTS = [
    pytest.param(
        padding,
        strides,
        kernel,
        use_bias,
        activation,
        id=f"{padding}-stride{strides[0]}-k{kernel[0]}x{kernel[1]}-"
        f"{'bias' if use_bias else 'nobias'}-{activation}",
    )
    for padding, strides, kernel in CONV_GEOMETRIES
    for use_bias in (True, False)
    for activation in ACTIVATIONS
]
DENSE_INPUT, DENSE_UNITS = (3, 7), 4
DENSE_VARIANTS = [
    pytest.param(use_bias, activation, id=f"{'bias' if use_bias else 'nobias'}-{activation}")
    for use_bias in (True, False)
    for activation in ACTIVATIONS
]


def _grid(
    rng: np.random.Generator, shape: tuple[int, ...], step: float, limit: float, odd: bool = False
) -> np.ndarray:
    """float32 multiples of ``step`` in ``[-limit, limit]`` (odd multiples if ``odd``)."""
    k = round(limit / step)
    m = (
        2 * rng.integers(-(k // 2), k // 2, size=shape) + 1
        if odd
        else rng.integers(-k, k + 1, size=shape)
    )
    return (m * step).astype(np.float32)


def _fan(layer: layers.Layer) -> tuple[int, int]:
    """``(terms, back_terms)``: products summed into one pre-activation, and (a bound on)
    the additions into one entry of ``dL/dx`` (col2im's scatter included)."""
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        return kh * kw * layer.kernel.shape[2], kh * kw * (layer.filters + 1)
    assert isinstance(layer, layers.Dense)
    return layer.kernel.shape[0], layer.units


def _assert_exact(layer: layers.Layer, n_out: int, rows: int, h: float) -> None:
    """Every value computed with ``x``, kernel or bias moved by ``+-h`` is exact.

    A sum of multiples of ``q`` (a power of two) smaller than ``2**24 * q`` in magnitude
    is exact in float32 in any order (``2**53 * q`` in float64).  The factor 2 keeps the
    differences ``z - max(z)`` of softmax exact too.
    """
    terms, back_terms = _fan(layer)
    q = min(min(X_STEP, h) * K_STEP, X_STEP * min(K_STEP, h))  # x * kernel, one moved
    z_max = terms * (X_MAX + h) * (K_MAX + h)
    if getattr(layer, "use_bias", False):
        q, z_max = min(q, B_STEP, h), z_max + B_MAX + h
    assert 2 * z_max < 2**24 * q  # pre-activations, forward
    assert n_out * R_MAX * z_max < 2**53 * R_STEP * q  # the float64 loss sum(r * y)
    assert rows * X_MAX * R_MAX < 2**24 * X_STEP * R_STEP  # dL/dkernel = sum x * dL/dz
    assert back_terms * K_MAX * R_MAX < 2**24 * K_STEP * R_STEP  # dL/dx = sum kernel * dL/dz


def _draw(
    layer: layers.Layer, x_shape: tuple[int, ...], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Grid weights for the built ``layer`` (set in place) and grid ``(x, r)``.

    For ReLU, draws again until every pre-activation is farther from the kink than one
    step can move it: ``h * max(|x|, |kernel|, 1)`` (the coefficients of the step).
    """
    rng = np.random.default_rng(seed)
    for _ in range(100):
        weights = [_grid(rng, layer.weights[0].shape, K_STEP, K_MAX)]
        if len(layer.weights) == 2:
            weights.append(_grid(rng, layer.weights[1].shape, B_STEP, B_MAX, odd=True))
        layer.set_weights(weights)
        x = _grid(rng, x_shape, X_STEP, X_MAX)
        z = _fwd(layer, x, Workspace(), logits=True)
        if layer.activation != "relu" or np.abs(z).min() > H_EXACT * max(X_MAX, K_MAX, 1.0):
            return x, _grid(rng, z.shape, R_STEP, R_MAX)
    raise AssertionError("no draw keeps the ReLU pre-activations off the kink")


def _conv_case(
    padding: str,
    strides: tuple[int, int],
    kernel: tuple[int, int],
    use_bias: bool,
    activation: str,
) -> tuple[layers.Conv2D, np.ndarray, np.ndarray]:
    layer = layers.Conv2D(
        CONV_FILTERS, kernel, strides, padding, activation=activation, use_bias=use_bias
    )
    layer.build(CONV_INPUT[1:], np.random.default_rng(0))
    seed = 100 * CONV_GEOMETRIES.index((padding, strides, kernel)) + 10 * use_bias
    seed += ACTIVATIONS.index(activation)
    return (layer, *_draw(layer, CONV_INPUT, seed))


def _dense_case(use_bias: bool, activation: str) -> tuple[layers.Dense, np.ndarray, np.ndarray]:
    layer = layers.Dense(DENSE_UNITS, activation=activation, use_bias=use_bias)
    layer.build(DENSE_INPUT[1:], np.random.default_rng(0))
    return (layer, *_draw(layer, DENSE_INPUT, 10 * use_bias + ACTIVATIONS.index(activation)))


def _vectorised(
    layer: layers.Layer, x: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The layer's own ``(y, [dL/dkernel, (dL/dbias)], dL/dx)`` for ``L = sum(r * y)``."""
    ws = Workspace()
    y = _fwd(layer, x, ws)
    grads = [np.zeros_like(w) for w in layer.weights]
    dx = _bwd(layer, r, ws, grads, need_dx=True)
    assert dx is not None
    return y, grads, dx


def _twin_forward(layer: layers.Layer, x: np.ndarray) -> np.ndarray:
    """Pre-activation ``z`` from the loop twin (float64)."""
    bias = layer.weights[1] if len(layer.weights) == 2 else None
    if isinstance(layer, layers.Conv2D):
        return loops.conv2d_forward_loop(x, layer.kernel, bias, layer.strides, layer.padding)
    return loops.dense_forward_loop(x, layer.weights[0], bias)


def _twin_backward(
    layer: layers.Layer, x: np.ndarray, kernel: np.ndarray, dz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dL/dkernel, dL/dbias, dL/dx)`` from the loop twin for ``dL/dz``."""
    if isinstance(layer, layers.Conv2D):
        return loops.conv2d_backward_loop(x, kernel, dz, layer.strides, layer.padding)
    return loops.dense_backward_loop(x, kernel, dz)


class _Softmax:
    """Error bounds of a float32 softmax layer against exact math, on the grid data.

    The pre-activations are exact (see above), so errors come from softmax alone.
    NumPy's float32 ``exp`` is within a few ulp (its SIMD version documents 2.52; we
    allow 4, a relative ``4 eps``); the row sum of ``F`` terms adds ``(F - 1) eps / 2``
    and the division ``eps / 2``, so ``|y - s| <= c_fwd * eps * s`` with
    ``c_fwd = F + 10 >= 8 + F / 2``.  ``softmax_backward`` then computes
    ``dz = y * (dy - sum(dy * y))`` within ``c_bwd * eps * max|r| * s`` with
    ``c_bwd = 3 c_fwd + F + 2``, and each gradient entry, a sum of at most ``N`` products
    ``a * dz`` with ``|dz| <= 2 max|r| s``, within ``sum |a| * w`` where
    ``w = (c_bwd + 2 N + 1) * eps * max|r| * s``: the loop twin run on ``|x|``,
    ``|kernel|`` and ``w`` adds exactly these sums up.
    """

    def __init__(self, layer: layers.Layer, x: np.ndarray, r: np.ndarray) -> None:
        self.s = loops.softmax_loop(_twin_forward(layer, x))
        self.classes = self.s.shape[-1]
        self.rows = self.s.size // self.classes
        self.r_max = float(np.abs(r).max())
        self.c_fwd = self.classes + 10
        c_bwd = 3 * self.c_fwd + self.classes + 2
        n_sum = max(self.rows, _fan(layer)[1])
        w = (c_bwd + 2 * n_sum + 1) * EPS32 * self.r_max * self.s
        dk, db, dx = _twin_backward(layer, np.abs(x), np.abs(layer.weights[0]), w)
        self.grad_error = {"kernel": dk, "bias": db, "x": dx}

    def forward_error(self) -> np.ndarray:
        """Bound on ``|y - s|``, elementwise."""
        return self.c_fwd * EPS32 * self.s

    def central_difference_error(self, n_out: int, h: float, rows: int, rho: float) -> float:
        """Bound on ``|(L(t + h) - L(t - h)) / 2h - L'(t)|`` in float32 arithmetic.

        Rounding: each loss is within ``(c_fwd eps + n_out eps64) max|r| * rows`` of the
        exact one (``sum s = 1`` per row; ``n_out eps64`` for the float64 sum), so the
        quotient within that over ``h``.  Truncation: ``h**2 / 6 * max|L'''|``; along a
        step that moves a row's logits by ``t * a``, ``d^3/dt^3 sum r * softmax`` is the
        joint cumulant ``kappa(r, a, a, a)`` under ``s``, at most ``4 rho_r rho_a**3`` for
        ranges ``rho_r <= 2 max|r|`` and ``rho_a = rho``; ``rows`` rows move.
        """
        rounding = (self.c_fwd * EPS32 + n_out * EPS64) * self.r_max * self.rows / h
        truncation = h**2 / 6 * rows * 4 * (2 * self.r_max) * rho**3
        return rounding + truncation

    def step(self, n_out: int, rows: int, rho: float) -> float:
        """The power of two nearest the ``h`` minimising :meth:`central_difference_error`
        (``A / h + B h**2`` is least at ``(A / 2B)**(1/3)``), within ``[2**-10, 2**-3]``."""
        a = (self.c_fwd * EPS32 + n_out * EPS64) * self.r_max * self.rows
        b = rows * 4 * (2 * self.r_max) * rho**3 / 6
        return 2.0 ** min(-3, max(-10, round(math.log2((a / (2 * b)) ** (1 / 3)))))


def _central_differences(
    layer: layers.Layer, x: np.ndarray, r: np.ndarray, target: np.ndarray, h: float
) -> np.ndarray:
    """``(L(t + h) - L(t - h)) / 2h`` for every entry ``t`` of ``target`` (``x`` or a
    weight, moved in place and restored), ``L = sum(r * y)`` summed in float64."""
    _assert_exact(layer, r.size, r.size // r.shape[-1], h)
    r64 = r.astype(np.float64)
    ws = Workspace()
    fd = np.empty(target.shape)
    for idx in np.ndindex(*target.shape):
        old = float(target[idx])
        up_down = []
        for t in (old + h, old - h):
            target[idx] = t
            assert float(target[idx]) == t  # the step is exact
            up_down.append(float(np.sum(r64 * _fwd(layer, x, ws))))
        target[idx] = old
        fd[idx] = (up_down[0] - up_down[1]) / (2 * h)
    return fd


def _rows_moved(layer: layers.Layer, rows: int) -> dict[str, tuple[int, float]]:
    """Per target: how many output rows one step moves, and the range of the logit change
    per unit step within a row (``rho_a``: a kernel entry moves one logit by ``x``, an
    input entry moves a row's logits by ``kernel[u, v, c, :]``, a bias entry by 1)."""
    x_rows = math.prod(layer.kernel_size) if isinstance(layer, layers.Conv2D) else 1
    k_range = 2 * float(np.abs(layer.weights[0]).max())
    return {"kernel": (rows, X_MAX), "bias": (rows, 1.0), "x": (x_rows, k_range)}


def _check_loop_twin(layer: layers.Layer, x: np.ndarray, r: np.ndarray) -> None:
    _assert_exact(layer, r.size, r.size // r.shape[-1], H_EXACT)  # covers the base point
    y, grads, dx = _vectorised(layer, x, r)
    z = _twin_forward(layer, x)
    y_want = loops.activation_loop(z, layer.activation)
    dz = loops.activation_backward_loop(r, z, layer.activation)
    dk, db, dx_want = _twin_backward(layer, x, layer.weights[0], dz)
    got = {"y": y, "kernel": grads[0], "x": dx}
    want = {"y": y_want, "kernel": dk, "x": dx_want}
    if len(grads) == 2:
        got["bias"], want["bias"] = grads[1], db
    assert y.shape == y_want.shape == (x.shape[0], *layer.compute_output_shape(x.shape[1:]))
    if layer.activation == "softmax":
        bounds = _Softmax(layer, x, r)
        bound = {"y": bounds.forward_error(), **bounds.grad_error}
        for key in got:
            assert np.all(np.abs(got[key] - want[key]) <= bound[key]), key
    else:  # exact arithmetic: equal
        for key in got:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def _check_central_differences(layer: layers.Layer, x: np.ndarray, r: np.ndarray) -> None:
    _, grads, dx = _vectorised(layer, x, r)
    targets = {"kernel": (layer.weights[0], grads[0]), "x": (x, dx)}
    if len(grads) == 2:
        targets["bias"] = (layer.weights[1], grads[1])
    bounds = _Softmax(layer, x, r) if layer.activation == "softmax" else None
    moved = _rows_moved(layer, r.size // r.shape[-1])
    for key, (target, grad) in targets.items():
        if bounds is None:  # exact arithmetic: equal
            fd = _central_differences(layer, x, r, target, H_EXACT)
            np.testing.assert_array_equal(grad, fd, err_msg=key)
        else:
            h = bounds.step(r.size, *moved[key])
            fd = _central_differences(layer, x, r, target, h)
            tol = bounds.central_difference_error(r.size, h, *moved[key]) + bounds.grad_error[key]
            assert np.all(np.abs(grad - fd) <= tol), (key, np.abs(grad - fd).max(), tol.max())
            # The bound must be tight enough to catch a wrong gradient.
            assert tol.max() < 0.05 * np.abs(fd).max(), (key, tol.max(), np.abs(fd).max())
        assert np.abs(fd).max() > 0, key  # not vacuous (e.g. every ReLU closed)


#: Each variant is checked twice: against its slow loop twin, and -- input
#: (``need_dx=True``: im2col at stride 1, col2im at stride 2), weight and bias
#: gradients -- against central differences of ``sum(r * y)``.
CHECKS = pytest.mark.parametrize(
    "check", [_check_loop_twin, _check_central_differences], ids=["loop_twin", "central_diff"]
)


@CHECKS
@pytest.mark.parametrize(("padding", "strides", "kernel", "use_bias", "activation"), CONV_VARIANTS)
def test_conv2d_variant(
    check: Any,
    padding: str,
    strides: tuple[int, int],
    kernel: tuple[int, int],
    use_bias: bool,
    activation: str,
) -> None:
    check(*_conv_case(padding, strides, kernel, use_bias, activation))


@CHECKS
@pytest.mark.parametrize(("use_bias", "activation"), DENSE_VARIANTS)
def test_dense_variant(check: Any, use_bias: bool, activation: str) -> None:
    check(*_dense_case(use_bias, activation))


@pytest.mark.parametrize("shape", [(2, 3, 2, 4), (3, 5), (1, 2, 3, 1, 2)])
def test_flatten_equals_the_loop_twin_and_central_differences(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    flat = layers.Flatten()
    flat.build(shape[1:], rng)
    x = _grid(rng, shape, X_STEP, X_MAX)
    ws = Workspace()
    y = _fwd(flat, x, ws)
    np.testing.assert_array_equal(y, loops.flatten_forward_loop(x))
    r = _grid(rng, y.shape, R_STEP, R_MAX)
    dx = _bwd(flat, r, ws, [], need_dx=True)
    assert dx is not None
    np.testing.assert_array_equal(dx, loops.flatten_backward_loop(r, x.shape))
    # Central differences, exact on the grid (sums of at most r.size terms of 2**-15).
    h, r64, fd = H_EXACT, r.astype(np.float64), np.empty(x.shape)
    for idx in np.ndindex(*x.shape):
        old = float(x[idx])
        x[idx] = old + h
        up = float(np.sum(r64 * _fwd(flat, x, Workspace())))
        x[idx] = old - h
        down = float(np.sum(r64 * _fwd(flat, x, Workspace())))
        x[idx] = old
        fd[idx] = (up - down) / (2 * h)
    np.testing.assert_array_equal(dx, fd)
    assert _bwd(flat, r, ws, [], need_dx=False) is None


@pytest.mark.parametrize(
    ("factory", "x_shape"),
    [
        (lambda **kw: layers.Dense(3, **kw), (2, 5)),
        (lambda **kw: layers.Conv2D(2, 3, padding="same", **kw), (2, 4, 4, 1)),
    ],
    ids=["Dense", "Conv2D"],
)
def test_calling_an_unbuilt_layer_draws_from_the_seeded_generator(factory, x_shape) -> None:  # type: ignore[no-untyped-def]
    """``layer(x)`` builds from :func:`refimpl.utils.get_rng`, as ``Sequential`` does."""
    from refimpl.models import Sequential
    from refimpl.utils import set_random_seed

    x = np.ones(x_shape, np.float32)

    def called(seed: int) -> np.ndarray:
        set_random_seed(seed)
        layer = factory()
        layer(x)
        return layer.get_weights()[0]

    first = called(0)
    np.testing.assert_array_equal(called(0), first)
    assert not np.array_equal(called(1), first)
    set_random_seed(0)
    model = Sequential([factory(input_shape=x_shape[1:])])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], first)


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


# --- Winograd variants: loop twin and central differences, within derived bounds ------------
#
# F(4x4)'s kernel transform has non-dyadic entries (1/6, 1/30, ...), so no grid makes
# Winograd exact in float32: the comparisons use the rounding-error bounds of
# tests/_bounds.py (Higham's gamma_k times the computation on absolute values).  The
# algorithm's gradients are also checked in float64 against central differences in
# tests/test_winograd.py, to 1e-12.

WINOGRAD_INPUT = (2, 6, 5, 3)  # outputs are not whole tiles: the crop is exercised
WINOGRAD_VARIANTS = [
    pytest.param(
        padding,
        algorithm,
        use_bias,
        activation,
        id=f"{algorithm}-{padding}-{'bias' if use_bias else 'nobias'}-{activation}",
    )
    for algorithm in ("winograd2", "winograd4")
    for padding in ("same", "valid")
    for use_bias in (True, False)
    for activation in ("linear", "relu")
]


def _hwnc_padded(a: np.ndarray, pad: int) -> np.ndarray:
    """Keras-layout ``a`` in float64 HWNC, zero-padded by ``pad`` on every side."""
    hwnc = np.moveaxis(np.asarray(a, np.float64), 0, 2)
    return np.pad(hwnc, ((pad, pad), (pad, pad), (0, 0), (0, 0)))


def _winograd_bounds(
    layer: layers.Conv2D, x: np.ndarray, dz: np.ndarray, slack: float = 0.0
) -> dict[str, np.ndarray]:
    """tests/_bounds.py's bounds for ``layer`` on Keras-layout ``x`` and ``dL/dz``; with
    ``slack``, for any input and weights within ``slack`` of these (the bound grows with
    the absolute values)."""
    pad = 1 if layer.padding == "same" else 0
    xpad = np.abs(_hwnc_padded(x, pad))
    xpad[pad : xpad.shape[0] - pad, pad : xpad.shape[1] - pad] += slack
    kernel = np.abs(layer.kernel.astype(np.float64)) + slack
    bias = np.abs(layer.bias.astype(np.float64)) + slack if layer.use_bias else None
    dzh = np.moveaxis(np.asarray(dz, np.float64), 0, 2)
    algorithm = layer.resolved_algorithm
    assert algorithm is not None
    return bounds.conv_bounds(algorithm, xpad, kernel, bias, dzh, _hwnc_padded(dz, 2 - pad))


def _winograd_case(
    padding: str, algorithm: str, use_bias: bool, activation: str
) -> tuple[layers.Conv2D, np.ndarray, np.ndarray]:
    """Grid data (steps of +-1/2 stay exact) with every ReLU pre-activation farther
    from 0 than twice its error bound."""
    layer = layers.Conv2D(
        2, 3, padding=padding, activation=activation, use_bias=use_bias, algorithm=algorithm
    )
    layer.build(WINOGRAD_INPUT[1:], np.random.default_rng(0))
    rng = np.random.default_rng(ALGORITHMS_SEED[algorithm] + 10 * use_bias)
    for _ in range(100):
        weights = [_grid(rng, layer.kernel.shape, K_STEP, K_MAX)]
        if use_bias:
            weights.append(_grid(rng, layer.bias.shape, B_STEP, B_MAX, odd=True))
        layer.set_weights(weights)
        x = _grid(rng, WINOGRAD_INPUT, X_STEP, X_MAX)
        z = _fwd(layer, x, Workspace(), logits=True)
        r = _grid(rng, z.shape, R_STEP, R_MAX)
        margin = np.moveaxis(_winograd_bounds(layer, x, r)["forward"], 2, 0)
        if activation != "relu" or np.all(np.abs(z) > 2 * margin):
            return layer, x, r
    raise AssertionError("no draw keeps the ReLU pre-activations off the kink")


ALGORITHMS_SEED = {"winograd2": 1000, "winograd4": 2000}


@pytest.mark.parametrize(("padding", "algorithm", "use_bias", "activation"), WINOGRAD_VARIANTS)
def test_winograd_conv2d_equals_the_loop_twin_within_bounds(
    padding: str, algorithm: str, use_bias: bool, activation: str
) -> None:
    layer, x, r = _winograd_case(padding, algorithm, use_bias, activation)
    y, grads, dx = _vectorised(layer, x, r)
    z = _twin_forward(layer, x)
    dz = loops.activation_backward_loop(r, z, activation)
    dk, db, dx_want = _twin_backward(layer, x, layer.kernel, dz)
    bound = _winograd_bounds(layer, x, dz)
    to_keras = {
        k: np.moveaxis(v, 2, 0) if v.ndim == 4 and k != "kernel" else v for k, v in bound.items()
    }
    checks = [("forward", y, loops.activation_loop(z, activation)), ("kernel", grads[0], dk)]
    checks.append(("input", dx, dx_want))
    if use_bias:
        checks.append(("bias", grads[1], db))
    for key, got, want in checks:  # ReLU is 1-Lipschitz: the pre-activation bound holds
        assert np.all(np.abs(got - want) <= to_keras[key]), (key, np.abs(got - want).max())
        assert to_keras[key].max() < 1e-2 * np.abs(want).max(), key  # not vacuous


@pytest.mark.parametrize(
    ("padding", "algorithm", "use_bias"),
    [
        pytest.param(p, a, b, id=f"{a}-{p}-{'bias' if b else 'nobias'}")
        for a in ("winograd2", "winograd4")
        for p in ("same", "valid")
        for b in (True, False)
    ],
)
def test_winograd_conv2d_gradients_equal_central_differences(
    padding: str, algorithm: str, use_bias: bool
) -> None:
    """A linear layer's ``L = sum(r * y)`` is linear in each input, kernel and bias
    entry, so central differences with a large step (1/2, exact on the grid) have no
    truncation error; each of ``L(t +- h)`` is within ``sum |r| * bound`` of the exact
    value, so the difference quotient within ``sum |r| * bound / h``.  The float64
    check of the algorithm itself (tests/test_winograd.py) is tight to 1e-12."""
    layer, x, r = _winograd_case(padding, algorithm, use_bias, "linear")
    h = 0.5
    _, grads, dx = _vectorised(layer, x, r)
    loose = _winograd_bounds(layer, x, r, slack=h)
    rounding = float(np.sum(np.abs(np.moveaxis(r, 0, 2)) * loose["forward"])) / h
    grad_bound = _winograd_bounds(layer, x, r)
    targets = {"kernel": (layer.kernel, grads[0]), "x": (x, dx)}
    if use_bias:
        targets["bias"] = (layer.bias, grads[1])
    for key, (target, grad) in targets.items():
        r64 = r.astype(np.float64)
        fd = np.empty(target.shape)
        for idx in np.ndindex(*target.shape):
            old = float(target[idx])
            values = []
            for t in (old + h, old - h):
                target[idx] = t
                values.append(float(np.sum(r64 * _fwd(layer, x, Workspace()))))
            target[idx] = old
            fd[idx] = (values[0] - values[1]) / (2 * h)
        own = grad_bound["input" if key == "x" else key]
        own = np.moveaxis(own, 2, 0) if key == "x" else own
        tol = rounding + own
        assert np.all(np.abs(grad - fd) <= tol), (key, np.abs(grad - fd).max())
        # Tight enough to catch a wrong gradient: the worst-case bound reaches 12% of the
        # largest quotient (F(4x4)'s input gradient; the measured disagreement is ~1e-6).
        assert np.max(tol) < 0.25 * np.abs(fd).max(), key
