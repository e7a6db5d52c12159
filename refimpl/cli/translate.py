"""``lr-refimpl translate --to torch|keras|optax NAME ...``: a schedule as another
framework's code, then the steps where the two differ, how much and why.

NAME is a Keras schedule class with its constructor arguments as dashed options (as
``lr-refimpl table`` takes them: ``PiecewiseConstantDecay --boundaries 1000,2000,3000
--values 0.003,0.002,0.001,0.0001``), one of the lesson's configurations (``constant``,
``decay``, ``exponential``, ``piecewise``, ``polynomial``, ``inverse_time``,
``scheduler``; ``lesson`` for all seven) -- these go ``--to torch`` --, or a torch
scheduler with its arguments (``StepLR --lr 0.1 --step-size 30 --gamma 0.1``;
``CosineAnnealingLR --lr 0.1 --T-max 100``), which goes ``--to keras`` or ``--to optax``,
or an Optax schedule function with its arguments (``warmup_cosine_decay_schedule
--init-value 0.0 --peak-value 0.1 --warmup-steps 500 --decay-steps 4690``;
``piecewise_constant_schedule --init-value 0.1 --boundaries-and-scales 1000:0.5,2000:0.5``),
which goes ``--to keras`` or ``--to torch``.  Keras sources go ``--to torch`` or ``--to
optax``.
``--from-config FILE`` reads a Keras schedule from a JSON file (a serialized schedule,
optimizer or model) or a ``.keras`` model file instead of NAME.

The code is the target's built-in where one computes the same formula, else the exact
port (``--use built-in|port`` to choose; ``auto`` takes the built-in unless it differs
structurally within the horizon).  The table compares, over steps 0..N-1 (``--steps
N``), the source as its framework computes it with the code as the target computes it,
from refimpl's references (no framework needed), in the target's dtype.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Sequence
from typing import Any

from refimpl.cli import CommandError
from refimpl.cli.subjects import build_schedule
from refimpl.lesson import LESSON
from refimpl.schedules import SCHEDULES
from refimpl.torch.lr_scheduler import SCHEDULERS
from refimpl.translate import DEFAULT_STEPS, MAX_STEPS, PLANNED, TARGETS, USES, translate
from refimpl.translate.explain import framework_text

__all__ = [
    "add_parser",
    "explain_in_framework",
    "optax_schedule",
    "parse_horizon",
    "run",
    "torch_scheduler",
]

#: torch arguments given as whole numbers, and as comma-separated whole numbers.
_TORCH_INTS = frozenset(
    {
        "step_size",
        "T_max",
        "T_0",
        "T_mult",
        "total_iters",
        "total_steps",
        "epochs",
        "steps_per_epoch",
        "patience",
        "cooldown",
    }
)
_TORCH_LISTS = frozenset({"milestones"})
#: torch schedulers the command line cannot build (they take schedulers or functions).
_TORCH_API_ONLY = {
    "LambdaLR": "takes a Python function",
    "MultiplicativeLR": "takes a Python function",
    "SequentialLR": "takes schedulers",
    "ChainedScheduler": "takes schedulers",
}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def parse_horizon(text: str) -> int:
    """``--steps N``: the horizon, steps ``0 .. N-1``.

    >>> parse_horizon("4690")
    4690
    >>> parse_horizon("0")
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --steps must be a whole number from 1 to 1,000,000 (the horizon: steps 0..N-1). Received: '0'
    """
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_STEPS:
        raise CommandError(
            f"--steps must be a whole number from 1 to {MAX_STEPS:,} (the horizon: steps "
            f"0..N-1). Received: {text!r}"
        )
    return n


def _torch_type(name: str, default: Any) -> Any:
    if name in _TORCH_LISTS:
        return lambda text: [int(v) for v in text.split(",") if v.strip()]
    if name in _TORCH_INTS:
        return int
    if isinstance(default, str):
        return str
    return float


def torch_scheduler(name: str, options: Sequence[str]) -> Any:
    """The refimpl torch scheduler ``name`` from dashed options (``--lr 0.1 --step-size
    30``; lists comma-separated; ``T_max`` is ``--T-max``), checked by its constructor.

    >>> torch_scheduler("StepLR", ["--lr", "0.1", "--step-size", "30"])
    StepLR(lr=0.1, step_size=30, gamma=0.1, last_epoch=-1)
    """
    if name in _TORCH_API_ONLY:
        raise CommandError(
            f"{name} {_TORCH_API_ONLY[name]}: build it in Python and call "
            "refimpl.translate.translate(scheduler, to='keras')"
        )
    cls = SCHEDULERS[name]
    parser = argparse.ArgumentParser(
        prog=f"lr-refimpl translate {name}", add_help=False, exit_on_error=False, allow_abbrev=False
    )
    parameters = [
        p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"
    ]
    parameters = [p for p in parameters if p.name != "last_epoch"]
    for param in parameters:
        flag = "--" + param.name.replace("_", "-")
        required = param.default is inspect.Parameter.empty
        kwargs: dict[str, Any] = {"dest": param.name}
        if not required:
            kwargs["default"] = argparse.SUPPRESS
        if isinstance(param.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            parser.add_argument(flag, type=_torch_type(param.name, param.default), **kwargs)
    known = " ".join(a.option_strings[0] for a in parser._actions)
    try:
        parsed, unknown = parser.parse_known_args(list(options))
    except argparse.ArgumentError as exc:
        raise CommandError(f"{name}: {_one_line(exc)}") from None
    if unknown:
        raise CommandError(f"{name} has no option {' '.join(unknown)}; its options are {known}")
    values = vars(parsed)
    missing = [
        "--" + p.name.replace("_", "-")
        for p in parameters
        if p.default is inspect.Parameter.empty and values.get(p.name) is None
    ]
    if missing:
        raise CommandError(f"{name} needs {', '.join(missing)}")
    values = {k: v for k, v in values.items() if v is not None}
    try:
        return cls(**values)
    except (ValueError, TypeError, KeyError) as exc:
        raise CommandError(f"{name}: {_one_line(exc)}") from None


#: Optax functions the command line cannot build (they take schedules or lists of dicts).
_OPTAX_API_ONLY = {
    "join_schedules": "takes schedules",
    "sgdr_schedule": "takes a list of dicts",
}


def _optax_number(text: str) -> int | float:
    """A number as Optax takes it: ``2`` is the int 2 (``lax.integer_pow``), ``2.0`` a
    float."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _scales(text: str) -> dict[int, float]:
    """``"1000:0.5,2000:0.5"`` as ``{1000: 0.5, 2000: 0.5}``."""
    out = {}
    for part in text.split(","):
        if part.strip():
            boundary, _, scale = part.partition(":")
            out[int(boundary)] = float(scale)
    return out


def optax_schedule(name: str, options: Sequence[str]) -> Any:
    """The refimpl.optax schedule ``name`` from dashed options (``--init-value 0.1
    --decay-steps 100``; ``--boundaries-and-scales 1000:0.5,2000:0.5``; ``--staircase``),
    checked by the function.

    >>> optax_schedule("cosine_decay_schedule", ["--init-value", "0.1", "--decay-steps", "100"])
    optax.cosine_decay_schedule(init_value=0.1, decay_steps=100, alpha=0.0, exponent=1.0)
    """
    import refimpl.optax

    if name in _OPTAX_API_ONLY:
        raise CommandError(
            f"{name} {_OPTAX_API_ONLY[name]}: build it with refimpl.optax in Python and call "
            "refimpl.translate.translate(schedule, to='keras')"
        )
    function = getattr(refimpl.optax, name)
    parser = argparse.ArgumentParser(
        prog=f"lr-refimpl translate {name}", add_help=False, exit_on_error=False, allow_abbrev=False
    )
    parameters = list(inspect.signature(function).parameters.values())
    for param in parameters:
        flag = "--" + param.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": param.name}
        if param.default is not inspect.Parameter.empty:
            kwargs["default"] = argparse.SUPPRESS
        if isinstance(param.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif param.name == "boundaries_and_scales":
            parser.add_argument(flag, type=_scales, **kwargs)
        elif param.name == "interpolate_type":
            parser.add_argument(flag, type=str, **kwargs)
        elif param.name.endswith(("_steps", "_begin")):
            parser.add_argument(flag, type=int, **kwargs)
        else:
            parser.add_argument(flag, type=_optax_number, **kwargs)
    known = " ".join(a.option_strings[0] for a in parser._actions)
    try:
        parsed, unknown = parser.parse_known_args(list(options))
    except argparse.ArgumentError as exc:
        raise CommandError(f"{name}: {_one_line(exc)}") from None
    if unknown:
        raise CommandError(f"{name} has no option {' '.join(unknown)}; its options are {known}")
    values = {k: v for k, v in vars(parsed).items() if v is not None}
    missing = [
        "--" + p.name.replace("_", "-")
        for p in parameters
        if p.default is inspect.Parameter.empty and p.name not in values
    ]
    if missing:
        raise CommandError(f"{name} needs {', '.join(missing)}")
    try:
        return function(**values)
    except (ValueError, TypeError) as exc:
        raise CommandError(f"{name}: {_one_line(exc)}") from None


def _sources(name: str | None, options: Sequence[str], from_config: str | None) -> list[Any]:
    """What NAME (and its options) or ``--from-config`` stand for."""
    lesson = {config.key: config for config in LESSON}
    if from_config is not None:
        if name is not None or options:
            extra = " ".join([*([name] if name else []), *options])
            raise CommandError(
                f"--from-config {from_config} describes the whole schedule; give no NAME or "
                f"options beside it. Received: {extra}"
            )
        return [from_config]
    if name is None:
        raise CommandError(
            "give NAME (a Keras schedule, a lesson configuration or a torch scheduler) or "
            "--from-config FILE"
        )
    if name in lesson or name == "lesson":
        if options:
            raise CommandError(
                f"{name} is the lesson's: it takes no options. Received: {' '.join(options)}"
            )
        return list(LESSON) if name == "lesson" else [lesson[name]]
    if name in SCHEDULES:
        try:
            return [build_schedule(name, list(options), None)]
        except (ValueError, TypeError) as exc:
            raise CommandError(_one_line(exc)) from None
    if name in SCHEDULERS:
        return [torch_scheduler(name, options)]
    from refimpl.optax import FUNCTIONS

    if name in FUNCTIONS:
        return [optax_schedule(name, options)]
    raise CommandError(
        f"unknown NAME {name!r}: a Keras schedule ({', '.join(SCHEDULES)}), a lesson "
        f"configuration ({', '.join(lesson)}, or lesson for all seven), a torch scheduler "
        f"({', '.join(SCHEDULERS)}) or an Optax schedule function ({', '.join(FUNCTIONS)})"
    )


def _check_target(to: str | None, flag: str = "--to", known: Sequence[str] = tuple(TARGETS)) -> str:
    """``to`` if translate writes it; a one-line error naming ``flag`` otherwise."""
    if to is None:
        raise CommandError(f"{flag} is required: {' or '.join(known)}")
    if to in PLANNED:
        raise CommandError(f"{flag} {to} is not supported yet: {PLANNED[to]}")
    if to not in known:
        planned = f" ({', '.join(PLANNED)}: planned)" if PLANNED else ""
        raise CommandError(f"{flag} must be one of {', '.join(known)}{planned}. Received: {to!r}")
    return to


def explain_in_framework(subjects: Sequence[Any], shape: Any, framework: str) -> int:
    """``lr-refimpl explain ... --framework torch|optax``: the run's configurations as
    torch or Optax code with their difference tables over the run (``shape``:
    ``total_steps``, ``steps_per_epoch`` and ``describe()``)."""
    _check_target(framework, "--framework", ("keras", "torch", "optax"))
    try:
        text = framework_text(
            subjects, framework, steps=shape.total_steps, steps_per_epoch=shape.steps_per_epoch
        )
    except (ValueError, TypeError) as exc:
        raise CommandError(_one_line(exc)) from None
    print(shape.describe())
    print()
    print(text)
    return 0


def add_parser(sub: Any) -> None:
    """Register ``translate``."""
    p = sub.add_parser(
        "translate",
        help="a schedule as torch, Keras or Optax code, and the steps where the two differ",
        description=__doc__.replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="a Keras schedule, a lesson configuration (or 'lesson'), a torch scheduler or an "
        "Optax schedule function",
    )
    p.add_argument(
        "--to",
        metavar="FRAMEWORK",
        help=f"the target: {', '.join(TARGETS)}",
    )
    p.add_argument("--from-config", metavar="FILE", help="a JSON or .keras file with the schedule")
    p.add_argument(
        "--steps",
        default=str(DEFAULT_STEPS),
        metavar="N",
        help=f"the horizon: compare steps 0..N-1 (default {DEFAULT_STEPS}, the lesson's run)",
    )
    p.add_argument(
        "--use",
        default="auto",
        choices=USES,
        help="the target's built-in, the exact port, or auto (default)",
    )
    p.set_defaults(run=run, takes_schedule_options=True)


def run(args: argparse.Namespace) -> int:
    """Print the code, then the difference table, for each source."""
    to = _check_target(args.to)
    n = parse_horizon(args.steps)
    sources = _sources(args.name, list(args.options), args.from_config)
    outputs = []
    for source in sources:
        try:
            result = translate(source, to=to, steps=n, use=args.use)
        except OSError as exc:
            raise CommandError(
                f"--from-config {source}: {exc.strerror or _one_line(exc)}"
            ) from None
        except (ValueError, TypeError) as exc:
            raise CommandError(_one_line(exc)) from None
        title = f"=== {source.key}: {source.label} ===\n" if len(sources) > 1 else ""
        outputs.append(f"{title}{result}")
    print("\n\n".join(outputs))
    return 0
