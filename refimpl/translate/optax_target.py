"""Keras or torch -> Optax: a schedule as ``optax`` code.

Every snippet builds ``schedule`` (an Optax schedule: a function of the count) and
``optimizer = optax.sgd(learning_rate=schedule)``; a constant rate is passed as it is.
Optax calls the schedule with the optimizer's count, 0 at the first update -- the step
Keras's schedules and torch's schedulers see.  The target's values are what Optax
computes inside the jitted update step (:mod:`refimpl.optax`, ``mode="jit"``: float32
XLA arithmetic), compared in float32 with the source as its framework computes it.

The mappings (``source -> Optax built-in``, each when its condition holds; otherwise the
exact port, ``refimpl.optax.as_optax(<the refimpl schedule>)``: the source's own formula
on ``jax.numpy``, see :mod:`refimpl.optax.jax_namespace`):

=================================================  ==================================================
Keras ``ExponentialDecay(lr, d, r, staircase)``     ``exponential_decay(lr, d, r, staircase=staircase)``
Keras ``NaturalExpDecay(lr, d, r, staircase)``      the same with ``decay_rate=math.exp(-r)``
Keras ``PiecewiseConstantDecay(b, v)``              ``piecewise_constant_schedule(v[0], {trunc(x) + 1:``
                                                    ``v[i + 1] / v[i]})``: switches at ``b + 1``, scales
                                                    cumulative; every ``v[i] != 0``
Keras ``PolynomialDecay(lr, d, end, power)``        ``polynomial_schedule(lr, end, power, d)``; not ``cycle``
Keras ``CosineDecay(lr, d, alpha)``                 ``cosine_decay_schedule(lr, d, alpha)``
Keras ``CosineDecay(lr0, d, alpha, warmup_target``  ``warmup_cosine_decay_schedule(lr0, p, w, w + d,``
``=p, warmup_steps=w)``                             ``end_value=alpha * p)``: Optax's ``decay_steps``
                                                    counts the warmup (optax#835)
a constant rate                                     ``optax.sgd(learning_rate=rate)``
``LearningRateScheduler(lr / c)`` per epoch         ``exponential_decay(lr0 / c, steps_per_epoch, 1 / c,``
                                                    ``staircase=True)``
torch ``StepLR(lr, s, g)``                          ``exponential_decay(lr, s, g, staircase=True)``
torch ``MultiStepLR(lr, m, g)``                     ``piecewise_constant_schedule(lr, {m: g})`` (a
                                                    milestone listed twice: ``g ** 2``)
torch ``ExponentialLR(lr, g)``                      ``exponential_decay(lr, 1, g)``
torch ``CosineAnnealingLR(lr, T, eta_min)``         ``cosine_decay_schedule(lr, T, alpha=eta_min / lr)``
                                                    within ``T`` (torch is periodic past it)
torch ``LinearLR(lr, a, b, n)``                     ``linear_schedule(lr * a, lr * b, n)``
torch ``ConstantLR(lr, f, n)``                      ``piecewise_constant_schedule(lr * f, {n: 1 / f})``
torch ``PolynomialLR(lr, n, power)``                ``polynomial_schedule(lr, 0.0, power, n)``
=================================================  ==================================================

Every other Keras schedule and torch scheduler is the exact port (torch's closed form:
its documented formula, not its recursion, which the table lists as ``drift``), except
torch's ``LambdaLR``/``MultiplicativeLR`` (a Python function) and
``ReduceLROnPlateau`` (a metric).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from refimpl.translate.differences import Side, Structural
from refimpl.translate.python_formulas import literal, milestones_of
from refimpl.translate.sources import Source
from refimpl.translate.targets import (
    Candidate,
    Target,
    candidate,
    choose,
    comment,
    periodic_after,
)

__all__ = ["BUILTINS", "NOT_TRANSLATED", "translate"]


@dataclass(frozen=True)
class _Plan:
    """An Optax snippet: ``schedule = <expression>`` (``optax.<name>(...)`` or the port),
    or a constant ``learning_rate``; the modules it imports, why it maps."""

    kind: str
    name: str
    why: tuple[str, ...]
    expression: str = ""
    constant: str | None = None
    imports: tuple[str, ...] = ()
    port_of: Any = None
    from_imports: tuple[str, ...] = ()
    structural: tuple[Structural, ...] = ()


def _call(name: str, **kwargs: Any) -> str:
    return f"optax.{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def _render(source: Source, plan: _Plan) -> str:
    imports = sorted({"optax", *plan.imports})
    lines = [f"import {m}" for m in imports]
    if plan.kind == "exact port":
        lines += ["", "from refimpl.optax import as_optax", *plan.from_imports]
    lines.append("")
    lines += comment(f"{_framework(source.framework)}: {source.label}")
    for text in plan.why:
        lines += comment(text)
    if plan.constant is not None:
        lines.append(f"optimizer = optax.sgd(learning_rate={plan.constant})")
        return "\n".join(lines) + "\n"
    line = f"schedule = {plan.expression}"
    if len(line) > 100 and plan.expression.startswith("optax."):
        head, _, rest = plan.expression.partition("(")
        lines += [f"schedule = {head}(", *(f"    {a.strip()}," for a in _split(rest[:-1])), ")"]
    else:
        lines.append(line)
    lines.append("optimizer = optax.sgd(learning_rate=schedule)")
    lines += comment(
        "Optax calls the schedule with the optimizer's update count (0 at the first update), "
        f"the step {_framework(source.framework)} counts."
    )
    return "\n".join(lines) + "\n"


def _split(arguments: str) -> list[str]:
    """Top-level comma-separated parts of ``arguments`` (no split inside brackets)."""
    parts, depth, current = [], 0, ""
    for char in arguments:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        current += char
    return [*parts, current] if current.strip() else parts


def _framework(name: str) -> str:
    return {"keras": "Keras", "torch": "torch", "optax": "Optax"}.get(name, name)


def _side(source: Source, plan: _Plan) -> tuple[Any, Side]:
    """The refimpl.optax schedule the code makes (None for a port or a constant) and
    what Optax computes with it under ``jax.jit``."""
    import refimpl.optax

    f32 = np.dtype(np.float32)
    if plan.constant is not None:
        rate = float(eval(plan.constant, {"math": math}))
        return None, Side(
            "optax",
            "learning_rate",
            f32,
            lambda steps: np.full(steps.shape, np.float32(rate)),
            lambda steps: np.full(steps.shape, rate),
        )
    if plan.kind == "exact port":
        original = plan.port_of
        return None, Side(
            "optax",
            plan.name,
            f32,
            lambda steps: np.asarray(refimpl.optax.jit_rates(original, steps), np.float32),
            lambda steps: np.asarray(original.exact(steps), np.float64),
        )
    schedule = eval(plan.expression, {"optax": refimpl.optax, "math": math})
    return schedule, Side(
        "optax",
        plan.name,
        f32,
        lambda steps: np.asarray(schedule(steps), np.float32),
        lambda steps: np.asarray(schedule.exact(steps), np.float64),
    )


def _candidate(source: Source, plan: _Plan) -> Candidate:
    return candidate(
        "optax", plan.kind, plan.name, plan.structural, source.notes,
        side=lambda: _side(source, plan), render=lambda: _render(source, plan),
    )  # fmt: skip


def _whole(value: Any) -> int | None:
    number = float(value)
    return int(number) if math.isfinite(number) and number.is_integer() and number >= 1 else None


# --- Keras sources ---------------------------------------------------------------------------


def _keras_exponential(s: Any) -> _Plan | str:
    d = _whole(s.decay_steps)
    if d is None:
        return f"Optax's transition_steps is an int; decay_steps={s.decay_steps!r} is not whole"
    natural = type(s).__name__ == "NaturalExpDecay"
    rate = f"math.exp(-{literal(s.decay_rate)})" if natural else literal(s.decay_rate)
    return _Plan(
        "built-in",
        "exponential_decay",
        (
            "Optax built-in: exponential_decay is init_value * decay_rate ** (count / "
            "transition_steps), floored with staircase, as Keras's ExponentialDecay.",
        ),
        _call(
            "exponential_decay",
            init_value=literal(s.initial_learning_rate),
            transition_steps=str(d),
            decay_rate=rate,
            staircase=str(bool(s.staircase)),
        ),
        imports=("math",) if natural else (),
    )


def _keras_piecewise(s: Any) -> _Plan | str:
    values = [float(v) for v in s.values]
    if any(v == 0 or not math.isfinite(v) for v in values[:-1]):
        return (
            "Optax's scales multiply the previous value, which cannot leave 0 (or inf); "
            f"values={list(s.values)!r}"
        )
    milestones = milestones_of(s.boundaries)
    scales = {m: values[i + 1] / values[i] for i, m in enumerate(milestones)}
    # where Optax's float32 products are not the float32 values Keras holds
    products = np.cumprod(np.array([values[0], *scales.values()], np.float32))
    off = products != np.array(values, np.float32)
    cuts = np.array(milestones)

    def scaled(steps: np.ndarray) -> np.ndarray:
        return off[np.searchsorted(cuts, steps, side="right")]

    text = "{" + ", ".join(f"{m}: {literal(v)}" for m, v in scales.items()) + "}"
    return _Plan(
        "built-in",
        "piecewise_constant_schedule",
        (
            "Optax built-in: piecewise_constant_schedule multiplies the value by each scale "
            "from its boundary on. Keras holds values[i] up to and including boundaries[i] "
            "(boundaries + 1 here), and takes values where Optax takes cumulative scales: "
            "scale = values[i + 1] / values[i].",
        ),
        _call(
            "piecewise_constant_schedule", init_value=literal(values[0]), boundaries_and_scales=text
        ),
        structural=(Structural("scales", scaled),),
    )


def _keras_polynomial(s: Any) -> _Plan | str:
    if s.cycle:
        return "Optax's polynomial_schedule does not cycle (cycle=True)"
    d = _whole(s.decay_steps)
    if d is None:
        return f"Optax's transition_steps is an int; decay_steps={s.decay_steps!r} is not whole"
    return _Plan(
        "built-in",
        "polynomial_schedule",
        (
            "Optax built-in: polynomial_schedule is (init - end) * (1 - n / T) ** power + end, "
            "clamped at T, as Keras's PolynomialDecay.",
        ),
        _call(
            "polynomial_schedule",
            init_value=literal(s.initial_learning_rate),
            end_value=literal(s.end_learning_rate),
            power=literal(float(s.power)),
            transition_steps=str(d),
        ),
    )


def _keras_cosine(s: Any) -> _Plan | str:
    if s.warmup_target is None:
        if not float(s.decay_steps) > 0:
            return f"Optax's decay_steps must be positive; decay_steps={s.decay_steps!r}"
        return _Plan(
            "built-in",
            "cosine_decay_schedule",
            (
                "Optax built-in: cosine_decay_schedule, alpha a fraction of the rate as in "
                "Keras, clamped past decay_steps as in Keras.",
            ),
            _call(
                "cosine_decay_schedule",
                init_value=literal(s.initial_learning_rate),
                decay_steps=literal(s.decay_steps),
                alpha=literal(s.alpha),
            ),
        )
    w, d = _whole(s.warmup_steps), _whole(s.decay_steps)
    if w is None or d is None:
        return "Optax's warmup_steps and decay_steps are ints; Keras's here are not whole"
    peak = literal(s.warmup_target)
    end = "0.0" if float(s.alpha) == 0 else f"{literal(s.alpha)} * {peak}"
    return _Plan(
        "built-in",
        "warmup_cosine_decay_schedule",
        (
            f"Optax built-in: warmup_cosine_decay_schedule. Its decay_steps counts the warmup "
            f"(optax#835): Keras's decay_steps={d} after warmup_steps={w} is Optax's "
            f"decay_steps={w + d}; end_value = alpha * warmup_target (Optax's alpha is "
            "end_value / peak_value).",
        ),
        _call(
            "warmup_cosine_decay_schedule",
            init_value=literal(s.initial_learning_rate),
            peak_value=peak,
            warmup_steps=str(w),
            decay_steps=str(w + d),
            end_value=end,
        ),
    )


#: The Keras schedules with an Optax built-in (when its conditions hold), by class name.
_KERAS: dict[str, Callable[[Any], _Plan | str]] = {
    "ExponentialDecay": _keras_exponential,
    "NaturalExpDecay": _keras_exponential,
    "PiecewiseConstantDecay": _keras_piecewise,
    "PolynomialDecay": _keras_polynomial,
    "CosineDecay": _keras_cosine,
}


# --- torch sources ---------------------------------------------------------------------------


def _torch_step(a: dict[str, Any], lr: str) -> _Plan | str:
    return _Plan(
        "built-in",
        "exponential_decay",
        (
            "Optax built-in: exponential_decay with staircase multiplies by decay_rate at "
            "every multiple of transition_steps, as StepLR.",
        ),
        _call(
            "exponential_decay",
            init_value=lr,
            transition_steps=str(a["step_size"]),
            decay_rate=literal(a["gamma"]),
            staircase="True",
        ),
    )


def _torch_multi_step(a: dict[str, Any], lr: str) -> _Plan | str:
    counts = Counter(int(m) for m in a["milestones"])
    gamma = literal(a["gamma"])
    scales = {m: gamma if c == 1 else f"{gamma} ** {c}" for m, c in sorted(counts.items())}
    if not scales:
        return _Plan("constant rate", "sgd", ("No milestone: a constant rate.",), constant=lr)
    text = "{" + ", ".join(f"{m}: {v}" for m, v in scales.items()) + "}"
    return _Plan(
        "built-in",
        "piecewise_constant_schedule",
        (
            "Optax built-in: piecewise_constant_schedule multiplies by each scale from its "
            "boundary on, switching at the boundary as MultiStepLR at the milestone.",
        ),
        _call("piecewise_constant_schedule", init_value=lr, boundaries_and_scales=text),
    )


def _torch_exponential(a: dict[str, Any], lr: str) -> _Plan | str:
    return _Plan(
        "built-in",
        "exponential_decay",
        (
            "Optax built-in: exponential_decay with transition_steps=1 multiplies by "
            "decay_rate at every step, as ExponentialLR (computed as a power, not a "
            "recursion).",
        ),
        _call(
            "exponential_decay", init_value=lr, transition_steps="1", decay_rate=literal(a["gamma"])
        ),
    )


def _torch_cosine(a: dict[str, Any], lr: str) -> _Plan | str:
    if float(eval(lr)) == 0:
        return "Optax's alpha is a fraction of the rate, and lr is 0"
    alpha = "0.0" if float(a["eta_min"]) == 0 else f"{literal(a['eta_min'])} / {lr}"
    return _Plan(
        "built-in",
        "cosine_decay_schedule",
        (
            "Optax built-in: cosine_decay_schedule with alpha = eta_min / lr (torch's eta_min "
            "is absolute); it holds its end past decay_steps where torch's cosine rises again.",
        ),
        _call("cosine_decay_schedule", init_value=lr, decay_steps=str(a["T_max"]), alpha=alpha),
        structural=(periodic_after(int(a["T_max"])),),
    )


def _torch_linear(a: dict[str, Any], lr: str) -> _Plan | str:
    return _Plan(
        "built-in",
        "linear_schedule",
        (
            "Optax built-in: linear_schedule from lr * start_factor to lr * end_factor over "
            "total_iters, as LinearLR.",
        ),
        _call(
            "linear_schedule",
            init_value=f"{lr} * {literal(a['start_factor'])}",
            end_value=f"{lr} * {literal(a['end_factor'])}",
            transition_steps=str(a["total_iters"]),
        ),
    )


def _torch_constant(a: dict[str, Any], lr: str) -> _Plan | str:
    factor = literal(a["factor"])
    return _Plan(
        "built-in",
        "piecewise_constant_schedule",
        (
            "Optax built-in: piecewise_constant_schedule from lr * factor, times 1 / factor "
            "from total_iters on, as ConstantLR.",
        ),
        _call(
            "piecewise_constant_schedule",
            init_value=f"{lr} * {factor}",
            boundaries_and_scales=f"{{{a['total_iters']}: 1 / {factor}}}",
        ),
    )


def _torch_polynomial(a: dict[str, Any], lr: str) -> _Plan | str:
    return _Plan(
        "built-in",
        "polynomial_schedule",
        ("Optax built-in: polynomial_schedule to 0.0 over total_iters, as PolynomialLR.",),
        _call(
            "polynomial_schedule",
            init_value=lr,
            end_value="0.0",
            power=literal(float(a["power"])),
            transition_steps=str(a["total_iters"]),
        ),
    )


#: The torch schedulers with an Optax built-in, by class name.
_TORCH: dict[str, Callable[[dict[str, Any], str], _Plan | str]] = {
    "StepLR": _torch_step,
    "MultiStepLR": _torch_multi_step,
    "ExponentialLR": _torch_exponential,
    "CosineAnnealingLR": _torch_cosine,
    "LinearLR": _torch_linear,
    "ConstantLR": _torch_constant,
    "PolynomialLR": _torch_polynomial,
}

#: Every schedule with an Optax built-in, by framework and class name.
BUILTINS: dict[str, dict[str, Callable[..., _Plan | str]]] = {"keras": _KERAS, "torch": _TORCH}

#: What translate refuses, and why.
NOT_TRANSLATED = {
    "LambdaLR": "its factor is your Python function, which cannot run under jax.jit",
    "MultiplicativeLR": "its factor is your Python function, which cannot run under jax.jit",
    "NoisyLinearCosineDecay": "its noise is drawn by TensorFlow's random ops",
}


# --- the exact port ----------------------------------------------------------------------------


def _port(source: Source) -> _Plan | str:
    if source.kind in ("constant", "epoch"):
        return "a constant rate or an epoch callback is an Optax built-in"
    original = source.schedule if source.framework == "keras" else source.scheduler
    name = type(original).__name__
    if name in NOT_TRANSLATED:
        return NOT_TRANSLATED[name]
    for child in getattr(original, "_schedulers", ()):
        if type(child).__name__ in NOT_TRANSLATED:
            return f"its child {type(child).__name__}'s {NOT_TRANSLATED[type(child).__name__]}"
    module = "refimpl.schedules" if source.framework == "keras" else "refimpl.torch.lr_scheduler"
    form = "formula" if source.framework == "keras" else "closed form"
    classes = sorted(set(re.findall(r"\b([A-Z]\w*)\(", source.label)))
    return _Plan(
        "exact port",
        f"as_optax({name})",
        (
            f"Exact port: refimpl.optax.as_optax runs refimpl's {name} ({form}, the same "
            "operations as the source) on jax.numpy, a function of Optax's count (jit-compatible).",
        ),
        f"as_optax({source.label})",
        imports=("numpy as np",) if "np.float32" in source.label else (),
        port_of=original,
        from_imports=(f"from {module} import {', '.join(classes)}",),
    )


def _builtin(source: Source) -> _Plan | str:
    if source.kind == "constant":
        return _Plan(
            "constant rate",
            "sgd",
            ("A constant rate: optax.sgd with the same learning_rate.",),
            constant=literal(source.learning_rate),
        )
    if source.kind == "epoch":
        factor, per_epoch = source.epoch_factor, source.steps_per_epoch
        if factor is None or per_epoch is None:  # pragma: no cover -- as_source sets both
            raise ValueError(f"{source.label}: an epoch source needs its factor and length")
        op = "/" if factor.divide else "*"
        return _Plan(
            "built-in",
            "exponential_decay",
            (
                f"Optax built-in: exponential_decay with staircase multiplies by decay_rate "
                f"every transition_steps = {per_epoch} counts (one epoch). Keras's "
                f"LearningRateScheduler sets {factor.text()} at the start of every epoch, "
                "epoch 0 included, so Optax starts at the rate of epoch 0.",
            ),
            _call(
                "exponential_decay",
                init_value=f"{literal(source.learning_rate)} {op} {literal(factor.divisor)}",
                transition_steps=str(per_epoch),
                decay_rate=factor.gamma_text(),
                staircase="True",
            ),
        )
    if source.framework == "keras":
        name = type(source.schedule).__name__
        if name not in _KERAS:
            return f"Optax has no schedule computing {name}"
        return _KERAS[name](source.schedule)
    name = type(source.scheduler).__name__
    if name not in _TORCH:
        return f"Optax has no schedule computing torch's {name}"
    arguments = source.scheduler.get_config()
    return _TORCH[name](arguments, literal(arguments["lr"]))


def translate(source: Source, n: int, use: str) -> Target:
    """``source`` (a Keras schedule, constant rate or epoch callback, or a torch
    scheduler) as Optax code, the built-in or the exact port by ``use`` (see
    :func:`~refimpl.translate.targets.choose`)."""
    if source.framework == "optax":
        raise ValueError(
            f"--to optax translates a Keras schedule or a torch scheduler; {source.label} is "
            "Optax's already (translate it --to keras or --to torch)."
        )
    builtin = _builtin(source)
    port = _port(source)
    target = choose(
        "optax",
        f"{_framework(source.framework)}'s {source.name}",
        builtin if isinstance(builtin, str) else _candidate(source, builtin),
        port if isinstance(port, str) else _candidate(source, port),
        use,
        n,
    )
    notes = _trap_notes(source, n)
    return replace(target, notes=(*target.notes, *notes)) if notes else target


def _trap_notes(source: Source, n: int) -> list[str]:
    """The classic mistakes of a hand port to Optax, where they would differ."""
    from refimpl.optax import piecewise_constant_schedule, warmup_cosine_decay_schedule

    schedule: Any = source.schedule
    name = type(schedule).__name__ if schedule is not None else ""
    if name not in ("PiecewiseConstantDecay", "CosineDecay"):
        return []
    steps = np.arange(n, dtype=np.int64)
    with np.errstate(all="ignore"):
        want = np.asarray(source.side.rates(steps)).astype(np.float32)
    notes: list[str] = []
    if name == "PiecewiseConstantDecay" and all(float(v) != 0 for v in schedule.values[:-1]):
        values = [float(v) for v in schedule.values]
        bounds = [int(b) for b in milestones_of(schedule.boundaries)]
        naive_bounds = piecewise_constant_schedule(
            values[0], {b - 1: values[i + 1] / values[i] for i, b in enumerate(bounds)}
        )
        naive_scales = piecewise_constant_schedule(
            values[0], {b: values[i + 1] for i, b in enumerate(bounds)}
        )
        notes += _where_differs(
            want,
            naive_bounds(steps),
            "Boundary rule: Optax code taking "
            "Keras's boundaries as they are (Optax switches at the "
            "boundary, Keras one step later)",
        )
        notes += _where_differs(
            want,
            naive_scales(steps),
            "Cumulative scales: Optax code taking Keras's values as scales (Optax multiplies them)",
        )
    if name == "CosineDecay" and schedule.warmup_target is not None:
        w, d = _whole(schedule.warmup_steps), _whole(schedule.decay_steps)
        if w is not None and d is not None and d > w:
            naive = warmup_cosine_decay_schedule(
                float(schedule.initial_learning_rate),
                float(schedule.warmup_target),
                w,
                d,
                float(schedule.alpha) * float(schedule.warmup_target),
            )
            notes += _where_differs(
                want,
                naive(steps),
                "Warmup counting: Optax code taking "
                f"Keras's decay_steps={d} as Optax's (which counts the "
                "warmup, optax#835)",
            )
    return notes


def _where_differs(want: np.ndarray, naive: np.ndarray, what: str) -> list[str]:
    with np.errstate(all="ignore"):
        hits = np.flatnonzero(want != np.asarray(naive, np.float32))
    if hits.size == 0:
        return []
    shown = ", ".join(str(int(h)) for h in hits[:6]) + (", ..." if hits.size > 6 else "")
    return [f"{what} would differ at step{'s' if hits.size > 1 else ''} {shown} "
            f"({hits.size:,} in all)."]  # fmt: skip
