"""The comparison behind translate's table: which steps differ, how the reasons are
given, how rows are grouped, and the text -- on hand-made sides whose answers are
known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.translate.differences import (
    MAX_ROWS,
    REASONS,
    Side,
    Structural,
    compare,
    format_table,
)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def side(values: np.ndarray, dtype: np.dtype, exact: np.ndarray | None = None, **kw: bool) -> Side:
    """A side with fixed ``values`` (and ``exact``, the values themselves by default)."""
    true = values.astype(np.float64) if exact is None else exact
    return Side(
        "x",
        "x",
        dtype,
        lambda steps: values[steps].astype(dtype),
        lambda steps: true[steps],
        recursive=kw.get("recursive", False),
    )


def test_equal_sides_never_differ() -> None:
    values = np.linspace(1.0, 0.0, 10)
    comparison = compare(side(values, F64), side(values, F64), 10)
    assert comparison.rows == ()
    assert comparison.differing_steps.size == 0
    assert comparison.float32_differences is None
    assert "they never differ" in format_table(comparison, "a", "b")


def test_comparison_is_in_the_target_dtype() -> None:
    """A float64 source against a float32 target: equal when the source rounds to it."""
    values = np.full(5, 0.1)
    comparison = compare(side(values, F64), side(values, F32), 5)
    assert comparison.dtype == F32
    assert comparison.rows == ()
    reverse = compare(side(values, F32), side(values, F64), 5)
    assert [(r.first, r.last, r.count, r.reason) for r in reverse.rows] == [(0, 4, 5, "float32")]
    assert reverse.float32_differences == 0
    assert reverse.rows[0].max_abs == abs(float(np.float32(0.1)) - 0.1)


def test_structural_reasons_win_where_they_apply_and_rows_group_by_reason() -> None:
    source = np.array([1.0, 0.5, 0.0, 0.0, 0.0, 0.0])
    target = np.array([1.0, 0.5, 0.0, 0.5, 1.0, 0.5])
    comparison = compare(
        side(source, F64),
        side(target, F64),
        6,
        [Structural("periodic", lambda steps: steps > 2)],
    )
    (row,) = comparison.rows
    assert (row.first, row.last, row.count, row.reason) == (3, 5, 3, "periodic")
    assert row.max_abs == 1.0
    assert row.max_of_peak == 1.0
    assert comparison.reasons[:3].tolist() == ["", "", ""]


def test_arithmetic_reasons_blame_the_side_further_from_its_exact_value() -> None:
    exact = np.array([1.0, 1.0, 1.0, 1.0])
    drifted = np.array([1.0, 1.0 + 2e-16, 1.0, 1.0 + 4e-16])
    rounded = np.array([1.0, 1.0, 1.0 + 2e-16, 1.0])
    comparison = compare(side(drifted, F64, exact, recursive=True), side(rounded, F64, exact), 4)
    assert comparison.reasons.tolist() == ["", "drift", "rounding", "drift"]
    assert [(r.first, r.last, r.reason) for r in comparison.rows] == [
        (1, 1, "drift"),
        (2, 2, "rounding"),
        (3, 3, "drift"),
    ]


def test_a_large_error_is_a_decision_and_a_flushed_subnormal_a_flush() -> None:
    exact = np.array([1.0, 1.0, 1e-40])
    keras = np.array([1.0, 0.5, 0.0])
    comparison = compare(side(keras, F32, exact), side(exact, F64), 3)
    assert comparison.reasons.tolist() == ["", "decision", "flush"]


def test_rows_count_the_differing_steps_and_list_them_when_few() -> None:
    source = np.zeros(10)
    target = source.copy()
    target[[2, 5, 9]] = 1e-3
    comparison = compare(side(source, F64, source), side(target, F64, source, recursive=True), 10)
    (row,) = comparison.rows
    assert (row.first, row.last, row.count, row.listed) == (2, 9, 3, (2, 5, 9))
    assert row.steps_text() == "2, 5, 9"


@given(flips=st.lists(st.booleans(), min_size=40, max_size=200))
def test_alternating_reasons_collapse_to_one_row_per_reason(flips: list[bool]) -> None:
    """Each differing step is a drift (target) or a rounding (source) difference; the rows
    cover exactly the differing steps, and never exceed MAX_ROWS but by collapsing."""
    n = len(flips)
    exact = np.ones(n)
    source = np.where(np.array(flips), 1.0, 1.0 + 2e-16)
    target = np.where(np.array(flips), 1.0 + 4e-16, 1.0)
    comparison = compare(side(source, F64, exact), side(target, F64, exact, recursive=True), n)
    assert comparison.differs.all()
    assert sum(row.count for row in comparison.rows) == n
    if comparison.collapsed:
        assert len(comparison.rows) == len({row.reason for row in comparison.rows})
    else:
        assert len(comparison.rows) <= MAX_ROWS
        for row in comparison.rows:
            assert row.count == row.last - row.first + 1


def test_table_text() -> None:
    values = np.full(3, 0.1)
    comparison = compare(side(values, F32), side(values, F64), 3)
    text = format_table(comparison, "Keras's A", "the torch B")
    assert text.splitlines()[0] == (
        "Where Keras's A and the torch B differ, steps 0..2 (3 steps), compared in float64:"
    )
    assert "0..2" in text
    assert "Rounded to float32 (Keras's dtype) they never differ." in text
    assert f"float32: {REASONS['float32']}." in text


def test_bad_horizon_and_reason_are_refused() -> None:
    values = np.zeros(2)
    with pytest.raises(ValueError, match="n=0"):
        compare(side(values, F64), side(values, F64), 0)
    with pytest.raises(ValueError, match="reason='wobble'"):
        Structural("wobble", lambda steps: steps > 0)
