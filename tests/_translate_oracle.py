"""The oracle of the translate tests: the emitted code run in the real frameworks, and
the source schedules computed by the real frameworks.

- torch: the emitted snippet is executed with ``model`` a module holding one float64
  parameter; before each update the parameter is set to 0 and its gradient to 1, so
  ``optimizer.step()`` (SGD, no momentum) leaves ``-lr`` in it: the rate *applied*, also
  checked against ``param_groups[0]["lr"]``; ``scheduler.step()`` follows, once per
  batch, as the snippet says.
- Keras: the emitted snippet is executed and ``schedule`` called eagerly at every step
  with an int64 scalar (what ``optimizer.iterations`` is); a constant rate is read from
  ``optimizer.learning_rate``.
- Keras sources: the Keras 3 built-in with the source's config, tf_keras's legacy
  optimizer for ``TimeBasedDecay``, Keras's own ``LearningRateScheduler`` callback for
  an epoch function, ``keras.optimizers.SGD`` for a constant rate.

Nothing here is computed by refimpl.  Loaded by the test modules with
``importlib`` (as ``_torch_oracle``).
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

__all__ = ["keras_source_rates", "run_keras_code", "run_torch_code"]


def run_torch_code(code: str, n: int) -> np.ndarray:
    """The rate the emitted torch ``code`` applies at each of updates ``0 .. n-1``."""
    import torch

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    model = Model()
    namespace: dict[str, Any] = {"model": model}
    exec(code, namespace)
    optimizer = namespace["optimizer"]
    scheduler = namespace.get("scheduler")
    group = optimizer.param_groups[0]
    param = model.weight
    out = np.empty(n, np.float64)
    for i in range(n):
        with torch.no_grad():
            param.zero_()
        param.grad = torch.ones_like(param)
        optimizer.step()
        applied = -param.item()
        listed = group["lr"].item() if isinstance(group["lr"], torch.Tensor) else group["lr"]
        assert applied == listed, (i, applied, listed)
        out[i] = listed  # the same number (a rate 0 leaves -0.0 in the parameter)
        if scheduler is not None and i < n - 1:
            scheduler.step()
    return out


def run_keras_code(code: str, steps: np.ndarray) -> np.ndarray:
    """The emitted Keras ``code``'s rate at each of ``steps``: the schedule called
    eagerly with an int64 scalar step, or the optimizer's constant rate."""
    import tensorflow as tf

    namespace: dict[str, Any] = {}
    exec(code, namespace)
    schedule = namespace.get("schedule")
    if schedule is None:
        rate = np.float32(namespace["optimizer"].learning_rate.numpy())
        return np.full(steps.shape, rate)
    return np.array(
        [schedule(tf.constant(int(s), tf.int64)).numpy() for s in steps.tolist()], np.float32
    )


def keras_source_rates(source: Any, steps: np.ndarray) -> np.ndarray | None:
    """What Keras computes for a translate source at ``steps`` (None when no framework
    computes it: refimpl's own schedules)."""
    import keras
    import tensorflow as tf

    if source.kind == "constant":
        optimizer = keras.optimizers.SGD(learning_rate=source.learning_rate)
        return np.full(steps.shape, np.float32(optimizer.learning_rate.numpy()))
    if source.kind == "epoch":
        optimizer = keras.optimizers.SGD(learning_rate=source.learning_rate)
        callback = keras.callbacks.LearningRateScheduler(source.epoch_function)
        callback.set_model(types.SimpleNamespace(optimizer=optimizer))
        per_epoch = source.steps_per_epoch
        epochs = int(steps.max()) // per_epoch + 1
        rates = []
        for epoch in range(epochs):
            callback.on_epoch_begin(epoch)
            rates.append(np.float32(optimizer.learning_rate.numpy()))
        return np.array(rates, np.float32)[steps // per_epoch]
    schedule = source.schedule
    name = type(schedule).__name__
    config = schedule.get_config()
    if name == "TimeBasedDecay" and not isinstance(config["initial_learning_rate"], dict):
        import tf_keras

        legacy = tf_keras.optimizers.legacy.SGD(
            learning_rate=config["initial_learning_rate"], decay=config["decay"]
        )

        def at(step: int) -> Any:
            legacy.iterations.assign(step)
            return legacy._decayed_lr(tf.float32).numpy()

        return np.array([at(int(s)) for s in steps.tolist()], np.float32)
    if not hasattr(keras.optimizers.schedules, name) or type(schedule).family != "keras":
        return None
    built = getattr(keras.optimizers.schedules, name)(**config)
    return np.array(
        [built(tf.constant(int(s), tf.int64)).numpy() for s in steps.tolist()],
        schedule.dtype,
    )
