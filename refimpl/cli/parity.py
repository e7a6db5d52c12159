"""``lr-refimpl parity``: refimpl, the Keras adapter and the Keras built-in, step by step.

The command line front end: it parses and checks the arguments here (NumPy only), then
runs the comparison in :mod:`keras_adapter.parity` (TensorFlow, Keras and Hypothesis:
the ``keras`` and ``test`` extras), reached through
:func:`refimpl.cli.common.import_extra`.  See :mod:`keras_adapter.parity` for what is
compared and the documented bounds.

Exit status: 0 when every row is within its bound, 1 otherwise, 2 (with a one-line
message) for bad arguments or when TensorFlow or Hypothesis is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from typing import Any

from refimpl.cli.common import CommandError, check_step_count, import_extra

__all__ = ["MODES", "add_parser", "run"]

#: The ways a Keras schedule is evaluated: as ``optimizer.learning_rate`` reads it, or
#: inside the compiled train step (graph: ``model.fit`` on CPU; xla: ``jit_compile=True``).
MODES = ("eager", "graph", "xla")


def add_parser(subparsers: Any) -> None:
    """Register ``parity`` on an ``argparse`` sub-parsers object."""
    from refimpl.schedules import EXTRA_SCHEDULES, KERAS_SCHEDULES

    names = [*KERAS_SCHEDULES, *EXTRA_SCHEDULES]
    parser = subparsers.add_parser(
        "parity",
        help="check refimpl == keras_adapter == Keras built-in, step by step (needs TensorFlow)",
        description=(
            "Draw seeded configurations of each schedule, evaluate refimpl, the Keras "
            "adapter and the TensorFlow built-in at every step of a grid, and print the "
            "worst ulp distance. Exit 0 within the documented bounds, 1 otherwise, 2 on "
            "bad arguments or without TensorFlow (the 'keras' extra) and Hypothesis (the "
            "'test' extra)."
        ),
    )
    parser.add_argument(
        "--schedules",
        nargs="+",
        choices=names,
        default=names,
        metavar="NAME",
        help=f"schedules to check (default: all): {', '.join(names)}",
    )
    parser.add_argument("--configs", type=int, default=10, help="configs per schedule (10)")
    parser.add_argument(
        "--steps", type=int, default=32, help="random steps per config, on top of its edges (32)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of configs and steps (0)")
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64", "both"),
        default="both",
        help="compute dtype(s) (both)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="eager",
        help="eager: as optimizer.learning_rate reads it; graph: inside tf.function as "
        "model.fit runs on CPU; xla: with jit_compile=True (eager)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="hold refimpl to 0 ulp in graph/xla modes too"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the comparison described by ``args``; return the exit status (0 or 1)."""
    for option, minimum in (("configs", 1), ("steps", 0)):
        value = getattr(args, option)
        if value < minimum:
            raise CommandError(f"--{option} must be an integer >= {minimum}. Received: {value}")
    if not 0 <= args.seed < 2**63:
        raise CommandError(f"--seed must be an integer from 0 to 2**63 - 1. Received: {args.seed}")
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    # The step limit of every command, on the steps evaluated (edges not counted).
    check_step_count(
        args.configs * max(args.steps, 1) * len(args.schedules) * len(dtypes),
        f"--configs {args.configs} and --steps {args.steps} for {len(args.schedules)} "
        f"schedule(s) in {len(dtypes)} dtype(s)",
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    comparison = import_extra("keras_adapter.parity", "lr-refimpl parity", also=["hypothesis"])
    start = time.perf_counter()
    rows = comparison.compare(
        args.schedules,
        dtypes=dtypes,
        n_configs=args.configs,
        n_steps=args.steps,
        seed=args.seed,
        mode=args.mode,
        strict=args.strict,
    )
    seconds = time.perf_counter() - start
    if args.json:
        for row in rows:
            print(json.dumps(asdict(row)))
    else:
        print(comparison.format_table(rows))
        print(comparison.summary(rows, seconds, args.mode))
    return 0 if all(r.ok for r in rows) else 1
