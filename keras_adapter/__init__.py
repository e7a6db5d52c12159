"""refimpl's schedule formulas inside Keras 3: compiled, saved, distributed.

``import keras_adapter`` imports Keras (and TensorFlow) and registers one Keras
``LearningRateSchedule`` per refimpl schedule, under the package ``"lr_refimpl"``:
:class:`ExponentialDecay`, :class:`PiecewiseConstantDecay`, :class:`PolynomialDecay`,
:class:`InverseTimeDecay`, :class:`CosineDecay`, :class:`CosineDecayRestarts`,
:class:`TimeBasedDecay`, :class:`NaturalExpDecay`, :class:`LinearCosineDecay`,
:class:`NoisyLinearCosineDecay`, :class:`LinearWarmup`, :class:`SequentialSchedule`.
Each runs the refimpl formula function itself on ``keras.ops``.

Also: :func:`from_keras` / :func:`to_keras` (lossless conversions) and
:func:`legacy_decay` (the optimizer ``decay=`` that Keras 3 ignores).  The command line's
TensorFlow half lives here too, imported on demand: :mod:`keras_adapter.parity` (the
comparison ``lr-refimpl parity`` runs) and :mod:`keras_adapter.lesson` (``lr-refimpl
tutorial --backend keras``).

Load a model saved with an adapter schedule only after ``import keras_adapter``:
otherwise Keras reports "Could not locate class 'ExponentialDecay'".

>>> import keras, keras_adapter
>>> optimizer = keras.optimizers.SGD(learning_rate=keras_adapter.TimeBasedDecay(0.001, 2e-4))
>>> float(optimizer.learning_rate)  # the rate of the next update (step 0)
0.001
"""

from __future__ import annotations

from keras_adapter.convert import from_keras, to_keras
from keras_adapter.legacy import LegacyDecay, legacy_decay
from keras_adapter.schedules import (
    ADAPTERS,
    PACKAGE,
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LinearCosineDecay,
    LinearWarmup,
    NaturalExpDecay,
    NoisyLinearCosineDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    RefimplSchedule,
    SequentialSchedule,
    TimeBasedDecay,
)

__all__ = [
    "ADAPTERS",
    "PACKAGE",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LegacyDecay",
    "LinearCosineDecay",
    "LinearWarmup",
    "NaturalExpDecay",
    "NoisyLinearCosineDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "RefimplSchedule",
    "SequentialSchedule",
    "TimeBasedDecay",
    "from_keras",
    "legacy_decay",
    "to_keras",
]
