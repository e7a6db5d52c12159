"""The learning rate Keras applies, read from real training: the oracle of refimpl's modes.

A schedule's value when called by hand is not what ``model.fit`` applies: the train
step is compiled (a TensorFlow graph, XLA with ``jit_compile=True``, ``jax.jit`` on the
JAX backend) and the compiler rewrites the schedule's arithmetic.  These functions
*observe* the rate:

- :func:`training_rates` runs real ``model.fit`` steps, on whichever Keras backend this
  process runs (``KERAS_BACKEND``), and reads back the rate each step applied to the
  weights.  The model is one ``Embedding(n, 1)`` table of zeros per schedule, looked up
  at the step's index, with loss ``sum(table[k])``: its gradient is exactly 1 on row
  ``k`` and 0 elsewhere, so SGD (no momentum) leaves row ``k`` at exactly ``0 - lr_k *
  1``: ``-lr_k``, the float32 rate of update ``k``.  Each table has its own
  ``keras.optimizers.SGD`` holding its schedule; Keras's own ``apply`` of each SGD
  updates its table in the train step (:class:`SideBySideSGD` hands each its gradient),
  so many schedules train side by side in one ``fit`` (``steps_per_execution`` runs the
  whole horizon in one compiled call where the backend allows it).
- :func:`compiled_rates` (TensorFlow backend only) evaluates the schedules at the
  optimizer's ``iterations``, as the train step does, at each of an arbitrary list of
  steps, in a compiled function (graph mode: one ``tf.function`` looping over the
  steps; XLA: one compiled call per schedule and step).  It is faster and reaches any
  step (``2**24`` and beyond) without training up to it; it computes what the train
  step computes -- shown by the tests, which compare it with :func:`training_rates`.

Both take Keras schedules (the built-ins, the ``keras_adapter`` classes, your own) and
return float32 arrays of shape ``(len(schedules), len(steps))``.

How each backend runs the train step (``mode``; :data:`BACKEND_MODES`):

======================  ==========================  =====================================
backend                 modes                       default (``compile()`` on a CPU)
======================  ==========================  =====================================
``tensorflow``          eager, graph, xla           graph (``jit_compile="auto"`` is off
                                                    on a CPU-only machine)
``jax``                 eager, xla                  xla (``jax.jit``)
``torch``               eager, compile              eager (``compile``: ``jit_compile=True``,
                                                    i.e. ``torch.compile``)
======================  ==========================  =====================================

On TensorFlow the Embedding's gradient is sparse: each step updates one row.  On JAX
and torch it is dense: every step updates every row, by ``- lr * 0`` for the rows not
looked up.  A rate that is ``inf`` or NaN at some step makes that product NaN, and
every row NaN: there :func:`training_rates` reads finite rates only (it warns when a
table holds a non-finite value); read a non-finite rate with a one-step horizon,
``training_rates([s], 1, start=k)``.

>>> import keras, numpy as np
>>> from keras_adapter.oracle import compiled_rates
>>> s = keras.optimizers.schedules.ExponentialDecay(0.1, 61, 0.5, staircase=True)
>>> compiled_rates([s], [60, 61, 122], mode="graph")[0]  # the stair moves one step late
array([0.1 , 0.1 , 0.05], dtype=float32)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from keras_adapter.backends import backend_name, require_tensorflow

__all__ = [
    "BACKEND_MODES",
    "MODES",
    "SideBySideSGD",
    "compiled_rates",
    "default_mode",
    "training_rates",
]

#: How Keras runs the train step on the TensorFlow backend: ``"graph"`` (the default
#: ``compile()`` on a CPU), ``"xla"`` (``jit_compile=True``), ``"eager"``
#: (``run_eagerly=True``).
MODES = ("eager", "graph", "xla")

#: The modes of each Keras backend (the first compiled one is the CPU default, see
#: :func:`default_mode`).
BACKEND_MODES: Mapping[str, tuple[str, ...]] = {
    "tensorflow": MODES,
    "jax": ("eager", "xla"),
    "torch": ("eager", "compile"),
}

_DEFAULT_MODES = {"tensorflow": "graph", "jax": "xla", "torch": "eager"}

#: ``compile()`` arguments per (backend, mode).
_COMPILE_ARGUMENTS: Mapping[tuple[str, str], dict[str, Any]] = {
    ("tensorflow", "eager"): {"run_eagerly": True, "jit_compile": False},
    ("tensorflow", "graph"): {"run_eagerly": False, "jit_compile": False},
    ("tensorflow", "xla"): {"run_eagerly": False, "jit_compile": True},
    ("jax", "eager"): {"run_eagerly": True, "jit_compile": False},
    ("jax", "xla"): {"run_eagerly": False, "jit_compile": True},
    ("torch", "eager"): {"run_eagerly": False, "jit_compile": False},
    ("torch", "compile"): {"run_eagerly": False, "jit_compile": True},
}


def default_mode() -> str:
    """How ``model.fit`` runs the train step on this process's backend with the default
    ``compile()`` on a CPU: ``"graph"`` (TensorFlow), ``"xla"`` (JAX), ``"eager"``
    (torch)."""
    return _DEFAULT_MODES[backend_name()]


def _check(schedules: Sequence[Any], mode: str | None) -> tuple[list[Any], str]:
    backend = backend_name()
    modes = BACKEND_MODES.get(backend)
    if modes is None:  # pragma: no cover - a Keras backend keras_adapter does not know
        raise RuntimeError(f"keras_adapter.oracle does not know Keras's {backend!r} backend")
    chosen = default_mode() if mode is None else mode
    if chosen not in modes:
        raise ValueError(
            f"Argument `mode` must be one of {modes} on Keras's {backend!r} backend. "
            f"Received: mode={mode!r}"
        )
    listed = list(schedules)
    if not listed:
        raise ValueError("Argument `schedules` must not be empty.")
    return listed, chosen


class SideBySideSGD(keras.optimizers.Optimizer):
    """Many optimizers as one: ``optimizers[k]`` updates variable ``k``.

    The model's optimizer for :func:`training_rates`.  It is built on the tables (one
    variable per inner optimizer, in order); :meth:`apply` hands each inner optimizer
    its own gradient and variable, so each runs Keras's own ``apply`` -- its schedule at
    its ``iterations``, its update -- inside the backend's train step.  Its
    :attr:`variables` are its own and all the inner ones, so the JAX trainer threads
    every iteration counter through the jitted step.
    """

    def __init__(self, optimizers: Sequence[Any]) -> None:
        super().__init__(learning_rate=0.0, name="side_by_side")
        self.inner = list(optimizers)

    def build(self, variables: Sequence[Any]) -> None:
        if len(variables) != len(self.inner):
            raise ValueError(
                f"SideBySideSGD has {len(self.inner)} optimizers but was built on "
                f"{len(variables)} variables."
            )
        for optimizer, variable in zip(self.inner, variables, strict=True):
            optimizer.build([variable])
        super().build(variables)

    @property
    def variables(self) -> list[Any]:
        return self._variables[:] + [v for o in self.inner for v in o.variables]

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None) -> None:
        variables = (
            self._trainable_variables if trainable_variables is None else list(trainable_variables)
        )
        for optimizer, gradient, variable in zip(self.inner, grads, variables, strict=True):
            optimizer.apply([gradient], [variable])
        self._iterations.assign_add(1)

    def stateless_apply(
        self,
        optimizer_variables: Sequence[Any],
        grads: Sequence[Any],
        trainable_variables: Sequence[Any],
    ) -> tuple[list[Any], list[Any]]:
        mapping = list(zip(self._trainable_variables, trainable_variables, strict=True))
        mapping += list(zip(self.variables, optimizer_variables, strict=True))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            self.apply(grads)
        return (
            [scope.get_current_value(v) for v in self._trainable_variables],
            [scope.get_current_value(v) for v in self.variables],
        )


class _Tables(keras.Model):
    """One zero ``Embedding(rows, 1)`` table per schedule, side by side."""

    def __init__(self, rows: int, count: int) -> None:
        super().__init__(name="side_by_side_tables")
        self.tables = [
            keras.layers.Embedding(rows, 1, embeddings_initializer="zeros") for _ in range(count)
        ]

    def call(self, x: Any) -> Any:
        return keras.ops.concatenate([table(x)[:, :, 0] for table in self.tables], axis=1)


def _row_sum(y_true: Any, y_pred: Any) -> Any:
    """The loss: the sum of the rows looked up (gradient exactly 1 on each)."""
    return keras.ops.sum(y_pred, axis=-1)


def _starts(start: Any, count: int) -> list[int]:
    """``start`` as one int >= 0 per schedule; a ValueError naming it otherwise."""
    single = isinstance(start, (int, np.integer)) and not isinstance(start, (bool, np.bool_))
    many = isinstance(start, (Sequence, np.ndarray)) and not isinstance(start, str)
    values = [start] * count if single else list(start) if many else None
    if (
        values is None
        or len(values) != count
        or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 0
            for v in values
        )
    ):
        raise ValueError(
            "Argument `start` must be an int >= 0 or one such int per schedule "
            f"({count}). Received: start={start!r}"
        )
    return [int(v) for v in values]


def training_rates(
    schedules: Sequence[Any],
    steps: int,
    *,
    mode: str | None = None,
    start: int | Sequence[int] = 0,
) -> np.ndarray:
    """The float32 rate each of ``schedules`` applied at the steps ``start, start + 1,
    ..., start + steps - 1`` of real ``model.fit`` training in ``mode`` (one of
    :data:`BACKEND_MODES` for this process's backend; None: :func:`default_mode`).

    The optimizers' ``iterations`` start at ``start`` (as after a resumed run); a
    sequence gives each schedule its own start (the same schedule may be listed twice,
    to read it in two windows of one ``fit``).  The whole horizon runs in one compiled
    call (``steps_per_execution=steps``) except on torch, which allows one step per
    call, and in eager modes.
    """
    listed, chosen = _check(schedules, mode)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"Argument `steps` must be a positive int. Received: steps={steps!r}")
    starts = _starts(start, len(listed))
    backend = backend_name()
    if backend != "tensorflow" and max(starts) + steps > 2**31 - 1:
        raise ValueError(
            f"On Keras's {backend!r} backend the optimizer counts its iterations in int32: "
            f"start + steps must be below 2**31. Received: start={start!r}, steps={steps!r}"
        )
    arguments = _COMPILE_ARGUMENTS[backend, chosen]
    keras.utils.set_random_seed(0)
    optimizers = [keras.optimizers.SGD(learning_rate=s) for s in listed]
    model = _Tables(steps, len(optimizers))
    rows = np.arange(steps, dtype=np.int32).reshape(-1, 1)
    model(rows[:1])
    side_by_side = SideBySideSGD(optimizers)
    side_by_side.build([table.embeddings for table in model.tables])
    for optimizer, first in zip(optimizers, starts, strict=True):
        optimizer.iterations.assign(first)
    one_call = backend != "torch" and not arguments["run_eagerly"] and chosen != "eager"
    model.compile(
        optimizer=side_by_side,
        loss=_row_sum,
        steps_per_execution=steps if one_call else 1,
        **arguments,
    )
    model.fit(rows, np.zeros((steps, 1), np.float32), batch_size=1, shuffle=False, verbose=0)
    counts = [int(keras.ops.convert_to_numpy(o.iterations)) for o in optimizers]
    if counts != [first + steps for first in starts]:  # pragma: no cover - a Keras change
        raise RuntimeError("the optimizers did not run one update per step")
    rates = np.stack(
        [-keras.ops.convert_to_numpy(table.embeddings)[:, 0] for table in model.tables]
    ).astype(np.float32)
    if backend != "tensorflow":
        poisoned = [i for i, row in enumerate(rates) if not np.isfinite(row).all()]
        if poisoned:
            warnings.warn(
                f"training_rates on Keras's {backend!r} backend: the tables of schedules "
                f"{poisoned} hold non-finite values. Their Embedding gradients are dense, so "
                "an inf or NaN rate at any step turns every row NaN (lr * 0): read those "
                "rates with one-step horizons, training_rates([s], 1, start=k).",
                RuntimeWarning,
                stacklevel=2,
            )
    return rates


def compiled_rates(schedules: Sequence[Any], steps: Any, *, mode: str = "graph") -> np.ndarray:
    """The float32 rate each of ``schedules`` gives at each of ``steps`` (any int64
    steps) when the optimizer evaluates it inside a compiled function in ``mode``
    (TensorFlow backend only: a ``RuntimeError`` elsewhere).

    Graph mode: one ``tf.function`` per schedule loops over the steps; it sets its own
    int64 ``iterations`` variable to the step and casts ``schedule(iterations)`` to
    float32, as ``SGD.update_step`` does.  XLA: one ``jit_compile`` function per schedule reads the
    variable and returns the rate, called once per step -- compiled in a loop, or
    together with other schedules, the schedule is optimized differently by LLVM than
    in the train step (measured: the past-the-end arm of ``PolynomialDecay`` is not
    split off there).  Eager: the schedules called on a scalar int64 tensor.
    """
    require_tensorflow("keras_adapter.oracle.compiled_rates")
    import tensorflow as tf

    listed, chosen = _check(schedules, mode)
    at = np.asarray(steps, dtype=np.int64).reshape(-1)
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    if chosen == "graph":
        # One compiled loop per schedule, as each optimizer has its own ``iterations``:
        # compiled together, Grappler's common-subexpression elimination merges equal
        # subgraphs of two schedules, and a merged node with two consumers is no longer
        # pushed down (measured: two equal LinearCosineDecay differ from training by an
        # ulp at 433 of 600 steps, even with a counter each).
        def loop_of(schedule: Any) -> Any:
            own = tf.Variable(0, dtype=tf.int64, trainable=False)

            def loop(at: Any) -> Any:
                out = tf.TensorArray(tf.float32, size=tf.size(at))
                for i in tf.range(tf.size(at)):
                    own.assign(at[i])
                    out = out.write(i, tf.cast(schedule(own), tf.float32))
                return out.stack()

            return tf.function(loop)

        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")  # each call traces its own loop: no "retracing" warning
        try:
            steps_tensor = tf.constant(at)
            rows = [np.asarray(loop_of(s)(steps_tensor), np.float32) for s in listed]
        finally:
            logger.setLevel(level)
        return np.stack(rows)

    def rate_of(schedule: Any) -> Any:
        def rate() -> Any:
            return tf.cast(schedule(counter), tf.float32)

        return tf.function(rate, jit_compile=True) if chosen == "xla" else rate

    rates = [rate_of(schedule) for schedule in listed]
    out = np.empty((len(listed), at.size), np.float32)
    for j, k in enumerate(at):
        counter.assign(int(k))
        out[:, j] = [np.float32(rate()) for rate in rates]
    return out
