"""NAME and its options: the schedule (or lesson configuration) a command computes, and
the training run it is computed over.

``explain``, ``plot`` and ``table`` take the same NAME: a schedule class with its
constructor arguments as dashed options (``ExponentialDecay --initial-learning-rate
0.001 --decay-steps 500 --decay-rate 0.98 --staircase``; lists comma-separated),
checked by the schedule's own validation; or ``--from-config FILE`` (a JSON file with a
serialized schedule, optimizer or model, or a ``.keras`` model file) with NAME
optional; and for ``explain`` and ``plot`` also one of the lesson's configurations by
key, ``lesson`` for all seven, or ``LearningRateScheduler --initial-learning-rate 0.001
--function "lr / 3"``.  ``NAME --help`` lists NAME's options.

A run is ``--samples`` images at ``--batch-size`` for ``--epochs``
(:class:`RunShape`), at most :data:`~refimpl.cli.common.MAX_STEPS` steps and
:data:`MAX_EPOCHS` epochs.
"""

from __future__ import annotations

import argparse
import inspect
import math
import typing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refimpl.cli.common import ArgumentParser, CommandError, check_step_count, one_line
from refimpl.cli.expression import epoch_function_from_text
from refimpl.exceptions import ScheduleWarning
from refimpl.keras_config import read_config_file, schedule_config
from refimpl.lesson import LESSON, LessonConfig
from refimpl.runs import TrainingRun
from refimpl.schedules import EXTRA_SCHEDULES, KERAS_SCHEDULES, LearningRateSchedule, deserialize

__all__ = [
    "MAX_EPOCHS",
    "SCHEDULES",
    "RunShape",
    "Subject",
    "add_subject_arguments",
    "build_schedule",
    "lesson_subjects",
    "resolve_subjects",
    "short_repr",
    "show_help",
    "subject_from_lesson",
    "subject_help",
]

#: The schedule classes NAME may be, Keras's six first.
SCHEDULES: dict[str, type[LearningRateSchedule]] = {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}
#: Arguments given as comma-separated lists.
_LIST_ARGS = frozenset({"boundaries", "values"})
#: The most epochs a run may have (a LearningRateScheduler's function runs once per epoch).
MAX_EPOCHS = 100_000


def _nests(cls: type[LearningRateSchedule]) -> bool:
    """Whether an argument of ``cls`` can only be a schedule or a list of schedules
    (``LinearWarmup``, ``SequentialSchedule``): only ``--from-config`` describes those.

    >>> from refimpl.schedules import LinearWarmup, TimeBasedDecay
    >>> _nests(LinearWarmup), _nests(TimeBasedDecay)  # TimeBasedDecay takes a float too
    (True, False)
    """
    hints = typing.get_type_hints(cls.__init__)
    return any(
        hint is LearningRateSchedule or typing.get_args(hint) == (LearningRateSchedule,)
        for hint in hints.values()
    )


def _g(x: float) -> str:
    return f"{x:.6g}"


class RunShape(TrainingRun):
    """A :class:`~refimpl.runs.TrainingRun` given on the command line: each field an
    integer >= 1, the run at most ``MAX_EPOCHS`` epochs and ``MAX_STEPS`` steps (a
    :class:`~refimpl.cli.common.CommandError` names the options).

    >>> RunShape(60_000, 64, 5).total_steps
    4690
    >>> RunShape(60_000, 64, 0)
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --epochs must be an integer >= 1. Received: 0
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs > MAX_EPOCHS:
            raise CommandError(f"--epochs must be at most {MAX_EPOCHS:,}. Received: {self.epochs}")
        check_step_count(
            self.total_steps,
            f"--samples {self.samples} at --batch-size {self.batch_size} for "
            f"--epochs {self.epochs}",
        )

    def _invalid(self, name: str, value: Any) -> CommandError:
        flag = "--" + name.replace("_", "-")
        return CommandError(f"{flag} must be an integer >= 1. Received: {value!r}")


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
        return self.rates_at(np.arange(shape.total_steps, dtype=np.int64), shape.steps_per_epoch)

    def rates_at(self, steps: np.ndarray, steps_per_epoch: int | None = None) -> np.ndarray:
        """The rate at each of ``steps`` (int64, none negative); an epoch function needs
        ``steps_per_epoch`` and runs once for every epoch up to the last step's.

        >>> Subject("", epoch_function=lambda e, lr: lr / 2, learning_rate=1.0).rates_at(
        ...     np.array([0, 1, 2, 5]), steps_per_epoch=2).tolist()
        [0.5, 0.5, 0.25, 0.125]
        """
        if self.schedule is not None:
            return np.asarray(self.schedule(steps), dtype=np.float64).reshape(steps.shape)
        if self.epoch_function is not None:
            if steps_per_epoch is None:
                raise CommandError(
                    f"{self.label} changes the rate per epoch: give --samples (and "
                    "--batch-size) so that the steps of an epoch are known"
                )
            epochs = int(steps.max()) // steps_per_epoch + 1 if steps.size else 0
            if epochs > MAX_EPOCHS:
                raise CommandError(
                    f"the steps reach epoch {epochs:,} at {steps_per_epoch:,} steps an epoch; "
                    f"a LearningRateScheduler runs at most {MAX_EPOCHS:,} epochs"
                )
            per_epoch = np.asarray(self.epoch_rates(epochs), dtype=np.float64)
            return per_epoch[steps // steps_per_epoch]
        return np.full(steps.shape, float(np.float32(self.learning_rate)))

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
            with np.errstate(over="ignore"):
                lr = float(np.float32(value))
            if not math.isfinite(lr):
                raise CommandError(
                    f"{self.label}: the epoch function returns {value:g} at epoch {epoch}, "
                    "which is not a finite float32 rate"
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


# -- a schedule from options or a file ----------------------------------------------------


def _number(text: str) -> int | float:
    """An int when ``text`` is an integer literal, else a float (``1e-3``, ``nan``)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _numbers(text: str) -> list[int | float]:
    return [_number(part) for part in text.split(",")]


_number.__name__ = "number"  # argparse says "invalid number value: 'x'"
_numbers.__name__ = "comma-separated numbers"


def _schedule_class(name: str) -> type[LearningRateSchedule]:
    if name not in SCHEDULES:
        raise CommandError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    return SCHEDULES[name]


def _parameters(cls: type[LearningRateSchedule]) -> list[inspect.Parameter]:
    return [p for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self"]


def _options_parser(name: str) -> ArgumentParser:
    """The parser of ``name``'s constructor arguments as dashed options."""
    cls = _schedule_class(name)
    parser = ArgumentParser(prog=f"lr-refimpl {name}", add_help=False, usage=argparse.SUPPRESS)
    group = parser.add_argument_group(
        f"{name} options (its constructor arguments; help(refimpl.schedules.{name}))"
    )
    for param in _parameters(cls):
        flag = "--" + param.name.replace("_", "-")
        required = param.default is inspect.Parameter.empty
        helps = "required" if required else f"default: {param.default!r}"
        kwargs: dict[str, Any] = {"dest": param.name, "help": helps, "default": argparse.SUPPRESS}
        if isinstance(param.default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif param.name in _LIST_ARGS:
            group.add_argument(flag, type=_numbers, metavar="A,B,...", **kwargs)
        elif param.name == "name":
            group.add_argument(flag, metavar="TEXT", **kwargs)
        else:
            group.add_argument(flag, type=_number, metavar="X", **kwargs)
    return parser


def _construct(make: Callable[[], LearningRateSchedule], where: str) -> LearningRateSchedule:
    """Call ``make``: what a schedule's constructor (or ``deserialize``) rejects is the
    user's input, so its errors become a :class:`CommandError` starting with ``where``."""
    try:
        return make()
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CommandError(f"{where}: {one_line(exc)}") from None


def build_schedule(
    name: str | None, options: Sequence[str], from_config: str | None
) -> LearningRateSchedule:
    """The schedule NAME with its dashed ``options``, or the one in ``from_config``.

    >>> build_schedule("ExponentialDecay", ["--initial-learning-rate", "0.1",
    ...                "--decay-steps", "10", "--decay-rate", "0.5"], None)
    ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=False, name='ExponentialDecay')
    """
    if from_config is not None:
        return _schedule_from_file(from_config, name, options)
    if name is None:
        raise CommandError("give NAME (a schedule class, e.g. ExponentialDecay) or --from-config")
    cls = _schedule_class(name)
    if _nests(cls):
        raise CommandError(
            f"{name} nests schedules: describe it in a file and give --from-config FILE"
        )
    parser = _options_parser(name)
    parsed, unknown = parser.parse_known_args(list(options))
    if unknown:
        known = " ".join(a.option_strings[0] for a in parser._actions)
        raise CommandError(f"{name} has no option {' '.join(unknown)}; its options are {known}")
    kwargs = vars(parsed)
    missing = [p.name for p in _parameters(cls) if p.default is p.empty and p.name not in kwargs]
    if missing:
        raise CommandError(
            f"{name} needs " + ", ".join("--" + m.replace("_", "-") for m in missing)
        )
    return _construct(lambda: cls(**kwargs), name)


def _schedule_from_file(
    path: str, name: str | None, options: Sequence[str]
) -> LearningRateSchedule:
    where = f"--from-config {path}"
    if options:
        raise CommandError(
            f"{where} describes the whole schedule; it takes no options beside it. "
            f"Received: {' '.join(options)}"
        )
    try:
        content = read_config_file(path)
    except OSError as exc:
        raise CommandError(f"{where}: {exc.strerror or one_line(exc)}") from None
    except ValueError as exc:
        raise CommandError(f"--from-config: {one_line(exc)}") from None
    try:
        serialized = schedule_config(content)
    except ValueError as exc:
        raise CommandError(f"{where}: {one_line(exc)}") from None
    if serialized is None:
        if name is None:
            raise CommandError(
                f"{where} holds a config without class_name: give NAME, the schedule class "
                "it configures"
            )
        serialized = {"class_name": _schedule_class(name).__name__, "config": dict(content)}
    elif name is not None:
        registered = serialized.get("registered_name")
        held = serialized["class_name"]
        if isinstance(registered, str) and ">" in registered:
            held = registered.split(">", 1)[1]
        if held != name:
            raise CommandError(
                f"NAME {name} conflicts with {where}, which holds {held}: give one of them"
            )
    return _construct(lambda: deserialize(serialized), where)


# -- subjects ------------------------------------------------------------------------------


def _scheduler_subject(options: Sequence[str], function: str | None) -> Subject:
    parser = ArgumentParser(prog="lr-refimpl LearningRateScheduler", add_help=False)
    parser.add_argument("--initial-learning-rate", type=float, default=0.001)
    parsed, unknown = parser.parse_known_args(list(options))
    if unknown:
        raise CommandError(
            f"LearningRateScheduler has no option {' '.join(unknown)}; its options are "
            "--initial-learning-rate and --function"
        )
    if function is None:
        raise CommandError('LearningRateScheduler needs --function, e.g. --function "lr / 3"')
    fn = epoch_function_from_text(function)
    lr = parsed.initial_learning_rate
    if not math.isfinite(lr) or lr < 0:
        raise CommandError(
            f"--initial-learning-rate must be a finite number >= 0. Received: {lr!r}"
        )
    return Subject(
        label=f"SGD({_g(lr)}) + LearningRateScheduler({fn.__doc__})",
        formula="lr = f(epoch, lr), set at the beginning of every epoch (epoch 0 included)",
        epoch_function=fn,
        learning_rate=lr,
    )


def resolve_subjects(
    name: str | None,
    options: Sequence[str],
    from_config: str | None,
    function: str | None,
) -> list[Subject]:
    """The subjects NAME (and its options, or ``--from-config``) stand for: a lesson
    configuration, all seven (``lesson``), a ``LearningRateScheduler`` or a schedule."""
    lesson = lesson_subjects()
    if from_config is not None and name in {*lesson, "lesson", "LearningRateScheduler"}:
        raise CommandError(f"NAME {name} conflicts with --from-config: give one of them")
    if function is not None and (from_config is not None or name != "LearningRateScheduler"):
        raise CommandError("--function belongs to LearningRateScheduler only")
    if name in lesson or name == "lesson":
        if options:
            raise CommandError(
                f"{name} is one of the lesson's configurations: it takes no {' '.join(options)}"
            )
        return list(lesson.values()) if name == "lesson" else [lesson[name]]
    if name == "LearningRateScheduler":
        return [_scheduler_subject(options, function)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScheduleWarning)
        schedule = build_schedule(name, options, from_config)
    for w in caught:  # keep the others as they were
        if not issubclass(w.category, ScheduleWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    notes = tuple(
        dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, ScheduleWarning))
    )
    return [Subject(label=short_repr(schedule), schedule=schedule, construction_warnings=notes)]


def short_repr(schedule: LearningRateSchedule) -> str:
    """``repr(schedule)`` without arguments left at their defaults (``name=...`` and
    the like), for titles.

    >>> from refimpl.schedules import PolynomialDecay
    >>> short_repr(PolynomialDecay(0.003, 5000, 0.001, power=1.5))
    'PolynomialDecay(initial_learning_rate=0.003, decay_steps=5000, end_learning_rate=0.001, power=1.5)'
    """
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


# -- the command line ------------------------------------------------------------------


def add_subject_arguments(parser: argparse.ArgumentParser, *, lesson: bool) -> None:
    """NAME, ``--from-config``, (``--function``) and a ``-h/--help`` that lists NAME's
    options, on a subcommand's parser made with ``add_help=False``."""
    what = "a schedule class (e.g. ExponentialDecay)"
    if lesson:
        keys = ", ".join(c.key for c in LESSON)
        what += (
            f", LearningRateScheduler, one of the lesson's configurations ({keys}) or "
            "'lesson' for all seven"
        )
    parser.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help=f"{what}; optional with --from-config.  `NAME --help` lists its options",
    )
    parser.add_argument(
        "--from-config",
        metavar="FILE",
        help="a JSON file with a serialized schedule (or optimizer, or model), or a .keras "
        "model file: its optimizer's schedule",
    )
    if lesson:
        parser.add_argument(
            "--function",
            metavar="EXPR",
            help='LearningRateScheduler only: the function of epoch and lr, e.g. "lr / 3"',
        )
    parser.add_argument("-h", "--help", action="store_true", help="show this help (and NAME's)")
    parser.set_defaults(parser=parser, takes_schedule_options=True)


def subject_help(name: str | None, *, lesson: bool) -> str:
    """What NAME is and the options it takes, for ``lr-refimpl COMMAND NAME --help``.

    >>> print(subject_help("InverseTimeDecay", lesson=False))  # doctest: +ELLIPSIS
    InverseTimeDecay options (its constructor arguments; help(refimpl.schedules.InverseTimeDecay)):
      --initial-learning-rate X
                            required
    ...
      --staircase, --no-staircase
                            default: False
    ...
    """
    if name is None:
        return ""
    by_key = {c.key: c for c in LESSON}
    if lesson and name in by_key:
        config = by_key[name]
        return f"{name}: one of the lesson's configurations, {config.label}\n  {config.formula}\n"
    if lesson and name == "lesson":
        return "lesson: the lesson's seven configurations, " + ", ".join(by_key) + "\n"
    if lesson and name == "LearningRateScheduler":
        return (
            "LearningRateScheduler options:\n"
            "  --initial-learning-rate X  the optimizer's rate before the first epoch "
            "(default: 0.001)\n"
            '  --function EXPR            the function of epoch and lr, e.g. "lr / 3"\n'
        )
    if _nests(_schedule_class(name)):
        return f"{_options_parser(name).format_help()}{name} nests schedules: use --from-config.\n"
    return _options_parser(name).format_help()


def show_help(args: argparse.Namespace, *, lesson: bool) -> int:
    """Print the subcommand's help and NAME's options; return 0."""
    print(args.parser.format_help())
    extra = subject_help(args.name, lesson=lesson)
    if extra:
        print(extra, end="")
    return 0
