"""Polynomial decay: ``keras.optimizers.schedules.PolynomialDecay``."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.runs import TrainingRun, first_step_at
from refimpl.schedules._base import LearningRateSchedule
from refimpl.schedules._validation import (
    check_bool,
    check_initial_learning_rate,
    check_name,
    check_number,
    check_positive_steps,
    warn,
)
from refimpl.schedules.findings import Finding, horizon_findings, listed, rises
from refimpl.ulps import constant

__all__ = ["PolynomialDecay", "polynomial_decay"]


def polynomial_decay(
    step: Any,
    initial_learning_rate: Any,
    decay_steps: Any,
    end_learning_rate: Any = 0.0001,
    power: Any = 1.0,
    cycle: bool = False,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate``.

    Formula (all in the dtype of ``initial_learning_rate``)::

        if cycle:   # the horizon grows to the next multiple of decay_steps
            decay_steps = decay_steps * where(step == 0, 1.0, ceil(step / decay_steps))
        else:
            step = minimum(step, decay_steps)
        p = step / decay_steps
        lr = (initial_learning_rate - end_learning_rate) * (1 - p) ** power + end_learning_rate

    Intervals: without ``cycle`` the rate decays on ``[0, decay_steps]`` and is
    ``end_learning_rate`` from ``step == decay_steps`` on (the default end is 1e-4, not
    0).  With ``cycle`` the horizon is the first multiple of ``decay_steps`` that is
    ``>= step`` (so at ``step == k * decay_steps`` the rate is ``end_learning_rate`` and
    at the next step it jumps up again); step 0 uses multiplier 1 (Keras's guard
    against ``0 / 0``).  Step 0 gives ``initial_learning_rate``.

    In training (:mod:`refimpl.modes`): ``p = step * fl(1 / decay_steps)``; Grappler
    replaces ``(1 - p) ** power`` for ``power`` 2, 3, 1, 0.5, 0, -0.5, -1 (a square,
    ``x * x**2``, ``x``, ``sqrt``, 1, ``1 / sqrt``, ``1 / x``).  Under XLA, ``1 - step
    * fl(1 / decay_steps)`` is one fused multiply-add: at ``step == decay_steps`` it is
    about ``-2**-25`` instead of 0 wherever ``fl(1 / decay_steps) > 1 / decay_steps``,
    and a fractional ``power`` makes the rate **NaN at that step** (9,981 of the
    decay_steps 1..20,000); past it, LLVM folded the arm ``step > decay_steps``
    without the fused multiply-add, so the rate is ``end_learning_rate`` again.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     compiled = PolynomialDecay(0.3, 7, 0.1, power=1.5)([6, 7, 8], mode="xla")
    >>> compiled
    array([0.11079898,        nan, 0.1       ], dtype=float32)
    >>> print(caught[0].message)
    PolynomialDecay in training: xla mode gives nan where the documented formula gives 0.1, at step 7.

    >>> polynomial_decay([0, 2500, 5000, 9000], 0.003, 5000, 0.001, power=1.0)
    array([0.003, 0.002, 0.001, 0.001], dtype=float32)
    """
    lr = xp.convert_to_tensor(initial_learning_rate, dtype)
    dtype = lr.dtype
    end = xp.cast(end_learning_rate, dtype)
    pw = xp.cast(power, dtype)
    s = xp.cast(step, dtype)
    horizon = xp.cast(decay_steps, dtype)
    if cycle:
        multiplier = xp.where(xp.equal(s, 0), 1.0, xp.ceil(s / decay_steps))
        horizon = xp.multiply(horizon, multiplier)
    else:
        s = xp.minimum(s, horizon)
    p = xp.divide(s, horizon)
    return xp.add(xp.multiply(lr - end, xp.power(1 - p, pw)), end)


class PolynomialDecay(LearningRateSchedule, family="keras"):
    """``keras.optimizers.schedules.PolynomialDecay``, exactly; see :func:`polynomial_decay`.

    >>> PolynomialDecay(0.003, 5000, 0.001, power=1.5)([0, 5000])
    array([0.003, 0.001], dtype=float32)
    """

    formula = staticmethod(polynomial_decay)

    @property
    def decision(self) -> str:
        if self.cycle:
            return "the cycle's horizon: decay_steps * ceil(step / decay_steps)"
        return "the end of the decay: (1 - step / decay_steps) ** power at step == decay_steps"

    counterpart = "keras.optimizers.schedules.PolynomialDecay"

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """One ulp of ``pow`` scaled by ``|lr - end|``."""
        lr, end = abs(float(self.initial_learning_rate)), float(self.end_learning_rate)
        return constant(abs(lr - end) * u)

    def _edges(self) -> list[int]:
        first = first_step_at(self.decay_steps)
        multiples = (1, 2, 3) if self.cycle else (1,)
        return [] if first is None else [k * first for k in multiples]

    def horizon(self) -> int | None:
        return None if self.cycle else first_step_at(self.decay_steps)

    step_arguments = ("decay_steps",)

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """``cycle=True``: where the rate jumps back up; else the horizon against the run."""
        if not self.cycle:
            horizon = self.horizon()
            return horizon_findings(run, rates, horizon, "decay_steps", "end_learning_rate", self)
        jumps = rises(rates)
        if not jumps:
            return []
        return [
            Finding(
                "warning",
                f"cycle=True: after decay_steps = {self.decay_steps:,} the horizon grows to the "
                "next multiple of decay_steps and the rate jumps back up, at steps "
                f"{listed(jumps)}.",
            )
        ]

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        check_initial_learning_rate(initial_learning_rate)
        check_positive_steps("decay_steps", decay_steps)
        check_number("end_learning_rate", end_learning_rate)
        pw = check_number("power", power)
        check_bool("cycle", cycle)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = check_name(name)
        if pw < 0:
            warn(
                f"power={power!r} is negative: (1 - p) ** power is inf at the end of the "
                "decay, so the rate becomes inf (or NaN) there.",
                stacklevel=3,  # warn <- __init__ <- the caller
            )
