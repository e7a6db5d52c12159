"""The part of a ``torch.optim`` optimizer that a learning-rate scheduler reads and writes.

A torch scheduler does not compute a rate from the step alone: it reads and rewrites
``optimizer.param_groups[i]["lr"]`` (and ``"initial_lr"``, and for ``OneCycleLR``
``"momentum"`` or ``"betas"``) on every ``step()``.  :class:`Optimizer` is exactly that
state, for one parameter group, so that the schedulers of
:mod:`refimpl.torch.lr_scheduler` replay torch's recursion -- including the effects of
one scheduler on another sharing the optimizer, and of hand edits of the rate.

The type of ``lr`` is the precision torch computes in:

- a Python ``float`` (or ``int``): torch's Python-float arithmetic, i.e. float64;
- ``np.float32(0.1)``: a float32 tensor rate, ``SGD(params, lr=torch.tensor(0.1))``.
  torch then computes every update of the rate as a float32 tensor operation: a Python
  number meeting the tensor is rounded to float32 first, and the operation is rounded
  to float32 (measured on 20,000 random operands of ``*``, ``+``, ``-`` and ``/``: every
  result equals the float32 operation on the float32-rounded operands, and 25-50% differ
  from the float64 result rounded to float32).  NumPy 2 computes ``np.float32`` scalar
  arithmetic with Python numbers by the same rule, so the replay is torch's expression
  with ``np.float32`` in the tensor's place;
- ``np.float64(0.1)``: a float64 tensor rate, which computes as Python floats do.

>>> opt = Optimizer(0.1)
>>> opt.param_groups[0]["lr"]
0.1
>>> Optimizer(-0.1)
Traceback (most recent call last):
ValueError: Invalid learning rate: -0.1
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from refimpl.torch._validation import check_real, is_real

__all__ = ["Optimizer", "check_lr"]

#: The NumPy scalar types that stand for a 0-d tensor rate of that dtype.
TENSOR_TYPES = (np.float32, np.float64)


def check_lr(name: str, value: Any) -> Any:
    """A rate as torch's SGD takes it: a Python int or float, or a float32/float64 NumPy
    scalar standing for a 0-d tensor; ``ValueError`` (torch's message) when negative."""
    if not (type(value) in (int, float) or type(value) in TENSOR_TYPES):
        if is_real(value) or isinstance(value, (np.ndarray, np.generic)):
            raise TypeError(
                f"Argument `{name}` must be a Python float (torch's float rate) or an "
                "np.float32 / np.float64 scalar (a float32 / float64 tensor rate). "
                f"Received: {name}={value!r} ({type(value).__name__})"
            )
        raise TypeError(
            f"Argument `{name}` must be a real number. "
            f"Received: {name}={value!r} ({type(value).__name__})"
        )
    as_float = check_real(name, value, allow_inf=True)
    if as_float < 0.0:
        raise ValueError(f"Invalid learning rate: {value}")
    if math.isinf(as_float):
        raise ValueError(f"Argument `{name}` must be finite. Received: {name}={value!r}")
    return value


class Optimizer:
    """One parameter group's rate, as a torch optimizer holds it.

    ``Optimizer(lr, momentum=0.0)`` stands for ``torch.optim.SGD(params, lr=lr,
    momentum=momentum)``; ``Optimizer(lr, betas=(0.9, 0.999))`` for an Adam-like
    optimizer (``OneCycleLR`` then cycles ``betas[0]``).  ``initial_lr`` pre-sets
    ``param_groups[0]["initial_lr"]``, as a loaded optimizer checkpoint does: needed to
    construct a scheduler with ``last_epoch >= 0`` (torch raises ``KeyError`` without).

    Schedulers built on the same :class:`Optimizer` share its rate exactly as torch
    schedulers share an optimizer; assign ``param_groups[0]["lr"]`` to edit the rate by
    hand (torch's ``group["lr"] = x``; an ``np.float32`` value keeps a float32 tensor
    rate, a Python float replaces it by a float, as in torch).

    >>> opt = Optimizer(np.float32(0.1), momentum=0.9)
    >>> opt.param_groups[0]
    {'lr': np.float32(0.1), 'momentum': 0.9}
    >>> opt.state_dict()["param_groups"][0]["lr"]
    np.float32(0.1)
    """

    def __init__(
        self,
        lr: float | np.floating,
        *,
        momentum: float = 0.0,
        betas: tuple[float, float] | None = None,
        initial_lr: float | np.floating | None = None,
    ) -> None:
        check_lr("lr", lr)
        group: dict[str, Any] = {"lr": lr}
        if betas is None:
            if check_real("momentum", momentum) < 0.0:
                raise ValueError(f"Invalid momentum value: {momentum}")
            group["momentum"] = momentum
            self.defaults: dict[str, Any] = {"lr": lr, "momentum": momentum}
        else:
            if not isinstance(betas, tuple) or len(betas) != 2:
                raise TypeError(
                    f"Argument `betas` must be a tuple of two numbers. Received: betas={betas!r}"
                )
            for i, beta in enumerate(betas):
                if not 0.0 <= check_real(f"betas[{i}]", beta) < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
            group["betas"] = betas
            self.defaults = {"lr": lr, "betas": betas}
        if initial_lr is not None:
            group["initial_lr"] = check_lr("initial_lr", initial_lr)
        self.param_groups: list[dict[str, Any]] = [group]
        self._momentum = momentum
        self._betas = betas

    def fresh(self, lr: Any) -> Optimizer:
        """A new optimizer of the same kind (momentum or betas) with rate ``lr``."""
        return Optimizer(lr, momentum=self._momentum, betas=self._betas)

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{"state": {}, "param_groups": [group]}`` (copies)."""
        return {"state": {}, "param_groups": copy.deepcopy(self.param_groups)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Replace the param groups by (copies of) the saved ones, as torch does."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if not isinstance(groups, list) or len(groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups. "
                f"Received: state_dict={state_dict!r}"
            )
        self.param_groups = copy.deepcopy(groups)

    def __repr__(self) -> str:
        return f"Optimizer(param_groups={self.param_groups!r})"
