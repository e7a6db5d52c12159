"""``to_categorical`` and ``set_random_seed``, as in ``keras.utils``."""

from __future__ import annotations

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

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    >>> to_categorical([[1], [0]], num_classes=3).shape
    (2, 3)
    """
    x = np.array(x, dtype="int64")
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    x = x.reshape(-1)
    if not num_classes:
        num_classes = np.max(x) + 1
    batch_size = x.shape[0]
    categorical = np.zeros((batch_size, num_classes))
    categorical[np.arange(batch_size), x] = 1
    output_shape = (*input_shape, num_classes)
    return np.reshape(categorical, output_shape)


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
