"""The lesson's seven learning-rate configurations, in one place.

The tutorial (``../shared/tutorial-keras-lr-schedules.txt``) trains the same CNN on
Fashion-MNIST once per configuration: SGD, batch 64, 5 epochs.  With 60,000 images an
epoch is ``ceil(60000 / 64) = 938`` steps (the last batch has 32 images), so 5 epochs
are steps 0..4689 -- not the "~5,000" the lesson plots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from refimpl.runs import steps_per_epoch
from refimpl.schedules import (
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
    TimeBasedDecay,
)

__all__ = ["LESSON", "LessonConfig", "steps_per_epoch"]


@dataclass(frozen=True)
class LessonConfig:
    """One of the lesson's runs: a key, a label, the formula in words, and how the rate is set."""

    key: str
    label: str
    formula: str
    #: A per-step schedule (None for a constant rate or an epoch callback).
    schedule: Callable[[], LearningRateSchedule] | None = None
    #: A LearningRateScheduler function ``(epoch, lr) -> lr`` (Keras 3 calls it at the
    #: start of every epoch, epoch 0 included).
    epoch_function: Callable[[int, float], float] | None = None
    learning_rate: float = 0.001
    #: The legacy optimizer argument the lesson passes (``SGD(learning_rate, decay=...)``);
    #: ``schedule`` then gives the same rates as a :class:`TimeBasedDecay`.  Keras 3
    #: ignores it, ``tf_keras.optimizers.legacy.SGD`` and :class:`refimpl.optimizers.SGD`
    #: apply it.
    optimizer_decay: float = 0.0


def _divide_by_three(epoch: int, lr: float) -> float:
    return lr / 3


LESSON: tuple[LessonConfig, ...] = (
    LessonConfig("constant", "SGD(0.001)", "lr = 0.001"),
    LessonConfig(
        "decay",
        "SGD(0.001, decay=0.001/5)",
        "lr = 0.001 / (1 + 0.0002 * step)  (legacy decay=; Keras 3 ignores it)",
        schedule=lambda: TimeBasedDecay(0.001, 0.001 / 5),
        optimizer_decay=0.001 / 5,
    ),
    LessonConfig(
        "exponential",
        "ExponentialDecay(0.001, 500, 0.98, staircase=True)",
        "lr = 0.001 * 0.98 ** floor(step / 500)",
        schedule=lambda: ExponentialDecay(0.001, 500, 0.98, staircase=True),
    ),
    LessonConfig(
        "piecewise",
        "PiecewiseConstantDecay([1000, 2000, 3000], [0.003, 0.002, 0.001, 0.0001])",
        "lr = 0.003 for step <= 1000, 0.002 to 2000, 0.001 to 3000, then 0.0001",
        schedule=lambda: PiecewiseConstantDecay([1000, 2000, 3000], [0.003, 0.002, 0.001, 0.0001]),
    ),
    LessonConfig(
        "polynomial",
        "PolynomialDecay(0.003, 5000, 0.001, power=1.5)",
        "lr = 0.002 * (1 - min(step, 5000) / 5000) ** 1.5 + 0.001",
        schedule=lambda: PolynomialDecay(0.003, 5000, 0.001, power=1.5),
    ),
    LessonConfig(
        "inverse_time",
        "InverseTimeDecay(0.003, 100, 0.5)",
        "lr = 0.003 / (1 + 0.5 * step / 100)",
        schedule=lambda: InverseTimeDecay(0.003, 100, 0.5),
    ),
    LessonConfig(
        "scheduler",
        "LearningRateScheduler(lambda epoch, lr: lr / 3)",
        "lr = 0.001 / 3 ** (epoch + 1)  (set at the start of every epoch, epoch 0 included)",
        epoch_function=_divide_by_three,
    ),
)
