"""Scratch memory of the trainer: 64-byte aligned buffers, allocated once per shape.

Every array a layer computes into during training lives in a :class:`Workspace` (one per
worker and layer), so the training loop allocates nothing after its first batch.  All of
them start on a 64-byte boundary (one cache line, one AVX-512 vector): NumPy's SIMD loops
and BLAS then see the same alignment in every worker, thread or process, which keeps the
trainer's results identical bit for bit whichever worker computes a part of the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ALIGNMENT", "Workspace", "aligned_empty", "aligned_zeros"]

#: Byte alignment of every buffer.
ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` starting on a 64-byte boundary.

    >>> a = aligned_empty((3, 5), np.float32)
    >>> a.ctypes.data % ALIGNMENT, a.shape, a.flags.c_contiguous
    (0, (3, 5), True)
    """
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + nbytes].view(dt).reshape(shape)


def aligned_zeros(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """Zeros of ``shape`` on a 64-byte boundary (see :func:`aligned_empty`)."""
    out = aligned_empty(shape, dtype)
    out.fill(0)
    return out


class Workspace:
    """Per-worker, per-layer scratch space: cached activations and reusable buffers.

    ``buffer(key, shape)`` returns the same array on every call with the same key,
    shape and dtype (several shapes may live side by side: a batch's last, smaller part
    does not evict the others).  ``cache`` holds what a forward pass leaves for its
    backward pass, and per-shape plans.
    """

    __slots__ = ("_buffers", "cache")

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, tuple[int, ...], str], np.ndarray] = {}
        self.cache: dict[Any, Any] = {}

    def buffer(
        self, key: str, shape: tuple[int, ...], zero: bool = False, dtype: Any = np.float32
    ) -> np.ndarray:
        """A 64-byte aligned buffer of ``shape`` and ``dtype`` (float32 by default),
        zero-filled when created (and on each call if ``zero``).

        >>> ws = Workspace()
        >>> ws.buffer("z", (2, 3)) is ws.buffer("z", (2, 3))
        True
        """
        full_key = (key, tuple(shape), np.dtype(dtype).str)
        buf = self._buffers.get(full_key)
        if buf is None:
            buf = aligned_zeros(tuple(shape), dtype)
            self._buffers[full_key] = buf
        elif zero:
            buf.fill(0)
        return buf

    def nbytes(self) -> int:
        """Bytes held in buffers and cached plans' arrays (for memory reports)."""
        total = sum(b.nbytes for b in self._buffers.values())
        for value in self.cache.values():
            total += sum(
                v.nbytes
                for v in getattr(value, "__dict__", {}).values()
                if isinstance(v, np.ndarray)
            )
        return total
