"""Compare refimpl.kernels.glibc and .glibc64 with the C library on 10**7 inputs per
function, and time them.

    .venv/bin/python benchmarks/scan_glibc_kernels.py [--n 10000000] [--only exp,pow]
        [--no-scan] [--no-speed] [--rounds 7]

Scan: for the float32 ``expf``, ``exp2f``, ``logf``, ``cosf``, ``powf`` and the float64
``exp``, ``exp2``, ``log``, ``pow``, ``cos``, ``--n`` inputs drawn uniformly over all bit
patterns (pairs of them for pow: NaNs, infinities, subnormals included) and ``--n``
inputs evenly spaced over the ranges the schedules use: float32 cos on (0, 3.3] (denser
than the float32 above 2), log on (0, 100], exp on (-100, 90], exp2 on (-160, 130];
float64 cos on (0, 4], log on (0, 10**6], exp on (-750, 710], exp2 on (-1100, 1030]; pow
with bases evenly spaced in (0, 2] and exponents in [0, 10**6] (float32) or [-10**6,
10**6] (float64), half of them log-uniform in magnitude from 10**-6.  Each is compared bit
for bit (NaN payloads included) with the C library called through ctypes, and the float64
sweeps also with Python's ``math`` module (glibc's functions; the elements where it
raises, overflow and domain errors, are left out).  Prints the mismatches and the CPU time
of both.  Needs x86_64 glibc with FMA and AVX2, where glibc runs the builds the kernels
reproduce.

Speed: CPU time (``time.process_time``) per call for one scalar and per element for a
10**6-element array, the kernel and a NumPy peer measured interleaved (ours, theirs, ours,
...): refimpl.numpy_ops's cos/log/exp/power (for float32, glibc's kernels flushed to
zero), NumPy's float32 ``np.exp2`` and NumPy's float64 functions; the median and range
over the rounds.  The scalar call takes the last element of each array argument.  powf
is timed as schedules call it: a scalar base to an array of exponents (``decay_rate **
p``) and an array of bases to a scalar exponent (``(1 - p) ** power``).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl import numpy_ops
from refimpl.kernels import glibc, glibc64

#: name -> (kernel, numpy dtype, ctypes type of the C function's arguments and result).
KERNELS: dict[str, tuple[Callable[..., Any], type, type]] = {
    "expf": (glibc.expf, np.float32, ctypes.c_float),
    "exp2f": (glibc.exp2f, np.float32, ctypes.c_float),
    "logf": (glibc.logf, np.float32, ctypes.c_float),
    "cosf": (glibc.cosf, np.float32, ctypes.c_float),
    "powf": (glibc.powf, np.float32, ctypes.c_float),
    "exp": (glibc64.exp, np.float64, ctypes.c_double),
    "exp2": (glibc64.exp2, np.float64, ctypes.c_double),
    "log": (glibc64.log, np.float64, ctypes.c_double),
    "cos": (glibc64.cos, np.float64, ctypes.c_double),
    "pow": (glibc64.pow, np.float64, ctypes.c_double),
}
#: The ranges of the evenly spaced sweeps (pow's are built in ``inputs``).
SWEEPS = {
    "expf": (-100.0, 90.0),
    "exp2f": (-160.0, 130.0),
    "logf": (0.0, 100.0),
    "cosf": (0.0, 3.3),
    "exp": (-750.0, 710.0),
    "exp2": (-1100.0, 1030.0),
    "log": (0.0, 1e6),
    "cos": (0.0, 4.0),
}
MATH = {"exp": math.exp, "log": math.log, "cos": math.cos, "pow": math.pow}
LIBM = ctypes.CDLL(ctypes.util.find_library("m"))


class _Float(ctypes.c_float):
    """Passed and returned as raw bits (ctypes converts no subclass to a Python float)."""


def libm(name: str, *args: np.ndarray) -> np.ndarray:
    """The C library's ``name`` elementwise.  Python floats carry the values through
    ctypes (fast; a double keeps its bits); float32 NaN inputs go as raw bits, keeping
    signalling NaNs signalling."""
    _, dtype, ctype = KERNELS[name]
    fast = getattr(LIBM, name)
    fast.argtypes = [ctype] * len(args)
    fast.restype = ctype
    out = np.array(list(map(fast, *(a.tolist() for a in args))), dtype)
    nan = np.flatnonzero(np.logical_or.reduce([np.isnan(a) for a in args]))
    if dtype is np.float32 and nan.size:
        raw = getattr(LIBM, name)
        raw.argtypes = [_Float] * len(args)
        raw.restype = _Float
        for i in nan.tolist():
            bits = [_Float.from_buffer_copy(a[i : i + 1].tobytes()) for a in args]
            out[i : i + 1] = np.frombuffer(bytes(raw(*bits)), np.float32)
    return out


def python_math(name: str, *args: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Python's ``math.name`` elementwise, and where it returned (no exception)."""
    function = MATH[name]
    out = np.empty(args[0].size)
    ok = np.ones(args[0].size, bool)
    for i, values in enumerate(zip(*(a.tolist() for a in args))):
        try:
            out[i] = function(*values)
        except (OverflowError, ValueError):
            ok[i] = False
    return out, ok


def random_bits(rng: np.random.Generator, n: int, dtype: type) -> np.ndarray:
    if dtype is np.float32:
        return rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)


def inputs(name: str, n: int, rng: np.random.Generator) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """(label, arguments) of the two scans of ``name``."""
    _, dtype, _ = KERNELS[name]
    if name in ("powf", "pow"):
        bases = np.linspace(0, 2, n + 1)[1:].astype(dtype)
        magnitudes = np.concatenate(
            [
                np.exp(rng.uniform(np.log(1e-6), np.log(1e6), n // 2)),
                rng.uniform(0, 1e6, n - n // 2),
            ]
        )
        signs = np.ones(n) if dtype is np.float32 else rng.choice([-1.0, 1.0], n)
        low = "0" if dtype is np.float32 else "-1e6"
        return [
            ("all bit patterns", (random_bits(rng, n, dtype), random_bits(rng, n, dtype))),
            (
                f"bases (0, 2] evenly spaced, exponents in [{low}, 1e6] (half log-uniform)",
                (rng.permutation(bases), (signs * magnitudes).astype(dtype)),
            ),
        ]
    low, high = SWEEPS[name]
    return [
        ("all bit patterns", (random_bits(rng, n, dtype),)),
        (f"({low:g}, {high:g}] evenly spaced", (np.linspace(low, high, n + 1)[1:].astype(dtype),)),
    ]


def _differ(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    unsigned = np.uint32 if ours.dtype == np.float32 else np.uint64
    return np.flatnonzero(ours.view(unsigned) != theirs.view(unsigned))


def scan(n: int, names: list[str]) -> None:
    rng = np.random.default_rng(2026)
    for name in names:
        kernel = KERNELS[name][0]
        for label, args in inputs(name, n, rng):
            start = time.process_time()
            ours = kernel(*args)
            ours_seconds = time.process_time() - start
            start = time.process_time()
            theirs = libm(name, *args)
            libm_seconds = time.process_time() - start
            bad = _differ(ours, theirs)
            examples = [
                (*(float(a[i]).hex() for a in args), float(ours[i]).hex(), float(theirs[i]).hex())
                for i in bad[:3]
            ]
            line = (
                f"{name} {label}: {args[0].size:,} inputs, {bad.size} mismatches"
                f"{' ' + str(examples) if bad.size else ''}; CPU {ours_seconds:.1f} s "
                f"(libm through ctypes {libm_seconds:.1f} s)"
            )
            if name in MATH and label != "all bit patterns":
                values, ok = python_math(name, *args)
                line += f"; math.{name}: {_differ(ours[ok], values[ok]).size} mismatches in {ok.sum():,}"
            print(line, flush=True)


def speed(rounds: int, names: list[str]) -> None:
    rng = np.random.default_rng(7)
    size = 10**6
    float32 = {
        "expf": (numpy_ops.exp, rng.uniform(-100, 90, size)),
        "exp2f": (np.exp2, rng.uniform(-150, 128, size)),
        "logf": (numpy_ops.log, rng.uniform(0, 100, size)),
        "cosf": (numpy_ops.cos, rng.uniform(0, 3.3, size)),
    }
    float64 = {
        "exp": (np.exp, rng.uniform(-750, 710, size)),
        "exp2": (np.exp2, rng.uniform(-1100, 1030, size)),
        "log": (np.log, rng.uniform(0, 1e6, size)),
        "cos": (np.cos, rng.uniform(0, 4, size)),
    }
    # name -> its cases: (label, the peer, the array call's arguments).
    cases: dict[str, list[tuple[str, Callable[..., Any], tuple[Any, ...]]]] = {}
    for name, (peer, values) in float32.items():
        cases[name] = [(name, peer, (values.astype(np.float32),))]
    cases.update({name: [(name, peer, (values,))] for name, (peer, values) in float64.items()})
    f32 = np.float32
    fraction = rng.uniform(0, 1, size).astype(f32)
    cases["powf"] = [  # as schedules call it
        ("powf, decay_rate ** p", numpy_ops.power, (f32(0.96), 100 * fraction)),
        ("powf, (1 - p) ** power", numpy_ops.power, (fraction, f32(2.0))),
    ]
    cases["pow"] = [("pow", np.power, (rng.uniform(0, 2, size), rng.uniform(-1e3, 1e3, size)))]
    print(f"\nCPU time, median (range) over {rounds} interleaved rounds:")
    selected = [(KERNELS[name][0], *case) for name in names for case in cases[name]]
    for ours, case, theirs, arrays in selected:
        scalars = tuple(np.ravel(a)[-1] for a in arrays)  # of the argument's dtype
        for label, args, reps, unit, scale in (
            ("one scalar", scalars, 1000, "us/call", 1e6 / 1000),
            ("10**6 array", arrays, 1, "ns/element", 1e9 / size),
        ):
            times: dict[str, list[float]] = {"ours": [], "peer": []}
            for _ in range(rounds):
                for who, function in (("ours", ours), ("peer", theirs)):
                    start = time.process_time()
                    with np.errstate(all="ignore"):  # NumPy's overflow warnings
                        for _ in range(reps):
                            function(*args)
                    times[who].append((time.process_time() - start) * scale)
            ratio = np.array(times["ours"]) / np.array(times["peer"])
            o, t = np.median(times["ours"]), np.median(times["peer"])
            peer = f"{theirs.__module__}.{theirs.__name__}"
            print(
                f"  {case} {label}: ours {o:.1f} ({min(times['ours']):.1f}-{max(times['ours']):.1f})"
                f" {unit}, {peer} {t:.1f} ({min(times['peer']):.1f}-"
                f"{max(times['peer']):.1f}); ratio {np.median(ratio):.1f} "
                f"({ratio.min():.1f}-{ratio.max():.1f})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**7, help="inputs per scan (default 10**7)")
    parser.add_argument("--only", default=",".join(KERNELS), help="comma-separated functions")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--no-scan", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    names = args.only.split(",")
    unknown = sorted(set(names) - set(KERNELS))
    if unknown:
        parser.error(
            f"--only: unknown function(s) {', '.join(unknown)}; known: {', '.join(KERNELS)}"
        )
    if not args.no_scan:
        scan(args.n, names)
    if not args.no_speed:
        speed(args.rounds, names)


if __name__ == "__main__":
    main()
