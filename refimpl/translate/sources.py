"""What can be translated: a schedule of one framework, as refimpl's references compute it.

:func:`as_source` accepts

- a refimpl Keras schedule (:mod:`refimpl.schedules`), a serialized one (a dict in
  Keras 2, Keras 3 or refimpl form, or an optimizer's or model's config holding one),
  or a path to a JSON file or a ``.keras`` model file (read by
  :mod:`refimpl.keras_config`, no TensorFlow needed);
- one of the lesson's configurations (:data:`refimpl.lesson.LESSON`): a constant rate,
  a schedule, or a ``LearningRateScheduler`` whose function divides (or multiplies) the
  rate by a constant at the start of every epoch;
- a refimpl torch scheduler (:mod:`refimpl.torch.lr_scheduler`) in a fresh state;
- a refimpl.optax schedule (:mod:`refimpl.optax`; ``scheduler`` holds it), computed as
  Optax computes it under ``jax.jit``;

and returns a :class:`Source`: what it is, and its :class:`~refimpl.translate.differences.Side`
-- the rate at every optimizer step as the framework computes it (Keras: float32 for a
Python-float rate; torch: its recursion in float64, float32 for a float32 tensor rate)
and its exact float64 formula.  Step 0 is the first optimizer update on both sides.

>>> from refimpl.lesson import LESSON
>>> source = as_source(LESSON[2])
>>> source.framework, source.kind, source.label
('keras', 'schedule', 'ExponentialDecay(initial_learning_rate=0.001, decay_steps=500, decay_rate=0.98, staircase=True)')
>>> source.side.rates(np.array([499, 500])).tolist()
[0.0010000000474974513, 0.0009800000116229057]
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refimpl.keras_config import read_config_file, schedule_config
from refimpl.lesson import LessonConfig, steps_per_epoch
from refimpl.schedules import LearningRateSchedule, deserialize
from refimpl.torch.lr_scheduler import LRScheduler, ReduceLROnPlateau
from refimpl.translate.differences import Side
from refimpl.translate.python_formulas import label as schedule_label
from refimpl.translate.python_formulas import literal

__all__ = [
    "LESSON_STEPS_PER_EPOCH",
    "EpochFactor",
    "Source",
    "as_source",
    "epoch_factor",
    "run_source",
    "torch_label",
]

#: Steps per epoch of the lesson's run: 60,000 images at batch 64.
LESSON_STEPS_PER_EPOCH = steps_per_epoch(60_000, 64)

#: torch schedulers that compute every rate from the base rate (not recursively).
_NOT_RECURSIVE = frozenset({"LambdaLR", "CosineAnnealingWarmRestarts", "OneCycleLR"})


@dataclass(frozen=True)
class EpochFactor:
    """A ``LearningRateScheduler`` function ``lr -> lr / divisor`` (``divide``) or
    ``lr -> lr * divisor`` (not ``divide``), applied at the start of every epoch."""

    divisor: float
    divide: bool

    def text(self) -> str:
        """The function as Python: ``lr / 3.0``."""
        return f"lr {'/' if self.divide else '*'} {literal(self.divisor)}"

    def gamma_text(self) -> str:
        """The per-epoch factor as a Python expression: ``1 / 3.0`` or ``0.5``."""
        return f"1 / {literal(self.divisor)}" if self.divide else literal(self.divisor)


@dataclass(frozen=True)
class Source:
    """A schedule to translate (see the module docstring).

    ``kind`` is ``"schedule"`` (a Keras schedule, or with ``framework="optax"`` an
    Optax one, held in ``scheduler``), ``"constant"`` (a Keras optimizer's constant
    rate), ``"epoch"`` (a Keras ``LearningRateScheduler``) or ``"scheduler"`` (a torch
    scheduler); the matching fields hold it.  ``notes`` are said with the
    translation (e.g. that Keras 3 ignores the lesson's ``decay=``).
    """

    framework: str
    kind: str
    label: str
    side: Side
    schedule: LearningRateSchedule | None = None
    scheduler: Any = None
    learning_rate: float | None = None
    epoch_function: Callable[[int, float], float] | None = None
    epoch_factor: EpochFactor | None = None
    steps_per_epoch: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """The class (or kind) the source is, for titles: ``PiecewiseConstantDecay``,
        ``LearningRateScheduler``, ``constant rate``."""
        if self.kind == "epoch":
            return "LearningRateScheduler"
        if self.kind == "constant":
            return "constant rate"
        return self.label.split("(", 1)[0]


def torch_label(scheduler: Any) -> str:
    """A torch scheduler as its class and arguments, ``last_epoch=-1`` left out and
    children by their label.

    >>> from refimpl.torch.lr_scheduler import StepLR
    >>> torch_label(StepLR(0.1, step_size=30))
    'StepLR(lr=0.1, step_size=30, gamma=0.1)'
    """

    def show(value: Any) -> str:
        if isinstance(value, LRScheduler):
            return torch_label(value)
        if isinstance(value, (list, tuple)) and any(isinstance(v, LRScheduler) for v in value):
            return "[" + ", ".join(show(v) for v in value) + "]"
        if type(value) is np.float32:
            return f"np.float32({literal(value)})"
        try:
            return literal(value)
        except TypeError:
            return repr(value)

    config = scheduler.get_config()
    parts = [f"{k}={show(v)}" for k, v in config.items() if not (k == "last_epoch" and v == -1)]
    return f"{type(scheduler).__name__}({', '.join(parts)})"


def _keras_schedule_source(schedule: LearningRateSchedule, notes: tuple[str, ...] = ()) -> Source:
    if schedule.dtype.kind != "f":
        raise ValueError(
            f"{type(schedule).__name__} computes in {schedule.dtype.name} (an integer "
            "initial rate: Keras truncates every other hyperparameter); translate needs a "
            f"float schedule. Received: {schedule!r}"
        )

    def rates(steps: np.ndarray) -> np.ndarray:
        return np.asarray(schedule(steps))

    def exact(steps: np.ndarray) -> np.ndarray:
        return np.asarray(schedule.exact(steps), np.float64)

    label = schedule_label(schedule)
    side = Side("keras", label, schedule.dtype, rates, exact)
    return Source("keras", "schedule", label, side, schedule=schedule, notes=notes)


def _constant_source(learning_rate: float) -> Source:
    lr = float(learning_rate)
    if not math.isfinite(lr) or lr < 0:
        raise ValueError(
            f"A constant learning rate must be a finite number >= 0. Received: {learning_rate!r}"
        )
    keras_value = float(np.float32(lr))

    def rates(steps: np.ndarray) -> np.ndarray:
        return np.full(steps.shape, keras_value, np.float32)

    def exact(steps: np.ndarray) -> np.ndarray:
        return np.full(steps.shape, lr, np.float64)

    label = f"constant learning_rate={literal(lr)}"
    side = Side("keras", label, np.dtype(np.float32), rates, exact)
    return Source("keras", "constant", label, side, learning_rate=lr)


#: Rates :func:`epoch_factor` calls the function with: full-precision mantissas over
#: decades, so that two different constants (or ``lr / c`` and ``lr * (1 / c)``) round
#: differently on some of them.
_PROBE_RATES = tuple(
    (1.0 + ((k * 0.6180339887498949) % 1.0) * 9.0) * 10.0 ** -(k % 7) for k in range(1, 257)
)


def epoch_factor(function: Callable[[int, float], float]) -> EpochFactor:
    """The constant ``c`` of a ``LearningRateScheduler`` function that returns
    ``lr / c`` (or ``lr * c``) whatever the epoch, found from its values: the first
    candidate (``lr * f(0, 1.0)``, then ``lr / c`` for the few ``c`` within rounding of
    ``1 / f(0, 1.0)``) that gives every result bit for bit at 256 rates with full
    mantissas over seven decades (epochs 0..2).  ``lr / c`` and ``lr * (1 / c)`` round
    differently at some rates, so the form is told apart too.  What the rates cannot
    tell apart differs nowhere in practice -- and the translation's comparison, which
    calls the function itself, would list it.

    Raises ``ValueError`` for any other function (it cannot be written as a torch
    built-in from its values).

    >>> epoch_factor(lambda epoch, lr: lr / 3)
    EpochFactor(divisor=3.0, divide=True)
    >>> epoch_factor(lambda epoch, lr: lr * 0.5 ** epoch)
    Traceback (most recent call last):
    ValueError: translate handles a LearningRateScheduler function of the form lr / c or lr * c (the same constant at every epoch); this one is not: f(0, 1.0) = 1.0, f(1, 1.0) = 0.5
    """
    probes = [(k % 3, x) for k, x in enumerate(_PROBE_RATES)]
    try:
        first = float(function(0, 1.0))
        values = [float(function(e, x)) for e, x in probes]
    except Exception as exc:  # the user's function: whatever it raises is the answer
        raise ValueError(
            f"The LearningRateScheduler function raised {type(exc).__name__}: {exc}"
        ) from None
    candidates: list[EpochFactor] = []
    if first != 0 and math.isfinite(first):
        candidates.append(EpochFactor(first, False))  # 1.0 * c is c
        c = 1.0 / first  # within two ulps of the user's constant: try those
        near = [c]
        for _ in range(3):
            near = [math.nextafter(near[0], -math.inf), *near, math.nextafter(near[-1], math.inf)]
        divisors = [float(f"{c:.15g}"), *sorted(near, key=lambda d: abs(d - c))]
        candidates += [EpochFactor(d, True) for d in dict.fromkeys(divisors)]
    for candidate in candidates:
        c = candidate.divisor
        if all(
            v == (x / c if candidate.divide else x * c)
            for (_, x), v in zip(probes, values, strict=True)
        ):
            return candidate
    second = float(function(1, 1.0))
    raise ValueError(
        "translate handles a LearningRateScheduler function of the form lr / c or lr * c "
        "(the same constant at every epoch); this one is not: "
        f"f(0, 1.0) = {first!r}, f(1, 1.0) = {second!r}"
    )


def _epoch_source(
    learning_rate: float,
    function: Callable[[int, float], float],
    per_epoch: int,
    label: str,
) -> Source:
    """Keras's ``LearningRateScheduler``: at the start of every epoch (epoch 0 too) the
    function gets the optimizer's rate as a Python float and its result is stored in
    the float32 variable; the rate of step ``k`` is that of epoch ``k // per_epoch``."""
    if isinstance(per_epoch, bool) or not isinstance(per_epoch, int) or per_epoch < 1:
        raise ValueError(
            f"Argument `steps_per_epoch` must be an integer >= 1. Received: {per_epoch!r}"
        )
    factor = epoch_factor(function)

    def per_epoch_rates(epochs: int, keras: bool) -> np.ndarray:
        lr = float(np.float32(learning_rate)) if keras else float(learning_rate)
        out = np.empty(epochs, np.float32 if keras else np.float64)
        for epoch in range(epochs):
            lr = float(function(epoch, lr))
            if keras:
                with np.errstate(over="ignore"):
                    lr = float(np.float32(lr))
            out[epoch] = lr
        return out

    def at(steps: np.ndarray, keras: bool) -> np.ndarray:
        epochs = steps // per_epoch
        top = int(epochs.max()) + 1 if epochs.size else 0
        return per_epoch_rates(top, keras)[epochs]

    side = Side(
        "keras",
        label,
        np.dtype(np.float32),
        lambda steps: at(steps, True),
        lambda steps: at(steps, False),
    )
    return Source(
        "keras",
        "epoch",
        label,
        side,
        learning_rate=float(learning_rate),
        epoch_function=function,
        epoch_factor=factor,
        steps_per_epoch=per_epoch,
    )


def run_source(
    *,
    label: str,
    learning_rate: float,
    schedule: LearningRateSchedule | None = None,
    epoch_function: Callable[[int, float], float] | None = None,
    optimizer_decay: float = 0.0,
    steps_per_epoch: int | None = None,
) -> Source:
    """How a Keras training run sets its rate, as a :class:`Source`: a ``schedule``, an
    ``epoch_function`` (``LearningRateScheduler``, starting from ``learning_rate``), or
    the constant ``learning_rate`` -- the fields of a
    :class:`~refimpl.lesson.LessonConfig` (and of ``lr-refimpl explain``'s subjects).
    ``optimizer_decay`` (the legacy ``decay=``, already in ``schedule``) adds a note.
    """
    if schedule is not None:
        notes: tuple[str, ...] = ()
        if optimizer_decay:
            notes = (
                f"{label} uses the legacy decay= of tf_keras's optimizers: translated is the "
                "rate they applied, lr / (1 + decay * step). Keras 3 ignores decay= (it "
                f"warns and trains at a constant {learning_rate:g}).",
            )
        return _keras_schedule_source(schedule, notes)
    if epoch_function is not None:
        per_epoch = LESSON_STEPS_PER_EPOCH if steps_per_epoch is None else steps_per_epoch
        return _epoch_source(learning_rate, epoch_function, per_epoch, label)
    return _constant_source(learning_rate)


def _lesson_source(config: LessonConfig, per_epoch: int | None) -> Source:
    return run_source(
        label=config.label,
        learning_rate=config.learning_rate,
        schedule=config.schedule() if config.schedule is not None else None,
        epoch_function=config.epoch_function,
        optimizer_decay=config.optimizer_decay,
        steps_per_epoch=per_epoch,
    )


def _torch_source(scheduler: Any) -> Source:
    name = type(scheduler).__name__
    if isinstance(scheduler, ReduceLROnPlateau):
        raise ValueError(
            "ReduceLROnPlateau depends on a metric, not on the step: there is no schedule "
            "to translate. Keras's counterpart is the keras.callbacks.ReduceLROnPlateau "
            "callback (patience=2 cuts after 2 bad epochs there, after 3 in torch; torch's "
            "default threshold is relative, Keras's min_delta absolute)."
        )
    if scheduler._args.get("last_epoch", -1) != -1:
        raise ValueError(
            f"translate needs a scheduler as constructed for a fresh run (last_epoch=-1). "
            f"Received: {name} with last_epoch={scheduler._args['last_epoch']!r}"
        )
    label = torch_label(scheduler)
    recursive = name not in _NOT_RECURSIVE
    if name in ("SequentialLR", "ChainedScheduler"):
        recursive = any(type(c).__name__ not in _NOT_RECURSIVE for c in scheduler._schedulers)
    side = Side(
        "torch",
        label,
        scheduler.dtype,
        lambda steps: np.asarray(scheduler(steps)),
        lambda steps: np.asarray(scheduler.exact(steps), np.float64),
        recursive=recursive,
    )
    return Source("torch", "scheduler", label, side, scheduler=scheduler)


def _optax_source(schedule: Any) -> Source:
    """A refimpl.optax schedule: what Optax computes inside the jitted update step
    (float32, x64 off), and its float64 true math."""
    label = repr(schedule).removeprefix("optax.")
    side = Side(
        "optax",
        label,
        np.dtype(schedule([0]).dtype),
        lambda steps: np.asarray(schedule(steps)),
        lambda steps: np.asarray(schedule.exact(steps), np.float64),
    )
    return Source("optax", "schedule", label, side, scheduler=schedule)


def _config_source(config: Mapping[str, Any], where: str) -> Source:
    serialized = schedule_config(config)
    if serialized is None:
        raise ValueError(
            f"{where} holds a config without 'class_name': translate needs a serialized "
            "schedule ({'class_name': ..., 'config': ...}), an optimizer or a model config."
        )
    return _keras_schedule_source(deserialize(serialized))


def as_source(source: Any, *, steps_per_epoch: int | None = None) -> Source:
    """``source`` as a :class:`Source` (see the module docstring for what it accepts).

    ``steps_per_epoch`` is needed for a ``LearningRateScheduler`` only (default: the
    lesson's 938).  Raises ``TypeError`` for anything else, ``ValueError`` for what
    cannot be translated (naming it), ``OSError`` for a file that cannot be read.
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, LearningRateSchedule):
        return _keras_schedule_source(source)
    if isinstance(source, LessonConfig):
        return _lesson_source(source, steps_per_epoch)
    if isinstance(source, LRScheduler):
        return _torch_source(source)
    from refimpl.optax import Schedule as OptaxSchedule

    if isinstance(source, OptaxSchedule):
        return _optax_source(source)
    if isinstance(source, Mapping):
        return _config_source(source, "the config")
    if isinstance(source, (str, os.PathLike)):
        return _config_source(read_config_file(source), os.fspath(source))
    raise TypeError(
        "Argument `source` must be a refimpl Keras schedule, a serialized schedule (dict), "
        "a path to a JSON or .keras file, a refimpl.lesson.LessonConfig, a refimpl.torch "
        f"scheduler or a refimpl.optax schedule. Received: source={source!r} "
        f"({type(source).__name__})"
    )
