"""refimpl.modes.differences: the steps where two computations of a schedule part, sorted
into NaN, a different decision and rounding -- each expectation derived by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.modes.differences import DECISION_ULPS, compare, decided_apart
from refimpl.schedules import CosineDecay, ExponentialDecay, PolynomialDecay


def _up(value: np.float32, ulps: int) -> np.float32:
    return (np.asarray(value, np.float32).view(np.int32) + np.int32(ulps)).view(np.float32)


@given(st.floats(float(np.float32(1e-30)), 1e3, width=32), st.integers(0, DECISION_ULPS))
@example(np.float32(0.1), DECISION_ULPS)
def test_a_few_ulps_are_rounding(rate: float, ulps: int) -> None:
    assert not decided_apart([rate], [_up(np.float32(rate), ulps)]).any()


def test_a_stair_a_nan_and_an_infinity_are_decisions() -> None:
    a = np.array([0.1, 0.1, np.nan, np.inf, np.nan], np.float32)
    b = np.array([0.05, 0.1, 0.1, 0.1, np.nan], np.float32)
    assert decided_apart(a, b).tolist() == [True, False, True, True, False]


def test_near_a_cosines_floor_rounding_is_not_a_decision() -> None:
    """CosineDecay(0.1, 1000) at step 994 in XLA mode against the formula in float64:
    1 + cos(pi * 0.994) cancels to 1.8e-4, so float32's rounding of cos (6e-8) moves the
    rate by 3e-4 of itself -- within the documented bound 0.1 * 6.5 * 2**-24."""
    schedule = CosineDecay(0.1, 1000)
    assert compare(schedule, [994], "xla", "exact")[0].kind == "rounding"
    assert not decided_apart([8.88109e-06], [8.88238e-06], atol=0.1 * 6.5 * 2**-24).any()
    assert decided_apart([8.88109e-06], [8.88238e-06]).tolist() == [True]  # without it


def test_near_zero_one_ulp_is_rounding_not_a_decision() -> None:
    """0 against the smallest subnormal: 100% relative, one ulp -- rounding."""
    tiny = np.float32(1e-45)
    assert not decided_apart([0.0, tiny], [tiny, 2 * tiny]).any()
    # Far apart in ulps but within 1e-4 relative: rounding too (5,000 ulp of 1.0 is 3e-4).
    assert decided_apart([1.0], [_up(np.float32(1.0), 5_000)]).tolist() == [True]
    assert not decided_apart([1.0], [_up(np.float32(1.0), 800)]).any()  # 0.95e-4 relative


def test_the_late_stair_is_named_with_its_steps() -> None:
    """Grappler's 122 * float32(1/61) < 2: the second stair comes one step late."""
    schedule = ExponentialDecay(0.1, 61, 0.5, staircase=True)
    late = [k * 61 for k in (1, 2, 3) if np.float32(k * 61) * (np.float32(1) / np.float32(61)) < k]
    (found,) = compare(schedule, np.arange(200), "graph", "eager")
    assert (found.kind, found.steps) == ("decision", tuple(late))
    assert "(the staircase" in found.message
    assert f" {late[0]}" in found.message


def test_nan_is_its_own_kind() -> None:
    """XLA's PolynomialDecay with a fractional power at step == decay_steps (the issue)."""
    schedule = PolynomialDecay(0.3, 7, 0.1, power=1.5)  # fl(1/7) > 1/7: see test_modes_xla
    kinds = {d.kind: d.steps for d in compare(schedule, [6, 7, 8], "xla", "exact")}
    assert kinds == {"nan": (7,)}


def test_equal_rates_give_no_difference() -> None:
    schedule = CosineDecay(0.1, 100)
    rates = schedule(np.arange(10))
    assert compare(schedule, np.arange(10), "eager", "eager", rates=rates, other_rates=rates) == []


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_rounding_differences_are_rounding(mode: str) -> None:
    schedule = CosineDecay(0.1, 1000)
    steps = np.arange(0, 1000, 7)
    rates = np.asarray(schedule(steps, mode=mode), np.float32)
    nudged = np.where(steps % 2 == 0, _up(rates, 1), rates)
    (found,) = compare(schedule, steps, mode, "eager", rates=nudged, other_rates=rates)
    assert found.kind == "rounding"
    assert found.steps == tuple(int(s) for s in steps if s % 2 == 0)
