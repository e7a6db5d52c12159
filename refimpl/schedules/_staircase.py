"""What ExponentialDecay and InverseTimeDecay (and NaturalExpDecay) share: a decay
over ``decay_steps`` with an optional staircase, decaying for ever."""

from __future__ import annotations

import numpy as np

from refimpl.runs import TrainingRun, first_step_at
from refimpl.schedules._base import LearningRateSchedule
from refimpl.schedules.findings import Finding, staircase_findings

__all__ = ["StaircaseDecay"]


class StaircaseDecay(LearningRateSchedule):
    """A base (not registered) for schedules of ``step / decay_steps``, floored when
    ``staircase``: their decision, edges, horizon and findings."""

    decay_steps: float
    staircase: bool

    @property
    def decision(self) -> str | None:
        return "the staircase: floor(step / decay_steps)" if self.staircase else None

    def _edges(self) -> list[int]:
        first = first_step_at(self.decay_steps)
        multiples = (1, 2, 3) if self.staircase else (1,)
        return [] if first is None else [k * first for k in multiples]

    def horizon(self) -> None:
        """None: the rate decays for ever (towards 0)."""
        return None

    step_arguments = ("decay_steps",)

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """A staircase that never steps within the run, or steps within epochs."""
        return staircase_findings(run, rates, self.decay_steps, bool(self.staircase))
