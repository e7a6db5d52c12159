"""The 1cycle policy: ``torch.optim.lr_scheduler.OneCycleLR``."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._base import LRScheduler, python_map, warn_outside_step
from refimpl.torch._validation import check_real, is_real

__all__ = ["OneCycleLR", "one_cycle_lr", "one_cycle_phases"]


def one_cycle_phases(total_steps: int, pct_start: float, three_phase: bool) -> list[dict[str, Any]]:
    """torch's ``_schedule_phases``: each phase's last step and the group keys of its
    start and end rate and momentum.

    >>> [p["end_step"] for p in one_cycle_phases(100, 0.3, False)]
    [29.0, 99]
    """
    if three_phase:
        return [
            {
                "end_step": float(pct_start * total_steps) - 1,
                "start_lr": "initial_lr",
                "end_lr": "max_lr",
                "start_momentum": "max_momentum",
                "end_momentum": "base_momentum",
            },
            {
                "end_step": float(2 * pct_start * total_steps) - 2,
                "start_lr": "max_lr",
                "end_lr": "initial_lr",
                "start_momentum": "base_momentum",
                "end_momentum": "max_momentum",
            },
            {
                "end_step": total_steps - 1,
                "start_lr": "initial_lr",
                "end_lr": "min_lr",
                "start_momentum": "max_momentum",
                "end_momentum": "max_momentum",
            },
        ]
    return [
        {
            "end_step": float(pct_start * total_steps) - 1,
            "start_lr": "initial_lr",
            "end_lr": "max_lr",
            "start_momentum": "max_momentum",
            "end_momentum": "base_momentum",
        },
        {
            "end_step": total_steps - 1,
            "start_lr": "max_lr",
            "end_lr": "min_lr",
            "start_momentum": "base_momentum",
            "end_momentum": "max_momentum",
        },
    ]


def _anneal(strategy: str, start: Any, end: Any, pct: Any, cos: Any) -> Any:
    """torch's ``_annealing_cos`` / ``_annealing_linear`` (``cos`` computes the cosine)."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def one_cycle_lr(
    step: Any,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike = np.float64,
) -> Any:
    """The 1cycle rate (torch's ``get_lr``, which is a closed form).

    With ``initial_lr = max_lr / div_factor`` and ``min_lr = initial_lr /
    final_div_factor``, phase ``i`` runs from step ``start_i`` (0, then the previous
    phase's ``end_step``) to ``end_step_i`` (see :func:`one_cycle_phases`)::

        pct = (step - start_i) / (end_step_i - start_i)
        cos:     lr = end + (start - end) / 2 * (cos(pi * pct) + 1)
        linear:  lr = (end - start) * pct + start

    Two phases: ``initial_lr -> max_lr`` up to step ``pct_start * total_steps - 1``,
    then ``max_lr -> min_lr`` up to ``total_steps - 1``.  Three phases: up, back down
    to ``initial_lr`` at ``2 * pct_start * total_steps - 2``, then to ``min_lr``.

    Step 0 gives ``initial_lr``; ``total_steps - 1`` gives ``min_lr``.  torch allows
    one more step, ``total_steps``, which continues the last phase past its end
    (``pct > 1``: a cosine rises again) and raises ``ValueError`` on the next one
    (pytorch#38170).  The formula continues as well.

    >>> one_cycle_lr([0, 2, 9, 10], 1.0, 10, pct_start=0.3).tolist()
    [0.040000000000000036, 1.0, 4e-06, 0.04951936798652623]
    """
    s = xp.cast(step, dtype)
    values = {
        "initial_lr": max_lr / div_factor,
        "max_lr": max_lr,
        "min_lr": max_lr / div_factor / final_div_factor,
    }
    phases = one_cycle_phases(total_steps, pct_start, three_phase)
    start_step = 0.0
    branches = []
    for phase in phases:
        width = phase["end_step"] - start_step
        pct = xp.divide(xp.subtract(s, start_step), width if width != 0 else 1.0)
        start = xp.convert_to_tensor(values[phase["start_lr"]], dtype)
        end = xp.convert_to_tensor(values[phase["end_lr"]], dtype)
        branches.append(_anneal(anneal_strategy, start, end, pct, xp.cos))
        start_step = phase["end_step"]
    result = branches[-1]
    for phase, branch in zip(reversed(phases[:-1]), reversed(branches[:-1])):
        result = xp.where(s <= phase["end_step"], branch, result)
    return result


def _per_group(name: str, value: Any) -> float:
    """torch's ``_format_param`` for one group: a number, or a list of one."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has 1."
            )
        value = value[0]
    check_real(name, value)
    return float(value)


class OneCycleLR(LRScheduler):
    """``torch.optim.lr_scheduler.OneCycleLR``; see :func:`one_cycle_lr`.

    Not a recursion: every step recomputes the rate from the group's ``initial_lr``,
    ``max_lr`` and ``min_lr`` (set at construction, overriding the optimizer's rate),
    so a hand edit lasts one step.  With ``cycle_momentum`` (default) it also writes
    ``momentum`` (or ``betas[0]``) on every step: on SGD built with ``momentum=0`` that
    *turns momentum on* (0.95 down to 0.85 and back).

    Traps (tested against torch): the step budget -- rates exist for steps ``0 ..
    total_steps``, one more than ``total_steps`` (the extra one extrapolates the last
    phase), and ``step()`` past it raises ``ValueError`` (pytorch#38170); a phase of
    zero length divides by zero (``pct_start * total_steps == 1`` at construction,
    ``pct_start=1.0`` at the extra step), as in torch (``ZeroDivisionError``).

    Validation: torch's (its messages): ``total_steps`` or ``epochs`` and
    ``steps_per_epoch`` positive ``int``, ``pct_start`` a float in ``[0, 1]``,
    ``anneal_strategy`` 'cos' or 'linear'; refimpl also refuses a zero
    ``div_factor``/``final_div_factor``.  ``max_lr`` is a Python float here.

    >>> scheduler = OneCycleLR(0.1, max_lr=1.0, total_steps=10)
    >>> scheduler([0, 2, 9, 10]).tolist()  # step 10: the extra step torch allows
    [0.040000000000000036, 1.0, 4e-06, 0.04951936798652623]
    >>> scheduler(11)
    Traceback (most recent call last):
    ValueError: Argument `step` goes past OneCycleLR's last step 10 (total_steps=10; torch raises ValueError: Tried to step 11 times. The specified number of total steps is 10). Received: step=11
    """

    def __init__(
        self,
        lr: Any,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        optimizer = self._bind(
            lr,
            max_lr=max_lr,
            total_steps=total_steps,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            pct_start=pct_start,
            anneal_strategy=anneal_strategy,
            cycle_momentum=cycle_momentum,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            three_phase=three_phase,
            last_epoch=last_epoch,
        )
        for name, value in (
            ("total_steps", total_steps),
            ("epochs", epochs),
            ("steps_per_epoch", steps_per_epoch),
            ("pct_start", pct_start),
        ):
            if value is not None and not is_real(value):
                raise TypeError(
                    f"Argument `{name}` must be a number. Received: {name}={value!r} "
                    f"({type(value).__name__})"
                )
        if total_steps is not None:
            if total_steps <= 0 or not isinstance(total_steps, int):
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(
                    f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
                )
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        self._schedule_phases = one_cycle_phases(self.total_steps, pct_start, bool(three_phase))
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_func_type = anneal_strategy
        peak = _per_group("max_lr", max_lr)
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if check_real(name, value) == 0:
                raise ValueError(
                    f"Argument `{name}` must not be 0 (torch raises ZeroDivisionError). "
                    f"Received: {name}={value!r}"
                )
        if last_epoch == -1:
            group = optimizer.param_groups[0]
            group["initial_lr"] = peak / div_factor
            group["max_lr"] = peak
            group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            top = _per_group("max_momentum", max_momentum)
            bottom = _per_group("base_momentum", base_momentum)
            if last_epoch == -1:
                group = optimizer.param_groups[0]
                if self.use_beta1:
                    group["betas"] = (top, *group["betas"][1:])
                else:
                    group["momentum"] = top
                group["max_momentum"] = top
                group["base_momentum"] = bottom
        try:
            super().__init__(optimizer, last_epoch)
        except ZeroDivisionError as exc:
            raise ZeroDivisionError(
                "OneCycleLR divides by zero at step 0: its first phase has no length "
                f"(pct_start * total_steps == 1: pct_start={pct_start!r}, "
                f"total_steps={self.total_steps}); torch raises ZeroDivisionError too."
            ) from exc

    def get_lr(self) -> list[Any]:
        warn_outside_step(self)
        lrs = []
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(
                f"Tried to step {step_num} times. The specified number of total steps is {self.total_steps}"
            )
        strategy = self._anneal_func_type
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    computed_lr = _anneal(
                        strategy, group[phase["start_lr"]], group[phase["end_lr"]], pct, math.cos
                    )
                    if self.cycle_momentum:
                        computed_momentum = _anneal(
                            strategy,
                            group[phase["start_momentum"]],
                            group[phase["end_momentum"]],
                            pct,
                            math.cos,
                        )
                    break
                start_step = phase["end_step"]
            lrs.append(computed_lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (computed_momentum, *group["betas"][1:])
                else:
                    group["momentum"] = computed_momentum
        return lrs

    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        a = self._args
        return one_cycle_lr(
            step,
            _per_group("max_lr", a["max_lr"]),
            self.total_steps,
            a["pct_start"],
            a["anneal_strategy"],
            a["div_factor"],
            a["final_div_factor"],
            bool(a["three_phase"]),
            xp=xp,
            dtype=dtype,
        )

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        """torch's arithmetic in float64 (``math.cos`` per step), rounded once to float32
        for a float32 tensor rate (``fill_``)."""
        last = int(steps.max())
        if last > self.total_steps:
            raise ValueError(
                f"Argument `step` goes past OneCycleLR's last step {self.total_steps} "
                f"(total_steps={self.total_steps}; torch raises ValueError: Tried to step "
                f"{self.total_steps + 1} times. The specified number of total steps is "
                f"{self.total_steps}). Received: step={last}"
            )
        a = self._args
        peak = _per_group("max_lr", a["max_lr"])
        initial = peak / a["div_factor"]
        values = {"initial_lr": initial, "max_lr": peak, "min_lr": initial / a["final_div_factor"]}
        out = np.empty(steps.shape, np.float64)
        todo = np.ones(steps.shape, bool)
        start_step = 0.0
        for i, phase in enumerate(self._schedule_phases):
            end_step = phase["end_step"]
            here = todo if i == len(self._schedule_phases) - 1 else todo & (steps <= end_step)
            if here.any():
                if end_step == start_step:
                    raise ZeroDivisionError(
                        f"OneCycleLR divides by zero at step {int(steps[here].min())}: the "
                        f"phase ending at step {end_step} has no length (pct_start="
                        f"{a['pct_start']!r}, total_steps={self.total_steps}); torch raises "
                        "ZeroDivisionError too."
                    )
                pct = (steps[here] - start_step) / (end_step - start_step)
                start, end = values[phase["start_lr"]], values[phase["end_lr"]]
                cos = lambda x: python_map(math.cos, x)  # noqa: E731
                out[here] = _anneal(self._anneal_func_type, start, end, pct, cos)
                todo &= ~here
            start_step = end_step
        return out.astype(self.dtype)
