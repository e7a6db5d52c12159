"""Bad input: Keras's own errors where Keras rejects, named errors for junk, warnings for nonsense."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refimpl import ScheduleWarning
from refimpl.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LinearWarmup,
    NoisyLinearCosineDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    SequentialSchedule,
)

KERAS_DECAY_STEPS = [
    (lambda v: ExponentialDecay(0.1, v, 0.5), "decay_steps"),
    (lambda v: PolynomialDecay(0.1, v), "decay_steps"),
    (lambda v: InverseTimeDecay(0.1, v, 0.5), "decay_steps"),
    (lambda v: CosineDecay(0.1, v), "decay_steps"),
    (lambda v: CosineDecayRestarts(0.1, v), "first_decay_steps"),
]


@pytest.mark.parametrize(("make", "arg"), KERAS_DECAY_STEPS)
@pytest.mark.parametrize("value", [0, -5])
def test_non_positive_horizon_is_keras_value_error(make, arg: str, value: int) -> None:
    # Keras 3's exact message.
    with pytest.raises(ValueError, match=f"Argument `{arg}` must be > 0. Received: {arg}={value}"):
        make(value)


@pytest.mark.parametrize(("make", "arg"), KERAS_DECAY_STEPS)
@pytest.mark.parametrize(
    ("value", "error"), [("100", TypeError), (None, TypeError), (math.nan, ValueError)]
)
def test_junk_horizon_names_argument_and_value(make, arg: str, value: object, error: type) -> None:
    with pytest.raises(error, match=f"`{arg}`.*{value!r}" if value is not None else f"`{arg}`"):
        make(value)


@pytest.mark.parametrize("value", ["0.1", None, math.nan, [0.1]])
def test_junk_initial_rate(value: object) -> None:
    with pytest.raises((TypeError, ValueError), match="initial_learning_rate"):
        ExponentialDecay(value, 10, 0.5)


def test_staircase_must_be_bool() -> None:
    with pytest.raises(TypeError, match="staircase"):
        ExponentialDecay(0.1, 10, 0.5, staircase="yes")


def test_piecewise_length_rule_is_keras_message() -> None:
    with pytest.raises(
        ValueError, match="The length of boundaries should be 1 less than the length of values"
    ):
        PiecewiseConstantDecay([1, 2], [0.1, 0.2])


def test_piecewise_empty_boundaries_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="boundaries"):
        PiecewiseConstantDecay([], [0.1])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ExponentialDecay(0.1, 10, -0.5), "NaN"),
        (lambda: CosineDecayRestarts(0.1, 10, t_mul=0.0), "t_mul"),
        (lambda: CosineDecayRestarts(0.1, 10, t_mul=-1.0), "t_mul"),
        (lambda: InverseTimeDecay(0.1, 10, -1.0), "negative"),
        (lambda: PolynomialDecay(0.1, 10, power=-1.0), "negative"),
        (lambda: PiecewiseConstantDecay([5, 5], [0.1, 0.2, 0.3]), "increasing"),
        (lambda: NoisyLinearCosineDecay(0.1, 10, initial_variance=-1.0), "negative"),
    ],
)
def test_nonsense_keras_accepts_warns(make, match: str) -> None:
    with pytest.warns(ScheduleWarning, match=match):
        make()


def test_t_mul_nonpositive_computes_nan_like_keras() -> None:
    with pytest.warns(ScheduleWarning):
        s = CosineDecayRestarts(0.1, 10, t_mul=-1.0)
    assert np.isnan(s(15))


def test_t_mul_below_one_warns_and_gives_nan_where_the_periods_run_out() -> None:
    """t_mul = 0.5, first_decay_steps = 10: the periods last 10, 5, 2.5, ... steps and
    add up to 10 / (1 - 0.5) = 20; at step 20, 1 - f * (1 - t_mul) = 1 - 2 * 0.5 = 0
    and the restart index is floor(log(0) / log(0.5)) = inf: NaN, as in Keras."""
    with pytest.warns(ScheduleWarning, match="t_mul=0.5 is below 1.* = 20 steps"):
        s = CosineDecayRestarts(0.1, 10, t_mul=0.5)
    assert np.isfinite(s(np.arange(20))).all()
    assert np.isnan(s(np.array([20, 30]))).all()


INFINITE_HYPERPARAMETERS = [
    (lambda v: ExponentialDecay(0.1, v, 0.5), "decay_steps"),
    (lambda v: ExponentialDecay(0.1, 10, v), "decay_rate"),
    (lambda v: PolynomialDecay(0.1, 10, end_learning_rate=v), "end_learning_rate"),
    (lambda v: PolynomialDecay(0.1, 10, power=v), "power"),
    (lambda v: InverseTimeDecay(0.1, 10, v), "decay_rate"),
    (lambda v: CosineDecay(0.1, 10, alpha=v), "alpha"),
    (lambda v: CosineDecay(0.1, 10, warmup_target=v, warmup_steps=5), "warmup_target"),
    (lambda v: CosineDecayRestarts(0.1, 10, m_mul=v), "m_mul"),
    (lambda v: CosineDecayRestarts(0.1, 10, alpha=v), "alpha"),
    (lambda v: LinearWarmup(ExponentialDecay(0.1, 10, 0.5), 5, v), "initial_learning_rate"),
]


@pytest.mark.parametrize(("make", "arg"), INFINITE_HYPERPARAMETERS)
def test_infinite_hyperparameters_warn_naming_the_argument(make, arg: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.warns(ScheduleWarning, match=f"`{arg}` is infinite \\(inf\\)") as record:
        make(math.inf)
    assert record[0].filename == __file__


def test_infinite_boundaries_are_boundaries_never_crossed() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = PiecewiseConstantDecay([10, math.inf], [0.3, 0.2, 0.1])
        SequentialSchedule([ExponentialDecay(0.1, 10, 0.5)] * 2, [math.inf])
    # float steps compare with the float32 boundaries: 10 <= 10, then (10, inf]
    np.testing.assert_array_equal(
        s(np.array([10.0, 11.0, 1e30])), np.array([0.3, 0.2, 0.2], np.float32)
    )


def test_composites_validate_children_and_boundaries() -> None:
    with pytest.raises(TypeError, match="schedule"):
        LinearWarmup(0.1, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="warmup_steps"):
        LinearWarmup(ExponentialDecay(0.1, 10, 0.5), -1)
    with pytest.raises(ValueError, match="strictly increasing"):
        SequentialSchedule([ExponentialDecay(0.1, 10, 0.5)] * 3, [10, 10])
    with pytest.raises(TypeError, match=r"schedules\[1\]"):
        SequentialSchedule([ExponentialDecay(0.1, 10, 0.5), 0.1], [10])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "make",
    [
        lambda: PiecewiseConstantDecay([10, 5], [1.0, 2.0, 4.0]),
        lambda: CosineDecay(0.1, 100, warmup_steps=-1),
        lambda: ExponentialDecay(1, 10, 0.5),  # through check_initial_learning_rate
    ],
)
def test_constructor_warnings_point_at_the_caller(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.warns(ScheduleWarning) as record:
        make()
    assert record[0].filename == __file__
