"""Keras -> torch: a Keras schedule (or the lesson's constant rate or epoch callback)
as ``torch.optim.lr_scheduler`` code.

Every snippet builds ``optimizer = torch.optim.SGD(model.parameters(), lr=...)`` and a
``scheduler`` to be stepped once per batch, after ``optimizer.step()``: the rate of
update ``k`` is then what Keras uses at ``optimizer.iterations == k`` (step 0 is the
first update on both sides).  torch computes in float64 (Python floats), Keras in
float32 (a Python-float rate): the same formula rounds differently, which the
comparison lists as ``float32``.

The mappings (``Keras -> torch built-in``, each when its condition holds; otherwise
the exact port, a ``LambdaLR`` whose factor is the Keras formula written out in Python
divided by the optimizer's rate ``LR``, see :mod:`refimpl.translate.python_formulas`):

=============================================  =====================================================
``ExponentialDecay(lr, d, r, staircase=True)``   ``StepLR(step_size=d, gamma=r)``; ``d`` a whole number
``ExponentialDecay(lr, d, r)``                   ``ExponentialLR(gamma=r ** (1 / d))``
``NaturalExpDecay``                              the same with ``r = math.exp(-decay_rate)``
``PiecewiseConstantDecay(b, v)``                 ``MultiStepLR(milestones=[trunc(x) + 1 for x in b], gamma=g)``
                                                 with ``lr=v[0]``, when ``v[i] == v[0] * g ** i`` (a
                                                 geometric sequence, within float64 rounding)
``PolynomialDecay(lr, d, 0.0, power)``           ``PolynomialLR(total_iters=d, power=power)``; not
                                                 with ``cycle`` or another end rate (torch ends at 0)
``CosineDecay(lr, d, alpha)``                    ``CosineAnnealingLR(T_max=d, eta_min=alpha * lr)``;
                                                 periodic past ``d`` (Keras holds ``alpha * lr``)
``CosineDecay(lr0, d, alpha, warmup_target=p,``  ``SequentialLR([LinearLR(start_factor=lr0 / p,``
``warmup_steps=w)``                              ``total_iters=w), CosineAnnealingLR(T_max=d,``
                                                 ``eta_min=alpha * p)], milestones=[w])`` on ``lr=p``,
                                                 ``0 < lr0 <= p``; periodic past ``w + d``
``CosineDecayRestarts(lr, d, t, 1.0, alpha)``    ``CosineAnnealingWarmRestarts(T_0=d, T_mult=t,``
                                                 ``eta_min=alpha * lr)``; ``t`` a whole number, ``m_mul=1``
``InverseTimeDecay``, ``TimeBasedDecay``,        the exact port only
``LinearCosineDecay``, ``LinearWarmup``,
``SequentialSchedule``
a constant rate                                  ``SGD(lr=rate)`` and no scheduler
``LearningRateScheduler(lr / c)`` (per epoch,    ``StepLR(step_size=steps_per_epoch, gamma=1 / c)`` on
epoch 0 included)                                ``lr=lr0 / c``
=============================================  =====================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from refimpl.schedules import PiecewiseConstantDecay
from refimpl.torch.lr_scheduler import SCHEDULERS
from refimpl.translate.differences import Side, Structural
from refimpl.translate.python_formulas import literal, milestones_of, python_rate
from refimpl.translate.sources import EpochFactor, Source
from refimpl.translate.targets import (
    Candidate,
    Target,
    boundary_trap,
    candidate,
    choose,
    comment,
    periodic_after,
    run_code,
)

__all__ = ["BUILTINS", "translate"]

#: Schedulers whose rate is computed from the base rate at every step (no recursion).
_NOT_RECURSIVE = frozenset({"LambdaLR", "CosineAnnealingWarmRestarts", "OneCycleLR"})


@dataclass(frozen=True)
class _Call:
    """``variable = torch.optim.lr_scheduler.name(optimizer, key=expression, ...)``."""

    name: str
    kwargs: tuple[tuple[str, str], ...]
    variable: str = "scheduler"
    children: tuple[_Call, ...] = ()

    def render(self) -> list[str]:
        arguments = ", ".join(f"{k}={v}" for k, v in self.kwargs)
        line = f"{self.variable} = torch.optim.lr_scheduler.{self.name}(optimizer, {arguments})"
        if len(line) <= 100:
            return [line]
        inner = [f"    {k}={v}," for k, v in self.kwargs]
        return [
            f"{self.variable} = torch.optim.lr_scheduler.{self.name}(",
            "    optimizer,",
            *inner,
            ")",
        ]

    def build(self, lr: Any, namespace: dict[str, Any]) -> Any:
        """The refimpl scheduler this call makes (children first, by their variables)."""
        scope = dict(namespace)
        for child in self.children:
            scope[child.variable] = child.build(lr, namespace)
        kwargs = {k: eval(v, scope) for k, v in self.kwargs}
        return SCHEDULERS[self.name](lr, **kwargs)

    def recursive(self) -> bool:
        if self.children:
            return any(child.recursive() for child in self.children)
        return self.name not in _NOT_RECURSIVE


@dataclass(frozen=True)
class _Plan:
    """A torch snippet: the optimizer's ``lr`` expression, the scheduler call (None: a
    constant rate), definitions before them, the modules they need, why it maps."""

    kind: str
    name: str
    lr: str
    call: _Call | None
    why: tuple[str, ...]
    prelude: str = ""
    imports: tuple[str, ...] = ()
    structural: tuple[Structural, ...] = ()


def _whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number >= 1, else None."""
    number = float(value)
    return int(number) if math.isfinite(number) and number.is_integer() and number >= 1 else None


def _render(source: Source, plan: _Plan) -> str:
    lines = [f"import {m}" for m in plan.imports] + ["", "import torch", ""]
    if not plan.imports:
        lines = ["import torch", ""]
    lines += comment(f"Keras: {source.label}")
    for text in plan.why:
        lines += comment(text)
    if plan.prelude:
        lines += ["", plan.prelude, ""]
    lines.append(f"optimizer = torch.optim.SGD(model.parameters(), lr={plan.lr})  # model: yours")
    if plan.call is None:
        lines += comment("No scheduler: the rate is constant.")
        return "\n".join(lines) + "\n"
    for child in plan.call.children:
        lines += child.render()
    lines += plan.call.render()
    lines += comment(
        "Call scheduler.step() after every optimizer.step(), once per batch: Keras's "
        "schedules count optimizer steps (step 0 is the first update)."
    )
    return "\n".join(lines) + "\n"


def _first_failing_step(function: Any, steps: np.ndarray) -> tuple[int, BaseException] | None:
    for step in steps.tolist():
        try:
            function(step)
        except ArithmeticError as exc:
            return step, exc
    return None


def _side(source: Source, plan: _Plan) -> tuple[Any, Side]:
    """The refimpl scheduler the plan's code makes (None: a constant rate) and its side."""
    namespace = run_code(plan.imports, plan.prelude)
    lr = eval(plan.lr, namespace)
    label = plan.name
    if plan.call is None:
        rate = float(lr)
        return None, Side(
            "torch",
            label,
            np.dtype(np.float64),
            lambda steps: np.full(steps.shape, rate),
            lambda steps: np.full(steps.shape, rate),
        )
    scheduler = plan.call.build(lr, namespace)

    def rates(steps: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(scheduler(steps))
        except ArithmeticError:
            found = _first_failing_step(scheduler, steps)
            if found is None:
                raise
            step, exc = found
            raise ValueError(
                f"The torch code for {source.name} raises {type(exc).__name__} ({exc}) at "
                f"step {step}: the rate is not finite there. Shorten the horizon."
            ) from None

    return scheduler, Side(
        "torch",
        label,
        scheduler.dtype,
        rates,
        lambda steps: np.asarray(scheduler.exact(steps), np.float64),
        recursive=plan.call.recursive(),
    )


def _candidate(source: Source, plan: _Plan) -> Candidate:
    return candidate(
        "torch", plan.kind, plan.name, plan.structural, source.notes,
        side=lambda: _side(source, plan), render=lambda: _render(source, plan),
    )  # fmt: skip


# --- the built-ins -------------------------------------------------------------------------


def _exponential(s: Any) -> _Plan | str:
    natural = type(s).__name__ == "NaturalExpDecay"
    rate = f"math.exp(-{literal(s.decay_rate)})" if natural else literal(s.decay_rate)
    imports = ("math",) if natural else ()
    lr = literal(s.initial_learning_rate)
    if s.staircase:
        d = _whole(s.decay_steps)
        if d is None:
            return f"StepLR needs a whole step_size; decay_steps={s.decay_steps!r} is not"
        return _Plan(
            "built-in",
            "StepLR",
            lr,
            _Call("StepLR", (("step_size", str(d)), ("gamma", rate))),
            (
                "torch built-in: StepLR multiplies the rate by gamma at every multiple of "
                "step_size, as Keras's staircase ExponentialDecay at every multiple of "
                "decay_steps.",
            ),
            imports=imports,
        )
    d_text = literal(s.decay_steps)
    gamma = rate if float(s.decay_steps) == 1 else f"{rate} ** (1 / {d_text})"
    return _Plan(
        "built-in",
        "ExponentialLR",
        lr,
        _Call("ExponentialLR", (("gamma", gamma),)),
        (
            "torch built-in: ExponentialLR multiplies the rate by gamma at every step; "
            "gamma = decay_rate ** (1 / decay_steps) decays by decay_rate every decay_steps "
            "steps, as Keras's (continuous) ExponentialDecay.",
        ),
        imports=imports,
    )


def _geometric_ratio(values: list[float]) -> str | None:
    """The shortest literal ``g`` with ``values[i] == values[0] * g ** i`` (as torch
    multiplies, within four float64 ulps of each value), None if there is none."""
    first = values[0]
    if first == 0 or not all(math.isfinite(v) for v in values):
        return None
    ratio = values[1] / first
    for digits in range(1, 18):
        g = float(f"{ratio:.{digits}g}")
        product, ok = first, True
        for v in values[1:]:
            product *= g
            if abs(product - v) > 4 * math.ulp(v):
                ok = False
                break
        if ok:
            return literal(g)
    return None


def _piecewise(s: Any) -> _Plan | str:
    milestones = [max(m, 0) for m in milestones_of(s.boundaries)]
    values = [float(v) for v in s.values]
    gamma = _geometric_ratio(values)
    if gamma is None:
        return (
            "MultiStepLR multiplies the rate by one gamma at every milestone, and "
            f"values={list(s.values)!r} are not a geometric sequence"
        )
    return _Plan(
        "built-in",
        "MultiStepLR",
        literal(values[0]),
        _Call("MultiStepLR", (("milestones", literal(milestones)), ("gamma", gamma))),
        (
            "torch built-in: MultiStepLR multiplies the rate by gamma at each milestone. "
            "Keras holds values[i] up to and including boundaries[i] and switches at "
            "boundary + 1; torch switches at the milestone: milestones = boundaries + 1.",
        ),
    )


def _polynomial(s: Any) -> _Plan | str:
    if s.cycle:
        return "PolynomialLR does not cycle (cycle=True)"
    if float(s.end_learning_rate) != 0:
        return f"PolynomialLR decays to 0, and end_learning_rate={s.end_learning_rate!r} is not 0"
    d = _whole(s.decay_steps)
    if d is None:
        return f"PolynomialLR needs whole total_iters; decay_steps={s.decay_steps!r} is not"
    if float(s.power) < 0:
        return f"PolynomialLR needs power >= 0; power={s.power!r}"
    return _Plan(
        "built-in",
        "PolynomialLR",
        literal(s.initial_learning_rate),
        _Call("PolynomialLR", (("total_iters", str(d)), ("power", literal(s.power)))),
        (
            "torch built-in: PolynomialLR decays the rate as (1 - step / total_iters) ** "
            "power to 0 at total_iters and holds it, as Keras's PolynomialDecay with "
            "end_learning_rate=0.",
        ),
    )


def _eta_min(alpha: Any, rate: Any) -> str:
    return "0.0" if float(alpha) == 0 else f"{literal(alpha)} * {literal(rate)}"


_ETA_MIN = (
    "eta_min = alpha * rate: torch's eta_min is an absolute rate, Keras's alpha a fraction "
    "of the rate."
)


def _cosine(s: Any) -> _Plan | str:
    d = _whole(s.decay_steps)
    if d is None:
        return f"CosineAnnealingLR needs a whole T_max; decay_steps={s.decay_steps!r} is not"
    if s.warmup_target is None:
        return _Plan(
            "built-in",
            "CosineAnnealingLR",
            literal(s.initial_learning_rate),
            _Call(
                "CosineAnnealingLR",
                (("T_max", str(d)), ("eta_min", _eta_min(s.alpha, s.initial_learning_rate))),
            ),
            (
                "torch built-in: CosineAnnealingLR is Keras's cosine up to T_max = "
                f"decay_steps; past it torch's cosine rises again (periodic) where Keras "
                f"holds alpha * rate. {_ETA_MIN}",
            ),
            structural=(periodic_after(d),),
        )
    warm, start, peak = (
        float(s.warmup_steps),
        float(s.initial_learning_rate),
        float(s.warmup_target),
    )
    cosine = _Call(
        "CosineAnnealingLR",
        (("T_max", str(d)), ("eta_min", _eta_min(s.alpha, s.warmup_target))),
        variable="cosine",
    )
    if warm == 0:
        return _Plan(
            "built-in",
            "CosineAnnealingLR",
            literal(s.warmup_target),
            _Call("CosineAnnealingLR", cosine.kwargs),
            (
                "torch built-in: CosineAnnealingLR (warmup_steps=0: the cosine starts at "
                f"warmup_target); periodic past T_max. {_ETA_MIN}",
            ),
            structural=(periodic_after(d),),
        )
    w = _whole(warm)
    if w is None:
        return f"LinearLR needs whole total_iters; warmup_steps={s.warmup_steps!r} is not"
    if not 0 < start <= peak:
        return (
            "LinearLR's start_factor = initial_learning_rate / warmup_target must be in "
            f"(0, 1]; it is {literal(s.initial_learning_rate)} / {literal(s.warmup_target)}"
        )
    warmup = _Call(
        "LinearLR",
        (
            ("start_factor", f"{literal(s.initial_learning_rate)} / {literal(s.warmup_target)}"),
            ("total_iters", str(w)),
        ),
        variable="warmup",
    )
    return _Plan(
        "built-in",
        "SequentialLR(LinearLR, CosineAnnealingLR)",
        literal(s.warmup_target),
        _Call(
            "SequentialLR",
            (("schedulers", "[warmup, cosine]"), ("milestones", f"[{w}]")),
            children=(warmup, cosine),
        ),
        (
            "torch built-in: SequentialLR runs LinearLR (the warmup, from "
            "initial_learning_rate to warmup_target over warmup_steps) and then "
            "CosineAnnealingLR from its own step 0, as Keras counts decay_steps after the "
            f"warmup; periodic past warmup_steps + decay_steps. {_ETA_MIN}",
        ),
        structural=(periodic_after(w + d),),
    )


def _restarts(s: Any) -> _Plan | str:
    if float(s.m_mul) != 1:
        return f"CosineAnnealingWarmRestarts restarts at the full rate; m_mul={s.m_mul!r} is not 1"
    t = _whole(s.t_mul)
    if t is None:
        return f"CosineAnnealingWarmRestarts needs a whole T_mult; t_mul={s.t_mul!r} is not"
    d = _whole(s.first_decay_steps)
    if d is None:
        return (
            "CosineAnnealingWarmRestarts needs a whole T_0; "
            f"first_decay_steps={s.first_decay_steps!r} is not"
        )
    return _Plan(
        "built-in",
        "CosineAnnealingWarmRestarts",
        literal(s.initial_learning_rate),
        _Call(
            "CosineAnnealingWarmRestarts",
            (
                ("T_0", str(d)),
                ("T_mult", str(t)),
                ("eta_min", _eta_min(s.alpha, s.initial_learning_rate)),
            ),
        ),
        (
            "torch built-in: CosineAnnealingWarmRestarts restarts after T_0, T_0 * T_mult, ... "
            f"steps, as Keras's CosineDecayRestarts with m_mul=1. {_ETA_MIN}",
        ),
    )


#: The Keras schedules with a torch built-in (when its conditions hold), by class name.
BUILTINS: dict[str, Callable[[Any], _Plan | str]] = {
    "ExponentialDecay": _exponential,
    "NaturalExpDecay": _exponential,
    "PiecewiseConstantDecay": _piecewise,
    "PolynomialDecay": _polynomial,
    "CosineDecay": _cosine,
    "CosineDecayRestarts": _restarts,
}


def _epoch(source: Source) -> tuple[EpochFactor, int, str]:
    """An epoch source's factor, steps per epoch and operator (``/`` or ``*``)."""
    factor, per_epoch = source.epoch_factor, source.steps_per_epoch
    if factor is None or per_epoch is None:  # pragma: no cover -- as_source sets both
        raise ValueError(f"{source.label}: an epoch source needs its factor and epoch length")
    return factor, per_epoch, "/" if factor.divide else "*"


def _builtin(source: Source) -> _Plan | str:
    if source.kind == "constant":
        return _constant(source)
    if source.kind == "epoch":
        factor, per_epoch, op = _epoch(source)
        return _Plan(
            "built-in",
            "StepLR",
            f"{literal(source.learning_rate)} {op} {literal(factor.divisor)}",
            _Call("StepLR", (("step_size", str(per_epoch)), ("gamma", factor.gamma_text()))),
            (
                f"torch built-in: StepLR multiplies the rate by gamma every step_size = "
                f"{per_epoch} steps (one epoch). Keras's LearningRateScheduler sets "
                f"{factor.text()} at the start of every epoch, epoch 0 included, so torch "
                "starts at the rate of epoch 0.",
            ),
        )
    assert source.schedule is not None
    name = type(source.schedule).__name__
    if name not in BUILTINS:
        return f"torch has no scheduler computing {name}"
    return BUILTINS[name](source.schedule)


def _constant(source: Source) -> _Plan:
    return _Plan(
        "constant rate",
        "SGD",
        literal(source.learning_rate),
        None,
        ("A constant rate: torch's SGD with the same lr.",),
    )


# --- the exact port ------------------------------------------------------------------------


def _port_rate(source: Source, n: int) -> float:
    """The optimizer's ``LR`` for a port: the exact rate at step 0 if it is not 0, else
    the peak over the horizon, else 1.0 (``LambdaLR`` multiplies it by the factor)."""
    with np.errstate(all="ignore"):
        first = float(source.side.exact(np.array([0], np.int64))[0])
        if first != 0 and math.isfinite(first):
            return first
        values = np.abs(source.side.exact(np.arange(n, dtype=np.int64)))
    finite = values[np.isfinite(values)]
    peak = float(finite.max()) if finite.size else 0.0
    return peak if peak > 0 else 1.0


def _port(source: Source, n: int, why_no_builtin: str | None) -> _Plan | str:
    if source.kind == "constant":
        return _constant(source)
    if source.kind == "epoch":
        factor, per_epoch, op = _epoch(source)
        lr0 = literal(source.learning_rate)
        prelude = "\n".join(
            [
                "def keras_rate(step: int) -> float:",
                f'    """Keras\'s {source.label} at optimizer step `step`, in float64."""',
                f"    epoch = step // {per_epoch}",
                f"    return {lr0} {op} {literal(factor.divisor)} ** (epoch + 1)",
                "",
                "",
                f"LR = {lr0}",
            ]
        )
        imports: tuple[str, ...] = ()
    else:
        assert source.schedule is not None
        try:
            rate = python_rate(source.schedule)
        except ValueError as exc:
            return str(exc)
        lr = _port_rate(source, n)
        prelude = f"{rate.source}\n\n\nLR = {literal(lr)}"
        imports = rate.imports
    why = "" if why_no_builtin is None else f" ({why_no_builtin})"
    return _Plan(
        "exact port",
        "LambdaLR",
        "LR",
        _Call("LambdaLR", (("lr_lambda", "lambda step: keras_rate(step) / LR"),)),
        (
            f"Exact port{why}: LambdaLR multiplies the optimizer's lr by lr_lambda(step), "
            "here Keras's formula written out in Python (float64) divided by LR.",
        ),
        prelude=prelude,
        imports=imports,
    )


def translate(source: Source, n: int, use: str) -> Target:
    """``source`` (a Keras schedule, constant rate or epoch callback) as torch code,
    the built-in or the exact port by ``use`` (see :func:`~refimpl.translate.targets.choose`)."""
    if source.framework == "optax":
        from refimpl.translate import optax_source

        return optax_source.to_torch(source, n, use)
    if source.framework != "keras":
        raise ValueError(
            f"--to torch translates a Keras schedule; {source.label} is torch's already "
            "(translate it --to keras)."
        )
    builtin = _builtin(source)
    port = _port(source, n, builtin if isinstance(builtin, str) else None)
    target = choose(
        "torch",
        f"Keras's {source.name}",
        builtin if isinstance(builtin, str) else _candidate(source, builtin),
        port if isinstance(port, str) else _candidate(source, port),
        use,
        n,
    )
    if isinstance(source.schedule, PiecewiseConstantDecay):
        note = _boundary_note(source.schedule, source, n)
        if note is not None:
            target = replace(target, notes=(*target.notes, note))
    return target


def _boundary_note(schedule: PiecewiseConstantDecay, source: Source, n: int) -> str | None:
    """What torch code taking Keras's boundaries as milestones would get wrong."""
    switches = [m - 1 for m in milestones_of(schedule.boundaries)]
    values = np.array([float(v) for v in schedule.values])
    naive = values[np.searchsorted(switches, np.arange(n), side="right")]
    return boundary_trap(
        source.side, n, naive, f"torch code taking Keras's boundaries as milestones ({switches})"
    )
