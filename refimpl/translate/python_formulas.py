"""Keras's schedule formulas written out as plain Python (float64), for exact ports.

:func:`python_rate` turns a refimpl Keras schedule into the source of a function
``keras_rate(step: int) -> float``: the schedule's formula with its hyperparameters as
literals, in Python floats (``math``, ``bisect``), in Keras's order of operations --
the formula :meth:`~refimpl.schedules.LearningRateSchedule.exact` computes, so the
function equals ``schedule.exact(step)`` within a few float64 ulps (tested).  A torch
``LambdaLR`` whose factor is this function divided by the optimizer's rate is the exact
port of a Keras schedule; nested schedules (``LinearWarmup``, ``SequentialSchedule``,
``TimeBasedDecay`` around a schedule) become one function per child.

Conventions kept from the Keras formulas (see each formula's docstring): step 0 is the
first update; ``PiecewiseConstantDecay`` switches at ``boundary + 1`` (its boundaries
truncated to integers, as Keras casts them to the int64 step); staircases change *at*
multiples of ``decay_steps``; ``CosineDecay`` and ``PolynomialDecay`` (without
``cycle``) hold their final rate past the horizon.

>>> from refimpl.schedules import InverseTimeDecay
>>> port = python_rate(InverseTimeDecay(0.003, 100, 0.5))
>>> print(port.source)
def keras_rate(step: int) -> float:
    \"\"\"Keras's InverseTimeDecay(initial_learning_rate=0.003, decay_steps=100, decay_rate=0.5, staircase=False) at optimizer step `step` (0 is the first update), in float64.\"\"\"
    p = step / 100
    return 0.003 / (1 + 0.5 * p)
>>> port.compile()(200)
0.0015
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl.schedules import LearningRateSchedule

__all__ = ["PythonRate", "label", "literal", "milestones_of", "python_rate"]


def literal(value: Any) -> str:
    """``value`` as a Python literal that evaluates to the same number (NumPy scalars
    as plain ``int``/``float``; a float32 hyperparameter as its exact float64 value).

    >>> literal(np.float32(0.1)), literal(np.int64(500)), literal(0.98), literal(1e-05)
    ('0.10000000149011612', '500', '0.98', '1e-05')
    """
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return f"float({str(number)!r})"
        return repr(number)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if value is None:
        return "None"
    raise TypeError(f"Cannot write {value!r} ({type(value).__name__}) as a Python literal.")


def label(schedule: LearningRateSchedule) -> str:
    """The schedule as its class and constructor arguments (``name`` left out; nested
    schedules by their label).

    >>> from refimpl.schedules import ExponentialDecay
    >>> label(ExponentialDecay(0.001, 500, 0.98, staircase=True))
    'ExponentialDecay(initial_learning_rate=0.001, decay_steps=500, decay_rate=0.98, staircase=True)'
    """

    def show(value: Any) -> str:
        if isinstance(value, LearningRateSchedule):
            return label(value)
        if isinstance(value, (list, tuple)) and any(
            isinstance(v, LearningRateSchedule) for v in value
        ):
            return "[" + ", ".join(show(v) for v in value) + "]"
        try:
            return literal(value)
        except TypeError:
            return repr(value)

    arguments = {name: getattr(schedule, name) for name in type(schedule)._init_arguments}
    parts = [f"{k}={show(v)}" for k, v in arguments.items() if k != "name"]
    return f"{type(schedule).__name__}({', '.join(parts)})"


@dataclass(frozen=True)
class PythonRate:
    """The source of ``name(step: int) -> float`` (and of the functions it calls) and
    the modules it needs (``math``, ``bisect``)."""

    name: str
    source: str
    imports: tuple[str, ...]

    def compile(self) -> Callable[[int], float]:
        """The function, executed from :attr:`source` (what a user's copy runs)."""
        namespace: dict[str, Any] = {}
        exec("\n".join(f"import {m}" for m in self.imports) + "\n\n" + self.source, namespace)
        function: Callable[[int], float] = namespace[self.name]
        return function


class _Writer:
    """Collects function definitions (children before their callers) and imports."""

    def __init__(self) -> None:
        self.functions: list[str] = []
        self.imports: set[str] = set()
        self.names: set[str] = set()

    def child_name(self, parent: str, index: int) -> str:
        name = f"{parent}_{index}"
        while name in self.names:
            name += "_"
        self.names.add(name)
        return name

    def define(self, schedule: LearningRateSchedule, name: str, body: list[str]) -> None:
        doc = (
            f"Keras's {label(schedule)} at optimizer step `step` "
            "(0 is the first update), in float64."
        )
        lines = [f"def {name}(step: int) -> float:", f'    """{doc}"""']
        lines += [f"    {line}" for line in body]
        self.functions.append("\n".join(lines))


def _float_schedule(schedule: LearningRateSchedule) -> None:
    if schedule.dtype.kind != "f":
        raise ValueError(
            f"{type(schedule).__name__} computes in {schedule.dtype.name} (an integer "
            "initial rate: Keras truncates every other hyperparameter); translate needs a "
            f"float schedule. Received: {label(schedule)}"
        )


def _exponential(s: Any, w: _Writer, name: str) -> list[str]:
    body = [f"p = step / {literal(s.decay_steps)}"]
    if s.staircase:
        body.append("p = math.floor(p)")
        w.imports.add("math")
    if type(s).__name__ == "NaturalExpDecay":
        w.imports.add("math")
        body.insert(0, f"rate = math.exp(-{literal(s.decay_rate)})")
        return [*body, f"return {literal(s.initial_learning_rate)} * rate ** p"]
    return [*body, f"return {literal(s.initial_learning_rate)} * {literal(s.decay_rate)} ** p"]


def _piecewise(s: Any, w: _Writer, name: str) -> list[str]:
    milestones = milestones_of(s.boundaries)
    values = list(s.values)
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError(
            f"PiecewiseConstantDecay values={values!r} contain inf or NaN: Keras's rate is "
            "NaN at every step; there is nothing to translate."
        )
    w.imports.add("bisect")
    return [
        "# values[i] up to and including boundaries[i]: the next value starts at boundary + 1",
        f"milestones = {literal(milestones)}  # Keras's boundaries + 1",
        f"return {literal(values)}[bisect.bisect_right(milestones, step)]",
    ]


def milestones_of(boundaries: Any) -> list[int]:
    """The steps where a ``PiecewiseConstantDecay`` with ``boundaries`` switches to its
    next value: each boundary truncated to an integer (Keras casts the boundaries to
    the int64 step) plus one.  Raises ``ValueError`` naming the boundaries when they
    are not finite or, once truncated, not strictly increasing.

    >>> milestones_of([1000, 2000, 3000])
    [1001, 2001, 3001]
    >>> milestones_of([1.5, 1.7])
    Traceback (most recent call last):
    ValueError: PiecewiseConstantDecay boundaries=[1.5, 1.7] are not strictly increasing once Keras truncates them to integers ([1, 1]): Keras then adds the values of overlapping intervals; translate needs strictly increasing boundaries.
    """
    values = [float(b) for b in boundaries]
    if not all(math.isfinite(b) for b in values):
        raise ValueError(
            f"PiecewiseConstantDecay boundaries={list(boundaries)!r} are not all finite; "
            "translate needs finite boundaries."
        )
    truncated = [math.trunc(b) for b in values]
    if any(b >= c for b, c in itertools.pairwise(truncated)):
        raise ValueError(
            f"PiecewiseConstantDecay boundaries={list(boundaries)!r} are not strictly "
            f"increasing once Keras truncates them to integers ({truncated}): Keras then "
            "adds the values of overlapping intervals; translate needs strictly "
            "increasing boundaries."
        )
    return [b + 1 for b in truncated]


def _polynomial(s: Any, w: _Writer, name: str) -> list[str]:
    d = literal(s.decay_steps)
    if s.cycle:
        w.imports.add("math")
        body = [
            "# the horizon grows to the next multiple of decay_steps (step 0: decay_steps)",
            f"horizon = {d} * (1.0 if step == 0 else math.ceil(step / {d}))",
            "p = step / horizon",
        ]
    else:
        body = [f"s = min(step, {d})", f"p = s / {d}"]
    lr, end = literal(s.initial_learning_rate), literal(s.end_learning_rate)
    return [*body, f"return ({lr} - {end}) * (1 - p) ** {literal(s.power)} + {end}"]


def _inverse_time(s: Any, w: _Writer, name: str) -> list[str]:
    body = [f"p = step / {literal(s.decay_steps)}"]
    if s.staircase:
        w.imports.add("math")
        body.append("p = math.floor(p)")
    lr, rate = literal(s.initial_learning_rate), literal(s.decay_rate)
    return [*body, f"return {lr} / (1 + {rate} * p)"]


def _cosine(s: Any, w: _Writer, name: str) -> list[str]:
    w.imports.add("math")
    d, alpha = literal(s.decay_steps), literal(s.alpha)
    if s.warmup_target is None:
        return [
            f"s = min(step, {d})",
            f"cosine = 0.5 * (1 + math.cos(math.pi * (s / {d})))",
            f"return {literal(s.initial_learning_rate)} * ((1 - {alpha}) * cosine + {alpha})",
        ]
    warm, peak, start = (
        literal(s.warmup_steps),
        literal(s.warmup_target),
        literal(s.initial_learning_rate),
    )
    return [
        f"s = min(step, {warm} + {d})",
        f"if s < {warm}:  # linear warmup, then the cosine counts from its end",
        f"    return ({peak} - {start}) * (s / {warm}) + {start}",
        f"cosine = 0.5 * (1 + math.cos(math.pi * ((s - {warm}) / {d})))",
        f"return {peak} * ((1 - {alpha}) * cosine + {alpha})",
    ]


def _restarts(s: Any, w: _Writer, name: str) -> list[str]:
    w.imports.add("math")
    t, m, alpha = literal(s.t_mul), literal(s.m_mul), literal(s.alpha)
    body = [f"f = step / {literal(s.first_decay_steps)}"]
    if float(s.t_mul) == 1.0:
        body += ["i = math.floor(f)  # the restart index", "f = f - i"]
    else:
        body += [
            f"i = math.floor(math.log(1 - f * (1 - {t})) / math.log({t}))  # the restart index",
            f"t_i = {t} ** i",
            f"f = (f - (1 - t_i) / (1 - {t})) / t_i",
        ]
    return [
        *body,
        f"cosine = 0.5 * {m} ** i * (1 + math.cos(math.pi * f))",
        f"return {literal(s.initial_learning_rate)} * ((1 - {alpha}) * cosine + {alpha})",
    ]


def _time_based(s: Any, w: _Writer, name: str) -> list[str]:
    if isinstance(s.initial_learning_rate, LearningRateSchedule):
        child = w.child_name(name, 0)
        _emit(s.initial_learning_rate, child, w)
        body = [f"rate = {child}(step)"]
    else:
        body = [f"rate = {literal(s.initial_learning_rate)}"]
    if float(s.decay) > 0:
        return [*body, f"return rate / (1.0 + {literal(s.decay)} * step)"]
    return [*body, "return rate"]


def _linear_cosine(s: Any, w: _Writer, name: str) -> list[str]:
    w.imports.add("math")
    d = literal(s.decay_steps)
    fraction = f"2.0 * {literal(s.num_periods)} * (s / {d})"
    lr, alpha, beta = literal(s.initial_learning_rate), literal(s.alpha), literal(s.beta)
    return [
        f"s = min(step, {d})",
        f"linear = ({d} - s) / {d}",
        f"cosine = 0.5 * (1 + math.cos(math.pi * ({fraction})))",
        f"return {lr} * (({alpha} + linear) * cosine + {beta})",
    ]


def _linear_warmup(s: Any, w: _Writer, name: str) -> list[str]:
    child = w.child_name(name, 0)
    _emit(s.schedule, child, w)
    warm, start = literal(s.warmup_steps), literal(s.initial_learning_rate)
    return [
        f"if step < {warm}:  # linear from initial_learning_rate to the schedule's step 0",
        f"    return ({child}(0) - {start}) * (step / {warm}) + {start}",
        f"return {child}(step - {warm})",
    ]


def _sequential(s: Any, w: _Writer, name: str) -> list[str]:
    children = [w.child_name(name, i) for i in range(len(s.schedules))]
    for child, schedule in zip(children, s.schedules):
        _emit(schedule, child, w)
    body = ["# each schedule starts at its own step 0 at its boundary"]
    pairs = list(zip(s.boundaries, children[1:]))
    for boundary, child in reversed(pairs):
        b = literal(boundary)
        body += [f"if step >= {b}:", f"    return {child}(step - {b})"]
    return [*body, f"return {children[0]}(step)"]


_EMITTERS: dict[str, Callable[[Any, _Writer, str], list[str]]] = {
    "ExponentialDecay": _exponential,
    "NaturalExpDecay": _exponential,
    "PiecewiseConstantDecay": _piecewise,
    "PolynomialDecay": _polynomial,
    "InverseTimeDecay": _inverse_time,
    "CosineDecay": _cosine,
    "CosineDecayRestarts": _restarts,
    "TimeBasedDecay": _time_based,
    "LinearCosineDecay": _linear_cosine,
    "LinearWarmup": _linear_warmup,
    "SequentialSchedule": _sequential,
}


def _emit(schedule: LearningRateSchedule, name: str, w: _Writer) -> None:
    cls = type(schedule).__name__
    emitter = _EMITTERS.get(cls)
    if emitter is None:
        why = (
            " (its noise is refimpl's own counter-based draw: no framework computes it)"
            if cls == "NoisyLinearCosineDecay"
            else ""
        )
        raise ValueError(
            f"translate has no port of {cls}{why}. Translatable Keras schedules: "
            f"{', '.join(_EMITTERS)}."
        )
    _float_schedule(schedule)
    body = emitter(schedule, w, name)
    w.define(schedule, name, body)


def python_rate(schedule: LearningRateSchedule, name: str = "keras_rate") -> PythonRate:
    """The source of ``name(step: int) -> float``: ``schedule``'s formula in Python
    floats (see the module docstring).

    Raises ``TypeError`` for anything but a refimpl schedule, ``ValueError`` for a
    schedule without a port (``NoisyLinearCosineDecay``), an integer one, or one whose
    rate is NaN (inf/NaN piecewise values) or ill-defined (overlapping boundaries).
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            "Argument `schedule` must be a refimpl LearningRateSchedule. "
            f"Received: schedule={schedule!r} ({type(schedule).__name__})"
        )
    if not name.isidentifier():
        raise ValueError(f"Argument `name` must be a Python identifier. Received: name={name!r}")
    writer = _Writer()
    writer.names.add(name)
    _emit(schedule, name, writer)
    return PythonRate(name, "\n\n\n".join(writer.functions), tuple(sorted(writer.imports)))
