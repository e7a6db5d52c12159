"""Cosine annealing: ``torch.optim.lr_scheduler.CosineAnnealingLR``."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._base import LRScheduler, param_groups_val_list, python_map, warn_outside_step
from refimpl.torch._validation import check_count, check_real

__all__ = ["CosineAnnealingLR", "cosine_annealing_lr"]


def cosine_annealing_lr(
    step: Any,
    lr: Any,
    T_max: Any,
    eta_min: Any = 0.0,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate ``CosineAnnealingLR`` documents (SGDR's cosine, without restarts).

    Formula (torch's ``_get_closed_form_lr``)::

        eta_min + (lr - eta_min) * (1 + cos(pi * step / T_max)) / 2

    ``eta_min`` is an absolute rate (Keras's ``alpha`` and Optax's ``alpha`` are
    fractions of the initial rate).

    Intervals: from ``lr`` at step 0 down to ``eta_min`` at ``step == T_max``; then,
    with no clamp, **up again**: the cosine is periodic, back at ``lr`` at ``2 * T_max``
    (Keras's ``CosineDecay`` and Optax's ``cosine_decay_schedule`` hold the final value).

    >>> cosine_annealing_lr([0, 50, 100, 150, 200], 1.0, 100)
    array([1. , 0.5, 0. , 0.5, 1. ])
    """
    s = xp.cast(step, dtype)
    pi = xp.convert_to_tensor(math.pi, dtype)
    low = xp.convert_to_tensor(eta_min, dtype)
    top = xp.convert_to_tensor(lr, dtype)
    cosine = xp.cos(xp.divide(xp.multiply(pi, s), xp.convert_to_tensor(T_max, dtype)))
    return xp.add(low, xp.divide(xp.multiply(xp.subtract(top, low), xp.add(1.0, cosine)), 2.0))


class CosineAnnealingLR(LRScheduler):
    """``torch.optim.lr_scheduler.CosineAnnealingLR``; see :func:`cosine_annealing_lr`.

    Recursion (torch's ``get_lr``, for ``n = last_epoch``)::

        lr = (1 + cos(pi * n / T_max)) / (1 + cos(pi * (n - 1) / T_max)) * (lr - eta_min) + eta_min

    except at ``n - 1 - T_max`` a multiple of ``2 * T_max`` (the bottom, where that
    ratio divides by zero), where ``lr = lr + (base_lr - eta_min) * (1 - cos(pi / T_max)) / 2``;
    the construction's initial step keeps the rate.  ``math.cos`` in float64; with a
    float32 tensor rate the ratio is rounded to float32 and every operation on the rate
    is a float32 operation.

    Traps (each tested against torch):

    - periodic: past ``T_max`` the rate rises again (no clamp);
    - drift: near the bottom the ratio amplifies the rounding error of the rate; with a
      float32 tensor rate and ``T_max=10**5`` the rate is up to 2.8e-5 relative (352
      float32 ulp) from the closed form within 10**5 steps, below 1e-12 with a Python
      float;
    - the ratio multiplies whatever rate the optimizer holds: a hand edit, or another
      scheduler's factor in a ``ChainedScheduler``, is carried along as a scaled
      offset, not reset to the cosine.

    >>> scheduler = CosineAnnealingLR(0.1, T_max=100)
    >>> scheduler([0, 50, 100, 200]).tolist()  # torch's recursion: down, and up again
    [0.1, 0.05000000000000004, 0.0, 0.09999999999999994]
    >>> scheduler.exact([50, 200]).tolist()  # the formula
    [0.05000000000000001, 0.1]
    """

    _MAX_REPLAY = 10**7  # a loop of scalar operations: ~1 s per 10**6 steps

    def __init__(self, lr: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        optimizer = self._bind(lr, T_max=T_max, eta_min=eta_min, last_epoch=last_epoch)
        check_count(
            "T_max",
            T_max,
            minimum=1,
            why="torch accepts 0 and raises ZeroDivisionError at the first step()",
        )
        check_real("eta_min", eta_min)
        self.T_max = int(T_max)
        self.eta_min = eta_min if type(eta_min) in (int, float) else float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if self._is_initial:
            return param_groups_val_list(self.optimizer, "lr")
        if self._step_count == 1 and self.last_epoch > 0:
            return [
                self.eta_min
                + (base_lr - self.eta_min)
                * (1 + math.cos((self.last_epoch) * math.pi / self.T_max))
                / 2
                for base_lr in self.base_lrs
            ]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [
                group["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups, strict=True)
            ]
        return [
            (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
            * (group["lr"] - self.eta_min)
            + self.eta_min
            for group in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
            for base_lr in self.base_lrs
        ]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return cosine_annealing_lr(step, self._lr0, self.T_max, self.eta_min, xp=xp, dtype=dtype)

    def _replay(self, n: int) -> np.ndarray:
        """The recursion: the ratios vectorised (``math.cos`` of every step), the affine
        update of the rate -- three roundings per step -- in a loop."""
        T, low, base = self.T_max, self.eta_min, self._lr0
        out = np.empty(n, self.dtype)
        if n == 0:
            return out
        k = np.arange(n, dtype=np.int64)
        one_plus_cos = 1 + python_map(math.cos, math.pi * k / T)
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 only where not used
            ratios = (one_plus_cos[1:] / one_plus_cos[:-1]).tolist()  # Python floats
        bottom = ((k[1:] - 1 - T) % (2 * T) == 0).tolist()
        rise = (base - low) * (1 - math.cos(math.pi / T)) / 2
        rate = base
        out[0] = rate
        for i, (ratio, at_bottom) in enumerate(zip(ratios, bottom), start=1):
            rate = rate + rise if at_bottom else ratio * (rate - low) + low
            out[i] = rate
        return out
