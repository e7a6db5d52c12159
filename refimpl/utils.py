"""``to_categorical`` and ``set_random_seed``, as in ``keras.utils``."""

from __future__ import annotations

import numbers
import random
from typing import Any

import numpy as np

__all__ = ["get_rng", "set_random_seed", "to_categorical"]

_RNG: np.random.Generator = np.random.default_rng()


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer class ids, exactly as ``keras.utils.to_categorical``.

    A trailing axis of size 1 is dropped first; ``num_classes`` defaults to
    ``max(x) + 1``.  The result is **float64** (Keras builds it with ``np.zeros``) with
    shape ``input_shape + (num_classes,)``.

    ``x`` may hold integers, booleans or integer-valued floats (``1.0``), as Keras
    accepts.  Unlike Keras, which truncates ``1.7`` to 1 and lets NumPy raise
    ``IndexError`` for a label out of range, refimpl raises ``ValueError`` for a
    non-integral label, a label outside ``[0, num_classes)`` or ``num_classes < 0``, and
    ``TypeError`` for non-numeric ``x`` (strings included) or a non-integer
    ``num_classes``; each message names the argument and the value received.

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    >>> to_categorical([[1], [0]], num_classes=3).shape
    (2, 3)
    >>> to_categorical([3], num_classes=2)
    Traceback (most recent call last):
    ValueError: Argument `x` must hold class ids in [0, num_classes=2). Received: x[0]=3
    """
    if isinstance(num_classes, np.ndarray) and num_classes.ndim == 0:
        num_classes = num_classes[()]  # a 0-d array, as Keras accepts it
    if num_classes is not None:
        if isinstance(num_classes, (bool, np.bool_)) or not isinstance(
            num_classes, (int, np.integer)
        ):
            raise TypeError(
                "Argument `num_classes` must be an integer or None. "
                f"Received: num_classes={num_classes!r}"
            )
        if num_classes < 0:
            raise ValueError(
                f"Argument `num_classes` must be >= 0 (0 or None: max(x) + 1, as in Keras). "
                f"Received: num_classes={num_classes!r}"
            )
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(
            f"Argument `x` must be an array-like of class ids. Received: x={x!r} ({exc})"
        ) from exc
    if arr.dtype == object and all(isinstance(v, numbers.Real) for v in arr.flat):
        arr = arr.astype(np.float64)  # numbers as Python objects (Keras converts them)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            "Argument `x` must hold integer class ids (integers, booleans or integer-valued "
            f"floats). Received: x with dtype {arr.dtype}: {x!r}"
        )
    input_shape = arr.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    flat = arr.reshape(-1)
    if flat.dtype.kind == "f":
        bad = ~np.isfinite(flat) | (flat != np.round(flat))
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                "Argument `x` must hold integer class ids; integer-valued floats such as 1.0 "
                f"are accepted. Received: x{_index(arr, k)}={flat[k].item()!r}"
            )
    if not num_classes:  # None or 0, as Keras's `if not num_classes`
        if flat.size == 0:
            raise ValueError(
                "Argument `num_classes` is required when `x` is empty (it cannot be inferred "
                f"as max(x) + 1). Received: x with shape {arr.shape}, num_classes=None"
            )
        if flat.min() < 0:
            k = int(np.argmin(flat))
            raise ValueError(
                f"Argument `x` must hold class ids >= 0. Received: x{_index(arr, k)}={flat[k].item()!r}"
            )
        num_classes = int(flat.max()) + 1
    else:
        bad = (flat < 0) | (flat >= num_classes)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                f"Argument `x` must hold class ids in [0, num_classes={int(num_classes)}). "
                f"Received: x{_index(arr, k)}={flat[k].item()!r}"
            )
    labels = flat.astype(np.int64)
    batch_size = labels.shape[0]
    categorical = np.zeros((batch_size, int(num_classes)))
    categorical[np.arange(batch_size), labels] = 1
    output_shape = (*input_shape, int(num_classes))
    return np.reshape(categorical, output_shape)


def _index(arr: np.ndarray, flat_index: int) -> str:
    """``[i, j]`` of the element at ``flat_index`` of ``arr`` (``""`` for a 0-d array)."""
    if arr.ndim == 0:
        return ""
    return str([int(i) for i in np.unravel_index(flat_index, arr.shape)]).replace(" ", "")


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global state and refimpl's generator.

    refimpl draws initial weights and the shuffling order from the generator returned
    by :func:`get_rng`, so two runs after the same seed are identical.  (The numbers
    differ from Keras's, which come from TensorFlow's generators: to start a refimpl
    model from a Keras model's weights, copy them with ``set_weights``.)

    >>> set_random_seed(0); a = get_rng().random()
    >>> set_random_seed(0); a == get_rng().random()
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"Argument `seed` must be an integer. Received: seed={seed!r} (of type {type(seed)})"
        )
    global _RNG
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 - as keras.utils.set_random_seed
    _RNG = np.random.default_rng(int(seed))


def get_rng() -> np.random.Generator:
    """refimpl's generator (weights and shuffling); reseeded by :func:`set_random_seed`."""
    return _RNG
