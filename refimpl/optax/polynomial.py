"""Optax's ``constant_schedule``, ``polynomial_schedule`` and ``linear_schedule``."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from refimpl import numpy_ops
from refimpl.optax._base import Schedule, check_int, check_real
from refimpl.optax._ops import clip, power
from refimpl.optax._types import DEFAULT, JaxType, JaxTypes

__all__ = [
    "ConstantSchedule",
    "PolynomialSchedule",
    "constant",
    "constant_schedule",
    "linear_schedule",
    "polynomial",
    "polynomial_schedule",
]


def constant(count: Any, value: Any, *, xp: ModuleType | Any = numpy_ops,
             types: JaxTypes = DEFAULT) -> Any:  # fmt: skip
    """Optax's ``lambda count: value``: the value itself, whatever the count."""
    return value


class ConstantSchedule(Schedule):
    """``optax.constant_schedule(value)``; see :func:`constant_schedule`."""

    optax_name = "constant_schedule"
    formula = staticmethod(constant)

    def __init__(self, value: float) -> None:
        super().__init__({"value": value})
        self.value = check_real("value", value)

    def result_type(self, types: JaxTypes) -> JaxType:
        return types.python(self.value)

    def horizon(self) -> int | None:
        return 0


def constant_schedule(value: float) -> ConstantSchedule:
    """``optax.constant_schedule``: the same value at every count.

    Formula::

        value

    Optax returns the Python number itself (under ``jax.jit`` a weakly typed float32,
    or float64 with x64); a Python int stays an integer.

    >>> constant_schedule(0.1)([0, 10**6])
    array([0.1, 0.1], dtype=float32)
    """
    return ConstantSchedule(value)


def polynomial(
    count: Any,
    init_value: Any,
    end_value: Any,
    power_: Any,
    transition_steps: int,
    transition_begin: int,
    *,
    xp: ModuleType | Any = numpy_ops,
    types: JaxTypes = DEFAULT,
) -> Any:
    """Optax's polynomial schedule, operation by operation (see
    :func:`polynomial_schedule`); ``count`` is a tensor of ``types.count``."""
    if transition_steps <= 0:
        return init_value
    begin = max(transition_begin, 0)
    steps = clip(xp.subtract(count, begin), 0, transition_steps, xp)
    frac = 1 - xp.divide(xp.cast(steps, types.quotient), transition_steps)
    return (init_value - end_value) * power(frac, power_, xp) + end_value


class PolynomialSchedule(Schedule):
    """``optax.polynomial_schedule`` (and ``linear_schedule``, its ``power=1``); see
    :func:`polynomial_schedule`."""

    optax_name = "polynomial_schedule"
    formula = staticmethod(polynomial)

    def __init__(
        self,
        init_value: float,
        end_value: float,
        power: float,
        transition_steps: int,
        transition_begin: int = 0,
    ) -> None:
        super().__init__(
            {
                "init_value": init_value,
                "end_value": end_value,
                "power": power,
                "transition_steps": transition_steps,
                "transition_begin": transition_begin,
            }
        )
        self.init_value = check_real("init_value", init_value)
        self.end_value = check_real("end_value", end_value)
        self.power_ = check_real("power", power)
        self.transition_steps = check_int("transition_steps", transition_steps)
        self.transition_begin = check_int("transition_begin", transition_begin)

    def result_type(self, types: JaxTypes) -> JaxType:
        if self.transition_steps <= 0:
            return types.python(self.init_value)
        return types.strong_quotient()

    def _edges(self) -> list[int]:
        if self.transition_steps <= 0:
            return []
        begin = max(self.transition_begin, 0)
        return [begin, begin + self.transition_steps]

    def horizon(self) -> int | None:
        if self.transition_steps <= 0:
            return 0
        return max(self.transition_begin, 0) + self.transition_steps


def polynomial_schedule(
    init_value: float,
    end_value: float,
    power: float,
    transition_steps: int,
    transition_begin: int = 0,
) -> PolynomialSchedule:
    """``optax.polynomial_schedule``: from ``init_value`` to ``end_value`` along
    ``(1 - t) ** power``.

    Formula (``begin = max(transition_begin, 0)``)::

        n = min(max(count - begin, 0), transition_steps)      # jnp.clip, in int32
        frac = 1 - n / transition_steps                          # float32 (an int32 count)
        value = (init_value - end_value) * frac ** power + end_value

    ``init_value - end_value`` is computed in Python (float64), then rounded.  A Python
    int ``power`` is ``lax.integer_pow`` (repeated multiplication), a float one
    ``lax.pow`` (glibc's ``powf``; ``2.0`` and ``0.5`` become ``x * x`` and ``sqrt``
    under ``jit``).

    Intervals: ``init_value`` on ``count <= begin``; the transition on ``[begin, begin +
    transition_steps]``; ``end_value`` from ``begin + transition_steps`` on (the clamp:
    no overshoot).  Count 0 gives ``init_value``.  ``transition_steps <= 0`` gives the
    constant ``init_value`` (Optax logs this); a negative ``transition_begin`` is
    taken as 0.

    Traps: under ``jit``, ``1 - n / T`` is ``fma(n, -fl(1/T), 1)``: at ``n == T`` it is
    ``1 - T * fl(1/T)`` rounded once, about ``+-2**-25``, not 0 -- except where XLA
    folds the clamp's constant arm.  With x64 on and Optax's int32 count the schedule
    still computes in float32 (``int32 / int`` is float32 in JAX).

    >>> polynomial_schedule(1.0, 0.01, 2, 100, transition_begin=5)([0, 5, 6, 104, 105, 110])
    array([1.        , 1.        , 0.98029906, 0.010099  , 0.01      , 0.01      ],
          dtype=float32)
    """
    return PolynomialSchedule(init_value, end_value, power, transition_steps, transition_begin)


def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> PolynomialSchedule:
    """``optax.linear_schedule``: :func:`polynomial_schedule` with ``power=1`` (an int:
    ``frac ** 1`` is ``frac``).

    Formula (``begin = max(transition_begin, 0)``)::

        n = min(max(count - begin, 0), transition_steps)
        value = (init_value - end_value) * (1 - n / transition_steps) + end_value

    Intervals: ``init_value`` up to ``begin``, linear on ``[begin, begin +
    transition_steps]``, ``end_value`` from its end on.  Count 0 gives ``init_value``;
    ``transition_steps <= 0`` the constant ``init_value``.

    Trap: under ``jit`` this is two FMAs, ``fma(fma(n, -fl(1/T), 1), fl(init - end),
    end)``; Keras's ``PolynomialDecay(power=1)`` differs in the order of operations.

    >>> linear_schedule(0.0, 1.0, 4)([0, 1, 2, 4, 9])
    array([0.  , 0.25, 0.5 , 1.  , 1.  ], dtype=float32)
    """
    schedule = PolynomialSchedule(init_value, end_value, 1, transition_steps, transition_begin)
    schedule._rename(
        "linear_schedule",
        {
            "init_value": init_value,
            "end_value": end_value,
            "transition_steps": transition_steps,
            "transition_begin": transition_begin,
        },
    )
    return schedule
