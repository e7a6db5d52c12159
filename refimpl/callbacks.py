"""Training callbacks with Keras 3 semantics (``keras/src/callbacks/*.py``).

The hooks and their order in ``fit``: ``on_train_begin``; per epoch
``on_epoch_begin(epoch)``, per batch ``on_train_batch_begin/end(batch, logs)``
(``logs["loss"]`` is the running epoch mean), ``on_epoch_end(epoch, logs)`` with the
epoch's ``loss``, metrics, ``val_*`` and ``learning_rate``; ``on_train_end``.  A callback
stops training by setting ``self.model.stop_training = True``.

* :class:`LearningRateScheduler` sets ``lr = schedule(epoch, lr)`` at the **beginning**
  of every epoch, epoch 0 included (falls back to ``schedule(epoch)`` on TypeError).
* :class:`ReduceLROnPlateau` multiplies the rate by ``factor`` after ``patience`` epochs
  without an absolute improvement of ``min_delta``, never below ``min_lr``.
* :class:`EarlyStopping` stops after ``patience`` epochs without improvement.
* :class:`TerminateOnNaN` stops (or raises) on a NaN/inf batch loss.

Every constructor argument is checked when the callback is created, not mid-training:
a wrong type raises ``TypeError``, a bad value ``ValueError``, naming the argument and
the value received.  Values Keras 3 accepts stay accepted: any real number (NumPy
scalars, 0-d arrays, a negative or non-integral ``patience``), any object as a flag
(``restore_best_weights``, ``raise_error``: used for their truth), an unknown ``mode``
(warns and falls back to ``"auto"``).  Keras's own check keeps its exception
(``ValueError`` for ``factor >= 1.0``).  Refused although Keras takes them, because they
fail or do nothing only later: a string or None where a number belongs (a comparison
fails mid-training), NaN (every comparison is false), a non-string ``monitor`` (never a
key of the logs), and ``factor < 0`` with ``min_lr < 0`` (a negative learning rate).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]


def _check_number(name: str, value: Any) -> Any:
    """A real number as Keras accepts it (Python or NumPy, a bool, a 0-d array; any
    sign, integral or not: Keras only compares it), returned as given.  Strings and
    None, which fail mid-training in Keras, are a ``TypeError`` here, and NaN, which
    makes every comparison false, a ``ValueError``."""
    array = np.asarray(value) if isinstance(value, np.ndarray) else None
    if not (
        isinstance(value, numbers.Real)
        or (array is not None and array.ndim == 0 and array.dtype.kind in "biuf")
    ):
        raise TypeError(f"Argument `{name}` must be a number. Received: {name}={value!r}")
    if math.isnan(float(value)):
        raise ValueError(f"Argument `{name}` must not be NaN. Received: {name}={value!r}")
    return value


class Callback:
    """Base class; every hook is a no-op.  ``self.model`` is set by ``fit``."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        pass

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        pass


class CallbackList:
    """Calls the same hook on every callback, in order."""

    def __init__(self, callbacks: list[Callback], model: Any, params: dict[str, Any]) -> None:
        self.callbacks = callbacks
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call


class History(Callback):
    """Records every epoch's logs: ``history.history[key]`` is a list, one value per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class LearningRateScheduler(Callback):
    """Set the learning rate at the beginning of each epoch: ``lr = schedule(epoch, lr)``.

    ``schedule(epoch, lr)`` gets the 0-based epoch and the current rate as a Python
    float (the float32 value the optimizer holds) and must return a float.  Epoch 0 is
    included: with ``lambda epoch, lr: lr / 3`` and ``lr = 0.001`` the first epoch trains
    at 0.000333.  The rate in force is logged as ``logs["learning_rate"]``.
    """

    def __init__(self, schedule: Callable[..., Any], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"Argument `schedule` must be callable. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.verbose = _check_number("verbose", verbose)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        try:
            learning_rate = float(optimizer.learning_rate)
            learning_rate = self.schedule(epoch, learning_rate)
        except TypeError:  # the old one-argument API
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate}"
            )
        if not math.isfinite(float(learning_rate)):
            raise ValueError(
                f"The output of the `schedule` function must be finite. Got: {learning_rate} "
                f"at epoch {epoch}"
            )
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class _MonitorCallback(Callback):
    """Improvement test shared by ReduceLROnPlateau and EarlyStopping (Keras's rule)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        baseline: Any = None,
        min_delta: float = 0,
    ) -> None:
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(
                f"Argument `monitor` must be a string (a key of the logs). "
                f"Received: monitor={monitor!r}"
            )
        _check_number("min_delta", min_delta)
        if baseline is not None:
            _check_number("baseline", baseline)
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self._greater: bool | None = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self._greater = False
        elif self.mode == "max":
            self._greater = True
        else:
            metric = self.monitor.removeprefix("val_")
            if metric == "loss" or metric.endswith("crossentropy"):
                self._greater = False
            elif metric in ("accuracy", "acc") or metric.endswith("accuracy"):
                self._greater = True
            else:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "refimpl isn't able to automatically determine whether that metric "
                    "should be maximized or minimized. Pass `mode='max'` in order to monitor "
                    "based on the highest metric value, or pass `mode='min'` in order to use "
                    "the lowest value."
                )
        if not self._greater:
            self.min_delta = -abs(self.min_delta)

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._greater:
            return bool(value - self.min_delta > reference)
        return bool(value - self.min_delta < reference)


class ReduceLROnPlateau(_MonitorCallback):
    """Reduce the learning rate when ``monitor`` has stopped improving (Keras 3 rule).

    Improvement means ``current < best - min_delta`` (min mode; absolute, not relative).
    After ``patience`` epochs without one, if ``lr > float32(min_lr)``:
    ``lr = max(lr * factor, min_lr)``, then ``cooldown`` epochs without counting.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        _check_number("factor", factor)
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        _check_number("min_lr", min_lr)
        if factor < 0 and min_lr < 0:
            raise ValueError(
                "Arguments `factor` and `min_lr` are both negative: the reduced learning rate "
                f"max(lr * factor, min_lr) would be negative. Received: factor={factor!r}, "
                f"min_lr={min_lr!r}"
            )
        self.factor = factor
        self.min_lr = min_lr
        self.patience = _check_number("patience", patience)
        self.verbose = _check_number("verbose", verbose)
        self.cooldown = _check_number("cooldown", cooldown)
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._greater is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new_lr}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class EarlyStopping(_MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if baseline is not None:
            _check_number("baseline", baseline)
        self.patience = _check_number("patience", patience)
        self.verbose = _check_number("verbose", verbose)
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights  # used for its truth, as in Keras
        self.best_weights: list[np.ndarray] | None = None
        self.start_from_epoch = _check_number("start_from_epoch", start_from_epoch)
        self.best_epoch = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._greater is None:
            self._set_monitor_op()
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs)}",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training (or raise ``RuntimeError`` if ``raise_error``) on a NaN/inf loss.

    refimpl's ``fit`` already stops on a non-finite batch loss, before that batch's
    update, and says so once (a ``RuntimeWarning`` naming the epoch and the batch,
    ``batch 3/938``, and ``model.stop_reason``); this callback then adds nothing, so the
    message is not repeated.  Otherwise it prints Keras's line (``Batch 2: Invalid loss,
    terminating training``, batches counted from 0 as Keras's callbacks count them) and
    stops.  With ``raise_error`` it raises ``RuntimeError`` (Keras's message) instead.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error  # used for its truth, as in Keras

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Terminating training immediately."
                )
            if getattr(self.model, "stop_reason", None) is None:
                print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
