"""Cuts on a plateau of a metric: ``torch.optim.lr_scheduler.ReduceLROnPlateau``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl.torch._base import (
    EPOCH_DEPRECATION_WARNING,
    LRScheduler,
    param_groups_val_list,
    update_param_group_val,
)
from refimpl.torch._validation import check_count, check_real

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(LRScheduler):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau``: the rate times ``factor`` when
    the metric has not improved for more than ``patience`` epochs.

    Rule (torch's ``step(metrics)``, once per epoch): the metric *improves* on ``best``
    when, for ``mode='min'``, it is below ``best * (1 - threshold)`` (``threshold_mode=
    'rel'``, the default) or ``best - threshold`` (``'abs'``); ``'max'`` mirrors it.
    Otherwise ``num_bad_epochs`` grows; during ``cooldown`` bad epochs are not counted;
    when ``num_bad_epochs > patience`` the rate becomes ``max(lr * factor, min_lr)``
    (computed in float64 from ``float(lr)``; not applied if it changes the rate by
    ``eps`` or less) and the cooldown starts.

    Traps (tested against torch): ``patience=2`` cuts after **3** bad epochs (``>``,
    where Keras's ``ReduceLROnPlateau`` cuts after 2, ``>=``); the default threshold is
    *relative* (1e-4 of the best value; Keras's ``min_delta`` is absolute); the first
    epoch always improves on ``best = inf``.

    The rate depends on the metric, not on the step alone: :meth:`rates` replays a
    sequence of metrics; calling the scheduler on steps raises ``TypeError``.

    >>> plateau = ReduceLROnPlateau(0.1, patience=2)
    >>> plateau.rates([1.0, 1.0, 1.0, 1.0, 1.0]).tolist()  # epoch k's rate, after k metrics
    [0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002]
    """

    def __init__(
        self,
        lr: Any,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        optimizer = self._bind(
            lr,
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            cooldown=cooldown,
            min_lr=min_lr,
            eps=eps,
        )
        if check_real("factor", factor) >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = float(factor)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(
                    f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}"
                )
            for i, value in enumerate(min_lr):
                check_real(f"min_lr[{i}]", value)
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            check_real("min_lr", min_lr)
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = check_count("patience", patience, minimum=0)
        self.cooldown = check_count("cooldown", cooldown, minimum=0)
        check_real("threshold", threshold)
        self.eps = check_real("eps", eps)
        self.last_epoch = 0
        self._last_lr = param_groups_val_list(self.optimizer, "lr")
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """One epoch's metric (torch's ``float(metrics)``)."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = param_groups_val_list(self.optimizer, "lr")

    def _reduce_lr(self, epoch: int) -> None:
        for i, param_group in enumerate(self.optimizer.param_groups):
            old_lr = float(param_group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                update_param_group_val(param_group, "lr", new_lr)

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: Any, threshold: Any, threshold_mode: Any) -> None:
        if mode not in {"min", "max"}:
            raise ValueError("mode " + str(mode) + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + str(threshold_mode) + " is unknown!")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._init_is_better(
            mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode
        )

    def rates(self, metrics: Iterable[Any]) -> np.ndarray:
        """The rate of every epoch of a fresh run fed ``metrics``: element ``k`` is the
        rate after ``k`` calls of ``step(metric)`` (``len(metrics) + 1`` values)."""
        twin = self.fresh()
        group = twin.optimizer.param_groups[0]
        out = [group["lr"]]
        for metric in metrics:
            twin.step(metric)
            out.append(group["lr"])
        return np.array(out, self.dtype)

    def __call__(self, step: npt.ArrayLike) -> np.ndarray:
        raise TypeError(
            "ReduceLROnPlateau's rate depends on the metric, not only on the step: use "
            f"rates(metrics). Received: step={step!r}"
        )

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        raise TypeError(
            "ReduceLROnPlateau has no closed form in the step: its rate depends on the "
            "metric; use rates(metrics)."
        )
