"""Time refimpl's schedules against Keras's built-ins, interleaved in one run; print ratios.

    .venv/bin/python benchmarks/schedules.py [--quick]

(a) the lesson's plot, 5,000 steps: refimpl vectorised vs Keras vectorised (one call on
    a tensor of steps), and vs the lesson's Python loop over Keras
    (``[lr_schedule(step) for step in range(5000)]``);
(b) 10**6 steps in one call, both vectorised;
(c) scalar calls, two ways: *consecutive* steps ``k, k + 1, ...`` (a training loop, the
    lesson's plotting loop: refimpl serves these from its memo of 512-step blocks, the
    cost of building the blocks included) and *cold* steps in random order (no two
    consecutive: every refimpl call evaluates the formula on its own).

Method: timeit's.  Each figure is the best, over several rounds, of the mean time per
call over a block of calls; within a round refimpl's block and Keras's block run back to
back, so both are measured under the same machine load, each in its steady state
(calling the two alternately one call at a time would measure neither: TensorFlow's
thread pool keeps spinning for a while after each op, and the caches are cold).
Goals (issue 2): (a) >= 20x and >= 1000x, (b) >= 2x, (c) >= 100x.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
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


#: A block makes some calls and returns (seconds they took, number of calls).
Block = Callable[[], tuple[float, int]]


def interleaved(ours: Block, theirs: Block, rounds: int) -> tuple[float, float]:
    """Best seconds per call of each, their blocks back to back in every round."""
    ours(), theirs()  # warm up (TensorFlow traces and allocates on first use)
    a, b = [], []
    for _ in range(rounds):
        seconds, calls = ours()
        a.append(seconds / calls)
        seconds, calls = theirs()
        b.append(seconds / calls)
    return min(a), min(b)


def repeat(fn: Callable[[], object], calls: int) -> Block:
    def block() -> tuple[float, int]:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - t0, calls

    return block


def over(fn: Callable[[int], object], runs: Iterator[list[int]]) -> Block:
    """A block calling ``fn`` on each step of the next run (drawn before the clock starts)."""

    def block() -> tuple[float, int]:
        run = next(runs)
        t0 = time.perf_counter()
        for step in run:
            fn(step)
        return time.perf_counter() - t0, len(run)

    return block


def consecutive(calls: int) -> Iterator[list[int]]:
    """Runs of consecutive steps, each run starting at a new step (a fresh memo)."""
    start = 4689
    while True:
        yield list(range(start, start + calls))
        start += 2 * calls + 7


def cold(calls: int, seed: int) -> Iterator[list[int]]:
    """Random steps in [0, 10**6) with no step following its predecessor by one."""
    rng = np.random.default_rng(seed)
    while True:
        steps = rng.integers(0, 10**6, 2 * calls)
        keep = np.diff(steps, prepend=-10) != 1
        yield steps[keep][:calls].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds; the Keras loop over 500 steps x10"
    )
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    rounds = 3 if args.quick else 7
    loop_steps = 500 if args.quick else 5000
    print(f"numpy {np.__version__}, tensorflow {tf.__version__}, keras {keras.__version__}")
    print(f"best of {rounds} rounds; times per call; ratio = Keras / refimpl")
    header = (
        f"{'schedule':<24}{'5k vec ref':>11}{'keras':>9}{'ratio':>7}{'loop keras':>11}"
        f"{'ratio':>8}{'1e6 ref':>9}{'keras':>9}{'ratio':>7}{'consec ref':>11}{'keras':>9}"
        f"{'ratio':>7}{'cold ref':>9}{'keras':>9}{'ratio':>6}"
    )
    print(header)
    for name, config in CONFIGS.items():
        row = measure(
            getattr(ref, name)(**config),
            getattr(keras.optimizers.schedules, name)(**config),
            rounds,
            loop_steps,
        )
        a_ref, a_keras, loop, b_ref, b_keras, c_ref, c_keras, d_ref, d_keras = row
        print(
            f"{name:<24}{a_ref * 1e3:>9.3f}ms{a_keras * 1e3:>7.3f}ms{a_keras / a_ref:>6.1f}x"
            f"{loop:>10.2f}s{loop / a_ref:>7.0f}x"
            f"{b_ref * 1e3:>7.2f}ms{b_keras * 1e3:>7.2f}ms{b_keras / b_ref:>6.2f}x"
            f"{c_ref * 1e6:>9.2f}us{c_keras * 1e6:>7.1f}us{c_keras / c_ref:>6.0f}x"
            f"{d_ref * 1e6:>7.1f}us{d_keras * 1e6:>7.1f}us{d_keras / d_ref:>5.0f}x"
        )


def measure(ours: Any, theirs: Any, rounds: int, loop_steps: int) -> tuple[float, ...]:
    """(a) 5k vectorised, the lesson's loop; (b) 10**6; (c) consecutive and cold scalars."""
    import tensorflow as tf

    s5k, s1m = np.arange(5000), np.arange(10**6)
    t5k, t1m = tf.constant(s5k), tf.constant(s1m)
    a_ref, a_keras = interleaved(
        repeat(lambda: ours(s5k), 100), repeat(lambda: theirs(t5k).numpy(), 20), rounds
    )
    t0 = time.perf_counter()
    _ = [theirs(step) for step in range(loop_steps)]
    loop = (time.perf_counter() - t0) * (5000 / loop_steps)
    b_ref, b_keras = interleaved(
        repeat(lambda: ours(s1m), 3), repeat(lambda: theirs(t1m).numpy(), 3), rounds
    )
    c_ref, c_keras = interleaved(
        over(ours, consecutive(2048)), over(theirs, consecutive(100)), rounds
    )
    d_ref, d_keras = interleaved(over(ours, cold(1000, 0)), over(theirs, cold(100, 1)), rounds)
    return a_ref, a_keras, loop, b_ref, b_keras, c_ref, c_keras, d_ref, d_keras


if __name__ == "__main__":
    main()
