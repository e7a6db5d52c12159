"""Polynomial decay: ``torch.optim.lr_scheduler.PolynomialLR``."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._base import (
    LRScheduler,
    param_groups_val_list,
    products,
    python_map,
    warn_outside_step,
)
from refimpl.torch._validation import check_count, check_real

__all__ = ["PolynomialLR", "polynomial_lr"]


def polynomial_lr(
    step: Any,
    lr: Any,
    total_iters: Any = 5,
    power: Any = 1.0,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate ``PolynomialLR`` documents: to 0 over ``total_iters`` steps.

    Formula (torch's ``_get_closed_form_lr``)::

        lr * (1.0 - minimum(total_iters, step) / total_iters) ** power

    Intervals: decays on ``[0, total_iters]`` to exactly 0 (no end rate, unlike
    Keras's ``PolynomialDecay``), 0 from ``total_iters`` on (``power == 0``: ``lr``).

    >>> polynomial_lr([0, 2, 4, 8], 1.0, total_iters=4, power=2.0)
    array([1.  , 0.25, 0.  , 0.  ])
    """
    s = xp.cast(step, dtype)
    total = xp.convert_to_tensor(total_iters, dtype)
    remaining = xp.subtract(1.0, xp.divide(xp.minimum(total, s), total))
    return xp.multiply(
        xp.convert_to_tensor(lr, dtype), xp.power(remaining, xp.convert_to_tensor(power, dtype))
    )


class PolynomialLR(LRScheduler):
    """``torch.optim.lr_scheduler.PolynomialLR``; see :func:`polynomial_lr`.

    Recursion (torch's ``get_lr``, for ``1 <= n = last_epoch <= total_iters``)::

        lr = lr * ((1.0 - n / total_iters) / (1.0 - (n - 1) / total_iters)) ** power

    (the construction and every step after ``total_iters`` keep the rate).  Step
    ``total_iters`` multiplies by ``0.0 ** power``: exactly 0.

    Validation: refimpl refuses ``total_iters < 1`` (torch accepts 0, then never
    decays, and its closed form divides by zero) and ``power < 0`` (torch raises
    ``ZeroDivisionError`` at step ``total_iters``: ``0.0 ** power``).

    >>> PolynomialLR(1.0, total_iters=4, power=2.0)([0, 2, 4, 5])
    array([1.  , 0.25, 0.  , 0.  ])
    """

    def __init__(
        self, lr: Any, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ) -> None:
        optimizer = self._bind(lr, total_iters=total_iters, power=power, last_epoch=last_epoch)
        self.total_iters = check_count(
            "total_iters",
            total_iters,
            minimum=1,
            why="torch accepts 0, then never decays, and its closed form divides by zero",
        )
        if check_real("power", power) < 0:
            raise ValueError(
                "Argument `power` must be >= 0: torch accepts a negative power and raises "
                "ZeroDivisionError (0.0 ** power) at step total_iters. "
                f"Received: power={power!r}"
            )
        self.power = float(power)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if self._is_initial or self.last_epoch > self.total_iters:
            return param_groups_val_list(self.optimizer, "lr")
        decay_factor = (
            (1.0 - self.last_epoch / self.total_iters)
            / (1.0 - (self.last_epoch - 1) / self.total_iters)
        ) ** self.power
        return [group["lr"] * decay_factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            base_lr
            * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
            for base_lr in self.base_lrs
        ]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return polynomial_lr(step, self._lr0, self.total_iters, self.power, xp=xp, dtype=dtype)

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        total, power = self.total_iters, self.power
        k = np.arange(1, min(int(steps.max()), total) + 1, dtype=np.int64)
        ratios = (1.0 - k / total) / (1.0 - (k - 1) / total)
        factors = python_map(lambda x: x**power, ratios)  # Python's ** (C pow), as torch
        return products(self._lr0, factors, self.dtype)[np.minimum(steps, total)]
