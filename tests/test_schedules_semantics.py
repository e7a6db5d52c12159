"""Each formula's semantics, derived by hand in float64 (not copied from refimpl's output).

Values are compared with ``exact`` (float64 true math) to hand formulas, and the
float32 values are checked only where float32 arithmetic is exact.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from refimpl.exceptions import ScheduleWarning
from refimpl.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LinearCosineDecay,
    LinearWarmup,
    NaturalExpDecay,
    NoisyLinearCosineDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    SequentialSchedule,
    TimeBasedDecay,
)
from refimpl.testing import edge_steps, schedule_configs, steps


def test_exponential_staircase_changes_at_multiples() -> None:
    s = ExponentialDecay(1.0, 10, 0.5, staircase=True)
    np.testing.assert_array_equal(s([0, 9, 10, 19, 20]), np.float32([1, 1, 0.5, 0.5, 0.25]))


def test_exponential_smooth_matches_hand_formula() -> None:
    s = ExponentialDecay(0.1, 7, 0.9)
    at = np.arange(0, 100, 13)
    np.testing.assert_allclose(s.exact(at), 0.1 * 0.9 ** (at / 7), rtol=1e-15)


def test_piecewise_switches_at_boundary_plus_one() -> None:
    s = PiecewiseConstantDecay([1000, 2000, 3000], [0.003, 0.002, 0.001, 0.0001])
    got = s([0, 1000, 1001, 2000, 2001, 3000, 3001, 10**9])
    np.testing.assert_array_equal(
        got, np.float32([0.003, 0.003, 0.002, 0.002, 0.001, 0.001, 0.0001, 0.0001])
    )


def test_piecewise_nan_value_poisons_every_step_like_keras() -> None:
    # SEMANTICS.md, measured on Keras: values [inf, 0.1] give NaN at step 20.
    with pytest.warns(Warning, match="inf or NaN"):
        s = PiecewiseConstantDecay([10], [math.inf, 0.1])
    assert math.isnan(float(s(20)))


def test_piecewise_non_increasing_boundaries_sum_values() -> None:
    with pytest.warns(Warning, match="strictly increasing"):
        s = PiecewiseConstantDecay([10, 5], [1.0, 2.0, 4.0])
    # step 7: not <= 10? it is: 1.0; also > 5 (last boundary): + 4.0; (10, 5] empty.
    assert float(s(7)) == 5.0


@given(config=schedule_configs("PiecewiseConstantDecay"), data=st.data())
def test_piecewise_selection_equals_keras_mask_sum(config: dict, data: st.DataObject) -> None:
    """The selection refimpl computes for strictly increasing boundaries and finite
    values is Keras's mask sum, bit for bit, for int and float steps (NaN included),
    on both of its paths (by index for arrays without NaN, by ``where`` otherwise)."""
    from refimpl import numpy_ops
    from refimpl.schedules import piecewise

    step32 = numpy_ops.convert_to_tensor(1)
    assert piecewise._one_interval_per_step(
        [numpy_ops.cast(b, step32.dtype) for b in config["boundaries"]],
        [numpy_ops.convert_to_tensor(v) for v in config["values"]],
    )
    ints = data.draw(steps(edges=edge_steps("PiecewiseConstantDecay", config)))
    floats = np.concatenate([ints + 0.5, [-1.0, np.inf]])
    with_nan = np.concatenate([floats, [np.nan]])  # the per-interval path
    for at in (ints, floats, with_nan, ints[:1].reshape(())):
        step = numpy_ops.convert_to_tensor(at)
        vals = [numpy_ops.convert_to_tensor(v) for v in config["values"]]
        bounds = [numpy_ops.cast(b, step.dtype) for b in config["boundaries"]]
        selected = piecewise._select(step, bounds, vals, numpy_ops)
        summed = piecewise._mask_sum(step, bounds, vals, numpy_ops)
        assert selected.dtype == summed.dtype
        np.testing.assert_array_equal(selected.view(np.uint32), summed.view(np.uint32))


@pytest.mark.parametrize("count", [3, 255, 256, 300])
def test_piecewise_selection_by_index_with_many_boundaries(count: int) -> None:
    """Boundaries 10, 20, ..., 10 * count and values 0, 1, ..., count: step ``s`` lies
    in ``(10 * (k - 1), 10 * k]`` and gets ``k`` (0 up to 10, ``count`` past the last),
    i.e. ``min(max(ceil(s / 10) - 1, 0), count)`` -- derived by hand, on both sides of
    255, where the interval index no longer fits in a byte."""
    s = PiecewiseConstantDecay(
        [10 * (k + 1) for k in range(count)], [float(k) for k in range(count + 1)]
    )
    steps = np.arange(10 * count + 25)
    expected = np.clip(np.ceil(steps / 10) - 1, 0, count)
    expected[steps > 10 * count] = count
    np.testing.assert_array_equal(s(steps), expected.astype(np.float32))


@pytest.mark.parametrize(
    ("step", "values"),
    [
        (np.ma.array([1.0, np.nan, 20.0], mask=[0, 1, 0]), [0.1, 0.2]),  # a masked NaN
        (np.array([1 + 0j, complex(np.nan, 0), complex(1, np.nan), 20]), [0.1, 0.2]),
        (np.asarray(15), [np.asarray(0.1), np.asarray(0.2)]),  # 0-d step and values
        (np.asarray(15.0), [0.1, 0.2]),
    ],
)
def test_piecewise_unusual_steps_select_like_keras_mask_sum(step: Any, values: list) -> None:
    """Steps off the by-index path (array subclasses, complex numbers, 0-d arrays) give
    what Keras's mask sum gives: the same dtype, shape and bits (a NaN is in no
    interval, even when a mask hides it)."""
    from refimpl import numpy_ops
    from refimpl.schedules import piecewise

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # complex comparisons warn about the casts
        got = piecewise.piecewise_constant_decay(step, [10], values)
        s = numpy_ops.convert_to_tensor(step)
        summed = piecewise._mask_sum(
            s,
            [numpy_ops.cast(10, s.dtype)],
            [numpy_ops.convert_to_tensor(v) for v in values],
            numpy_ops,
        )
    got, summed = np.asarray(got), np.asarray(summed)  # a masked array: its data
    assert (got.dtype, got.shape) == (summed.dtype, summed.shape)
    assert got.tobytes() == summed.tobytes()


def test_piecewise_selects_for_positive_zero_values() -> None:
    """Rates that fall to +0.0 keep the selection (the sum of +0.0 terms is +0.0)."""
    from refimpl import numpy_ops
    from refimpl.schedules import piecewise

    vals = [numpy_ops.convert_to_tensor(v) for v in (1.0, 0.0, 0.0)]
    assert piecewise._one_interval_per_step([np.int32(5), np.int32(9)], vals)
    assert not piecewise._one_interval_per_step([np.int32(5), np.int32(5)], vals)


@pytest.mark.parametrize(
    ("boundaries", "values", "step"),
    [
        ([10, 5], [1.0, 2.0, 4.0], 7),  # not increasing
        ([1, 1], [1.0, 2.0, 3.0], 1),
        ([5], [-0.0, 1.0], 3),  # 0 + -0.0 is +0.0
        ([5], [math.nan, 1.0], 3),
        ([5], [1, 2.0], 3),  # mixed types
        ([2**31 - 1, 2**31], [1.0, 2.0, 4.0], 5),  # 2**31 wraps to -2**31 in int32
        ([-1, 3], [1.0, 2.0, 4.0], np.uint8(2)),  # -1 wraps in uint8
        ([10, 2147483600.0], [1.0, 2.0, 3.0], 5),  # float32 rounds it to 2**31: wraps
        ([10, 20], [1.0, 0.5, 1e39], 15),  # 1e39 is inf in float32: 0 * inf is nan
        ([5], [1.0, -0.0], 7),  # -0.0 after a positive value
        ([5], [0.0, -0.0], 7),  # -0.0 equal to the smallest value
        ([5, 6], [1.0, math.nan, 2.0], 6),  # a NaN that min() does not see
        ([5], [math.inf, -math.inf], 3),
    ],
)
def test_piecewise_other_configs_keep_keras_mask_sum(
    boundaries: list, values: list, step: Any
) -> None:
    """Where the selection would differ, the value is Keras's sum (derived by hand:
    the masks that hold at ``step`` after the boundaries' cast, times their values)."""
    from refimpl import numpy_ops
    from refimpl.schedules import piecewise

    s = numpy_ops.convert_to_tensor(step)
    with np.errstate(all="ignore"):  # the casts the formula makes, out of range on purpose
        assert not piecewise._one_interval_per_step(
            [numpy_ops.cast(b, s.dtype) for b in boundaries],
            [numpy_ops.convert_to_tensor(v) for v in values],
        )

    def tf_convert(x: Any) -> Any:  # TensorFlow's dtypes for Python numbers
        if type(x) is float:
            return np.float32(x)
        return np.int32(x) if type(x) is int and -(2**31) <= x < 2**31 else np.asarray(x)[()]

    with np.errstate(all="ignore"):  # conversions out of range on purpose, as TensorFlow's
        b = [np.asarray(tf_convert(x)).astype(s.dtype) for x in boundaries]
        values = [float(tf_convert(v)) for v in values]
    masks = [s <= b[0]] + [(s > lo) & (s <= hi) for lo, hi in itertools.pairwise(b)] + [s > b[-1]]
    want = 0.0
    for m, v in zip(masks, values, strict=True):
        want += float(m) * float(v)  # 0 * nan is nan: a NaN value poisons every step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        got = PiecewiseConstantDecay(boundaries, values)(step)
    assert float(got) == want or (math.isnan(want) and math.isnan(float(got)))
    assert math.copysign(1, float(got)) == math.copysign(1, want)


def test_polynomial_clamps_and_default_end() -> None:
    s = PolynomialDecay(1.0, 100)
    assert float(s.exact(100)) == pytest.approx(1e-4)
    assert float(s.exact(10**6)) == pytest.approx(1e-4)
    assert float(s.exact(50)) == pytest.approx((1 - 1e-4) * 0.5 + 1e-4)


def test_polynomial_cycle_grows_the_horizon() -> None:
    s = PolynomialDecay(1.0, 100, 0.0, power=1.0, cycle=True)
    # step 150: horizon 200 -> 1 - 150/200 = 0.25; step 100: horizon 100 -> 0; step 0: 1.
    np.testing.assert_allclose(s.exact([0, 100, 101, 150]), [1.0, 0.0, 1 - 101 / 200, 0.25])


def test_inverse_time_staircase() -> None:
    s = InverseTimeDecay(1.0, 10, 1.0, staircase=True)
    np.testing.assert_array_equal(s([0, 9, 10, 25]), np.float32([1, 1, 0.5, 1 / 3]))


def test_cosine_warmup_is_strict_and_alpha_is_a_fraction() -> None:
    s = CosineDecay(0.0, 100, alpha=0.1, warmup_target=1.0, warmup_steps=10)
    np.testing.assert_allclose(s.exact([0, 5, 10]), [0.0, 0.5, 1.0])
    # end of decay: alpha * warmup_target
    np.testing.assert_allclose(s.exact([110, 10**6]), [0.1, 0.1], rtol=1e-12)
    half = 1.0 * (0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)) + 0.1)
    assert float(s.exact(60)) == pytest.approx(half)


def test_restarts_periods_grow_by_t_mul() -> None:
    s = CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5)
    # restarts at 10 (period 20) and 30 (period 40), heights 0.5 and 0.25
    np.testing.assert_allclose(s.exact([0, 10, 30, 20]), [1.0, 0.5, 0.25, 0.25], atol=1e-12)


def test_time_based_is_inverse_time_with_one_step() -> None:
    at = np.arange(0, 5000, 97)
    np.testing.assert_array_equal(
        TimeBasedDecay(0.001, 0.0002)(at), InverseTimeDecay(0.001, 1, 0.0002)(at)
    )


def test_time_based_on_a_schedule_stacks_the_factor() -> None:
    inner = ExponentialDecay(1.0, 10, 0.5)
    s = TimeBasedDecay(inner, 0.1)
    assert float(s.exact(10)) == pytest.approx(0.5 / (1 + 0.1 * 10))


def test_time_based_negative_decay_is_rejected_like_tf_keras() -> None:
    with pytest.raises(ValueError, match=r"decay cannot be less than 0\. Received: decay=-0\.1"):
        TimeBasedDecay(0.1, -0.1)


def test_natural_exp_is_exponential_with_exp_minus_rate() -> None:
    np.testing.assert_allclose(
        NaturalExpDecay(2.0, 10, 0.3).exact([0, 5, 40]),
        2.0 * np.exp(-0.3 * np.array([0, 5, 40]) / 10),
        rtol=1e-14,
    )


def test_linear_cosine_hand_formula() -> None:
    s = LinearCosineDecay(1.0, 100, num_periods=1.0, alpha=0.1, beta=0.01)
    t = 25.0
    want = (0.1 + (100 - t) / 100) * 0.5 * (1 + math.cos(math.pi * 2 * t / 100)) + 0.01
    assert float(s.exact(t)) == pytest.approx(want)


def test_noisy_is_reproducible_and_order_free() -> None:
    s = NoisyLinearCosineDecay(1.0, 1000, seed=3)
    a = s(np.arange(50))
    np.testing.assert_array_equal(a[::-1], s(np.arange(49, -1, -1)))
    assert not np.array_equal(a, NoisyLinearCosineDecay(1.0, 1000, seed=4)(np.arange(50)))


def test_noisy_noise_has_the_documented_distribution() -> None:
    s = NoisyLinearCosineDecay(
        1.0, 10**7, initial_variance=1.0, variance_decay=0.0, num_periods=0.0, alpha=0.0, beta=0.0
    )
    plain = LinearCosineDecay(1.0, 10**7, num_periods=0.0, alpha=0.0, beta=0.0)
    at = np.arange(200_000)
    # num_periods=0: cosine == 1, so lr = linear + std * z with std 1: z = difference.
    z = s.exact(at) - plain.exact(at)
    assert abs(z.mean()) < 0.01
    assert abs(z.std() - 1) < 0.01


@given(schedule_configs("CosineDecay"))
def test_linear_warmup_equals_keras_cosine_warmup(config: dict) -> None:
    assume(config["warmup_target"] is not None)  # a run without warmup proves nothing here
    w = config["warmup_steps"]
    ours = LinearWarmup(
        CosineDecay(config["warmup_target"], config["decay_steps"], config["alpha"]),
        w,
        config["initial_learning_rate"],
    )
    keras_style = CosineDecay(**config)
    at = np.unique(np.array([0, 1, max(w - 1, 0), w, w + 1, w + config["decay_steps"], 2**20]))
    np.testing.assert_array_equal(ours(at), keras_style(at))


def test_sequential_switches_at_the_boundary_and_restarts_children() -> None:
    first = ExponentialDecay(1.0, 10, 0.5)
    second = InverseTimeDecay(0.25, 1, 1.0)
    s = SequentialSchedule([first, second], [20])
    np.testing.assert_array_equal(s([19, 20, 23]), np.concatenate([first([19]), second([0, 3])]))


@pytest.mark.parametrize(("t_mul", "step"), [(1.00000003, 100_000), (1 + 1e-10, 1000)])
def test_restarts_exact_keeps_a_t_mul_that_float32_rounds_to_one(t_mul: float, step: int) -> None:
    """``.exact`` is true math: the geometric branch for any ``t_mul != 1``, even one
    that Keras's float32 cast turns into 1 (derived by hand from the formula)."""
    f = step / 10
    i = math.floor(math.log(1 - f * (1 - t_mul)) / math.log(t_mul))
    fraction = (f - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i
    want = 0.5 * (1 + math.cos(math.pi * fraction))
    got = float(CosineDecayRestarts(1.0, 10, t_mul=t_mul).exact(step))
    assert got == pytest.approx(want, rel=1e-6, abs=1e-12)  # float64, cancelling near 0
    assert got != float(CosineDecayRestarts(1.0, 10, t_mul=1.0).exact(step))
