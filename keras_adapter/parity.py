"""refimpl, the Keras adapter and the Keras built-in, step by step: ``lr-refimpl parity``'s
comparison (the command line front end is :mod:`refimpl.cli.parity`).

For every schedule :func:`compare` draws ``--configs`` configurations (seeded, from
:func:`refimpl.testing.schedule_configs`), builds a step grid per configuration (the
schedule's edge steps from :func:`refimpl.testing.edge_steps` plus ``--steps`` seeded
random steps up to ``2**24``), and evaluates at every step:

- ``refimpl``: the refimpl schedule (NumPy);
- ``adapter``: the :mod:`keras_adapter` schedule (refimpl's formula on ``keras.ops``);
- ``builtin``: the TensorFlow/Keras implementation where one exists: the six
  ``keras.optimizers.schedules`` classes, ``tf.compat.v1.train.natural_exp_decay`` and
  ``linear_cosine_decay``, and ``InverseTimeDecay(lr, 1, decay)`` for a
  ``TimeBasedDecay`` on a float (the schedules with no TensorFlow twin show ``-``).

Each Keras implementation is evaluated as the chosen mode runs it.  ``--mode eager``:
called once per step with a scalar int64 step (the value
``float(optimizer.learning_rate)`` reports).  ``--mode graph`` (``model.fit``'s default
compile on CPU) and ``--mode xla`` (``jit_compile=True``, the default on GPU): the
float32 rate the compiled train step applies, read by
:func:`keras_adapter.oracle.compiled_rates` -- in graph mode one ``tf.function`` per
implementation loops over every step of the grid (the
oracle is itself checked against rates read from real ``model.fit`` steps by
``tests/test_keras_adapter_oracle.py``).  refimpl is evaluated in the same mode:
``schedule(steps, mode=...)``.  Every configuration of a schedule is evaluated at every
step of one grid: the union of the configurations' edge and random steps, and with
``--horizon N`` every step ``0 .. N-1`` (a whole training run).  It prints
one row per schedule and dtype: configs, config-steps, the worst ulp distance between
any two implementations, the step and the pair where it occurred, and the verdict.

The bar, in every mode:

- ``adapter`` vs ``builtin``: 0 ulp -- the same ``keras.ops`` calls, compiled the same
  way.
- ``refimpl`` vs ``adapter`` / ``builtin``: every decision the same (no step where one
  is NaN and the other not, or where they are further apart than
  :func:`refimpl.modes.differences.decided_apart`: a staircase, a boundary, a
  restart index), and within the documented bound (:meth:`~refimpl.schedules.LearningRateSchedule.rounding_bound`):
  0 ulp for the formulas without a transcendental function (piecewise, inverse time,
  time-based), otherwise 2 ulp plus the forward error of one ulp in ``cos``/``log``/
  ``exp``/``pow`` carried through the formula.  ``--strict`` holds refimpl to 0 ulp: what
  it measures on x86-64 Linux, where TensorFlow's CPU kernels call glibc's functions and
  refimpl runs the same algorithms (:mod:`refimpl.kernels`).

Without refimpl's modes, the compiled train step is not the eager call: Grappler and
XLA rewrite ``x / c`` with a constant ``c`` as ``x * (1 / c)``, so a staircase
``ExponentialDecay`` with ``decay_steps=61`` switches one step late inside ``model.fit``
(``61 * float32(1/61) < 1``), ``PolynomialDecay`` with a fractional ``power`` is NaN at
``step == decay_steps`` under XLA, and the restart index of ``CosineDecayRestarts`` moves
at some restart steps.  refimpl's ``mode="graph"``/``"xla"`` reproduce those decisions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_adapter.oracle import compiled_rates
from keras_adapter.schedules import ADAPTERS
from refimpl import schedules as ref
from refimpl.cli.parity import MODES
from refimpl.comparison import ulp_distance, within_bounds
from refimpl.exceptions import ScheduleWarning
from refimpl.modes.differences import decided_apart

__all__ = [
    "MODES",
    "PAIRS",
    "ParityRow",
    "as_float64",
    "compare",
    "draw_configs",
    "format_table",
    "step_grid",
    "summary",
]

#: The pairs compared, in the order of the table.
PAIRS = ("adapter-builtin", "adapter-refimpl", "builtin-refimpl")
_DTYPES = ("float32", "float64")


@dataclass
class ParityRow:
    """One line of the table: a schedule in a dtype, over all its configs and steps.

    ``worst_ulp``/``worst_step``/``worst_pair``/``worst_config`` describe the largest
    ulp distance found, or, when some pair is out of bounds, the first such violation.
    """

    schedule: str
    dtype: str
    configs: int
    steps: int
    worst_ulp: int
    worst_step: int | None
    worst_pair: str | None
    ok: bool
    #: Worst ulp distance of each compared pair.
    pairs: dict[str, int] = field(default_factory=dict)
    #: Steps out of bounds, per pair (only the bounded pairs are counted).
    violations: dict[str, int] = field(default_factory=dict)
    worst_config: dict[str, Any] | None = None


# --- inputs ------------------------------------------------------------------------------


def draw_configs(name: str, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations of schedule ``name``, reproducible from ``seed``.

    Drawn from :func:`refimpl.testing.schedule_configs` with Hypothesis seeded by
    ``seed`` (generation phase only, no example database), so the same seed and
    Hypothesis version give the same configs.

    >>> a = draw_configs("ExponentialDecay", 3, seed=1)
    >>> a == draw_configs("ExponentialDecay", 3, seed=1), len(a)
    (True, 3)
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from refimpl.testing import schedule_configs

    drawn: list[dict[str, Any]] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        derandomize=False,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(schedule_configs(name))
    def collect(config: dict[str, Any]) -> None:
        if len(drawn) < n:
            drawn.append(config)

    collect()
    return drawn


def as_float64(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The same configuration computing in float64: the rate(s) that set the dtype become
    ``np.float64`` (Keras's rule: the dtype is that of ``initial_learning_rate``), as the
    schedule class says (:meth:`~refimpl.schedules.LearningRateSchedule.with_dtype`).

    >>> as_float64("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 1,
    ...                                 "decay_rate": 0.5})["initial_learning_rate"]
    np.float64(0.1)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        schedule = ref.deserialize({"class_name": name, "config": config})
    return dict(schedule.with_dtype("float64").get_config())


def step_grid(name: str, config: dict[str, Any], n_random: int, rng: np.random.Generator) -> Any:
    """The steps to compare at: the edge steps of ``config`` plus ``n_random`` random ones
    (half below 10,000, half log-uniform up to ``2**24``), sorted and unique, int64."""
    from refimpl.testing import MAX_STEP, edge_steps

    low = rng.integers(0, 10_000, size=n_random - n_random // 2, endpoint=True)
    high = np.exp(rng.uniform(0.0, math.log(MAX_STEP), size=n_random // 2)).astype(np.int64)
    steps = np.unique(np.concatenate([np.asarray(edge_steps(name, config), np.int64), low, high]))
    return steps[(steps >= 0) & (steps <= MAX_STEP)]


# --- evaluation --------------------------------------------------------------------------


def _builtin(name: str, config: dict[str, Any]) -> Callable[[Any], Any] | None:
    """The TensorFlow/Keras implementation of ``name`` with ``config``, if there is one."""
    if name in ref.KERAS_SCHEDULES:
        return getattr(keras.optimizers.schedules, name)(**config)
    if name == "TimeBasedDecay" and not isinstance(config["initial_learning_rate"], dict):
        return keras.optimizers.schedules.InverseTimeDecay(
            config["initial_learning_rate"], 1, config["decay"]
        )
    v1 = tf.compat.v1.train
    if name == "NaturalExpDecay":
        args = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")
        lr, steps, rate, stair = (config[k] for k in args)
        return lambda step: _value(v1.natural_exp_decay(lr, step, steps, rate, stair))
    if name == "LinearCosineDecay" and not isinstance(config["initial_learning_rate"], np.float64):
        # TensorFlow builds pi as a float32 constant: its float64 version raises.
        keys = ("decay_steps", "num_periods", "alpha", "beta")
        lr, kwargs = config["initial_learning_rate"], {k: config[k] for k in keys}
        return lambda step: _value(v1.linear_cosine_decay(lr, step, **kwargs))
    return None


def _value(decayed: Any) -> Any:
    # tf.compat.v1.train schedules return a callable eagerly and a tensor in a graph.
    return decayed() if callable(decayed) else decayed


def _per_step(schedule: Callable[[Any], Any], steps: Any) -> Any:
    """``schedule`` at every step, called eagerly with a scalar int64 tensor as an
    optimizer's ``learning_rate`` property does."""
    return np.array([np.asarray(schedule(tf.constant(int(s), tf.int64))) for s in steps])


def _keras_values(schedules: Sequence[Any], steps: Any, mode: str) -> np.ndarray:
    """Every schedule of ``schedules`` at every step, as ``mode`` runs it: eagerly, one
    call per step (values in the schedule's dtype), or the float32 rate the compiled
    train step applies, read by :func:`keras_adapter.oracle.compiled_rates` (graph mode:
    one ``tf.function`` for all of them, looping over the steps)."""
    if mode == "eager":
        return np.stack([_per_step(schedule, steps) for schedule in schedules])
    return compiled_rates(schedules, steps, mode=mode)


def _bounded(
    pair: str, got: np.ndarray, want: np.ndarray, bound: tuple[int, Any], steps: Any
) -> np.ndarray:
    """Where ``pair``'s values are out of bounds: the two Keras implementations at 0
    ulp; refimpl against either within ``bound`` (``(ulps, atol)``) and deciding the same
    (:func:`refimpl.modes.differences.decided_apart`)."""
    dist = ulp_distance(got, want, want.dtype)
    if not pair.endswith("refimpl"):
        return np.asarray(dist > 0)
    ulps, atol = bound
    bad = ~within_bounds(got, want, ulps=ulps, atol=atol(steps))
    apart = decided_apart(got, want)
    return np.asarray(bad | apart)


def compare(
    names: Sequence[str],
    *,
    dtypes: Sequence[str] = _DTYPES,
    n_configs: int = 10,
    n_steps: int = 32,
    seed: int = 0,
    mode: str = "eager",
    strict: bool = False,
    horizon: int = 0,
) -> list[ParityRow]:
    """Evaluate refimpl, the adapter and the built-in for every schedule and dtype.

    ``horizon``: also every step ``0 .. horizon - 1`` (a whole training run).  See the
    module docstring for what is compared and the bounds.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 0:
        raise ValueError(f"horizon must be an int >= 0. Received: horizon={horizon!r}")
    rows = []
    for name in names:
        configs = draw_configs(name, n_configs, seed)
        for dtype in dtypes:
            rng = np.random.default_rng([seed, sum(map(ord, name)), len(dtype)])
            chosen = [as_float64(name, c) if dtype == "float64" else c for c in configs]
            # One grid for all the configs (every config's edges and random steps), so
            # that the compiled modes evaluate them all in one call.
            grids = [step_grid(name, c, n_steps, rng) for c in configs]
            steps = np.unique(np.concatenate([np.arange(horizon, dtype=np.int64), *grids]))
            references = [ref.deserialize({"class_name": name, "config": c}) for c in chosen]
            keras_side: dict[str, list[Any]] = {
                "adapter": [ADAPTERS[name].from_config(c) for c in chosen],
                "builtin": [_builtin(name, c) for c in chosen],
            }
            listed = [s for side in keras_side.values() for s in side if s is not None]
            computed = iter(_keras_values(listed, steps, mode))
            per_config: list[dict[str, np.ndarray]] = [{} for _ in chosen]
            for side, schedules in keras_side.items():
                for values, schedule in zip(per_config, schedules, strict=True):
                    if schedule is not None:
                        values[side] = next(computed)
            worst: dict[str, tuple[int, int, dict[str, Any]]] = {}  # pair: (ulp, step, config)
            violations: dict[str, int] = {}
            first_violation: tuple[int, int, str, dict[str, Any]] | None = None
            for config, reference, values in zip(chosen, references, per_config, strict=True):
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore", ScheduleWarning)  # 2**24 on purpose
                    values["refimpl"] = np.asarray(reference(steps, mode=mode))
                want = values["refimpl"].dtype
                bound = (0, _no_atol) if strict else reference.rounding_bound(dtype)
                for pair in PAIRS:
                    a, b = pair.split("-")
                    if a not in values or b not in values:
                        continue
                    got, other = values[a].astype(want), values[b].astype(want)
                    dist = ulp_distance(got, other, want)
                    i = int(np.argmax(dist))
                    if pair not in worst or int(dist[i]) > worst[pair][0]:
                        worst[pair] = (int(dist[i]), int(steps[i]), config)
                    bad = _bounded(pair, got, other, bound, steps)
                    if bad.any():
                        violations[pair] = violations.get(pair, 0) + int(bad.sum())
                        j = int(np.flatnonzero(bad)[0])
                        if first_violation is None:
                            first_violation = (int(dist[j]), int(steps[j]), pair, config)
            if first_violation is not None:
                ulp, step, pair, config = first_violation
            elif worst:
                pair = max(worst, key=lambda p: worst[p][0])
                ulp, step, config = worst[pair]
            else:  # pragma: no cover - every schedule has an adapter
                ulp, step, pair, config = 0, 0, "-", {}
            rows.append(
                ParityRow(
                    schedule=name,
                    dtype=dtype,
                    configs=len(configs),
                    steps=len(configs) * len(steps),
                    worst_ulp=ulp,
                    worst_step=step,
                    worst_pair=pair,
                    ok=not violations,
                    pairs={p: w[0] for p, w in worst.items()},
                    violations=violations,
                    worst_config=_jsonable(config),
                )
            )
    return rows


def _no_atol(steps: Any) -> Any:
    return np.zeros(np.shape(steps))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- output ------------------------------------------------------------------------------


def format_table(rows: Sequence[ParityRow]) -> str:
    """The rows as an aligned text table (``ok`` is ``NO`` with the violating pair)."""
    header: tuple[str, ...] = ("schedule", "dtype", "configs", "steps", "worst ulp")
    header += ("worst step", "pair", *(f"{p} ulp" for p in PAIRS), "ok")
    lines: list[tuple[str, ...]] = [header]
    for r in rows:
        per_pair = tuple(str(r.pairs[p]) if p in r.pairs else "-" for p in PAIRS)
        verdict = (
            "yes" if r.ok else "NO " + ", ".join(f"{p}: {n} steps" for p, n in r.violations.items())
        )
        lines.append(
            (
                r.schedule,
                r.dtype,
                str(r.configs),
                str(r.steps),
                str(r.worst_ulp),
                "-" if r.worst_step is None else str(r.worst_step),
                r.worst_pair or "-",
                *per_pair,
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines
    )


def summary(rows: Sequence[ParityRow], seconds: float, mode: str) -> str:
    """One line under the table: rows, config-steps, speed and the verdict."""
    steps = sum(r.steps for r in rows)
    bad = [f"{r.schedule}/{r.dtype}" for r in rows if not r.ok]
    verdict = "all within bounds" if not bad else f"OUT OF BOUNDS: {', '.join(bad)}"
    return (
        f"mode={mode}: {len(rows)} rows, {steps} config-steps in {seconds:.1f} s "
        f"({steps / max(seconds, 1e-9):.0f} config-steps/s); {verdict}"
    )
