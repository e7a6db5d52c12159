"""Every Keras learning-rate schedule, exact, as a vectorised NumPy function of the step.

Classes with Keras 3's names, signatures, defaults, validation and configs:
:class:`ExponentialDecay`, :class:`PiecewiseConstantDecay`, :class:`PolynomialDecay`,
:class:`InverseTimeDecay`, :class:`CosineDecay` (with warmup), :class:`CosineDecayRestarts`;
and, with the same conventions, :class:`TimeBasedDecay` (the legacy optimizer ``decay=``),
:class:`NaturalExpDecay`, :class:`LinearCosineDecay`, :class:`NoisyLinearCosineDecay`
(``tf.compat.v1.train``), :class:`LinearWarmup` and :class:`SequentialSchedule`.

Call a schedule on an int, float, NumPy scalar or array of steps to get what Keras
computes (float32 for a Python-float rate); call ``.exact(step)`` for float64 true math.
Each formula is also a plain function (``exponential_decay(step, ...)``) over an array
namespace ``xp``: :mod:`refimpl.numpy_ops` by default, ``keras.ops`` in the adapter.

>>> from refimpl.schedules import ExponentialDecay
>>> ExponentialDecay(0.001, 500, 0.98, staircase=True)(4689)
array(0.00083375, dtype=float32)
"""

from refimpl.schedules._base import KNOWLEDGE, LearningRateSchedule, compute_dtype
from refimpl.schedules.cosine import CosineDecay, cosine_decay
from refimpl.schedules.cosine_restarts import CosineDecayRestarts, cosine_decay_restarts
from refimpl.schedules.exponential import ExponentialDecay, exponential_decay
from refimpl.schedules.inverse_time import InverseTimeDecay, inverse_time_decay
from refimpl.schedules.linear_cosine import (
    LinearCosineDecay,
    NoisyLinearCosineDecay,
    linear_cosine_decay,
    noisy_linear_cosine_decay,
)
from refimpl.schedules.natural_exp import NaturalExpDecay, natural_exp_decay
from refimpl.schedules.piecewise import PiecewiseConstantDecay, piecewise_constant_decay
from refimpl.schedules.polynomial import PolynomialDecay, polynomial_decay
from refimpl.schedules.registry import (
    EXTRA_SCHEDULES,
    KERAS_SCHEDULES,
    SCHEDULES,
    schedule_class,
)
from refimpl.schedules.sequential import SequentialSchedule, sequential_schedule
from refimpl.schedules.serialization import deserialize, serialize
from refimpl.schedules.time_based import TimeBasedDecay, time_based_decay
from refimpl.schedules.warmup import LinearWarmup, linear_warmup

__all__ = [
    "EXTRA_SCHEDULES",
    "KERAS_SCHEDULES",
    "KNOWLEDGE",
    "SCHEDULES",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "LinearCosineDecay",
    "LinearWarmup",
    "NaturalExpDecay",
    "NoisyLinearCosineDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "SequentialSchedule",
    "TimeBasedDecay",
    "compute_dtype",
    "cosine_decay",
    "cosine_decay_restarts",
    "deserialize",
    "exponential_decay",
    "inverse_time_decay",
    "linear_cosine_decay",
    "linear_warmup",
    "natural_exp_decay",
    "noisy_linear_cosine_decay",
    "piecewise_constant_decay",
    "polynomial_decay",
    "schedule_class",
    "sequential_schedule",
    "serialize",
    "time_based_decay",
]
