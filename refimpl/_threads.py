"""Private helpers: a worker pool for sub-batches and a BLAS thread limiter.

The trainer splits every batch into sub-batches of a few samples and runs them on a
few Python threads; NumPy releases the GIL inside BLAS, so the threads run their matrix
products in parallel.  That only pays when BLAS itself runs single-threaded during the
training loop (two threads each asking OpenBLAS for two threads oversubscribe the
cores), so :func:`blas_single_thread` limits BLAS to one thread for the duration of a
``with`` block and restores the previous setting afterwards.

How the limit is set, in order of preference:

1. ``threadpoolctl`` when it is installed (it knows OpenBLAS, MKL and BLIS);
2. otherwise ``ctypes`` calls into the OpenBLAS that NumPy loaded
   (``openblas_set_num_threads`` or the ``scipy_openblas`` 64-bit-integer symbols);
3. otherwise nothing can be limited: :func:`blas_single_thread` yields ``False`` and the
   trainer degrades to one worker thread, leaving BLAS free to use its own threads
   (correct, only slower).

The number of worker threads defaults to the number of CPUs this process may run on,
capped at 8; the environment variable ``REFIMPL_NUM_THREADS`` overrides it (``1``
disables the worker threads).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["blas_single_thread", "default_num_threads"]

_OPENBLAS_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def default_num_threads() -> int:
    """Worker threads for sub-batches: ``REFIMPL_NUM_THREADS`` or the usable CPUs (<= 8).

    >>> default_num_threads() >= 1
    True
    """
    env = os.environ.get("REFIMPL_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(
                f"Environment variable REFIMPL_NUM_THREADS must be a positive integer. "
                f"Received: REFIMPL_NUM_THREADS={env!r}"
            ) from None
        if value < 1:
            raise ValueError(
                f"Environment variable REFIMPL_NUM_THREADS must be >= 1. "
                f"Received: REFIMPL_NUM_THREADS={env!r}"
            )
        return value
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _openblas_functions() -> tuple[Callable[[int], Any], Callable[[], int]] | None:
    """Find set/get-num-threads in an OpenBLAS already loaded into this process."""
    import numpy  # noqa: F401  (make sure NumPy's BLAS is loaded)

    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                parts = line.split()
                if len(parts) >= 6 and "blas" in parts[-1].lower() and parts[-1] not in paths:
                    paths.append(parts[-1])
    except OSError:
        return None
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
