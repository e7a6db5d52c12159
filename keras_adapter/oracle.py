"""The learning rate Keras applies, read from real training: the oracle of refimpl's modes.

A schedule's value when called by hand is not what ``model.fit`` applies: the train
step is compiled (a TensorFlow graph, or XLA with ``jit_compile=True``) and the
compiler rewrites the schedule's arithmetic.  These functions *observe* the rate:

- :func:`training_rates` runs real ``model.fit`` steps and reads back the rate each
  step applied to the weights.  The model is one ``Embedding(n, 1)`` table of zeros per
  schedule, looked up at the step's index, with loss ``sum(table[k])``: its gradient is
  exactly 1 on row ``k`` and 0 elsewhere, so SGD (no momentum) leaves row ``k`` at
  exactly ``0 - lr_k * 1``: ``-lr_k``, the float32 rate of update ``k``.  Each table has
  its own ``keras.optimizers.SGD`` holding its schedule, applied by Keras's own
  ``apply_gradients`` in the train step, so many schedules train side by side in one
  compiled ``fit`` (``steps_per_execution`` runs the whole horizon in one call).
- :func:`compiled_rates` evaluates the schedules at the optimizer's ``iterations``, as
  the train step does, at each of an arbitrary list of steps, in a compiled function
  (graph mode: one ``tf.function`` looping over the steps; XLA: one compiled call per
  schedule and step).  It is faster and reaches any step (``2**24`` and beyond) without training up
  to it; it computes what the train step computes -- shown by the tests, which compare
  it with :func:`training_rates`.

Both take Keras schedules (the built-ins, the ``keras_adapter`` classes, your own) and
return float32 arrays of shape ``(len(schedules), len(steps))``.

>>> import keras, numpy as np
>>> from keras_adapter.oracle import compiled_rates
>>> s = keras.optimizers.schedules.ExponentialDecay(0.1, 61, 0.5, staircase=True)
>>> compiled_rates([s], [60, 61, 122], mode="graph")[0]  # the stair moves one step late
array([0.1 , 0.1 , 0.05], dtype=float32)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

__all__ = ["MODES", "compiled_rates", "training_rates"]

#: How Keras runs the train step: ``"graph"`` (the default ``compile()`` on a CPU) or
#: ``"xla"`` (``jit_compile=True``).  ``"eager"``: ``run_eagerly=True``.
MODES = ("eager", "graph", "xla")


def _check(schedules: Sequence[Any], mode: str) -> list[Any]:
    if mode not in MODES:
        raise ValueError(f"Argument `mode` must be one of {MODES}. Received: mode={mode!r}")
    listed = list(schedules)
    if not listed:
        raise ValueError("Argument `schedules` must not be empty.")
    return listed


class SideBySide(keras.Model):
    """One zero Embedding table per optimizer; each optimizer updates its own table."""

    def __init__(self, rows: int, optimizers: list[Any]) -> None:
        super().__init__()
        self.tables = [
            keras.layers.Embedding(rows, 1, embeddings_initializer="zeros") for _ in optimizers
        ]
        self.optimizers = optimizers

    def call(self, x: Any) -> Any:
        return tf.concat([table(x)[:, :, 0] for table in self.tables], axis=1)

    def train_step(self, data: Any) -> dict[str, Any]:
        x, _ = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(self(x, training=True))
        weights = [table.embeddings for table in self.tables]
        for optimizer, gradient, weight in zip(
            self.optimizers, tape.gradient(loss, weights), weights, strict=True
        ):
            optimizer.apply_gradients([(gradient, weight)])
        return {"loss": loss}


def training_rates(
    schedules: Sequence[Any], steps: int, *, mode: str = "graph", start: int = 0
) -> np.ndarray:
    """The float32 rate each of ``schedules`` applied at the steps ``start, start + 1,
    ..., start + steps - 1`` of real ``model.fit`` training in ``mode``.

    The optimizers' ``iterations`` start at ``start`` (as after a resumed run), and the
    whole horizon runs in one compiled call (``steps_per_execution=steps``).
    """
    listed = _check(schedules, mode)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Argument `steps` must be a positive int. Received: steps={steps!r}")
    keras.utils.set_random_seed(0)
    optimizers = [keras.optimizers.SGD(learning_rate=s) for s in listed]
    model = SideBySide(steps, optimizers)
    rows = np.arange(steps, dtype=np.int32).reshape(-1, 1)
    model(rows[:1])
    for optimizer, table in zip(optimizers, model.tables, strict=True):
        optimizer.build([table.embeddings])
        optimizer.iterations.assign(start)
    model.compile(
        optimizer=optimizers[0],
        jit_compile=mode == "xla",
        run_eagerly=mode == "eager",
        steps_per_execution=1 if mode == "eager" else steps,
    )
    model.fit(rows, np.zeros((steps, 1), np.float32), batch_size=1, shuffle=False, verbose=0)
    for optimizer in optimizers:
        if int(optimizer.iterations.numpy()) != start + steps:  # pragma: no cover - a Keras change
            raise RuntimeError("the optimizers did not run one update per step")
    return np.stack([-table.embeddings.numpy()[:, 0] for table in model.tables])


def compiled_rates(schedules: Sequence[Any], steps: Any, *, mode: str = "graph") -> np.ndarray:
    """The float32 rate each of ``schedules`` gives at each of ``steps`` (any int64
    steps) when the optimizer evaluates it inside a compiled function in ``mode``.

    Graph mode: one ``tf.function`` loops over the steps; it sets an int64
    ``iterations`` variable to the step and casts ``schedule(iterations)`` to float32, as
    ``SGD.update_step`` does.  XLA: one ``jit_compile`` function per schedule reads the
    variable and returns the rate, called once per step -- compiled in a loop, or
    together with other schedules, the schedule is optimized differently by LLVM than
    in the train step (measured: the past-the-end arm of ``PolynomialDecay`` is not
    split off there).  Eager: the schedules called on a scalar int64 tensor.
    """
    listed = _check(schedules, mode)
    at = np.asarray(steps, dtype=np.int64).reshape(-1)
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    if mode == "graph":

        def loop(at: Any) -> Any:
            arrays = [tf.TensorArray(tf.float32, size=tf.size(at)) for _ in listed]
            for i in tf.range(tf.size(at)):
                counter.assign(at[i])
                arrays = [
                    a.write(i, tf.cast(schedule(counter), tf.float32))
                    for a, schedule in zip(arrays, listed, strict=True)
                ]
            return tf.stack([a.stack() for a in arrays])

        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")  # each call traces its own loop: no "retracing" warning
        try:
            return np.asarray(tf.function(loop)(tf.constant(at)), dtype=np.float32)
        finally:
            logger.setLevel(level)

    def rate_of(schedule: Any) -> Any:
        def rate() -> Any:
            return tf.cast(schedule(counter), tf.float32)

        return tf.function(rate, jit_compile=True) if mode == "xla" else rate

    rates = [rate_of(schedule) for schedule in listed]
    out = np.empty((len(listed), at.size), np.float32)
    for j, k in enumerate(at):
        counter.assign(int(k))
        out[:, j] = [np.float32(rate()) for rate in rates]
    return out
