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
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from refimpl.comparison import tolerance, ulp_distance, within_bounds
from refimpl.exceptions import ScheduleWarning
from refimpl.schedules import EXTRA_SCHEDULES, KERAS_SCHEDULES

__all__ = [
    "OPTAX_SCHEDULE_NAMES",
    "SCHEDULE_NAMES",
    "TORCH_SCHEDULER_NAMES",
    "TorchFactor",
    "assert_schedules_match",
    "build_optax_schedule",
    "build_torch_scheduler",
    "edge_steps",
    "optax_constant_schedule",
    "optax_cosine_decay_schedule",
    "optax_cosine_onecycle_schedule",
    "optax_edge_counts",
    "optax_exponential_decay",
    "optax_join_schedules",
    "optax_linear_onecycle_schedule",
    "optax_linear_schedule",
    "optax_piecewise_constant_schedule",
    "optax_piecewise_interpolate_schedule",
    "optax_polynomial_schedule",
    "optax_schedule_configs",
    "optax_sgdr_schedule",
    "optax_warmup_cosine_decay_schedule",
    "optax_warmup_exponential_decay_schedule",
    "schedule_batches",
    "schedule_configs",
    "steps",
    "tolerance",
    "torch_base_rates",
    "torch_chained_scheduler",
    "torch_constant_lr",
    "torch_cosine_annealing_lr",
    "torch_cosine_annealing_warm_restarts",
    "torch_edge_steps",
    "torch_exponential_lr",
    "torch_lambda_lr",
    "torch_linear_lr",
    "torch_multi_step_lr",
    "torch_multiplicative_lr",
    "torch_one_cycle_lr",
    "torch_polynomial_lr",
    "torch_rates",
    "torch_scheduler_configs",
    "torch_sequential_lr",
    "torch_step_lr",
    "training_runs",
    "training_steps",
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


@st.composite
def schedule_batches(
    draw: st.DrawFn, name: str, *, size: int = 4, dtype: str = "float32"
) -> list[Any]:
    """``size`` refimpl schedules of class ``name``, computing in ``dtype`` (a batch is
    checked against one compiled TensorFlow function).

    >>> from hypothesis import find
    >>> batch = find(schedule_batches("ExponentialDecay", size=2, dtype="float64"), lambda b: True)
    >>> len(batch), str(batch[0].dtype)
    (2, 'float64')
    """
    from refimpl.schedules import schedule_class

    cls = schedule_class(name)
    batch = [cls.from_config(draw(schedule_configs(name))) for _ in range(size)]
    return [s.with_dtype(dtype) for s in batch] if dtype != "float32" else batch


@st.composite
def training_runs(draw: st.DrawFn, *, max_steps: int = 20_000) -> Any:
    """Training runs (:class:`refimpl.runs.TrainingRun`) of at most ``max_steps`` steps:
    one epoch or many, one step an epoch or hundreds, a partial last batch or not.

    >>> from hypothesis import find
    >>> find(training_runs(), lambda run: run.epochs > 1 and run.steps_per_epoch > 1)
    TrainingRun(samples=2, batch_size=1, epochs=2)
    """
    from refimpl.runs import TrainingRun

    batch_size = draw(st.sampled_from([1, 7, 32, 64, 128]) | st.integers(1, 1000))
    epochs = draw(st.integers(1, 12))
    per_epoch = draw(st.integers(1, max(1, max_steps // epochs)))
    samples = draw(st.integers((per_epoch - 1) * batch_size + 1, per_epoch * batch_size))
    return TrainingRun(samples, batch_size, epochs)


@st.composite
def training_steps(draw: st.DrawFn, schedules: Sequence[Any], *, random: int = 24) -> np.ndarray:
    """Steps at which to check ``schedules``: every edge of each (step 0, boundaries,
    decay and warmup ends, restarts) and its neighbours, ``2**24`` and its neighbours,
    and ``random`` more, small and large; int64, sorted, unique.

    >>> from hypothesis import find
    >>> from refimpl.schedules import PiecewiseConstantDecay
    >>> at = find(training_steps([PiecewiseConstantDecay([10], [1.0, 0.5])], random=0), lambda a: True)
    >>> at.tolist()
    [0, 1, 9, 10, 11, 16777215, 16777216, 16777217]
    """
    edges = {MAX_STEP} | {e for s in schedules for e in s.edge_steps()}
    near = {e + d for e in edges for d in (-1, 0, 1) if 0 <= e + d <= MAX_STEP + 1}
    anywhere = st.one_of(st.integers(0, 10_000), st.integers(0, MAX_STEP))
    extra = draw(st.lists(anywhere, min_size=random, max_size=random))
    return np.array(sorted(near | set(extra)), dtype=np.int64)


def edge_steps(name: str, config: dict[str, Any]) -> list[int]:
    """The steps where schedule ``name`` with ``config`` changes regime, each ±1: the
    class's own :meth:`~refimpl.schedules.LearningRateSchedule.edge_steps` (step 0,
    boundaries, the end of a decay or warmup, staircase switches, restarts) and
    ``2**24``, float32's exact-integer limit.

    >>> edge_steps("PiecewiseConstantDecay", {"boundaries": [10], "values": [1.0, 0.5]})
    [0, 1, 9, 10, 11, 16777215, 16777216]
    """
    from refimpl.schedules import schedule_class

    with warnings.catch_warnings():  # the caller builds the schedule and sees its warnings
        warnings.simplefilter("ignore", ScheduleWarning)
        schedule = schedule_class(name).from_config(config)
    edges = [*schedule.edge_steps(), MAX_STEP]
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


# --- torch.optim.lr_scheduler ---------------------------------------------------------------
#
# Configurations of refimpl.torch.lr_scheduler's schedulers (the constructor arguments
# after the base rate), drawn small enough that a few hundred steps cross every regime:
# build the scheduler with :func:`build_torch_scheduler`, the steps to pin with
# :func:`torch_edge_steps`.  Composite schedulers take ``{"schedulers": [(name, config),
# ...], ...}``.


class TorchFactor:
    """A picklable ``lr_lambda`` for ``LambdaLR``/``MultiplicativeLR``: a callable object
    (torch saves its ``__dict__`` in ``state_dict()``, unlike a lambda's).

    ``kind`` is ``"power"`` (``a ** epoch``), ``"inverse"`` (``1 / (1 + a * epoch)``),
    ``"warmup"`` (``min(1.0, (epoch + 1) / a)``) or ``"constant"`` (``a``).

    >>> TorchFactor("inverse", 0.5)(2)
    0.5
    """

    def __init__(self, kind: str, a: float) -> None:
        self.kind = kind
        self.a = a

    def __call__(self, epoch: int) -> float:
        if self.kind == "power":
            return self.a**epoch
        if self.kind == "inverse":
            return 1.0 / (1.0 + self.a * epoch)
        if self.kind == "warmup":
            return min(1.0, (epoch + 1) / self.a)
        return self.a

    def __repr__(self) -> str:
        return f"TorchFactor({self.kind!r}, {self.a!r})"


def torch_base_rates() -> st.SearchStrategy[float]:
    """Base rates (Python floats) over decades."""
    return _rates(1e-4, 1.0)


def torch_rates() -> st.SearchStrategy[Any]:
    """Base rates as torch takes them: a Python float (torch computes in float64) or an
    ``np.float32`` (a float32 tensor rate, ``SGD(params, lr=torch.tensor(x))``).

    >>> from hypothesis import find
    >>> type(find(torch_rates(), lambda lr: isinstance(lr, np.float32))).__name__
    'float32'
    """
    return st.one_of(torch_base_rates(), torch_base_rates().map(np.float32))


def _gammas() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.1, 0.5, 0.9, 0.99]), st.floats(0.01, 1.2))


@st.composite
def torch_step_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {"step_size": draw(st.integers(1, 60)), "gamma": draw(_gammas())}


@st.composite
def torch_multi_step_lr(draw: st.DrawFn) -> dict[str, Any]:
    milestones = draw(st.lists(st.integers(0, 250), min_size=0, max_size=5))
    return {"milestones": milestones, "gamma": draw(_gammas())}


@st.composite
def torch_constant_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "factor": draw(st.sampled_from([1.0 / 3, 0.5, 1.0]) | st.floats(0.01, 1.0)),
        "total_iters": draw(st.integers(1, 120)),
    }


@st.composite
def torch_linear_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "start_factor": draw(st.sampled_from([1.0 / 3, 0.1, 1.0]) | st.floats(0.001, 1.0)),
        "end_factor": draw(st.sampled_from([1.0, 0.0]) | st.floats(0.0, 1.0)),
        "total_iters": draw(st.integers(1, 120)),
    }


@st.composite
def torch_exponential_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {"gamma": draw(st.sampled_from([0.9, 0.99, 0.9999]) | st.floats(0.5, 1.05))}


@st.composite
def torch_cosine_annealing_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "T_max": draw(st.integers(1, 120)),
        "eta_min": draw(st.sampled_from([0.0, 0.0]) | st.floats(0.0, 1e-3)),
    }


@st.composite
def torch_cosine_annealing_warm_restarts(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "T_0": draw(st.integers(1, 60)),
        "T_mult": draw(st.sampled_from([1, 1, 2, 3])),
        "eta_min": draw(st.sampled_from([0.0, 0.0]) | st.floats(0.0, 1e-3)),
    }


@st.composite
def torch_polynomial_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "total_iters": draw(st.integers(1, 150)),
        "power": draw(st.sampled_from([1.0, 2.0, 0.5, 0.0]) | st.floats(0.0, 4.0)),
    }


def _factors(multiplicative: bool) -> st.SearchStrategy[TorchFactor]:
    if multiplicative:  # factors near 1: a rate that neither vanishes nor explodes
        return st.one_of(
            st.floats(0.95, 1.0).map(lambda a: TorchFactor("constant", a)),
            st.floats(0.0, 0.05).map(lambda a: TorchFactor("inverse", a)),
        )
    return st.one_of(
        st.floats(0.9, 1.0).map(lambda a: TorchFactor("power", a)),
        st.floats(0.0, 1.0).map(lambda a: TorchFactor("inverse", a)),
        st.floats(1.0, 100.0).map(lambda a: TorchFactor("warmup", a)),
    )


@st.composite
def torch_lambda_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {"lr_lambda": draw(_factors(multiplicative=False))}


@st.composite
def torch_multiplicative_lr(draw: st.DrawFn) -> dict[str, Any]:
    return {"lr_lambda": draw(_factors(multiplicative=True))}


@st.composite
def torch_one_cycle_lr(draw: st.DrawFn) -> dict[str, Any]:
    total = draw(st.integers(2, 300))
    # pct_start * total_steps == 1 divides by zero in torch (a first phase of no
    # length); pct_start == 1.0 at the extra step: both pinned by their own tests.
    pct = draw(
        st.sampled_from([0.3, 0.25, 0.5]) | st.floats(0.0, 0.99).filter(lambda p: p * total != 1)
    )
    three = draw(st.booleans())
    if three and (2 * pct * total - 2 == total - 1 or pct * total == 1):
        three = False
    return {
        "max_lr": draw(_rates(1e-3, 1.0)),
        "total_steps": total,
        "pct_start": pct,
        "anneal_strategy": draw(st.sampled_from(["cos", "linear"])),
        "div_factor": draw(st.sampled_from([25.0, 10.0]) | st.floats(1.0, 100.0)),
        "final_div_factor": draw(st.sampled_from([1e4, 100.0]) | st.floats(1.0, 1e5)),
        "three_phase": three,
    }


#: Schedulers that may be a child of SequentialLR / ChainedScheduler in the strategies.
_TORCH_CHILDREN = (
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "PolynomialLR",
    "LambdaLR",
    "MultiplicativeLR",
)


@st.composite
def torch_sequential_lr(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(_TORCH_CHILDREN), min_size=count, max_size=count))
    children = [(name, draw(torch_scheduler_configs(name))) for name in names]
    milestones = sorted(draw(st.sets(st.integers(0, 150), min_size=count - 1, max_size=count - 1)))
    return {"schedulers": children, "milestones": milestones}


@st.composite
def torch_chained_scheduler(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(_TORCH_CHILDREN), min_size=1, max_size=3))
    return {"schedulers": [(name, draw(torch_scheduler_configs(name))) for name in names]}


_TORCH_STRATEGIES: dict[str, Callable[[], st.SearchStrategy[dict[str, Any]]]] = {
    "StepLR": torch_step_lr,
    "MultiStepLR": torch_multi_step_lr,
    "ConstantLR": torch_constant_lr,
    "LinearLR": torch_linear_lr,
    "ExponentialLR": torch_exponential_lr,
    "CosineAnnealingLR": torch_cosine_annealing_lr,
    "CosineAnnealingWarmRestarts": torch_cosine_annealing_warm_restarts,
    "PolynomialLR": torch_polynomial_lr,
    "LambdaLR": torch_lambda_lr,
    "MultiplicativeLR": torch_multiplicative_lr,
    "OneCycleLR": torch_one_cycle_lr,
    "SequentialLR": torch_sequential_lr,
    "ChainedScheduler": torch_chained_scheduler,
}

#: The torch schedulers the strategies draw (every one but ReduceLROnPlateau, whose
#: rate depends on a metric).
TORCH_SCHEDULER_NAMES: tuple[str, ...] = tuple(_TORCH_STRATEGIES)


def torch_scheduler_configs(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Constructor arguments (after the base rate) of torch scheduler ``name``.

    >>> torch_scheduler_configs("StepLR")
    torch_step_lr()
    """
    if name not in _TORCH_STRATEGIES:
        raise ValueError(
            f"Unknown torch scheduler name={name!r}. Known: {sorted(_TORCH_STRATEGIES)}"
        )
    return _TORCH_STRATEGIES[name]()


def build_torch_scheduler(name: str, config: dict[str, Any], lr: Any) -> Any:
    """refimpl's scheduler ``name`` with ``config`` on base rate ``lr`` (a float, or
    ``np.float32`` for a float32 tensor rate); composites build their children first.

    >>> float(build_torch_scheduler("StepLR", {"step_size": 2}, 1.0)(2))
    0.1
    """
    from refimpl.torch import lr_scheduler

    cls: Any = lr_scheduler.SCHEDULERS[name]
    if name in ("SequentialLR", "ChainedScheduler"):
        children = [build_torch_scheduler(n, c, lr) for n, c in config["schedulers"]]
        rest = {k: v for k, v in config.items() if k != "schedulers"}
        if name == "ChainedScheduler":
            return cls(children, **rest)
        return cls(lr, children, **rest)
    return cls(lr, **config)


def torch_edge_steps(name: str, config: dict[str, Any]) -> list[int]:
    """The optimizer steps where torch scheduler ``name`` changes regime, each ±1:
    step 0, multiples of ``step_size``/``T_max`` (and ``T_max + 1``, where the cosine
    recursion switches to its additive branch), milestones, warmup and decay ends,
    restarts, OneCycle's phase ends, ``total_steps - 1`` and its last allowed step
    ``total_steps``; composites add their children's, shifted by the milestones.

    >>> torch_edge_steps("StepLR", {"step_size": 10, "gamma": 0.5})
    [0, 1, 2, 9, 10, 11, 19, 20, 21, 29, 30, 31]
    """
    edges = [0, 1]
    c = config
    if name == "StepLR":
        edges += [k * c["step_size"] for k in (1, 2, 3)]
    elif name == "MultiStepLR":
        edges += list(c["milestones"])
    elif name in ("ConstantLR", "LinearLR", "PolynomialLR"):
        edges += [c["total_iters"]]
    elif name == "CosineAnnealingLR":
        edges += [c["T_max"] * k for k in (1, 2, 3)] + [c["T_max"] + 2]
    elif name == "CosineAnnealingWarmRestarts":
        start, length = 0, c["T_0"]
        for _ in range(4):
            start += length
            length *= c["T_mult"]
            edges.append(start)
    elif name == "OneCycleLR":
        total = c["total_steps"]
        ends = [p * total for p in (c["pct_start"], 2 * c["pct_start"])]
        edges += [math.floor(e) for e in ends] + [math.ceil(e) for e in ends] + [total]
    elif name == "SequentialLR":
        starts = [0, *c["milestones"]]
        for start, (child, child_config) in zip(starts, c["schedulers"]):
            edges += [start + e for e in torch_edge_steps(child, child_config)]
    elif name == "ChainedScheduler":
        for child, child_config in c["schedulers"]:
            edges += torch_edge_steps(child, child_config)
    out = {e + d for e in edges for d in (-1, 0, 1)}
    if name == "OneCycleLR":
        out = {e for e in out if e <= c["total_steps"]}
    return sorted(e for e in out if e >= 0)


# --- optax -----------------------------------------------------------------------------------
#
# Configurations of Optax's schedule functions (their keyword arguments, Python numbers,
# as ``refimpl.optax`` and ``optax`` both take them): build either with
# :func:`build_optax_schedule`, the counts to pin with :func:`optax_edge_counts`.
# ``join_schedules`` takes ``{"schedules": [(name, config), ...], "boundaries": [...]}``.


def _optax_values() -> st.SearchStrategy[float]:
    """Values (rates) over decades, with the round ones users write."""
    return st.one_of(st.sampled_from([0.1, 1.0, 1e-3, 0.0]), _rates(1e-4, 2.0))


def _optax_steps(hi: int = 300) -> st.SearchStrategy[int]:
    """Step arguments: small (every regime within a few hundred counts), with the
    divisors that trap ``n * fl(1/T)`` (61, 49, 97...) now and then."""
    return st.one_of(st.integers(1, hi), st.sampled_from([1, 3, 49, 61, 97, 100]))


def _optax_powers() -> st.SearchStrategy[float]:
    """Polynomial powers: Python ints (``lax.integer_pow``) and floats (``lax.pow``,
    which XLA rewrites for 0, 1, 2, 3, 0.5 and -1)."""
    return st.one_of(
        st.sampled_from([1, 2, 3, 0, -1, 5, 1.0, 2.0, 3.0, 0.5, 1.5]), st.floats(0.1, 4.0)
    )


@st.composite
def optax_constant_schedule(draw: st.DrawFn) -> dict[str, Any]:
    return {"value": draw(_optax_values())}


@st.composite
def optax_polynomial_schedule(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "init_value": draw(_optax_values()),
        "end_value": draw(st.sampled_from([0.0, 1e-4]) | _optax_values()),
        "power": draw(_optax_powers()),
        "transition_steps": draw(st.one_of(_optax_steps(), st.integers(-2, 0))),
        "transition_begin": draw(st.one_of(st.integers(0, 50), st.integers(-3, -1))),
    }


@st.composite
def optax_linear_schedule(draw: st.DrawFn) -> dict[str, Any]:
    config = draw(optax_polynomial_schedule())
    del config["power"]
    return config


@st.composite
def optax_exponential_decay(draw: st.DrawFn) -> dict[str, Any]:
    rate = draw(st.one_of(st.sampled_from([0.5, 0.1, 0.9, 2.0, 0.25]), st.floats(0.01, 1.5)))
    return {
        "init_value": draw(_optax_values()),
        "transition_steps": draw(_optax_steps(100)),
        "decay_rate": rate,
        "transition_begin": draw(st.integers(0, 50)),
        "staircase": draw(st.booleans()),
        "end_value": draw(st.none() | st.floats(1e-4, 0.05)),
    }


@st.composite
def optax_cosine_decay_schedule(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "init_value": draw(_optax_values()),
        "decay_steps": draw(_optax_steps()),
        "alpha": draw(st.sampled_from([0.0, 0.1]) | _fraction()),
        "exponent": draw(st.sampled_from([1.0, 2, 0.5]) | st.floats(0.25, 3.0)),
    }


def _optax_scales() -> st.SearchStrategy[dict[int, float]]:
    scale = st.one_of(st.sampled_from([0.1, 0.5, 1.0, 2.0]), st.floats(0.0, 2.0))
    return st.dictionaries(st.integers(0, 300), scale, max_size=5)


@st.composite
def optax_piecewise_constant_schedule(draw: st.DrawFn) -> dict[str, Any]:
    return {"init_value": draw(_optax_values()), "boundaries_and_scales": draw(_optax_scales())}


@st.composite
def optax_piecewise_interpolate_schedule(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "interpolate_type": draw(st.sampled_from(["linear", "cosine"])),
        "init_value": draw(_optax_values()),
        "boundaries_and_scales": draw(_optax_scales()),
    }


@st.composite
def optax_linear_onecycle_schedule(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.sampled_from([0.3, 0.25]) | st.floats(0.0, 0.6))
    return {
        "transition_steps": draw(_optax_steps()),
        "peak_value": draw(_optax_values()),
        "pct_start": start,
        "pct_final": draw(st.sampled_from([0.85]) | st.floats(start, 1.0)),
        "div_factor": draw(st.sampled_from([25.0, 10.0]) | st.floats(1.0, 100.0)),
        "final_div_factor": draw(st.sampled_from([1e4, 100.0]) | st.floats(1.0, 1e5)),
    }


@st.composite
def optax_cosine_onecycle_schedule(draw: st.DrawFn) -> dict[str, Any]:
    config = draw(optax_linear_onecycle_schedule())
    del config["pct_final"]
    return config


@st.composite
def optax_warmup_cosine_decay_schedule(draw: st.DrawFn) -> dict[str, Any]:
    warmup = draw(st.integers(0, 60))
    return {
        "init_value": draw(st.sampled_from([0.0]) | _optax_values()),
        "peak_value": draw(_optax_values()),
        "warmup_steps": warmup,
        "decay_steps": warmup + draw(_optax_steps(200)),
        "end_value": draw(st.sampled_from([0.0, 1e-5]) | _rates(1e-6, 1e-2)),
        "exponent": draw(st.sampled_from([1.0, 2]) | st.floats(0.5, 2.0)),
    }


@st.composite
def optax_warmup_exponential_decay_schedule(draw: st.DrawFn) -> dict[str, Any]:
    config = draw(optax_exponential_decay())
    return {
        "init_value": draw(st.sampled_from([0.0]) | _optax_values()),
        "peak_value": config.pop("init_value"),
        "warmup_steps": draw(st.integers(0, 60)),
        **config,
    }


@st.composite
def optax_sgdr_schedule(draw: st.DrawFn) -> dict[str, Any]:
    cycles = draw(st.lists(optax_warmup_cosine_decay_schedule(), min_size=1, max_size=3))
    return {"cosine_kwargs": cycles}


#: The schedules :func:`optax_join_schedules` joins.
_OPTAX_CHILDREN = (
    "constant_schedule",
    "linear_schedule",
    "polynomial_schedule",
    "exponential_decay",
    "cosine_decay_schedule",
    "piecewise_constant_schedule",
)


@st.composite
def optax_join_schedules(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(_OPTAX_CHILDREN), min_size=count, max_size=count))
    children = [(name, draw(optax_schedule_configs(name))) for name in names]
    boundaries = sorted(draw(st.sets(st.integers(0, 250), min_size=count - 1, max_size=count - 1)))
    return {"schedules": children, "boundaries": boundaries}


_OPTAX_STRATEGIES: dict[str, Callable[[], st.SearchStrategy[dict[str, Any]]]] = {
    "constant_schedule": optax_constant_schedule,
    "polynomial_schedule": optax_polynomial_schedule,
    "linear_schedule": optax_linear_schedule,
    "exponential_decay": optax_exponential_decay,
    "cosine_decay_schedule": optax_cosine_decay_schedule,
    "piecewise_constant_schedule": optax_piecewise_constant_schedule,
    "piecewise_interpolate_schedule": optax_piecewise_interpolate_schedule,
    "linear_onecycle_schedule": optax_linear_onecycle_schedule,
    "cosine_onecycle_schedule": optax_cosine_onecycle_schedule,
    "warmup_cosine_decay_schedule": optax_warmup_cosine_decay_schedule,
    "warmup_exponential_decay_schedule": optax_warmup_exponential_decay_schedule,
    "sgdr_schedule": optax_sgdr_schedule,
    "join_schedules": optax_join_schedules,
}

#: The Optax schedule functions the strategies draw (every one refimpl.optax has).
OPTAX_SCHEDULE_NAMES: tuple[str, ...] = tuple(_OPTAX_STRATEGIES)


def optax_schedule_configs(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments of Optax's schedule function ``name``, which both
    ``refimpl.optax`` and ``optax`` accept.

    >>> optax_schedule_configs("cosine_decay_schedule")
    optax_cosine_decay_schedule()
    """
    if name not in _OPTAX_STRATEGIES:
        raise ValueError(
            f"Unknown Optax schedule name={name!r}. Known: {sorted(_OPTAX_STRATEGIES)}"
        )
    return _OPTAX_STRATEGIES[name]()


def build_optax_schedule(name: str, config: dict[str, Any], module: Any = None) -> Any:
    """Optax's schedule ``name`` with ``config``, from ``module``: ``refimpl.optax`` (the
    default) or ``optax`` itself (the same names and arguments); ``join_schedules``
    builds its children from the same module first.

    >>> build_optax_schedule("linear_schedule", {"init_value": 0.0, "end_value": 1.0,
    ...                      "transition_steps": 4})([0, 2]).tolist()
    [0.0, 0.5]
    """
    if module is None:
        import refimpl.optax as module
    function = getattr(module, name)
    if name == "join_schedules":
        children = [build_optax_schedule(n, c, module) for n, c in config["schedules"]]
        return function(children, list(config["boundaries"]))
    return function(**config)


def optax_edge_counts(name: str, config: dict[str, Any]) -> list[int]:
    """The counts where Optax schedule ``name`` with ``config`` changes regime, each
    ±1 (from :meth:`refimpl.optax.Schedule.edge_steps`: 0, ``transition_begin`` and its
    end, staircase multiples, boundaries, warmup and decay ends, the end of each joined
    schedule), plus ``2**24`` (float32's last exact integer) and its neighbours.

    >>> optax_edge_counts("linear_schedule", {"init_value": 0.0, "end_value": 1.0,
    ...                   "transition_steps": 4})[:6]
    [0, 1, 3, 4, 5, 16777215]
    """
    edges = [*build_optax_schedule(name, config).edge_steps(), MAX_STEP]
    out = {e + d for e in edges for d in (-1, 0, 1)}
    return sorted(e for e in out if 0 <= e < 2**31)
