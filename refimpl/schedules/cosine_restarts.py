"""Cosine decay with warm restarts (SGDR): ``keras.optimizers.schedules.CosineDecayRestarts``."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.runs import TrainingRun
from refimpl.schedules._base import FLOAT32_EXACT_INT_LIMIT, LearningRateSchedule
from refimpl.schedules._validation import (
    check_initial_learning_rate,
    check_name,
    check_number,
    check_positive_steps,
    warn,
)
from refimpl.schedules.findings import Finding, listed, rises
from refimpl.ulps import rounded

__all__ = ["CosineDecayRestarts", "cosine_decay_restarts"]


def cosine_decay_restarts(
    step: Any,
    initial_learning_rate: Any,
    first_decay_steps: Any,
    t_mul: Any = 2.0,
    m_mul: Any = 1.0,
    alpha: Any = 0.0,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Cosine decay that restarts, each period ``t_mul`` times longer and ``m_mul`` lower.

    Formula (every quantity in the dtype of ``initial_learning_rate``)::

        f = step / first_decay_steps
        if t_mul == 1:                      # a cond on the hyperparameter, not the step
            i = floor(f)                    # the restart index
            f = f - i
        else:
            i = floor(log(1 - f * (1 - t_mul)) / log(t_mul))
            f = (f - (1 - t_mul ** i) / (1 - t_mul)) / t_mul ** i
        cosine = 0.5 * m_mul ** i * (1 + cos(pi * f))
        lr = initial_learning_rate * ((1 - alpha) * cosine + alpha)

    (here ``alpha`` is first cast to the compute dtype, unlike in ``CosineDecay``).

    Intervals: period ``i`` covers ``[first_decay_steps * (t_mul**i - 1) / (t_mul - 1),
    first_decay_steps * (t_mul**(i+1) - 1) / (t_mul - 1))``; the rate jumps back up to
    ``initial_learning_rate * m_mul ** i`` at its first step.  Step 0 gives
    ``initial_learning_rate``.  Restarts never stop.

    In float32 the ``floor(log(.) / log(.))`` restart index can be one too low at an
    exact restart step: with ``t_mul=2, first_decay_steps=1`` step 32,767 gives 0.0
    (Keras's value, the bottom of period 14) where the true restart peak is 1.0.
    refimpl reproduces that; :meth:`CosineDecayRestarts.exact` gives the true value.

    ``pi`` is rounded to float32 (slightly above pi), so mid-period the rate is just
    under one half:

    In training (:mod:`refimpl.modes`): ``log(1 - f * (1 - t_mul)) / log(t_mul)``
    becomes ``log(.) * fl(1 / logf(t_mul))`` (the constant log folded with glibc's
    ``logf``), ``/ (1 - t_mul)`` a product with its reciprocal, and the cosine's
    constant factors are multiplied together first (``(1 + cos) * (m_mul**i *
    fl(0.5 * (1 - alpha)))``): near the cosine's floor, where ``1 + cos`` has
    cancelled, that is up to ~50 ulp of the rate (840 of the first 2,000 steps of
    ``CosineDecayRestarts(0.01, 37, 1.5, 0.9, 0.01)`` differ from the eager value).
    XLA also uses its own float32 ``log`` (:mod:`refimpl.kernels.xla_cpu`), turns ``/
    t_mul**i`` into ``* t_mul**-i``, fuses multiply-adds, and for ``t_mul == 2``
    computes ``t_mul**i`` as ``exp2(i)``: the **restart index** can differ between
    eager, graph and XLA at exact restart steps.

    >>> cosine_decay_restarts([0, 50, 100, 200, 300], 1.0, 100)
    array([1.        , 0.49999997, 1.        , 0.49999997, 1.        ], dtype=float32)
    >>> float(cosine_decay_restarts(32767, 1.0, 1))
    0.0
    >>> float(CosineDecayRestarts(1.0, 1).exact(32767))
    1.0
    """
    lr = xp.convert_to_tensor(initial_learning_rate, dtype)
    dtype = lr.dtype
    first = xp.cast(first_decay_steps, dtype)
    a = xp.cast(alpha, dtype)
    t = xp.cast(t_mul, dtype)
    m = xp.cast(m_mul, dtype)
    f = xp.cast(step, dtype) / first

    def restart(geometric: bool) -> tuple[Any, Any]:
        # Keras's `compute_step`, in its order of operations (pow twice, as Keras).
        if geometric:
            i = xp.floor(xp.log(xp.cast(1.0 - f * (1.0 - t), dtype)) / xp.log(t))
            sum_r = xp.divide(1.0 - xp.power(t, i), 1.0 - t)
            return i, xp.divide(xp.subtract(f, sum_r), xp.power(t, i))
        i = xp.floor(f)
        return i, f - i

    # Decided on the *cast* t_mul, as Keras's ops.equal(t_mul, 1.0) (a Python float goes
    # through float32 first, so in float64 a t_mul within float32 rounding of 1 is 1).
    i, f = xp.cond(xp.equal(t, 1.0), lambda: restart(False), lambda: restart(True))
    m_fac = xp.power(m, i)
    cosine = 0.5 * m_fac * (1.0 + xp.cos(xp.multiply(xp.array(math.pi, dtype=dtype), f)))
    decayed = xp.add(xp.multiply(1 - a, cosine), a)
    return xp.multiply(lr, decayed)


class CosineDecayRestarts(LearningRateSchedule, family="keras"):
    """``keras.optimizers.schedules.CosineDecayRestarts``; see :func:`cosine_decay_restarts`.

    >>> CosineDecayRestarts(0.001, 1000)([0, 1000, 3000])
    array([0.001, 0.001, 0.001], dtype=float32)
    """

    formula = staticmethod(cosine_decay_restarts)
    decision = "the restart index: floor(log(1 - f * (1 - t_mul)) / log(t_mul))"
    counterpart = "keras.optimizers.schedules.CosineDecayRestarts"

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """Past the first period (``t_mul != 1``) the fraction of the period is ``f' =
        (f - (1 - t_i) / (1 - t_mul)) / t_i`` with ``t_i = t_mul ** i`` (one ulp of pow
        apart; ``f`` and the index ``i`` are the same in both); then ``lr * ((1 - alpha)
        * (0.5 * m_fac * (1 + cos(pi * f'))) + alpha)``, where ``m_fac = m_mul ** i`` is
        one ulp of pow apart too."""
        t, m = float(self.t_mul), float(self.m_mul)
        if not t > 0:
            raise ValueError(
                "tolerance: CosineDecayRestarts with t_mul <= 0 (or NaN) has no documented "
                f"bound: Keras computes NaN or nonsense there. Received: t_mul={t!r}"
            )
        lr = abs(float(self.initial_learning_rate))
        a, first = float(self.alpha), float(self.first_decay_steps)

        def restarts(s: Any) -> Any:
            f = np.asarray(s, np.float64) / first
            with np.errstate(all="ignore"):
                i = np.floor(f) if t == 1.0 else np.floor(np.log1p(f * (t - 1)) / math.log(t))
                m_fac = np.nan_to_num(np.abs(m) ** i, nan=1.0, posinf=np.inf)
                d_f: Any = 0.0
                if t != 1.0:
                    t_i = np.abs(t) ** i
                    one_minus = rounded(2 * u * t_i, np.abs(1 - t_i), u)
                    sum_r = rounded(one_minus / abs(1 - t), np.abs(1 - t_i) / abs(1 - t), u)
                    numerator = rounded(sum_r, t_i, u)  # f - sum_r, at most t_i
                    d_f = np.nan_to_num(rounded(numerator / t_i + 2 * u, 1.0, u), nan=np.inf)
                d_cos = rounded(math.pi * d_f, math.pi, u) + u  # |d cos / dx| <= 1
                cosine = rounded(0.5 * m_fac * rounded(d_cos, 2.0, u) + 2 * u * m_fac, m_fac, u)
                scaled = rounded(abs(1 - a) * cosine, abs(1 - a) * m_fac, u)
                return lr * rounded(scaled, abs(1 - a) * m_fac + abs(a), u)

        return restarts

    def _edges(self) -> list[int]:
        """The first step of each period up to ``2**24`` (at most 40 periods)."""
        edges, total, period = [], 0.0, float(self.first_decay_steps)
        for _ in range(40):
            total += period
            period *= float(self.t_mul)
            if total > FLOAT32_EXACT_INT_LIMIT or period < 1e-9:
                break
            edges.append(round(total))
        return edges

    def horizon(self) -> None:
        """None: the rate restarts for ever."""
        return None

    step_arguments = ("first_decay_steps",)

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """Where the rate restarts; a first period longer than the run (no restart)."""
        jumps = rises(rates)
        if jumps:
            return [
                Finding(
                    "note",
                    f"the rate restarts (jumps back up) at steps {listed(jumps)}; restarts "
                    "never stop.",
                )
            ]
        return [
            Finding(
                "warning",
                f"first_decay_steps = {self.first_decay_steps:,} is longer than the run: no "
                "restart happens, the schedule is a plain cosine decay here.",
            )
        ]

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        if isinstance(initial_learning_rate, (int, np.integer)) and not isinstance(
            initial_learning_rate, bool
        ):
            raise TypeError(
                "CosineDecayRestarts cannot compute with an integer initial_learning_rate "
                "(Keras raises TypeError when it is called: it mixes int32 and float "
                f"tensors). Received: initial_learning_rate={initial_learning_rate!r}; pass "
                f"{float(initial_learning_rate)!r}."
            )
        check_initial_learning_rate(initial_learning_rate)
        check_positive_steps("first_decay_steps", first_decay_steps)
        t = check_number("t_mul", t_mul)
        check_number("m_mul", m_mul)
        check_number("alpha", alpha)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = check_name(name)
        if t <= 0:
            warn(
                f"t_mul={t_mul!r} is not positive: the restart index is the floor of the log "
                "of a non-positive number, so the rate is NaN.",
                stacklevel=3,  # warn <- __init__ <- the caller
            )
        elif t < 1:
            end = check_number("first_decay_steps", first_decay_steps) / (1 - t)
            warn(
                f"t_mul={t_mul!r} is below 1: the periods shrink and add up to "
                f"first_decay_steps / (1 - t_mul) = {end:g} steps; from about that step on "
                "the restart index is the log of a non-positive number and Keras's rate is "
                "NaN.",
                stacklevel=3,
            )
