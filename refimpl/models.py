"""``Sequential``: a Keras-compatible model with ``compile``/``fit``/``evaluate``/``predict``.

One training step on a batch of ``n`` samples (Keras 3 semantics, measured):

1. forward pass; if the last layer applies ``softmax`` and the loss is a
   cross-entropy, the loss is computed from the logits ``z`` (see :mod:`refimpl.losses`);
2. batch loss ``L = (1/n) sum_b loss_b`` and ``dL/dz = (softmax(z) - y) / n``;
3. backward pass, summing weight gradients over the batch;
4. one optimizer update at ``lr = schedule(iterations)``; ``iterations += 1``.

The epoch's ``loss`` and ``accuracy`` are sample-weighted means over its batches (the
last, partial batch counts by its size).  A non-finite batch loss stops training
*before* that batch's update, with a message saying where.

Speed: each batch is cut into sub-batches of :data:`SUB_BATCH` samples; worker threads
each take every T-th sub-batch, run forward and backward with their own buffers and
gradient accumulators (BLAS limited to one thread meanwhile, see
:mod:`refimpl._threads`), and the accumulators are summed before the update.  The
result equals the whole-batch computation up to float32 summation order.  Around its
sub-batches each worker calls every layer's ``begin_batch``/``end_batch``, which lets a
layer make per-batch copies of its weights and defer weight-gradient products to one per
thread and batch (``Dense`` does both; see :class:`refimpl.layers.Dense`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import numbers
import os
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from refimpl import _threads
from refimpl import callbacks as callbacks_module
from refimpl import losses as losses_module
from refimpl import metrics as metrics_module
from refimpl._atomic import atomic_write_bytes
from refimpl.layers import Layer, Workspace, _unique_name, softmax
from refimpl.optimizers.sgd import SGD
from refimpl.utils import get_rng

__all__ = ["SUB_BATCH", "Sequential"]

#: Samples per sub-batch in the threaded training step.  Small sub-batches keep the
#: im2col buffers (conv2's: 784 x 288 floats = 0.9 MB per sample) near the core's 1 MB L2
#: cache; on a loaded machine, where other processes evict the shared L3, 2 samples
#: beat 4 (34.7 vs 35.9-41.5 s CPU per epoch-equivalent, alternating runs) and 1 or 8
#: lose (37.8-39.5 and 51 s): per-sub-batch Python and BLAS call overheads take over.
SUB_BATCH = 2
_FORMAT_VERSION = 1


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Argument `{name}` must be an integer. Received: {name}={value!r}")
    if value < minimum:
        raise ValueError(f"Argument `{name}` must be >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(
            f"Argument `verbose` must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}"
        )
    return int(verbose)


def _format_logs(logs: dict[str, float]) -> str:
    parts = []
    for k, v in logs.items():
        parts.append(f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}")
    return "".join(parts)


def _format_step_time(seconds: float) -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class _Progbar:
    """Keras-style progress line: live on a terminal (verbose=1), one line per epoch."""

    def __init__(self, target: int, verbose: int) -> None:
        self.target = target
        self.verbose = verbose
        self.start = time.perf_counter()
        self.last = 0.0
        self.dynamic = verbose == 1 and hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        self.width = len(str(target))

    def _line(self, current: int, logs: dict[str, float], final: bool) -> str:
        now = time.perf_counter() - self.start
        per_step = now / max(current, 1)
        count = f"{current:{self.width}d}/{self.target}"
        if self.verbose == 2:
            return f"{count} - {now:.0f}s - {_format_step_time(per_step)}{_format_logs(logs)}"
        filled = int(20 * current / max(self.target, 1))
        bar = "━" * filled + " " * (20 - filled) if not final else "━" * 20
        eta = f"{now:.0f}s" if final else f"ETA {per_step * (self.target - current):.0f}s"
        return f"{count} {bar} {eta} {_format_step_time(per_step)}{_format_logs(logs)}"

    def update(self, current: int, logs: dict[str, float]) -> None:
        if not self.dynamic:
            return
        now = time.perf_counter()
        if now - self.last < 0.1:
            return
        self.last = now
        sys.stdout.write("\r" + self._line(current, logs, False))
        sys.stdout.flush()

    def finish(self, current: int, logs: dict[str, float]) -> None:
        if self.verbose == 0:
            return
        prefix = "\r" if self.dynamic else ""
        sys.stdout.write(prefix + self._line(current, logs, True) + "\n")
        sys.stdout.flush()


class Sequential:
    """A linear stack of layers, as ``keras.Sequential``.

    >>> from refimpl import layers
    >>> model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    >>> model.count_params()
    15
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        self.name = name if name is not None else _unique_name("sequential")
        self._layers: list[Layer] = []
        self.built = False
        self.input_shape: tuple[int, ...] | None = None
        self.optimizer: SGD | None = None
        self.loss: losses_module.Loss | None = None
        self.metrics_names: list[str] = []
        self.compiled = False
        self.stop_training = False
        self.stop_reason: str | None = None
        self.history: callbacks_module.History | None = None
        self._pending_optimizer_state: dict[str, Any] | None = None
        self._num_threads = _threads.default_num_threads()
        self._chunk: int | None = SUB_BATCH
        self._workspaces: list[list[Workspace]] = []
        self._thread_grads: list[list[list[np.ndarray]]] = []
        for layer in layers or []:
            self.add(layer)

    # -- structure --------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def add(self, layer: Layer) -> None:
        """Append a layer; the model is built as soon as the input shape is known."""
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Only refimpl layers can be added to a Sequential model. Received: {layer!r}"
            )
        if self.built:
            previous = self._layers[-1].output_shape
            assert previous is not None
            layer.build(previous, get_rng())
        self._layers.append(layer)
        if not self.built and self._layers[0]._input_shape_arg is not None:
            self.build((None, *self._layers[0]._input_shape_arg))

    def build(self, input_shape: Sequence[Any]) -> None:
        """Create every layer's weights for ``input_shape = (None, *per_sample_shape)``."""
        shape = tuple(int(d) for d in tuple(input_shape)[1:])
        rng = get_rng()
        for layer in self._layers:
            if not layer.built:
                layer.build(shape, rng)
            elif layer.input_shape != shape:
                raise ValueError(
                    f"Layer {layer.name!r} was built for input shape {layer.input_shape}. "
                    f"Received: input_shape={shape}"
                )
            assert layer.output_shape is not None
            shape = layer.output_shape
        self.input_shape = tuple(int(d) for d in tuple(input_shape)[1:])
        self.built = True

    @property
    def output_shape(self) -> tuple[int, ...]:
        shape = self._layers[-1].output_shape
        if shape is None:
            raise ValueError(f"Model {self.name!r} is not built yet.")
        return shape

    def _variables(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.weights]

    def count_params(self) -> int:
        """Total number of weights (the lesson's model: 130,394)."""
        return sum(layer.count_params() for layer in self._layers)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights, layer by layer (Keras's order)."""
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite all weights from a list in :meth:`get_weights`'s order.

        Every array is checked first (count, shapes, a dtype that casts to float32), so
        on ``ValueError``/``TypeError`` no weight has changed.
        """
        checked = self._checked_weights(weights, "Argument `weights`: ", "weights[{}]")
        self._write_weights(checked)

    def _checked_weights(
        self, weights: Any, prefix: str, item: str, source: str | None = None
    ) -> list[np.ndarray]:
        """``weights`` as float32 copies, after checking all of them against the model's
        variables; nothing is written.  Messages start with ``prefix``, name array ``i``
        as ``item.format(i)`` and end with ``Received: <what was found>``, or, given a
        ``source`` (``"Received: filepath=..."``), with ``the file has <it>. <source>``.
        """

        def message(text: str, found: str) -> str:
            if source is None:
                return f"{prefix}{text}. Received: {found}"
            return f"{prefix}{text}; the file has {found}. {source}"

        if isinstance(weights, (str, bytes)) or not isinstance(weights, Iterable):
            raise TypeError(message("must be a list of arrays", type(weights).__name__))
        weights = list(weights)
        slots = [
            (layer, name, var)
            for layer in self._layers
            for name, var in zip(layer._weight_names, layer.weights, strict=True)
        ]
        if len(weights) != len(slots):
            raise ValueError(
                message(
                    f"model {self.name!r} expects {len(slots)} weight arrays",
                    f"{len(weights)} arrays",
                )
            )
        checked = []
        for i, (w, (layer, name, var)) in enumerate(zip(weights, slots, strict=True)):
            where = f"{item.format(i)} (layer {layer.name!r}, weight {name!r})"
            try:
                arr = np.asarray(w)
            except ValueError as exc:  # ragged nested lists
                raise ValueError(message(f"{where} must be an array", str(exc))) from exc
            if arr.dtype == object and all(isinstance(v, numbers.Real) for v in arr.flat):
                arr = arr.astype(np.float64)  # numbers as Python objects, as Keras accepts
            if not np.can_cast(arr.dtype, np.float32, casting="same_kind"):
                raise TypeError(
                    message(f"{where} must hold numbers that cast to float32", f"dtype {arr.dtype}")
                )
            if arr.shape != var.shape:
                raise ValueError(
                    message(f"{where} must have shape {var.shape}", f"shape {arr.shape}")
                )
            checked.append(arr.astype(np.float32, copy=True))
        return checked

    def _write_weights(self, checked: list[np.ndarray]) -> None:
        """Copy :meth:`_checked_weights`'s arrays into the layers (cannot fail)."""
        i = 0
        for layer in self._layers:
            k = len(layer.weights)
            layer.set_weights(checked[i : i + k])
            i += k

    def summary(self, print_fn: Any = None) -> None:
        """Print the layer table with output shapes and parameter counts, as Keras 3."""
        out = print_fn or print
        rows = []
        for layer in self._layers:
            shape = "?" if layer.output_shape is None else str((None, *layer.output_shape))
            rows.append(
                (f"{layer.name} ({type(layer).__name__})", shape, f"{layer.count_params():,}")
            )
        w0, w1, w2 = 33, 24, 15
        total = self.count_params()
        out(f'Model: "{self.name}"')
        out("┏" + "━" * w0 + "┳" + "━" * w1 + "┳" + "━" * w2 + "┓")
        out(f"┃ {'Layer (type)':<{w0 - 2}} ┃ {'Output Shape':<{w1 - 2}} ┃ {'Param #':>{w2 - 2}} ┃")
        out("┡" + "━" * w0 + "╇" + "━" * w1 + "╇" + "━" * w2 + "┩")
        for i, (a, b, c) in enumerate(rows):
            out(f"│ {a:<{w0 - 2}} │ {b:<{w1 - 2}} │ {c:>{w2 - 2}} │")
            if i < len(rows) - 1:
                out("├" + "─" * w0 + "┼" + "─" * w1 + "┼" + "─" * w2 + "┤")
        out("└" + "─" * w0 + "┴" + "─" * w1 + "┴" + "─" * w2 + "┘")
        size = _format_bytes(total * 4)
        out(f" Total params: {total:,} ({size})")
        out(f" Trainable params: {total:,} ({size})")
        out(" Non-trainable params: 0 (0.00 B)")

    # -- compile ----------------------------------------------------------------------
    def compile(self, optimizer: Any = "sgd", loss: Any = None, metrics: Any = None) -> None:
        """Set the optimizer (an :class:`~refimpl.optimizers.SGD` or ``"sgd"``), the loss
        (``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"`` or a
        :class:`~refimpl.losses.Loss`) and ``metrics`` (``["accuracy"]`` or None)."""
        if isinstance(optimizer, str):
            if optimizer.lower() != "sgd":
                raise ValueError(
                    f"Argument `optimizer` must be 'sgd' or a refimpl.optimizers.SGD. "
                    f"Received: optimizer={optimizer!r}"
                )
            optimizer = SGD()
        if not isinstance(optimizer, SGD):
            raise TypeError(
                "Argument `optimizer` must be a refimpl.optimizers.SGD instance. "
                f"Received: optimizer={optimizer!r}"
            )
        if loss is None:
            raise ValueError("Argument `loss` is required. Received: loss=None")
        self.loss = losses_module.get(loss)
        self.metrics_names = metrics_module.resolve(metrics, self.loss.sparse)
        self.optimizer = optimizer
        self.compiled = True
        if self._pending_optimizer_state is not None and self.built:
            optimizer.set_state(self._pending_optimizer_state, self._variables())
            self._pending_optimizer_state = None

    # -- input checks -----------------------------------------------------------------
    def _check_x(self, x: Any, name: str = "x") -> np.ndarray:
        if x is None:
            raise ValueError(f"Argument `{name}` is required. Received: {name}=None")
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Argument `{name}` must be a numeric array. Received: {name} with dtype "
                f"{arr.dtype}"
            )
        if arr.ndim < 2 or arr.shape[0] == 0:
            raise ValueError(
                f"Argument `{name}` must be a non-empty batch of samples (batch first). "
                f"Received: {name}.shape={arr.shape}"
            )
        if not self.built:
            self.build((None, *arr.shape[1:]))
        if arr.shape[1:] != self.input_shape:
            raise ValueError(
                f"Argument `{name}` has shape {arr.shape} but model {self.name!r} expects "
                f"inputs of shape {(None, *(self.input_shape or ()))}. "
                f"Received: {name}.shape={arr.shape}"
            )
        return arr

    def _check_y(self, y: Any, n: int, name: str = "y") -> np.ndarray:
        if y is None:
            raise ValueError(f"Argument `{name}` is required. Received: {name}=None")
        assert self.loss is not None
        arr = np.asarray(y)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Argument `{name}` must be a numeric array. Received: {name} with dtype {arr.dtype}"
            )
        if arr.shape[:1] != (n,):
            raise ValueError(
                f"Arguments `x` and `{name}` must have the same number of samples. "
                f"Received: x has {n} samples, {name}.shape={arr.shape}"
            )
        units = self.output_shape[-1]
        if self.loss.sparse:
            if not (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)):
                raise ValueError(
                    f"Argument `{name}` must hold integer class ids of shape (n,) or (n, 1) for "
                    f"{self.loss.name}. Received: {name}.shape={arr.shape}"
                )
            if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
                raise ValueError(
                    f"Argument `{name}` must hold integer class ids for {self.loss.name}. "
                    f"Received: non-integer values such as {arr[arr != np.round(arr)][0]}"
                )
            if arr.min() < 0 or arr.max() >= units:
                raise ValueError(
                    f"Argument `{name}` holds class ids outside [0, {units}) for an output "
                    f"layer of {units} units. Received: min={arr.min()}, max={arr.max()}"
                )
            return arr.reshape(-1).astype(np.int64)
        if arr.shape[1:] != self.output_shape:
            raise ValueError(
                f"Argument `{name}` must have shape (n, {units}) to match the output layer "
                f"(one-hot targets for {self.loss.name}; use to_categorical, or "
                f"sparse_categorical_crossentropy for class ids). Received: {name}.shape={arr.shape}"
            )
        return arr

    def _assert_compiled(self) -> None:
        if not self.compiled:
            raise ValueError("You must call `compile()` before using the model.")

    # -- the computation --------------------------------------------------------------
    def _fused(self) -> bool:
        """True when the loss is computed from the logits of a final softmax (Keras rule)."""
        return self._layers[-1].activation == "softmax" and self.loss is not None

    def _ensure_thread_state(self, num_threads: int) -> None:
        while len(self._workspaces) < num_threads:
            self._workspaces.append([Workspace() for _ in self._layers])
            self._thread_grads.append(
                [[np.zeros_like(w) for w in layer.weights] for layer in self._layers]
            )

    # Overflow/NaN is detected from the batch loss (training stops with a message), so
    # NumPy's floating-point warnings would only repeat it, once per sub-batch.
    @np.errstate(all="ignore")
    def _run_chunks(
        self,
        tid: int,
        x: np.ndarray,
        y: np.ndarray | None,
        starts: Sequence[int],
        chunk: int,
        scale: np.float32,
        train: bool,
        out: np.ndarray | None = None,
    ) -> tuple[float, float]:
        """Forward (and backward) over the sub-batches starting at ``starts``.

        Returns the sum of per-sample losses and of correct predictions; adds weight
        gradients (already scaled by ``scale = 1/batch``) to this thread's accumulators.
        """
        wss = self._workspaces[tid]
        grads = self._thread_grads[tid]
        if train:
            for g_layer in grads:
                for g_arr in g_layer:
                    g_arr.fill(0)
        rows = sum(min(chunk, x.shape[0] - s) for s in starts)
        for layer, ws in zip(self._layers, wss, strict=True):
            layer.begin_batch(ws, rows, train)
        try:
            return self._run_sub_batches(wss, grads, x, y, starts, chunk, scale, train, out)
        finally:  # deferred weight gradients are added here (see Layer.begin_batch)
            for layer, ws, g_layer in zip(self._layers, wss, grads, strict=True):
                layer.end_batch(ws, g_layer)

    def _run_sub_batches(
        self,
        wss: list[Workspace],
        grads: list[list[np.ndarray]],
        x: np.ndarray,
        y: np.ndarray | None,
        starts: Sequence[int],
        chunk: int,
        scale: np.float32,
        train: bool,
        out: np.ndarray | None,
    ) -> tuple[float, float]:
        last = len(self._layers) - 1
        fused = self._fused()
        loss_sum = 0.0
        correct = 0.0
        for s in starts:
            h = x[s : s + chunk]
            if h.dtype != np.float32:
                h = h.astype(np.float32)
            for i, layer in enumerate(self._layers):
                h = layer.forward(h, wss[i], logits=fused and i == last)
            probs = softmax(h) if fused else h
            if out is not None:
                out[s : s + chunk] = probs
            if y is None or self.loss is None:
                continue
            yb = y[s : s + chunk]
            losses, grad = self.loss.value_and_grad(
                yb, h, float(scale), logits=fused or self.loss.from_logits
            )
            loss_sum += float(losses.sum(dtype=np.float64))
            if self.metrics_names:
                if self.loss.sparse:
                    correct += float(metrics_module.sparse_categorical_accuracy(yb, probs).sum())
                else:
                    correct += float(metrics_module.categorical_accuracy(yb, probs).sum())
            if train:
                back: np.ndarray | None = grad
                for i in range(last, -1, -1):
                    assert back is not None
                    back = self._layers[i].backward(
                        back, wss[i], grads[i], need_dx=i > 0, logits=fused and i == last
                    )
        return loss_sum, correct

    def _parallel(
        self,
        pool: ThreadPoolExecutor | None,
        x: np.ndarray,
        y: np.ndarray | None,
        train: bool,
        out: np.ndarray | None = None,
    ) -> tuple[float, float, int]:
        n = x.shape[0]
        chunk = self._chunk or n
        starts = list(range(0, n, chunk))
        threads = 1 if pool is None else min(self._num_threads, len(starts))
        scale = np.float32(1.0 / n)
        futures = (
            [
                pool.submit(self._run_chunks, t, x, y, starts[t::threads], chunk, scale, train, out)
                for t in range(1, threads)
            ]
            if pool is not None
            else []
        )
        loss_sum, correct = self._run_chunks(0, x, y, starts[0::threads], chunk, scale, train, out)
        for fut in futures:
            ls, c = fut.result()
            loss_sum += ls
            correct += c
        return loss_sum, correct, threads

    def _train_step(
        self, pool: ThreadPoolExecutor | None, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, float]:
        """One batch: gradients, then (if the loss is finite) one optimizer update."""
        assert self.optimizer is not None
        n = x.shape[0]
        loss_sum, correct, threads = self._parallel(pool, x, y, train=True)
        batch_loss = float(np.float32(loss_sum / n))
        if not math.isfinite(batch_loss):
            return batch_loss, correct
        total = self._thread_grads[0]
        for t in range(1, threads):
            for g0_layer, gt_layer in zip(total, self._thread_grads[t], strict=True):
                for g0, gt in zip(g0_layer, gt_layer, strict=True):
                    g0 += gt
        self.optimizer.apply([g for layer in total for g in layer], self._variables())
        return batch_loss, correct

    @contextlib.contextmanager
    def _execution(self) -> Iterator[ThreadPoolExecutor | None]:
        """Worker threads with BLAS at one thread each, or the plain serial path.

        Sub-batches of :data:`SUB_BATCH` only pay with single-threaded BLAS (a
        multi-threaded BLAS spends more time synchronising than computing on them); when
        the BLAS thread count cannot be limited, batches run whole on BLAS's own threads.
        """
        self._ensure_thread_state(self._num_threads)
        with _threads.blas_single_thread() as limited:
            self._chunk = SUB_BATCH if limited else None
            if not limited or self._num_threads <= 1:
                yield None
                return
            with ThreadPoolExecutor(max_workers=self._num_threads - 1) as pool:
                yield pool

    # -- fit / evaluate / predict -----------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Sequence[callbacks_module.Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
    ) -> callbacks_module.History:
        """Train for ``epochs - initial_epoch`` epochs; return the :class:`History`.

        ``history.history`` holds, per epoch: ``loss``, ``accuracy`` (if compiled with
        it), ``val_loss``/``val_accuracy`` (with validation data) and ``learning_rate``
        (the optimizer's rate at the epoch's end).
        """
        self._assert_compiled()
        assert self.optimizer is not None
        assert self.loss is not None
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        batch_size = 32 if batch_size is None else _check_int("batch_size", batch_size, 1)
        epochs = _check_int("epochs", epochs, 0)
        initial_epoch = _check_int("initial_epoch", initial_epoch, 0)
        verbose = _check_verbose(verbose)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"Argument `shuffle` must be a bool. Received: shuffle={shuffle!r}")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, callbacks_module.Callback):
                raise TypeError(
                    f"Argument `callbacks` must hold refimpl.callbacks.Callback instances. "
                    f"Received: {cb!r}"
                )
        if not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
            raise ValueError(
                f"Argument `validation_split` must be in [0, 1). "
                f"Received: validation_split={validation_split!r}"
            )
        val: tuple[np.ndarray, np.ndarray] | None = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(
                    "Argument `validation_data` must be a tuple (x_val, y_val). "
                    f"Received: validation_data of type {type(validation_data).__name__}"
                )
            xv = self._check_x(validation_data[0], "validation_data[0]")
            val = (xv, self._check_y(validation_data[1], xv.shape[0], "validation_data[1]"))
        elif validation_split > 0:
            split = int(x.shape[0] * (1 - validation_split))
            if split == 0 or split == x.shape[0]:
                raise ValueError(
                    f"Argument `validation_split`={validation_split} leaves no training or no "
                    f"validation samples out of {x.shape[0]}."
                )
            val = (x[split:], y[split:])
            x, y = x[:split], y[:split]

        n = x.shape[0]
        steps = -(-n // batch_size)
        self.optimizer.build(self._variables())
        self.optimizer.check_schedule(
            self.optimizer.iterations, steps * max(epochs - initial_epoch, 0)
        )

        history = callbacks_module.History()
        cb_list = callbacks_module.CallbackList(
            [*callbacks, history],
            self,
            {"verbose": verbose, "epochs": epochs, "steps": steps},
        )
        self.stop_training = False
        self.stop_reason = None
        rng = get_rng()
        cb_list.on_train_begin()
        with self._execution() as pool:
            for epoch in range(initial_epoch, epochs):
                cb_list.on_epoch_begin(epoch)
                if verbose and epochs > 1:
                    print(f"Epoch {epoch + 1}/{epochs}")
                order = rng.permutation(n) if shuffle else None
                bar = _Progbar(steps, verbose)
                seen, loss_total, correct_total = 0, 0.0, 0.0
                logs: dict[str, Any] = {}
                for step in range(steps):
                    lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                    if order is None:
                        xb, yb = x[lo:hi], y[lo:hi]
                    else:
                        xb, yb = x[order[lo:hi]], y[order[lo:hi]]
                    cb_list.on_train_batch_begin(step)
                    self._rate_or_raise(epoch, step)
                    batch_loss, correct = self._train_step(pool, xb, yb)
                    m = hi - lo
                    seen += m
                    loss_total += batch_loss * m
                    correct_total += correct
                    logs = self._epoch_logs(loss_total, correct_total, seen)
                    if not math.isfinite(batch_loss):
                        self.stop_reason = (
                            f"Epoch {epoch + 1}, batch {step + 1}/{steps}: the loss is "
                            f"{batch_loss} (learning rate {float(self.optimizer.learning_rate):g}); "
                            "training stopped before this batch's update. Lower the learning rate "
                            "or scale the inputs."
                        )
                        self.stop_training = True
                        cb_list.on_train_batch_end(step, logs)
                        break
                    cb_list.on_train_batch_end(step, logs)
                    bar.update(step + 1, logs)
                    if self.stop_training:
                        break
                if val is not None:
                    val_logs = self._evaluate_arrays(pool, *val)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                logs["learning_rate"] = float(self.optimizer.learning_rate)
                cb_list.on_epoch_end(epoch, logs)
                bar.finish(seen // batch_size + (seen % batch_size > 0), logs)
                if self.stop_reason is not None:
                    print(self.stop_reason, file=sys.stderr)
                    warnings.warn(self.stop_reason, RuntimeWarning, stacklevel=2)
                if self.stop_training:
                    break
        cb_list.on_train_end()
        self.history = history
        return history

    def _rate_or_raise(self, epoch: int, step: int) -> None:
        assert self.optimizer is not None
        try:
            self.optimizer.learning_rate  # noqa: B018 - evaluates and validates the rate
        except ValueError as exc:
            raise ValueError(f"Epoch {epoch + 1}, batch {step + 1}: {exc}") from exc

    def _epoch_logs(self, loss_total: float, correct_total: float, seen: int) -> dict[str, Any]:
        logs: dict[str, Any] = {}
        for name in self.metrics_names:
            logs[name] = correct_total / seen
        logs["loss"] = loss_total / seen
        return logs

    def _evaluate_arrays(
        self, pool: ThreadPoolExecutor | None, x: np.ndarray, y: np.ndarray
    ) -> dict[str, Any]:
        loss_sum, correct, _ = self._parallel_eval(pool, x, y)
        return self._epoch_logs(loss_sum, correct, x.shape[0])

    def _parallel_eval(
        self,
        pool: ThreadPoolExecutor | None,
        x: np.ndarray,
        y: np.ndarray | None,
        out: np.ndarray | None = None,
        batch: int = 256,
    ) -> tuple[float, float, int]:
        loss_sum, correct = 0.0, 0.0
        for lo in range(0, x.shape[0], batch):
            ls, c, _ = self._parallel(
                pool,
                x[lo : lo + batch],
                None if y is None else y[lo : lo + batch],
                train=False,
                out=None if out is None else out[lo : lo + batch],
            )
            loss_sum += ls
            correct += c
        return loss_sum, correct, x.shape[0]

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        return_dict: bool = False,
    ) -> Any:
        """Loss (and metrics) over ``(x, y)``: ``loss`` or ``[loss, accuracy]``.

        The loss is the mean per-sample loss (Keras's sample-weighted batch means).
        """
        self._assert_compiled()
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        if batch_size is not None:
            _check_int("batch_size", batch_size, 1)
        verbose = _check_verbose(verbose)
        start = time.perf_counter()
        with self._execution() as pool:
            logs = self._evaluate_arrays(pool, x, y)
        if verbose:
            steps = -(-x.shape[0] // (batch_size or 32))
            bar = _Progbar(steps, verbose)
            bar.start = start
            bar.finish(steps, logs)
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[k] for k in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto") -> np.ndarray:
        """Outputs of the last layer (probabilities after softmax), float32 ``(n, units)``."""
        x = self._check_x(x)
        if batch_size is not None:
            _check_int("batch_size", batch_size, 1)
        _check_verbose(verbose)
        out = np.empty((x.shape[0], *self.output_shape), np.float32)
        with self._execution() as pool:
            self._parallel_eval(pool, x, None, out=out)
        return out

    def __call__(self, x: Any) -> np.ndarray:
        """``model(x)``: the same as :meth:`predict`, without the checks on verbosity."""
        return self.predict(x)

    # -- checkpoints ------------------------------------------------------------------
    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Write the weights and the optimizer state (``iterations``, momentum buffers,
        constant rate) to ``filepath`` atomically (a temporary file, then ``os.replace``).

        The format is a NumPy ``.npz`` archive whatever the extension (no HDF5).
        """
        path = _check_filepath(filepath)
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"Argument `filepath` exists and overwrite=False: {path!r}")
        if not self.built:
            raise ValueError(f"Model {self.name!r} has no weights yet: build or fit it first.")
        arrays: dict[str, np.ndarray] = {}
        for i, w in enumerate(self.get_weights()):
            arrays[f"weights/{i:03d}"] = w
        meta: dict[str, Any] = {
            "format": "refimpl-weights",
            "version": _FORMAT_VERSION,
            "layers": [
                {
                    "name": layer.name,
                    "class": type(layer).__name__,
                    "shapes": [list(w.shape) for w in layer.weights],
                }
                for layer in self._layers
            ],
            "optimizer": None,
        }
        if self.optimizer is not None:
            state = self.optimizer.get_state()
            meta["optimizer"] = {
                "iterations": state["iterations"],
                "learning_rate": None
                if "learning_rate" not in state
                else float(state["learning_rate"]),
                "momentums": len(state["momentums"]),
            }
            for i, m in enumerate(state["momentums"]):
                arrays[f"momentums/{i:03d}"] = m
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(path, buf.getvalue())

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Restore :meth:`save_weights`'s file: weights, then the optimizer state (now if
        compiled, else at ``compile``), so a resumed schedule continues at its step.

        Everything is read and checked before anything is written: on error the model
        and its optimizer are unchanged.  A file refimpl did not write (another ``.npz``,
        a text file, a truncated archive) raises ``ValueError`` naming ``filepath``;
        pickled data is never loaded.  A missing file raises ``FileNotFoundError``.
        """
        path = _check_filepath(filepath)
        meta, weights, momentums = _read_weights_file(path)
        if not self.built:
            first = tuple(weights[0].shape) if weights else ()
            raise ValueError(
                f"Model {self.name!r} must be built (give input_shape) before load_weights; "
                f"the file's first weight array has shape {first}. Received: filepath={path!r}"
            )
        prefix = f"Argument `filepath` holds weights that do not fit model {self.name!r}: "
        try:
            checked = self._checked_weights(
                weights, prefix, "array 'weights/{:03d}'", f"Received: filepath={path!r}"
            )
        except TypeError as exc:  # a dtype in the file: a bad value of `filepath`
            raise ValueError(str(exc)) from exc
        state: dict[str, Any] | None = None
        opt_meta = meta.get("optimizer")
        if opt_meta is not None:
            raw_state: dict[str, Any] = {
                "iterations": opt_meta.get("iterations"),
                "momentums": momentums,
            }
            if opt_meta.get("learning_rate") is not None:
                raw_state["learning_rate"] = opt_meta["learning_rate"]
            try:
                state = SGD.check_state(raw_state, self._variables())
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"Argument `filepath` holds an optimizer state that does not fit model "
                    f"{self.name!r} ({exc}). Received: filepath={path!r}"
                ) from exc
        # Everything is checked: from here on nothing can fail half-way.
        self._write_weights(checked)
        if state is None:
            return
        if self.optimizer is not None:
            self.optimizer.set_state(state, self._variables())
        else:
            self._pending_optimizer_state = state


def _check_filepath(filepath: Any) -> str:
    try:
        path = os.fspath(filepath)
    except TypeError:
        path = None
    if not isinstance(path, str):
        raise TypeError(
            f"Argument `filepath` must be a str or os.PathLike. Received: filepath={filepath!r}"
        )
    return path


def _read_weights_file(path: str) -> tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]]:
    """The meta dict, weight arrays and momentum arrays of a :meth:`Sequential.save_weights`
    file; ``ValueError`` naming ``filepath`` for anything else (never unpickles)."""

    def not_ours(why: str) -> ValueError:
        return ValueError(
            f"Argument `filepath` is not a refimpl weights file (written by "
            f"Sequential.save_weights): {why}. Received: filepath={path!r}"
        )

    with open(path, "rb") as f:  # OSError (missing file, directory) as is
        raw = f.read()
    unreadable = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except unreadable as exc:
        if not raw:
            why = "the file is empty"
        elif raw.startswith(b"PK"):
            why = f"a damaged or truncated zip archive ({exc})"
        else:
            why = "it is not a NumPy .npz archive"
        raise not_ours(why) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise not_ours("it holds a single NumPy array (.npy), not an .npz archive")
    with archive:
        names = set(archive.files)
        if "meta" not in names:
            raise not_ours("an .npz archive without refimpl's 'meta' entry")
        n_w = sum(1 for n in names if n.startswith("weights/"))
        n_m = sum(1 for n in names if n.startswith("momentums/"))
        expected = (
            {"meta"}
            | {f"weights/{i:03d}" for i in range(n_w)}
            | {f"momentums/{i:03d}" for i in range(n_m)}
        )
        if names != expected:
            raise not_ours(
                f"misnumbered or unexpected entries: missing {sorted(expected - names)}, "
                f"unexpected {sorted(names - expected)}"
            )
        arrays: dict[str, np.ndarray] = {}
        for name in sorted(names):
            try:
                arrays[name] = archive[name]
            except unreadable as exc:
                raise not_ours(f"its entry {name!r} cannot be read ({exc})") from exc
    meta_bytes = arrays.pop("meta")
    try:
        if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
            raise ValueError(f"dtype {meta_bytes.dtype}, shape {meta_bytes.shape}")
        meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    except ValueError as exc:
        raise not_ours(f"its 'meta' entry is not refimpl's JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != "refimpl-weights":
        raise not_ours("its 'meta' entry does not say format 'refimpl-weights'")
    if meta.get("version") != _FORMAT_VERSION:
        raise ValueError(
            f"Argument `filepath` is a refimpl weights file of format version "
            f"{meta.get('version')!r}; this refimpl reads version {_FORMAT_VERSION}. "
            f"Received: filepath={path!r}"
        )
    opt_meta = meta.get("optimizer")
    if opt_meta is not None and (
        not isinstance(opt_meta, dict) or opt_meta.get("momentums") != n_m
    ):
        raise not_ours(f"its optimizer entry {opt_meta!r} does not match its {n_m} momentum arrays")
    weights = [arrays[f"weights/{i:03d}"] for i in range(n_w)]
    momentums = [arrays[f"momentums/{i:03d}"] for i in range(n_m)]
    return meta, weights, momentums


def _format_bytes(n: int) -> str:
    """Keras's ``readable_memory_size``: ``509.35 KB`` for 521,576 bytes."""
    units = ["B", "KB", "MB", "GB", "TB"]
    size = float(n)
    for unit in units:
        if size < 1024 or unit == units[-1]:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TB"  # pragma: no cover
