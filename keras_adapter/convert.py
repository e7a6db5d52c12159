"""Conversions between Keras schedules and refimpl schedules, lossless on config.

- :func:`from_keras` turns a Keras built-in (Keras 3 or tf_keras object, or its
  serialized dict, as found in a saved model's ``optimizer.get_config()``) or an adapter
  schedule into the refimpl schedule; given an optimizer, a model or the path of a
  ``.keras`` file, it takes the optimizer's schedule.
- :func:`to_keras` turns a refimpl schedule into the Keras built-in where Keras 3 has
  one (the six ``keras.optimizers.schedules`` classes) and into the adapter class of
  :mod:`keras_adapter.schedules` otherwise.

``from_keras(to_keras(s)).get_config() == s.get_config()`` and
``to_keras(from_keras(k)).get_config() == k.get_config()``.

>>> import keras
>>> from keras_adapter import from_keras, to_keras
>>> from_keras(keras.optimizers.schedules.InverseTimeDecay(0.1, 10, 0.5))
InverseTimeDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=False, name='InverseTimeDecay')
>>> type(to_keras(from_keras({"class_name": "CosineDecay",
...     "config": {"initial_learning_rate": 0.1, "decay_steps": 100}}))).__module__
'keras.src.optimizers.schedules.learning_rate_schedule'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras

from keras_adapter.schedules import ADAPTERS, RefimplSchedule, as_reference
from refimpl import schedules as _ref
from refimpl.keras_config import read_config_file, schedule_config

__all__ = ["from_keras", "to_keras"]


def from_keras(schedule: Any) -> _ref.LearningRateSchedule:
    """The refimpl schedule equal to a Keras schedule, or to an optimizer's or a model's.

    Accepted: a Keras 3 built-in (``keras.optimizers.schedules.ExponentialDecay`` ...),
    a tf_keras built-in, an adapter schedule, a refimpl schedule (returned as is), or a
    dict in Keras 3 (``module``/``class_name``/``config``/``registered_name``), Keras 2
    (``class_name``/``config``) or adapter (``registered_name: "lr_refimpl>Name"``)
    form; and, for the schedule it trains with, a Keras 3 or tf_keras optimizer, a
    compiled model, the path of a ``.keras`` file (read without loading the model) or a
    serialized optimizer or model dict (see :mod:`refimpl.keras_config`).  A legacy
    tf_keras optimizer's ``decay=`` gives a ``TimeBasedDecay`` around its rate.

    An unknown class, a misspelt or missing key, or a value of the wrong type raises an
    error naming it; so does a schedule that is not one of these (your own
    ``LearningRateSchedule`` subclass has no refimpl equivalent), an optimizer with a
    constant rate and a model without an optimizer.

    >>> from_keras({"class_name": "ExponentialDecay", "config": {
    ...     "initial_learning_rate": 0.1, "decay_step": 10, "decay_rate": 0.5}})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: ExponentialDecay.from_config: unknown key(s) ['decay_step'] ...
    >>> optimizer = keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.1, 100))
    >>> from_keras(optimizer)  # doctest: +ELLIPSIS
    CosineDecay(initial_learning_rate=0.1, decay_steps=100, alpha=0.0, ...)
    """
    converted = as_reference(_schedule_of(schedule))
    if isinstance(converted, _ref.LearningRateSchedule):
        return converted
    raise TypeError(
        "from_keras expects a Keras built-in schedule, a keras_adapter schedule, a refimpl "
        "schedule, a serialized schedule dict, an optimizer, a model or a .keras path. "
        f"Received: {schedule!r} ({type(schedule).__module__}.{type(schedule).__qualname__}); "
        "a custom Keras schedule has no refimpl equivalent."
    )


def _schedule_of(obj: Any) -> Any:
    """The (serialized) schedule ``obj`` holds, or ``obj`` itself when it is a schedule
    or something :func:`as_reference` reports."""
    if isinstance(obj, (str, os.PathLike)):
        return _serialized(read_config_file(obj), os.fspath(obj))
    if isinstance(obj, Mapping):
        return _serialized(obj, None) or obj
    if _is_model(obj):
        if getattr(obj, "optimizer", None) is None:
            raise ValueError(f"from_keras: the model {obj.name!r} has no optimizer (not compiled)")
        obj = obj.optimizer
    if _is_optimizer(obj):
        return _serialized(obj.get_config(), f"optimizer {type(obj).__name__}")
    return obj


def _serialized(content: Any, source: str | None) -> dict[str, Any] | None:
    try:
        return schedule_config(content)
    except ValueError as exc:
        raise ValueError(
            f"from_keras: {source}: {exc}" if source else f"from_keras: {exc}"
        ) from None


def _is_model(obj: Any) -> bool:
    """A Keras 3 or tf_keras model (duck-typed: tf_keras is not imported for this)."""
    return isinstance(obj, keras.Model) or (
        hasattr(obj, "compile") and hasattr(obj, "optimizer") and hasattr(obj, "fit")
    )


def _is_optimizer(obj: Any) -> bool:
    """A Keras 3 or tf_keras optimizer: its config has a ``learning_rate``."""
    if isinstance(obj, keras.optimizers.Optimizer):
        return True
    if isinstance(obj, keras.optimizers.schedules.LearningRateSchedule) or not callable(
        getattr(obj, "get_config", None)
    ):
        return False
    return hasattr(obj, "apply_gradients") and "learning_rate" in obj.get_config()


def to_keras(schedule: Any) -> keras.optimizers.schedules.LearningRateSchedule:
    """The Keras schedule running ``schedule``: the Keras built-in where one exists.

    ``ExponentialDecay``, ``PiecewiseConstantDecay``, ``PolynomialDecay``,
    ``InverseTimeDecay``, ``CosineDecay`` and ``CosineDecayRestarts`` become
    ``keras.optimizers.schedules`` objects with the same config; every other refimpl
    schedule (``TimeBasedDecay``, ``LinearWarmup`` ...) becomes the adapter class of the
    same name.  A serialized dict is deserialized first.  A Keras 2 (tf_keras) config
    has ``name=None``, with which Keras 3's built-ins fail when called (``ValueError``
    from their ``name_scope``); such a schedule becomes the adapter class too, with
    the same config.

    >>> from refimpl.schedules import TimeBasedDecay
    >>> to_keras(TimeBasedDecay(0.1, 0.01))
    keras_adapter.TimeBasedDecay(initial_learning_rate=0.1, decay=0.01, name='TimeBasedDecay')
    """
    if isinstance(schedule, Mapping):
        schedule = from_keras(schedule)
    if isinstance(schedule, RefimplSchedule):
        schedule = schedule.reference
    if not isinstance(schedule, _ref.LearningRateSchedule):
        raise TypeError(
            "to_keras expects a refimpl schedule (or its serialized dict). Received: "
            f"{schedule!r} ({type(schedule).__name__})"
        )
    name = type(schedule).__name__
    config = schedule.get_config()
    # Keras 3's built-ins fail when called with name=None (their name_scope), which
    # Keras 2 configs carry: the adapter runs those.
    if _ref.KERAS_SCHEDULES.get(name) is type(schedule) and config.get("name") is not None:
        builtin = getattr(keras.optimizers.schedules, name)
        return builtin(**config)
    adapter = ADAPTERS.get(name)
    if adapter is None or adapter.reference_class is not type(schedule):
        raise TypeError(
            f"to_keras: no Keras schedule for {type(schedule).__module__}."
            f"{type(schedule).__qualname__}; known: {sorted(ADAPTERS)}"
        )
    return adapter.from_reference(schedule)
