"""Layers of the lesson's CNN -- ``Conv2D``, ``Dense``, ``Flatten`` -- in NumPy, float32.

Each layer keeps its forward and backward pass side by side.  Data is NHWC
(``(batch, height, width, channels)``), convolution kernels are HWIO
(``(kernel_h, kernel_w, in_channels, filters)``), dense kernels ``(in, out)``: Keras's
layouts, so ``get_weights``/``set_weights`` copy weights both ways between a Keras model
and ours.  Kernels start Glorot-uniform, biases zero, drawn from the generator that
:func:`refimpl.utils.set_random_seed` seeds.

Forward and backward are whole-(sub-)batch array operations: a convolution is one
``im2col`` copy (a strided view of a zero-padded input buffer) and one BLAS matrix
product; its input gradient (stride 1) is the "full" convolution of the output gradient
with the flipped kernel, again one ``im2col`` and one product.  The only Python loops
run over the ``kernel_h * kernel_w`` kernel offsets of strided convolutions' gradient.
Buffers live in a per-thread :class:`Workspace` and are reused from batch to batch.

Notation for a convolution with input ``x`` of shape ``(n, H, W, C)``, kernel ``K`` of
shape ``(kh, kw, C, F)``, strides ``(sh, sw)`` and top/left padding ``(pt, pl)``::

    z[b, i, j, f] = bias[f] + sum_{u, v, c} xpad[b, i*sh + u, j*sw + v, c] * K[u, v, c, f]
    y = activation(z)

and the gradients, given ``dL/dz``::

    dL/dK[u, v, c, f] = sum_{b, i, j} xpad[b, i*sh + u, j*sw + v, c] * dL/dz[b, i, j, f]
    dL/dbias[f]       = sum_{b, i, j} dL/dz[b, i, j, f]
    dL/dxpad[b, p, q, c] = sum_{u, v, f} dL/dz[b, (p-u)/sh, (q-v)/sw, f] * K[u, v, c, f]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from refimpl.utils import get_rng

__all__ = [
    "Conv2D",
    "Dense",
    "Flatten",
    "Layer",
    "Workspace",
    "glorot_uniform",
    "relu_backward",
    "relu_forward",
    "softmax",
    "softmax_backward",
]

_ACTIVATIONS = ("linear", "relu", "softmax")
_NAME_COUNTS: dict[str, int] = {}


def _unique_name(base: str) -> str:
    """Keras-style automatic names: ``conv2d``, ``conv2d_1``, ``conv2d_2``, ..."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def _reset_names() -> None:
    """Restart automatic layer names (what ``keras.backend.clear_session`` does)."""
    _NAME_COUNTS.clear()


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


def relu_forward(z: np.ndarray) -> np.ndarray:
    """``y = max(z, 0)`` elementwise, in place: returns ``z`` itself (any shape).

    >>> relu_forward(np.array([-1.0, 0.0, 2.0], np.float32))
    array([0., 0., 2.], dtype=float32)
    """
    return np.maximum(z, 0, out=z)


def relu_backward(dy: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``dL/dz = dL/dy * [y > 0]`` (ReLU's derivative at 0 is 0, as in TensorFlow), in place.

    ``dy`` and ``y = relu_forward(z)`` have the same (any) shape; ``dy`` is overwritten
    and returned.  ``mask`` is an optional reusable bool buffer of that shape (a multiply
    by a bool mask is ~10x faster than ``np.copyto(..., where=...)``).

    >>> relu_backward(np.array([5.0, 5.0], np.float32), np.array([0.0, 2.0], np.float32))
    array([0., 5.], dtype=float32)
    """
    mask = np.greater(y, 0, out=mask)
    return np.multiply(dy, mask, out=dy)


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
    ones = ws.cache.get("ones")
    if ones is None or ones.shape[1] != a.shape[0]:
        ones = np.ones((1, a.shape[0]), np.float32)
        ws.cache["ones"] = ones
    return (ones @ a)[0]


class Workspace:
    """Per-thread, per-layer scratch space: cached activations and reusable buffers.

    ``buffer(key, shape)`` returns the same float32 array on every call with the same
    shape, so the training loop allocates nothing after its first batch.
    """

    __slots__ = ("_buffers", "cache")

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}
        self.cache: dict[str, Any] = {}

    def buffer(
        self, key: str, shape: tuple[int, ...], zero: bool = False, dtype: Any = np.float32
    ) -> np.ndarray:
        """A buffer of ``shape`` (float32 by default); zero-filled at creation (and on
        each call if ``zero``)."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape:
            buf = np.zeros(shape, dtype)
            self._buffers[key] = buf
        elif zero:
            buf.fill(0)
        return buf

    def nbytes(self) -> int:
        """Bytes held in buffers (for the benchmark's memory report)."""
        return sum(b.nbytes for b in self._buffers.values())


class Layer:
    """Base class: a name, weights in Keras's order, forward and backward passes.

    Subclasses implement :meth:`build` (create the weights for a per-sample
    ``input_shape``), :meth:`compute_output_shape`, :meth:`forward` and :meth:`backward`.
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

    # -- computation ----------------------------------------------------------------
    def forward(self, x: np.ndarray, ws: Workspace, logits: bool = False) -> np.ndarray:
        """Output for input ``x`` (batch first); cache what backward needs in ``ws``.

        With ``logits=True`` the activation is skipped and the pre-activation returned.
        The returned array may be a buffer of ``ws``: it is valid until the next forward.
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
        pre-activation if ``logits``); it may be overwritten.
        """
        raise NotImplementedError

    def begin_batch(self, ws: Workspace, rows: int, train: bool) -> None:
        """The trainer is about to run sub-batches of ``rows`` samples in all through
        ``ws`` (one thread's share of a batch), with the weights fixed until
        :meth:`end_batch`.  Layers may prepare per-batch copies of their weights here or
        defer weight-gradient work to :meth:`end_batch`; the default does nothing."""

    def end_batch(self, ws: Workspace, grads: list[np.ndarray]) -> None:
        """Finish what :meth:`begin_batch` deferred (adding to ``grads``); drop the
        per-batch copies so that later direct calls use the live weights."""

    def __call__(self, x: Any) -> np.ndarray:
        """Inference on a batch: ``layer(x)``, ``x`` of shape ``(batch, *input_shape)``.

        On first use the layer is built for ``x.shape[1:]``, drawing its initial weights
        from :func:`refimpl.utils.get_rng` -- the generator ``Sequential`` builds from --
        so after :func:`refimpl.utils.set_random_seed` they are reproducible.  Returns a
        new array of shape ``(batch, *output_shape)``.
        """
        x = np.asarray(x, np.float32)
        if not self.built:
            self.build(x.shape[1:], get_rng())
        return self.forward(x, Workspace()).copy()

    def _apply_activation(self, z: np.ndarray, ws: Workspace) -> np.ndarray:
        if self.activation == "relu":
            relu_forward(z)
        elif self.activation == "softmax":
            z = softmax(z)
        ws.cache["y"] = z
        return z

    def _activation_backward(self, dy: np.ndarray, ws: Workspace) -> np.ndarray:
        if self.activation == "relu":
            y = ws.cache["y"]
            return relu_backward(dy, y, ws.buffer("relu_mask", y.shape, dtype=np.bool_))
        if self.activation == "softmax":
            return softmax_backward(dy, ws.cache["y"])
        return dy

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as in Keras."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Conv2D(Layer):
    """2-D convolution with bias and activation: ``y = activation(conv(x, kernel) + bias)``.

    Shapes: input ``(n, H, W, C)``, kernel ``(kh, kw, C, filters)``, bias ``(filters,)``,
    output ``(n, Ho, Wo, filters)`` with ``Ho = ceil(H / sh)`` for ``"same"`` and
    ``Ho = (H - kh) // sh + 1`` for ``"valid"`` (likewise ``Wo``).  ``"same"`` pads
    ``max((Ho - 1) * sh + kh - H, 0)`` rows, the smaller half on top, as TensorFlow.
    Parameters: ``kh * kw * C * filters + filters`` (the lesson's: 320 and 4,624).
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

    @staticmethod
    def _im2col(
        xp: np.ndarray,
        ho: int,
        wo: int,
        kh: int,
        kw: int,
        sh: int,
        sw: int,
        ws: Workspace,
        key: str,
    ) -> np.ndarray:
        """Patch matrix ``(n*Ho*Wo, kh*kw*C)`` of padded input ``xp`` ``(n, Hp, Wp, C)``.

        Row ``(b, i, j)`` holds ``xp[b, i*sh:i*sh+kh, j*sw:j*sw+kw, :]`` flattened in
        ``(u, v, c)`` order, matching the HWIO kernel reshaped to ``(kh*kw*C, F)``.
        A strided view of ``xp`` is copied once into a reusable buffer of ``ws``.  With
        few channels (``C < 8``) the copy would move runs of only ``C`` floats, so the
        buffer is filled "K-major", ``(kh*kw*C, n*Ho*Wo)``, and its transpose returned
        (BLAS takes either layout at the same speed).
        """
        n, _, _, c = xp.shape
        s0, s1, s2, s3 = xp.strides
        k, m = kh * kw * c, n * ho * wo
        if c < 8:
            view = np.lib.stride_tricks.as_strided(
                xp,
                shape=(kh, kw, c, n, ho, wo),
                strides=(s1, s2, s3, s0, s1 * sh, s2 * sw),
                writeable=False,
            )
            buf = ws.buffer(key + "_kmajor", (k, m))
            np.copyto(buf.reshape(kh, kw, c, n, ho, wo), view)
            return buf.T
        view = np.lib.stride_tricks.as_strided(
            xp,
            shape=(n, ho, wo, kh, kw, c),
            strides=(s0, s1 * sh, s2 * sw, s1, s2, s3),
            writeable=False,
        )
        buf = ws.buffer(key, (m, k))
        np.copyto(buf.reshape(n, ho, wo, kh, kw, c), view)
        return buf

    def forward(self, x: np.ndarray, ws: Workspace, logits: bool = False) -> np.ndarray:
        n, h, w, c = x.shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        ho, wo, pt, pb, pl, pr = self._geometry(h, w)
        if pt or pb or pl or pr:
            # Borders of the buffer are zero from creation and never written.
            xp = ws.buffer("xpad", (n, h + pt + pb, w + pl + pr, c))
            xp[:, pt : pt + h, pl : pl + w, :] = x
        else:
            xp = np.ascontiguousarray(x, dtype=np.float32)
        cols = self._im2col(xp, ho, wo, kh, kw, sh, sw, ws, "cols")
        z = ws.buffer("z", (n * ho * wo, self.filters))
        np.matmul(cols, self.kernel.reshape(kh * kw * c, self.filters), out=z)
        if self.use_bias:
            z += self.bias
        ws.cache["cols"] = cols
        ws.cache["x_shape"] = x.shape
        out = z.reshape(n, ho, wo, self.filters)
        return out if logits else self._apply_activation(out, ws)

    def backward(
        self,
        dy: np.ndarray,
        ws: Workspace,
        grads: list[np.ndarray],
        need_dx: bool = True,
        logits: bool = False,
    ) -> np.ndarray | None:
        dz = dy if logits else self._activation_backward(dy, ws)
        n, h, w, c = ws.cache["x_shape"]
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        ho, wo, pt, pb, pl, pr = self._geometry(h, w)
        f = self.filters
        dz2 = np.ascontiguousarray(dz).reshape(n * ho * wo, f)
        cols = ws.cache["cols"]
        dk = ws.buffer("dk", (kh * kw * c, f))
        np.matmul(cols.T, dz2, out=dk)  # dL/dK = cols^T @ dL/dz
        grads[0] += dk.reshape(grads[0].shape)
        if self.use_bias:
            grads[1] += _sum_rows(dz2, ws)
        if not need_dx:
            return None
        if sh == 1 and sw == 1:
            # dL/dx is the "full" correlation of dL/dz with the kernel flipped in space
            # and transposed (F <-> C): pad dL/dz by (k-1-pad) and reuse im2col.
            qt, qb, ql, qr = kh - 1 - pt, kh - 1 - pb, kw - 1 - pl, kw - 1 - pr
            dzp = ws.buffer("dzpad", (n, ho + qt + qb, wo + ql + qr, f))
            dzp[:, qt : qt + ho, ql : ql + wo, :] = dz.reshape(n, ho, wo, f)
            dcols = self._im2col(dzp, h, w, kh, kw, 1, 1, ws, "dcols")
            kflip = np.ascontiguousarray(self.kernel[::-1, ::-1].transpose(0, 1, 3, 2))
            dx = ws.buffer("dx", (n * h * w, c))
            np.matmul(dcols, kflip.reshape(kh * kw * f, c), out=dx)
            return dx.reshape(n, h, w, c)
        # Strided: scatter-add the patch gradients back (col2im), one slab per offset.
        dcols = ws.buffer("dcols", (n * ho * wo, kh * kw * c))
        np.matmul(dz2, self.kernel.reshape(kh * kw * c, f).T, out=dcols)
        d6 = dcols.reshape(n, ho, wo, kh, kw, c)
        dxp = ws.buffer("dxpad", (n, h + pt + pb, w + pl + pr, c), zero=True)
        for u, v in itertools.product(range(kh), range(kw)):
            dxp[:, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw, :] += d6[
                :, :, :, u, v, :
            ]
        return dxp[:, pt : pt + h, pl : pl + w, :]

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": self.activation,
            "use_bias": self.use_bias,
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

    def end_batch(self, ws: Workspace, grads: list[np.ndarray]) -> None:
        ws.cache.pop("kernel_t", None)
        if "filled" not in ws.cache:
            return
        r = ws.cache.pop("filled")
        xs, dzs = ws.cache.pop("rows_x")[:r], ws.cache.pop("rows_dz")[:r]
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

    def forward(self, x: np.ndarray, ws: Workspace, logits: bool = False) -> np.ndarray:
        z = ws.buffer("z", (x.shape[0], self.units))
        kernel_t = ws.cache.get("kernel_t")
        np.matmul(x, self.kernel if kernel_t is None else kernel_t.T, out=z)
        if self.use_bias:
            z += self.bias
        ws.cache["x"] = x
        return z if logits else self._apply_activation(z, ws)

    def backward(
        self,
        dy: np.ndarray,
        ws: Workspace,
        grads: list[np.ndarray],
        need_dx: bool = True,
        logits: bool = False,
    ) -> np.ndarray | None:
        dz = dy if logits else self._activation_backward(dy, ws)
        x = ws.cache["x"]
        if "filled" in ws.cache:  # deferred to end_batch: keep this sub-batch's rows
            r, n = ws.cache["filled"], x.shape[0]
            ws.cache["rows_x"][r : r + n] = x
            ws.cache["rows_dz"][r : r + n] = dz
            ws.cache["filled"] = r + n
        else:
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
    """Reshape ``(n, d1, d2, ...)`` to ``(n, d1*d2*...)`` in C order (as Keras, NHWC)."""

    _default_name = "flatten"

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def forward(self, x: np.ndarray, ws: Workspace, logits: bool = False) -> np.ndarray:
        ws.cache["x_shape"] = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(
        self,
        dy: np.ndarray,
        ws: Workspace,
        grads: list[np.ndarray],
        need_dx: bool = True,
        logits: bool = False,
    ) -> np.ndarray | None:
        return dy.reshape(ws.cache["x_shape"]) if need_dx else None
