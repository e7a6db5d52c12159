"""Warmup factors: ``torch.optim.lr_scheduler.ConstantLR`` and ``LinearLR``."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._base import LRScheduler, param_groups_val_list, products, warn_outside_step
from refimpl.torch._validation import check_count, check_real, warn

__all__ = ["ConstantLR", "LinearLR", "constant_lr", "linear_lr"]


def constant_lr(
    step: Any,
    lr: Any,
    factor: Any = 1.0 / 3,
    total_iters: Any = 5,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate ``ConstantLR`` documents: ``lr * factor`` until ``total_iters``, then ``lr``.

    Formula (torch's ``_get_closed_form_lr``)::

        lr * (factor + (step >= total_iters) * (1 - factor))

    Intervals: ``lr * factor`` on ``[0, total_iters)``, ``lr`` from ``total_iters`` on
    (the switch happens *at* ``total_iters``).

    >>> constant_lr([0, 4, 5], 0.1, factor=0.5)
    array([0.05, 0.05, 0.1 ])
    """
    s = xp.cast(step, dtype)
    f = xp.convert_to_tensor(factor, dtype)
    after = xp.cast(s >= xp.convert_to_tensor(total_iters, dtype), dtype)
    return xp.multiply(xp.convert_to_tensor(lr, dtype), xp.add(f, xp.multiply(after, 1.0 - f)))


def linear_lr(
    step: Any,
    lr: Any,
    start_factor: Any = 1.0 / 3,
    end_factor: Any = 1.0,
    total_iters: Any = 5,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate ``LinearLR`` documents: a factor linear from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps.

    Formula (torch's ``_get_closed_form_lr``)::

        lr * (start_factor + (end_factor - start_factor) * minimum(total_iters, step) / total_iters)

    Intervals: linear on ``[0, total_iters]``, ``lr * end_factor`` from ``total_iters``
    on.  Step 0 gives ``lr * start_factor``.

    >>> linear_lr([0, 2, 4, 9], 1.0, start_factor=0.2, total_iters=4)
    array([0.2, 0.6, 1. , 1. ])
    """
    s = xp.cast(step, dtype)
    start = xp.convert_to_tensor(start_factor, dtype)
    end = xp.convert_to_tensor(end_factor, dtype)
    total = xp.convert_to_tensor(total_iters, dtype)
    ramp = xp.divide(xp.multiply(xp.subtract(end, start), xp.minimum(total, s)), total)
    return xp.multiply(xp.convert_to_tensor(lr, dtype), xp.add(start, ramp))


class ConstantLR(LRScheduler):
    """``torch.optim.lr_scheduler.ConstantLR``; see :func:`constant_lr`.

    Recursion (torch's ``get_lr``): at ``last_epoch == 0`` (the construction) the rate
    is multiplied by ``factor``; at ``last_epoch == total_iters`` by ``1.0 / factor``
    (so ``lr * factor * (1 / factor)``, not always ``lr`` to the last bit); otherwise
    kept.

    Validation: torch's ``0 <= factor <= 1`` (its message); refimpl also refuses
    ``factor == 0`` with ``total_iters >= 1`` (torch raises ``ZeroDivisionError`` at step
    ``total_iters``) and negative ``total_iters``.  Trap: ``total_iters=0`` is accepted
    and warned about: the factor applied at construction is never undone (the closed
    form says ``lr`` at every step).

    >>> ConstantLR(0.1, factor=0.5, total_iters=2)([0, 1, 2])
    array([0.05, 0.05, 0.1 ])
    """

    def __init__(
        self, lr: Any, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ) -> None:
        optimizer = self._bind(lr, factor=factor, total_iters=total_iters, last_epoch=last_epoch)
        value = check_real("factor", factor)
        if value > 1.0 or value < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        total = check_count("total_iters", total_iters, minimum=0)
        if value == 0 and total > 0:
            raise ValueError(
                "Argument `factor` must be > 0 when total_iters >= 1: torch accepts 0 and "
                f"raises ZeroDivisionError (1.0 / factor) at step total_iters={total_iters!r}. "
                f"Received: factor={factor!r}"
            )
        if total == 0:
            warn(
                "total_iters=0: torch multiplies the rate by factor at construction and never "
                "undoes it (the undo is at last_epoch == total_iters, which the construction "
                "passes first), so every step gets lr * factor; the closed form says lr.",
                stacklevel=3,
            )
        self.factor = float(factor)
        self.total_iters = total
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return param_groups_val_list(self.optimizer, "lr")
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
            for base_lr in self.base_lrs
        ]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return constant_lr(step, self._lr0, self.factor, self.total_iters, xp=xp, dtype=dtype)

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        low = self._lr0 * self.factor
        values = [low, low * (1.0 / self.factor) if self.total_iters > 0 else low]
        return np.array(values, self.dtype)[(steps >= self.total_iters).astype(np.intp)]


class LinearLR(LRScheduler):
    """``torch.optim.lr_scheduler.LinearLR``; see :func:`linear_lr`.

    Recursion (torch's ``get_lr``, for ``n = last_epoch``): at ``n == 0`` the rate is
    multiplied by ``start_factor``; for ``1 <= n <= total_iters`` by::

        1.0 + (end_factor - start_factor) / (total_iters * start_factor + (n - 1) * (end_factor - start_factor))

    (the ratio of consecutive factors); after that it is kept.  One rounding per step:
    the end rate is ``lr * end_factor`` within a few ulps, not always exactly.

    Validation: torch's (its messages): ``0 < start_factor <= 1``, ``0 <= end_factor
    <= 1``; refimpl also refuses ``total_iters < 1`` (torch accepts 0, then keeps
    ``lr * start_factor`` for ever, and its closed form divides by zero).

    >>> LinearLR(1.0, start_factor=0.25, total_iters=3)([0, 1, 2, 3, 9])
    array([0.25, 0.5 , 0.75, 1.  , 1.  ])
    """

    def __init__(
        self,
        lr: Any,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        optimizer = self._bind(
            lr,
            start_factor=start_factor,
            end_factor=end_factor,
            total_iters=total_iters,
            last_epoch=last_epoch,
        )
        start = check_real("start_factor", start_factor)
        end = check_real("end_factor", end_factor)
        if start > 1.0 or start <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."
            )
        if end > 1.0 or end < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.total_iters = check_count(
            "total_iters",
            total_iters,
            minimum=1,
            why="torch accepts 0, keeps lr * start_factor for ever and its closed form "
            "divides by zero",
        )
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return param_groups_val_list(self.optimizer, "lr")
        return [
            group["lr"]
            * (
                1.0
                + (self.end_factor - self.start_factor)
                / (
                    self.total_iters * self.start_factor
                    + (self.last_epoch - 1) * (self.end_factor - self.start_factor)
                )
            )
            for group in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            base_lr
            * (
                self.start_factor
                + (self.end_factor - self.start_factor)
                * min(self.total_iters, self.last_epoch)
                / self.total_iters
            )
            for base_lr in self.base_lrs
        ]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return linear_lr(
            step,
            self._lr0,
            self.start_factor,
            self.end_factor,
            self.total_iters,
            xp=xp,
            dtype=dtype,
        )

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        total, start, end = self.total_iters, self.start_factor, self.end_factor
        k = np.arange(1, min(int(steps.max()), total) + 1, dtype=np.int64)
        ratios = 1.0 + (end - start) / (total * start + (k - 1) * (end - start))
        table = products(self._lr0 * start, ratios, self.dtype)
        return table[np.minimum(steps, total)]
