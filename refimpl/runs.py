"""A training run's shape: how many optimizer steps it takes, and where its epochs are.

A step is one optimizer update (one batch).  An epoch of ``samples`` images at batch
``B`` is ``ceil(samples / B)`` steps, the last batch possibly partial: 60,000 images at
batch 64 make 938 steps an epoch and 4,690 in five epochs (steps 0..4689), not 5,000.

Schedules describe what they do over a run (:meth:`LearningRateSchedule.findings
<refimpl.schedules.LearningRateSchedule.findings>`) in terms of a :class:`TrainingRun`;
the command line's ``--samples/--batch-size/--epochs`` build one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainingRun", "first_step_at", "steps_per_epoch"]


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: one per batch, the last one possibly partial.

    >>> steps_per_epoch(60_000, 64)
    938
    """
    if samples < 1 or batch_size < 1:
        raise ValueError(
            f"samples and batch_size must be >= 1. Received: samples={samples}, "
            f"batch_size={batch_size}"
        )
    return -(-samples // batch_size)  # ceil in integers: exact for any size


def first_step_at(count: Any) -> int | None:
    """The first integer step at or past ``count`` (a hyperparameter that counts steps,
    such as ``decay_steps``, possibly a float); None when ``count`` is not finite.

    >>> first_step_at(100), first_step_at(100.5), first_step_at(float("inf"))
    (100, 101, None)
    """
    value = float(count)
    return math.ceil(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class TrainingRun:
    """``samples`` images at ``batch_size`` for ``epochs``: its steps and epochs.

    Each field must be an integer >= 1 (a ``ValueError`` names the argument otherwise).
    Steps count from 0, epochs and a step's place within its epoch from 1.

    >>> run = TrainingRun(60_000, 64, 5)
    >>> run.steps_per_epoch, run.total_steps, run.last_batch
    (938, 4690, 32)
    >>> run.epoch_edges()[:2]
    [(1, 0, 937), (2, 938, 1875)]
    >>> TrainingRun(60_000, 0, 5)
    Traceback (most recent call last):
    ValueError: Argument `batch_size` must be an integer >= 1. Received: batch_size=0
    """

    samples: int
    batch_size: int
    epochs: int

    def __post_init__(self) -> None:
        for name in ("samples", "batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise self._invalid(name, value)

    def _invalid(self, name: str, value: Any) -> ValueError:
        """The error for field ``name`` given ``value`` (the command line names its flag)."""
        return ValueError(f"Argument `{name}` must be an integer >= 1. Received: {name}={value!r}")

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.samples, self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def last_step(self) -> int:
        """The run's last step (``total_steps - 1``)."""
        return self.total_steps - 1

    @property
    def last_batch(self) -> int:
        """Samples in an epoch's last batch."""
        return self.samples - (self.steps_per_epoch - 1) * self.batch_size

    def epoch_edges(self) -> list[tuple[int, int, int]]:
        """``(epoch, first step, last step)`` for every epoch, epochs counted from 1."""
        spe = self.steps_per_epoch
        return [(e + 1, e * spe, (e + 1) * spe - 1) for e in range(self.epochs)]

    def epoch_of(self, step: int) -> tuple[int, int]:
        """``(epoch, step within it)``, both counted from 1, for a 0-based ``step``.

        >>> TrainingRun(60_000, 64, 5).epoch_of(1001)
        (2, 64)
        """
        return step // self.steps_per_epoch + 1, step % self.steps_per_epoch + 1

    def describe(self) -> str:
        """One sentence: steps an epoch, the last batch, total steps.

        >>> print(TrainingRun(60_000, 64, 5).describe())
        60,000 samples at batch 64: 938 steps an epoch (the last batch has 32 samples); 5 epochs = 4,690 steps (steps 0..4689).
        """
        last = (
            f" (the last batch has {self.last_batch} samples)"
            if self.last_batch != self.batch_size
            else ""
        )
        epochs = "1 epoch" if self.epochs == 1 else f"{self.epochs} epochs"
        return (
            f"{self.samples:,} samples at batch {self.batch_size}: {self.steps_per_epoch:,} "
            f"steps an epoch{last}; {epochs} = {self.total_steps:,} steps "
            f"(steps 0..{self.last_step})."
        )
