"""Exponential decay: ``keras.optimizers.schedules.ExponentialDecay``."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.schedules._staircase import StaircaseDecay
from refimpl.schedules._validation import (
    check_bool,
    check_initial_learning_rate,
    check_name,
    check_number,
    check_positive_steps,
    warn,
)
from refimpl.ulps import constant

__all__ = ["ExponentialDecay", "exponential_decay"]


def exponential_decay(
    step: Any,
    initial_learning_rate: Any,
    decay_steps: Any,
    decay_rate: Any,
    staircase: bool = False,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Exponential decay of the learning rate with the step.

    Formula (``dtype`` is that of ``initial_learning_rate``; every other quantity is
    cast to it first)::

        p = step / decay_steps
        if staircase:
            p = floor(p)
        lr = initial_learning_rate * decay_rate ** p

    Symbols: ``step`` the optimizer's iteration count before the update (0 for the
    first update); ``decay_steps`` > 0 the steps per factor of ``decay_rate``.

    Intervals: with ``staircase`` the rate is constant on ``[k * decay_steps,
    (k + 1) * decay_steps)``: it changes *at* ``step == k * decay_steps``.
    Step 0 gives ``initial_learning_rate``.  There is no end: past any horizon the
    rate keeps decaying (towards 0 for ``decay_rate < 1``; it grows for ``> 1``).

    In training (``mode="graph"``, ``"xla"``; :mod:`refimpl.modes`): TensorFlow divides
    by multiplying with the rounded reciprocal, ``p = step * fl(1 / decay_steps)``
    (Grappler's ``ReduceDivToReciprocalMul``, XLA's ``HandleDivide``).  Where
    ``fl(1 / decay_steps)`` is below ``1 / decay_steps``, ``k * decay_steps * fl(1 /
    decay_steps)`` can round below ``k`` and **a staircase switches one step late**
    (``decay_steps=61``: at step 62, not 61; 135 of the decay_steps 1..1000 do it at
    some multiple up to 100).  Under XLA a ``decay_rate`` that is a power of two
    (0.5, 0.25, 2, ...) makes LLVM compute ``exp2(k * p)`` instead of ``pow``.

    >>> import warnings
    >>> schedule = ExponentialDecay(0.1, 61, 0.5, staircase=True)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     compiled = schedule([61, 62], mode="graph")
    >>> schedule([61, 62]), compiled
    (array([0.05, 0.05], dtype=float32), array([0.1 , 0.05], dtype=float32))
    >>> print(caught[0].message)
    ExponentialDecay in training: graph mode decides differently from the documented formula at step 61 (the staircase: floor(step / decay_steps)): 0.1 instead of 0.05.

    >>> exponential_decay([0, 499, 500, 4689], 0.001, 500, 0.98, staircase=True)
    array([0.001     , 0.001     , 0.00098   , 0.00083375], dtype=float32)
    """
    lr = xp.convert_to_tensor(initial_learning_rate, dtype)
    dtype = lr.dtype
    horizon = xp.cast(decay_steps, dtype)
    rate = xp.cast(decay_rate, dtype)
    p = xp.cast(step, dtype) / horizon
    if staircase:
        p = xp.floor(p)
    return xp.multiply(lr, xp.power(rate, p))


class ExponentialDecay(StaircaseDecay, family="keras"):
    """``keras.optimizers.schedules.ExponentialDecay``, exactly; see :func:`exponential_decay`.

    >>> schedule = ExponentialDecay(0.001, decay_steps=500, decay_rate=0.98, staircase=True)
    >>> schedule(4689)
    array(0.00083375, dtype=float32)
    >>> schedule.get_config()["name"]
    'ExponentialDecay'
    """

    formula = staticmethod(exponential_decay)

    counterpart = "keras.optimizers.schedules.ExponentialDecay"

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """None beyond the result's 2 ulp: ``lr * rate ** p`` rounds ``pow`` (one ulp)
        and then the product (one more)."""
        return constant(0.0)

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        check_initial_learning_rate(initial_learning_rate)
        check_positive_steps("decay_steps", decay_steps)
        rate = check_number("decay_rate", decay_rate)
        check_bool("staircase", staircase)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = check_name(name)
        self._check_rate(rate)

    def _check_rate(self, rate: float) -> None:
        if rate < 0 and not self.staircase:
            warn(
                f"decay_rate={self.decay_rate!r} is negative: a negative number to a fractional "
                "power is NaN, so every step that is not a multiple of decay_steps gives NaN.",
                stacklevel=3,  # warn <- __init__ <- the caller
            )
