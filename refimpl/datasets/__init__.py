"""Datasets, as in ``keras.datasets``: ``refimpl.datasets.fashion_mnist.load_data()``.

Only NumPy is imported; nothing is read or downloaded until ``load_data`` is called.
"""

from __future__ import annotations

from refimpl.datasets import fashion_mnist

__all__ = ["fashion_mnist"]
