"""Exponential decay: ``torch.optim.lr_scheduler.ExponentialLR``."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._base import (
    LRScheduler,
    param_groups_val_list,
    repeated_products_at,
    warn_outside_step,
)
from refimpl.torch._validation import check_real

__all__ = ["ExponentialLR", "exponential_lr"]


def exponential_lr(
    step: Any,
    lr: Any,
    gamma: Any,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate ``ExponentialLR`` documents: ``gamma`` once per step.

    Formula (torch's ``_get_closed_form_lr``)::

        lr * gamma ** step

    Step 0 gives ``lr``; there is no end (towards 0 for ``gamma < 1``).

    torch multiplies the current rate by ``gamma`` at every step instead: one rounding
    per step, so after ``n`` steps the recursion is up to ``n`` half-ulps away from this
    formula (measured over 10**5 steps of ``gamma=0.9999``: 1.7e-3 relative with a
    float32 tensor rate, 9.7e-15 with a Python float).

    >>> exponential_lr([0, 1, 10], 0.1, 0.5)
    array([1.00000000e-01, 5.00000000e-02, 9.76562500e-05])
    """
    s = xp.cast(step, dtype)
    rate = xp.convert_to_tensor(lr, dtype)
    return xp.multiply(rate, xp.power(xp.convert_to_tensor(gamma, dtype), s))


class ExponentialLR(LRScheduler):
    """``torch.optim.lr_scheduler.ExponentialLR``: the rate times ``gamma`` at every
    step; see :func:`exponential_lr`.

    Recursion (torch's ``get_lr``): ``lr = lr * gamma`` on every ``step()`` (the
    construction's initial step keeps the rate).  A hand edit of the rate persists,
    scaled by every later step.

    Trap: the recursion drifts from the closed form, one rounding per step; with a
    float32 tensor rate ``ExponentialLR(np.float32(0.1), 0.9999)`` is 0.17% below
    ``0.1 * 0.9999 ** n`` after 10**5 steps (tested against torch).

    >>> scheduler = ExponentialLR(0.1, gamma=0.5)
    >>> scheduler([0, 1, 2])
    array([0.1  , 0.05 , 0.025])
    >>> drift = ExponentialLR(np.float32(0.1), gamma=0.9999)
    >>> n = 10**5 - 1
    >>> print(f"{float(drift(n) / drift.exact(n) - 1):.2e}")
    -1.65e-03
    """

    def __init__(self, lr: Any, gamma: float, last_epoch: int = -1) -> None:
        optimizer = self._bind(lr, gamma=gamma, last_epoch=last_epoch)
        check_real("gamma", gamma)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if self._is_initial:
            return param_groups_val_list(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return exponential_lr(step, self._lr0, self.gamma, xp=xp, dtype=dtype)

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        return repeated_products_at(self._lr0, self.gamma, self.dtype, steps)
