"""Workspace buffers: aligned, reused per key, shape and dtype, zero when created."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl.workspace import ALIGNMENT, Workspace, aligned_empty, aligned_zeros


@pytest.mark.parametrize("shape", [(1,), (3, 5), (7, 1, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_, np.int64])
def test_aligned_arrays(shape: tuple[int, ...], dtype: type) -> None:
    for _ in range(5):  # several allocations: not aligned by luck
        a = aligned_empty(shape, dtype)
        assert a.shape == shape
        assert a.dtype == dtype
        assert a.flags.c_contiguous
        assert a.ctypes.data % ALIGNMENT == 0
    assert not aligned_zeros(shape, dtype).any()


def test_buffers_are_reused_per_key_shape_and_dtype() -> None:
    ws = Workspace()
    a = ws.buffer("z", (4, 3))
    a[...] = 7
    assert ws.buffer("z", (4, 3)) is a
    assert ws.buffer("z", (4, 3)).sum() == 84  # not cleared unless asked
    assert not ws.buffer("z", (4, 3), zero=True).any()
    b = ws.buffer("z", (2, 3))  # another shape lives beside the first
    assert b is not a
    assert ws.buffer("z", (4, 3)) is a
    c = ws.buffer("z", (4, 3), dtype=np.bool_)
    assert c.dtype == np.bool_
    assert c is not a
    assert ws.nbytes() == a.nbytes + b.nbytes + c.nbytes
