"""The Keras formulas written out as Python: equal to ``schedule.exact`` (the same
formula in float64) at edge steps and random steps, for every translatable schedule."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.exceptions import ScheduleWarning
from refimpl.schedules import (
    SCHEDULES,
    ExponentialDecay,
    NoisyLinearCosineDecay,
    PiecewiseConstantDecay,
    deserialize,
)
from refimpl.testing import edge_steps, schedule_configs, steps
from refimpl.translate.python_formulas import label, literal, milestones_of, python_rate

NAMES = tuple(n for n in SCHEDULES if n != "NoisyLinearCosineDecay")


def _schedule(name: str, config: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        return deserialize({"class_name": name, "config": config})


def _cases() -> st.SearchStrategy[tuple[str, dict[str, Any], np.ndarray]]:
    @st.composite
    def draw_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], np.ndarray]:
        name = draw(st.sampled_from(NAMES))
        config = draw(schedule_configs(name))
        return name, config, draw(steps(edges=edge_steps(name, config), max_size=12))

    return draw_case()


@given(case=_cases())
@example(
    case=("PiecewiseConstantDecay", {"boundaries": [0, 3], "values": [0.1, 0.2, 0.3]}, np.arange(6))
)
@example(
    case=(
        "PiecewiseConstantDecay",
        {"boundaries": [-3, 1.5, 7.9], "values": [1.0, 2.0, 3.0, 4.0]},
        np.arange(10),
    )
)
@example(
    case=(
        "PolynomialDecay",
        {"initial_learning_rate": 1.0, "decay_steps": 4, "cycle": True},
        np.arange(13),
    )
)
@example(
    case=(
        "CosineDecay",
        {"initial_learning_rate": 0.0, "decay_steps": 5, "warmup_target": 1.0, "warmup_steps": 0},
        np.arange(8),
    )
)
@example(
    case=(
        "CosineDecay",
        {
            "initial_learning_rate": 0.5,
            "decay_steps": 5,
            "alpha": 0.2,
            "warmup_target": 1.0,
            "warmup_steps": 3,
        },
        np.arange(12),
    )
)
@example(
    case=(
        "CosineDecayRestarts",
        {"initial_learning_rate": 1.0, "first_decay_steps": 3, "t_mul": 1.0},
        np.arange(10),
    )
)
@example(
    case=(
        "CosineDecayRestarts",
        {"initial_learning_rate": 1.0, "first_decay_steps": 2, "t_mul": 2.0, "m_mul": 0.5},
        np.arange(32),
    )
)
@example(case=("TimeBasedDecay", {"initial_learning_rate": 0.1, "decay": 0.0}, np.arange(3)))
@example(
    case=(
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5, "staircase": True},
        np.arange(10),
    )
)
@example(
    case=(
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5, "staircase": True},
        np.arange(10),
    )
)
@example(
    case=(
        "NaturalExpDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5, "staircase": True},
        np.arange(10),
    )
)
def test_python_formula_equals_exact(case: tuple[str, dict[str, Any], np.ndarray]) -> None:
    """Within rounding of float64: a few ulps of the largest value checked, more where a
    power amplifies a one-ulp difference of its base (``rate ** p``: by ``p``)."""
    name, config, at = case
    schedule = _schedule(name, config)
    function = python_rate(schedule).compile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        want = schedule.exact(at)
    finite = np.isfinite(want) & (np.abs(want) < 1e300)
    got = np.array([function(int(s)) for s in at[finite]])
    want = want[finite]
    if not want.size:
        return
    scale = float(np.max(np.abs(want))) or 1.0
    amplification = 1.0 + float(np.max(at)) / float(config.get("decay_steps", 1) or 1)
    bound = 16 * np.finfo(np.float64).eps * scale * amplification
    worst = float(np.max(np.abs(got - want)))
    assert worst <= bound, (name, config, at[finite][np.argmax(np.abs(got - want))], worst)


def test_python_formula_source_reads_like_the_formula() -> None:
    port = python_rate(PiecewiseConstantDecay([1000, 2000, 3000], [0.003, 0.002, 0.001, 0.0001]))
    assert port.imports == ("bisect",)
    assert "milestones = [1001, 2001, 3001]  # Keras's boundaries + 1" in port.source
    function = port.compile()
    assert [function(s) for s in (0, 1000, 1001, 3000, 3001)] == [
        0.003,
        0.003,
        0.002,
        0.001,
        0.0001,
    ]


def test_nested_schedules_are_one_function_each() -> None:
    inner = {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 0.5}}  # fmt: skip
    port = python_rate(
        _schedule("SequentialSchedule", {"schedules": [inner, inner], "boundaries": [4]})
    )
    assert port.source.count("def ") == 3
    assert port.compile()(4) == 1.0


@pytest.mark.parametrize("value", [0.1, np.float32(0.1), np.float64(1e-300), 5, np.int64(7), True])
def test_literal_evaluates_to_the_same_number(value: Any) -> None:
    text = literal(value)
    assert eval(text) == value
    assert type(eval(text)) in (int, float, bool)


def test_literal_of_inf_and_nan_and_refusal() -> None:
    assert eval(literal(math.inf)) == math.inf
    assert math.isnan(eval(literal(math.nan)))
    with pytest.raises(TypeError, match="Cannot write"):
        literal(object())


def test_label_leaves_out_the_name() -> None:
    assert label(ExponentialDecay(0.1, 10, 0.5, name="mine")) == (
        "ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, "
        "staircase=False)"
    )


def test_what_has_no_port_is_refused_with_the_reason() -> None:
    noisy = NoisyLinearCosineDecay(0.1, 100, seed=1)
    with pytest.raises(ValueError, match=r"NoisyLinearCosineDecay.*counter-based draw"):
        python_rate(noisy)
    with pytest.warns(ScheduleWarning):
        integer = ExponentialDecay(1, 10, 0.5)
    with pytest.raises(ValueError, match=r"int32.*translate needs a float schedule"):
        python_rate(integer)
    with pytest.raises(TypeError, match="must be a refimpl LearningRateSchedule"):
        python_rate("ExponentialDecay")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identifier"):
        python_rate(ExponentialDecay(0.1, 10, 0.5), name="not a name")


def test_nan_values_and_overlapping_boundaries_are_refused() -> None:
    with pytest.warns(ScheduleWarning):
        nan = PiecewiseConstantDecay([1], [0.1, math.nan])
    with pytest.raises(ValueError, match="inf or NaN"):
        python_rate(nan)
    with pytest.raises(ValueError, match=r"\[1, 1\]"):
        milestones_of([1.2, 1.9])
    with pytest.raises(ValueError, match="not all finite"):
        milestones_of([1, math.inf])
    assert milestones_of([-2.5, 0, 7.9]) == [-1, 1, 8]
