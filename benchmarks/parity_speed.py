"""How fast ``lr-refimpl parity --mode graph`` verifies a schedule over a training horizon.

    .venv/bin/python benchmarks/parity_speed.py [--horizon 20000] [--rounds 3]

For each schedule class, one configuration (the first that ``lr-refimpl parity`` draws
with seed 0, float32) is verified at every step ``0 .. horizon - 1`` in graph mode: the
Keras adapter and the Keras built-in evaluated as the compiled train step applies them
(:func:`keras_adapter.oracle.compiled_rates`: one ``tf.function`` looping over the
steps), refimpl's ``mode="graph"`` prediction, and the comparison
(:func:`keras_adapter.parity.compare` with ``horizon``).  Reported: config-steps
verified per second (the issue's goal: >= 20,000), and the same work done as the
previous ``parity --mode graph`` did it -- one ``tf.function`` call per schedule and
step (the peer, on ``--peer-steps`` steps, interleaved round by round).  Ranges over
the rounds; the ratio is peer time per config-step over ours.  Run it alone: the
machine has 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

from keras_adapter import parity
from keras_adapter.schedules import ADAPTERS
from refimpl import schedules as ref
from refimpl.exceptions import ScheduleWarning


def _ours(name: str, horizon: int) -> float:
    """Config-steps per second of one config over ``horizon`` steps in graph mode."""
    start = time.perf_counter()
    (row,) = parity.compare(
        [name], dtypes=("float32",), n_configs=1, n_steps=0, mode="graph", horizon=horizon
    )
    seconds = time.perf_counter() - start
    if not row.ok:
        raise SystemExit(f"{name}: parity failed: {row}")
    return row.steps / seconds


def _peer(name: str, n: int) -> float:
    """The same check as before: one tf.function call per implementation and step."""
    (config,) = parity.draw_configs(name, 1, 0)
    steps = np.arange(n)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        ref.deserialize({"class_name": name, "config": config})(steps, mode="graph")
    for schedule in (ADAPTERS[name].from_config(config), parity._builtin(name, config)):
        if schedule is None:
            continue
        call = tf.function(schedule, reduce_retracing=True)
        for s in steps:
            call(tf.constant(int(s), tf.int64))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=20_000)
    parser.add_argument("--peer-steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--schedules", nargs="+", default=[*ref.KERAS_SCHEDULES, *ref.EXTRA_SCHEDULES]
    )
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")
    print(f"graph mode, float32, one config, horizon {args.horizon:,} steps, {args.rounds} rounds")
    print("| schedule | config-steps/s | peer (per-step calls) | ratio |")
    print("|---|---:|---:|---:|")
    lows = []
    for name in args.schedules:
        ours, peer = [], []
        for _ in range(args.rounds):
            ours.append(_ours(name, args.horizon))
            peer.append(_peer(name, args.peer_steps))
        ratio = [o / p for o, p in zip(ours, peer)]
        lows.append(min(ours))
        print(
            f"| {name} | {min(ours):,.0f}-{max(ours):,.0f} | {min(peer):,.0f}-{max(peer):,.0f} "
            f"| {min(ratio):.0f}-{max(ratio):.0f}x |"
        )
    print(f"slowest schedule: {min(lows):,.0f} config-steps/s (goal >= 20,000)")


if __name__ == "__main__":
    main()
