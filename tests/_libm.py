"""Shared by the tests of refimpl.kernels.glibc and .glibc64: the C library's functions of
NumPy arrays through ctypes (raw bits in and out: signalling NaNs and payloads survive),
when this machine runs the glibc builds the kernels reproduce, and bit-exact comparison."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
import sys

import numpy as np

#: The unsigned integer type of each float type's bits, and the ctypes type that carries it.
_BITS = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}
_CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}


def glibc_fma_reason(first: int, last: int) -> str | None:
    """Why this machine's libm is not what the kernels reproduce (None if it is): x86_64
    glibc 2.``first`` to 2.``last`` (the algorithms reproduced) on a CPU with FMA and AVX2
    (else glibc runs its SSE2 builds)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"needs x86_64 Linux, not {sys.platform} {platform.machine()}"
    libc, version = platform.libc_ver()
    if libc != "glibc" or not (first <= int(version.split(".")[1]) <= last):
        return (
            f"needs glibc 2.{first} to 2.{last} (the algorithms reproduced), not {libc} {version}"
        )
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
    if not {"fma", "avx2"} <= set(flags):
        return "the CPU lacks FMA or AVX2: glibc runs its SSE2 builds, not the FMA ones"
    return None


@functools.cache
def _c_library() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("m"))


def libm(name: str, *args: np.ndarray) -> np.ndarray:
    """The C library's ``name`` of arrays of one float dtype (broadcast), elementwise."""
    dtype = np.result_type(*args)
    raw_type = type("Raw", (_CTYPES[dtype],), {})  # a subclass: not turned into a float
    function = getattr(_c_library(), name)
    function.argtypes = [raw_type] * len(args)
    function.restype = raw_type
    columns = [a.astype(dtype).ravel().tobytes() for a in np.broadcast_arrays(*args)]
    size = dtype.itemsize
    raw = [
        bytes(function(*(raw_type.from_buffer_copy(c, i) for c in columns)))
        for i in range(0, len(columns[0]), size)
    ]
    return np.frombuffer(b"".join(raw), dtype)


def neighbours(x: np.ndarray, ulps: int = 2) -> np.ndarray:
    """``x`` and the floats of its dtype up to ``ulps`` steps either side (by the bits,
    past zero too)."""
    x = np.asarray(x)
    signed = np.int32 if x.dtype == np.float32 else np.int64
    steps = np.arange(-ulps, ulps + 1, dtype=np.int64)
    bits = (x.view(signed).astype(np.int64)[:, None] + steps).ravel()
    return bits.astype(signed).view(x.dtype)


def assert_same_bits(got: np.ndarray, want: np.ndarray, *inputs: np.ndarray) -> None:
    got, want = np.atleast_1d(got), np.atleast_1d(want)
    bad = np.flatnonzero(got.view(_BITS[got.dtype]) != want.view(_BITS[want.dtype]))
    shown = [
        (*(float(np.ravel(np.broadcast_to(a, got.shape))[i]).hex() for a in inputs),
         float(got[i]).hex(), float(want[i]).hex())
        for i in bad[:5]
    ]  # fmt: skip
    assert bad.size == 0, f"{bad.size} of {got.size} differ (inputs, got, want): {shown}"
