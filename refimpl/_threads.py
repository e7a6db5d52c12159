"""Private helper: limit BLAS to one thread while the trainer's workers run.

The execution engine (:mod:`refimpl.engine`) runs several workers, each making its own
BLAS calls on sub-batches of a few samples; two workers each asking OpenBLAS for two
threads would oversubscribe the cores, so :func:`blas_single_thread` limits BLAS to one
thread for the duration of a ``with`` block and restores the previous setting
afterwards.  Forked workers inherit the limit.

How the limit is set, in order of preference:

1. ``threadpoolctl`` when it is installed (it knows OpenBLAS, MKL and BLIS);
2. otherwise ``ctypes`` calls into the OpenBLAS that NumPy loaded
   (``openblas_set_num_threads`` or the ``scipy_openblas`` 64-bit-integer symbols);
3. otherwise nothing can be limited: :func:`blas_single_thread` yields ``False`` and the
   engine runs one worker, leaving BLAS its own threads (the same result: the batch's
   partition does not depend on the workers).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["blas_single_thread"]

_OPENBLAS_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def _openblas_functions() -> tuple[Callable[[int], Any], Callable[[], int]] | None:
    """Find set/get-num-threads in the OpenBLAS NumPy loaded (its wheels bundle one in
    ``numpy.libs``); other OpenBLAS copies in the process (SciPy's, a framework's) come
    only after it, so the one the trainer's products use is the one limited."""
    import numpy  # (make sure NumPy's BLAS is loaded)

    numpy_dir = os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__)))
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                parts = line.split()
                if len(parts) >= 6 and "blas" in parts[-1].lower() and parts[-1] not in paths:
                    paths.append(parts[-1])
    except OSError:
        return None
    ours = os.path.join(numpy_dir, "numpy")  # numpy/ and numpy.libs/
    paths.sort(key=lambda path: not path.startswith(ours))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS_SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter = getattr(lib, set_name)
                getter = getattr(lib, get_name)
                getter.restype = ctypes.c_int
                return setter, getter
    return None


@contextlib.contextmanager
def blas_single_thread() -> Iterator[bool]:
    """Limit BLAS to one thread inside the block; yield whether the limit could be set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=1, user_api="blas") as limiter:
            yield bool(limiter.get_original_num_threads())
        return
    funcs = _openblas_functions()
    if funcs is None:
        yield False
        return
    setter, getter = funcs
    previous = int(getter())
    setter(1)
    try:
        yield True
    finally:
        setter(previous)
