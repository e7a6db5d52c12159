"""The optimizer argument ``decay=`` that Keras 3 silently ignores, restored.

``keras.optimizers.SGD(learning_rate=0.01, decay=1e-4)`` in Keras 3 only warns
"Argument `decay` is no longer supported and will be ignored." and trains at a constant
0.01.  tf_keras's legacy optimizers (and Keras <= 2.10) used, at every update::

    lr_t = learning_rate            # or learning_rate(float(iterations)) for a schedule
    if decay > 0:
        lr_t = lr_t / (1 + decay * iterations)      # iterations before the update

:func:`legacy_decay` builds that as a Keras 3 schedule, so
``keras.optimizers.SGD(learning_rate=legacy_decay(0.01, 1e-4))`` trains exactly as
``tf_keras.optimizers.legacy.SGD(learning_rate=0.01, decay=1e-4)`` did.

>>> import keras
>>> from keras_adapter import legacy_decay
>>> schedule = legacy_decay(0.01, 1e-4)
>>> schedule
keras_adapter.TimeBasedDecay(initial_learning_rate=0.01, decay=0.0001, name='TimeBasedDecay')
>>> optimizer = keras.optimizers.SGD(learning_rate=schedule)
>>> float(schedule(10_000))
0.005
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_adapter.schedules import PACKAGE, TimeBasedDecay, as_reference
from refimpl import schedules as _ref
from refimpl.schedules.time_based import time_based_decay

__all__ = ["LegacyDecay", "legacy_decay"]


@keras.saving.register_keras_serializable(package=PACKAGE, name="LegacyDecay")
class LegacyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The legacy ``decay=`` factor on top of a Keras schedule that refimpl does not know.

    For your own ``LearningRateSchedule`` subclass: at step ``t`` this evaluates
    ``schedule(cast(t, dtype))``, casts the result to ``dtype`` and divides by
    ``1 + decay * t`` -- tf_keras's legacy ``_decayed_lr`` with ``dtype`` the variables'
    dtype (float32 for a float32 model), using refimpl's
    :func:`~refimpl.schedules.time_based_decay` for the factor.  For floats and for the
    schedules refimpl knows, :func:`legacy_decay` returns a
    :class:`~keras_adapter.TimeBasedDecay` instead.

    ``decay`` and ``name`` are validated exactly as by refimpl's ``TimeBasedDecay``.
    """

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule,
        decay: float,
        dtype: str = "float32",
        name: str = "LegacyDecay",
    ) -> None:
        if isinstance(schedule, Mapping):
            schedule = keras.saving.deserialize_keras_object(dict(schedule))
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError(
                "Argument `schedule` must be a keras.optimizers.schedules.LearningRateSchedule."
                f" Received: schedule={schedule!r} ({type(schedule).__name__})"
            )
        _ref.TimeBasedDecay(1.0, decay, name)  # refimpl's checks of `decay` and `name`
        if not isinstance(dtype, str) or np.dtype(dtype).kind != "f":
            raise TypeError(
                f"Argument `dtype` must be the name of a float dtype. Received: dtype={dtype!r}"
            )
        self.schedule = schedule
        self.decay = decay
        self.dtype = dtype
        self.name = name

    def __call__(self, step: Any) -> Any:
        with keras.name_scope(self.name or "LegacyDecay"):
            local_step = keras.ops.cast(step, self.dtype)
            lr = keras.ops.cast(self.schedule(local_step), self.dtype)
            return time_based_decay(step, lr, self.decay, xp=keras.ops)

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "decay": self.decay,
            "dtype": self.dtype,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LegacyDecay:
        if not isinstance(config, Mapping):
            raise TypeError(f"LegacyDecay.from_config expects a dict. Received: {config!r}")
        unknown = sorted(set(config) - {"schedule", "decay", "dtype", "name"})
        if unknown:
            raise TypeError(
                f"LegacyDecay.from_config: unknown key(s) {unknown} in config {dict(config)!r}; "
                "LegacyDecay accepts ['decay', 'dtype', 'name', 'schedule']."
            )
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"keras_adapter.LegacyDecay(schedule={self.schedule!r}, decay={self.decay!r}, "
            f"dtype={self.dtype!r}, name={self.name!r})"
        )


def legacy_decay(
    learning_rate: Any, decay: float
) -> keras.optimizers.schedules.LearningRateSchedule:
    """``learning_rate`` with the legacy optimizer ``decay=`` stacked on top, for Keras 3.

    ``learning_rate`` may be a number (the legacy optimizers kept it in a float32
    variable, so an int or a NumPy float is taken as a Python float and the schedule
    computes in float32), any schedule refimpl knows (Keras built-in, tf_keras
    built-in, adapter, refimpl, or a serialized dict: the result is a
    :class:`~keras_adapter.TimeBasedDecay`), or your own Keras schedule (the result is
    a :class:`LegacyDecay`).  ``decay < 0`` raises ``ValueError`` as the legacy
    optimizers did; ``decay == 0`` leaves the rate unchanged.

    >>> legacy_decay(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), 0.01)
    ... # doctest: +ELLIPSIS
    keras_adapter.TimeBasedDecay(initial_learning_rate={'module': 'keras.optimizers.schedules', ...}, decay=0.01, name='TimeBasedDecay')
    >>> legacy_decay(0.1, -1.0)
    Traceback (most recent call last):
    ValueError: decay cannot be less than 0. Received: decay=-1.0.
    """
    if isinstance(learning_rate, (bool, np.bool_)):
        raise TypeError(
            "Argument `learning_rate` must be a number or a schedule. "
            f"Received: learning_rate={learning_rate!r}"
        )
    if isinstance(learning_rate, numbers.Real):
        return TimeBasedDecay(float(learning_rate), decay)
    reference = as_reference(learning_rate)
    if isinstance(reference, _ref.LearningRateSchedule):
        return TimeBasedDecay(reference, decay)
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return LegacyDecay(learning_rate, decay)
    raise TypeError(
        "Argument `learning_rate` must be a number or a learning rate schedule. "
        f"Received: learning_rate={learning_rate!r} ({type(learning_rate).__name__})"
    )
