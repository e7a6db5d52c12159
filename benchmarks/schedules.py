"""Time refimpl's schedules against Keras's built-ins, interleaved in one run; print ratios.

    .venv/bin/python benchmarks/schedules.py [--quick]

(a) the lesson's plot, 5,000 steps: refimpl vectorised vs Keras vectorised (one call on
    a tensor of steps), and vs the lesson's Python loop over Keras
    (``[lr_schedule(step) for step in range(5000)]``);
(b) 10**6 steps in one call, both vectorised;
(c) one scalar call (Keras eager).
Each figure is the best of several repeats, refimpl and Keras alternating, so the
ratios are measured under the same machine load.  Goals (issue 2): (a) >= 20x and
>= 1000x, (b) >= 2x, (c) >= 100x.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from refimpl import schedules as ref

CONFIGS = {
    "ExponentialDecay": dict(
        initial_learning_rate=0.001, decay_steps=500, decay_rate=0.98, staircase=True
    ),
    "PiecewiseConstantDecay": dict(
        boundaries=[1000, 2000, 3000], values=[0.003, 0.002, 0.001, 0.0001]
    ),
    "PolynomialDecay": dict(
        initial_learning_rate=0.003, decay_steps=5000, end_learning_rate=0.001, power=1.5
    ),
    "InverseTimeDecay": dict(initial_learning_rate=0.003, decay_steps=100, decay_rate=0.5),
    "CosineDecay": dict(initial_learning_rate=0.001, decay_steps=4690, alpha=0.1),
    "CosineDecayRestarts": dict(initial_learning_rate=0.001, first_decay_steps=500),
}


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(
    ours: Callable[[], object], theirs: Callable[[], object], repeats: int
) -> tuple[float, float]:
    ours(), theirs()  # warm up (TensorFlow traces and allocates on first use)
    a, b = [], []
    for _ in range(repeats):
        a.append(best(ours, 1))
        b.append(best(theirs, 1))
    return min(a), min(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats; loop over 500 steps x10"
    )
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    reps = 3 if args.quick else 7
    loop_steps = 500 if args.quick else 5000
    print(f"numpy {np.__version__}, tensorflow {tf.__version__}, keras {keras.__version__}")
    print(
        f"{'schedule':<24}{'5k vec ref':>11}{'5k vec keras':>13}{'ratio':>8}{'loop keras':>11}{'ratio':>9}"
        f"{'1e6 ref':>9}{'1e6 keras':>10}{'ratio':>7}{'scalar ref':>11}{'scalar keras':>13}{'ratio':>7}"
    )
    for name, config in CONFIGS.items():
        row = measure(
            getattr(ref, name)(**config),
            getattr(keras.optimizers.schedules, name)(**config),
            reps,
            loop_steps,
        )
        a_ref, a_keras, loop, b_ref, b_keras, c_ref, c_keras = row
        print(
            f"{name:<24}{a_ref * 1e3:>9.3f}ms{a_keras * 1e3:>11.3f}ms{a_keras / a_ref:>7.1f}x"
            f"{loop:>10.2f}s{loop / a_ref:>8.0f}x{b_ref * 1e3:>7.2f}ms{b_keras * 1e3:>8.2f}ms"
            f"{b_keras / b_ref:>6.2f}x{c_ref * 1e6:>9.1f}us{c_keras * 1e6:>11.1f}us{c_keras / c_ref:>6.0f}x"
        )


def measure(ours: Any, theirs: Any, reps: int, loop_steps: int) -> tuple[float, ...]:
    """(a) 5k vectorised, the lesson's loop; (b) 10**6 vectorised; (c) one scalar call."""
    import tensorflow as tf

    s5k, s1m = np.arange(5000), np.arange(10**6)
    t5k, t1m = tf.constant(s5k), tf.constant(s1m)
    a_ref, a_keras = interleaved(lambda: ours(s5k), lambda: theirs(t5k).numpy(), reps * 3)
    t0 = time.perf_counter()
    _ = [theirs(step) for step in range(loop_steps)]
    loop = (time.perf_counter() - t0) * (5000 / loop_steps)
    b_ref, b_keras = interleaved(lambda: ours(s1m), lambda: theirs(t1m).numpy(), reps)
    c_ref = best(lambda: [ours(4689) for _ in range(1000)], reps) / 1000
    c_keras = best(lambda: [theirs(4689) for _ in range(100)], reps) / 100
    return a_ref, a_keras, loop, b_ref, b_keras, c_ref, c_keras


if __name__ == "__main__":
    main()
