"""Linear cosine decay and its noisy variant, from ``tf.compat.v1.train``."""

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

__all__ = [
    "LinearCosineDecay",
    "NoisyLinearCosineDecay",
    "linear_cosine_decay",
    "noisy_linear_cosine_decay",
    "standard_normal",
]


def _linear_cosine(
    s: Any,
    horizon: Any,
    linear: Any,
    lr: Any,
    num_periods: Any,
    alpha: Any,
    beta: Any,
    dtype: Any,
    xp: Any,
) -> Any:
    # TensorFlow's order of operations, shared by the plain and the noisy schedule.
    completed_fraction = s / horizon
    fraction = 2.0 * xp.cast(num_periods, dtype) * completed_fraction
    cosine = 0.5 * (1.0 + xp.cos(xp.array(math.pi, dtype=dtype) * fraction))
    return xp.multiply(lr, (xp.cast(alpha, dtype) + linear) * cosine + xp.cast(beta, dtype))


def linear_cosine_decay(
    step: Any,
    initial_learning_rate: Any,
    decay_steps: Any,
    num_periods: Any = 0.5,
    alpha: Any = 0.0,
    beta: Any = 0.001,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Linear decay times a cosine (Bello et al., 2017), ``tf.compat.v1.train.linear_cosine_decay``.

    Formula (every quantity in the compute dtype)::

        s = minimum(step, decay_steps)
        linear = (decay_steps - s) / decay_steps
        cosine = 0.5 * (1 + cos(pi * 2 * num_periods * s / decay_steps))
        lr = initial_learning_rate * ((alpha + linear) * cosine + beta)

    Intervals: decays on ``[0, decay_steps]``; from ``decay_steps`` on the rate is
    ``initial_learning_rate * (alpha * cosine(decay_steps) + beta)``.  Step 0 gives
    ``initial_learning_rate * (1 + alpha + beta)``.  TensorFlow builds ``pi`` as a
    float32 constant, so its float64 version raises; refimpl casts ``pi`` to the
    compute dtype instead.

    >>> linear_cosine_decay([0, 500, 1000], 1.0, 1000)
    array([1.001, 0.251, 0.001], dtype=float32)
    """
    lr = xp.convert_to_tensor(initial_learning_rate, dtype)
    dtype = lr.dtype
    horizon = xp.cast(decay_steps, dtype)
    s = xp.minimum(xp.cast(step, dtype), horizon)
    linear = (horizon - s) / horizon
    return _linear_cosine(s, horizon, linear, lr, num_periods, alpha, beta, dtype, xp)


def _hash32(x: Any, xp: Any) -> Any:
    # "lowbias32" integer hash (C. Wellons): a bijection on uint32 with good avalanche.
    x = xp.bitwise_xor(x, xp.right_shift(x, 16))
    x = xp.multiply(x, xp.cast(0x7FEB352D, "uint32"))
    x = xp.bitwise_xor(x, xp.right_shift(x, 15))
    x = xp.multiply(x, xp.cast(0x846CA68B, "uint32"))
    return xp.bitwise_xor(x, xp.right_shift(x, 16))


def standard_normal(
    step: Any, seed: Any, *, xp: ModuleType | Any = numpy_ops, dtype: Any = "float32"
) -> Any:
    """A standard normal draw that is a pure function of ``(seed, step)``.

    Counter-based: ``h = hash32(hash32(step) ^ seed)``; two uniforms in ``(0, 1)`` from
    24 bits of ``hash32(h)`` and ``hash32(h ^ 0x5BD1E995)``; Box-Muller.  So the noise
    at a step does not depend on which other steps were evaluated, or in what order:
    the schedule stays a vectorisable function of the step.  Steps wrap modulo 2**32.

    >>> z = standard_normal(np.arange(100_000), seed=0, dtype="float64")
    >>> bool(abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01)
    True
    """
    bits = xp.cast(xp.cast(step, "int64"), "uint32")
    h = _hash32(xp.bitwise_xor(_hash32(bits, xp), xp.cast(seed, "uint32")), xp)
    scale = 1.0 / 2**24
    u1 = (xp.cast(xp.right_shift(_hash32(h, xp), 8), dtype) + 0.5) * scale
    other = xp.bitwise_xor(h, xp.cast(0x5BD1E995, "uint32"))
    u2 = (xp.cast(xp.right_shift(_hash32(other, xp), 8), dtype) + 0.5) * scale
    return xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(xp.array(2 * math.pi, dtype=dtype) * u2)


def noisy_linear_cosine_decay(
    step: Any,
    initial_learning_rate: Any,
    decay_steps: Any,
    initial_variance: Any = 1.0,
    variance_decay: Any = 0.55,
    num_periods: Any = 0.5,
    alpha: Any = 0.0,
    beta: Any = 0.001,
    seed: int = 0,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """Linear cosine decay with Gaussian noise on the linear term, seeded and reproducible.

    Formula (TensorFlow's ``noisy_linear_cosine_decay``, with a counter-based noise
    source ``z = standard_normal(step, seed)`` in place of TensorFlow's stateful RNG)::

        s = minimum(step, decay_steps)
        linear = (decay_steps - s) / decay_steps
        std = sqrt(initial_variance / (1 + s) ** variance_decay)
        cosine = 0.5 * (1 + cos(pi * 2 * num_periods * s / decay_steps))
        lr = initial_learning_rate * ((alpha + linear + std * z) * cosine + beta)

    With ``initial_variance == 0`` it equals TensorFlow's value exactly; otherwise the
    noise has TensorFlow's distribution but not its draws (TensorFlow's are not
    reproducible across calls).  Intervals and ends as in :func:`linear_cosine_decay`;
    past ``decay_steps`` the noise keeps its last standard deviation.

    >>> noisy_linear_cosine_decay([0, 500, 1000], 1.0, 1000, initial_variance=0.0)
    array([1.001, 0.251, 0.001], dtype=float32)
    """
    lr = xp.convert_to_tensor(initial_learning_rate, dtype)
    dtype = lr.dtype
    horizon = xp.cast(decay_steps, dtype)
    s = xp.minimum(xp.cast(step, dtype), horizon)
    linear = (horizon - s) / horizon
    variance = xp.cast(initial_variance, dtype) / xp.power(1.0 + s, xp.cast(variance_decay, dtype))
    noisy = linear + standard_normal(step, seed, xp=xp, dtype=dtype) * xp.sqrt(variance)
    return _linear_cosine(s, horizon, noisy, lr, num_periods, alpha, beta, dtype, xp)


#: Largest |z| of refimpl's counter-based normal draw (24-bit uniforms): sqrt(-2 ln 2**-25).
_MAX_NORMAL = math.sqrt(-2.0 * math.log(2.0**-25))


def _linear_cosine_error(schedule: Any, u: float, noise: float) -> Callable[[Any], Any]:
    """The forward error of the linear cosine decays (``noise``: the largest ``std * z``)."""
    lr = abs(float(schedule.initial_learning_rate))
    a, b = abs(float(schedule.alpha)), abs(float(schedule.beta))
    factor = 1 + a + noise  # alpha + linear (+ noise), the same in both but for noise
    half_one_plus_cos = rounded(u, 2.0, u) / 2
    scaled = rounded(factor * half_one_plus_cos + 4 * noise * u, factor, u)
    return constant(lr * rounded(scaled, factor + b, u))


class LinearCosineDecay(LearningRateSchedule, family="extra"):
    """``tf.compat.v1.train.linear_cosine_decay`` as a schedule; see :func:`linear_cosine_decay`.

    >>> LinearCosineDecay(0.1, 1000)(0)
    array(0.1001, dtype=float32)
    """

    formula = staticmethod(linear_cosine_decay)
    decision = "the decay's end: minimum(step, decay_steps)"
    counterpart = "tf.compat.v1.train.linear_cosine_decay"

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """``lr * ((alpha + linear) * 0.5 * (1 + cos) + beta)``, ``linear`` in ``[0, 1]``."""
        return _linear_cosine_error(self, u, noise=0.0)

    def _edges(self) -> list[int]:
        end = first_step_at(self.decay_steps)
        return [] if end is None else [end]

    def horizon(self) -> int | None:
        return first_step_at(self.decay_steps)

    step_arguments = ("decay_steps",)

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """The horizon against the run."""
        horizon = self.horizon()
        return horizon_findings(run, rates, horizon, "decay_steps", "its final value", self)

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        num_periods: float = 0.5,
        alpha: float = 0.0,
        beta: float = 0.001,
        name: str = "LinearCosineDecay",
    ) -> None:
        check_initial_learning_rate(initial_learning_rate)
        check_positive_steps("decay_steps", decay_steps)
        check_number("num_periods", num_periods)
        check_number("alpha", alpha)
        check_number("beta", beta)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.num_periods = num_periods
        self.alpha = alpha
        self.beta = beta
        self.name = check_name(name)


class NoisyLinearCosineDecay(LearningRateSchedule, family="extra"):
    """``tf.compat.v1.train.noisy_linear_cosine_decay``, seeded; see :func:`noisy_linear_cosine_decay`.

    The same ``(seed, step)`` always gives the same rate, whatever else is evaluated.

    >>> schedule = NoisyLinearCosineDecay(0.1, 1000, seed=7)
    >>> bool((schedule([5, 6, 7]) == schedule([7, 6, 5])[::-1]).all())
    True
    """

    formula = staticmethod(noisy_linear_cosine_decay)
    decision = "the decay's end: minimum(step, decay_steps)"
    counterpart = "tf.compat.v1.train.noisy_linear_cosine_decay"

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """``lr * ((alpha + linear) * 0.5 * (1 + cos) + beta)``, ``linear`` in ``[0, 1]``; the noisy
        variant adds ``std * z`` to ``linear``, with sqrt, log, cos and pow one ulp each."""
        return _linear_cosine_error(
            self, u, noise=math.sqrt(abs(float(self.initial_variance))) * _MAX_NORMAL
        )

    def _edges(self) -> list[int]:
        end = first_step_at(self.decay_steps)
        return [] if end is None else [end]

    def horizon(self) -> int | None:
        return None  # the noise is drawn at every step, also past decay_steps

    step_arguments = ("decay_steps",)

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """The horizon against the run: the noise goes on past it, around the final value
        of the decay (the same schedule without noise)."""
        end = first_step_at(self.decay_steps)  # horizon() is None: the noise goes on
        quiet = LinearCosineDecay(
            self.initial_learning_rate, self.decay_steps, self.num_periods, self.alpha, self.beta
        )
        return horizon_findings(
            run, rates, end, "decay_steps", "its final value (plus noise)", quiet
        )

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        initial_variance: float = 1.0,
        variance_decay: float = 0.55,
        num_periods: float = 0.5,
        alpha: float = 0.0,
        beta: float = 0.001,
        name: str = "NoisyLinearCosineDecay",
        seed: int = 0,
    ) -> None:
        check_initial_learning_rate(initial_learning_rate)
        check_positive_steps("decay_steps", decay_steps)
        variance = check_number("initial_variance", initial_variance)
        check_number("variance_decay", variance_decay)
        check_number("num_periods", num_periods)
        check_number("alpha", alpha)
        check_number("beta", beta)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise ValueError(
                f"Argument `seed` must be an int in [0, 2**32). Received: seed={seed!r}"
            )
        if variance < 0:
            warn(
                f"initial_variance={initial_variance!r} is negative: the noise's standard "
                "deviation is sqrt of a negative number, so every rate is NaN.",
                stacklevel=3,  # warn <- __init__ <- the caller
            )
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.initial_variance = initial_variance
        self.variance_decay = variance_decay
        self.num_periods = num_periods
        self.alpha = alpha
        self.beta = beta
        self.name = check_name(name)
        self.seed = seed
