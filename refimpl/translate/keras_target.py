"""torch -> Keras: a torch scheduler as a ``keras.optimizers.schedules`` schedule.

Every snippet builds ``schedule`` and ``optimizer = keras.optimizers.SGD(learning_rate=
schedule)`` (a constant rate: no schedule).  Keras calls the schedule with
``optimizer.iterations`` before each update, so step ``k`` is torch's update ``k``
(the scheduler stepped once per batch).  Keras computes in float32 (the rates below
are Python floats); the comparison is made in float32: torch's float64 rate counts as
equal when its nearest float32 is Keras's value.

The mappings (``torch -> Keras built-in``; the exact port, a
``keras.optimizers.schedules.LearningRateSchedule`` subclass computing torch's closed
form with ``keras.ops``, exists for ``CosineAnnealingLR``):

==============================================  ===============================================
``StepLR(lr, step_size, gamma)``                ``ExponentialDecay(lr, step_size, gamma, staircase=True)``
``MultiStepLR(lr, milestones, gamma)``          ``PiecewiseConstantDecay(boundaries=[m - 1 ...],``
                                                ``values=[lr, lr * gamma, ...])`` (torch's products;
                                                a milestone listed twice: ``gamma ** 2``); none: a
                                                constant rate
``ExponentialLR(lr, gamma)``                    ``ExponentialDecay(lr, decay_steps=1, decay_rate=gamma)``
``CosineAnnealingLR(lr, T_max, eta_min)``       ``CosineDecay(lr, T_max, alpha=eta_min / lr)`` while the
                                                horizon stays within ``T_max`` (torch is periodic past
                                                it, Keras clamps); else the exact port
``CosineAnnealingWarmRestarts(lr, T_0,``        ``CosineDecayRestarts(lr, T_0, t_mul=T_mult, m_mul=1.0,``
``T_mult, eta_min)``                            ``alpha=eta_min / lr)``
``LinearLR(lr, start, end, total_iters)``       ``PolynomialDecay(lr * start, total_iters, lr * end, power=1.0)``
``ConstantLR(lr, factor, total_iters)``         ``PiecewiseConstantDecay([total_iters - 1], [lr * factor,``
                                                ``lr * factor * (1.0 / factor)])``
``PolynomialLR(lr, total_iters, power)``        ``PolynomialDecay(lr, total_iters, 0.0, power)``
``OneCycleLR``, ``LambdaLR``,                   not translated (say why)
``MultiplicativeLR``, ``SequentialLR``,
``ChainedScheduler``, ``ReduceLROnPlateau``
==============================================  ===============================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from refimpl import numpy_ops
from refimpl.schedules import SCHEDULES
from refimpl.torch.cosine import cosine_annealing_lr
from refimpl.translate.differences import Side, Structural
from refimpl.translate.python_formulas import literal
from refimpl.translate.sources import Source
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

__all__ = ["BUILTINS", "NOT_TRANSLATED", "translate"]


@dataclass(frozen=True)
class _Plan:
    """A Keras snippet: definitions (``prelude``), then ``schedule = <constructor>(...)``
    -- a built-in (``keras.optimizers.schedules.<name>``) or the port's class -- or a
    constant ``learning_rate``; ``why`` it maps."""

    kind: str
    name: str
    why: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...] = ()
    constant: str | None = None
    prelude: str = ""
    imports: tuple[str, ...] = ()
    structural: tuple[Structural, ...] = ()


def _render(source: Source, plan: _Plan) -> str:
    lines = [f"import {m}" for m in plan.imports if m != "keras"]
    lines += ["", "import keras"] if lines else ["import keras"]
    if plan.kind == "exact port":
        lines.append("from keras import ops")
    lines.append("")
    lines += comment(f"torch: {source.label}")
    for text in plan.why:
        lines += comment(text)
    if plan.prelude:
        lines += ["", plan.prelude, ""]
    if plan.constant is not None:
        lines.append(f"optimizer = keras.optimizers.SGD(learning_rate={plan.constant})")
        return "\n".join(lines) + "\n"
    constructor = (
        plan.name if plan.kind == "exact port" else f"keras.optimizers.schedules.{plan.name}"
    )
    arguments = ", ".join(f"{k}={v}" for k, v in plan.kwargs)
    line = f"schedule = {constructor}({arguments})"
    if len(line) <= 100:
        lines.append(line)
    else:
        lines += [f"schedule = {constructor}(", *(f"    {k}={v}," for k, v in plan.kwargs), ")"]
    lines.append("optimizer = keras.optimizers.SGD(learning_rate=schedule)")
    return "\n".join(lines) + "\n"


def _side(plan: _Plan) -> tuple[Any, Side]:
    """The refimpl schedule the plan's code makes (None: a constant rate or a port)
    and its side."""
    namespace = run_code([m for m in plan.imports if m != "keras"], _without_class(plan))
    f32 = np.dtype(np.float32)
    if plan.constant is not None:
        rate = float(eval(plan.constant, namespace))
        return None, Side(
            "keras",
            "learning_rate",
            f32,
            lambda steps: np.full(steps.shape, np.float32(rate)),
            lambda steps: np.full(steps.shape, rate),
        )
    kwargs = {k: eval(v, namespace) for k, v in plan.kwargs}
    if plan.kind == "exact port":
        return None, _port_side(plan.name, kwargs)
    schedule = SCHEDULES[plan.name](**kwargs)
    return schedule, Side(
        "keras",
        plan.name,
        schedule.dtype,
        lambda steps: np.asarray(schedule(steps)),
        lambda steps: np.asarray(schedule.exact(steps), np.float64),
    )


def _without_class(plan: _Plan) -> str:
    """The prelude without a port's class (its reference is computed by refimpl)."""
    return "" if plan.kind == "exact port" else plan.prelude


def _candidate(source: Source, plan: _Plan) -> Candidate:
    return candidate(
        "keras", plan.kind, plan.name, plan.structural, source.notes,
        side=lambda: _side(plan), render=lambda: _render(source, plan),
    )  # fmt: skip


# --- the built-ins -------------------------------------------------------------------------


def _step(a: dict[str, Any], lr: str) -> _Plan:
    return _Plan(
        "built-in",
        "ExponentialDecay",
        (
            "Keras built-in: ExponentialDecay with staircase=True multiplies the rate by "
            "decay_rate at every multiple of decay_steps, as StepLR by gamma at every "
            "multiple of step_size.",
        ),
        (
            ("initial_learning_rate", lr),
            ("decay_steps", literal(a["step_size"])),
            ("decay_rate", literal(a["gamma"])),
            ("staircase", "True"),
        ),
    )


def _multi_step(a: dict[str, Any], lr: str) -> _Plan:
    counts = Counter(a["milestones"])
    reached = sorted(m for m in counts if m >= 0)
    expression = "LR"
    if reached and reached[0] == 0:
        c = counts[0]
        expression += " * GAMMA" if c == 1 else f" * GAMMA ** {c}"
        reached = reached[1:]
    values = [expression]
    for m in reached:
        c = counts[m]
        expression += " * GAMMA" if c == 1 else f" * GAMMA ** {c}"
        values.append(expression)
    prelude = f"LR, GAMMA = {lr}, {literal(a['gamma'])}"
    why = (
        "Keras built-in: PiecewiseConstantDecay holds values[i] up to and including "
        "boundaries[i] and switches at boundary + 1, torch's MultiStepLR at the milestone: "
        "boundaries = milestones - 1; the values are torch's products (rate * gamma at "
        "each milestone).",
    )
    if not reached:
        return _Plan(
            "constant rate",
            "learning_rate",
            ("MultiStepLR without milestones after step 0: a constant rate.",),
            constant=values[0],
            prelude=prelude,
        )
    return _Plan(
        "built-in",
        "PiecewiseConstantDecay",
        why,
        (
            ("boundaries", literal([m - 1 for m in reached])),
            ("values", "[" + ", ".join(values) + "]"),
        ),
        prelude=prelude,
    )


def _exponential(a: dict[str, Any], lr: str) -> _Plan:
    return _Plan(
        "built-in",
        "ExponentialDecay",
        (
            "Keras built-in: ExponentialDecay with decay_steps=1 multiplies the rate by "
            "decay_rate every step, as ExponentialLR by gamma (Keras as lr * gamma ** step, "
            "torch recursively).",
        ),
        (
            ("initial_learning_rate", lr),
            ("decay_steps", "1"),
            ("decay_rate", literal(a["gamma"])),
        ),
    )


def _alpha(eta_min: Any, lr: str) -> str:
    return "0.0" if float(eta_min) == 0 else f"{literal(eta_min)} / {lr}"


_ALPHA = "alpha = eta_min / lr: Keras's alpha is a fraction of the rate, torch's eta_min a rate."


def _cosine(a: dict[str, Any], lr: str) -> _Plan | str:
    if float(a["lr"]) == 0:
        return "CosineDecay's alpha is a fraction of the rate, and the rate is 0"
    return _Plan(
        "built-in",
        "CosineDecay",
        (
            "Keras built-in: CosineDecay is torch's cosine up to decay_steps = T_max; past it "
            f"Keras holds alpha * rate where torch rises again (periodic). {_ALPHA}",
        ),
        (
            ("initial_learning_rate", lr),
            ("decay_steps", literal(a["T_max"])),
            ("alpha", _alpha(a["eta_min"], lr)),
        ),
        structural=(periodic_after(int(a["T_max"])),),
    )


def _restarts(a: dict[str, Any], lr: str) -> _Plan | str:
    if float(a["lr"]) == 0:
        return "CosineDecayRestarts's alpha is a fraction of the rate, and the rate is 0"
    return _Plan(
        "built-in",
        "CosineDecayRestarts",
        (
            "Keras built-in: CosineDecayRestarts with m_mul=1.0 restarts after T_0, T_0 * "
            f"T_mult, ... steps, as CosineAnnealingWarmRestarts. {_ALPHA}",
        ),
        (
            ("initial_learning_rate", lr),
            ("first_decay_steps", literal(a["T_0"])),
            ("t_mul", literal(float(a["T_mult"]))),
            ("m_mul", "1.0"),
            ("alpha", _alpha(a["eta_min"], lr)),
        ),
    )


def _linear(a: dict[str, Any], lr: str) -> _Plan:
    return _Plan(
        "built-in",
        "PolynomialDecay",
        (
            "Keras built-in: PolynomialDecay with power=1.0 goes linearly from "
            "initial_learning_rate to end_learning_rate over decay_steps and holds it, as "
            "LinearLR from lr * start_factor to lr * end_factor over total_iters.",
        ),
        (
            ("initial_learning_rate", f"{lr} * {literal(a['start_factor'])}"),
            ("decay_steps", literal(a["total_iters"])),
            ("end_learning_rate", f"{lr} * {literal(a['end_factor'])}"),
            ("power", "1.0"),
        ),
    )


def _constant_lr(a: dict[str, Any], lr: str) -> _Plan:
    factor, total = literal(a["factor"]), int(a["total_iters"])
    if total == 0:
        return _Plan(
            "constant rate",
            "learning_rate",
            ("ConstantLR with total_iters=0 keeps lr * factor for ever (torch's quirk).",),
            constant=f"{lr} * {factor}",
        )
    return _Plan(
        "built-in",
        "PiecewiseConstantDecay",
        (
            "Keras built-in: PiecewiseConstantDecay with one boundary, total_iters - 1 "
            "(Keras switches at boundary + 1); the values are torch's lr * factor and its "
            "undoing, lr * factor * (1.0 / factor).",
        ),
        (
            ("boundaries", f"[{total - 1}]"),
            ("values", f"[{lr} * {factor}, {lr} * {factor} * (1.0 / {factor})]"),
        ),
    )


def _polynomial(a: dict[str, Any], lr: str) -> _Plan:
    return _Plan(
        "built-in",
        "PolynomialDecay",
        (
            "Keras built-in: PolynomialDecay with end_learning_rate=0.0, as PolynomialLR "
            "(which decays to 0 at total_iters and holds it).",
        ),
        (
            ("initial_learning_rate", lr),
            ("decay_steps", literal(a["total_iters"])),
            ("end_learning_rate", "0.0"),
            ("power", literal(a["power"])),
        ),
    )


#: The torch schedulers with a Keras built-in, by class name.
BUILTINS: dict[str, Callable[[dict[str, Any], str], _Plan | str]] = {
    "StepLR": _step,
    "MultiStepLR": _multi_step,
    "ExponentialLR": _exponential,
    "CosineAnnealingLR": _cosine,
    "CosineAnnealingWarmRestarts": _restarts,
    "LinearLR": _linear,
    "ConstantLR": _constant_lr,
    "PolynomialLR": _polynomial,
}

#: The torch schedulers translate refuses, and why.
NOT_TRANSLATED = {
    "LambdaLR": "its factor is your Python function, which translate cannot write as Keras code",
    "MultiplicativeLR": (
        "its factor is your Python function, which translate cannot write as Keras code"
    ),
    "SequentialLR": "composite schedulers are not translated yet",
    "ChainedScheduler": "composite schedulers are not translated yet",
    "OneCycleLR": "it is not translated yet",
}


# --- the exact port ------------------------------------------------------------------------

_COSINE_CLASS = '''\
@keras.saving.register_keras_serializable(package="lr_refimpl_translate")
class TorchCosineAnnealingLR(keras.optimizers.schedules.LearningRateSchedule):
    """torch's CosineAnnealingLR as a Keras schedule, periodic past T_max as in torch:
    eta_min + (lr - eta_min) * (1 + cos(pi * step / T_max)) / 2."""

    def __init__(self, lr, T_max, eta_min=0.0):
        self.lr, self.T_max, self.eta_min = lr, T_max, eta_min

    def __call__(self, step):
        s = ops.cast(step, "float32")
        pi = ops.convert_to_tensor(math.pi, "float32")
        low = ops.convert_to_tensor(self.eta_min, "float32")
        top = ops.convert_to_tensor(self.lr, "float32")
        cosine = ops.cos(ops.divide(ops.multiply(pi, s), ops.convert_to_tensor(self.T_max, "float32")))
        return ops.add(low, ops.divide(ops.multiply(ops.subtract(top, low), ops.add(1.0, cosine)), 2.0))

    def get_config(self):
        return {"lr": self.lr, "T_max": self.T_max, "eta_min": self.eta_min}'''


def _port_side(name: str, kwargs: dict[str, Any]) -> Side:
    """What Keras computes with the port: refimpl's torch closed form in float32 on
    :mod:`refimpl.numpy_ops` (the emitted ``__call__`` is the same operations on
    ``keras.ops``), and in float64 for the exact value."""
    if name != "TorchCosineAnnealingLR":  # pragma: no cover -- the only port
        raise AssertionError(name)
    lr, t_max, eta_min = kwargs["lr"], kwargs["T_max"], kwargs["eta_min"]
    return Side(
        "keras",
        name,
        np.dtype(np.float32),
        lambda steps: np.asarray(
            cosine_annealing_lr(steps, lr, t_max, eta_min, xp=numpy_ops, dtype=np.float32)
        ),
        lambda steps: np.asarray(
            cosine_annealing_lr(steps, lr, t_max, eta_min, xp=numpy_ops.exact_ops)
        ),
    )


def _port(name: str, a: dict[str, Any], lr: str) -> _Plan | str:
    if name != "CosineAnnealingLR":
        if name in BUILTINS:
            return f"its built-in computes torch's formula; there is no other port of {name}"
        return NOT_TRANSLATED.get(name, f"translate does not know {name}")
    return _Plan(
        "exact port",
        "TorchCosineAnnealingLR",
        (
            "Exact port: a Keras LearningRateSchedule computing torch's closed form in "
            "float32 with keras.ops -- periodic past T_max, as torch (Keras's CosineDecay "
            "holds its end rate).",
        ),
        (("lr", lr), ("T_max", literal(a["T_max"])), ("eta_min", literal(a["eta_min"]))),
        prelude=_COSINE_CLASS,
        imports=("math",),
    )


def translate(source: Source, n: int, use: str) -> Target:
    """``source`` (a torch scheduler) as Keras code, the built-in or the exact port by
    ``use`` (see :func:`~refimpl.translate.targets.choose`)."""
    if source.framework == "optax":
        from refimpl.translate import optax_source

        return optax_source.to_keras(source, n, use)
    if source.framework != "torch":
        raise ValueError(
            f"--to keras translates a torch scheduler; {source.label} is Keras's already "
            "(translate it --to torch)."
        )
    scheduler = source.scheduler
    name = type(scheduler).__name__
    arguments = scheduler.get_config()
    lr = literal(arguments["lr"])
    if name in BUILTINS:
        made = BUILTINS[name](arguments, lr)
        builtin: Candidate | str = made if isinstance(made, str) else _candidate(source, made)
    else:
        builtin = NOT_TRANSLATED.get(name, f"translate does not know {name}")
    port_plan = _port(name, arguments, lr)
    port = port_plan if isinstance(port_plan, str) else _candidate(source, port_plan)
    target = choose("keras", f"torch's {name}", builtin, port, use, n)
    if name == "MultiStepLR":
        note = _boundary_note(source, n)
        if note is not None:
            target = replace(target, notes=(*target.notes, note))
    return target


def _boundary_note(source: Source, n: int) -> str | None:
    """What Keras code taking torch's milestones as boundaries would get wrong: it
    switches one step late, so it holds the rate of the step before at each change."""
    steps = np.arange(n, dtype=np.int64)
    rates = np.asarray(source.side.rates(steps))
    late = np.concatenate([rates[:1], rates[:-1]])
    milestones = sorted({m for m in source.scheduler.get_config()["milestones"] if m > 0})
    return boundary_trap(
        source.side,
        n,
        late,
        f"PiecewiseConstantDecay(boundaries={milestones}) -- torch's milestones as Keras's "
        "boundaries --",
    )
