"""Scan refimpl.kernels.xla_cpu against XLA:CPU over millions of float32 inputs.

    PYTHONPATH=. python benchmarks/scan_kernels.py [--n 2000000] [--seed 0]

For each kernel: random 32-bit patterns (every sign, exponent, NaN payload), uniform
values in the range schedules use, and a dense sweep of consecutive floats around the
branch points; XLA computes them as one float32 vector per chunk under
``tf.function(jit_compile=True)`` (XLA:CPU runs the same instructions per element for
vectors and scalars; a sample is re-checked with scalar calls).  Prints the number of
inputs whose result bits differ, and the first few.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def _sweep(center: float, count: int) -> np.ndarray:
    start = np.float32(center).view(np.uint32).astype(np.int64) - count // 2
    return (start + np.arange(count)).astype(np.uint32).view(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000, help="random inputs per kernel")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import tensorflow as tf

    from refimpl.kernels import xla_cpu

    rng = np.random.default_rng(args.seed)
    kernels = {
        "log_f32": (tf.math.log, (0.0, 3.0), (1.0, 0.70710677, 0.5, 2.0, 1.17549435e-38)),
        "exp_f32": (tf.math.exp, (-90.0, 90.0), (0.0, 88.72284, -87.33655, 0.34657359, -87.8)),
    }
    for name, (op, (low, high), centers) in kernels.items():
        emulate = getattr(xla_cpu, name)
        vector = tf.function(op, jit_compile=True)
        scalar = tf.function(op, jit_compile=True)
        half = args.n // 2
        xs = np.concatenate(
            [
                rng.integers(0, 2**32, half, dtype=np.uint64).astype(np.uint32).view(np.float32),
                rng.uniform(low, high, args.n - half).astype(np.float32),
                *[_sweep(c, 200_000) for c in centers],
            ]
        )
        t0 = time.process_time()
        want = np.concatenate(
            [
                vector(tf.constant(chunk)).numpy()
                for chunk in np.array_split(xs, max(1, xs.size // 2**20))
            ]
        )
        got = emulate(xs)
        bad = got.view(np.uint32) != want.view(np.uint32)
        sample = rng.choice(xs.size, 2000, replace=False)
        one_by_one = np.array([scalar(tf.constant(xs[i])).numpy() for i in sample], np.float32)
        scalar_vs_vector = int((one_by_one.view(np.uint32) != want[sample].view(np.uint32)).sum())
        print(
            f"{name}: {xs.size:,} inputs, {int(bad.sum())} with different bits "
            f"(scalar vs vector XLA calls on a sample of 2,000: {scalar_vs_vector} differ; "
            f"{time.process_time() - t0:.0f} s CPU)"
        )
        for x, g, w in list(zip(xs[bad], got[bad], want[bad]))[:5]:
            print(
                f"    x={x!r} (0x{x.view(np.uint32):08x}) xla=0x{w.view(np.uint32):08x} refimpl=0x{g.view(np.uint32):08x}"
            )


if __name__ == "__main__":
    main()
