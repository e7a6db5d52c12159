"""``lr-refimpl explain``: what a schedule does over a real training run, and its traps.

Given the run (``--samples 60000 --batch-size 64 --epochs 5``) and a schedule (a class
name with its constructor arguments as dashed options, as ``lr-refimpl table`` takes
them; ``--from-config FILE.json``; one of the lesson's configurations by key, e.g.
``exponential``; ``lesson`` for all seven; or ``LearningRateScheduler
--initial-learning-rate 0.001 --function "lr / 3"``), it prints the steps per epoch, the
total steps, the rate at each epoch's first and last step, and a warning for each
classic trap:

* a schedule horizon (``decay_steps`` of PolynomialDecay, CosineDecay, ...) longer
  than the run, so the rate never reaches its end value, or shorter, so the last
  part of the run trains at the floor;
* a PiecewiseConstantDecay boundary at or beyond the last step (its value is never
  used), and boundaries that are not epoch boundaries;
* ``LearningRateScheduler`` changing the rate already at epoch 0;
* the optimizer's ``decay=``, which Keras 3 ignores.

A step is one optimizer update (one batch).  An epoch of ``samples`` images at batch
``B`` is ``ceil(samples / B)`` steps, the last batch possibly partial: 60,000 images at
batch 64 make 938 steps an epoch and 4,690 in five epochs (steps 0..4689), not 5,000.
"""

from __future__ import annotations

import argparse
import ast
import math
import operator
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refimpl.exceptions import ScheduleWarning
from refimpl.lesson import LESSON, LessonConfig, steps_per_epoch
from refimpl.schedules import LearningRateSchedule

__all__ = [
    "Finding",
    "RunShape",
    "Subject",
    "add_parser",
    "epoch_function_from_text",
    "epoch_table",
    "explain_text",
    "findings",
    "lesson_subjects",
    "resolve_subjects",
    "run",
    "short_repr",
    "subject_from_lesson",
]

#: How far the rate may fall over a run before a warning says later epochs barely learn.
_STEEP_DROP = 100.0


@dataclass(frozen=True)
class RunShape:
    """How many optimizer steps a training run has.

    >>> shape = RunShape(60_000, 64, 5)
    >>> shape.steps_per_epoch, shape.total_steps, shape.last_batch
    (938, 4690, 32)
    >>> shape.epoch_edges()[:2]
    [(1, 0, 937), (2, 938, 1875)]
    """

    samples: int
    batch_size: int
    epochs: int

    def __post_init__(self) -> None:
        for name in ("samples", "batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be an integer >= 1. Received: {value!r}")

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.samples, self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def last_batch(self) -> int:
        """Samples in an epoch's last batch."""
        return self.samples - (self.steps_per_epoch - 1) * self.batch_size

    def epoch_edges(self) -> list[tuple[int, int, int]]:
        """``(epoch, first step, last step)`` for every epoch, epochs counted from 1."""
        spe = self.steps_per_epoch
        return [(e + 1, e * spe, (e + 1) * spe - 1) for e in range(self.epochs)]

    def epoch_of(self, step: int) -> tuple[int, int]:
        """``(epoch, step within it)``, both counted from 1, for a 0-based ``step``.

        >>> RunShape(60_000, 64, 5).epoch_of(1001)
        (2, 64)
        """
        return step // self.steps_per_epoch + 1, step % self.steps_per_epoch + 1

    def describe(self) -> str:
        """One sentence: steps an epoch, the last batch, total steps.

        >>> print(RunShape(60_000, 64, 5).describe())
        60,000 samples at batch 64: 938 steps an epoch (the last batch has 32 samples); 5 epochs = 4,690 steps (steps 0..4689).
        """
        last = (
            f" (the last batch has {self.last_batch} samples)"
            if self.last_batch != self.batch_size
            else ""
        )
        epochs = "1 epoch" if self.epochs == 1 else f"{self.epochs} epochs"
        return (
            f"{self.samples:,} samples at batch {self.batch_size}: {self.steps_per_epoch:,} "
            f"steps an epoch{last}; {epochs} = {self.total_steps:,} steps "
            f"(steps 0..{self.total_steps - 1})."
        )


@dataclass(frozen=True)
class Finding:
    """A ``"warning"`` (a trap that changes what trains) or a ``"note"`` (worth knowing)."""

    level: str
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


@dataclass(frozen=True)
class Subject:
    """How a run sets its learning rate: a per-step schedule, an epoch function or a constant.

    >>> from refimpl.schedules import ExponentialDecay
    >>> s = Subject("ExponentialDecay(...)", schedule=ExponentialDecay(0.001, 500, 0.98, True))
    >>> s.rates(RunShape(1000, 1, 1))[[0, 499, 500]].tolist()
    [0.0010000000474974513, 0.0010000000474974513, 0.0009800000116229057]
    """

    label: str
    formula: str | None = None
    schedule: LearningRateSchedule | None = None
    #: A ``LearningRateScheduler`` function ``(epoch, lr) -> lr``.
    epoch_function: Callable[[int, float], float] | None = None
    #: The constant rate, or the optimizer's rate before the epoch function first runs.
    learning_rate: float = 0.001
    #: The legacy optimizer ``decay=`` (``schedule`` then holds its TimeBasedDecay).
    optimizer_decay: float = 0.0
    #: Warnings the schedule's constructor gave (e.g. an integer initial rate).
    construction_warnings: tuple[str, ...] = field(default=())

    def rates(self, shape: RunShape) -> np.ndarray:
        """The rate of every update of the run (float64 holding Keras's float32 values)."""
        steps = np.arange(shape.total_steps, dtype=np.int64)
        if self.schedule is not None:
            return np.asarray(self.schedule(steps), dtype=np.float64)
        if self.epoch_function is not None:
            per_epoch = self.epoch_rates(shape.epochs)
            return np.repeat(np.asarray(per_epoch, dtype=np.float64), shape.steps_per_epoch)
        return np.full(shape.total_steps, float(np.float32(self.learning_rate)))

    def epoch_rates(self, epochs: int) -> list[float]:
        """The rate ``LearningRateScheduler`` sets at each epoch's beginning (epoch 0 too).

        >>> Subject("", epoch_function=lambda e, lr: lr / 2, learning_rate=1.0).epoch_rates(3)
        [0.5, 0.25, 0.125]
        """
        if self.epoch_function is None:
            raise ValueError(f"{self.label} has no epoch function")
        lr, out = float(np.float32(self.learning_rate)), []
        for epoch in range(epochs):
            value = self.epoch_function(epoch, lr)
            lr = float(np.float32(value))
            if not math.isfinite(lr):
                raise ValueError(
                    f"{self.label}: the epoch function returns {value} at epoch {epoch}"
                )
            out.append(lr)
        return out


def lesson_subjects() -> dict[str, Subject]:
    """The lesson's seven configurations as subjects, by key."""
    return {config.key: subject_from_lesson(config) for config in LESSON}


def subject_from_lesson(config: LessonConfig) -> Subject:
    """A lesson configuration as a :class:`Subject`."""
    return Subject(
        label=config.label,
        formula=config.formula,
        schedule=config.schedule() if config.schedule is not None else None,
        epoch_function=config.epoch_function,
        learning_rate=config.learning_rate,
        optimizer_decay=config.optimizer_decay,
    )


# -- the traps ---------------------------------------------------------------------------


def _g(x: float) -> str:
    return f"{x:.6g}"


def _at(shape: RunShape, step: int) -> str:
    epoch, within = shape.epoch_of(step)
    return f"step {step:,} (epoch {epoch}, its step {within} of {shape.steps_per_epoch})"


def _horizon(
    shape: RunShape,
    rates: np.ndarray,
    horizon: int,
    what: str,
    end_value: float,
    end_name: str,
) -> list[Finding]:
    last = shape.total_steps - 1
    if horizon > last:
        return [
            Finding(
                "warning",
                f"the horizon is longer than the run: {what} = {horizon:,} but the run's last "
                f"step is {last:,}, so the rate stops at {_g(rates[-1])} and never reaches "
                f"{end_name} = {_g(end_value)} (it would at step {horizon:,}).",
            )
        ]
    if horizon < last:
        flat = last - horizon
        return [
            Finding(
                "warning",
                f"the horizon is shorter than the run: {what} = {horizon:,}, so from "
                f"{_at(shape, horizon)} the rate stays at {end_name} = {_g(end_value)} for the "
                f"last {flat:,} steps ({100 * flat / shape.total_steps:.0f}% of the run).",
            )
        ]
    return []


def _rises(rates: np.ndarray) -> list[int]:
    """Steps at which the rate goes up after having gone down (restarts, cycles)."""
    up = np.flatnonzero(np.diff(rates) > 0) + 1
    down_seen = np.maximum.accumulate(np.concatenate([[False], np.diff(rates) < 0]))
    return [int(s) for s in up if down_seen[s - 1]]


def _list(steps: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(f"{s:,}" for s in steps[:limit])
    return shown + (f" and {len(steps) - limit} more" if len(steps) > limit else "")


def _schedule_findings(schedule: Any, shape: RunShape, rates: np.ndarray) -> list[Finding]:
    name = type(schedule).__name__
    cfg = schedule.get_config()
    last = shape.total_steps - 1
    out: list[Finding] = []
    horizon = {
        "PolynomialDecay": ("decay_steps", "end_learning_rate"),
        "CosineDecay": ("decay_steps", "alpha x the peak rate"),
        "LinearCosineDecay": ("decay_steps", "its final value"),
        "NoisyLinearCosineDecay": ("decay_steps", "its final value"),
    }
    if name == "PolynomialDecay" and cfg["cycle"]:
        rises = _rises(rates)
        if rises:
            out.append(
                Finding(
                    "warning",
                    f"cycle=True: after decay_steps = {cfg['decay_steps']:,} the horizon grows "
                    "to the next multiple of decay_steps and the rate jumps back up, at steps "
                    f"{_list(rises)}.",
                )
            )
    elif name in horizon:
        what, end_name = horizon[name]
        steps = int(cfg["decay_steps"])
        if name == "CosineDecay" and cfg["warmup_steps"]:
            steps += int(cfg["warmup_steps"])
            what = "warmup_steps + decay_steps"
        end_value = float(np.asarray(schedule(steps)))
        out += _horizon(shape, rates, steps, what, end_value, end_name)
    elif name == "CosineDecayRestarts":
        rises = _rises(rates)
        if rises:
            out.append(
                Finding(
                    "note",
                    f"the rate restarts (jumps back up) at steps {_list(rises)}; restarts never "
                    "stop.",
                )
            )
        else:
            out.append(
                Finding(
                    "warning",
                    f"first_decay_steps = {cfg['first_decay_steps']:,} is longer than the run: "
                    "no restart happens, the schedule is a plain cosine decay here.",
                )
            )
    elif name == "PiecewiseConstantDecay":
        boundaries, values = list(cfg["boundaries"]), list(cfg["values"])
        for i, b in enumerate(boundaries):
            if b >= last:
                unused = ", ".join(_g(v) for v in values[i + 1 :])
                out.append(
                    Finding(
                        "warning",
                        f"boundary {b:,} is at or beyond the run's last step {last:,}: the "
                        f"value(s) after it ({unused}) are never used.",
                    )
                )
                break
        inside = [b for b in boundaries if b < last]
        if inside:
            where = "; ".join(
                f"{_g(values[i + 1])} from {_at(shape, b + 1)}" for i, b in enumerate(inside)
            )
            out.append(
                Finding(
                    "note",
                    "Keras switches to the next value at boundary + 1, not at the boundary: "
                    + where
                    + ".",
                )
            )
            off = [b for b in inside if (b + 1) % shape.steps_per_epoch]
            if off:
                ends = _list([e[2] for e in shape.epoch_edges()[:-1]], 4)
                out.append(
                    Finding(
                        "note",
                        f"boundaries {_list(off)} are not epoch boundaries (epochs end at steps "
                        f"{ends}): the rate changes in the middle of an epoch.",
                    )
                )
    elif name in ("ExponentialDecay", "InverseTimeDecay", "NaturalExpDecay"):
        if cfg.get("staircase"):
            ds = int(cfg["decay_steps"])
            if ds > last:
                out.append(
                    Finding(
                        "warning",
                        f"staircase=True with decay_steps = {ds:,} longer than the run "
                        f"(last step {last:,}): the rate never changes.",
                    )
                )
            elif ds % shape.steps_per_epoch:
                changes = list(range(ds, last + 1, ds))
                out.append(
                    Finding(
                        "note",
                        f"staircase=True: the rate changes at steps {_list(changes)} "
                        f"(multiples of decay_steps = {ds:,}), not at epoch boundaries "
                        f"({shape.steps_per_epoch:,} steps an epoch).",
                    )
                )
    elif name == "TimeBasedDecay":
        out += _decay_findings(float(cfg["initial_learning_rate"]), float(cfg["decay"]), rates)
    return out


def _decay_findings(lr: float, decay: float, rates: np.ndarray) -> list[Finding]:
    last = len(rates) - 1
    return [
        Finding(
            "warning",
            f"Keras 3 ignores the optimizer's decay=: keras.optimizers.SGD(learning_rate={_g(lr)}, "
            f"decay={_g(decay)}) only warns 'Argument `decay` is no longer supported and will "
            f"be ignored' and trains at a constant {_g(lr)}.  Only tf_keras.optimizers.legacy.SGD "
            f"(Keras <= 2.10) applies it; in Keras 3 write "
            f"InverseTimeDecay({_g(lr)}, decay_steps=1, decay_rate={_g(decay)}).",
        ),
        Finding(
            "note",
            f"decay= acts per step, not per epoch: lr / (1 + {_g(decay)} * step) is "
            f"{_g(rates[-1])} at step {last:,}, {rates[-1] / rates[0]:.3g} times the initial rate.",
        ),
    ]


def _scheduler_findings(subject: Subject, shape: RunShape) -> list[Finding]:
    lr0 = float(np.float32(subject.learning_rate))
    per_epoch = subject.epoch_rates(shape.epochs)
    out: list[Finding] = []
    if per_epoch[0] != lr0:
        out.append(
            Finding(
                "warning",
                "Keras's LearningRateScheduler calls the function at the beginning of every "
                f"epoch, epoch 0 included: the first epoch already trains at {_g(per_epoch[0])}, "
                f"not at the optimizer's {_g(lr0)} (a plot that starts at {_g(lr0)} is one "
                "epoch off).",
            )
        )
    out.append(
        Finding(
            "note",
            "the rate changes only between epochs, never within one "
            f"({shape.steps_per_epoch:,} updates at each rate).",
        )
    )
    return out


def findings(subject: Subject, shape: RunShape, rates: np.ndarray | None = None) -> list[Finding]:
    """The traps and notes for ``subject`` over the run ``shape``.

    >>> from refimpl.schedules import PolynomialDecay
    >>> s = Subject("p", schedule=PolynomialDecay(0.003, 5000, 0.001, power=1.5))
    >>> [f.level for f in findings(s, RunShape(60_000, 64, 5))]
    ['warning']
    """
    rates = subject.rates(shape) if rates is None else rates
    out = [Finding("warning", w) for w in subject.construction_warnings]
    if subject.epoch_function is not None:
        out += _scheduler_findings(subject, shape)
    elif subject.optimizer_decay:
        out += _decay_findings(subject.learning_rate, subject.optimizer_decay, rates)
    elif subject.schedule is not None:
        out += _schedule_findings(subject.schedule, shape, rates)
    first, final = float(rates[0]), float(rates[-1])
    if first > 0 and final == 0:
        zero = int(np.flatnonzero(rates != 0)[-1]) + 1
        out.append(
            Finding(
                "warning",
                f"the rate is 0 from {_at(shape, zero)} on: the last {len(rates) - zero:,} "
                "steps do not change the weights at all.",
            )
        )
    elif first > 0 and final > 0 and first / final >= _STEEP_DROP:
        tenth = int(np.argmax(rates <= first / 10))
        out.append(
            Finding(
                "warning",
                f"the rate falls {first / final:,.0f}-fold over the run (to {_g(final)}); it is "
                f"below a tenth of its start from {_at(shape, tenth)}, so later epochs barely "
                "move the weights.",
            )
        )
    return out


# -- text --------------------------------------------------------------------------------


def epoch_table(shape: RunShape, rates: np.ndarray) -> str:
    """Each epoch's first and last step and the rate there.

    >>> print(epoch_table(RunShape(4, 2, 2), np.array([1.0, 1.0, 0.5, 0.25])))
    epoch  first step  rate at first  last step   rate at last
        1           0              1          1              1
        2           2            0.5          3           0.25
    """
    lines = [
        f"{'epoch':>5}  {'first step':>10}  {'rate at first':>13}  {'last step':>9}  {'rate at last':>13}"
    ]
    for epoch, first, last in shape.epoch_edges():
        lines.append(
            f"{epoch:>5}  {first:>10}  {_g(rates[first]):>13}  {last:>9}  {_g(rates[last]):>13}"
        )
    return "\n".join(lines)


def explain_text(subject: Subject, shape: RunShape) -> str:
    """The full explanation of ``subject`` over ``shape``, as ``lr-refimpl explain`` prints it."""
    rates = subject.rates(shape)
    lines = [subject.label]
    if subject.formula:
        lines.append(f"  {subject.formula}")
    lines += ["", epoch_table(shape, rates), ""]
    first, final = float(rates[0]), float(rates[-1])
    change = (
        "constant"
        if first == final and np.all(rates == first)
        else f"{first / final:.3g} times lower"
        if final and final < first
        else f"{final / first:.3g} times higher"
        if first and final > first
        else "ends at zero"
    )
    lines.append(
        f"Over the run the rate goes from {_g(first)} (step 0) to {_g(final)} "
        f"(step {len(rates) - 1:,}): {change}."
    )
    found = findings(subject, shape, rates)
    if found:
        lines.append("")
        lines += [str(f) for f in found]
    return "\n".join(lines)


# -- LearningRateScheduler functions from text --------------------------------------------

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "floor": math.floor,
    "ceil": math.ceil,
    "cos": math.cos,
    "min": min,
    "max": max,
    "abs": abs,
    "pow": pow,
}


def epoch_function_from_text(text: str) -> Callable[[int, float], float]:
    """A ``LearningRateScheduler`` function from an expression in ``epoch`` and ``lr``.

    Arithmetic, comparisons, ``a if cond else b``, ``pi`` and the functions exp, log,
    sqrt, floor, ceil, cos, min, max, abs, pow; a leading ``lambda epoch, lr:`` is
    allowed.  Nothing else is evaluated.

    >>> f = epoch_function_from_text("lambda epoch, lr: lr / 3")
    >>> f(0, 0.003)
    0.001
    >>> epoch_function_from_text("lr if epoch < 2 else lr * exp(-0.1)")(5, 1.0)
    0.9048374180359595
    >>> epoch_function_from_text("__import__('os')")
    Traceback (most recent call last):
    ValueError: --function: only epoch, lr, numbers, arithmetic, comparisons, 'if else' and exp, log, sqrt, floor, ceil, cos, min, max, abs, pow are allowed. Received: "__import__('os')"
    """
    source = text.strip()
    if source.startswith("lambda"):
        head, sep, body = source.partition(":")
        if not sep or [a.strip() for a in head[len("lambda") :].split(",")] != ["epoch", "lr"]:
            raise ValueError(f"--function: write `lambda epoch, lr: ...`. Received: {text!r}")
        source = body
    allowed = ", ".join(_FUNCTIONS)
    bad = ValueError(
        "--function: only epoch, lr, numbers, arithmetic, comparisons, 'if else' and "
        f'{allowed} are allowed. Received: "{text}"'
    )
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"--function: not a valid expression. Received: {text!r}") from None

    def ev(node: ast.AST, env: dict[str, float]) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body, env)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            if isinstance(node.value, bool):
                raise bad
            return node.value
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        if isinstance(node, ast.Name) and node.id == "pi":
            return math.pi
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](ev(node.left, env), ev(node.right, env))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](ev(node.operand, env))
        if isinstance(node, ast.IfExp):
            return ev(node.body, env) if ev(node.test, env) else ev(node.orelse, env)
        if isinstance(node, ast.Compare) and all(type(o) in _COMPARE for o in node.ops):
            left = ev(node.left, env)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp, env)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(ev(a, env) for a in node.args))
        raise bad

    ev(tree, {"epoch": 0, "lr": 0.001})  # reject forbidden nodes now, not mid-run

    def function(epoch: int, lr: float) -> float:
        return float(ev(tree, {"epoch": epoch, "lr": lr}))

    function.__doc__ = f"lambda epoch, lr: {source.strip()}"
    return function


# -- command line ------------------------------------------------------------------------

_EPILOG = """\
examples:
  lr-refimpl explain lesson
  lr-refimpl explain PolynomialDecay --initial-learning-rate 0.003 --decay-steps 5000 \\
      --end-learning-rate 0.001 --power 1.5
  lr-refimpl explain --samples 12000 --epochs 2 PiecewiseConstantDecay \\
      --boundaries 1000,2000,3000 --values 0.003,0.002,0.001,0.0001
  lr-refimpl explain LearningRateScheduler --initial-learning-rate 0.001 --function "lr / 3"
"""


def add_parser(sub: Any) -> None:
    """Register ``explain``."""
    keys = ", ".join(c.key for c in LESSON)
    p = sub.add_parser(
        "explain",
        help="a schedule over a real run: steps, the rate at each epoch, the classic traps",
        description=__doc__.replace("``", "") if __doc__ else None,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "name",
        metavar="NAME",
        help=f"a schedule class (e.g. ExponentialDecay), LearningRateScheduler, one of the "
        f"lesson's configurations ({keys}) or 'lesson' for all seven",
    )
    p.add_argument("--samples", type=int, default=60_000, help="training samples (default 60000)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--epochs", type=int, default=5, help="epochs (default 5)")
    p.add_argument("--from-config", metavar="FILE.json", help="a serialized schedule")
    p.add_argument(
        "--function",
        metavar="EXPR",
        help='LearningRateScheduler only: the function of epoch and lr, e.g. "lr / 3"',
    )
    p.add_argument(
        "--framework",
        default="keras",
        metavar="NAME",
        help="keras (default); torch or optax: the configurations as torch or Optax code, "
        "with the steps where the two frameworks differ (lr-refimpl translate)",
    )
    p.set_defaults(run=run, takes_schedule_options=True)


def _scheduler_subject(options: list[str], function: str | None) -> Subject:
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False, allow_abbrev=False)
    parser.add_argument("--initial-learning-rate", type=float, default=0.001)
    try:
        parsed, unknown = parser.parse_known_args(options)
    except argparse.ArgumentError as exc:
        raise ValueError(f"LearningRateScheduler: {exc}") from None
    if unknown:
        raise ValueError(
            f"LearningRateScheduler has no option {' '.join(unknown)}; its options are "
            "--initial-learning-rate and --function"
        )
    if function is None:
        raise ValueError('LearningRateScheduler needs --function, e.g. --function "lr / 3"')
    fn = epoch_function_from_text(function)
    lr = parsed.initial_learning_rate
    return Subject(
        label=f"SGD({_g(lr)}) + LearningRateScheduler({fn.__doc__})",
        formula="lr = f(epoch, lr), set at the beginning of every epoch (epoch 0 included)",
        epoch_function=fn,
        learning_rate=lr,
    )


def resolve_subjects(
    name: str, options: list[str], from_config: str | None, function: str | None
) -> list[Subject]:
    """The subjects NAME (and its options) stand for; see ``lr-refimpl explain --help``."""
    from refimpl.cli.table import build_schedule

    lesson = lesson_subjects()
    if from_config is None and (name in lesson or name == "lesson"):
        if options or function:
            extra = " ".join(options) if options else "--function"
            raise ValueError(f"{name} is one of the lesson's configurations: it takes no {extra}")
        return list(lesson.values()) if name == "lesson" else [lesson[name]]
    if name == "LearningRateScheduler":
        return [_scheduler_subject(options, function)]
    if function is not None:
        raise ValueError("--function belongs to LearningRateScheduler only")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScheduleWarning)
        schedule = build_schedule(name, options, from_config)
    notes = tuple(str(w.message) for w in caught if issubclass(w.category, ScheduleWarning))
    return [Subject(label=short_repr(schedule), schedule=schedule, construction_warnings=notes)]


def short_repr(schedule: LearningRateSchedule) -> str:
    """``repr(schedule)`` without arguments left at their defaults (``name=...`` and
    the like), for titles.

    >>> from refimpl.schedules import PolynomialDecay
    >>> short_repr(PolynomialDecay(0.003, 5000, 0.001, power=1.5))
    'PolynomialDecay(initial_learning_rate=0.003, decay_steps=5000, end_learning_rate=0.001, power=1.5)'
    """
    import inspect

    params = inspect.signature(type(schedule).__init__).parameters
    parts = []
    for key, value in schedule.get_config().items():
        param = params.get(key)
        default = inspect.Parameter.empty if param is None else param.default
        if default is not inspect.Parameter.empty and (default, type(default)) == (
            value,
            type(value),
        ):
            continue
        parts.append(f"{key}={value!r}")
    return f"{type(schedule).__name__}({', '.join(parts)})"


def run(args: argparse.Namespace) -> int:
    """Print the run's shape and each subject's explanation."""
    shape = RunShape(args.samples, args.batch_size, args.epochs)
    subjects = resolve_subjects(args.name, list(args.options), args.from_config, args.function)
    if args.framework != "keras":  # lr-refimpl translate's view of the same subjects
        from refimpl.cli.translate import explain_in_framework

        return explain_in_framework(subjects, shape, args.framework)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        texts = [explain_text(s, shape) for s in subjects]
    print(shape.describe())
    if shape.total_steps != 5000 and (args.samples, args.batch_size, args.epochs) == (
        60_000,
        64,
        5,
    ):
        print("The lesson says ~5,000 steps; the real run has 4,690.")
    for text in texts:
        print()
        print(text)
    return 0
