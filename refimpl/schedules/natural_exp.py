"""Natural exponential decay: ``tf.compat.v1.train.natural_exp_decay`` as a schedule."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.schedules.exponential import ExponentialDecay, exponential_decay
from refimpl.ulps import HALF_EPS_FLOAT32

__all__ = ["NaturalExpDecay", "natural_exp_decay"]


def natural_exp_decay(
    step: Any,
    initial_learning_rate: Any,
    decay_steps: Any,
    decay_rate: Any,
    staircase: bool = False,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """``ExponentialDecay`` with rate ``exp(-decay_rate)``, as TensorFlow's v1 API computes it.

    Formula::

        rate = exp(-decay_rate)       # in float32 for a Python float decay_rate
        p = step / decay_steps        # floor(p) if staircase
        lr = initial_learning_rate * rate ** p

    TensorFlow rounds ``exp(-decay_rate)`` to float32 before the exponential decay
    casts it to the compute dtype; refimpl does the same (``exact`` uses float64).
    Intervals and ends as in :func:`~refimpl.schedules.exponential.exponential_decay`.

    >>> natural_exp_decay([0, 10, 20], 1.0, 10, 0.5)
    array([1.        , 0.60653067, 0.36787945], dtype=float32)
    """
    rate = xp.exp(xp.negative(xp.convert_to_tensor(decay_rate, dtype)))
    return exponential_decay(
        step, initial_learning_rate, decay_steps, rate, staircase, xp=xp, dtype=dtype
    )


class NaturalExpDecay(ExponentialDecay, family="extra"):
    """``tf.compat.v1.train.natural_exp_decay`` as a schedule; see :func:`natural_exp_decay`.

    Same arguments, validation and config keys as :class:`ExponentialDecay`.

    >>> NaturalExpDecay(0.1, 1, 0.5, staircase=True)(2)
    array(0.03678795, dtype=float32)
    """

    formula = staticmethod(natural_exp_decay)
    counterpart = "tf.compat.v1.train.natural_exp_decay"

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """``rate = exp(-decay_rate)`` is one ulp apart (``2u`` relative, with float32's
        ``u`` when ``decay_rate`` is a Python float: TensorFlow computes that ``exp`` in
        float32, also for a float64 schedule), and ``rate ** p`` raises that to ``p``:
        relative to the value ``lr * rate ** p``."""
        lr = abs(float(self.initial_learning_rate))
        ds, d = float(self.decay_steps), float(self.decay_rate)
        staircase = bool(self.staircase)
        u_rate = HALF_EPS_FLOAT32 if type(self.decay_rate) is float else u

        def natural(s: Any) -> Any:
            p = np.asarray(s, np.float64) / ds
            p = np.floor(p) if staircase else p
            with np.errstate(all="ignore"):
                grow = 2 * u_rate * np.abs(p)
                return np.nan_to_num(lr * np.exp(-d * p + grow) * np.expm1(grow), nan=0.0)

        return natural

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "NaturalExpDecay",
    ) -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def _check_rate(self, rate: float) -> None:
        pass  # exp(-decay_rate) is positive for every real decay_rate
