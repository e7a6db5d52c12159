"""``torch.optim.lr_scheduler`` in NumPy: torch 2.13.0's schedulers, replayed bit for bit.

Every scheduler has torch's name, arguments, defaults and validation, with the base
rate (or a shared :class:`Optimizer`) in the optimizer's place::

    StepLR(0.1, step_size=30, gamma=0.1)          # torch: StepLR(optimizer, 30, 0.1)
    StepLR(np.float32(0.1), step_size=30)         # SGD(params, lr=torch.tensor(0.1))

Three views of each (see :mod:`refimpl.torch._base`):

- ``scheduler(steps)``: the rate torch applies at those optimizer updates (0 is the
  first) in a fresh run -- torch's *recursion*, replayed with its roundings (float64
  for a Python-float rate, float32 for a float32 tensor rate).  This is what trained
  the model; where it differs from the documented formula, it is what is returned.
- ``scheduler.closed_form(steps, xp=...)`` and ``scheduler.exact(steps)``: the formula
  torch documents, over an array namespace, in float64 (module-level functions too:
  ``step_lr(step, lr, step_size, gamma, xp=..., dtype=...)``).
- the stateful twin: ``step()``, ``get_last_lr()``, ``last_epoch``, ``state_dict()``,
  ``load_state_dict()``, with torch's semantics; ``scheduler.optimizer.param_groups``
  holds the rate, and hand edits persist as in torch.

>>> import numpy as np
>>> from refimpl.torch.lr_scheduler import CosineAnnealingLR
>>> cosine = CosineAnnealingLR(np.float32(0.1), T_max=10**5)
>>> n = np.arange(10**5)
>>> torch_rate, formula = cosine(n), cosine.exact(n)
>>> keep = formula > 1e-4  # where a relative error means something
>>> print(f"{np.max(np.abs(torch_rate[keep] / formula[keep] - 1)):.1e}")
2.8e-05
"""

from __future__ import annotations

from refimpl.torch._base import LRScheduler
from refimpl.torch.composite import ChainedScheduler, SequentialLR
from refimpl.torch.cosine import CosineAnnealingLR, cosine_annealing_lr
from refimpl.torch.cosine_restarts import (
    CosineAnnealingWarmRestarts,
    cosine_annealing_warm_restarts,
)
from refimpl.torch.exponential import ExponentialLR, exponential_lr
from refimpl.torch.lambda_lr import LambdaLR, MultiplicativeLR, lambda_lr, multiplicative_lr
from refimpl.torch.linear import ConstantLR, LinearLR, constant_lr, linear_lr
from refimpl.torch.one_cycle import OneCycleLR, one_cycle_lr
from refimpl.torch.optim import Optimizer
from refimpl.torch.plateau import ReduceLROnPlateau
from refimpl.torch.polynomial import PolynomialLR, polynomial_lr
from refimpl.torch.step import MultiStepLR, StepLR, multi_step_lr, step_lr

__all__ = [
    "SCHEDULERS",
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "Optimizer",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
    "constant_lr",
    "cosine_annealing_lr",
    "cosine_annealing_warm_restarts",
    "exponential_lr",
    "lambda_lr",
    "linear_lr",
    "multi_step_lr",
    "multiplicative_lr",
    "one_cycle_lr",
    "polynomial_lr",
    "step_lr",
]

#: Every scheduler by torch's name.
SCHEDULERS: dict[str, type[LRScheduler]] = {
    cls.__name__: cls
    for cls in (
        StepLR,
        MultiStepLR,
        ConstantLR,
        LinearLR,
        ExponentialLR,
        SequentialLR,
        CosineAnnealingLR,
        ChainedScheduler,
        ReduceLROnPlateau,
        CosineAnnealingWarmRestarts,
        OneCycleLR,
        PolynomialLR,
        LambdaLR,
        MultiplicativeLR,
    )
}
