"""XLA mode: XLA's and LLVM's rewrites, each on a hand-made graph, and the whole mode
against the rates Keras applies with ``jit_compile=True`` (tests/_mode_parity.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refimpl.exceptions import ScheduleWarning
from refimpl.kernels.fma import fma_float32
from refimpl.modes import xla
from refimpl.modes.trace import run
from refimpl.schedules import ExponentialDecay, PolynomialDecay
from tests._mode_parity import make_parity_test

F = np.float32


def test_a_product_added_to_a_value_is_one_fused_multiply_add() -> None:
    tr = xla.tracer()
    s = tr.cast(tr.step(), "float32")
    node = tr.finish(tr.subtract(1.0, s * F(0.1)))
    assert node.op == "fma"
    assert run(node, [3])[0] == fma_float32(F(-3), F(0.1), F(1))


def test_a_shared_product_is_not_fused() -> None:
    tr = xla.tracer()
    s = tr.cast(tr.step(), "float32")
    p = s * s
    node = tr.finish(tr.add(p + 1.0, p))
    assert "fma" not in str(node)


def test_constant_factors_are_multiplied_first() -> None:
    """(A * C1) * C2 -> A * fl(C1 * C2); (A * C1) * (B * C2) -> (A * B) * fl(C1 * C2)."""
    tr = xla.tracer()
    s = tr.cast(tr.step(), "float32")
    node = tr.multiply(tr.multiply(s, F(3)), F(0.1))
    assert node.inputs[1].value == F(3) * F(0.1)
    c = tr.cos(s)
    both = tr.multiply(tr.multiply(s, F(3)), tr.multiply(c, F(0.1)))
    assert both.inputs[1].value == F(3) * F(0.1)


def test_a_power_of_two_base_becomes_exp2() -> None:
    """LLVM's LibCallSimplifier: pow(0.5, x) -> exp2(-x)."""
    tr = xla.tracer()
    s = tr.cast(tr.step(), "float32")
    assert tr.power(F(0.5), s).op == "exp2"
    assert tr.power(F(0.6), s).op == "power"
    assert str(ExponentialDecay(0.1, 7, 0.25).trace("xla")).startswith("multiply(exp2(")


def test_the_minimum_of_the_step_splits_into_a_folded_arm() -> None:
    """PolynomialDecay(power=1.5): XLA fuses 1 - s * fl(1/ds) into one fma, so at
    step == decay_steps the base can be slightly negative and pow gives NaN; past the
    end, LLVM folded the arm without the fma: no NaN there.  Hand-derived for
    decay_steps = 7, where fl(1/7) > 1/7."""
    assert F(1) / F(7) > F(1 / 7) or float(F(1) / F(7)) > 1 / 7
    base = fma_float32(F(-7), F(1) / F(7), F(1))
    assert base < 0
    schedule = PolynomialDecay(0.3, 7, 0.1, power=1.5)
    with pytest.warns(ScheduleWarning, match="xla mode gives nan where the documented formula"):
        rates = schedule(np.array([6, 7, 8]), mode="xla")
    assert math.isnan(rates[1])
    assert not np.isnan(rates[[0, 2]]).any()
    assert rates[2] == F(0.1)
    assert not np.isnan(schedule(np.array([7]), mode="graph")).any()


def test_masks_times_values_are_selections() -> None:
    """An inf value in another interval does not poison the step (it does in graph mode)."""
    import warnings

    from refimpl.schedules import PiecewiseConstantDecay

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # inf values: warned at construction
        schedule = PiecewiseConstantDecay([10], [F(np.inf), F(0.1)])
        assert schedule(20, mode="xla") == F(0.1)
        assert np.isnan(schedule(20, mode="graph"))


test_every_schedule_class_matches_keras_in_xla_mode = make_parity_test("xla")


def test_a_zero_period_cosine_frees_the_steps_minimum() -> None:
    """num_periods = 0: LLVM folds cos(min(s, ds) * 0) to 1 (x * 0.0 is copysign(0, x)
    for a finite x, and cosine is even), so the minimum has one use left and is split
    off past decay_steps; the noise's product is then the one fused.  Found by the
    parity test; compared here with the rate Keras applies."""
    oracle = pytest.importorskip("keras_adapter.oracle")
    from refimpl.schedules import NoisyLinearCosineDecay
    from tests._modes import keras_twin

    schedule = NoisyLinearCosineDecay(
        1.0,
        2,
        initial_variance=1.0,
        variance_decay=0.0,
        num_periods=0.0,
        alpha=0.0,
        beta=0.0,
        seed=1,
    )
    steps = np.arange(6)
    want = oracle.training_rates([keras_twin(schedule)], 6, mode="xla")[0]
    np.testing.assert_array_equal(schedule(steps, mode="xla"), want)
    assert "where(less_equal(step, 2)" in str(schedule.trace("xla"))
