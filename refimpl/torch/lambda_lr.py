"""User factors: ``torch.optim.lr_scheduler.LambdaLR`` and ``MultiplicativeLR``."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl.torch._base import LRScheduler, param_groups_val_list, warn_outside_step
from refimpl.torch._validation import check_callable
from refimpl.torch.optim import Optimizer

__all__ = ["LambdaLR", "MultiplicativeLR", "lambda_lr", "multiplicative_lr"]

Factor = Callable[[int], float]


def lambda_lr(step: Any, lr: Any, lr_lambda: Factor) -> np.ndarray:
    """The rate of ``LambdaLR``: the base rate times the user's factor of the step.

    Formula (torch's ``get_lr``; not a recursion)::

        lr * lr_lambda(step)

    ``lr_lambda`` is called with each step as a Python ``int`` (it is user code: NumPy
    only, no array namespace), in float64.  Step 0 gives ``lr * lr_lambda(0)``.

    >>> lambda_lr([0, 1, 30], 0.1, lambda epoch: 0.5 ** (epoch // 30))
    array([0.1 , 0.1 , 0.05])
    """
    steps = np.asarray(step)
    flat = [float(lr) * lr_lambda(int(s)) for s in steps.reshape(-1).tolist()]
    return np.array(flat, np.float64).reshape(steps.shape)


def multiplicative_lr(step: Any, lr: Any, lr_lambda: Factor) -> np.ndarray:
    """The rate of ``MultiplicativeLR``: the base rate times the product of the user's
    factors of steps ``1 .. step``.

    Formula (no closed form in torch; this one multiplies the factors first)::

        lr * prod(lr_lambda(k) for k in range(1, step + 1))

    Step 0 gives ``lr`` (the factor of epoch 0 is never used).

    >>> multiplicative_lr([0, 1, 3], 1.0, lambda epoch: 0.5)
    array([1.   , 0.5  , 0.125])
    """
    steps = np.asarray(step)
    flat = steps.reshape(-1)
    top = int(flat.max()) if flat.size else 0
    cumulative = [1.0]
    for k in range(1, top + 1):
        cumulative.append(cumulative[-1] * lr_lambda(k))
    values = [float(lr) * cumulative[int(s)] for s in flat.tolist()]
    return np.array(values, np.float64).reshape(steps.shape)


def _lambdas(optimizer: Optimizer, lr_lambda: Any) -> list[Factor]:
    """torch's handling of ``lr_lambda``: one function for every group, or a list with
    one per group (torch's message when the length differs)."""
    if not isinstance(lr_lambda, (list, tuple)):
        lambdas = [lr_lambda] * len(optimizer.param_groups)
    else:
        if len(lr_lambda) != len(optimizer.param_groups):
            raise ValueError(
                f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}"
            )
        lambdas = list(lr_lambda)
    return lambdas


class _UserFactors(LRScheduler):
    """What ``LambdaLR`` and ``MultiplicativeLR`` share: ``lr_lambdas`` and torch's way of
    saving them (functions and lambdas as ``None``, callable objects' ``__dict__``)."""

    lr_lambdas: list[Factor]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or "lr_lambdas" not in state_dict:
            raise TypeError(
                "Argument `state_dict` must be a dict from state_dict() (with 'lr_lambdas'). "
                f"Received: state_dict={state_dict!r}"
            )
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for i, fn in enumerate(state_dict["lr_lambdas"]):
            if fn is not None:
                self.lr_lambdas[i].__dict__.update(fn)


class LambdaLR(_UserFactors):
    """``torch.optim.lr_scheduler.LambdaLR``: ``base_lr * lr_lambda(epoch)``; see
    :func:`lambda_lr`.

    Not a recursion: every step recomputes the rate from ``base_lrs``, so a hand edit
    lasts one step.  ``lr_lambda`` must be a pure function of the epoch for the
    vectorised replay (which calls it only at the requested steps); the twin calls it
    once per step as torch does.  With a float32 tensor rate the factor (a Python
    number) is rounded to float32 and multiplied in float32.

    >>> scheduler = LambdaLR(0.1, lambda epoch: 0.95**epoch)
    >>> scheduler([0, 1])
    array([0.1  , 0.095])
    """

    def __init__(self, lr: Any, lr_lambda: Factor | list[Factor], last_epoch: int = -1) -> None:
        optimizer = self._bind(lr, lr_lambda=lr_lambda, last_epoch=last_epoch)
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            check_callable("lr_lambda", fn)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        return [
            base_lr * lmbda(self.last_epoch)
            for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)
        ]

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return lambda_lr(step, self._lr0, self.lr_lambdas[0])

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        unique, where = np.unique(steps, return_inverse=True)
        fn, base, kind = self.lr_lambdas[0], self._lr0, type(self._lr0)
        typed = kind if kind in (np.float32, np.float64) else (lambda v: v)
        values = np.array([typed(base * fn(k)) for k in unique.tolist()], self.dtype)
        return values[where.reshape(steps.shape)]


class MultiplicativeLR(_UserFactors):
    """``torch.optim.lr_scheduler.MultiplicativeLR``: the rate times
    ``lr_lambda(epoch)`` at every step; see :func:`multiplicative_lr`.

    Recursion (torch's ``get_lr``): ``lr = lr * lr_lambda(last_epoch)`` on every
    ``step()`` (the construction keeps the rate).  A hand edit persists.

    Validation: torch's (its messages): a callable, or a list of one per group.

    >>> MultiplicativeLR(1.0, lambda epoch: 0.5)([0, 1, 3])
    array([1.   , 0.5  , 0.125])
    """

    _MAX_REPLAY = 10**7  # a loop of scalar operations: ~1 s per 10**6 steps

    def __init__(self, lr: Any, lr_lambda: Factor | list[Factor], last_epoch: int = -1) -> None:
        optimizer = self._bind(lr, lr_lambda=lr_lambda, last_epoch=last_epoch)
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        if not self._is_initial:
            return [
                group["lr"] * lmbda(self.last_epoch)
                for lmbda, group in zip(self.lr_lambdas, self.optimizer.param_groups, strict=True)
            ]
        return param_groups_val_list(self.optimizer, "lr")

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        return multiplicative_lr(step, self._lr0, self.lr_lambdas[0])

    def _replay(self, n: int) -> np.ndarray:
        fn, rate = self.lr_lambdas[0], self._lr0
        out = np.empty(n, self.dtype)
        if n:
            out[0] = rate
        for k in range(1, n):
            rate = rate * fn(k)
            out[k] = rate
        return out
