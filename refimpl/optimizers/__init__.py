"""Optimizers (``SGD``, their base ``Optimizer``) and, as in Keras,
``refimpl.optimizers.schedules``."""

from __future__ import annotations

from refimpl.optimizers import schedules
from refimpl.optimizers.optimizer import Optimizer
from refimpl.optimizers.sgd import SGD

__all__ = ["SGD", "Optimizer", "schedules"]
