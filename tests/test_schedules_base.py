"""The schedule base class: step handling, dtypes, warnings, exact mode, configs."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl import ScheduleWarning
from refimpl.schedules import (
    EXTRA_SCHEDULES,
    KERAS_SCHEDULES,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
)


@pytest.mark.parametrize("step", [5, 5.0, np.int64(5), np.float32(5), np.int32(5)])
def test_scalar_steps_give_0d_arrays(step: object) -> None:
    out = InverseTimeDecay(1.0, 5, 1.0)(step)
    assert isinstance(out, np.ndarray)
    assert out.shape == ()
    assert float(out) == 0.5  # 1 / (1 + 1 * 5 / 5), exact in float32


def test_array_steps_keep_their_shape() -> None:
    out = InverseTimeDecay(1.0, 1, 1.0)(np.array([[0, 1], [3, 7]]))
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(out, np.float32([[1, 0.5], [0.25, 0.125]]))


@pytest.mark.parametrize(
    ("rate", "dtype"),
    [(0.1, np.float32), (np.float64(0.1), np.float64), (np.float32(0.1), np.float32)],
)
def test_compute_dtype_follows_initial_rate(rate: object, dtype: type) -> None:
    assert ExponentialDecay(rate, 10, 0.5)(3).dtype == dtype


def test_exact_is_float64_true_math() -> None:
    schedule = ExponentialDecay(0.001, 500, 0.98, staircase=True)
    assert schedule.exact(4689).dtype == np.float64
    assert float(schedule.exact(4689)) == pytest.approx(0.001 * 0.98**9, rel=1e-15)
    assert float(schedule(4689)) != float(schedule.exact(4689))  # float32 rounds


@pytest.mark.parametrize("bad", ["5", None, True, [1, "a"], object()])
def test_bad_steps_are_type_errors_naming_step(bad: object) -> None:
    with pytest.raises(TypeError, match="`step`"):
        ExponentialDecay(0.1, 10, 0.5)(bad)


def test_negative_steps_warn_and_compute_like_keras() -> None:
    with pytest.warns(ScheduleWarning, match="negative step"):
        value = InverseTimeDecay(1.0, 1, 1.0)(-3)
    assert float(value) == -0.5  # 1 / (1 - 3)


def test_steps_beyond_2_24_warn_in_float32_only() -> None:
    schedule = InverseTimeDecay(1.0, 1, 0.0)
    with pytest.warns(ScheduleWarning, match="2\\*\\*24|16777216"):
        schedule(2**24 + 1)
    InverseTimeDecay(np.float64(1.0), 1, 0.0)(2**24 + 1)  # float64: exact, no warning


def test_float32_rounds_large_steps_to_nearest_even() -> None:
    # 2**24 + 1 is not a float32: it rounds to 2**24 (ties to even), as TensorFlow's cast does.
    schedule = InverseTimeDecay(np.float32(1.0), 1, 1.0)
    with pytest.warns(ScheduleWarning):
        assert schedule(2**24 + 1) == schedule(2**24)


def test_int_initial_rate_warns() -> None:
    with pytest.warns(ScheduleWarning, match="int32"):
        ExponentialDecay(1, 10, 0.96)


@pytest.mark.parametrize("name", [*KERAS_SCHEDULES, *EXTRA_SCHEDULES])
def test_every_schedule_has_formula_docstring_and_all(name: str) -> None:
    import importlib

    cls = {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}[name]
    module = importlib.import_module(cls.__module__)
    assert name in module.__all__
    doc = " ".join(f.__doc__ or "" for f in vars(module).values() if callable(f))
    assert "Intervals" in doc
    assert ">>>" in doc


def test_repr_round_trips() -> None:
    schedule = CosineDecay(0.1, 100, alpha=0.5, warmup_target=0.2, warmup_steps=10)
    assert repr(schedule).startswith("CosineDecay(initial_learning_rate=0.1, decay_steps=100")
    assert eval(repr(schedule), {"CosineDecay": CosineDecay}).get_config() == schedule.get_config()


def test_piecewise_does_not_warn_for_large_int_steps() -> None:
    # PiecewiseConstantDecay never casts the step to float32: no rounding, no warning.
    assert float(PiecewiseConstantDecay([2**25], [1.0, 0.5])(2**25 + 1)) == 0.5


@pytest.mark.parametrize("name", [*KERAS_SCHEDULES, *EXTRA_SCHEDULES])
def test_large_arrays_in_chunks_equal_one_shot(name: str) -> None:
    from hypothesis import find

    from refimpl.testing import schedule_configs

    config = find(schedule_configs(name), lambda c: True)  # the simplest valid config
    schedule = {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}[name].from_config(config)
    from refimpl.schedules._base import _CHUNK

    at = np.arange(3 * (_CHUNK + 1)).reshape(3, -1) * 41  # 3+ chunks, 2-d, up to ~1.6e7
    with np.errstate(all="ignore"):
        one_shot = np.asarray(schedule.evaluate(at))
    np.testing.assert_array_equal(schedule(at), one_shot)


def test_step_independent_rate_still_has_the_step_shape() -> None:
    from refimpl.schedules import TimeBasedDecay

    out = TimeBasedDecay(0.1, 0.0)(np.arange(6).reshape(2, 3))
    assert out.shape == (2, 3)
    assert TimeBasedDecay(0.1, 0.0).exact([1, 2]).shape == (2,)
