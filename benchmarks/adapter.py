"""Time keras_adapter against Keras's built-in schedules inside a compiled ``fit``.

    .venv/bin/python benchmarks/adapter.py [--quick]

(a) The tutorial CNN (Conv2D 32 -> Conv2D 16 -> Flatten -> Dense 10 softmax, 28x28x1
    inputs, batch 64, SGD), trained by ``model.fit`` with Keras's default compilation
    (``jit_compile="auto"``: a ``tf.function`` graph on a CPU-only machine), once with
    the adapter schedule and once with the Keras built-in of the same config.  After a
    warm-up epoch each (tracing), rounds of ``--steps`` steps alternate adapter /
    built-in, so both see the same machine load; we report the median and best time per
    step of each and the ratios (the best is the least noisy under load).  Goal (issue 3): the adapter costs no more than the
    built-in within noise.  ``TimeBasedDecay`` is compared with the built-in that equals
    it, ``InverseTimeDecay(lr, 1, decay)``.
(a2) The schedule alone inside a ``tf.function`` (``tf.while_loop`` over int64 steps):
    the per-evaluation cost the train step pays, free of the CNN's noise.
(b) The ``lr-refimpl parity`` command's throughput (configs x steps per second), eager
    and graph mode, over every schedule.

Synthetic data (uniform 0-255 pixels, random labels): only the time matters here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

CASES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    # name: (adapter class, config, built-in class, built-in config)
    "ExponentialDecay": (
        "ExponentialDecay",
        {"initial_learning_rate": 0.001, "decay_steps": 500, "decay_rate": 0.98, "staircase": True},
        "ExponentialDecay",
        {"initial_learning_rate": 0.001, "decay_steps": 500, "decay_rate": 0.98, "staircase": True},
    ),
    "CosineDecay": (
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 4690,
            "alpha": 0.1,
            "warmup_target": 0.001,
            "warmup_steps": 100,
        },
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 4690,
            "alpha": 0.1,
            "warmup_target": 0.001,
            "warmup_steps": 100,
        },
    ),
    "CosineDecayRestarts": (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.001, "first_decay_steps": 500},
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.001, "first_decay_steps": 500},
    ),
    "TimeBasedDecay": (
        "TimeBasedDecay",
        {"initial_learning_rate": 0.001, "decay": 0.0002},
        "InverseTimeDecay",
        {"initial_learning_rate": 0.001, "decay_steps": 1, "decay_rate": 0.0002},
    ),
}


def tutorial_cnn(keras: Any, schedule: Any) -> Any:
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            keras.layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit_timings(steps: int, rounds: int, cases: list[str]) -> None:
    import keras

    import keras_adapter

    rs = np.random.RandomState(0)
    x = rs.randint(0, 256, size=(64 * steps, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(rs.randint(0, 10, size=64 * steps), 10)
    print(f"(a) tutorial CNN, compiled fit, batch 64, {rounds} interleaved rounds of {steps} steps")
    print(f"    {'schedule':<22}{'adapter ms/step':>22}{'built-in ms/step':>22}{'ratio':>16}")
    print(f"    {'':<22}{'best (median)':>22}{'best (median)':>22}{'best (median)':>16}")
    for name in cases:
        adapter_cls, adapter_cfg, builtin_cls, builtin_cfg = CASES[name]
        keras.utils.set_random_seed(0)
        ours = tutorial_cnn(keras, keras_adapter.ADAPTERS[adapter_cls](**adapter_cfg))
        keras.utils.set_random_seed(0)
        theirs = tutorial_cnn(
            keras, getattr(keras.optimizers.schedules, builtin_cls)(**builtin_cfg)
        )
        assert ours.jit_compile == theirs.jit_compile
        for model in (ours, theirs):  # warm up: trace and run one epoch
            model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
        times: dict[str, list[float]] = {"adapter": [], "builtin": []}
        for _ in range(rounds):
            for label, model in (("adapter", ours), ("builtin", theirs)):
                start = time.perf_counter()
                model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
                times[label].append((time.perf_counter() - start) / steps * 1e3)
        a, b = times["adapter"], times["builtin"]
        ma, mb = statistics.median(a), statistics.median(b)
        print(
            f"    {name:<22}{min(a):>13.2f} ({ma:6.2f}){min(b):>13.2f} ({mb:6.2f})"
            f"{min(a) / min(b):>8.3f} ({ma / mb:5.3f})"
        )
        spread = (max(b) - min(b)) / statistics.median(b)
        print(
            f"    {'':<22}built-in round-to-round spread: {spread:.1%}"
            f"; jit_compile={ours.jit_compile}"
        )


def in_graph_cost(calls: int, rounds: int, cases: list[str]) -> None:
    """The schedule alone, compiled: a tf.function evaluating it at ``calls`` successive
    int64 steps in a ``tf.while_loop`` (the op a train step runs once), best of rounds."""
    import keras
    import tensorflow as tf

    import keras_adapter

    print(
        f"(a2) schedule alone inside tf.function: {calls} evaluations in a while loop, "
        f"best of {rounds}"
    )
    print(f"    {'schedule':<22}{'adapter us/call':>18}{'built-in us/call':>18}{'ratio':>8}")
    for name in cases:
        adapter_cls, adapter_cfg, builtin_cls, builtin_cfg = CASES[name]
        pair = {
            "adapter": keras_adapter.ADAPTERS[adapter_cls](**adapter_cfg),
            "builtin": getattr(keras.optimizers.schedules, builtin_cls)(**builtin_cfg),
        }
        loops = {}
        for label, schedule in pair.items():

            def loop(n: Any, schedule: Any = schedule) -> Any:
                def body(i: Any, acc: Any) -> Any:
                    return i + 1, acc + tf.cast(schedule(i), tf.float32)

                return tf.while_loop(lambda i, acc: i < n, body, (tf.constant(0, tf.int64), 0.0))[1]

            loops[label] = tf.function(loop)
            loops[label](tf.constant(calls, tf.int64))  # trace
        best = {"adapter": float("inf"), "builtin": float("inf")}
        for _ in range(rounds):
            for label, fn in loops.items():
                start = time.perf_counter()
                fn(tf.constant(calls, tf.int64)).numpy()
                best[label] = min(best[label], (time.perf_counter() - start) / calls * 1e6)
        print(
            f"    {name:<22}{best['adapter']:>18.2f}{best['builtin']:>18.2f}"
            f"{best['adapter'] / best['builtin']:>8.3f}"
        )


def parity_throughput(configs: int, steps: int) -> None:
    from keras_adapter import parity
    from refimpl.schedules import EXTRA_SCHEDULES, KERAS_SCHEDULES

    names = [*KERAS_SCHEDULES, *EXTRA_SCHEDULES]
    print(
        f"(b) lr-refimpl parity, all 12 schedules, both dtypes, --configs {configs} --steps {steps}"
    )
    for mode in ("eager", "graph"):
        start = time.perf_counter()
        rows = parity.compare(names, n_configs=configs, n_steps=steps, mode=mode)
        seconds = time.perf_counter() - start
        total = sum(r.steps for r in rows)
        print(
            f"    mode={mode}: {total} config-steps in {seconds:.1f} s = "
            f"{total / seconds:.0f} config-steps/s ({'all ok' if all(r.ok for r in rows) else 'NOT ok'})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and cases")
    args = parser.parse_args()
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs")
    if args.quick:
        fit_timings(steps=20, rounds=3, cases=["ExponentialDecay", "TimeBasedDecay"])
        in_graph_cost(calls=2000, rounds=3, cases=list(CASES))
        parity_throughput(configs=2, steps=8)
    else:
        fit_timings(steps=40, rounds=9, cases=list(CASES))
        in_graph_cost(calls=10_000, rounds=7, cases=list(CASES))
        parity_throughput(configs=5, steps=16)


if __name__ == "__main__":
    main()
