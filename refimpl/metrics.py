"""Accuracy metrics, as Keras resolves ``metrics=["accuracy"]``.

``"accuracy"`` (or ``"acc"``) becomes ``categorical_accuracy`` for one-hot targets and
``sparse_categorical_accuracy`` for integer targets, as Keras picks it from the loss and
target shapes.  Per sample: ``argmax(y_pred) == argmax(y_true)`` (first maximum wins),
or ``argmax(y_pred) == y_true``.  The epoch value is the sample-weighted mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["categorical_accuracy", "resolve", "sparse_categorical_accuracy"]

_NAMES = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample ``1.0`` where ``argmax(y_pred) == argmax(y_true)``, else ``0.0``.

    >>> categorical_accuracy([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]])
    array([1., 0.], dtype=float32)
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    return (yt.argmax(axis=-1) == yp.argmax(axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample ``1.0`` where ``argmax(y_pred) == y_true`` (``y_true`` ``(n,)`` or ``(n, 1)``).

    >>> sparse_categorical_accuracy([1, 1], [[0.2, 0.8], [0.3, 0.2]])
    array([1., 0.], dtype=float32)
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    return (yt.reshape(-1) == yp.argmax(axis=-1)).astype(np.float32)


def resolve(metrics: Any, sparse: bool) -> list[str]:
    """Validate ``compile(metrics=...)``; return the metric names to report.

    >>> resolve(["accuracy"], sparse=False)
    ['accuracy']
    """
    if metrics is None:
        return []
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(
            f"Argument `metrics` must be a list of metric names. Received: metrics={metrics!r}"
        )
    names = []
    for m in metrics:
        if m not in _NAMES:
            raise ValueError(
                f"Argument `metrics` supports only {list(_NAMES)}. Received: metrics={metrics!r}"
            )
        if m == "categorical_accuracy" and sparse:
            raise ValueError(
                "Metric 'categorical_accuracy' needs one-hot targets but the loss is sparse. "
                f"Received: metrics={metrics!r}"
            )
        names.append("accuracy" if m == "acc" else m)
    return names
