"""Measure the worst ulp distances to TensorFlow's scalar-step eager call, per schedule and dtype.

    .venv/bin/python benchmarks/parity_worst_cases.py [--configs 100] [--steps 40]

For each schedule with a TensorFlow oracle it draws ``--configs`` valid configurations
(deterministically, with Hypothesis) and, per configuration, the edge steps plus
``--steps`` random steps up to 2**24, then prints the worst distance in ulps of the
compute dtype between

- refimpl and TensorFlow's scalar call (the reference point), and
- TensorFlow's own vectorised call (one tensor of steps) and its scalar call,

with the step where the worst case occurred.  The README's table is this output.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from refimpl.exceptions import ScheduleWarning
from refimpl.schedules import deserialize
from refimpl.testing import edge_steps, schedule_configs, ulp_distance


def draw_configs(name: str, n: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(schedule_configs(name))
    def collect(config: dict[str, Any]) -> None:
        found.append(config)

    collect()
    return found[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    import tensorflow as tf
    from test_schedules_parity import KERAS_NAMES, ORACLE_NAMES, _in_dtype, tensorflow_reference

    rng = np.random.default_rng(0)
    print(
        f"{'schedule':<24}{'dtype':<9}{'configs':>8}{'steps':>8}  {'refimpl vs TF scalar':>22}"
        f"  {'TF vector vs TF scalar':>24}"
    )
    for name in ORACLE_NAMES:
        for dtype in ("float32", "float64"):
            if dtype == "float64" and name in ("LinearCosineDecay", "NoisyLinearCosineDecay"):
                continue  # TensorFlow raises (float32 pi constant)
            worst_ref, worst_vec, n_steps = (0, None), (0, None), 0
            for config in draw_configs(name, args.configs):
                if name == "NoisyLinearCosineDecay":
                    config["initial_variance"] = 0.0
                if dtype == "float64" and name == "TimeBasedDecay":
                    config = {
                        k: float(np.float32(v)) if k != "name" else v for k, v in config.items()
                    }
                at = np.unique(
                    np.concatenate(
                        [
                            np.array(edge_steps(name, config), np.int64),
                            rng.integers(0, 2**24, args.steps),
                            rng.integers(0, 10_000, args.steps // 2),
                        ]
                    )
                )
                n_steps += at.size
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ScheduleWarning)
                    ours = deserialize({"class_name": name, "config": _in_dtype(config, dtype)})(at)
                scalar_fn = tensorflow_reference(name, config, dtype)
                scalar = np.array([scalar_fn(int(s)) for s in at])
                d = ulp_distance(ours, scalar, dtype)
                i = int(np.argmax(d))
                if d[i] > worst_ref[0]:
                    worst_ref = (int(d[i]), int(at[i]))
                if name in KERAS_NAMES and not (
                    name == "CosineDecay" and config["warmup_target"] is not None
                ):
                    import keras

                    k = getattr(keras.optimizers.schedules, name)(**_in_dtype(config, dtype))
                    vec = k(tf.constant(at)).numpy()
                    dv = ulp_distance(vec, scalar, dtype)
                    j = int(np.argmax(dv))
                    if dv[j] > worst_vec[0]:
                        worst_vec = (int(dv[j]), int(at[j]))
            fmt = lambda w: f"{w[0]} ulp" + (f" (step {w[1]})" if w[1] is not None else "")  # noqa: E731
            vec_text = fmt(worst_vec) if name in KERAS_NAMES else "n/a"
            print(
                f"{name:<24}{dtype:<9}{args.configs:>8}{n_steps:>8}  {fmt(worst_ref):>22}  {vec_text:>24}"
            )


if __name__ == "__main__":
    main()
