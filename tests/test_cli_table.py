"""``lr-refimpl table``: columns labelled by what they hold, values checked independently,
columns as data, and the documented bound against TensorFlow stated, not claimed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refimpl.cli import main
from refimpl.cli.table import COLUMNS, Column, format_table
from refimpl.schedules import ExponentialDecay
from tests._libm import libm

ARGV = ["table", "ExponentialDecay", "--initial-learning-rate", "0.1", "--decay-steps", "100"]


def _float32_ulps(a: float, b: float) -> int:
    """Representable float32 values between two positive float32 numbers."""
    return abs(int(np.float32(a).view(np.int32)) - int(np.float32(b).view(np.int32)))


def test_columns_say_what_they_hold_and_the_values_are_right(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ExponentialDecay(0.1, 100, 0.96) at step 8232, the issue's example: refimpl's
    float32 value is computed here as Keras's op order gives it (float32 divide, the C
    library's ``powf`` -- what TensorFlow's CPU kernel calls, and not correctly rounded
    here: 0.0034718995, where a correctly rounded pow gives 0.003471899 -- float32
    multiply), the exact value in float64."""
    assert main([*ARGV, "--decay-rate", "0.96", "--steps", "0,8232"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["step", "refimpl", "float32", "exact", "float64", "ulps", "apart"]
    assert "Keras" not in lines[1]  # the column holds refimpl's value, not Keras's
    step, refimpl, exact, ulps = lines[3].split()
    p = np.float32(8232) / np.float32(100)
    powf = libm("powf", np.array([0.96], np.float32), np.array([p], np.float32))[0]
    want32 = np.float32(0.1) * powf
    want64 = 0.1 * 0.96 ** (8232 / 100)
    assert step == "8232"
    assert np.float32(refimpl) == want32
    assert math.isclose(float(exact), want64, rel_tol=1e-15)
    assert int(ulps) == _float32_ulps(float(refimpl), float(np.float32(exact)))
    legend = "\n".join(lines[4:])
    assert "refimpl float32: refimpl's value in the schedule's dtype" in legend
    assert "exact float64: schedule.exact(step)" in legend
    assert "refimpl vs TensorFlow's eager call (not run here" in legend
    assert "within 2 ulp" in legend


def test_the_header_names_the_compute_dtype() -> None:
    float64 = format_table(ExponentialDecay(np.float64(0.1), 100, 0.5), np.array([0, 100]))
    assert float64.splitlines()[0].split()[1:3] == ["refimpl", "float64"]
    float32 = format_table(ExponentialDecay(0.1, 100, 0.5), np.array([0, 100]))
    assert float32.splitlines()[0].split()[1:3] == ["refimpl", "float32"]


def test_columns_are_data() -> None:
    """A caller (the lead's eager/graph/XLA columns) passes its own list of columns."""
    doubled = Column(
        "twice {dtype}", "twice refimpl's value", lambda s, at: 2 * np.asarray(s(at)), ".3g", 9
    )
    text = format_table(ExponentialDecay(0.1, 10, 0.5), np.array([0, 10]), [*COLUMNS, doubled])
    lines = text.splitlines()
    assert lines[0].split()[-2:] == ["twice", "float32"]
    assert lines[1].split()[-1] == "0.2"
    assert lines[2].split()[-1] == "0.1"
    assert lines[-1] == "twice float32: twice refimpl's value"


@pytest.mark.parametrize("steps", ["", ",", "10:0", "5:5", "0:10:-1"])
def test_steps_that_name_no_step_are_refused(
    steps: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*ARGV, "--decay-rate", "0.5", "--steps", steps]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"lr-refimpl: error: --steps names no step. Received: {steps!r}"]


def test_no_bound_is_claimed_where_there_is_none(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["table", "CosineDecayRestarts", "--initial-learning-rate", "0.1"]
    assert main([*argv, "--first-decay-steps", "10", "--t-mul", "0", "--steps", "0,5"]) == 0
    (note,) = [line for line in capsys.readouterr().out.splitlines() if "TensorFlow's" in line]
    assert "has no documented bound" in note
    assert "within" not in note


def test_compiled_modes_get_a_column_where_they_differ(capsys: pytest.CaptureFixture[str]) -> None:
    """ExponentialDecay(0.1, 61, 0.5, staircase=True) at 61: model.fit's graph and XLA
    modes stay on the first stair (61 * fl(1/61) < 1 in float32, derived by hand)."""
    assert np.float32(61) * (np.float32(1) / np.float32(61)) < 1
    argv = ["table", "ExponentialDecay", "--initial-learning-rate", "0.1", "--decay-steps", "61"]
    assert main([*argv, "--decay-rate", "0.5", "--staircase", "--steps", "60,61"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1].split()
    assert header[:7] == ["step", "refimpl", "float32", "graph", "float32", "xla", "float32"]
    row = lines[3].split()
    assert row[0] == "61"
    assert [np.float32(v) for v in row[1:4]] == [np.float32(0.05), np.float32(0.1), np.float32(0.1)]
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert all(
        "decides differently from eager mode at step 61 (the staircase" in w for w in warnings
    )


def test_modes_that_agree_add_no_column_and_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGV, "--decay-rate", "0.5", "--staircase", "--steps", "0,100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "graph" not in lines[1]
    assert "graph mode: the same float32 rates as the eager call at these steps" in lines
    assert "xla mode: the same float32 rates as the eager call at these steps" in lines


def test_the_modes_are_not_compared_past_their_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from refimpl.cli import common

    monkeypatch.setattr(common, "MAX_MODE_STEPS", 2)
    assert main([*ARGV, "--decay-rate", "0.5", "--steps", "0:3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[-1]
        == "graph and xla modes: not compared at more than 2 steps (here 3); ask for fewer --steps"
    )
