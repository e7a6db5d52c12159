"""Keras's dict form of a schedule: ``serialize`` / ``deserialize``.

A Keras 3 built-in serializes as ``{"module": "keras.optimizers.schedules",
"class_name": ..., "config": ..., "registered_name": None}``; Keras 2 (tf.keras) wrote
``{"class_name": ..., "config": ...}`` without ``module``.  Both load here unchanged, so a
config taken from a saved Keras model (``optimizer.get_config()["learning_rate"]``) gives
the refimpl schedule.  refimpl's own schedules serialize like the Keras adapter's
registered classes: ``registered_name`` is ``"lr_refimpl>ClassName"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refimpl.schedules._base import LearningRateSchedule
from refimpl.schedules.registry import EXTRA_SCHEDULES, KERAS_SCHEDULES, SCHEDULES

__all__ = [
    "EXTRA_SCHEDULES",
    "KERAS_MODULE",
    "KERAS_SCHEDULES",
    "PACKAGE",
    "deserialize",
    "deserialize_nested",
    "serialize",
]

#: The module Keras 3 writes for its built-in schedules.
KERAS_MODULE = "keras.optimizers.schedules"
#: The package name refimpl's own schedules are registered under in Keras.
PACKAGE = "lr_refimpl"


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """The Keras dict form of ``schedule`` (nested schedules are serialized too).

    >>> from refimpl.schedules import ExponentialDecay, TimeBasedDecay
    >>> serialize(ExponentialDecay(0.1, 10, 0.5))["module"]
    'keras.optimizers.schedules'
    >>> serialize(TimeBasedDecay(0.1, 0.01))["registered_name"]
    'lr_refimpl>TimeBasedDecay'
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            "Argument `schedule` must be a refimpl LearningRateSchedule. "
            f"Received: schedule={schedule!r} ({type(schedule).__name__})"
        )
    name = type(schedule).__name__
    if type(schedule).family == "keras":
        return {
            "module": KERAS_MODULE,
            "class_name": name,
            "config": schedule.get_config(),
            "registered_name": None,
        }
    return {
        "module": None,
        "class_name": name,
        "config": schedule.get_config(),
        "registered_name": f"{PACKAGE}>{name}",
    }


def deserialize(
    config: Mapping[str, Any],
    custom_objects: Mapping[str, type[LearningRateSchedule]] | None = None,
) -> LearningRateSchedule:
    """Build the refimpl schedule that a Keras (2 or 3) or refimpl dict describes.

    ``custom_objects`` maps further class names to refimpl schedule classes.  An
    unknown class, a misspelt or missing key, or a value of the wrong type raises an
    error that names it (never a silent default).

    >>> deserialize({"class_name": "ExponentialDecay", "config": {
    ...     "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}})
    ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=False, name='ExponentialDecay')
    """
    if not isinstance(config, Mapping):
        raise TypeError(
            "A serialized schedule must be a dict with 'class_name' and 'config'. "
            f"Received: {config!r} ({type(config).__name__})"
        )
    missing = [k for k in ("class_name", "config") if k not in config]
    if missing:
        raise ValueError(
            f"A serialized schedule needs the key(s) {missing}. Received: {dict(config)!r}"
        )
    unexpected = sorted(
        set(config) - {"module", "class_name", "config", "registered_name", "build_config"}
    )
    if unexpected:
        raise ValueError(f"Unknown key(s) {unexpected} in serialized schedule {dict(config)!r}.")
    registered = config.get("registered_name")
    class_name = config["class_name"]
    if isinstance(registered, str) and registered.startswith(f"{PACKAGE}>"):
        class_name = registered.split(">", 1)[1]
    known = {**SCHEDULES, **(custom_objects or {})}
    if not isinstance(class_name, str) or class_name not in known:
        raise ValueError(
            f"Unknown learning rate schedule class_name={class_name!r} "
            f"(module={config.get('module')!r}). Known: {sorted(known)}; pass "
            "custom_objects={'Name': cls} for your own."
        )
    inner = config["config"]
    if not isinstance(inner, Mapping):
        raise TypeError(f"The 'config' of {class_name} must be a dict. Received: config={inner!r}")
    return known[class_name].from_config(dict(inner))


def deserialize_nested(value: Any) -> LearningRateSchedule:
    """A nested schedule given as a schedule object or its serialized dict."""
    if isinstance(value, LearningRateSchedule):
        return value
    return deserialize(value)
