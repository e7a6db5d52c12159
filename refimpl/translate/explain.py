"""A training run's learning-rate configurations as another framework's code, with
their difference tables: what ``lr-refimpl explain lesson --framework torch`` prints.

A *subject* is anything with the attributes of a
:class:`~refimpl.lesson.LessonConfig` once built (``label``, ``learning_rate``,
``schedule`` -- a schedule or None --, ``epoch_function``, ``optimizer_decay``), such as
``lr-refimpl explain``'s subjects.

>>> from types import SimpleNamespace
>>> from refimpl.schedules import InverseTimeDecay
>>> subject = SimpleNamespace(label="InverseTimeDecay(0.003, 100, 0.5)", learning_rate=0.001,
...     schedule=InverseTimeDecay(0.003, 100, 0.5), epoch_function=None, optimizer_decay=0.0)
>>> print(framework_text([subject], "torch", steps=938, steps_per_epoch=938))  # doctest: +ELLIPSIS
=== InverseTimeDecay(0.003, 100, 0.5) -> torch ===
import torch
...
scheduler = torch.optim.lr_scheduler.LambdaLR(
...
Where Keras's InverseTimeDecay and the torch exact port (LambdaLR) differ, steps 0..937 (938 steps), compared in float64:
...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from refimpl.translate import translate
from refimpl.translate.sources import run_source

__all__ = ["framework_text"]


def framework_text(
    subjects: Sequence[Any], framework: str, *, steps: int, steps_per_epoch: int
) -> str:
    """Every subject as ``framework`` code and its difference table over steps
    ``0 .. steps-1`` (an epoch being ``steps_per_epoch`` steps), one after the other.

    Raises ``ValueError`` for a framework translate does not write (yet) or a subject
    it cannot translate.
    """
    parts = []
    for subject in subjects:
        source = run_source(
            label=subject.label,
            learning_rate=subject.learning_rate,
            schedule=subject.schedule,
            epoch_function=subject.epoch_function,
            optimizer_decay=subject.optimizer_decay,
            steps_per_epoch=steps_per_epoch,
        )
        result = translate(source, to=framework, steps=steps)
        parts.append(f"=== {subject.label} -> {framework} ===\n{result}")
    return "\n\n".join(parts)
