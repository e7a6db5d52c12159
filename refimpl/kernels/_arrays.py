"""What the NumPy reproductions of C library functions share: checking an argument's dtype
and evaluating an elementwise kernel block by block, in one pass or in a fast pass and an
exact pass for what the fast one could not decide."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["NOWHERE", "blockwise", "checked", "two_pass"]

#: How each dtype is described in the error for a wrong one.
_ACCEPTED: dict[type, str] = {
    np.float32: "float32 (an np.float32 or a float32 array)",
    np.float64: "float64 (a float, an np.float64 or a float64 array)",
}
#: No index: what a fast pass returns where it decided every element.
NOWHERE = np.zeros(0, np.intp)


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
    return two_pass(
        lambda *blocks: (kernel(*blocks), NOWHERE), kernel, *arrays, block=block, dtype=dtype
    )


def two_pass(
    fast: Callable[..., tuple[np.ndarray, np.ndarray]],
    exact: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    block: int,
    dtype: type,
) -> np.ndarray:
    """An elementwise function (``dtype`` out) of the equally long 1-d ``arrays`` in two
    passes: ``fast(*blocks)``, ``block`` elements at a time (its temporaries stay in
    cache), returns the results and the indices of those it could not decide; then
    ``exact`` runs once on all of those, so its fixed cost is paid once per call rather
    than once per block."""
    size = arrays[0].size
    if size <= block:
        out, redo = fast(*arrays)
    else:
        out = np.empty(size, dtype)
        redos = []
        for lo in range(0, size, block):
            out[lo : lo + block], undecided = fast(*(a[lo : lo + block] for a in arrays))
            redos.append(undecided + lo)
        redo = np.concatenate(redos)
    if redo.size:
        out[redo] = exact(*(a[redo] for a in arrays))
    return out
