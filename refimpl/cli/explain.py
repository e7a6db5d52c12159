"""``lr-refimpl explain``: what a schedule does over a real training run, and its traps.

Given the run (``--samples 60000 --batch-size 64 --epochs 5``) and a schedule (a class
name with its constructor arguments as dashed options, as ``lr-refimpl table`` takes
them, ``NAME --help`` lists them; ``--from-config FILE``, JSON or a ``.keras`` model;
one of the lesson's configurations by key, e.g. ``exponential``; ``lesson`` for all
seven; or ``LearningRateScheduler --initial-learning-rate 0.001 --function "lr / 3"``),
it prints the steps per epoch, the total steps, the rate at each epoch's first and last
step, and a warning for each classic trap:

* a schedule horizon (``decay_steps`` of PolynomialDecay, CosineDecay, ...) longer
  than the run, so the rate never reaches its end value, or shorter, so the last
  part of the run trains at the floor;
* a PiecewiseConstantDecay boundary at or beyond the last step (its value is never
  used), and boundaries that are not epoch boundaries;
* ``LearningRateScheduler`` changing the rate already at epoch 0;
* the optimizer's ``decay=``, which Keras 3 ignores;
* the rate training applies (graph and XLA modes) where it differs from the eager call.

What a schedule class warns about itself is its own
:meth:`~refimpl.schedules.LearningRateSchedule.findings`; this module adds what holds
for any schedule (the rate reaching 0, a steep fall, the modes) and the epoch callbacks.

A step is one optimizer update (one batch).  An epoch of ``samples`` images at batch
``B`` is ``ceil(samples / B)`` steps, the last batch possibly partial: 60,000 images at
batch 64 make 938 steps an epoch and 4,690 in five epochs (steps 0..4689), not 5,000.
"""

from __future__ import annotations

import argparse
import math
import warnings
from typing import Any

import numpy as np

from refimpl.cli import common
from refimpl.cli.subjects import (
    RunShape,
    Subject,
    add_subject_arguments,
    resolve_subjects,
    show_help,
)
from refimpl.comparison import ulp_distance
from refimpl.exceptions import ScheduleWarning
from refimpl.modes import COMPILED_MODES, differences
from refimpl.schedules.findings import Finding, at, number, steps
from refimpl.schedules.time_based import decay_argument_findings

__all__ = ["Finding", "add_parser", "epoch_table", "explain_text", "findings", "run"]

#: How far the rate may fall over a run before a warning says later epochs barely learn.
_STEEP_DROP = 100.0


# -- the traps ---------------------------------------------------------------------------
# What each schedule class knows about itself over a run is its ``findings``
# (refimpl.schedules.findings words them); here: what holds for any schedule.


def _scheduler_findings(subject: Subject, shape: RunShape) -> list[Finding]:
    lr0 = float(np.float32(subject.learning_rate))
    per_epoch = subject.epoch_rates(shape.epochs)
    out: list[Finding] = []
    if per_epoch[0] != lr0:
        out.append(
            Finding(
                "warning",
                "Keras's LearningRateScheduler calls the function at the beginning of every "
                f"epoch, epoch 0 included: the first epoch already trains at {number(per_epoch[0])}, "
                f"not at the optimizer's {number(lr0)} (a plot that starts at {number(lr0)} is one "
                "epoch off).",
            )
        )
    out.append(
        Finding(
            "note",
            "the rate changes only between epochs, never within one "
            f"({shape.steps_per_epoch:,} updates at each rate).",
        )
    )
    return out


def _mode_findings(schedule: Any, shape: RunShape) -> list[Finding]:
    """What ``model.fit`` applies in graph mode (a CPU's default) and XLA mode
    (``jit_compile=True``) where it is not the eager call: a warning per decision taken
    differently (a stair, a boundary, a restart, a NaN), a note for rounding."""
    if np.asarray(schedule(np.zeros(1, np.int64))).dtype.kind != "f":
        return []
    if shape.total_steps > common.MAX_MODE_STEPS:
        return [
            Finding(
                "note",
                f"graph and xla modes (what model.fit applies) are not compared over more "
                f"than {common.MAX_MODE_STEPS:,} steps (here {shape.total_steps:,}).",
            )
        ]
    steps = np.arange(shape.total_steps)
    eager = differences.rates_in(schedule, steps, "eager")
    out = []
    for mode in COMPILED_MODES:
        rates = differences.rates_in(schedule, steps, mode)
        found = differences.compare(schedule, steps, mode, "eager", rates=rates, other_rates=eager)
        for difference in found:
            if difference.kind == "rounding":
                apart = int(np.max(ulp_distance(rates, eager, np.float32)))
                out.append(
                    Finding(
                        "note",
                        f"{difference.message}, by up to {apart} float32 ulp ({_MODE_RUNS[mode]}).",
                    )
                )
            else:
                out.append(Finding("warning", f"{difference.message} ({_MODE_RUNS[mode]})."))
    return out


#: Where each compiled mode is what training applies.
_MODE_RUNS = {
    "graph": "model.fit on a CPU applies graph mode",
    "xla": "model.fit with jit_compile=True, a GPU's default",
}


def findings(subject: Subject, shape: RunShape, rates: np.ndarray | None = None) -> list[Finding]:
    """The traps and notes for ``subject`` over the run ``shape``.

    >>> from refimpl.schedules import PolynomialDecay
    >>> s = Subject("p", schedule=PolynomialDecay(0.003, 5000, 0.001, power=1.5))
    >>> [f.level for f in findings(s, RunShape(60_000, 64, 5))]  # the horizon; graph, XLA
    ['warning', 'note', 'note']
    """
    rates = subject.rates(shape) if rates is None else rates
    out = [Finding("warning", w) for w in subject.construction_warnings]
    if subject.epoch_function is not None:
        out += _scheduler_findings(subject, shape)
    elif subject.optimizer_decay:
        out += decay_argument_findings(subject.learning_rate, subject.optimizer_decay, rates)
    elif subject.schedule is not None:
        out += subject.schedule.findings(shape, rates)
        out += _mode_findings(subject.schedule, shape)
    first, final = float(rates[0]), float(rates[-1])
    if first > 0 and final == 0:
        zero = int(np.flatnonzero(rates != 0)[-1]) + 1
        n = len(rates) - zero
        out.append(
            Finding(
                "warning",
                f"the rate is 0 from {at(shape, zero)} on: the last {steps(n)} "
                f"{'does' if n == 1 else 'do'} not change the weights at all.",
            )
        )
    elif first > 0 and final > 0 and first / final >= _STEEP_DROP:
        tenth = int(np.argmax(rates <= first / 10))
        out.append(
            Finding(
                "warning",
                f"the rate falls {first / final:,.0f}-fold over the run (to {number(final)}); it is "
                f"below a tenth of its start from {at(shape, tenth)}, so later epochs barely "
                "move the weights.",
            )
        )
    return out


# -- text --------------------------------------------------------------------------------


def epoch_table(shape: RunShape, rates: np.ndarray) -> str:
    """Each epoch's first and last step and the rate there.

    >>> print(epoch_table(RunShape(4, 2, 2), np.array([1.0, 1.0, 0.5, 0.25])))
    epoch  first step  rate at first  last step   rate at last
        1           0              1          1              1
        2           2            0.5          3           0.25
    """
    lines = [
        f"{'epoch':>5}  {'first step':>10}  {'rate at first':>13}  {'last step':>9}  {'rate at last':>13}"
    ]
    for epoch, first, last in shape.epoch_edges():
        lines.append(
            f"{epoch:>5}  {first:>10}  {number(rates[first]):>13}  {last:>9}  {number(rates[last]):>13}"
        )
    return "\n".join(lines)


def _change(rates: np.ndarray) -> str:
    """How the rate at the last step compares with the first, in words.

    >>> _change(np.array([0.0, 0.01, 0.005])), _change(np.array([0.1, 0.05, 0.0]))
    ('rises from zero', 'falls to zero')
    >>> _change(np.array([0.1, 0.2, 0.1])), _change(np.array([0.0, 0.1, 0.0]))
    ('ends where it started, peaking at 0.2 (step 1)', 'starts and ends at zero, peaking at 0.1 (step 1)')
    >>> _change(np.array([0.1, np.nan])), _change(np.array([np.nan, np.nan]))
    ('NaN from step 1 on', 'NaN throughout')
    """
    first, final = float(rates[0]), float(rates[-1])
    if np.all(rates == first):
        return "constant"
    if math.isnan(final):
        numbers = np.flatnonzero(~np.isnan(rates))
        return f"NaN from step {int(numbers[-1]) + 1:,} on" if numbers.size else "NaN throughout"
    peak = f"peaking at {number(float(np.nanmax(rates)))} (step {int(np.nanargmax(rates)):,})"
    if first == 0:
        return "rises from zero" if final > 0 else f"starts and ends at zero, {peak}"
    if final == 0:
        return "falls to zero"
    if final == first:
        return f"ends where it started, {peak}"
    ratio = final / first
    return f"{1 / ratio:.3g} times lower" if 0 < ratio < 1 else f"{ratio:.3g} times higher"


def explain_text(subject: Subject, shape: RunShape) -> str:
    """The full explanation of ``subject`` over ``shape``, as ``lr-refimpl explain`` prints it."""
    rates = subject.rates(shape)
    lines = [subject.label]
    if subject.formula:
        lines.append(f"  {subject.formula}")
    lines += ["", epoch_table(shape, rates), ""]
    first, final = float(rates[0]), float(rates[-1])
    change = _change(rates)
    lines.append(
        f"Over the run the rate goes from {number(first)} (step 0) to {number(final)} "
        f"(step {len(rates) - 1:,}): {change}."
    )
    found = findings(subject, shape, rates)
    if found:
        lines.append("")
        lines += [str(f) for f in found]
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------

_EPILOG = """\
examples:
  lr-refimpl explain lesson
  lr-refimpl explain PolynomialDecay --initial-learning-rate 0.003 --decay-steps 5000 \\
      --end-learning-rate 0.001 --power 1.5
  lr-refimpl explain --samples 12000 --epochs 2 PiecewiseConstantDecay \\
      --boundaries 1000,2000,3000 --values 0.003,0.002,0.001,0.0001
  lr-refimpl explain LearningRateScheduler --initial-learning-rate 0.001 --function "lr / 3"
"""


def add_parser(sub: Any) -> None:
    """Register ``explain``."""
    p = sub.add_parser(
        "explain",
        help="a schedule over a real run: steps, the rate at each epoch, the classic traps",
        description=__doc__.replace("``", "") if __doc__ else None,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    add_subject_arguments(p, lesson=True)
    p.add_argument("--samples", type=int, default=60_000, help="training samples (default 60000)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--epochs", type=int, default=5, help="epochs (default 5)")
    p.add_argument(
        "--framework",
        default="keras",
        metavar="NAME",
        help="keras (default); torch or optax: the configurations as torch or Optax code, "
        "with the steps where the two frameworks differ (lr-refimpl translate)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the run's shape and each subject's explanation."""
    if args.help:
        return show_help(args, lesson=True)
    shape = RunShape(args.samples, args.batch_size, args.epochs)
    subjects = resolve_subjects(args.name, list(args.options), args.from_config, args.function)
    if args.framework != "keras":  # lr-refimpl translate's view of the same subjects
        from refimpl.cli.translate import explain_in_framework

        return explain_in_framework(subjects, shape, args.framework)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        texts = [explain_text(s, shape) for s in subjects]
    print(shape.describe())
    if (args.samples, args.batch_size, args.epochs) == (60_000, 64, 5):
        print("The lesson says ~5,000 steps; the real run has 4,690.")
    for text in texts:
        print()
        print(text)
    return 0
