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
* the optimizer's ``decay=``, which Keras 3 ignores.

A step is one optimizer update (one batch).  An epoch of ``samples`` images at batch
``B`` is ``ceil(samples / B)`` steps, the last batch possibly partial: 60,000 images at
batch 64 make 938 steps an epoch and 4,690 in five epochs (steps 0..4689), not 5,000.
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
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

__all__ = ["Finding", "add_parser", "epoch_table", "explain_text", "findings", "run"]

#: How far the rate may fall over a run before a warning says later epochs barely learn.
_STEEP_DROP = 100.0


@dataclass(frozen=True)
class Finding:
    """A ``"warning"`` (a trap that changes what trains) or a ``"note"`` (worth knowing)."""

    level: str
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


# -- the traps ---------------------------------------------------------------------------


def _g(x: float) -> str:
    return f"{x:.6g}"


def _at(shape: RunShape, step: int) -> str:
    epoch, within = shape.epoch_of(step)
    return f"step {step:,} (epoch {epoch}, its step {within} of {shape.steps_per_epoch})"


def _horizon(
    shape: RunShape,
    rates: np.ndarray,
    horizon: int,
    what: str,
    end_value: float,
    end_name: str,
) -> list[Finding]:
    last = shape.total_steps - 1
    if horizon > last:
        return [
            Finding(
                "warning",
                f"the horizon is longer than the run: {what} = {horizon:,} but the run's last "
                f"step is {last:,}, so the rate stops at {_g(rates[-1])} and never reaches "
                f"{end_name} = {_g(end_value)} (it would at step {horizon:,}).",
            )
        ]
    if horizon < last:
        flat = shape.total_steps - horizon  # steps horizon..last, both included
        return [
            Finding(
                "warning",
                f"the horizon is shorter than the run: {what} = {horizon:,}, so from "
                f"{_at(shape, horizon)} the rate stays at {end_name} = {_g(end_value)} for the "
                f"last {_steps(flat)} ({_share(flat, shape.total_steps)} of the run).",
            )
        ]
    return []


def _step_count(value: Any) -> float | None:
    """A hyperparameter that counts steps, as a float; None when it is not finite (the
    schedule's constructor warned about it)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _share(part: int, whole: int) -> str:
    """``"57%"``; ``"under 1%"`` rather than a misleading ``"0%"``."""
    percent = 100 * part / whole
    return "under 1%" if 0 < percent < 0.5 else f"{percent:.0f}%"


def _steps(n: int) -> str:
    """``"1 step"``, ``"4,690 steps"``."""
    return f"{n:,} step" + ("" if n == 1 else "s")


#: Configuration keys that count optimizer steps, and may be mistaken for epochs.
_STEP_COUNTS = ("decay_steps", "first_decay_steps", "warmup_steps")


def _epoch_like(schedule: Any, shape: RunShape) -> list[Finding]:
    """A step count (or all boundaries) no larger than the number of epochs, in a run
    whose epochs have several steps: most likely epochs written where steps belong."""
    spe, epochs = shape.steps_per_epoch, shape.epochs
    if spe < 2 or epochs < 2:
        return []
    cfg = schedule.get_config()
    out = []
    for key in _STEP_COUNTS:
        value = cfg.get(key)
        if isinstance(value, (int, float)) and 2 <= value <= epochs:
            out.append(
                Finding(
                    "warning",
                    f"{key} = {value:g} looks like a number of epochs, but schedules count "
                    f"optimizer steps (batches): with {spe:,} steps an epoch, {value:g} epochs "
                    f"are {key} = {round(value * spe):,}.",
                )
            )
    bounds = cfg.get("boundaries")
    if (
        isinstance(bounds, (list, tuple))
        and bounds
        and all(isinstance(b, (int, float)) and 0 <= b <= epochs for b in bounds)
        and max(bounds) >= 1
    ):
        fixed = ", ".join(str(round(b * spe) - 1) for b in bounds)
        out.append(
            Finding(
                "warning",
                f"boundaries {list(bounds)} look like epochs, but schedules count optimizer "
                f"steps (batches): to switch at the start of those epochs ({spe:,} steps "
                f"each) write boundaries = [{fixed}] (the new value starts at boundary + 1).",
            )
        )
    return out


def _rises(rates: np.ndarray) -> list[int]:
    """Steps at which the rate goes up after having gone down (restarts, cycles)."""
    up = np.flatnonzero(np.diff(rates) > 0) + 1
    down_seen = np.maximum.accumulate(np.concatenate([[False], np.diff(rates) < 0]))
    return [int(s) for s in up if down_seen[s - 1]]


def _list(steps: Sequence[int], limit: int = 8, total: int | None = None) -> str:
    """The first ``limit`` of ``steps`` and how many more (of ``total``, if given)."""
    shown = ", ".join(f"{s:,}" for s in steps[:limit])
    more = (len(steps) if total is None else total) - min(len(steps), limit)
    return shown + (f" and {more:,} more" if more > 0 else "")


def _schedule_findings(schedule: Any, shape: RunShape, rates: np.ndarray) -> list[Finding]:
    name = type(schedule).__name__
    cfg = schedule.get_config()
    last = shape.total_steps - 1
    out: list[Finding] = []
    horizon = {
        "PolynomialDecay": ("decay_steps", "end_learning_rate"),
        "CosineDecay": ("decay_steps", "alpha x the peak rate"),
        "LinearCosineDecay": ("decay_steps", "its final value"),
        "NoisyLinearCosineDecay": ("decay_steps", "its final value"),
    }
    if name == "PolynomialDecay" and cfg["cycle"]:
        rises = _rises(rates)
        if rises:
            out.append(
                Finding(
                    "warning",
                    f"cycle=True: after decay_steps = {cfg['decay_steps']:,} the horizon grows "
                    "to the next multiple of decay_steps and the rate jumps back up, at steps "
                    f"{_list(rises)}.",
                )
            )
    elif name in horizon:
        what, end_name = horizon[name]
        length = _step_count(cfg["decay_steps"])
        if name == "CosineDecay" and cfg["warmup_steps"] and length is not None:
            warmup = _step_count(cfg["warmup_steps"])
            length = None if warmup is None else length + warmup
            what = "warmup_steps + decay_steps"
        if length is not None:  # an infinite or NaN horizon is warned about already
            steps = math.ceil(length)  # the first step at or past the horizon
            # (a step beyond int64 is passed as a float: an int that large cannot be cast)
            end_value = float(np.asarray(schedule(steps if steps < 2**63 else float(steps))))
            out += _horizon(shape, rates, steps, what, end_value, end_name)
    elif name == "CosineDecayRestarts":
        rises = _rises(rates)
        if rises:
            out.append(
                Finding(
                    "note",
                    f"the rate restarts (jumps back up) at steps {_list(rises)}; restarts never "
                    "stop.",
                )
            )
        else:
            out.append(
                Finding(
                    "warning",
                    f"first_decay_steps = {cfg['first_decay_steps']:,} is longer than the run: "
                    "no restart happens, the schedule is a plain cosine decay here.",
                )
            )
    elif name == "PiecewiseConstantDecay":
        values = list(cfg["values"])
        # The new value starts at the first step past the boundary: boundary + 1 for an
        # integer boundary (a NaN boundary never switches; it is warned about already).
        boundaries = [b if float(b).is_integer() else math.floor(b) for b in cfg["boundaries"]]
        boundaries = [int(b) if math.isfinite(b) else b for b in boundaries]
        for i, b in enumerate(boundaries):
            if b >= last:
                unused = ", ".join(_g(v) for v in values[i + 1 :])
                out.append(
                    Finding(
                        "warning",
                        f"boundary {b:,} is at or beyond the run's last step {last:,}: the "
                        f"value(s) after it ({unused}) are never used.",
                    )
                )
                break
        inside = [b for b in boundaries if -1 <= b < last]
        if inside:
            where = "; ".join(
                f"{_g(values[i + 1])} from {_at(shape, b + 1)}" for i, b in enumerate(inside)
            )
            out.append(
                Finding(
                    "note",
                    "Keras switches to the next value at boundary + 1, not at the boundary: "
                    + where
                    + ".",
                )
            )
            off = [b for b in inside if (b + 1) % shape.steps_per_epoch]
            if off:
                ends = _list([e[2] for e in shape.epoch_edges()[:-1]], 4)
                out.append(
                    Finding(
                        "note",
                        f"boundaries {_list(off)} are not epoch boundaries (epochs end at steps "
                        f"{ends}): the rate changes in the middle of an epoch.",
                    )
                )
    elif name in ("ExponentialDecay", "InverseTimeDecay", "NaturalExpDecay"):
        ds = _step_count(cfg["decay_steps"]) if cfg.get("staircase") else None
        if ds is not None and ds > 0:
            if ds > last:
                out.append(
                    Finding(
                        "warning",
                        f"staircase=True with decay_steps = {_g(ds)} longer than the run "
                        f"(last step {last:,}): the rate never changes.",
                    )
                )
            elif ds % shape.steps_per_epoch:
                # It changes at the first step >= k * decay_steps: every step if < 1.
                count = math.floor(last / ds) if ds >= 1 else last
                changes = [math.ceil(k * max(ds, 1)) for k in range(1, min(count, 8) + 1)]
                out.append(
                    Finding(
                        "note",
                        f"staircase=True: the rate changes at steps {_list(changes, total=count)} "
                        f"(multiples of decay_steps = {_g(ds)}), not at epoch boundaries "
                        f"({shape.steps_per_epoch:,} steps an epoch).",
                    )
                )
    elif name == "TimeBasedDecay" and isinstance(cfg["initial_learning_rate"], (int, float)):
        out += _decay_findings(float(cfg["initial_learning_rate"]), float(cfg["decay"]), rates)
    return out


def _decay_findings(lr: float, decay: float, rates: np.ndarray) -> list[Finding]:
    last = len(rates) - 1
    return [
        Finding(
            "warning",
            f"Keras 3 ignores the optimizer's decay=: keras.optimizers.SGD(learning_rate={_g(lr)}, "
            f"decay={_g(decay)}) only warns 'Argument `decay` is no longer supported and will "
            f"be ignored' and trains at a constant {_g(lr)}.  Only tf_keras.optimizers.legacy.SGD "
            f"(Keras <= 2.10) applies it; in Keras 3 write "
            f"InverseTimeDecay({_g(lr)}, decay_steps=1, decay_rate={_g(decay)}).",
        ),
        Finding(
            "note",
            f"decay= acts per step, not per epoch: lr / (1 + {_g(decay)} * step) is "
            f"{_g(rates[-1])} at step {last:,}, {rates[-1] / rates[0]:.3g} times the initial rate.",
        ),
    ]


def _scheduler_findings(subject: Subject, shape: RunShape) -> list[Finding]:
    lr0 = float(np.float32(subject.learning_rate))
    per_epoch = subject.epoch_rates(shape.epochs)
    out: list[Finding] = []
    if per_epoch[0] != lr0:
        out.append(
            Finding(
                "warning",
                "Keras's LearningRateScheduler calls the function at the beginning of every "
                f"epoch, epoch 0 included: the first epoch already trains at {_g(per_epoch[0])}, "
                f"not at the optimizer's {_g(lr0)} (a plot that starts at {_g(lr0)} is one "
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
        out += _decay_findings(subject.learning_rate, subject.optimizer_decay, rates)
    elif subject.schedule is not None:
        out += _epoch_like(subject.schedule, shape)
        out += _schedule_findings(subject.schedule, shape, rates)
        out += _mode_findings(subject.schedule, shape)
    first, final = float(rates[0]), float(rates[-1])
    if first > 0 and final == 0:
        zero = int(np.flatnonzero(rates != 0)[-1]) + 1
        n = len(rates) - zero
        out.append(
            Finding(
                "warning",
                f"the rate is 0 from {_at(shape, zero)} on: the last {_steps(n)} "
                f"{'does' if n == 1 else 'do'} not change the weights at all.",
            )
        )
    elif first > 0 and final > 0 and first / final >= _STEEP_DROP:
        tenth = int(np.argmax(rates <= first / 10))
        out.append(
            Finding(
                "warning",
                f"the rate falls {first / final:,.0f}-fold over the run (to {_g(final)}); it is "
                f"below a tenth of its start from {_at(shape, tenth)}, so later epochs barely "
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
            f"{epoch:>5}  {first:>10}  {_g(rates[first]):>13}  {last:>9}  {_g(rates[last]):>13}"
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
    peak = f"peaking at {_g(float(np.nanmax(rates)))} (step {int(np.nanargmax(rates)):,})"
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
        f"Over the run the rate goes from {_g(first)} (step 0) to {_g(final)} "
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
