"""Time-based decay: the legacy optimizer argument ``decay=`` as a schedule."""

from __future__ import annotations

from types import ModuleType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.runs import TrainingRun
from refimpl.schedules._base import LearningRateSchedule, compute_dtype
from refimpl.schedules._validation import check_initial_learning_rate, check_name, check_number
from refimpl.schedules.findings import Finding, number
from refimpl.schedules.serialization import deserialize_nested, serialize

__all__ = ["TimeBasedDecay", "decay_argument_findings", "time_based_decay"]


def time_based_decay(
    step: Any,
    initial_learning_rate: Any,
    decay: Any,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """The legacy ``decay=`` of tf_keras's optimizers (Keras <= 2.10), as a schedule.

    Formula, in the order of ``tf_keras`` legacy ``Optimizer._decayed_lr``::

        lr = initial_learning_rate            # or schedule(float(step)) for a schedule
        if decay > 0:
            lr = lr / (1.0 + decay * step)

    ``initial_learning_rate`` may be a float or any refimpl schedule (then the schedule
    is evaluated first, on the step cast to its float dtype, and the legacy factor is
    stacked on top, as the legacy optimizers did).  Without a schedule this equals
    ``InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)`` in the same op order.

    Intervals: none; step 0 gives ``initial_learning_rate``; there is no end.

    In training (:mod:`refimpl.modes`): the divisor ``1 + decay * step`` is not a
    constant, so graph mode computes what eager computes; XLA fuses ``decay * step +
    1`` into one multiply-add.

    >>> time_based_decay([0, 937, 4689], 0.001, 0.001 / 5)
    array([0.001     , 0.00084218, 0.00051605], dtype=float32)
    """
    if isinstance(initial_learning_rate, LearningRateSchedule):
        dtype = np.dtype(dtype) if dtype is not None else initial_learning_rate.dtype
        local_step = xp.cast(step, dtype)
        lr = xp.cast(initial_learning_rate.evaluate(local_step, xp=xp, dtype=dtype), dtype)
    else:
        lr = xp.convert_to_tensor(initial_learning_rate, dtype)
        dtype = lr.dtype
    if float(decay) > 0.0:
        local_step = xp.cast(step, dtype)
        lr = lr / (1.0 + xp.cast(decay, dtype) * local_step)
    return lr


def decay_argument_findings(lr: float, decay: float, rates: np.ndarray) -> list[Finding]:
    """What an optimizer's ``decay=`` does (or does not do) to ``rates`` (the rates of
    ``TimeBasedDecay(lr, decay)`` at each step of a run): Keras 3 ignores the argument;
    where it applies it acts per step, not per epoch."""
    last = len(rates) - 1
    return [
        Finding(
            "warning",
            f"Keras 3 ignores the optimizer's decay=: keras.optimizers.SGD(learning_rate="
            f"{number(lr)}, decay={number(decay)}) only warns 'Argument `decay` is no longer "
            f"supported and will be ignored' and trains at a constant {number(lr)}.  Only "
            "tf_keras.optimizers.legacy.SGD (Keras <= 2.10) applies it; in Keras 3 write "
            f"InverseTimeDecay({number(lr)}, decay_steps=1, decay_rate={number(decay)}).",
        ),
        Finding(
            "note",
            f"decay= acts per step, not per epoch: lr / (1 + {number(decay)} * step) is "
            f"{number(rates[-1])} at step {last:,}, {rates[-1] / rates[0]:.3g} times the "
            "initial rate.",
        ),
    ]


class TimeBasedDecay(LearningRateSchedule, family="extra"):
    """The legacy optimizer ``decay=`` argument as a schedule; see :func:`time_based_decay`.

    Keras 3 ignores ``SGD(decay=...)`` with only a warning; pass
    ``TimeBasedDecay(lr, decay)`` as the learning rate to get the old behaviour back.

    >>> TimeBasedDecay(0.001, 0.0002)(937)
    array(0.00084218, dtype=float32)
    """

    formula = staticmethod(time_based_decay)
    counterpart = "tf_keras.optimizers.legacy.SGD(decay=...)"
    exact_arithmetic = True

    def children(self) -> list[LearningRateSchedule]:
        lr = self.initial_learning_rate
        return [lr] if isinstance(lr, LearningRateSchedule) else []

    def _edges(self) -> list[int]:
        return [e for child in self.children() for e in child.edge_steps()]

    def horizon(self) -> int | None:
        """None while ``decay > 0`` (the rate falls for ever); with ``decay == 0`` that of
        a schedule given as the initial rate."""
        children = self.children()
        return children[0].horizon() if children and float(self.decay) == 0 else None

    #: ``decay`` is a rate per step, not a step count.
    step_arguments = ()

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """Keras 3 ignores the optimizer argument this reproduces; it acts per step."""
        lr = self.initial_learning_rate
        if isinstance(lr, LearningRateSchedule):
            return []
        return decay_argument_findings(float(lr), float(self.decay), rates)

    def __init__(
        self,
        initial_learning_rate: float | LearningRateSchedule,
        decay: float,
        name: str = "TimeBasedDecay",
    ) -> None:
        if not isinstance(initial_learning_rate, LearningRateSchedule):
            check_initial_learning_rate(initial_learning_rate)
        d = check_number("decay", decay)
        if d < 0:
            raise ValueError(f"decay cannot be less than 0. Received: decay={decay}.")
        self.initial_learning_rate = initial_learning_rate
        self.decay = decay
        self.name = check_name(name)

    @property
    def dtype(self) -> np.dtype:
        if isinstance(self.initial_learning_rate, LearningRateSchedule):
            return self.initial_learning_rate.dtype
        return compute_dtype(self.initial_learning_rate)

    def get_config(self) -> dict[str, Any]:
        lr = self.initial_learning_rate
        return {
            "initial_learning_rate": serialize(lr) if isinstance(lr, LearningRateSchedule) else lr,
            "decay": self.decay,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeBasedDecay:
        config = dict(config)
        if isinstance(config.get("initial_learning_rate"), dict):
            config["initial_learning_rate"] = deserialize_nested(config["initial_learning_rate"])
        return cast(TimeBasedDecay, super().from_config(config))
