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

Each Keras implementation is called once per step with a scalar int64 step, as an
optimizer calls it, either eagerly (``--mode eager``, the value
``float(optimizer.learning_rate)`` reports) or inside a ``tf.function`` as
``model.fit`` runs it (``--mode graph``: TensorFlow's default on CPU; ``--mode xla``:
``jit_compile=True``, the default on GPU).  It prints one row per schedule and dtype:
configs, steps, the worst ulp distance between any two implementations, the step and
the pair where it occurred, and the bound.

Documented bounds:

- ``adapter`` vs ``builtin``: 0 ulp in every mode -- the same ``keras.ops`` calls,
  compiled the same way.
- ``refimpl`` vs ``adapter`` / ``builtin`` in ``eager`` mode: refimpl's documented
  accuracy (:func:`tolerance`): 0 ulp for the formulas without a transcendental
  function (piecewise, inverse time, time-based), otherwise 2 ulp plus the forward
  error of one ulp in TensorFlow's ``cos``/``log``/``exp``/``pow`` carried through the
  formula (TensorFlow's are within 1 ulp of the correctly rounded value, refimpl's are
  correctly rounded).
- ``refimpl`` in ``graph``/``xla`` mode: reported, not bounded (``--strict`` applies
  the eager bound).  TensorFlow's graph optimizer (Grappler's constant folding) and
  XLA rewrite ``x / c`` with a constant ``c`` as ``x * (1 / c)``, so ``step /
  decay_steps`` can be one ulp off inside ``model.fit``.  Measured on TensorFlow 2.21:
  a staircase ``ExponentialDecay``/``InverseTimeDecay`` with ``decay_steps=61``
  switches one step late (``61 * float32(1/61) < 1``; 135 of the decay_steps 1..1000
  do this at some multiple up to 100), ``PolynomialDecay`` with a fractional
  ``power`` is NaN at ``step == decay_steps`` under XLA for most decay_steps, and the
  restart index of ``CosineDecayRestarts`` moves at some restart steps.
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

from keras_adapter.schedules import ADAPTERS
from refimpl import schedules as ref
from refimpl.cli.parity import MODES
from refimpl.comparison import tolerance, ulp_distance, within_bounds
from refimpl.exceptions import ScheduleWarning

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
    ``np.float64`` (Keras's rule: the dtype is that of ``initial_learning_rate``).

    >>> as_float64("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 1,
    ...                                 "decay_rate": 0.5})["initial_learning_rate"]
    np.float64(0.1)
    """
    out = dict(config)
    if name == "PiecewiseConstantDecay":
        out["values"] = [np.float64(v) for v in config["values"]]
    elif name == "LinearWarmup":
        out["schedule"] = _child_float64(config["schedule"])
    elif name == "SequentialSchedule":
        out["schedules"] = [_child_float64(child) for child in config["schedules"]]
    elif isinstance(config.get("initial_learning_rate"), dict):
        out["initial_learning_rate"] = _child_float64(config["initial_learning_rate"])
    elif "initial_learning_rate" in config:
        out["initial_learning_rate"] = np.float64(config["initial_learning_rate"])
    return out


def _child_float64(serialized: dict[str, Any]) -> dict[str, Any]:
    name = serialized["registered_name"] or serialized["class_name"]
    name = name.split(">", 1)[-1]
    return {**serialized, "config": as_float64(name, serialized["config"])}


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


def _per_step(schedule: Callable[[Any], Any], steps: Any, mode: str) -> Any:
    """``schedule`` at every step, called with a scalar int64 tensor as an optimizer does."""
    if mode == "eager":
        call = schedule
    else:
        call = tf.function(schedule, jit_compile=(mode == "xla"), reduce_retracing=True)
    return np.array([np.asarray(call(tf.constant(int(s), tf.int64))) for s in steps])


def compare(
    names: Sequence[str],
    *,
    dtypes: Sequence[str] = _DTYPES,
    n_configs: int = 10,
    n_steps: int = 32,
    seed: int = 0,
    mode: str = "eager",
    strict: bool = False,
) -> list[ParityRow]:
    """Evaluate refimpl, the adapter and the built-in for every schedule and dtype.

    See the module docstring for what is compared and the bounds.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
    rows = []
    for name in names:
        configs = draw_configs(name, n_configs, seed)
        for dtype in dtypes:
            rng = np.random.default_rng([seed, sum(map(ord, name)), len(dtype)])
            worst: dict[str, tuple[int, int, dict[str, Any]]] = {}  # pair: (ulp, step, config)
            violations: dict[str, int] = {}
            first_violation: tuple[int, int, str, dict[str, Any]] | None = None
            total_steps = 0
            for base in configs:
                config = as_float64(name, base) if dtype == "float64" else base
                steps = step_grid(name, base, n_steps, rng)
                total_steps += len(steps)
                reference = ref.deserialize({"class_name": name, "config": config})
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ScheduleWarning)  # 2**24 on purpose
                    values = {"refimpl": np.asarray(reference(steps))}
                adapter = ADAPTERS[name].from_config(config)
                values["adapter"] = _per_step(adapter, steps, mode)
                builtin = _builtin(name, config)
                if builtin is not None:
                    values["builtin"] = _per_step(builtin, steps, mode)
                want = values["refimpl"].dtype
                ulps, atol = tolerance(name, config, dtype)
                for pair in PAIRS:
                    a, b = pair.split("-")
                    if a not in values or b not in values:
                        continue
                    got, other = values[a].astype(want), values[b].astype(want)
                    dist = ulp_distance(got, other, want)
                    i = int(np.argmax(dist))
                    if pair not in worst or int(dist[i]) > worst[pair][0]:
                        worst[pair] = (int(dist[i]), int(steps[i]), config)
                    if b == "refimpl" and mode != "eager" and not strict:
                        continue  # reported, not bounded
                    if b == "refimpl":
                        bad = ~within_bounds(got, other, ulps=ulps, atol=atol(steps))
                    else:
                        bad = dist > 0
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
                    steps=total_steps,
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
