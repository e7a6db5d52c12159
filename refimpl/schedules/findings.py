"""What a schedule does over a training run that its user should know, in words.

Each schedule class says what is worth a warning or a note about itself over a
:class:`~refimpl.runs.TrainingRun` (its ``_findings``, called by
:meth:`LearningRateSchedule.findings <refimpl.schedules.LearningRateSchedule.findings>`;
``lr-refimpl explain`` prints them).  This module holds the :class:`Finding` they
return and the wording they share, so that the same thing is said the same way
whichever schedule says it: a step and its place in the run, counts, shares, the
horizon, the staircase, rises after a fall.

>>> from refimpl.runs import TrainingRun
>>> print(at(TrainingRun(60_000, 64, 5), 4689))
step 4,689 (epoch 5, its step 938 of 938)
>>> steps(1), steps(4690), share(1, 4690), listed([3, 5, 7, 9], limit=2)
('1 step', '4,690 steps', 'under 1%', '3, 5 and 2 more')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl.runs import TrainingRun

__all__ = [
    "Finding",
    "at",
    "epoch_like",
    "horizon_findings",
    "listed",
    "number",
    "rises",
    "share",
    "staircase_findings",
    "step_count",
    "steps",
]


@dataclass(frozen=True)
class Finding:
    """A ``"warning"`` (a trap that changes what trains) or a ``"note"`` (worth knowing).

    >>> print(Finding("note", "the rate changes only between epochs."))
    note: the rate changes only between epochs.
    """

    level: str
    text: str

    def __post_init__(self) -> None:
        if self.level not in ("warning", "note"):
            raise ValueError(
                f"Argument `level` must be 'warning' or 'note'. Received: level={self.level!r}"
            )

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


def number(x: float) -> str:
    """A rate or hyperparameter, six significant digits: ``number(0.00123456789)`` is
    ``'0.00123457'``."""
    return f"{x:.6g}"


def at(run: TrainingRun, step: int) -> str:
    """``step`` and where it falls in ``run``."""
    epoch, within = run.epoch_of(step)
    return f"step {step:,} (epoch {epoch}, its step {within} of {run.steps_per_epoch})"


def steps(n: int) -> str:
    """``"1 step"``, ``"4,690 steps"``."""
    return f"{n:,} step" + ("" if n == 1 else "s")


def share(part: int, whole: int) -> str:
    """``"57%"``; ``"under 1%"`` rather than a misleading ``"0%"``."""
    percent = 100 * part / whole
    return "under 1%" if 0 < percent < 0.5 else f"{percent:.0f}%"


def listed(items: Sequence[int], limit: int = 8, total: int | None = None) -> str:
    """The first ``limit`` of ``items`` and how many more (of ``total``, if given)."""
    shown = ", ".join(f"{s:,}" for s in items[:limit])
    more = (len(items) if total is None else total) - min(len(items), limit)
    return shown + (f" and {more:,} more" if more > 0 else "")


def step_count(value: Any) -> float | None:
    """A hyperparameter that counts steps, as a float; None when it is not finite (the
    schedule's constructor warned about it)."""
    count = float(value)
    return count if math.isfinite(count) else None


def rises(rates: np.ndarray) -> list[int]:
    """Steps at which the rate goes up after having gone down (restarts, cycles).

    >>> rises(np.array([3.0, 2.0, 1.0, 3.0, 2.0, 3.0]))
    [3, 5]
    """
    up = np.flatnonzero(np.diff(rates) > 0) + 1
    down_seen = np.maximum.accumulate(np.concatenate([[False], np.diff(rates) < 0]))
    return [int(s) for s in up if down_seen[s - 1]]


def horizon_findings(
    run: TrainingRun,
    rates: np.ndarray,
    horizon: int | None,
    what: str,
    end_name: str,
    schedule: Callable[[Any], Any],
) -> list[Finding]:
    """A decay that ends at step ``horizon`` (the first step at its end value; ``what``
    names its length, ``end_name`` the value; None: not finite, warned about already)
    against the run: longer, so the rate never reaches its end, or shorter, so the last
    part of the run trains at the end value.  ``schedule`` gives the end value.
    """
    if horizon is None:
        return []
    # (a step beyond int64 is passed as a float: an int that large cannot be cast)
    end_value = float(np.asarray(schedule(horizon if horizon < 2**63 else float(horizon))))
    last = run.last_step
    if horizon > last:
        return [
            Finding(
                "warning",
                f"the horizon is longer than the run: {what} = {horizon:,} but the run's last "
                f"step is {last:,}, so the rate stops at {number(rates[-1])} and never reaches "
                f"{end_name} = {number(end_value)} (it would at step {horizon:,}).",
            )
        ]
    if horizon < last:
        flat = run.total_steps - horizon  # steps horizon..last, both included
        return [
            Finding(
                "warning",
                f"the horizon is shorter than the run: {what} = {horizon:,}, so from "
                f"{at(run, horizon)} the rate stays at {end_name} = {number(end_value)} for "
                f"the last {steps(flat)} ({share(flat, run.total_steps)} of the run).",
            )
        ]
    return []


def staircase_findings(
    run: TrainingRun, rates: np.ndarray, decay_steps: Any, staircase: bool
) -> list[Finding]:
    """A staircase (the rate held over each ``decay_steps``) that never steps within
    the run, or that steps in the middle of epochs: where ``rates`` (the rate at each
    step of ``run``) change, as computed, not as ``k * decay_steps`` would suggest."""
    ds = step_count(decay_steps) if staircase else None
    if ds is None or ds <= 0:
        return []
    last = run.last_step
    if ds > last:
        return [
            Finding(
                "warning",
                f"staircase=True with decay_steps = {number(ds)} longer than the run "
                f"(last step {last:,}): the rate never changes.",
            )
        ]
    changes = np.flatnonzero(rates[1:] != rates[:-1]) + 1
    if not np.any(changes % run.steps_per_epoch):
        return []
    return [
        Finding(
            "note",
            f"staircase=True: the rate changes at steps "
            f"{listed(changes[:8].tolist(), total=changes.size)} (the first steps at or past "
            f"multiples of decay_steps = {number(ds)}), not at epoch boundaries "
            f"({run.steps_per_epoch:,} steps an epoch).",
        )
    ]


def epoch_like(config: dict[str, Any], keys: Sequence[str], run: TrainingRun) -> list[Finding]:
    """Step counts (``config``'s ``keys``) no larger than the number of epochs, in a
    run whose epochs have several steps: most likely epochs written where steps belong."""
    spe, epochs = run.steps_per_epoch, run.epochs
    if spe < 2 or epochs < 2:
        return []
    out = []
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and 2 <= value <= epochs:
            out.append(
                Finding(
                    "warning",
                    f"{key} = {value:g} looks like a number of epochs, but schedules count "
                    f"optimizer steps (batches): with {spe:,} steps an epoch, {value:g} epochs "
                    f"are {key} = {round(value * spe):,}.",
                )
            )
    return out
