"""Property-testing toolkit: Hypothesis strategies and a ulp-exact comparison.

Users drop these into their own CI to check a schedule (their own Keras schedule, or
a Keras built-in on their TensorFlow version) against the reference.  Here "your"
schedule is an ExponentialDecay written out in NumPy float32 the way Keras computes it
(TensorFlow's CPU kernels flush a subnormal result to zero, so it does too):

>>> import numpy as np
>>> from hypothesis import given, settings, strategies as st
>>> from refimpl.schedules import ExponentialDecay
>>> from refimpl.testing import assert_schedules_match, edge_steps, schedule_configs, steps
>>> def my_exponential_decay(config):
...     def schedule(step):
...         p = np.float32(step) / np.float32(config["decay_steps"])
...         if config["staircase"]:
...             p = np.floor(p)
...         with np.errstate(over="ignore", under="ignore"):  # decay_rate > 1 overflows
...             value = np.float32(config["initial_learning_rate"]) * (
...                 np.float32(config["decay_rate"]) ** p)
...         return value if abs(value) >= np.finfo(np.float32).tiny else np.float32(0.0)
...     return schedule
>>> @settings(max_examples=20, derandomize=True, database=None, deadline=None)
... @given(config=schedule_configs("ExponentialDecay"), data=st.data())
... def test_my_schedule(config, data):
...     at = data.draw(steps(edges=edge_steps("ExponentialDecay", config)))
...     ours = my_exponential_decay(config)
...     assert_schedules_match(ours, ExponentialDecay(**config), at, ulps=2)
>>> test_my_schedule()

Imports nothing heavier than NumPy and Hypothesis.  The comparison itself
(:func:`ulp_distance`, :func:`within_bounds`, :func:`tolerance`) lives in
:mod:`refimpl.comparison`, which needs NumPy only; it is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from refimpl.comparison import tolerance, ulp_distance, within_bounds
from refimpl.schedules import EXTRA_SCHEDULES, KERAS_SCHEDULES

__all__ = [
    "SCHEDULE_NAMES",
    "assert_schedules_match",
    "edge_steps",
    "schedule_configs",
    "steps",
    "tolerance",
    "ulp_distance",
    "within_bounds",
]

#: Every schedule the strategies know, Keras's six first.
SCHEDULE_NAMES: tuple[str, ...] = (*KERAS_SCHEDULES, *EXTRA_SCHEDULES)

#: The largest step we generate by default: float32's exact-integer limit.
MAX_STEP = 2**24

# --- building blocks -----------------------------------------------------------------------


def _rates(lo: float = 1e-5, hi: float = 1.0) -> st.SearchStrategy[float]:
    """Learning rates spread over decades (log-uniform)."""
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: float(10.0**e))


def _decay_steps() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, 100), st.integers(1, 10_000), st.integers(1, 1_000_000))


def _fraction() -> st.SearchStrategy[float]:
    return st.floats(0.0, 1.0)


@st.composite
def _exponential(draw: st.DrawFn, name: str = "ExponentialDecay") -> dict[str, Any]:
    return {
        "initial_learning_rate": draw(_rates()),
        "decay_steps": draw(_decay_steps()),
        "decay_rate": draw(st.floats(0.01, 1.5)),
        "staircase": draw(st.booleans()),
        "name": name,
    }


@st.composite
def _piecewise(draw: st.DrawFn) -> dict[str, Any]:
    bounds = sorted(draw(st.sets(st.integers(1, 100_000), min_size=1, max_size=6)))
    values = draw(st.lists(_rates(), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return {"boundaries": bounds, "values": values, "name": "PiecewiseConstant"}


@st.composite
def _polynomial(draw: st.DrawFn) -> dict[str, Any]:
    initial = draw(_rates())
    return {
        "initial_learning_rate": initial,
        "decay_steps": draw(_decay_steps()),
        "end_learning_rate": initial * draw(_fraction()),
        "power": draw(st.one_of(st.just(1.0), st.floats(0.1, 5.0))),
        "cycle": draw(st.booleans()),
        "name": "PolynomialDecay",
    }


@st.composite
def _inverse_time(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "initial_learning_rate": draw(_rates()),
        "decay_steps": draw(_decay_steps()),
        "decay_rate": draw(st.floats(0.0, 10.0)),
        "staircase": draw(st.booleans()),
        "name": "InverseTimeDecay",
    }


@st.composite
def _cosine(draw: st.DrawFn) -> dict[str, Any]:
    warm = draw(st.booleans())
    return {
        "initial_learning_rate": draw(_rates()),
        "decay_steps": draw(_decay_steps()),
        "alpha": draw(_fraction()),
        "name": "CosineDecay",
        "warmup_target": draw(_rates()) if warm else None,
        "warmup_steps": draw(st.integers(0, 10_000)) if warm else 0,
    }


@st.composite
def _restarts(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "initial_learning_rate": draw(_rates()),
        "first_decay_steps": draw(_decay_steps()),
        # 1 + 1e-10 is 1 once cast (through float32, also for float64): Keras's branch.
        # Below 1 the periods add up to a finite horizon with NaN beyond: not valid.
        "t_mul": draw(st.sampled_from([1.0, 2.0, 1 + 1e-10]) | st.floats(1.0, 4.0)),
        "m_mul": draw(st.floats(0.1, 1.5)),
        "alpha": draw(_fraction()),
        "name": "SGDRDecay",
    }


@st.composite
def _time_based(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "initial_learning_rate": draw(_rates()),
        "decay": draw(st.one_of(st.just(0.0), st.floats(0.0, 0.1))),
        "name": "TimeBasedDecay",
    }


@st.composite
def _natural_exp(draw: st.DrawFn) -> dict[str, Any]:
    config = draw(_exponential("NaturalExpDecay"))
    config["decay_rate"] = draw(st.floats(0.0, 5.0))
    return config


def _linear_cosine_fields(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "initial_learning_rate": draw(_rates()),
        "decay_steps": draw(_decay_steps()),
        "num_periods": draw(st.floats(0.0, 5.0)),
        "alpha": draw(_fraction()),
        "beta": draw(st.floats(0.0, 0.1)),
    }


@st.composite
def _linear_cosine(draw: st.DrawFn) -> dict[str, Any]:
    return {**_linear_cosine_fields(draw), "name": "LinearCosineDecay"}


@st.composite
def _noisy_linear_cosine(draw: st.DrawFn) -> dict[str, Any]:
    fields = _linear_cosine_fields(draw)
    return {
        "initial_learning_rate": fields["initial_learning_rate"],
        "decay_steps": fields["decay_steps"],
        "initial_variance": draw(st.floats(0.0, 2.0)),
        "variance_decay": draw(st.floats(0.0, 2.0)),
        "num_periods": fields["num_periods"],
        "alpha": fields["alpha"],
        "beta": fields["beta"],
        "name": "NoisyLinearCosineDecay",
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


_KERAS_STRATEGIES: dict[str, Callable[[], st.SearchStrategy[dict[str, Any]]]] = {
    "ExponentialDecay": _exponential,
    "PiecewiseConstantDecay": _piecewise,
    "PolynomialDecay": _polynomial,
    "InverseTimeDecay": _inverse_time,
    "CosineDecay": _cosine,
    "CosineDecayRestarts": _restarts,
}


def _serialized_keras_schedule() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sorted(_KERAS_STRATEGIES)).flatmap(
        lambda name: _KERAS_STRATEGIES[name]().map(
            lambda config: {
                "module": "keras.optimizers.schedules",
                "class_name": name,
                "config": config,
                "registered_name": None,
            }
        )
    )


@st.composite
def _linear_warmup(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "schedule": draw(_serialized_keras_schedule()),
        "warmup_steps": draw(st.integers(0, 10_000)),
        "initial_learning_rate": draw(st.one_of(st.just(0.0), _rates())),
        "name": "LinearWarmup",
    }


@st.composite
def _sequential(draw: st.DrawFn) -> dict[str, Any]:
    children = draw(st.lists(_serialized_keras_schedule(), min_size=2, max_size=3))
    bounds = sorted(
        draw(
            st.sets(st.integers(1, 100_000), min_size=len(children) - 1, max_size=len(children) - 1)
        )
    )
    return {"schedules": children, "boundaries": bounds, "name": "SequentialSchedule"}


_STRATEGIES: dict[str, Callable[[], st.SearchStrategy[dict[str, Any]]]] = {
    **_KERAS_STRATEGIES,
    "TimeBasedDecay": _time_based,
    "NaturalExpDecay": _natural_exp,
    "LinearCosineDecay": _linear_cosine,
    "NoisyLinearCosineDecay": _noisy_linear_cosine,
    "LinearWarmup": _linear_warmup,
    "SequentialSchedule": _sequential,
}


def schedule_configs(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid ``get_config()`` dicts of schedule ``name`` (Keras's keys; Python floats).

    "Valid" means Keras and refimpl accept them without a warning: positive horizons,
    strictly increasing boundaries, rates that never produce NaN.

    >>> schedule_configs("ExponentialDecay")
    _exponential()
    """
    if name not in _STRATEGIES:
        raise ValueError(f"Unknown schedule name={name!r}. Known: {sorted(_STRATEGIES)}")
    return _STRATEGIES[name]()


def _children_edges(config: dict[str, Any]) -> list[int]:
    edges: list[int] = []
    for key, value in config.items():
        if key in ("decay_steps", "first_decay_steps", "warmup_steps"):
            base = int(value)
            edges += [base, base + (config.get("warmup_steps", 0) if key == "decay_steps" else 0)]
    for b in config.get("boundaries", []):
        edges.append(int(b))
    return edges


def edge_steps(name: str, config: dict[str, Any]) -> list[int]:
    """The steps where schedule ``name`` with ``config`` changes regime, each ±1.

    Step 0, every boundary, ``decay_steps`` (and its multiples for staircase/cycle),
    the warmup end, restart steps of ``CosineDecayRestarts``, and ``2**24``.

    >>> edge_steps("PiecewiseConstantDecay", {"boundaries": [10], "values": [1.0, 0.5]})
    [0, 1, 9, 10, 11, 16777215, 16777216]
    """
    edges = [0, MAX_STEP]
    edges += _children_edges(config)
    if name in ("ExponentialDecay", "InverseTimeDecay", "NaturalExpDecay") and config.get(
        "staircase"
    ):
        edges += [k * int(config["decay_steps"]) for k in (1, 2, 3)]
    if name == "PolynomialDecay" and config.get("cycle"):
        edges += [k * int(config["decay_steps"]) for k in (2, 3)]
    if name == "CosineDecayRestarts":
        first, t_mul = float(config["first_decay_steps"]), float(config["t_mul"])
        total, period = 0.0, first
        for _ in range(40):
            total += period
            period *= t_mul
            if total > MAX_STEP or period < 1e-9:
                break
            edges.append(round(total))
    if name == "LinearWarmup":
        w = int(config["warmup_steps"])
        inner = config["schedule"]
        edges += [w] + [w + e for e in edge_steps(inner["class_name"], inner["config"])]
    if name == "SequentialSchedule":
        for b, child in zip([0, *config["boundaries"]], config["schedules"]):
            edges += [b + e for e in edge_steps(child["class_name"], child["config"])]
    out = {e + d for e in edges for d in (-1, 0, 1)}
    return sorted(e for e in out if 0 <= e <= MAX_STEP)


def steps(
    *,
    edges: Iterable[int] = (),
    max_step: int = MAX_STEP,
    min_size: int = 1,
    max_size: int = 32,
) -> st.SearchStrategy[np.ndarray]:
    """int64 arrays of steps in ``[0, max_step]``: the given ``edges`` plus random ones.

    Random steps favour small values (where schedules change most) as well as the
    whole range.

    >>> from hypothesis import given
    >>> @given(steps(edges=[0, 10]))
    ... def check(arr):
    ...     assert arr.dtype == np.int64 and {0, 10} <= set(arr.tolist())
    >>> check()
    """
    fixed = sorted({int(e) for e in edges if 0 <= int(e) <= max_step})
    anywhere = st.one_of(st.integers(0, min(max_step, 10_000)), st.integers(0, max_step))
    return st.lists(anywhere, min_size=min_size, max_size=max_size).map(
        lambda extra: np.array(sorted(set(fixed) | set(extra)), dtype=np.int64)
    )


# --- comparison ----------------------------------------------------------------------------


def _values(schedule: Callable[[Any], Any], at: np.ndarray, vectorized: bool) -> np.ndarray:
    if vectorized:
        return np.asarray(schedule(at)).reshape(at.shape)
    return np.array([np.asarray(schedule(int(s))) for s in at.ravel()]).reshape(at.shape)


def assert_schedules_match(
    actual: Callable[[Any], Any],
    reference: Callable[[Any], Any],
    steps: Sequence[int] | np.ndarray,
    *,
    ulps: int = 0,
    atol: Callable[[np.ndarray], Any] | float = 0.0,
    vectorized: bool = False,
) -> None:
    """Assert ``actual(step)`` equals ``reference(step)`` within ``ulps`` at every step.

    Both schedules are called once per step with a Python int (the reference point,
    as an optimizer calls a schedule) unless ``vectorized=True``, which calls each
    once on the whole array.  The distance is counted in ulps of the reference's
    dtype; ``atol`` (a number, or a function of the step array) adds a documented
    absolute forward-error bound where a formula cancels: then a value within ``atol``
    plus ``ulps`` ulp (of the reference) passes too -- the bound covers the error that
    reaches the result, the ulps the roundings of the result itself.  On failure the
    message names the first mismatching step, both values and the distance.  An empty
    ``steps`` is refused (``ValueError``): a check of nothing would pass silently.

    >>> from refimpl.schedules import InverseTimeDecay
    >>> assert_schedules_match(InverseTimeDecay(0.1, 10, 1.0),
    ...                        lambda s: 0.1 / (1 + s / 10), [0, 10])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: schedules differ at step 0: ...
    """
    at = np.asarray(steps)
    if at.size == 0:
        raise ValueError(
            "assert_schedules_match needs at least one step: an empty check passes "
            f"whatever the schedules compute. Received: steps={steps!r}"
        )
    got = _values(actual, at, vectorized)
    want = _values(reference, at, vectorized)
    dtype = want.dtype if want.dtype.kind == "f" else np.dtype(np.float64)
    dist = ulp_distance(got.astype(dtype), want, dtype)
    extra = np.broadcast_to(atol(at) if callable(atol) else float(atol), want.shape)
    bad = ~within_bounds(got, want, ulps=ulps, atol=extra)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise AssertionError(
            f"schedules differ at step {at.ravel()[i]}: actual={got.ravel()[i]!r} "
            f"({got.dtype}), reference={want.ravel()[i]!r} ({want.dtype}), "
            f"{int(dist.ravel()[i])} ulp apart (allowed {ulps} ulp"
            + (f", or {float(extra.ravel()[i]):.3g} absolute plus that" if np.any(extra) else "")
            + f"); {int(bad.sum())} of {bad.size} steps differ"
        )
