"""Port a learning-rate schedule to another framework, and list where the two differ.

:func:`translate` takes a schedule of one framework -- a refimpl Keras schedule, a
serialized one or a ``.keras``/JSON file, one of the lesson's configurations, or a
refimpl torch scheduler (see :func:`~refimpl.translate.sources.as_source`) -- and
returns a :class:`Translation`:

- ``code``: runnable code for the target framework that reproduces it as closely as
  the target allows: the target's **built-in** where one computes the same formula
  (Keras ``PiecewiseConstantDecay(b, v)`` -> torch ``MultiStepLR`` with milestones
  ``b + 1`` when ``v`` is geometric; ``ExponentialDecay(staircase=True)`` ->
  ``StepLR``; ``CosineDecay(alpha)`` -> ``CosineAnnealingLR(eta_min=alpha * lr)``
  while the horizon stays within ``T_max``, torch's cosine being periodic past it
  where Keras clamps), else the **exact port** (a torch ``LambdaLR`` whose factor is
  the Keras formula written out in Python; a Keras ``LearningRateSchedule`` subclass
  computing torch's formula); the mapping rules are in
  :mod:`refimpl.translate.torch_target` and :mod:`refimpl.translate.keras_target`;
- ``comparison``: the steps of the horizon ``0 .. steps-1`` where the source (as its
  framework computes it) and the code (as the target computes it) differ, how much
  (absolute, relative to the peak rate, in ulps of the target's dtype) and why
  (clamp vs periodic, float32 vs float64, recursive drift, ...), grouped into ranges
  -- computed from refimpl's references, no framework needed
  (:mod:`refimpl.translate.differences`).

Targets: ``"torch"`` (from Keras or Optax), ``"keras"`` (from torch or Optax) and
``"optax"`` (from Keras or torch, :mod:`refimpl.translate.optax_target`); a target is a
module with ``translate(source, n, use) -> Target`` registered in :data:`TARGETS`
(:data:`PLANNED` names targets not written yet).

>>> from refimpl.schedules import ExponentialDecay
>>> result = translate(ExponentialDecay(0.001, 500, 0.98, staircase=True), to="torch", steps=1000)
>>> result.target.name, result.target.kind
('StepLR', 'built-in')
>>> print(result.code, end="")  # doctest: +ELLIPSIS
import torch
<BLANKLINE>
# Keras: ExponentialDecay(initial_learning_rate=0.001, decay_steps=500, decay_rate=0.98,
# staircase=True)
# torch built-in: StepLR multiplies the rate by gamma at every multiple of step_size, ...
optimizer = torch.optim.SGD(model.parameters(), lr=0.001)  # model: yours
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=500, gamma=0.98)
# Call scheduler.step() after every optimizer.step(), once per batch: ...
# optimizer steps (step 0 is the first update).
>>> [(row.first, row.last, row.reason) for row in result.comparison.rows]
[(0, 999, 'float32')]
>>> result.comparison.float32_differences
0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl.translate import keras_target, optax_target, torch_target
from refimpl.translate.differences import (
    REASONS,
    Comparison,
    DifferenceRow,
    Side,
    Structural,
    compare,
    for_optax,
    format_table,
)
from refimpl.translate.sources import Source, as_source
from refimpl.translate.targets import USES, Target

__all__ = [
    "DEFAULT_STEPS",
    "MAX_STEPS",
    "PLANNED",
    "REASONS",
    "TARGETS",
    "USES",
    "Comparison",
    "DifferenceRow",
    "Side",
    "Source",
    "Structural",
    "Target",
    "Translation",
    "as_source",
    "translate",
]

#: The default horizon: the lesson's run, 60,000 images at batch 64 for 5 epochs.
DEFAULT_STEPS = 4690
#: The longest horizon (torch's recursions and ports are replayed step by step).
MAX_STEPS = 1_000_000

#: Target frameworks by name: ``translate(source, n, use) -> Target``.
TARGETS: dict[str, Callable[[Source, int, str], Target]] = {
    "torch": torch_target.translate,
    "keras": keras_target.translate,
    "optax": optax_target.translate,
}
#: Targets not written yet, with what they wait for.
PLANNED: dict[str, str] = {}


@dataclass(frozen=True)
class Translation:
    """A source, its translation and where the two differ (see the module docstring)."""

    source: Source
    target: Target
    comparison: Comparison

    @property
    def code(self) -> str:
        """The target framework's code."""
        return self.target.code

    @property
    def rows(self) -> tuple[DifferenceRow, ...]:
        """The table's rows: ranges of differing steps with one reason each."""
        return self.comparison.rows

    @property
    def differing_steps(self) -> np.ndarray:
        """Every step of the horizon where the two differ (in the target's dtype)."""
        return self.comparison.differing_steps

    def table(self) -> str:
        """The difference table, with the notes on the choice of code below it."""
        source = f"{_framework(self.source.framework)}'s {self.source.name}"
        target = f"the {_framework(self.target.framework)} {self.target.kind} ({self.target.name})"
        text = format_table(self.comparison, source, target)
        if self.target.notes:
            text += "\nNotes:\n" + "\n".join(f"  {note}" for note in self.target.notes)
        return text

    def __str__(self) -> str:
        return f"{self.code}\n{self.table()}"


def _framework(name: str) -> str:
    return {"keras": "Keras", "torch": "torch", "optax": "Optax"}.get(name, name)


def translate(
    source: Any,
    to: str,
    *,
    steps: int = DEFAULT_STEPS,
    use: str = "auto",
    steps_per_epoch: int | None = None,
) -> Translation:
    """``source`` as code for the framework ``to``, and where the two differ over steps
    ``0 .. steps-1`` (see the module docstring).

    ``use`` is ``"auto"`` (the built-in unless its known differences fall within the
    horizon, then the exact port), ``"built-in"`` or ``"port"``;
    ``steps_per_epoch`` is needed for a ``LearningRateScheduler`` source only (the
    lesson's 938 by default).  Raises ``ValueError`` naming the argument for an
    unknown or planned target, a horizon outside ``1 .. MAX_STEPS``, or a source that
    cannot be translated (and says why).
    """
    if not isinstance(to, str) or to not in TARGETS:
        if isinstance(to, str) and to in PLANNED:
            raise ValueError(f"--to {to} is not supported yet: {PLANNED[to]}.")
        known = ", ".join([*TARGETS, *(f"{p} (planned)" for p in PLANNED)])
        raise ValueError(f"Unknown target framework to={to!r}. Known: {known}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise ValueError(f"Argument `steps` must be an integer. Received: steps={steps!r}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(
            f"Argument `steps` (the horizon) must be between 1 and {MAX_STEPS:,}. "
            f"Received: steps={steps!r}"
        )
    if use not in USES:
        raise ValueError(f"Argument `use` must be one of {', '.join(USES)}. Received: use={use!r}")
    resolved = as_source(source, steps_per_epoch=steps_per_epoch)
    target = TARGETS[to](resolved, int(steps), use)
    comparison = compare(resolved.side, target.side, int(steps), target.structural)
    if "optax" in (target.framework, resolved.framework):
        comparison = for_optax(comparison)
    return Translation(resolved, target, comparison)
