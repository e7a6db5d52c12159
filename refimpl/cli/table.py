"""``lr-refimpl table NAME --steps ...``: a schedule's values at given steps, labelled.

For each step the columns of :data:`COLUMNS`: the value refimpl computes in the
schedule's dtype (float32 for a float initial rate: Keras's arithmetic, in Keras's order
of operations, as the eager call ``schedule(step)`` gives it), the float64 "true math"
value (``schedule.exact``) and the distance between them in ulps of the compute dtype.
Where the rate ``model.fit`` applies differs from the eager one -- graph mode, a CPU's
default, and XLA (``jit_compile=True``) -- its column follows refimpl's
(:data:`MODE_COLUMNS`).  Below the table, each column's meaning, refimpl's documented
bound against TensorFlow's eager call (which this table does not run: ``lr-refimpl
parity`` does), and a line per compiled mode naming each decision it takes
differently (a stair, a boundary, a restart, a NaN).

NAME is a schedule class; its constructor arguments are options spelled with dashes
(``--initial-learning-rate 0.001 --decay-steps 500 --decay-rate 0.98 --staircase``;
lists as ``--boundaries 1000,2000,3000``), checked by the schedule's own validation
(``NAME --help`` lists them); or ``--from-config FILE`` reads a serialized schedule, an
optimizer or model config, or a ``.keras`` model file (NAME is then optional).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from refimpl.cli import common
from refimpl.cli.common import MAX_MODE_STEPS, MAX_STEPS, CommandError, check_step_count
from refimpl.cli.subjects import add_subject_arguments, build_schedule, show_help
from refimpl.comparison import ulp_distance
from refimpl.modes import COMPILED_MODES, differences
from refimpl.modes.differences import rates_in
from refimpl.schedules import LearningRateSchedule

__all__ = [
    "COLUMNS",
    "MAX_MODE_STEPS",
    "MAX_STEPS",
    "MODE_COLUMNS",
    "Column",
    "add_parser",
    "bound_note",
    "columns_for",
    "format_table",
    "mode_notes",
    "mode_rates",
    "parse_steps",
    "run",
]


def parse_steps(text: str) -> np.ndarray:
    """``"0,937,938"`` or a range ``"0:4690"`` (``start:stop[:step]``) as int64 steps.

    Raises :class:`~refimpl.cli.common.CommandError` (one line, for the command line)
    for anything else: no integers, an empty range, a range step of 0, a number
    outside int64, more than ``MAX_STEPS`` steps.

    >>> parse_steps("0,937,938").tolist(), parse_steps("0:10:5").tolist()
    ([0, 937, 938], [0, 5])
    >>> parse_steps("0:10:0")
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --steps: the step of a range must not be 0. Received: '0:10:0'
    >>> parse_steps("10:0")
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --steps names no step. Received: '10:0'
    """
    usage = f"--steps must be comma-separated integers or start:stop[:step]. Received: {text!r}"
    try:
        parts = [int(p) for p in text.split(":" if ":" in text else ",") if p.strip()]
    except ValueError:
        raise CommandError(usage) from None
    if ":" in text:
        if not 2 <= len(parts) <= 3:
            raise CommandError(usage)
        if len(parts) == 3 and parts[2] == 0:
            raise CommandError(f"--steps: the step of a range must not be 0. Received: {text!r}")
        count = len(range(*parts))
    else:
        count = len(parts)
    if count == 0:
        raise CommandError(f"--steps names no step. Received: {text!r}")
    check_step_count(count, f"--steps {text}")
    if any(not -(2**63) <= p < 2**63 for p in parts):
        raise CommandError(f"--steps: a step is outside the int64 range. Received: {text!r}")
    if ":" in text:
        return np.arange(*parts, dtype=np.int64)
    return np.array(parts, dtype=np.int64)


@dataclass(frozen=True)
class Column:
    """One column of the table: its header (``{dtype}`` is the schedule's compute
    dtype), what it holds (printed below the table), how it is computed from the
    schedule and the steps, and how a value is printed."""

    header: str
    meaning: str
    compute: Callable[[LearningRateSchedule, np.ndarray], np.ndarray]
    spec: str
    width: int


def _refimpl(schedule: LearningRateSchedule, steps: np.ndarray) -> np.ndarray:
    return np.asarray(schedule(steps))


def _exact(schedule: LearningRateSchedule, steps: np.ndarray) -> np.ndarray:
    return np.asarray(schedule.exact(steps), dtype=np.float64)


def _ulps(schedule: LearningRateSchedule, steps: np.ndarray) -> np.ndarray:
    value = _refimpl(schedule, steps)
    dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return ulp_distance(value, _exact(schedule, steps).astype(dtype), dtype)


#: The columns ``lr-refimpl table`` prints, in order.
COLUMNS: tuple[Column, ...] = (
    Column(
        "refimpl {dtype}",
        "refimpl's value in the schedule's dtype, computed as Keras computes it",
        _refimpl,
        ".9g",
        16,
    ),
    Column("exact float64", "schedule.exact(step): the formula in float64", _exact, ".17g", 22),
    Column("ulps apart", "between the two, in ulps of the compute dtype", _ulps, "d", 10),
)


def _mode_column(mode: str, meaning: str) -> Column:
    def compute(schedule: LearningRateSchedule, steps: np.ndarray) -> np.ndarray:
        return rates_in(schedule, steps, mode)

    return Column(f"{mode} float32", meaning, compute, ".9g", 16)


#: The compiled modes' columns, shown where their rates differ from refimpl's eager one.
MODE_COLUMNS: tuple[Column, ...] = (
    _mode_column(
        "graph", "the rate model.fit applies on a CPU (the default compile: mode='graph')"
    ),
    _mode_column("xla", "the rate model.fit applies with jit_compile=True (a GPU's default)"),
)


def mode_rates(schedule: LearningRateSchedule, at: np.ndarray) -> dict[str, np.ndarray]:
    """The float32 rates at ``at`` of the eager call and of each compiled mode."""
    return {mode: rates_in(schedule, at, mode) for mode in ("eager", *COMPILED_MODES)}


def mode_notes(
    schedule: LearningRateSchedule, at: np.ndarray, rates: dict[str, np.ndarray] | None = None
) -> list[str]:
    """How the rates ``model.fit`` applies in graph and XLA mode differ from the eager
    call at the steps ``at`` (``rates``: :func:`mode_rates`, computed if not given): a
    line per mode, naming each decision that differs.

    >>> from refimpl.schedules import ExponentialDecay
    >>> for line in mode_notes(ExponentialDecay(0.1, 61, 0.5, staircase=True), np.array([60, 61])):
    ...     print(line)
    warning: graph mode decides differently from eager mode at step 61 (the staircase: floor(step / decay_steps)): 0.1 instead of 0.05
    warning: xla mode decides differently from eager mode at step 61 (the staircase: floor(step / decay_steps)): 0.1 instead of 0.05
    """
    rates = mode_rates(schedule, at) if rates is None else rates
    lines = []
    for mode in COMPILED_MODES:
        found = differences.compare(
            schedule, at, mode, "eager", rates=rates[mode], other_rates=rates["eager"]
        )
        if not found:
            lines.append(f"{mode} mode: the same float32 rates as the eager call at these steps")
        for difference in found:
            level = "note" if difference.kind == "rounding" else "warning"
            lines.append(f"{level}: {difference.message}")
    return lines


def _computed(values: np.ndarray) -> Callable[[LearningRateSchedule, np.ndarray], np.ndarray]:
    def compute(schedule: LearningRateSchedule, steps: np.ndarray) -> np.ndarray:
        return values

    return compute


def columns_for(
    schedule: LearningRateSchedule, at: np.ndarray, rates: dict[str, np.ndarray] | None = None
) -> list[Column]:
    """:data:`COLUMNS`, with a compiled mode's column after refimpl's where its rates
    differ from the eager ones at ``at`` (``rates``: :func:`mode_rates`)."""
    rates = mode_rates(schedule, at) if rates is None else rates
    shown = []
    for mode, column in zip(COMPILED_MODES, MODE_COLUMNS, strict=True):
        if not np.array_equal(rates[mode], rates["eager"], equal_nan=True):
            shown.append(replace(column, compute=_computed(rates[mode])))
    return [COLUMNS[0], *shown, *COLUMNS[1:]]


def format_table(
    schedule: LearningRateSchedule, at: np.ndarray, columns: Sequence[Column] = COLUMNS
) -> str:
    """``schedule`` at the steps ``at``: a ``step`` column, then one per column, then a
    line per column saying what it holds.

    >>> from refimpl.schedules import InverseTimeDecay
    >>> print(format_table(InverseTimeDecay(0.003, 100, 0.5), np.array([0, 100])))
          step  refimpl float32           exact float64  ulps apart
             0      0.00300000003    0.003000000000000000           0
           100      0.00200000009   0.0020000000000000000           0
    refimpl float32: refimpl's value in the schedule's dtype, computed as Keras computes it
    exact float64: schedule.exact(step): the formula in float64
    ulps apart: between the two, in ulps of the compute dtype
    """
    dtype = np.asarray(schedule(at[:1])).dtype.name
    headers = [c.header.format(dtype=dtype) for c in columns]
    values = [c.compute(schedule, at).tolist() for c in columns]
    lines = [f"{'step':>10}  " + "  ".join(f"{h:>{c.width}}" for h, c in zip(headers, columns))]
    for i, step in enumerate(at.tolist()):
        cells = (f"{format(v[i], c.spec):>{c.width}}" for v, c in zip(values, columns))
        lines.append(f"{step:>10}  " + "  ".join(cells))
    lines += [f"{h}: {c.meaning}" for h, c in zip(headers, columns)]
    return "\n".join(lines)


def bound_note(schedule: LearningRateSchedule, at: np.ndarray) -> str | None:
    """refimpl's documented bound against TensorFlow's eager call for ``schedule`` at
    the steps ``at``, in words (None for an integer dtype, which has no such bound).

    >>> from refimpl.schedules import CosineDecay, ExponentialDecay
    >>> print(bound_note(ExponentialDecay(0.1, 100, 0.96), np.array([0, 8232])))
    refimpl vs TensorFlow's eager call (not run here; `lr-refimpl parity` runs it): documented to be within 2 ulp (refimpl.comparison.tolerance).
    >>> print(bound_note(CosineDecay(1.0, 100), np.array([0, 50])))
    refimpl vs TensorFlow's eager call (not run here; `lr-refimpl parity` runs it): documented to be within 2 ulp plus 3.87e-07 (refimpl.comparison.tolerance).
    """
    dtype = np.asarray(schedule(at[:1])).dtype
    if dtype.kind != "f":
        return None
    where = "refimpl vs TensorFlow's eager call (not run here; `lr-refimpl parity` runs it)"
    try:
        ulps, atol = schedule.rounding_bound(dtype)
        with np.errstate(all="ignore"):
            slack = float(np.max(atol(at)))
    except ValueError as exc:  # a configuration Keras computes nonsense from
        return f"{where}: {exc}".replace("tolerance: ", "")
    if not math.isfinite(slack):
        return f"{where}: no documented bound for this configuration (it is not finite here)."
    within = f"{ulps} ulp" + (f" plus {slack:.3g}" if slack > 0 else "")
    return (
        "refimpl vs TensorFlow's eager call (not run here; `lr-refimpl parity` runs it): "
        f"documented to be within {within} (refimpl.comparison.tolerance)."
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "table",
        help="a schedule's values at given steps (refimpl in float32, float64, ulps apart)",
        description=__doc__.replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    add_subject_arguments(p, lesson=False)
    p.add_argument("--steps", default="0,937,938,4689", help="e.g. 0,937,938,4689 or 0:4690:469")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.help:
        return show_help(args, lesson=False)
    at = parse_steps(args.steps)
    schedule = build_schedule(args.name, list(args.options), args.from_config)
    print(repr(schedule))
    floating = np.asarray(schedule(at[:1])).dtype.kind == "f"
    compared = floating and at.size <= common.MAX_MODE_STEPS
    rates = mode_rates(schedule, at) if compared else None
    print(format_table(schedule, at, columns_for(schedule, at, rates) if rates else COLUMNS))
    note = bound_note(schedule, at)
    if note:
        print(note)
    if rates:
        for line in mode_notes(schedule, at, rates):
            print(line)
    elif floating:
        print(
            f"graph and xla modes: not compared at more than {common.MAX_MODE_STEPS:,} steps "
            f"(here {at.size:,}); ask for fewer --steps"
        )
    return 0
