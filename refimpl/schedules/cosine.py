"""Cosine decay with optional linear warmup: ``keras.optimizers.schedules.CosineDecay``."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.runs import TrainingRun, first_step_at
from refimpl.schedules._base import LearningRateSchedule
from refimpl.schedules._validation import (
    check_initial_learning_rate,
    check_name,
    check_number,
    check_positive_steps,
    warn,
)
from refimpl.schedules.findings import Finding, horizon_findings
from refimpl.ulps import constant, rounded

__all__ = ["CosineDecay", "cosine_decay"]


def _cosine_part(
    step: Any, decay_steps: Any, decay_from_lr: Any, alpha: Any, dtype: Any, xp: Any
) -> Any:
    # Keras's `_decay_function`: `1 - alpha` and `+ alpha` use the Python value of alpha.
    completed_fraction = xp.divide(step, decay_steps)
    pi = xp.array(math.pi, dtype=dtype)
    cosine_decayed = 0.5 * (1.0 + xp.cos(xp.multiply(pi, completed_fraction)))
    decayed = (1 - alpha) * cosine_decayed + alpha
    return xp.multiply(decay_from_lr, decayed)


def cosine_decay(
    step: Any,
    initial_learning_rate: Any,
    decay_steps: Any,
    alpha: Any = 0.0,
    warmup_target: Any = None,
    warmup_steps: Any = 0,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Cosine decay (SGDR without restarts), optionally after a linear warmup.

    Formula without warmup (``warmup_target is None``)::

        s = minimum(step, decay_steps)
        cosine = 0.5 * (1 + cos(pi * s / decay_steps))
        lr = initial_learning_rate * ((1 - alpha) * cosine + alpha)

    With warmup (``peak = warmup_target``)::

        s = minimum(step, warmup_steps + decay_steps)
        lr = cond(s < warmup_steps,      # elementwise for an array of steps
                   (peak - initial_learning_rate) * (s / warmup_steps) + initial_learning_rate,
                   peak * ((1 - alpha) * 0.5 * (1 + cos(pi * (s - warmup_steps) / decay_steps))
                           + alpha))

    ``alpha`` is a *fraction* of the starting rate (of ``warmup_target`` when set), and
    ``1 - alpha`` is computed at Python (float64) precision before it meets the
    float32 array, as in Keras; ``pi`` is rounded to the compute dtype.

    Intervals: warmup on ``[0, warmup_steps)`` (strict: at ``step == warmup_steps`` the
    rate is exactly ``warmup_target``); decay on ``[warmup_steps, warmup_steps +
    decay_steps]``; constant ``alpha * peak`` from the end on.  Step 0 gives
    ``initial_learning_rate`` (with ``warmup_steps == 0`` and a ``warmup_target``, it
    gives ``warmup_target``: ``initial_learning_rate`` only sets the dtype).

    In training (:mod:`refimpl.modes`): without warmup, ``pi * (s / decay_steps)``
    becomes ``s * fl(pi * fl(1 / decay_steps))`` and ``(1 - alpha) * (0.5 * c)``
    becomes ``c * fl(0.5 * (1 - alpha))`` (Grappler's reciprocal and constant
    push-down; XLA reassociates constant factors the same way and fuses the final
    ``* + alpha``; past ``decay_steps`` LLVM folded the constant arm).  With warmup, the
    ``cond`` keeps its arithmetic in graph mode (constants from outside a branch reach it
    through ``Switch``: nothing is rewritten), while XLA computes both branches with
    its rewrites and selects.

    >>> cosine_decay([0, 500, 1000, 2000], 1.0, 1000, alpha=0.1)
    array([1.  , 0.55, 0.1 , 0.1 ], dtype=float32)
    >>> cosine_decay([0, 50, 100], 0.0, 1000, warmup_target=1.0, warmup_steps=100)
    array([0. , 0.5, 1. ], dtype=float32)
    """
    lr = xp.convert_to_tensor(initial_learning_rate, dtype)
    dtype = lr.dtype
    horizon = xp.cast(decay_steps, dtype)
    s = xp.cast(step, dtype)
    if warmup_target is None:
        return _cosine_part(xp.minimum(s, horizon), horizon, lr, alpha, dtype, xp)
    peak = xp.cast(warmup_target, dtype)
    warm = xp.cast(warmup_steps, dtype)
    s = xp.minimum(s, horizon + warm)
    # ops.cond, as Keras: inside tf.function TensorFlow's graph optimizer folds the
    # constants of a cond and of a where differently (measured: up to 951 ulp apart).
    return xp.cond(
        s < warm,
        lambda: _warmup_part(s, warm, peak, lr),
        lambda: _cosine_part(s - warm, horizon, peak, alpha, dtype, xp),
    )


def _warmup_part(step: Any, warmup_steps: Any, warmup_target: Any, initial: Any) -> Any:
    # Keras's `_warmup_function`, in its order of operations.
    completed_fraction = step / warmup_steps
    total_step_delta = warmup_target - initial
    return total_step_delta * completed_fraction + initial


class CosineDecay(LearningRateSchedule, family="keras"):
    """``keras.optimizers.schedules.CosineDecay``, exactly; see :func:`cosine_decay`.

    Note Keras's positional order: ``name`` comes before ``warmup_target``.

    >>> CosineDecay(0.001, 4690)([0, 4690])
    array([0.001, 0.   ], dtype=float32)
    """

    formula = staticmethod(cosine_decay)

    @property
    def decision(self) -> str:
        if self.warmup_target is not None:
            return "the warmup's end and the decay's end: minimum(step, warmup_steps + decay_steps)"
        return "the decay's end: minimum(step, decay_steps)"

    counterpart = "keras.optimizers.schedules.CosineDecay"

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """``lr * ((1 - alpha) * 0.5 * (1 + cos) + alpha)`` (``warmup_target`` replaces
        ``lr``): one ulp of ``cos`` becomes ``5u`` in ``1 + cos`` (it rounds on
        ``[0, 2]``), ``2.5u`` after the half, then each product and sum adds its own
        rounding."""
        lr = abs(float(self.initial_learning_rate))
        peak = lr if self.warmup_target is None else abs(float(self.warmup_target))
        a = float(self.alpha)
        half_one_plus_cos = rounded(u, 2.0, u) / 2
        scaled = rounded(abs(1 - a) * half_one_plus_cos, abs(1 - a), u)
        return constant(peak * rounded(scaled, abs(1 - a) + abs(a), u))

    def _length(self) -> float:
        """Steps until the rate reaches its end: the warmup (if any) and the decay."""
        warm = float(self.warmup_steps) if self.warmup_target is not None else 0.0
        return warm + float(self.decay_steps)

    def _edges(self) -> list[int]:
        warm = self.warmup_steps if self.warmup_target is not None else 0
        ends = (first_step_at(warm), first_step_at(self.decay_steps), self.horizon())
        return [e for e in ends if e is not None]

    def horizon(self) -> int | None:
        return first_step_at(self._length())

    step_arguments = ("decay_steps", "warmup_steps")

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """The horizon (warmup and decay) against the run."""
        warmup = self.warmup_target is not None and bool(self.warmup_steps)
        what = "warmup_steps + decay_steps" if warmup else "decay_steps"
        return horizon_findings(run, rates, self.horizon(), what, "alpha x the peak rate", self)

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        if (
            warmup_target is not None
            and isinstance(initial_learning_rate, (int, np.integer))
            and not isinstance(initial_learning_rate, bool)
        ):
            raise TypeError(
                "CosineDecay with a warmup cannot compute with an integer "
                "initial_learning_rate (Keras fails when it is called: its warmup and decay "
                "branches get different dtypes). Received: "
                f"initial_learning_rate={initial_learning_rate!r}; pass "
                f"{float(initial_learning_rate)!r}."
            )
        check_initial_learning_rate(initial_learning_rate)
        check_positive_steps("decay_steps", decay_steps)
        check_number("alpha", alpha)
        if warmup_target is not None:
            check_number("warmup_target", warmup_target)
        warm = check_number("warmup_steps", warmup_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = check_name(name)
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        if warm < 0:
            warn(
                f"warmup_steps={warmup_steps!r} is negative: Keras then never warms up "
                "and starts the cosine at a negative step.",
                stacklevel=3,  # warn <- __init__ <- the caller
            )
        if warm > 0 and warmup_target is None:
            warn(
                f"warmup_steps={warmup_steps!r} has no effect without a warmup_target "
                "(Keras ignores it).",
                stacklevel=3,  # warn <- __init__ <- the caller
            )
