"""Cosine annealing with warm restarts (SGDR): ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._base import (
    LRScheduler,
    param_groups_val_list,
    python_map,
    update_param_group_val,
    warn_outside_step,
)
from refimpl.torch._validation import is_real

__all__ = ["CosineAnnealingWarmRestarts", "cosine_annealing_warm_restarts", "restart_position"]


def restart_position(
    step: Any,
    T_0: int,
    T_mult: int,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> tuple[Any, Any]:
    """``(T_cur, T_i)`` at ``step``: the steps since the last restart and the length of
    the current period, over ``xp`` in ``dtype`` (exact for integer steps below 2**53).

    Period ``i`` starts at ``T_0 * (T_mult**i - 1) / (T_mult - 1)`` (at ``i * T_0`` for
    ``T_mult == 1``) and lasts ``T_0 * T_mult**i`` steps.  The index ``i`` is first
    estimated with ``log``, then corrected by one either way with exact comparisons,
    so a rounded logarithm cannot pick the wrong period (torch's own ``step(epoch)``
    takes ``int(math.log(...))`` and can).

    >>> restart_position([0, 9, 10, 29, 30], 10, 2)
    (array([ 0.,  9.,  0., 19.,  0.]), array([10., 10., 20., 20., 40.]))
    """
    s = xp.cast(step, dtype)
    t0 = xp.convert_to_tensor(T_0, dtype)
    if T_mult == 1:
        return xp.subtract(s, xp.multiply(t0, xp.floor(xp.divide(s, t0)))), xp.add(
            xp.multiply(s, 0.0), t0
        )
    tm = xp.convert_to_tensor(T_mult, dtype)

    def start(i: Any) -> Any:  # first step of period i
        return xp.divide(xp.multiply(t0, xp.subtract(xp.power(tm, i), 1.0)), tm - 1.0)

    i = xp.floor(
        xp.divide(xp.log(xp.add(1.0, xp.divide(xp.multiply(s, tm - 1.0), t0))), xp.log(tm))
    )
    i = xp.where(s < start(i), i - 1.0, i)
    i = xp.where(s >= start(i + 1.0), i + 1.0, i)
    return xp.subtract(s, start(i)), xp.multiply(t0, xp.power(tm, i))


def cosine_annealing_warm_restarts(
    step: Any,
    lr: Any,
    T_0: int,
    T_mult: int = 1,
    eta_min: Any = 0.0,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The rate of ``CosineAnnealingWarmRestarts`` (SGDR).

    Formula (torch's ``get_lr``; ``T_cur`` and ``T_i`` from :func:`restart_position`)::

        eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    Intervals: period ``i`` covers ``[T_0 * (T_mult**i - 1) / (T_mult - 1), ...)`` of
    length ``T_0 * T_mult**i``; the rate jumps back to ``lr`` at its first step and never
    reaches ``eta_min`` (the step that would, ``T_cur == T_i``, is the restart).  Step 0
    gives ``lr``; restarts never stop.  Unlike Keras's ``CosineDecayRestarts`` there is
    no ``m_mul``: every period starts at ``lr``.

    >>> cosine_annealing_warm_restarts([0, 5, 10, 20], 1.0, 10, T_mult=2).tolist()
    [1.0, 0.5, 1.0, 0.5]
    """
    t_cur, t_i = restart_position(step, T_0, T_mult, xp=xp, dtype=dtype)
    pi = xp.convert_to_tensor(math.pi, dtype)
    low = xp.convert_to_tensor(eta_min, dtype)
    top = xp.convert_to_tensor(lr, dtype)
    cosine = xp.cos(xp.divide(xp.multiply(pi, t_cur), t_i))
    return xp.add(low, xp.divide(xp.multiply(xp.subtract(top, low), xp.add(1.0, cosine)), 2.0))


class CosineAnnealingWarmRestarts(LRScheduler):
    """``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``; see
    :func:`cosine_annealing_warm_restarts`.

    Not a recursion on the rate: every step recomputes it from ``base_lrs`` with the
    counters ``T_cur`` (+1 per step; at ``T_i`` it wraps to 0 and ``T_i *= T_mult``).
    So a hand edit of the rate lasts one step.  ``step(epoch)`` takes a fractional
    epoch (``scheduler.step(epoch + i / iters)``), as in torch, without a warning.

    Validation, torch's own (and its messages): ``T_0`` a positive ``int``, ``T_mult``
    an ``int >= 1``, ``eta_min`` a float or int.

    >>> scheduler = CosineAnnealingWarmRestarts(0.1, T_0=10)
    >>> scheduler([0, 5, 10, 20]).tolist()
    [0.1, 0.05000000000000001, 0.1, 0.1]
    """

    def __init__(
        self, lr: Any, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        optimizer = self._bind(lr, T_0=T_0, T_mult=T_mult, eta_min=eta_min, last_epoch=last_epoch)
        for name, value in (("T_0", T_0), ("T_mult", T_mult)):
            if not is_real(value):
                raise TypeError(
                    f"Argument `{name}` must be an integer. Received: {name}={value!r} "
                    f"({type(value).__name__})"
                )
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)) or isinstance(eta_min, bool):
            raise ValueError(
                f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}"
            )
        if math.isnan(eta_min):
            raise ValueError(f"Argument `eta_min` must not be NaN. Received: eta_min={eta_min!r}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        return [
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
            for base_lr in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:
        """torch's ``step``: ``epoch`` may be fractional; no ``_step_count`` increment."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** (n)
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            update_param_group_val(group, "lr", lr)
        self._last_lr = param_groups_val_list(self.optimizer, "lr")

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return cosine_annealing_warm_restarts(
            step, self._lr0, self.T_0, self.T_mult, self.eta_min, xp=xp, dtype=dtype
        )

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        """torch's arithmetic on integer counters, vectorised: ``T_cur`` and ``T_i``
        exactly (Python-int period starts), ``math.cos`` per step."""
        T_0, T_mult = self.T_0, self.T_mult
        if T_mult == 1:
            t_cur, t_i = steps % T_0, np.full(steps.shape, T_0, np.int64)
        else:
            starts, length = [0], T_0
            while starts[-1] <= int(steps.max()):
                starts.append(starts[-1] + length)
                length *= T_mult
            period = np.searchsorted(np.array(starts, np.int64), steps, side="right") - 1
            t_cur = steps - np.array(starts, np.int64)[period]
            t_i = T_0 * np.array([T_mult**i for i in range(len(starts))], np.int64)[period]
        one_plus_cos = 1 + python_map(math.cos, math.pi * t_cur / t_i)
        base, low = self._lr0, self.eta_min
        if self.dtype == np.float32:
            scaled = np.float32(base - low) * one_plus_cos.astype(np.float32)
            return np.float32(low) + scaled / np.float32(2)
        return low + (base - low) * one_plus_cos / 2
