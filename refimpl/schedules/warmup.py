"""A linear warmup in front of any schedule."""

from __future__ import annotations

from types import ModuleType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.runs import TrainingRun, first_step_at
from refimpl.schedules._base import LearningRateSchedule
from refimpl.schedules._validation import check_name, check_number
from refimpl.schedules.findings import Finding, horizon_findings, number
from refimpl.schedules.serialization import deserialize_nested, serialize

__all__ = ["LinearWarmup", "linear_warmup"]


def linear_warmup(
    step: Any,
    schedule: LearningRateSchedule,
    warmup_steps: Any,
    initial_learning_rate: Any = 0.0,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Ramp linearly from ``initial_learning_rate`` to ``schedule(0)``, then run ``schedule``.

    Formula (``dtype`` is the schedule's; the child counts from 0 after the warmup)::

        s = cast(step, dtype)
        peak = schedule(0)
        warm = (peak - initial_learning_rate) * (s / warmup_steps) + initial_learning_rate
        lr = where(s < warmup_steps, warm, schedule(maximum(step - warmup_steps, 0)))

    the same arithmetic as Keras's ``CosineDecay`` warmup, so
    ``LinearWarmup(CosineDecay(peak, n, alpha), w, lr0)`` equals
    ``CosineDecay(lr0, n, alpha, warmup_target=peak, warmup_steps=w)``.

    Intervals: warmup on ``[0, warmup_steps)``; at ``step == warmup_steps`` the rate is
    ``schedule(0)``.  Step 0 gives ``initial_learning_rate``; past the warmup the
    child's own end behaviour applies.  The child receives the step with its type
    (an integer step stays an integer), shifted by ``warmup_steps``.

    >>> from refimpl.schedules import ExponentialDecay
    >>> linear_warmup([0, 50, 100, 600], ExponentialDecay(1.0, 500, 0.5), 100)
    array([0. , 0.5, 1. , 0.5], dtype=float32)
    """
    dtype = np.dtype(dtype) if dtype is not None else schedule.dtype
    shifted = xp.maximum(xp.convert_to_tensor(step) - warmup_steps, 0)
    after = xp.cast(schedule.evaluate(shifted, xp=xp, dtype=dtype), dtype)
    peak = xp.cast(schedule.evaluate(xp.convert_to_tensor(0), xp=xp, dtype=dtype), dtype)
    start = xp.cast(initial_learning_rate, dtype)
    s = xp.cast(step, dtype)
    warm_steps = xp.cast(warmup_steps, dtype)
    warm = (peak - start) * (s / warm_steps) + start
    return xp.where(s < warm_steps, warm, after)


class LinearWarmup(LearningRateSchedule, family="extra"):
    """Put a linear warmup in front of any schedule; see :func:`linear_warmup`.

    >>> from refimpl.schedules import CosineDecay
    >>> LinearWarmup(CosineDecay(0.1, 1000), 100, 0.0)([0, 50, 100])
    array([0.  , 0.05, 0.1 ], dtype=float32)
    """

    formula = staticmethod(linear_warmup)

    @property
    def decision(self) -> str:
        inner = self.schedule.decision
        return "the warmup's end: step < warmup_steps" + (f"; {inner}" if inner else "")

    dtype_arguments = ("schedule",)

    def children(self) -> list[LearningRateSchedule]:
        return [self.schedule]

    counterpart = None  # Optax's linear_schedule + join_schedules, Keras's CosineDecay warmup

    def _edges(self) -> list[int]:
        w = first_step_at(self.warmup_steps)
        return [] if w is None else [w, *(w + e for e in self.schedule.edge_steps())]

    def horizon(self) -> int | None:
        inner, w = self.schedule.horizon(), first_step_at(self.warmup_steps)
        return None if inner is None or w is None else w + inner

    step_arguments = ("warmup_steps",)

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """A warmup longer than the run; else the whole schedule's horizon against it."""
        w, last = first_step_at(self.warmup_steps), run.last_step
        if w is not None and w > last:
            peak = float(np.asarray(self.schedule(0)))
            return [
                Finding(
                    "warning",
                    f"the warmup is longer than the run: warmup_steps = {number(self.warmup_steps)} "
                    f"but the run's last step is {last:,}, so the rate stops at "
                    f"{number(rates[-1])} and never reaches the schedule's start {number(peak)}.",
                )
            ]
        horizon = self.horizon()
        what = "warmup_steps + the schedule's horizon"
        return horizon_findings(run, rates, horizon, what, "its final value", self)

    def __init__(
        self,
        schedule: LearningRateSchedule,
        warmup_steps: int,
        initial_learning_rate: float = 0.0,
        name: str = "LinearWarmup",
    ) -> None:
        if not isinstance(schedule, LearningRateSchedule):
            raise TypeError(
                "Argument `schedule` must be a refimpl LearningRateSchedule. "
                f"Received: schedule={schedule!r} ({type(schedule).__name__})"
            )
        if check_number("warmup_steps", warmup_steps) < 0:
            raise ValueError(
                f"Argument `warmup_steps` must be >= 0. Received: warmup_steps={warmup_steps}"
            )
        check_number("initial_learning_rate", initial_learning_rate)
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.initial_learning_rate = initial_learning_rate
        self.name = check_name(name)

    @property
    def dtype(self) -> np.dtype:
        return self.schedule.dtype

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": serialize(self.schedule),
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LinearWarmup:
        config = dict(config)
        if "schedule" in config:
            config["schedule"] = deserialize_nested(config["schedule"])
        return cast(LinearWarmup, super().from_config(config))
