"""Several schedules one after the other, each counting from 0."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import ModuleType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.runs import TrainingRun, first_step_at
from refimpl.schedules._base import LearningRateSchedule
from refimpl.schedules._validation import check_name, check_number
from refimpl.schedules.findings import Finding, number
from refimpl.schedules.serialization import deserialize_nested, serialize

__all__ = ["SequentialSchedule", "sequential_schedule"]


def sequential_schedule(
    step: Any,
    schedules: Sequence[LearningRateSchedule],
    boundaries: Sequence[Any],
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Run ``schedules[0]``, then switch to the next one at each boundary.

    Formula (``dtype`` is that of ``schedules[0]``; Optax's ``join_schedules`` rule)::

        lr = schedules[0](step)
        for b, schedule in zip(boundaries, schedules[1:]):
            lr = where(step < b, lr, schedule(step - b))

    Intervals: ``schedules[i]`` runs on ``[boundaries[i-1], boundaries[i])`` and starts
    at its own step 0 *at* the boundary (unlike ``PiecewiseConstantDecay``, whose new
    value starts at boundary + 1).  Step 0 gives ``schedules[0](0)``; past the last
    boundary the last schedule runs for ever.

    >>> from refimpl.schedules import PolynomialDecay
    >>> up = PolynomialDecay(0.0, 100, 1.0)
    >>> down = PolynomialDecay(1.0, 100, 0.0)
    >>> sequential_schedule([0, 50, 100, 150, 300], [up, down], [100])
    array([0. , 0.5, 1. , 0.5, 0. ], dtype=float32)
    """
    dtype = np.dtype(dtype) if dtype is not None else schedules[0].dtype
    raw = xp.convert_to_tensor(step)
    result = xp.cast(schedules[0].evaluate(raw, xp=xp, dtype=dtype), dtype)
    for boundary, schedule in zip(boundaries, schedules[1:]):
        child = xp.cast(schedule.evaluate(xp.maximum(raw - boundary, 0), xp=xp, dtype=dtype), dtype)
        result = xp.where(raw < boundary, result, child)
    return result


class SequentialSchedule(LearningRateSchedule, family="extra"):
    """Schedules one after the other; see :func:`sequential_schedule`.

    >>> from refimpl.schedules import ExponentialDecay, PiecewiseConstantDecay
    >>> s = SequentialSchedule([PiecewiseConstantDecay([9], [0.1, 0.1]),
    ...                         ExponentialDecay(0.1, 10, 0.5)], [10])
    >>> s([9, 10, 20])
    array([0.1 , 0.1 , 0.05], dtype=float32)
    """

    formula = staticmethod(sequential_schedule)

    @property
    def decision(self) -> str:
        inner = [d for d in (s.decision for s in self.schedules) if d]
        return "the schedule in force: step < boundaries[i]" + "".join(f"; {d}" for d in inner)

    dtype_arguments = ("schedules",)

    def children(self) -> list[LearningRateSchedule]:
        return list(self.schedules)

    counterpart = None  # Optax's join_schedules, torch's SequentialLR (recursive there)

    def _edges(self) -> list[int]:
        starts = [first_step_at(b) for b in (0, *self.boundaries)]
        return [
            s + e
            for s, child in zip(starts, self.schedules)
            if s is not None
            for e in child.edge_steps()
        ]

    def horizon(self) -> int | None:
        inner, last = self.schedules[-1].horizon(), first_step_at(self.boundaries[-1])
        return None if inner is None or last is None else last + inner

    #: The boundaries count steps too; :meth:`_findings` checks them as a list.
    step_arguments = ()

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """A boundary at or past the run's last step: the schedules after it never run."""
        last = run.last_step
        for i, b in enumerate(self.boundaries):
            if float(b) > last:  # schedules[i + 1] starts at the first step >= b
                return [
                    Finding(
                        "warning",
                        f"boundary {number(b)} is beyond the run's last step {last:,}: "
                        f"schedules[{i + 1}:] ({len(self.schedules) - i - 1}) never run.",
                    )
                ]
        return []

    def __init__(
        self,
        schedules: Sequence[LearningRateSchedule],
        boundaries: Sequence[int],
        name: str = "SequentialSchedule",
    ) -> None:
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
            raise TypeError(
                f"Argument `schedules` must be a list of schedules. Received: schedules={schedules!r}"
            )
        for i, sch in enumerate(schedules):
            if not isinstance(sch, LearningRateSchedule):
                raise TypeError(
                    f"Argument `schedules[{i}]` must be a refimpl LearningRateSchedule. "
                    f"Received: schedules[{i}]={sch!r} ({type(sch).__name__})"
                )
        if isinstance(boundaries, (str, bytes)) or not isinstance(
            boundaries, (Sequence, np.ndarray)
        ):
            raise TypeError(
                f"Argument `boundaries` must be a list of ints. Received: boundaries={boundaries!r}"
            )
        if len(schedules) == 0 or len(boundaries) != len(schedules) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of schedules. "
                f"Received: boundaries={boundaries!r} of length {len(boundaries)}, and "
                f"{len(schedules)} schedules."
            )
        bounds = [
            check_number(f"boundaries[{i}]", b, allow_inf=True) for i, b in enumerate(boundaries)
        ]
        if any(b <= 0 for b in bounds) or any(b >= c for b, c in itertools.pairwise(bounds)):
            raise ValueError(
                f"Argument `boundaries` must be positive and strictly increasing. Received: boundaries={boundaries!r}"
            )
        self.schedules = list(schedules)
        self.boundaries = boundaries
        self.name = check_name(name)

    @property
    def dtype(self) -> np.dtype:
        return self.schedules[0].dtype

    def get_config(self) -> dict[str, Any]:
        return {
            "schedules": [serialize(s) for s in self.schedules],
            "boundaries": self.boundaries,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SequentialSchedule:
        config = dict(config)
        if isinstance(config.get("schedules"), list):
            config["schedules"] = [deserialize_nested(s) for s in config["schedules"]]
        return cast(SequentialSchedule, super().from_config(config))
