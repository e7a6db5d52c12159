"""Optax's ``exponential_decay``."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from refimpl import numpy_ops
from refimpl.optax._base import Schedule, check_int, check_real
from refimpl.optax._types import DEFAULT, JaxType, JaxTypes

__all__ = ["ExponentialDecay", "exponential", "exponential_decay"]

#: How many staircase steps :meth:`ExponentialDecay.edge_steps` lists at most.
_MAX_STAIRS = 64


def exponential(
    count: Any,
    init_value: Any,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int,
    staircase: bool,
    end_value: Any,
    *,
    xp: ModuleType | Any = numpy_ops,
    types: JaxTypes = DEFAULT,
) -> Any:
    """Optax's exponential decay, operation by operation (see :func:`exponential_decay`)."""
    if transition_steps <= 0 or decay_rate == 0:
        return init_value
    begin = max(transition_begin, 0)
    decreased = xp.subtract(count, begin)
    p = xp.divide(xp.cast(decreased, types.quotient), transition_steps)
    if staircase:
        p = xp.floor(p)
    decayed = xp.where(decreased <= 0, init_value, xp.multiply(init_value, xp.power(decay_rate, p)))
    if end_value is not None:
        decayed = (xp.maximum if decay_rate < 1.0 else xp.minimum)(decayed, end_value)
    return decayed


class ExponentialDecay(Schedule):
    """``optax.exponential_decay``; see :func:`exponential_decay`."""

    optax_name = "exponential_decay"
    formula = staticmethod(exponential)

    def __init__(
        self,
        init_value: float,
        transition_steps: int,
        decay_rate: float,
        transition_begin: int = 0,
        staircase: bool = False,
        end_value: float | None = None,
    ) -> None:
        super().__init__(
            {
                "init_value": init_value,
                "transition_steps": transition_steps,
                "decay_rate": decay_rate,
                "transition_begin": transition_begin,
                "staircase": staircase,
                "end_value": end_value,
            }
        )
        self.init_value = check_real("init_value", init_value)
        self.transition_steps = check_int("transition_steps", transition_steps)
        self.decay_rate = check_real("decay_rate", decay_rate)
        self.transition_begin = check_int("transition_begin", transition_begin)
        if type(staircase) is not bool:
            raise TypeError(
                f"Argument `staircase` must be a bool. Received: staircase={staircase!r}"
            )
        self.staircase = staircase
        self.end_value = None if end_value is None else check_real("end_value", end_value)

    def _constant(self) -> bool:
        return self.transition_steps <= 0 or self.decay_rate == 0

    def result_type(self, types: JaxTypes) -> JaxType:
        if self._constant():
            return types.python(self.init_value)
        return types.strong_quotient()

    def _edges(self) -> list[int]:
        if self._constant():
            return []
        begin = max(self.transition_begin, 0)
        stairs = _MAX_STAIRS if self.staircase else 1
        return [begin + k * self.transition_steps for k in range(stairs + 1)]

    def horizon(self) -> int | None:
        return 0 if self._constant() or self.decay_rate == 1 else None


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> ExponentialDecay:
    """``optax.exponential_decay``: ``init_value * decay_rate ** (t / transition_steps)``.

    Formula (``begin = max(transition_begin, 0)``)::

        n = count - begin                                  # int32
        p = n / transition_steps                           # float32 (an int32 count)
        if staircase:
            p = floor(p)
        value = where(n <= 0, init_value, init_value * decay_rate ** p)
        if end_value is not None:                          # a bound, not a target
            value = (maximum if decay_rate < 1 else minimum)(value, end_value)

    Intervals: ``init_value`` on ``count <= begin``; with ``staircase`` each stair is
    ``[begin + k * T, begin + (k + 1) * T)`` (switches *at* the multiple); the decay
    never ends unless ``end_value`` bounds it.  Count 0 gives ``init_value``.
    ``transition_steps <= 0`` or ``decay_rate == 0`` gives the constant ``init_value``
    (Optax logs it); a negative ``transition_begin`` is taken as 0.

    Traps: under ``jit`` ``n / T`` is ``n * fl(1/T)``, so ``floor`` can give ``k - 1``
    at a multiple of ``T`` (``T = 61``: ``fl(61 * fl(1/61)) = 0.99999994``): the stair
    switches one count late there (Keras's XLA mode has the same trap; un-jitted JAX
    divides and does not).  ``decay_rate`` a power of two becomes ``exp2`` (LLVM).
    ``end_value`` is a lower bound when ``decay_rate < 1``, an *upper* bound otherwise.

    >>> exponential_decay(1.0, 10, 0.5, staircase=True)([0, 9, 10, 25])
    array([1.  , 1.  , 0.5 , 0.25], dtype=float32)
    >>> exponential_decay(1.0, 61, 0.5, staircase=True)([61, 122], mode="jit")
    array([1. , 0.5], dtype=float32)
    >>> exponential_decay(1.0, 61, 0.5, staircase=True)([61, 122], mode="eager")
    array([0.5 , 0.25], dtype=float32)
    """
    return ExponentialDecay(
        init_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )
