"""``lr-refimpl plot NAME -o FILE.png``: one schedule's learning rate per step, as a figure.

NAME is a schedule class (``ExponentialDecay``, ...) with its constructor arguments as
dashed options (``--initial-learning-rate 0.001 --decay-steps 500 --decay-rate 0.98
--staircase``; lists as ``--boundaries 1000,2000,3000``), checked by the schedule's own
validation (``NAME --help`` lists them); or ``--from-config FILE`` (JSON or a ``.keras``
model); or one of the lesson's configurations by key (``exponential``, ``scheduler``,
...); or ``LearningRateScheduler --function "lr / 3"``.  Needs matplotlib (the ``plot``
extra).

The values are refimpl's, computed as Keras computes them (float32 for a float initial
rate), at steps ``0..N-1`` (``--steps N``, default 5,000 as the lesson plots; or ``--steps A:B``).  With
``--samples`` the epoch boundaries at that many samples per epoch (and ``--batch-size``,
default 64) are marked.  The rate axis is logarithmic when the rates span more than a
factor of 10 (``--log``/``--linear`` to choose).  The file type follows the extension
(.png, .svg or .pdf); it is written atomically.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

import numpy as np

from refimpl.cli.common import CommandError, check_step_count, import_extra, one_line
from refimpl.cli.subjects import RunShape, add_subject_arguments, resolve_subjects, show_help
from refimpl.cli.table import parse_steps
from refimpl.exceptions import ScheduleWarning

__all__ = ["add_parser", "parse_plot_steps", "run"]

_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def parse_plot_steps(text: str) -> np.ndarray:
    """``"5000"`` means steps 0..4999; ``"A:B[:C]"`` a range, as ``lr-refimpl table``.

    >>> parse_plot_steps("3").tolist(), parse_plot_steps("10:13").tolist()
    ([0, 1, 2], [10, 11, 12])
    """
    if ":" in text:
        steps = parse_steps(text)
    else:
        try:
            n = int(text)
        except ValueError:
            raise CommandError(
                f"--steps must be a number of steps (e.g. 5000) or start:stop[:step]. "
                f"Received: {text!r}"
            ) from None
        check_step_count(n, f"--steps {text}")
        steps = np.arange(max(n, 0), dtype=np.int64)
    if steps.size < 1 or steps.min() < 0:
        raise CommandError(
            f"--steps must give at least one step, none negative. Received: {text!r}"
        )
    return steps


def add_parser(sub: Any) -> None:
    """Register ``plot``."""
    p = sub.add_parser(
        "plot",
        help="draw one schedule's learning rate per step into a PNG",
        description=__doc__.replace("``", "") if __doc__ else None,
        epilog="example:\n  lr-refimpl plot ExponentialDecay --initial-learning-rate 0.001 "
        "--decay-steps 500 \\\n      --decay-rate 0.98 --staircase --steps 4690 --samples 60000 "
        "-o exponential.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    add_subject_arguments(p, lesson=True)
    p.add_argument("-o", "--output", metavar="FILE.png", help="the image to write (required)")
    p.add_argument("--steps", default="5000", help="N for steps 0..N-1 (default 5000), or A:B")
    p.add_argument(
        "--samples", type=int, metavar="N", help="samples per epoch: mark the epoch boundaries"
    )
    p.add_argument("--batch-size", type=int, default=64, help="batch size for --samples (64)")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--log", dest="log", action="store_true", default=None, help="log rate axis")
    scale.add_argument("--linear", dest="log", action="store_false", help="linear rate axis")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compute the rates and write the figure."""
    if args.help:
        return show_help(args, lesson=True)
    import_extra("matplotlib", "lr-refimpl plot")
    from refimpl import plotting

    if args.output is None:
        raise CommandError("plot: the following arguments are required: -o/--output")
    ext = os.path.splitext(args.output)[1].lower()
    if ext not in _FORMATS:
        raise CommandError(f"-o must end in .png, .svg or .pdf. Received: {args.output!r}")
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise CommandError(f"-o {args.output}: directory {directory} does not exist")
    steps = parse_plot_steps(args.steps)
    if args.name == "lesson":
        raise CommandError("plot draws one schedule; `lr-refimpl tutorial` draws the lesson's")
    subject = resolve_subjects(args.name, list(args.options), args.from_config, args.function)[0]
    for text in subject.construction_warnings:  # shown as `lr-refimpl: warning: ...`
        warnings.warn(text, ScheduleWarning, stacklevel=1)
    spe = None
    if args.samples is not None:
        spe = RunShape(args.samples, args.batch_size, 1).steps_per_epoch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        rates = subject.rates_at(steps, spe)
    bad = ~np.isfinite(rates)
    if bad.all():
        raise CommandError(f"{subject.label}: the rate is not finite at any step: nothing to draw")
    if bad.any():
        print(
            f"Note: the rate is inf or NaN at {int(bad.sum()):,} of the steps, the first "
            f"{int(steps[bad][0]):,}; the figure leaves them out."
        )
    xlabel = "optimizer step (one update per batch; step 0 is the first)"
    if spe is not None:
        xlabel = (
            f"optimizer step ({args.samples:,} samples at batch {args.batch_size}: "
            f"{spe:,} steps an epoch)"
        )
    image = plotting.rate_figure(
        [plotting.RateSeries(subject.label, steps, rates)],
        title=_title(subject.label),
        subtitle=subject.formula,
        steps_per_epoch=spe,
        xlabel=xlabel,
        log=args.log,
        fmt=_FORMATS[ext],
    )
    try:
        plotting.save(args.output, image)
    except OSError as exc:
        raise CommandError(f"-o {args.output}: {exc.strerror or one_line(exc)}") from None
    print(
        f"Wrote {args.output}: {subject.label} at steps {int(steps[0])}..{int(steps[-1])}, "
        f"rate {float(rates[0]):.6g} -> {float(rates[-1]):.6g}."
    )
    return 0


def _title(label: str, width: int = 75) -> str:
    """Wrap a long constructor call after a comma so it fits the figure."""
    if len(label) <= width:
        return label
    cut = label.rfind(", ", 0, width)
    return label if cut < 0 else label[: cut + 1] + "\n  " + _title(label[cut + 2 :], width)
