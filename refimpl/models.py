"""``Sequential``: a Keras-compatible model with ``compile``/``fit``/``evaluate``/``predict``.

One training step on a batch of ``n`` samples (Keras 3 semantics, measured):

1. forward pass; if the last layer applies ``softmax`` and the loss is a
   cross-entropy, the loss is computed from the logits ``z`` (see :mod:`refimpl.losses`);
2. batch loss ``L = (1/n) sum_b loss_b`` and ``dL/dz = (softmax(z) - y) / n``;
3. backward pass, summing weight gradients over the batch;
4. one optimizer update at the step's rate, ``lr = schedule(iterations)``
   (:func:`learning_rate_of_step`); ``iterations += 1``.

The epoch's ``loss`` and ``accuracy`` are sample-weighted means over its batches (the
last, partial batch counts by its size).  A non-finite batch loss stops training
*before* that batch's update, with one ``RuntimeWarning`` saying where.

Steps 1-3 run on the execution engine (:mod:`refimpl.engine`: parts of the batch on
worker processes or threads, the same result bit for bit whatever their number); the
weights files are :mod:`refimpl.weights_file`'s, the progress line
:mod:`refimpl.progbar`'s.
"""

from __future__ import annotations

import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from refimpl import callbacks as callbacks_module
from refimpl import losses as losses_module
from refimpl import metrics as metrics_module
from refimpl import weights_file
from refimpl.engine import EVAL_BATCH, Engine, Execution
from refimpl.layers import Layer, _unique_name
from refimpl.optimizers.sgd import SGD
from refimpl.progbar import Progbar
from refimpl.utils import get_rng

__all__ = ["Sequential", "learning_rate_mode", "learning_rate_of_step"]


def learning_rate_of_step(optimizer: SGD, step: int, mode: str = "graph") -> np.float32:
    """The float32 learning rate the trainer applies in the update at ``step``
    (``iterations`` before the update): the schedule at ``step`` as Keras's train step
    computes it in ``mode`` (see :mod:`refimpl.modes`), or the constant rate.

    The one place the trainer evaluates the rate; ``ValueError`` if it is not finite.

    >>> from refimpl.schedules import ExponentialDecay
    >>> stairs = SGD(ExponentialDecay(0.1, 61, 0.5, staircase=True))
    >>> learning_rate_of_step(stairs, 61), learning_rate_of_step(stairs, 61, mode="eager")
    (np.float32(0.1), np.float32(0.05))
    """
    return optimizer._rate_at(step, mode=mode)


def learning_rate_mode(run_eagerly: Any, jit_compile: Any) -> str:
    """The mode Keras's ``fit`` runs the train step in, from ``compile``'s arguments:
    ``"eager"`` with ``run_eagerly=True``; ``"xla"`` with ``jit_compile=True``;
    ``"graph"`` otherwise (``jit_compile="auto"`` is off on a machine without a GPU,
    ``Trainer._resolve_auto_jit_compile``; refimpl trains on the CPU).

    >>> learning_rate_mode(False, "auto"), learning_rate_mode(False, True)
    ('graph', 'xla')
    """
    if not isinstance(run_eagerly, (bool, np.bool_)):
        raise TypeError(
            f"Argument `run_eagerly` must be a bool. Received: run_eagerly={run_eagerly!r}"
        )
    if jit_compile != "auto" and not isinstance(jit_compile, (bool, np.bool_)):
        raise ValueError(
            f"Argument `jit_compile` must be True, False or 'auto'. Received: jit_compile={jit_compile!r}"
        )
    if run_eagerly:
        if jit_compile is True:
            raise ValueError(
                "You cannot set both `run_eagerly` and `jit_compile` to True (Keras refuses "
                "it too). Received: run_eagerly=True, jit_compile=True"
            )
        return "eager"
    return "xla" if jit_compile is True else "graph"


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


class Sequential:
    """A linear stack of layers, as ``keras.Sequential``.

    Beyond Keras: ``model.execution`` (a :class:`refimpl.engine.Execution`, default None:
    ``REFIMPL_WORKERS``/``REFIMPL_WORKER_KIND``) sets the workers ``fit``, ``evaluate``
    and ``predict`` use; the results do not depend on it.

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
        #: How Keras would run the train step ("graph", "xla" or "eager"): the rate the
        #: trainer applies is the schedule's in that mode (set by :meth:`compile`).
        self.learning_rate_mode = "graph"
        self.stop_training = False
        self.stop_reason: str | None = None
        self.history: callbacks_module.History | None = None
        self._pending_optimizer_state: dict[str, Any] | None = None
        #: Workers for fit/evaluate/predict (:class:`refimpl.engine.Execution`); None:
        #: :meth:`Execution.default` at each call (``REFIMPL_WORKERS``, ...).
        self.execution: Execution | None = None
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
        checked = self._checked_weights(weights, "Argument `weights`: ", "weights[{}]".format)
        self._write_weights(checked)

    def _checked_weights(
        self,
        weights: Any,
        prefix: str,
        item: Callable[[int], str],
        source: str | None = None,
    ) -> list[np.ndarray]:
        """``weights`` as float32 copies, after checking all of them against the model's
        variables; nothing is written.  Messages start with ``prefix``, name array ``i``
        as ``item(i)`` and end with ``Received: <what was found>``, or, given a
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
            where = f"{item(i)} (layer {layer.name!r}, weight {name!r})"
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
    def compile(
        self,
        optimizer: Any = "sgd",
        loss: Any = None,
        metrics: Any = None,
        *,
        run_eagerly: bool = False,
        jit_compile: bool | str = "auto",
    ) -> None:
        """Set the optimizer (an :class:`~refimpl.optimizers.SGD` or ``"sgd"``), the loss
        (``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"`` or a
        :class:`~refimpl.losses.Loss`) and ``metrics`` (``["accuracy"]`` or None).

        ``run_eagerly`` and ``jit_compile`` are Keras's: they decide how Keras would run
        the train step, and so which arithmetic its schedule gets (graph mode by default,
        as Keras on a CPU; :func:`learning_rate_mode`).  The trainer applies the rate of
        that mode at every step (``model.learning_rate_mode``; ``history.params``)."""
        mode = learning_rate_mode(run_eagerly, jit_compile)
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
        self.learning_rate_mode = mode
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
    def _engine(
        self, batch_size: int = 0, targets: np.ndarray | None = None, eval_rows: int = EVAL_BATCH
    ) -> Engine:
        """The execution engine for a call (a context manager: workers live inside it);
        ``eval_rows``: the most samples an evaluation chunk will have."""
        assert self.input_shape is not None
        y_spec = None
        if targets is not None:
            y_dtype = np.int64 if targets.dtype.kind in "iu" else np.float32
            y_spec = (targets.shape[1:], y_dtype)
        return Engine(
            self._layers,
            self.loss,
            self.metrics_names,
            self.execution if self.execution is not None else Execution.default(),
            self.input_shape,
            self.output_shape,
            y_spec,
            batch_size,
            eval_rows,
        )

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
            self.optimizer.iterations,
            steps * max(epochs - initial_epoch, 0),
            self.learning_rate_mode,
        )

        history = callbacks_module.History()
        cb_list = callbacks_module.CallbackList(
            [*callbacks, history],
            self,
            {
                "verbose": verbose,
                "epochs": epochs,
                "steps": steps,
                "learning_rate_mode": self.learning_rate_mode,
            },
        )
        self.stop_training = False
        self.stop_reason = None
        rng = get_rng()
        cb_list.on_train_begin()
        eval_rows = 0 if val is None else min(val[0].shape[0], EVAL_BATCH)
        with self._engine(min(batch_size, n), y, eval_rows) as engine:
            for epoch in range(initial_epoch, epochs):
                cb_list.on_epoch_begin(epoch)
                if verbose and epochs > 1:
                    print(f"Epoch {epoch + 1}/{epochs}")
                order = rng.permutation(n) if shuffle else None
                bar = Progbar(steps, verbose)
                seen, loss_total, correct_total = 0, 0.0, 0.0
                logs: dict[str, Any] = {}
                for step in range(steps):
                    lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                    if order is None:
                        xb, yb = x[lo:hi], y[lo:hi]
                    else:
                        xb, yb = x[order[lo:hi]], y[order[lo:hi]]
                    cb_list.on_train_batch_begin(step)
                    batch_loss, correct = self._train_step(engine, xb, yb, epoch, step)
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
                    bar.update(step + 1, logs)
                    if self.stop_training:
                        break
                if val is not None:
                    val_logs = self._evaluate_arrays(engine, *val)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                logs["learning_rate"] = float(self.optimizer.learning_rate)
                cb_list.on_epoch_end(epoch, logs)
                bar.finish(seen // batch_size + (seen % batch_size > 0), logs)
                if self.stop_reason is not None:
                    warnings.warn(self.stop_reason, RuntimeWarning, stacklevel=2)
                if self.stop_training:
                    break
        cb_list.on_train_end()
        self.history = history
        return history

    def _train_step(
        self, engine: Engine, x: np.ndarray, y: np.ndarray, epoch: int, step: int
    ) -> tuple[float, float]:
        """One batch: the step's rate, gradients, then (if the loss is finite) the update."""
        assert self.optimizer is not None
        try:
            rate = learning_rate_of_step(
                self.optimizer, self.optimizer.iterations, self.learning_rate_mode
            )
        except ValueError as exc:
            raise ValueError(f"Epoch {epoch + 1}, batch {step + 1}: {exc}") from exc
        loss_sum, correct, grads = engine.train_step(x, y)
        batch_loss = float(np.float32(loss_sum / x.shape[0]))
        if math.isfinite(batch_loss):
            self.optimizer.apply(grads, self._variables(), learning_rate=rate)
        return batch_loss, correct

    def _epoch_logs(self, loss_total: float, correct_total: float, seen: int) -> dict[str, Any]:
        logs: dict[str, Any] = {}
        for name in self.metrics_names:
            logs[name] = correct_total / seen
        logs["loss"] = loss_total / seen
        return logs

    def _evaluate_arrays(self, engine: Engine, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        loss_sum, correct = engine.evaluate(x, y)
        return self._epoch_logs(loss_sum, correct, x.shape[0])

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
        with self._engine(0, y, min(x.shape[0], EVAL_BATCH)) as engine:
            logs = self._evaluate_arrays(engine, x, y)
        if verbose:
            steps = -(-x.shape[0] // (batch_size or 32))
            bar = Progbar(steps, verbose)
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
        with self._engine(0, None, min(x.shape[0], EVAL_BATCH)) as engine:
            engine.predict(x, out)
        return out

    def __call__(self, x: Any) -> np.ndarray:
        """``model(x)``: the same as :meth:`predict`, without the checks on verbosity."""
        return self.predict(x)

    # -- checkpoints ------------------------------------------------------------------
    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Write the weights and the optimizer state (``iterations``, momentum buffers,
        constant rate) to ``filepath``, whole or not at all.

        A name ending ``.weights.h5`` gets Keras's HDF5 format (``keras.Model.load_weights``
        reads it; needs h5py, the ``h5`` extra), any other refimpl's ``.npz`` format; see
        :mod:`refimpl.weights_file`.
        """
        weights_file.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Restore :meth:`save_weights`'s file, or a Keras ``.weights.h5``: weights, then
        the optimizer state (now if compiled, else at ``compile``), so a resumed schedule
        continues at its step.

        Everything is read and checked before anything is written: on error the model
        and its optimizer are unchanged.  A file of another kind raises ``ValueError``
        naming ``filepath``; pickled data is never loaded.  A missing file raises
        ``FileNotFoundError``.
        """
        weights_file.load_weights(self, filepath)


def _format_bytes(n: int) -> str:
    """Keras's ``readable_memory_size``: ``509.35 KB`` for 521,576 bytes."""
    units = ["B", "KB", "MB", "GB", "TB"]
    size = float(n)
    for unit in units:
        if size < 1024 or unit == units[-1]:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TB"  # pragma: no cover
