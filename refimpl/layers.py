"""Layers of the lesson's CNN -- ``Conv2D``, ``Dense``, ``Flatten`` -- in NumPy, float32.

Each layer keeps its forward and backward pass side by side.  Weights have Keras's
layouts -- convolution kernels HWIO ``(kernel_h, kernel_w, in_channels, filters)``, dense
kernels ``(in, out)`` -- so ``get_weights``/``set_weights`` copy weights both ways
between a Keras model and ours.  Kernels start Glorot-uniform, biases zero, drawn from
the generator that :func:`refimpl.utils.set_random_seed` seeds.

**Two layouts.**  Users, ``Sequential`` and :meth:`Layer.__call__` speak Keras's NHWC,
``(batch, height, width, channels)``.  Inside the trainer, :meth:`Layer.forward` and
:meth:`Layer.backward` take images as ``(height, width, batch, channels)`` ("HWNC"; in
general the batch axis sits just before the last axis, and flat data stay
``(batch, features)``): every tile or patch of a sub-batch then keeps runs of
``batch * channels`` contiguous floats, which makes the convolutions' data movement a
few large copies and batched matrix products instead of many small ones.
:func:`to_trainer_layout` and :func:`to_keras_layout` convert (as views); ``Flatten``
emits Keras's NHWC flatten order, so a ``Dense`` kernel means the same in both.

Notation for a convolution with input ``x`` of per-sample shape ``(H, W, C)``, kernel
``K`` of shape ``(kh, kw, C, F)``, strides ``(sh, sw)`` and top/left padding
``(pt, pl)``::

    z[b, i, j, f] = bias[f] + sum_{u, v, c} xpad[b, i*sh + u, j*sw + v, c] * K[u, v, c, f]
    y = activation(z)

and the gradients, given ``dL/dz``::

    dL/dK[u, v, c, f] = sum_{b, i, j} xpad[b, i*sh + u, j*sw + v, c] * dL/dz[b, i, j, f]
    dL/dbias[f]       = sum_{b, i, j} dL/dz[b, i, j, f]
    dL/dxpad[b, p, q, c] = sum_{u, v, f} dL/dz[b, (p-u)/sh, (q-v)/sw, f] * K[u, v, c, f]

``Conv2D(algorithm=...)`` chooses how: ``"im2col"`` (:mod:`refimpl.im2col`, any kernel
and stride: one patch copy and one matrix product per pass) or Winograd's minimal
filtering for 3x3 stride-1 kernels (:mod:`refimpl.winograd`; ``"winograd2"`` with 2x2
output tiles, ``"winograd4"`` with 4x4: 4x fewer multiplications).  ``"auto"`` (the
default) is :data:`AUTO_ALGORITHM` -- ``"winograd2"`` unless the environment variable
``REFIMPL_CONV_ALGORITHM`` names another -- where it applies (Winograd: 3x3, stride 1, at
least :data:`WINOGRAD_MIN_CHANNELS` input channels), else ``"im2col"``.

Why ``"winograd2"``: the fastest algorithm that keeps Keras parity step by step.  At
every step of Keras's own run, fed Keras's weights and inputs, each of refimpl's
convolutions must stay within the two computations' rounding bound of Keras's
pre-activations, ``2 gamma_{n+1} (sum |x| |w| + |b|)`` (tests/test_keras_trainer_parity.py),
so that a ReLU can decide differently only at a near-tie.  Measured (worst over 16
steps, as a fraction of that bound): im2col 0.00, ``"winograd2"`` 0.02,
``"winograd4"`` 0.01 on the lesson's second layer.  ``"winograd4"`` keeps it only with
its forward in float64 (see "Accuracy" in :mod:`refimpl.winograd`; a float32 F(4x4)
forward spreads rounding over the tile and exceeds the bound up to 1e5-fold, flipping
thousands of ReLUs a step), which makes it slower than ``"winograd2"``: an epoch of the
lesson at batch 64 took 0.85x Keras's time with ``"winograd2"`` (0.81-1.12), 0.98x with
``"winograd4"`` (0.88-1.30), 1.13x with im2col (1.11-1.42), 3 interleaved rounds of
``benchmarks/trainer.py``.  Trained freely, no algorithm but one rounding exactly as
Keras does follows Keras's weights for long: a near-tie decided the other way grows to
1e-3..1e-2 of the weights within 64 steps (im2col from start weights perturbed by half
an ulp exceeds 1e-3 in 12 of 20 runs; ``benchmarks/trainer.py --parity-seeds 5``, worst
over 4 epochs: im2col 1.5e-6..3.6e-4, ``"winograd2"`` 1.5e-6..8.4e-3, ``"winograd4"``
1.9e-6..2.0e-3), so that free-running comparison is made with im2col.

Buffers live in a per-worker :class:`~refimpl.workspace.Workspace` and are reused from
batch to batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from refimpl.im2col import Im2colPlan
from refimpl.utils import get_rng
from refimpl.winograd import WinogradPlan, flipped_kernel, kernel_gradient, transform_kernel
from refimpl.workspace import Workspace

__all__ = [
    "ALGORITHMS",
    "AUTO_ALGORITHM",
    "WINOGRAD_MIN_CHANNELS",
    "Conv2D",
    "Dense",
    "Flatten",
    "Layer",
    "glorot_uniform",
    "relu_backward",
    "relu_forward",
    "softmax",
    "softmax_backward",
    "to_keras_layout",
    "to_trainer_layout",
]

_ACTIVATIONS = ("linear", "relu", "softmax")
#: ``Conv2D(algorithm=...)`` values.
ALGORITHMS = ("auto", "im2col", "winograd2", "winograd4")
#: What ``"auto"`` means where Winograd applies (see the module docstring).
AUTO_ALGORITHM = "winograd2"
#: ``"auto"`` uses Winograd only from this many input channels: with fewer, the
#: transforms cost more than the products they save (the lesson's first layer, 1 -> 32
#: channels, runs 2.3x faster with im2col; its second, 32 -> 16, 3.5x faster with
#: ``"winograd4"``; CPU time per sample, forward and backward).
WINOGRAD_MIN_CHANNELS = 8


def _auto_algorithm() -> str:
    """``REFIMPL_CONV_ALGORITHM`` if set (checked), else :data:`AUTO_ALGORITHM`."""
    env = os.environ.get("REFIMPL_CONV_ALGORITHM", "").strip()
    if not env:
        return AUTO_ALGORITHM
    if env not in ALGORITHMS[1:]:
        raise ValueError(
            f"Environment variable REFIMPL_CONV_ALGORITHM must be one of {list(ALGORITHMS[1:])}. "
            f"Received: REFIMPL_CONV_ALGORITHM={env!r}"
        )
    return env


_NAME_COUNTS: dict[str, int] = {}


def _unique_name(base: str) -> str:
    """Keras-style automatic names: ``conv2d``, ``conv2d_1``, ``conv2d_2``, ..."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def _reset_names() -> None:
    """Restart automatic layer names (what ``keras.backend.clear_session`` does)."""
    _NAME_COUNTS.clear()


def _batch_inner(ndim: int) -> tuple[int, ...]:
    """Axes that move the first axis to just before the last (for ``ndim >= 3``)."""
    return (*range(1, ndim - 1), 0, ndim - 1)


def _batch_first(ndim: int) -> tuple[int, ...]:
    return (ndim - 2, *range(ndim - 2), ndim - 1)


def to_trainer_layout(x: np.ndarray) -> np.ndarray:
    """Keras's batch-first array as the trainer's layout (a view): the batch axis moved
    to just before the last axis when a sample has 2 or more axes.

    >>> to_trainer_layout(np.zeros((5, 28, 28, 1))).shape   # NHWC -> HWNC
    (28, 28, 5, 1)
    >>> to_trainer_layout(np.zeros((5, 10))).shape          # flat data stay as they are
    (5, 10)
    """
    return x.transpose(_batch_inner(x.ndim)) if x.ndim >= 3 else x


def to_keras_layout(x: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_trainer_layout` (a view).

    >>> to_keras_layout(np.zeros((28, 28, 5, 1))).shape
    (5, 28, 28, 1)
    """
    return x.transpose(_batch_first(x.ndim)) if x.ndim >= 3 else x


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Glorot (Xavier) uniform initialiser, as ``keras.initializers.GlorotUniform``.

    ``limit = sqrt(6 / (fan_in + fan_out))`` with, for a kernel of shape
    ``(*receptive_field, fan_in_channels, fan_out_channels)``,
    ``fan_in = prod(receptive_field) * shape[-2]`` and
    ``fan_out = prod(receptive_field) * shape[-1]``; samples ``U(-limit, limit)`` in float32.

    >>> w = glorot_uniform((3, 3, 1, 32), np.random.default_rng(0))
    >>> w.dtype, w.shape, bool(abs(w).max() <= np.sqrt(6 / (9 + 288)))
    (dtype('float32'), (3, 3, 1, 32), True)
    """
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fan_in = receptive * shape[-2]
    fan_out = receptive * shape[-1]
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _check_activation(activation: Any) -> str:
    if activation is None:
        return "linear"
    if not isinstance(activation, str) or activation not in _ACTIVATIONS:
        raise ValueError(
            f"Argument `activation` must be one of {list(_ACTIVATIONS)} or None. "
            f"Received: activation={activation!r}"
        )
    return activation


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def _check_pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair: tuple[Any, ...] = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValueError(
            f"Argument `{name}` must be an int or a tuple of 2 ints. Received: {name}={value!r}"
        )
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(
                f"Argument `{name}` must contain positive integers. Received: {name}={value!r}"
            )
    return int(pair[0]), int(pair[1])


def _check_input_shape(input_shape: Any) -> tuple[int, ...] | None:
    if input_shape is None:
        return None
    if not isinstance(input_shape, (tuple, list)) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in input_shape
    ):
        raise ValueError(
            "Argument `input_shape` must be a tuple of positive integers (without the "
            f"batch dimension). Received: input_shape={input_shape!r}"
        )
    return tuple(int(d) for d in input_shape)


def _contiguous_tail(a: np.ndarray) -> tuple[int, ...]:
    """The longest trailing part of ``a.shape`` laid out contiguously (C order)."""
    expected = a.itemsize
    k = a.ndim
    while k > 0 and (a.shape[k - 1] == 1 or a.strides[k - 1] == expected):
        expected *= a.shape[k - 1]
        k -= 1
    return a.shape[k:]


def relu_forward(z: np.ndarray, zeros: np.ndarray | None = None) -> np.ndarray:
    """``y = max(z, 0)`` elementwise, in place: returns ``z`` itself (any shape).

    ``zeros`` is an optional zero array that broadcasts to ``z`` (e.g. of
    ``z.shape[1:]``): ``np.maximum(z, zeros)`` takes NumPy's SIMD path, 3-4x faster here
    than ``np.maximum(z, 0)`` with a scalar.

    >>> relu_forward(np.array([-1.0, 0.0, 2.0], np.float32))
    array([0., 0., 2.], dtype=float32)
    """
    if zeros is None:
        zeros = np.zeros(_contiguous_tail(z) or (1,), z.dtype)
    return np.maximum(z, zeros, out=z)


def relu_backward(
    dy: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None = None,
    out: np.ndarray | None = None,
    zeros: np.ndarray | None = None,
) -> np.ndarray:
    """``dL/dz = dL/dy * [y > 0]`` (ReLU's derivative at 0 is 0, as in TensorFlow).

    ``dy`` and ``y = relu_forward(z)`` have the same (any) shape; the result goes into
    ``out`` (default: ``dy`` itself, overwritten) and is returned.  ``mask`` is an
    optional reusable bool buffer of that shape (a multiply by a bool mask is ~10x faster
    than ``np.copyto(..., where=...)``), ``zeros`` as in :func:`relu_forward`.

    >>> relu_backward(np.array([5.0, 5.0], np.float32), np.array([0.0, 2.0], np.float32))
    array([0., 5.], dtype=float32)
    """
    if zeros is None:
        zeros = np.zeros(_contiguous_tail(y) or (1,), y.dtype)
    mask = np.greater(y, zeros, out=mask)
    return np.multiply(dy, mask, out=dy if out is None else out)


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, ``exp(z - max z) / sum(exp(z - max z))``.

    ``z`` has shape ``(..., classes)``; returns a new array of the same shape and dtype.

    >>> softmax(np.array([[0.0, 0.0]], np.float32))
    array([[0.5, 0.5]], dtype=float32)
    """
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dL/dz = y * (dL/dy - sum(dL/dy * y))`` for ``y = softmax(z)`` (last axis).

    ``dy`` and ``y`` have shape ``(..., classes)``; returns a new array of that shape.

    >>> y = softmax(np.array([[0.0, 0.0]]))
    >>> softmax_backward(np.array([[1.0, -1.0]]), y)
    array([[ 0.5, -0.5]])
    """
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def _sum_rows(a: np.ndarray, ws: Workspace) -> np.ndarray:
    """``a.sum(axis=0)`` for a 2-D ``a`` as a BLAS product ``ones @ a`` (~15x faster for
    tall, thin ``a`` than NumPy's reduction)."""
    ones = ws.buffer("ones", (1, a.shape[0]))
    if ones.size and ones[0, 0] != 1:
        ones.fill(1)
    return (ones @ a)[0]


class Layer:
    """Base class: a name, weights in Keras's order, forward and backward passes.

    Subclasses implement :meth:`build` (create the weights for a per-sample
    ``input_shape``), :meth:`compute_output_shape`, :meth:`forward` and :meth:`backward`,
    all in the trainer's layout (see the module docstring).
    """

    _default_name = "layer"

    def __init__(
        self, *, name: str | None = None, input_shape: Sequence[int] | None = None
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Argument `name` must be a string. Received: name={name!r}")
        self.name = name if name is not None else _unique_name(self._default_name)
        self._input_shape_arg = _check_input_shape(input_shape)
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.built = False
        self.activation = "linear"
        self._weights: list[np.ndarray] = []
        self._weight_names: list[str] = []

    # -- structure ------------------------------------------------------------------
    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create the weights for per-sample ``input_shape`` (no batch dimension)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape."""
        raise NotImplementedError

    @property
    def weights(self) -> list[np.ndarray]:
        """The layer's variables (live arrays, updated in place by the optimizer)."""
        return self._weights

    def count_params(self) -> int:
        """Number of scalars in the layer's weights."""
        return sum(int(w.size) for w in self._weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras's order (kernel, bias)."""
        return [w.copy() for w in self._weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite the weights in place (shapes must match; values cast to float32)."""
        if len(weights) != len(self._weights):
            raise ValueError(
                f"Layer {self.name!r} expects {len(self._weights)} weight arrays. "
                f"Received: {len(weights)} arrays"
            )
        for name, current, new in zip(self._weight_names, self._weights, weights, strict=True):
            arr = np.asarray(new)
            if arr.shape != current.shape:
                raise ValueError(
                    f"Layer {self.name!r} weight {name!r} has shape {current.shape}. "
                    f"Received: shape {arr.shape}"
                )
            current[...] = arr.astype(np.float32, copy=False)

    def bind_weights(self, arrays: Sequence[np.ndarray]) -> None:
        """Make ``arrays`` (float32, of the weights' shapes, e.g. views of shared
        memory) the layer's variables, without copying: what a worker process does."""
        self._weights = list(arrays)
        for name, arr in zip(self._weight_names, self._weights, strict=True):
            setattr(self, name, arr)

    # -- computation ----------------------------------------------------------------
    @property
    def sub_batch(self) -> int | None:
        """Samples per sub-batch this layer runs best with in the trainer (None: any);
        the engine takes the smallest over the model's layers."""
        return None

    def input_view(self, ws: Workspace, n: int) -> np.ndarray | None:
        """Where the previous layer may write this layer's input for a sub-batch of
        ``n`` samples (e.g. the inside of a zero-padded buffer), or None.  A forward pass
        given that very view as ``x`` does not copy it."""
        return None

    def forward(
        self, x: np.ndarray, ws: Workspace, logits: bool = False, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Output for input ``x`` (trainer's layout); cache what backward needs in ``ws``.

        With ``logits=True`` the activation is skipped and the pre-activation returned.
        The result goes into ``out`` if given (the next layer's :meth:`input_view`), else
        into a buffer of ``ws``: either way it is valid until the next forward.
        """
        raise NotImplementedError

    def backward(
        self,
        dy: np.ndarray,
        ws: Workspace,
        grads: list[np.ndarray],
        need_dx: bool = True,
        logits: bool = False,
    ) -> np.ndarray | None:
        """Add this sub-batch's weight gradients to ``grads``; return ``dL/dx`` if wanted.

        ``dy`` is ``dL/dy`` for the last forward's output (``dL/dz`` of the
        pre-activation if ``logits``); it is not written to.
        """
        raise NotImplementedError

    def begin_batch(self, ws: Workspace, rows: int, train: bool) -> None:
        """The trainer is about to run sub-batches of ``rows`` samples in all through
        ``ws`` (one part of a batch), with the weights fixed until :meth:`end_batch`.
        Layers may prepare per-batch forms of their weights here or defer
        weight-gradient work to :meth:`end_batch`; the default does nothing."""

    def end_batch(self, ws: Workspace, grads: list[np.ndarray] | None) -> None:
        """Finish what :meth:`begin_batch` deferred (adding to ``grads``; None: discard
        it, as after an error); drop the per-batch forms so that later direct calls use
        the live weights."""

    def __call__(self, x: Any) -> np.ndarray:
        """Inference on a batch in Keras's layout: ``layer(x)``, ``x`` of shape
        ``(batch, *input_shape)``.

        On first use the layer is built for ``x.shape[1:]``, drawing its initial weights
        from :func:`refimpl.utils.get_rng` -- the generator ``Sequential`` builds from --
        so after :func:`refimpl.utils.set_random_seed` they are reproducible.  Returns a
        new array of shape ``(batch, *output_shape)``.
        """
        x = np.asarray(x, np.float32)
        if not self.built:
            self.build(x.shape[1:], get_rng())
        y = self.forward(to_trainer_layout(x), Workspace())
        return np.ascontiguousarray(to_keras_layout(y))

    def _zeros(self, ws: Workspace, a: np.ndarray) -> np.ndarray:
        return ws.buffer("zeros", _contiguous_tail(a) or (1,))

    def _activate(self, z: np.ndarray, ws: Workspace) -> np.ndarray:
        if self.activation == "relu":
            relu_forward(z, self._zeros(ws, z))
        elif self.activation == "softmax":
            np.copyto(z, softmax(z))
        ws.cache["y"] = z
        return z

    def _pre_activation_gradient(
        self, dy: np.ndarray, ws: Workspace, out: np.ndarray, logits: bool
    ) -> np.ndarray:
        """``dL/dz`` into ``out`` for ``dL/dy`` (``dL/dz`` itself if ``logits``)."""
        if logits or self.activation == "linear":
            np.copyto(out, dy)
        elif self.activation == "relu":
            y = ws.cache["y"]
            mask = ws.buffer("relu_mask", y.shape, dtype=np.bool_)
            relu_backward(dy, y, mask, out=out, zeros=self._zeros(ws, y))
        else:
            np.copyto(out, softmax_backward(dy, ws.cache["y"]))
        return out

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as in Keras."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Conv2D(Layer):
    """2-D convolution with bias and activation: ``y = activation(conv(x, kernel) + bias)``.

    Shapes (per sample): input ``(H, W, C)``, kernel ``(kh, kw, C, filters)``, bias
    ``(filters,)``, output ``(Ho, Wo, filters)`` with ``Ho = ceil(H / sh)`` for
    ``"same"`` and ``Ho = (H - kh) // sh + 1`` for ``"valid"`` (likewise ``Wo``).
    ``"same"`` pads ``max((Ho - 1) * sh + kh - H, 0)`` rows, the smaller half on top, as
    TensorFlow.  Parameters: ``kh * kw * C * filters + filters`` (the lesson's: 320 and
    4,624).

    ``algorithm``: ``"auto"`` (default), ``"im2col"``, ``"winograd2"`` or
    ``"winograd4"`` (the last two only for 3x3 kernels at stride 1); see the module
    docstring.  It is recorded in :meth:`get_config`; :attr:`resolved_algorithm` says
    what ``"auto"`` chose once the layer is built.

    >>> layer = Conv2D(16, 3, padding="same", algorithm="winograd4")
    >>> layer.build((28, 28, 32), np.random.default_rng(0)); layer.get_config()["algorithm"]
    'winograd4'
    """

    _default_name = "conv2d"

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        activation: str | None = None,
        use_bias: bool = True,
        *,
        algorithm: str = "auto",
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__(name=name, input_shape=input_shape)
        self.filters = _check_positive_int("filters", filters)
        self.kernel_size = _check_pair("kernel_size", kernel_size)
        self.strides = _check_pair("strides", strides)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(
                f"Argument `padding` must be 'valid' or 'same'. Received: padding={padding!r}"
            )
        self.padding = padding.lower()
        self.activation = _check_activation(activation)
        if not isinstance(use_bias, (bool, np.bool_)):
            raise TypeError(f"Argument `use_bias` must be a bool. Received: use_bias={use_bias!r}")
        self.use_bias = bool(use_bias)
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise ValueError(
                f"Argument `algorithm` must be one of {list(ALGORITHMS)}. "
                f"Received: algorithm={algorithm!r}"
            )
        if algorithm.startswith("winograd") and not self._winograd_applies():
            raise ValueError(
                f"Argument `algorithm`={algorithm!r} needs a 3x3 kernel at stride 1. "
                f"Received: kernel_size={self.kernel_size}, strides={self.strides}"
            )
        self.algorithm = algorithm
        self.resolved_algorithm: str | None = None

    @property
    def sub_batch(self) -> int | None:
        """2 for im2col with 8 or more input channels: its patch matrix for 2 samples of
        the lesson's conv2 (1,568 x 289 floats) stays nearer the core's 1 MB L2 cache
        than for 4 (1.2-1.3x faster per sample, CPU time, alternating runs); else None."""
        if self.resolved_algorithm == "im2col" and self.input_shape and self.input_shape[-1] >= 8:
            return 2
        return None

    def _winograd_applies(self) -> bool:
        return self.kernel_size == (3, 3) and self.strides == (1, 1)

    def _geometry(self, h: int, w: int) -> tuple[int, int, int, int, int, int]:
        """``(Ho, Wo, pad_top, pad_bottom, pad_left, pad_right)`` for an ``h x w`` input."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if self.padding == "same":
            ho, wo = -(-h // sh), -(-w // sw)
            ph = max((ho - 1) * sh + kh - h, 0)
            pw = max((wo - 1) * sw + kw - w, 0)
            return ho, wo, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        return ho, wo, 0, 0, 0, 0

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3:
            raise ValueError(
                f"Layer {self.name!r} (Conv2D) expects inputs of shape (height, width, "
                f"channels) per sample. Received: input_shape={input_shape}"
            )
        h, w, _ = input_shape
        ho, wo = self._geometry(h, w)[:2]
        if ho < 1 or wo < 1:
            raise ValueError(
                f"Layer {self.name!r}: kernel_size={self.kernel_size} does not fit the input "
                f"with padding={self.padding!r}. Received: input_shape={input_shape}"
            )
        return (ho, wo, self.filters)

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        super().build(input_shape, rng)
        kh, kw = self.kernel_size
        self.kernel = glorot_uniform((kh, kw, input_shape[-1], self.filters), rng)
        self._weights = [self.kernel]
        self._weight_names = ["kernel"]
        if self.use_bias:
            self.bias = np.zeros((self.filters,), np.float32)
            self._weights.append(self.bias)
            self._weight_names.append("bias")
        if self.algorithm != "auto":
            self.resolved_algorithm = self.algorithm
        else:
            auto = _auto_algorithm()
            winograd_ok = self._winograd_applies() and input_shape[-1] >= WINOGRAD_MIN_CHANNELS
            self.resolved_algorithm = auto if winograd_ok else "im2col"

    # -- plans: buffers and passes per sub-batch size -------------------------------------
    def _tile(self) -> int:
        return {"winograd2": 2, "winograd4": 4}.get(self.resolved_algorithm or "", 0)

    def _forward_dtype(self) -> Any:
        """Winograd: the precision of the forward pass (see :mod:`refimpl.winograd`,
        "Accuracy"): float64 for ``"winograd4"``, whose float32 rounding noise leaks into
        near-zero outputs and flips their ReLU; float32 for ``"winograd2"``."""
        return np.float64 if self._tile() == 4 else np.float32

    def _plan(self, ws: Workspace, n: int) -> Any:
        plan = ws.cache.get(("plan", n))
        if plan is None:
            assert self.input_shape is not None
            h, w, c = self.input_shape
            ho, wo, pt, pb, pl, pr = self._geometry(h, w)
            m = self._tile()
            if m:
                plan = WinogradPlan(
                    m, ho, wo, n, c, self.filters, (pt, pl, h, w),
                    forward_dtype=self._forward_dtype(),
                )  # fmt: skip
            else:
                plan = Im2colPlan(
                    h, w, n, c, self.filters, self.kernel_size, self.strides,
                    (pt, pb, pl, pr), self.use_bias,
                )  # fmt: skip
            ws.cache[("plan", n)] = plan
        return plan

    def _input_gradient_plan(self, ws: Workspace, n: int) -> WinogradPlan:
        """Winograd: the plan correlating the padded ``dL/dz`` with the flipped kernel;
        its :attr:`~WinogradPlan.input` is where ``dL/dz`` goes."""
        plan = ws.cache.get(("dplan", n))
        if plan is None:
            assert self.input_shape is not None
            h, w, c = self.input_shape
            ho, wo, pt, _, pl, _ = self._geometry(h, w)
            plan = WinogradPlan(self._tile(), h, w, n, self.filters, c, (2 - pt, 2 - pl, ho, wo))
            ws.cache[("dplan", n)] = plan
        return plan

    def _kernel_matrix(self) -> np.ndarray:
        """im2col: the kernel as ``(kh*kw*C [+ 1], F)``, the bias as its last row."""
        k = self.kernel.reshape(-1, self.filters)
        return np.concatenate([k, self.bias[None]]) if self.use_bias else k

    def input_view(self, ws: Workspace, n: int) -> np.ndarray | None:
        return self._plan(ws, n).input

    def _winograd_kernel(self, ws: Workspace | None, flipped: bool) -> np.ndarray:
        """``U`` of the kernel (or of the flipped kernel for the input gradient), into a
        buffer of ``ws`` if given."""
        m, kernel = self._tile(), self.kernel
        if flipped:
            kernel = flipped_kernel(kernel)
        shape = ((m + 2) ** 2, *kernel.shape[2:])
        dtype = np.float32 if flipped else self._forward_dtype()
        if ws is None:
            return transform_kernel(m, kernel, dtype=dtype)
        return transform_kernel(
            m, kernel, ws.buffer("u_flipped" if flipped else "u", shape, dtype=dtype)
        )

    def begin_batch(self, ws: Workspace, rows: int, train: bool) -> None:
        if self._tile():
            ws.cache["u"] = self._winograd_kernel(ws, flipped=False)
            if train:
                ws.cache["u_flipped"] = self._winograd_kernel(ws, flipped=True)
                shape = ((self._tile() + 2) ** 2, *self.kernel.shape[2:])
                ws.cache["s"] = ws.buffer("s", shape, zero=True)
        else:
            kmat = ws.buffer("kmat", (self.kernel[..., 0].size + self.use_bias, self.filters))
            np.copyto(kmat, self._kernel_matrix())
            ws.cache["kmat"] = kmat

    def end_batch(self, ws: Workspace, grads: list[np.ndarray] | None) -> None:
        s = ws.cache.pop("s", None)
        if s is not None and grads is not None:
            grads[0] += kernel_gradient(self._tile(), s).astype(np.float32)
        for key in ("u", "u_flipped", "kmat"):
            ws.cache.pop(key, None)

    def forward(
        self, x: np.ndarray, ws: Workspace, logits: bool = False, out: np.ndarray | None = None
    ) -> np.ndarray:
        n = x.shape[2]
        plan = self._plan(ws, n)
        if self._tile():
            u = ws.cache.get("u")
            if u is None:
                u = self._winograd_kernel(None, flipped=False)
            bias = self.bias if self.use_bias else None
            whole_tiles = plan.out_h % plan.m == 0 and plan.out_w % plan.m == 0
            z = plan.correlate(x, u, bias, out if whole_tiles else None)
            if out is not None and not whole_tiles:
                np.copyto(out, z)
                z = out
        else:
            kmat = ws.cache.get("kmat")
            z = plan.correlate(x, self._kernel_matrix() if kmat is None else kmat, out)
        ws.cache["n"] = n
        return z if logits else self._activate(z, ws)

    def backward(
        self,
        dy: np.ndarray,
        ws: Workspace,
        grads: list[np.ndarray],
        need_dx: bool = True,
        logits: bool = False,
    ) -> np.ndarray | None:
        n = ws.cache["n"]
        plan = self._plan(ws, n)
        if self._tile():
            dplan = self._input_gradient_plan(ws, n)
            self._pre_activation_gradient(dy, ws, dplan.input, logits)
            s = ws.cache.get("s")
            deferred = s is not None
            if s is None:
                s = np.zeros((plan.alpha**2, *self.kernel.shape[2:]), np.float32)
            top, left = dplan.input_region[:2]
            plan.accumulate_kernel_gradient(
                dplan.padded, top, left, s, grads[1] if self.use_bias else None
            )
            if not deferred:
                grads[0] += kernel_gradient(plan.m, s).astype(np.float32)
            if not need_dx:
                return None
            u = ws.cache.get("u_flipped")
            if u is None:
                u = self._winograd_kernel(None, flipped=True)
            return dplan.correlate(None, u)
        dz = self._pre_activation_gradient(dy, ws, ws.buffer("dz", plan.out.shape), logits)
        dk = plan.kernel_gradient(dz)
        grads[0] += dk[: plan.k].reshape(grads[0].shape)
        if self.use_bias:
            grads[1] += dk[plan.k]
        return plan.input_gradient(dz, self.kernel) if need_dx else None

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "algorithm": self.algorithm,
        }


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``.

    Shapes: input ``(n, d)``, kernel ``(d, units)``, bias ``(units,)``, output
    ``(n, units)``.  Parameters: ``d * units + units`` (the lesson's: 125,450).
    Gradients: ``dL/dkernel = x^T @ dL/dz``, ``dL/dbias = sum_b dL/dz``,
    ``dL/dx = dL/dz @ kernel^T``.

    Two performance tricks for the trainer's sub-batches of a few samples (the lesson's
    kernel is ``12544 x 10``: long and thin), both set up by :meth:`begin_batch`:

    * the products read a contiguous copy of ``kernel^T`` (``(units, d)``), made once
      per batch: BLAS runs ``dz @ kernel^T`` 5x and ``x @ kernel`` 2.5x faster from it
      than from the ``(d, 10)`` kernel itself (measured at 4 rows);
    * the weight gradient is *deferred*: ``x^T @ dz`` over 4 rows writes all ``d *
      units`` outputs for 4 multiply-adds each, so backward only stores the sub-batch's
      ``x`` and ``dz`` rows and :meth:`end_batch` does one product over all of them.
    """

    _default_name = "dense"

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        *,
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__(name=name, input_shape=input_shape)
        self.units = _check_positive_int("units", units)
        self.activation = _check_activation(activation)
        if not isinstance(use_bias, (bool, np.bool_)):
            raise TypeError(f"Argument `use_bias` must be a bool. Received: use_bias={use_bias!r}")
        self.use_bias = bool(use_bias)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 1:
            raise ValueError(
                f"Layer {self.name!r} (Dense) expects flat inputs of shape (features,) per "
                f"sample; add a Flatten layer. Received: input_shape={input_shape}"
            )
        return (self.units,)

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        super().build(input_shape, rng)
        self.kernel = glorot_uniform((input_shape[-1], self.units), rng)
        self._weights = [self.kernel]
        self._weight_names = ["kernel"]
        if self.use_bias:
            self.bias = np.zeros((self.units,), np.float32)
            self._weights.append(self.bias)
            self._weight_names.append("bias")

    def begin_batch(self, ws: Workspace, rows: int, train: bool) -> None:
        kernel_t = ws.buffer("kernel_t", (self.units, self.kernel.shape[0]))
        np.copyto(kernel_t, self.kernel.T)
        ws.cache["kernel_t"] = kernel_t
        if train:  # room for the batch's rows of x and dL/dz; "filled" counts them
            ws.cache["rows_x"] = ws.buffer("rows_x", (rows, self.kernel.shape[0]))
            ws.cache["rows_dz"] = ws.buffer("rows_dz", (rows, self.units))
            ws.cache["filled"] = 0

    def end_batch(self, ws: Workspace, grads: list[np.ndarray] | None) -> None:
        ws.cache.pop("kernel_t", None)
        if "filled" not in ws.cache:
            return
        r = ws.cache.pop("filled")
        xs, dzs = ws.cache.pop("rows_x")[:r], ws.cache.pop("rows_dz")[:r]
        if grads is not None and r:
            self._weight_gradients(xs, dzs, ws, grads)

    def _weight_gradients(
        self, x: np.ndarray, dz: np.ndarray, ws: Workspace, grads: list[np.ndarray]
    ) -> None:
        """``grads += (x^T @ dz, sum_b dz)`` for rows ``x`` ``(n, d)``, ``dz`` ``(n, units)``."""
        dk = ws.buffer("dk", self.kernel.shape)
        np.matmul(x.T, dz, out=dk)
        grads[0] += dk
        if self.use_bias:
            grads[1] += _sum_rows(dz, ws)

    def forward(
        self, x: np.ndarray, ws: Workspace, logits: bool = False, out: np.ndarray | None = None
    ) -> np.ndarray:
        z = ws.buffer("z", (x.shape[0], self.units)) if out is None else out
        kernel_t = ws.cache.get("kernel_t")
        np.matmul(x, self.kernel if kernel_t is None else kernel_t.T, out=z)
        if self.use_bias:
            z += self.bias
        ws.cache["x"] = x
        return z if logits else self._activate(z, ws)

    def backward(
        self,
        dy: np.ndarray,
        ws: Workspace,
        grads: list[np.ndarray],
        need_dx: bool = True,
        logits: bool = False,
    ) -> np.ndarray | None:
        x = ws.cache["x"]
        if "filled" in ws.cache:  # deferred to end_batch: keep this sub-batch's rows
            r, n = ws.cache["filled"], x.shape[0]
            np.copyto(ws.cache["rows_x"][r : r + n], x)
            dz = self._pre_activation_gradient(dy, ws, ws.cache["rows_dz"][r : r + n], logits)
            ws.cache["filled"] = r + n
        else:
            dz = self._pre_activation_gradient(dy, ws, ws.buffer("dz", dy.shape), logits)
            self._weight_gradients(x, dz, ws, grads)
        if not need_dx:
            return None
        dx = ws.buffer("dx", x.shape)
        kernel_t = ws.cache.get("kernel_t")
        np.matmul(dz, self.kernel.T if kernel_t is None else kernel_t, out=dx)
        return dx

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
        }


class Flatten(Layer):
    """Reshape a batch to ``(n, d1*d2*...)`` in Keras's C order of each sample (NHWC).

    In the trainer's layout the input is ``(d1, ..., n, c)``: the forward pass copies it
    to ``(n, d1*...*c)`` and the backward pass ``dL/dy`` back, moving each sample's ``c``
    contiguous floats as one item (a ``void`` dtype of ``c * 4`` bytes: 2.4x faster
    than a float-by-float transpose for ``c = 16``).  A contiguous gradient costs this
    copy but makes the next layer's ReLU mask twice as fast as on a transposed view.
    """

    _default_name = "flatten"

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    @staticmethod
    def _transposed_copy(src: np.ndarray, dst: np.ndarray) -> None:
        """``dst[...] = src`` moving the last axis as one item when both allow it."""
        if src.strides[-1] == src.itemsize == dst.itemsize and dst.flags.c_contiguous:
            item = np.dtype((np.void, src.shape[-1] * src.itemsize))
            np.copyto(dst.view(item)[..., 0], src.view(item)[..., 0])
        else:
            np.copyto(dst, src)

    def forward(
        self, x: np.ndarray, ws: Workspace, logits: bool = False, out: np.ndarray | None = None
    ) -> np.ndarray:
        ws.cache["x_shape"] = x.shape
        if x.ndim == 2:
            if out is None:
                return x
            np.copyto(out, x)
            return out
        n = x.shape[-2]
        result = ws.buffer("y", (n, x.size // n), dtype=x.dtype) if out is None else out
        keras = to_keras_layout(x)
        self._transposed_copy(keras, result.reshape(keras.shape))
        return result

    def backward(
        self,
        dy: np.ndarray,
        ws: Workspace,
        grads: list[np.ndarray],
        need_dx: bool = True,
        logits: bool = False,
    ) -> np.ndarray | None:
        if not need_dx:
            return None
        shape = ws.cache["x_shape"]
        if len(shape) == 2:
            return dy
        dx = ws.buffer("dx", shape, dtype=dy.dtype)
        keras_shape = (shape[-2], *shape[:-2], shape[-1])
        self._transposed_copy(to_trainer_layout(dy.reshape(keras_shape)), dx)
        return dx
