"""Step decays: ``torch.optim.lr_scheduler.StepLR`` and ``MultiStepLR``."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._base import (
    LRScheduler,
    param_groups_val_list,
    products,
    repeated_products_at,
    warn_outside_step,
)
from refimpl.torch._validation import check_count, check_real, warn

__all__ = ["MultiStepLR", "StepLR", "multi_step_lr", "step_lr"]


def step_lr(
    step: Any,
    lr: Any,
    step_size: Any,
    gamma: Any = 0.1,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate ``StepLR`` documents: ``gamma`` once every ``step_size`` steps.

    Formula (torch's ``_get_closed_form_lr``)::

        lr * gamma ** floor(step / step_size)

    Intervals: constant on ``[k * step_size, (k + 1) * step_size)``; it changes *at*
    ``step == k * step_size`` (Keras's staircase ``ExponentialDecay`` too).  Step 0
    gives ``lr``; there is no end.

    torch computes it recursively (``lr * gamma`` at each multiple of ``step_size``),
    which rounds once per decay: equal to this formula within a few ulps, not always
    bit for bit (``StepLR.__call__`` replays the recursion).

    >>> step_lr([0, 29, 30, 60], 0.1, 30)
    array([0.1  , 0.1  , 0.01 , 0.001])
    """
    s = xp.cast(step, dtype)
    k = xp.floor(xp.divide(s, xp.convert_to_tensor(step_size, dtype)))
    rate = xp.convert_to_tensor(lr, dtype)
    return xp.multiply(rate, xp.power(xp.convert_to_tensor(gamma, dtype), k))


def multi_step_lr(
    step: Any,
    lr: Any,
    milestones: Iterable[Any],
    gamma: Any = 0.1,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate ``MultiStepLR`` documents: ``gamma`` once at every milestone passed.

    Formula (torch's ``_get_closed_form_lr``, ``bisect_right`` as a count)::

        lr * gamma ** sum(step >= m for m in milestones)

    A milestone listed twice counts twice.

    Intervals: the rate changes *at* each milestone (``[m_i, m_{i+1})`` is one
    interval); Keras's ``PiecewiseConstantDecay`` switches one step later, at
    ``boundary + 1``.  Step 0 gives ``lr`` (``lr * gamma`` if 0 is a milestone);
    after the last milestone the rate stays.

    >>> multi_step_lr([0, 29, 30, 79, 80], 0.1, [30, 80])
    array([0.1  , 0.1  , 0.01 , 0.01 , 0.001])
    """
    s = xp.cast(step, dtype)
    count: Any = xp.multiply(s, xp.convert_to_tensor(0.0, dtype))
    for m in sorted(milestones):
        count = xp.add(count, xp.cast(s >= m, dtype))
    rate = xp.convert_to_tensor(lr, dtype)
    return xp.multiply(rate, xp.power(xp.convert_to_tensor(gamma, dtype), count))


class StepLR(LRScheduler):
    """``torch.optim.lr_scheduler.StepLR``: the rate times ``gamma`` every ``step_size``
    steps; see :func:`step_lr`.

    Recursion (torch's ``get_lr``): at ``last_epoch`` a positive multiple of
    ``step_size`` the current rate is multiplied by ``gamma``; otherwise it is kept.  A
    hand edit of the rate therefore persists, scaled by later decays.

    Validation: ``step_size`` an integer >= 1 (torch accepts 0 and raises
    ``ZeroDivisionError`` at the first ``step()``), ``gamma`` a real number.

    >>> scheduler = StepLR(0.1, step_size=30, gamma=0.1)
    >>> scheduler([0, 29, 30, 60]).tolist()  # torch's values, bit for bit
    [0.1, 0.1, 0.010000000000000002, 0.0010000000000000002]
    """

    def __init__(self, lr: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        optimizer = self._bind(lr, step_size=step_size, gamma=gamma, last_epoch=last_epoch)
        check_count(
            "step_size",
            step_size,
            minimum=1,
            why="torch accepts 0 and raises ZeroDivisionError at the first step()",
        )
        check_real("gamma", gamma)
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if (self.last_epoch == 0) or (self.last_epoch % self.step_size != 0):
            return param_groups_val_list(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs
        ]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return step_lr(step, self._lr0, self.step_size, self.gamma, xp=xp, dtype=dtype)

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        decays = steps // self.step_size
        return repeated_products_at(self._lr0, self.gamma, self.dtype, decays)


class MultiStepLR(LRScheduler):
    """``torch.optim.lr_scheduler.MultiStepLR``: the rate times ``gamma`` at each
    milestone; see :func:`multi_step_lr`.

    Recursion (torch's ``get_lr``): when ``last_epoch`` is a milestone listed ``c``
    times, the current rate is multiplied by ``gamma ** c``.  ``milestones`` is kept as
    a ``collections.Counter``, as in torch: any order, duplicates count.

    Traps: the decay happens *at* the milestone (Keras's ``PiecewiseConstantDecay``
    holds the old value there and switches at ``boundary + 1``); a milestone 0 decays
    at construction (the rate of update 0 is already ``lr * gamma``).

    >>> scheduler = MultiStepLR(0.1, milestones=[30, 80], gamma=0.1)
    >>> scheduler([29, 30, 80]).tolist()
    [0.1, 0.010000000000000002, 0.0010000000000000002]
    >>> MultiStepLR(0.1, milestones=[0, 2], gamma=0.5)([0, 1, 2])
    array([0.05 , 0.05 , 0.025])
    """

    def __init__(
        self, lr: Any, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise TypeError(
                "Argument `milestones` must be a list of integers. "
                f"Received: milestones={milestones!r} ({type(milestones).__name__})"
            )
        listed = list(milestones)
        checked = [
            check_count(f"milestones[{i}]", m, minimum=-(2**63)) for i, m in enumerate(listed)
        ]
        optimizer = self._bind(lr, milestones=checked, gamma=gamma, last_epoch=last_epoch)
        check_real("gamma", gamma)
        if any(m < 0 for m in checked):
            warn(
                f"milestones={listed!r} contain a negative step, which torch never reaches.",
                stacklevel=3,
            )
        self.milestones = Counter(checked)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if self.last_epoch not in self.milestones:
            return param_groups_val_list(self.optimizer, "lr")
        return [
            group["lr"] * self.gamma ** self.milestones[self.last_epoch]
            for group in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self) -> list[Any]:
        milestones = sorted(self.milestones.elements())
        return [
            base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
            for base_lr in self.base_lrs
        ]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return multi_step_lr(
            step, self._lr0, self._args["milestones"], self.gamma, xp=xp, dtype=dtype
        )

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        counts = Counter(self._args["milestones"])
        reached = sorted(m for m in counts if m >= 0)
        table = products(self._lr0, [self.gamma ** counts[m] for m in reached], self.dtype)
        return table[np.searchsorted(np.array(reached, np.int64), steps, side="right")]
