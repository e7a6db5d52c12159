"""What the NumPy reproductions of C library functions share: checking an argument's dtype
and evaluating an elementwise kernel block by block."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["blockwise", "checked"]

#: How each dtype is described in the error for a wrong one.
_ACCEPTED: dict[type, str] = {
    np.float32: "float32 (an np.float32 or a float32 array)",
    np.float64: "float64 (a float, an np.float64 or a float64 array)",
}


def checked(value: npt.ArrayLike, dtype: type, function: str, name: str) -> np.ndarray:
    """``value`` as a native-byte-order array of ``dtype`` (float32 or float64), or a
    ValueError naming the function, the argument and the dtype it has.

    >>> checked(1.0, np.float32, "expf", "x")
    Traceback (most recent call last):
    ...
    ValueError: expf: x must be float32 (an np.float32 or a float32 array), got 1.0 of dtype float64
    """
    array = np.asarray(value)
    if array.dtype.kind != "f" or array.dtype.itemsize != np.dtype(dtype).itemsize:
        raise ValueError(
            f"{function}: {name} must be {_ACCEPTED[dtype]}, got {value!r} of dtype {array.dtype}"
        )
    return array.astype(dtype, copy=False)


def blockwise(
    kernel: Callable[..., np.ndarray], *arrays: np.ndarray, block: int, dtype: type
) -> np.ndarray:
    """``kernel`` (elementwise, ``dtype`` out) of the equally long 1-d ``arrays``, ``block``
    elements at a time (its temporaries stay in cache)."""
    size = arrays[0].size
    if size <= block:
        return kernel(*arrays)
    out: np.ndarray = np.empty(size, dtype)
    for lo in range(0, size, block):
        out[lo : lo + block] = kernel(*(a[lo : lo + block] for a in arrays))
    return out
