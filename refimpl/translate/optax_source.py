"""Optax -> Keras and Optax -> torch: a refimpl.optax schedule as Keras or torch code.

The source's values are what Optax computes inside the jitted update step
(:mod:`refimpl.optax`, float32 XLA arithmetic).  The mappings (each when its condition
holds; otherwise the exact port):

====================================================  =================================================
Optax                                                  Keras built-in / torch built-in
====================================================  =================================================
``exponential_decay(v, T, r, staircase)`` (begin 0,    ``ExponentialDecay(v, T, r, staircase)`` /
no ``end_value``)                                      ``StepLR(step_size=T, gamma=r)`` (staircase) or
                                                       ``ExponentialLR(gamma=r ** (1 / T))``
``cosine_decay_schedule(v, T, alpha)`` (exponent 1)    ``CosineDecay(v, T, alpha)`` /
                                                       ``CosineAnnealingLR(T_max=T, eta_min=alpha * v)``
                                                       (periodic past ``T``)
``warmup_cosine_decay_schedule(v0, p, w, T, e)``       ``CosineDecay(v0, T - w, e / p, warmup_target=p,``
(exponent 1, ``w >= 1``)                               ``warmup_steps=w)``: Keras's ``decay_steps`` does
                                                       not count the warmup / the exact port
``polynomial_schedule`` / ``linear_schedule`` (begin   ``PolynomialDecay(v, T, end, power)`` /
0)                                                     ``PolynomialLR`` when ``end == 0``, ``LinearLR``
                                                       for ``linear_schedule`` from ``v > 0``
``piecewise_constant_schedule(v, {b: s})``             ``PiecewiseConstantDecay([b - 1, ...], [v, v * s1,``
                                                       ``...])``: Keras switches one step after its
                                                       boundary, takes values / ``MultiStepLR`` when every
                                                       scale is one ``gamma``
``constant_schedule(v)``                               a constant rate
====================================================  =================================================

The exact port: for Keras a ``LearningRateSchedule`` subclass that runs refimpl.optax's
formula on ``keras.ops`` (the operations Optax runs on ``jax.numpy``); for torch a
``LambdaLR`` whose factor is the schedule's float64 true math (``schedule.exact``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from refimpl import numpy_ops
from refimpl.translate.differences import Side
from refimpl.translate.python_formulas import literal
from refimpl.translate.sources import Source
from refimpl.translate.targets import Candidate, Target, choose, comment, periodic_after

__all__ = ["optax_label", "to_keras", "to_torch"]


def optax_label(schedule: Any) -> str:
    """The schedule as Optax's call, ``optax.`` left out.

    >>> from refimpl.optax import cosine_decay_schedule
    >>> optax_label(cosine_decay_schedule(0.1, 100))
    'cosine_decay_schedule(init_value=0.1, decay_steps=100, alpha=0.0, exponent=1.0)'
    """
    return repr(schedule).removeprefix("optax.")


def _begin0(c: dict[str, Any]) -> bool:
    return c.get("transition_begin", 0) <= 0


# --- Keras -------------------------------------------------------------------------------------

_KERAS_CLASS = '''\
@keras.saving.register_keras_serializable(package="lr_refimpl_translate")
class OptaxSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """An Optax schedule as a Keras schedule: refimpl.optax's formula (Optax's
    operations, written once over an array namespace) computed with keras.ops."""

    def __init__(self, schedule):
        self.schedule = schedule

    def __call__(self, step):
        value = self.schedule.evaluate(keras.ops.cast(step, "int32"), xp=keras.ops)
        return keras.ops.convert_to_tensor(value)  # a constant schedule gives a Python float

    def get_config(self):
        return {"schedule": repr(self.schedule)}'''


def _keras_builtin(s: Any) -> tuple[str, str, str] | str:
    """(class, arguments, why) of the Keras built-in, or why there is none."""
    c, name = s.get_config(), s.optax_name
    if name == "exponential_decay":
        if c["transition_steps"] <= 0 or c["decay_rate"] == 0:
            return "the schedule is constant (transition_steps <= 0 or decay_rate == 0)"
        if not _begin0(c) or c["end_value"] is not None:
            return "Keras's ExponentialDecay has no transition_begin and no end_value"
        args = (f"initial_learning_rate={literal(c['init_value'])}, decay_steps="
                f"{c['transition_steps']}, decay_rate={literal(c['decay_rate'])}, "
                f"staircase={c['staircase']}")  # fmt: skip
        return "ExponentialDecay", args, "Keras built-in: ExponentialDecay, the same formula."
    if name == "cosine_decay_schedule":
        if c["exponent"] != 1:
            return "Keras's CosineDecay has no exponent"
        args = (f"initial_learning_rate={literal(c['init_value'])}, decay_steps="
                f"{literal(c['decay_steps'])}, alpha={literal(c['alpha'])}")  # fmt: skip
        return "CosineDecay", args, "Keras built-in: CosineDecay, alpha a fraction as in Optax."
    if name == "warmup_cosine_decay_schedule":
        w, d, peak = c["warmup_steps"], c["decay_steps"], c["peak_value"]
        if c["exponent"] != 1 or w < 1 or peak == 0:
            return "Keras's CosineDecay has no exponent, and warms up over warmup_steps >= 1 to a peak != 0"
        args = (f"initial_learning_rate={literal(c['init_value'])}, decay_steps={d - w}, "
                f"alpha={literal(c['end_value'])} / {literal(peak)}, "
                f"warmup_target={literal(peak)}, warmup_steps={w}")  # fmt: skip
        why = (f"Keras built-in: CosineDecay with a warmup. Optax's decay_steps={d} counts the "
               f"warmup (optax#835), Keras's does not: decay_steps={d - w}; alpha = "
               "end_value / peak_value.")  # fmt: skip
        return "CosineDecay", args, why
    if name in ("polynomial_schedule", "linear_schedule"):
        if c["transition_steps"] <= 0 or not _begin0(c):
            return "Keras's PolynomialDecay has no transition_begin (and decays)"
        power = c.get("power", 1)
        args = (f"initial_learning_rate={literal(c['init_value'])}, decay_steps="
                f"{c['transition_steps']}, end_learning_rate={literal(c['end_value'])}, "
                f"power={literal(float(power))}")  # fmt: skip
        return "PolynomialDecay", args, "Keras built-in: PolynomialDecay, the same formula."
    if name == "piecewise_constant_schedule":
        items = sorted((c["boundaries_and_scales"] or {}).items())
        if not items:
            return "the schedule is constant (no boundaries)"
        values = [float(c["init_value"])]
        for _, scale in items:
            values.append(values[-1] * scale)
        args = (f"boundaries={[b - 1 for b, _ in items]!r}, "
                f"values={literal(values)}")  # fmt: skip
        why = ("Keras built-in: PiecewiseConstantDecay. Optax switches at its boundary, Keras "
               "one step after: boundaries - 1; Keras takes the values, Optax the cumulative "
               "scales: values = init_value * scale_1 * ... * scale_i.")  # fmt: skip
        return "PiecewiseConstantDecay", args, why
    return f"Keras has no schedule computing Optax's {name}"


def _keras_side(schedule: Any, kind: str, built: Any) -> Side:
    f32 = np.dtype(np.float32)
    if kind == "built-in":
        return Side("keras", type(built).__name__, built.dtype,
                    lambda steps: np.asarray(built(steps)),
                    lambda steps: np.asarray(built.exact(steps), np.float64))  # fmt: skip

    def rates(steps: np.ndarray) -> np.ndarray:  # Keras's eager arithmetic: numpy_ops
        with np.errstate(all="ignore"):
            value = schedule.evaluate(steps.astype(np.int32), xp=numpy_ops)
        return np.broadcast_to(numpy_ops.flush_subnormals(np.asarray(value, f32)), steps.shape)

    return Side("keras", "OptaxSchedule", f32, rates,
                lambda steps: np.asarray(schedule.exact(steps), np.float64))  # fmt: skip


def to_keras(source: Source, n: int, use: str) -> Target:
    """An Optax ``source`` as Keras code, the built-in or the exact port by ``use``."""
    schedule = source.scheduler
    label = optax_label(schedule)
    head = comment(f"Optax: {label}")
    constant = schedule.optax_name == "constant_schedule"

    def plan(kind: str) -> Candidate:
        def build(notes: tuple[str, ...]) -> Target:
            from refimpl.schedules import SCHEDULES

            if constant:
                rate = float(schedule.get_config()["value"])
                code = "\n".join(["import keras", "", *head,
                                  f"optimizer = keras.optimizers.SGD(learning_rate={literal(rate)})"]) + "\n"  # fmt: skip
                side = Side("keras", "learning_rate", np.dtype(np.float32),
                            lambda steps: np.full(steps.shape, np.float32(rate)),
                            lambda steps: np.full(steps.shape, rate))  # fmt: skip
                return Target("keras", "constant rate", "SGD", code, side, (), notes)
            if kind == "built-in":
                name, args, why = builtin
                built = eval(f"SCHEDULES[{name!r}]({args})", {"SCHEDULES": SCHEDULES})
                lines = ["import keras", "", *head, *comment(why),
                         *_wrapped(f"schedule = keras.optimizers.schedules.{name}", args)]  # fmt: skip
                side = _keras_side(schedule, kind, built)
            else:
                built = None
                lines = ["import keras", "import refimpl.optax", "", *head,
                         *comment("Exact port: a Keras schedule computing refimpl.optax's "
                                  "formula with keras.ops (Keras's arithmetic, op by op)."),
                         "", _KERAS_CLASS, "", f"schedule = OptaxSchedule(refimpl.optax.{label})"]  # fmt: skip
                side = _keras_side(schedule, kind, None)
            lines.append("optimizer = keras.optimizers.SGD(learning_rate=schedule)")
            title = builtin[0] if kind == "built-in" else "OptaxSchedule"
            code = "\n".join(lines) + "\n"
            return Target("keras", kind, title, code, side, (), (*source.notes, *notes), built)

        return Candidate(kind, kind, build)

    builtin: Any = _keras_builtin(schedule)
    if constant:
        return plan("constant rate").build(())
    chosen = builtin if isinstance(builtin, str) else plan("built-in")
    return choose("keras", f"Optax's {schedule.optax_name}", chosen, plan("exact port"), use, n)


def _wrapped(head: str, arguments: str) -> list[str]:
    """``head(arguments)``, one argument per line when longer than 100 characters."""
    from refimpl.translate.optax_target import _split

    line = f"{head}({arguments})"
    if len(line) <= 100:
        return [line]
    return [f"{head}(", *(f"    {a.strip()}," for a in _split(arguments)), ")"]


# --- torch -------------------------------------------------------------------------------------


def _torch_builtin(s: Any) -> tuple[str, str, str, Any] | str:
    """(lr, scheduler call, why, structural) of the torch built-in, or why there is none."""
    c, name = s.get_config(), s.optax_name
    if name == "exponential_decay" and c["transition_steps"] > 0 and c["decay_rate"] != 0:
        if not _begin0(c) or c["end_value"] is not None:
            return "torch's StepLR/ExponentialLR have no transition_begin and no end_value"
        lr, rate, t = literal(c["init_value"]), literal(c["decay_rate"]), c["transition_steps"]
        if c["staircase"]:
            return lr, f"StepLR(optimizer, step_size={t}, gamma={rate})", (
                "torch built-in: StepLR multiplies by gamma at every multiple of step_size."), None  # fmt: skip
        gamma = rate if t == 1 else f"{rate} ** (1 / {t})"
        return lr, f"ExponentialLR(optimizer, gamma={gamma})", (
            "torch built-in: ExponentialLR, gamma = decay_rate ** (1 / transition_steps) "
            "(a recursion: its rounding drifts)."), None  # fmt: skip
    if (
        name == "cosine_decay_schedule"
        and c["exponent"] == 1
        and float(c["decay_steps"]).is_integer()
    ):
        lr, t = literal(c["init_value"]), int(c["decay_steps"])
        eta = "0.0" if c["alpha"] == 0 else f"{literal(c['alpha'])} * {lr}"
        return lr, f"CosineAnnealingLR(optimizer, T_max={t}, eta_min={eta})", (
            "torch built-in: CosineAnnealingLR, eta_min = alpha * init_value (absolute in "
            "torch); periodic past T_max, where Optax holds its end."), periodic_after(t)  # fmt: skip
    if (
        name == "linear_schedule"
        and c["transition_steps"] > 0
        and _begin0(c)
        and c["init_value"] > 0
    ):
        lr = literal(c["init_value"])
        return lr, (f"LinearLR(optimizer, start_factor=1.0, end_factor={literal(c['end_value'])} "
                    f"/ {lr}, total_iters={c['transition_steps']})"), (
            "torch built-in: LinearLR from lr to lr * end_factor over total_iters."), None  # fmt: skip
    if (name == "polynomial_schedule" and c["transition_steps"] > 0 and _begin0(c)
            and c["end_value"] == 0 and c["power"] >= 0):  # fmt: skip
        return literal(c["init_value"]), (f"PolynomialLR(optimizer, total_iters="
                                           f"{c['transition_steps']}, power={literal(float(c['power']))})"), (
            "torch built-in: PolynomialLR to 0 over total_iters."), None  # fmt: skip
    if name == "piecewise_constant_schedule":
        items = sorted((c["boundaries_and_scales"] or {}).items())
        if items and len({s for _, s in items}) == 1 and all(b > 0 for b, _ in items):
            return literal(c["init_value"]), (f"MultiStepLR(optimizer, milestones="
                                               f"{[b for b, _ in items]!r}, gamma={literal(items[0][1])})"), (
                "torch built-in: MultiStepLR multiplies by gamma at each milestone, switching "
                "at the milestone as Optax at its boundary."), None  # fmt: skip
        return "MultiStepLR takes one gamma for every milestone"
    return f"torch has no scheduler computing Optax's {name}"


def to_torch(source: Source, n: int, use: str) -> Target:
    """An Optax ``source`` as torch code, the built-in or the exact port by ``use``."""
    from refimpl.torch import lr_scheduler

    schedule = source.scheduler
    label = optax_label(schedule)
    head = comment(f"Optax: {label}")

    def side_of(scheduler: Any, recursive: bool) -> Side:
        return Side("torch", type(scheduler).__name__, scheduler.dtype,
                    lambda steps: np.asarray(scheduler(steps)),
                    lambda steps: np.asarray(scheduler.exact(steps), np.float64),
                    recursive=recursive)  # fmt: skip

    def plan(kind: str) -> Candidate:
        def build(notes: tuple[str, ...]) -> Target:
            lines = ["import torch", ""]
            structural: tuple[Any, ...] = ()
            if kind == "constant rate":
                rate = float(schedule.get_config()["value"])
                code = "\n".join([*lines, *head, *comment("A constant rate: no scheduler."),
                                  f"optimizer = torch.optim.SGD(model.parameters(), lr={literal(rate)})"
                                  "  # model: yours"]) + "\n"  # fmt: skip
                side = Side("torch", "SGD", np.dtype(np.float64),
                            lambda steps: np.full(steps.shape, rate),
                            lambda steps: np.full(steps.shape, rate))  # fmt: skip
                return Target("torch", kind, "SGD", code, side, (), (*source.notes, *notes))
            if kind == "built-in":
                lr, call, why, rule = builtin
                structural = (rule,) if rule is not None else ()
                lines += [*head, *comment(why),
                          f"optimizer = torch.optim.SGD(model.parameters(), lr={lr})  # model: yours",
                          f"scheduler = torch.optim.lr_scheduler.{call}"]  # fmt: skip
                scheduler = eval(f"lr_scheduler.{call.replace('optimizer, ', f'{lr}, ', 1)}",
                                 {"lr_scheduler": lr_scheduler})  # fmt: skip
                name = call.split("(", 1)[0]
                recursive = name not in ("LambdaLR", "CosineAnnealingWarmRestarts")
            else:
                port_lr = _port_rate(schedule, n)
                lines = ["import torch", "", "import refimpl.optax", "", *head,
                         *comment("Exact port: LambdaLR multiplies the optimizer's lr by "
                                  "lr_lambda(step), here the Optax schedule's float64 true math "
                                  "(refimpl.optax's exact()) divided by LR."),
                         "", f"optax_schedule = refimpl.optax.{label}", f"LR = {literal(port_lr)}", "",
                         "optimizer = torch.optim.SGD(model.parameters(), lr=LR)  # model: yours",
                         "scheduler = torch.optim.lr_scheduler.LambdaLR(",
                         "    optimizer, lr_lambda=lambda step: float(optax_schedule.exact(step)) / LR",
                         ")"]  # fmt: skip
                scheduler = lr_scheduler.LambdaLR(
                    port_lr, lr_lambda=lambda step: float(schedule.exact(step)) / port_lr
                )
                name, recursive = "LambdaLR", False
            lines += comment(
                "Call scheduler.step() after every optimizer.step(), once per batch: Optax's "
                "count is the optimizer's update count (0 at the first update)."
            )
            code = "\n".join(lines) + "\n"
            side = side_of(scheduler, recursive)
            return Target("torch", kind, name, code, side, structural,
                          (*source.notes, *notes), scheduler)  # fmt: skip

        rule = builtin[3] if kind == "built-in" and not isinstance(builtin, str) else None
        return Candidate(kind, kind, build, (rule,) if rule is not None else ())

    builtin: Any = _torch_builtin(schedule)
    if schedule.optax_name == "constant_schedule":
        return plan("constant rate").build(())
    chosen = builtin if isinstance(builtin, str) else plan("built-in")
    return choose("torch", f"Optax's {schedule.optax_name}", chosen, plan("exact port"), use, n)


def _port_rate(schedule: Any, n: int) -> float:
    """``LR`` for the port: the exact rate at count 0 if not 0, else the peak, else 1."""
    with np.errstate(all="ignore"):
        first = float(schedule.exact(np.array([0]))[0])
        if first != 0 and math.isfinite(first):
            return first
        values = np.abs(schedule.exact(np.arange(n)))
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0
