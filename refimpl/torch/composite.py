"""Schedulers of schedulers: ``torch.optim.lr_scheduler.SequentialLR`` and ``ChainedScheduler``.

torch's schedulers share the optimizer's rate, and constructing one runs its first
step on that rate: the order of construction matters.  Here the children either share
an :class:`~refimpl.torch.optim.Optimizer` already (built on it by the caller, in the
caller's order: exactly torch's situation), or were each built on a plain base rate;
then the composite rebuilds them on one optimizer **in list order** (as torch code
builds them, each right before the next) and uses the rebuilt ones
(``scheduler._schedulers``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from refimpl.torch._base import (
    LRScheduler,
    as_optimizer,
    param_groups_val_list,
    update_param_group_val,
)
from refimpl.torch._validation import check_count
from refimpl.torch.optim import Optimizer

__all__ = ["ChainedScheduler", "SequentialLR"]


def _check_children(cls: str, schedulers: Any, *, chained: bool) -> list[LRScheduler]:
    """torch's checks (and messages) on the list of schedulers."""
    if isinstance(schedulers, (str, bytes)) or not isinstance(schedulers, Sequence):
        raise TypeError(
            "Argument `schedulers` must be a list of schedulers. "
            f"Received: schedulers={schedulers!r} ({type(schedulers).__name__})"
        )
    if len(schedulers) < 1:
        what = "at least one scheduler to be chained" if chained else "at least one scheduler"
        raise ValueError(f"{cls} expects {what}, but got no scheduler.")
    from refimpl.torch.plateau import ReduceLROnPlateau

    for idx, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(f"{cls} at index {idx} should have `optimizer` as its attribute.")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(
                f"{cls} does not support `ReduceLROnPlateau` scheduler as it "
                "requires additional kwargs to be specified when calling `step`, "
                f"but got one at index {idx} in the given schedulers sequence."
            )
    return list(schedulers)


def _on_one_optimizer(
    cls: str, optimizer: Optimizer, lr0: Any, schedulers: list[LRScheduler]
) -> list[LRScheduler]:
    """The children, all working on ``optimizer``: as given if they already do, else
    rebuilt on it in list order (each child's base rate must be ``lr0``)."""
    if all(s.optimizer is optimizer for s in schedulers):
        return schedulers
    for idx, scheduler in enumerate(schedulers):
        if scheduler.optimizer is optimizer:
            raise ValueError(
                f"{cls} expects all schedulers to belong to the same optimizer, but "
                f"scheduler {type(scheduler).__name__} at index {idx} shares it while others "
                "do not: build every scheduler on the one Optimizer, or each on the base rate."
            )
        if type(scheduler._lr0) is not type(lr0) or scheduler._lr0 != lr0:
            raise ValueError(
                f"{cls} expects all schedulers to belong to the same optimizer, but got "
                f"scheduler {type(scheduler).__name__} at index {idx} with base rate "
                f"{scheduler._lr0!r}, which is different from {lr0!r}."
            )
    return [scheduler._rebuild(optimizer) for scheduler in schedulers]


class _Composite(LRScheduler):
    """What ``SequentialLR`` and ``ChainedScheduler`` share: children, and torch's state
    of them (each child's ``state_dict()`` under ``_schedulers``)."""

    _schedulers: list[LRScheduler]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in super().state_dict().items() if k != "_schedulers"}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or "_schedulers" not in state_dict:
            raise TypeError(
                "Argument `state_dict` must be a dict from state_dict() (with '_schedulers'). "
                f"Received: state_dict={state_dict!r}"
            )
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "_schedulers"})
        for child, saved in zip(self._schedulers, state_dict["_schedulers"], strict=True):
            child.load_state_dict(saved)


class SequentialLR(_Composite):
    """``torch.optim.lr_scheduler.SequentialLR``: ``schedulers[i]`` drives the rate from
    ``milestones[i - 1]`` on.

    ``SequentialLR(0.1, [LinearLR(0.1, 0.1, total_iters=5), ExponentialLR(0.1, 0.9)],
    milestones=[5])``.  torch's mechanics, replayed:

    - construction resets the rate to ``initial_lr``, steps every child's
      ``last_epoch`` back by one (undoing their own construction) and re-runs the
      initial step of the child active at step 0 only;
    - ``step()`` advances the active child; at a milestone the new child is restarted
      with ``_update_lr(0)``: its closed form at epoch 0 where torch has one, else its
      ``get_lr`` -- ``MultiplicativeLR`` then multiplies the *previous* child's last
      rate, ``CosineAnnealingWarmRestarts`` uses its stale counters;
    - a recursive child continues from whatever rate it finds.

    Traps (tested against torch): ``SequentialLR(..., last_epoch=N)`` does not resume
    at step ``N`` (pytorch#162591: it re-initialises the child active at step 0 and
    counts from ``N + 1``); with a milestone 0 the first child never runs (#185872,
    fixed in 2.13.0's construction).  :meth:`closed_form` is the piecewise composition
    of the children's closed forms, each restarted at its milestone -- what the
    documentation describes.

    >>> from refimpl.torch.lr_scheduler import ExponentialLR, LinearLR
    >>> warm = SequentialLR(
    ...     1.0, [LinearLR(1.0, 0.5, total_iters=2), ExponentialLR(1.0, 0.5)], milestones=[2]
    ... )
    >>> warm([0, 1, 2, 3]).tolist()
    [0.5, 0.75, 1.0, 0.5]
    """

    def __init__(
        self,
        lr: Any,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        cls = type(self).__name__
        optimizer = self._bind(
            lr, schedulers=schedulers, milestones=milestones, last_epoch=last_epoch
        )
        children = _check_children(cls, schedulers, chained=False)
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
            raise TypeError(
                "Argument `milestones` must be a list of integers. "
                f"Received: milestones={milestones!r} ({type(milestones).__name__})"
            )
        checked = [
            check_count(f"milestones[{i}]", m, minimum=-(2**63)) for i, m in enumerate(milestones)
        ]
        if len(milestones) != len(children) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers {len(children)} and the "
                f"number of milestones to be equal to {len(milestones)}"
            )
        children = _on_one_optimizer(cls, optimizer, self._lr0, children)
        self._schedulers = children
        self._milestones = checked
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in self.optimizer.param_groups:
            update_param_group_val(group, "lr", group["initial_lr"])
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = children[idx].get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Step back every child's ``last_epoch`` by one (torch's name)."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """Advance the active child; at a milestone restart the next one at epoch 0."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def _rebuild(self, optimizer: Optimizer, **overrides: Any) -> SequentialLR:
        args = {**self._args, **overrides}
        args["schedulers"] = [s._rebuild(optimizer) for s in self._args["schedulers"]]
        return SequentialLR(optimizer, **args)

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        s = xp.cast(step, dtype)
        result = self._schedulers[0].closed_form(s, xp=xp, dtype=dtype)
        for milestone, child in zip(self._milestones, self._schedulers[1:]):
            start = xp.convert_to_tensor(milestone, dtype)
            later = child.closed_form(xp.maximum(xp.subtract(s, start), 0.0), xp=xp, dtype=dtype)
            result = xp.where(s >= start, later, result)
        return result


class ChainedScheduler(_Composite):
    """``torch.optim.lr_scheduler.ChainedScheduler``: every child steps, in order, on
    the one rate.

    ``ChainedScheduler([ConstantLR(0.1, 0.1, total_iters=2), ExponentialLR(0.1, 0.9)])``.
    torch's signature: the schedulers first, the optimizer (here: ``lr``, a base rate
    or an :class:`~refimpl.torch.optim.Optimizer`) optional.  No initial step of its
    own: the children's constructions (in order) set the rate of update 0.

    Trap: the rate is the product of the children's closed forms only while every
    child is a pure multiplication of the current rate.  A ``CosineAnnealingLR`` child
    multiplies ``(rate - eta_min)`` by its ratio and adds ``eta_min`` back, and adds a
    fixed amount at the bottom of each period; ``LambdaLR``,
    ``CosineAnnealingWarmRestarts`` and ``OneCycleLR`` children overwrite the rate from
    their base.  :meth:`closed_form` is the product of the closed forms (what the
    documentation's figure shows); ``scheduler(steps)`` is what torch applies.

    >>> from refimpl.torch.lr_scheduler import ConstantLR, ExponentialLR
    >>> chain = ChainedScheduler([ConstantLR(1.0, 0.5, total_iters=2), ExponentialLR(1.0, 0.5)])
    >>> chain([0, 1, 2]).tolist()
    [0.5, 0.25, 0.25]
    """

    def __init__(self, schedulers: Sequence[LRScheduler], lr: Any = None) -> None:
        cls = type(self).__name__
        children = _check_children(cls, schedulers, chained=True)
        if lr is None:
            shared = children[0].optimizer
            lr = (
                shared
                if all(s.optimizer is shared for s in children)
                else shared.fresh(children[0]._lr0)
            )
        optimizer = as_optimizer(lr)
        self._bind(optimizer, schedulers=schedulers)
        self._args["lr"] = None if isinstance(lr, Optimizer) else lr
        children = _on_one_optimizer(cls, optimizer, self._lr0, children)
        self._schedulers = children
        self.optimizer = optimizer
        self._last_lr = param_groups_val_list(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:  # type: ignore[override]
        """Step every child, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = param_groups_val_list(self._schedulers[-1].optimizer, "lr")

    def get_config(self) -> dict[str, Any]:
        return {"schedulers": self._args["schedulers"], "lr": self._args["lr"]}

    def _rebuild(self, optimizer: Optimizer, **overrides: Any) -> ChainedScheduler:
        return ChainedScheduler(
            [s._rebuild(optimizer) for s in self._args["schedulers"]], optimizer
        )

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        base = float(self._lr0)
        result = self._schedulers[0].closed_form(step, xp=xp, dtype=dtype)
        if base == 0.0:
            return result
        for child in self._schedulers[1:]:
            factor = xp.divide(
                child.closed_form(step, xp=xp, dtype=dtype), xp.convert_to_tensor(base, dtype)
            )
            result = xp.multiply(result, factor)
        return result
