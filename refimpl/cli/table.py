"""``lr-refimpl table NAME --steps ...``: a schedule's values as Keras computes them.

For each step: the float32 (or the schedule's own dtype) value Keras computes, the
float64 "true math" value (``schedule.exact``) and the distance between them in ulps of
the compute dtype.  The schedule's constructor arguments are options spelled with
dashes (``--initial-learning-rate 0.001 --decay-steps 500 --decay-rate 0.98
--staircase``; lists as ``--boundaries 1000,2000,3000``), checked by the schedule's own
validation; ``--from-config FILE.json`` reads a serialized schedule instead.
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np

from refimpl.comparison import ulp_distance
from refimpl.schedules import EXTRA_SCHEDULES, KERAS_SCHEDULES, LearningRateSchedule, deserialize

__all__ = ["MAX_STEPS", "add_parser", "build_schedule", "format_table", "parse_steps", "run"]

ALL_SCHEDULES = {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}
_LIST_ARGS = {"boundaries", "values"}
_NESTED = {"LinearWarmup", "SequentialSchedule"}


#: The most steps ``--steps`` may name (a range beyond would exhaust the memory).
MAX_STEPS = 10_000_000


def parse_steps(text: str) -> np.ndarray:
    """``"0,937,938"`` or a range ``"0:4690"`` (``start:stop[:step]``) as int64 steps.

    Raises ``ValueError`` (one line, for the command line) for anything else: no
    integers, a range step of 0, a number outside int64, more than ``MAX_STEPS`` steps.

    >>> parse_steps("0,937,938").tolist(), parse_steps("0:10:5").tolist()
    ([0, 937, 938], [0, 5])
    >>> parse_steps("0:10:0")
    Traceback (most recent call last):
    ValueError: --steps: the step of a range must not be 0. Received: '0:10:0'
    """
    usage = f"--steps must be comma-separated integers or start:stop[:step]. Received: {text!r}"
    try:
        parts = [int(p) for p in text.split(":" if ":" in text else ",") if p.strip()]
    except ValueError:
        raise ValueError(usage) from None
    if ":" in text:
        if not 2 <= len(parts) <= 3:
            raise ValueError(usage)
        if len(parts) == 3 and parts[2] == 0:
            raise ValueError(f"--steps: the step of a range must not be 0. Received: {text!r}")
        count = len(range(*parts))
    else:
        count = len(parts)
    if count > MAX_STEPS:
        raise ValueError(
            f"--steps names {count:,} steps; at most {MAX_STEPS:,}. Received: {text!r}"
        )
    if any(not -(2**63) <= p < 2**63 for p in parts):
        raise ValueError(f"--steps: a step is outside the int64 range. Received: {text!r}")
    if ":" in text:
        return np.arange(*parts, dtype=np.int64)
    return np.array(parts, dtype=np.int64)


def _number(text: str) -> int | float:
    value = float(text)
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )


def build_schedule(name: str, options: list[str], from_config: str | None) -> LearningRateSchedule:
    """The schedule ``name`` from dashed options (or a JSON config file)."""
    if from_config is not None:
        try:
            config = json.loads(Path(from_config).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"--from-config {from_config}: not valid JSON ({exc})") from None
        if "class_name" not in config:
            config = {"class_name": name, "config": config}
        return deserialize(config)
    if name not in ALL_SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(ALL_SCHEDULES)}")
    cls = ALL_SCHEDULES[name]
    if name in _NESTED:
        raise ValueError(f"{name} nests schedules: describe it with --from-config FILE.json")
    parser = argparse.ArgumentParser(
        prog=f"lr-refimpl ... {name}", add_help=False, exit_on_error=False, allow_abbrev=False
    )
    for pname, param in inspect.signature(cls.__init__).parameters.items():
        if pname == "self":
            continue
        flag = "--" + pname.replace("_", "-")
        if isinstance(param.default, bool):
            parser.add_argument(
                flag, dest=pname, action=argparse.BooleanOptionalAction, default=param.default
            )
        elif pname in _LIST_ARGS:
            parser.add_argument(flag, dest=pname, type=lambda t: [_number(v) for v in t.split(",")])
        elif pname == "name":
            parser.add_argument(flag, dest=pname, default=param.default)
        else:
            parser.add_argument(
                flag,
                dest=pname,
                type=_number,
                default=argparse.SUPPRESS
                if param.default is inspect.Parameter.empty
                else param.default,
            )
    known = " ".join(a.option_strings[0] for a in parser._actions)
    try:
        parsed, unknown = parser.parse_known_args(options)
    except argparse.ArgumentError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if unknown:
        raise ValueError(f"{name} has no option {' '.join(unknown)}; its options are {known}")
    kwargs = vars(parsed)
    missing = [
        p
        for p, v in inspect.signature(cls.__init__).parameters.items()
        if p != "self" and v.default is inspect.Parameter.empty and p not in kwargs
    ]
    if missing:
        raise ValueError(f"{name} needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    return cls(**kwargs)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "table",
        help="a schedule's values at given steps (float32 as Keras, float64, ulps apart)",
        description=__doc__.replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="schedule class, e.g. ExponentialDecay")
    p.add_argument("--steps", default="0,937,938,4689", help="e.g. 0,937,938,4689 or 0:4690:469")
    p.add_argument("--from-config", metavar="FILE.json", help="a serialized schedule")
    p.set_defaults(run=run, takes_schedule_options=True)


def format_table(schedule: LearningRateSchedule, at: np.ndarray) -> str:
    keras_values = schedule(at)
    true_values = schedule.exact(at)
    dist = ulp_distance(keras_values, true_values.astype(keras_values.dtype), keras_values.dtype)
    dtype = keras_values.dtype.name
    lines = [f"{'step':>10}  {dtype + ' (Keras)':>16}  {'float64 (exact)':>22}  {'ulps':>5}"]
    for s, k, t, d in zip(at.tolist(), keras_values.tolist(), true_values.tolist(), dist.tolist()):
        lines.append(f"{s:>10}  {k:>16.9g}  {t:>22.17g}  {d:>5}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    at = parse_steps(args.steps)
    schedule = build_schedule(args.name, list(args.options), args.from_config)
    print(repr(schedule))
    print(format_table(schedule, at))
    return 0
