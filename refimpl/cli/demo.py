"""``lr-refimpl demo``: the lesson's schedules at every epoch's first and last step."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from refimpl.cli.subjects import RunShape
from refimpl.lesson import LESSON, steps_per_epoch

__all__ = ["add_parser", "lesson_rates", "run"]


def lesson_rates(
    samples: int = 60_000, batch_size: int = 64, epochs: int = 5
) -> tuple[list[int], dict[str, list[float]]]:
    """Each lesson configuration's rate at each epoch's first and last step."""
    per_epoch = steps_per_epoch(samples, batch_size)
    edges = [s for e in range(epochs) for s in (e * per_epoch, (e + 1) * per_epoch - 1)]
    rates: dict[str, list[float]] = {}
    for config in LESSON:
        if config.schedule is not None:
            rates[config.key] = [float(v) for v in config.schedule()(np.array(edges))]
        elif config.epoch_function is not None:
            lr, per = config.learning_rate, []
            for epoch in range(epochs):  # Keras 3: called at the start of every epoch
                lr = float(np.float32(config.epoch_function(epoch, lr)))
                per += [lr, lr]
            rates[config.key] = per
        else:
            rates[config.key] = [float(np.float32(config.learning_rate))] * len(edges)
    return edges, rates


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="the lesson's schedules over its 5 epochs (a table)")
    p.add_argument("--samples", type=int, default=60_000, help="training samples (default 60000)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--epochs", type=int, default=5, help="epochs (default 5)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    shape = RunShape(args.samples, args.batch_size, args.epochs)  # checks the options
    edges, rates = lesson_rates(args.samples, args.batch_size, args.epochs)
    print(shape.describe() + "\n")
    for config in LESSON:
        print(f"  {config.key:<13} {config.label}\n  {'':<13} {config.formula}")
    header = f"\n{'step':>6} {'epoch':>5}  " + "  ".join(f"{c.key:>12}" for c in LESSON)
    print(header)
    for i, step in enumerate(edges):
        row = "  ".join(f"{rates[c.key][i]:>12.6g}" for c in LESSON)
        print(f"{step:>6} {i // 2 + 1:>5}  {row}")
    print(
        "\nValues are refimpl's float32 rates, computed as Keras computes them.  "
        "`lr-refimpl table NAME ...` shows any schedule at any step, with its float64 value "
        "and the ulps between them."
    )
    return 0
