"""Optax's ``cosine_decay_schedule``."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from refimpl import numpy_ops
from refimpl.optax._base import Schedule, check_real
from refimpl.optax._ops import power
from refimpl.optax._types import DEFAULT, JaxType, JaxTypes

__all__ = ["CosineDecaySchedule", "cosine", "cosine_decay_schedule"]


def cosine(
    count: Any,
    init_value: Any,
    decay_steps: Any,
    alpha: Any,
    exponent: Any,
    *,
    xp: ModuleType | Any = numpy_ops,
    types: JaxTypes = DEFAULT,
) -> Any:
    """Optax's cosine decay, operation by operation (see :func:`cosine_decay_schedule`)."""
    steps = float(decay_steps) if type(decay_steps) is int else decay_steps
    t = xp.minimum(xp.cast(count, types.default_float), steps)  # jnp.minimum(count, float)
    cosine_decay = 0.5 * (1 + xp.cos(xp.divide(xp.multiply(math.pi, t), steps)))
    decayed = (1 - alpha) * power(cosine_decay, exponent, xp) + alpha
    return init_value * decayed


class CosineDecaySchedule(Schedule):
    """``optax.cosine_decay_schedule``; see :func:`cosine_decay_schedule`."""

    optax_name = "cosine_decay_schedule"
    formula = staticmethod(cosine)

    def __init__(
        self, init_value: float, decay_steps: int, alpha: float = 0.0, exponent: float = 1.0
    ) -> None:
        super().__init__(
            {
                "init_value": init_value,
                "decay_steps": decay_steps,
                "alpha": alpha,
                "exponent": exponent,
            }
        )
        self.init_value = check_real("init_value", init_value)
        if type(decay_steps) not in (int, float) or not decay_steps > 0:
            raise ValueError(
                "The cosine_decay_schedule requires positive decay_steps, got "
                f"decay_steps={decay_steps!r}."
            )
        self.decay_steps = check_real("decay_steps", decay_steps)
        self.alpha = check_real("alpha", alpha)
        self.exponent = check_real("exponent", exponent)

    def result_type(self, types: JaxTypes) -> JaxType:
        return types.weak_float()

    def _edges(self) -> list[int]:
        return [math.ceil(self.decay_steps)]

    def horizon(self) -> int | None:
        return math.ceil(self.decay_steps)


def cosine_decay_schedule(
    init_value: float, decay_steps: int, alpha: float = 0.0, exponent: float = 1.0
) -> CosineDecaySchedule:
    """``optax.cosine_decay_schedule``: half a cosine from ``init_value`` to
    ``alpha * init_value``.

    Formula::

        t = minimum(count, float(decay_steps))            # the default float, weakly typed
        cosine_decay = 0.5 * (1 + cos(pi * t / decay_steps))
        value = init_value * ((1 - alpha) * cosine_decay ** exponent + alpha)

    ``alpha`` is a fraction of ``init_value`` (Keras's ``alpha`` too; torch's
    ``eta_min`` is absolute); ``1 - alpha`` is computed in Python (float64).

    Intervals: the decay on ``[0, decay_steps]``, ``alpha * init_value`` from
    ``decay_steps`` on (clamped, not periodic as torch's ``CosineAnnealingLR``).
    Count 0 gives ``init_value``.  ``decay_steps <= 0`` raises ``ValueError`` (as Optax).

    Traps: under ``jit`` the argument of the cosine is ``t * fl(pi * fl(1/T))`` and
    the steps past ``decay_steps`` are folded by LLVM in double (``cos`` of the
    constant by the host libm), so they can differ in the last bit from the value at
    ``decay_steps`` itself.  With x64 this schedule computes in float64 (``minimum``
    of the count and a Python float is the default float), unlike
    ``linear_schedule``.

    >>> cosine_decay_schedule(1.0, 100, alpha=0.1)([0, 50, 100, 200])
    array([1.  , 0.55, 0.1 , 0.1 ], dtype=float32)
    """
    return CosineDecaySchedule(init_value, decay_steps, alpha, exponent)
