"""Shared by the mode tests: refimpl's compiled-mode rates against what Keras applies."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from refimpl.exceptions import ScheduleWarning


def keras_twin(schedule: Any) -> Any:
    """The Keras schedule that computes what ``schedule`` reproduces: the Keras 3
    built-in for the six ``keras.optimizers.schedules`` classes, else the adapter."""
    import keras

    import keras_adapter

    name = type(schedule).__name__
    if type(schedule).family == "keras":
        return getattr(keras.optimizers.schedules, name).from_config(schedule.get_config())
    return keras_adapter.ADAPTERS[name].from_reference(schedule)


def refimpl_rates(schedules: Sequence[Any], steps: np.ndarray, mode: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # steps beyond 2**24 on purpose
        return np.stack([np.asarray(s(steps, mode=mode)) for s in schedules])


def assert_same_rates(
    schedules: Sequence[Any], steps: np.ndarray, got: np.ndarray, want: np.ndarray
) -> None:
    """Bit for bit (NaN equals NaN; +0 equals -0, which SGD applies alike)."""
    for schedule, g, w in zip(schedules, got, want, strict=True):
        differ = (g != w) & ~(np.isnan(g) & np.isnan(w))
        if differ.any():
            at = np.flatnonzero(differ)
            raise AssertionError(
                f"{schedule!r}: {differ.sum()} of {steps.size} steps differ from Keras, "
                f"first at steps {steps[at[:5]].tolist()}: refimpl {g[at[:5]].tolist()}, "
                f"Keras {w[at[:5]].tolist()}"
            )
