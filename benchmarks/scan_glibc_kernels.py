"""Compare refimpl.kernels.glibc with the C library on 10**7 inputs per function, and time it.

    .venv/bin/python benchmarks/scan_glibc_kernels.py [--n 10000000] [--no-scan] [--no-speed]

Scan: for expf, logf, cosf and powf, ``--n`` inputs drawn uniformly over all float32 bit
patterns (pairs of them for powf: NaNs, infinities, subnormals included) and ``--n``
inputs evenly spaced over the ranges the schedules use (cos on (0, 3.3] -- denser than
the float32 above 2 --, log on (0, 100], exp on (-100, 90]; pow with bases evenly spaced
in (0, 2] and exponents in [0, 10**6], half of them log-uniform from 10**-6), each
compared bit for bit (NaN payloads included) with the C library called through ctypes.
Prints the mismatches and the CPU time of both.  Needs x86_64 glibc with FMA and AVX2,
where glibc runs the builds the kernels reproduce.

Speed: CPU time (``time.process_time``) per call for one np.float32 scalar and per
element for a 10**6-element array, refimpl.kernels.glibc and refimpl.numpy_ops's correctly
rounded cos/log/exp/power measured interleaved (ours, theirs, ours, ...); the median and
range over the rounds.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl import numpy_ops
from refimpl.kernels.glibc import cosf, expf, logf, powf

KERNELS: dict[str, Callable[..., Any]] = {"expf": expf, "logf": logf, "cosf": cosf, "powf": powf}
LIBM = ctypes.CDLL(ctypes.util.find_library("m"))


class _Float(ctypes.c_float):
    """Passed and returned as raw bits (ctypes converts no subclass to a Python float)."""


def libm(name: str, *args: np.ndarray) -> np.ndarray:
    """The C library's ``name`` elementwise.  Python floats carry the values through
    ctypes (fast); NaN inputs go as raw bits, keeping signalling NaNs signalling."""
    fast = getattr(LIBM, name)
    fast.argtypes = [ctypes.c_float] * len(args)
    fast.restype = ctypes.c_float
    out = np.array(list(map(fast, *(a.tolist() for a in args))), np.float32)
    nan = np.flatnonzero(np.logical_or.reduce([np.isnan(a) for a in args]))
    if nan.size:
        raw = getattr(LIBM, name)
        raw.argtypes = [_Float] * len(args)
        raw.restype = _Float
        for i in nan.tolist():
            bits = [_Float.from_buffer_copy(a[i : i + 1].tobytes()) for a in args]
            out[i : i + 1] = np.frombuffer(bytes(raw(*bits)), np.float32)
    return out


def random_bits(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)


def inputs(name: str, n: int, rng: np.random.Generator) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """(label, arguments) of the two scans of ``name``."""
    if name == "powf":
        bases = np.linspace(0, 2, n + 1)[1:].astype(np.float32)
        exponents = np.concatenate(
            [
                np.exp(rng.uniform(np.log(1e-6), np.log(1e6), n // 2)),
                rng.uniform(0, 1e6, n - n // 2),
            ]
        )
        return [
            ("all bit patterns", (random_bits(rng, n), random_bits(rng, n))),
            (
                "bases (0, 2] evenly spaced, exponents in [0, 1e6] (half log-uniform)",
                (rng.permutation(bases), exponents.astype(np.float32)),
            ),
        ]
    low, high = {"expf": (-100.0, 90.0), "logf": (0.0, 100.0), "cosf": (0.0, 3.3)}[name]
    dense = np.linspace(low, high, n + 1)[1:].astype(np.float32)
    return [
        ("all bit patterns", (random_bits(rng, n),)),
        (f"({low:g}, {high:g}] evenly spaced", (dense,)),
    ]


def scan(n: int) -> None:
    rng = np.random.default_rng(2026)
    for name, kernel in KERNELS.items():
        for label, args in inputs(name, n, rng):
            start = time.process_time()
            ours = kernel(*args)
            ours_seconds = time.process_time() - start
            start = time.process_time()
            theirs = libm(name, *args)
            libm_seconds = time.process_time() - start
            bad = np.flatnonzero(ours.view(np.uint32) != theirs.view(np.uint32))
            examples = [
                (*(float(a[i]).hex() for a in args), float(ours[i]).hex(), float(theirs[i]).hex())
                for i in bad[:3]
            ]
            print(
                f"{name} {label}: {args[0].size:,} inputs, {bad.size} mismatches"
                f"{' ' + str(examples) if bad.size else ''}; CPU {ours_seconds:.1f} s "
                f"(libm through ctypes {libm_seconds:.1f} s)",
                flush=True,
            )


def speed(rounds: int) -> None:
    rng = np.random.default_rng(7)
    size = 10**6
    f32 = np.float32
    fraction = rng.uniform(0, 1, size).astype(f32)
    cases = [  # (label, ours, numpy_ops's, the scalar call's arguments, the array call's)
        ("expf", expf, numpy_ops.exp, (f32(-3.7),), (rng.uniform(-100, 90, size).astype(f32),)),
        ("logf", logf, numpy_ops.log, (f32(37.5),), (rng.uniform(0, 100, size).astype(f32),)),
        ("cosf", cosf, numpy_ops.cos, (f32(2.1),), (rng.uniform(0, 3.3, size).astype(f32),)),
        (
            "powf, decay_rate ** p",
            powf,
            numpy_ops.power,
            (f32(0.96), f32(12.3)),
            (f32(0.96), 100 * fraction),
        ),
        (
            "powf, (1 - p) ** power",
            powf,
            numpy_ops.power,
            (f32(0.25), f32(2.0)),
            (fraction, f32(2.0)),
        ),
    ]
    print(f"\nCPU time, median (range) over {rounds} interleaved rounds:")
    for name, ours, theirs, scalars, arrays in cases:
        for label, args, reps, unit, scale in (
            ("one scalar", scalars, 2000, "us/call", 1e6 / 2000),
            ("10**6 array", arrays, 1, "ns/element", 1e9 / size),
        ):
            times: dict[str, list[float]] = {"ours": [], "numpy_ops": []}
            for _ in range(rounds):
                for who, function in (("ours", ours), ("numpy_ops", theirs)):
                    start = time.process_time()
                    for _ in range(reps):
                        function(*args)
                    times[who].append((time.process_time() - start) * scale)
            ratio = np.array(times["ours"]) / np.array(times["numpy_ops"])
            o, t = np.median(times["ours"]), np.median(times["numpy_ops"])
            print(
                f"  {name} {label}: ours {o:.1f} ({min(times['ours']):.1f}-{max(times['ours']):.1f})"
                f" {unit}, numpy_ops {t:.1f} ({min(times['numpy_ops']):.1f}-"
                f"{max(times['numpy_ops']):.1f}); ratio {np.median(ratio):.1f} "
                f"({ratio.min():.1f}-{ratio.max():.1f})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**7, help="inputs per scan (default 10**7)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--no-scan", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    if not args.no_scan:
        scan(args.n)
    if not args.no_speed:
        speed(args.rounds)


if __name__ == "__main__":
    main()
