"""refimpl.optax's schedule functions without JAX: validation (as Optax, errors naming
the argument), what the objects know (config, repr, edges, horizon, result types), the
exact mode against the formulas written out by hand, and the traps the docstrings
state, computed from the references.  Parity with Optax itself is
``test_optax_parity.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refimpl.optax as ro
from refimpl.optax._types import JaxTypes

# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: ro.constant_schedule("0.1"), TypeError, "`value`"),
        (lambda: ro.constant_schedule(np.float32(0.1)), TypeError, "Python int or float"),
        (lambda: ro.linear_schedule(0.1, 0.0, 2.5), TypeError, "`transition_steps`"),
        (lambda: ro.linear_schedule(0.1, 0.0, 10, transition_begin=2**31), ValueError, "int32"),
        (lambda: ro.polynomial_schedule(0.1, 0.0, math.nan, 10), ValueError, "`power`"),
        (lambda: ro.exponential_decay(0.1, 10, 0.5, staircase=1), TypeError, "`staircase`"),
        (lambda: ro.cosine_decay_schedule(0.1, 0), ValueError, "positive decay_steps"),
        (lambda: ro.cosine_decay_schedule(0.1, -3.5), ValueError, "decay_steps=-3.5"),
        (lambda: ro.piecewise_constant_schedule(0.1, {10: -0.5}), ValueError, "non-negative"),
        (lambda: ro.piecewise_constant_schedule(0.1, {10.0: 0.5}), TypeError, "key 10.0"),
        (lambda: ro.piecewise_constant_schedule(0.1, {10: math.inf}), ValueError, "[10]"),
        (lambda: ro.piecewise_constant_schedule(0.1, [(10, 0.5)]), TypeError, "dict"),
        (lambda: ro.piecewise_interpolate_schedule("cubic", 0.1), ValueError, "'cubic'"),
        (lambda: ro.piecewise_interpolate_schedule("linear", 0.1, {-5: 0.5}), ValueError, "-5"),
        (lambda: ro.piecewise_interpolate_schedule("linear", 1, {5: 2}), TypeError, "1.0"),
        (lambda: ro.linear_onecycle_schedule(0, 0.1), ValueError, "transition_steps=0"),
        (lambda: ro.cosine_onecycle_schedule(10, "0.1"), TypeError, "`peak_value`"),
        (lambda: ro.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10), ValueError,
         "decay_steps counts the warmup"),
        (lambda: ro.join_schedules([ro.constant_schedule(0.1), lambda c: 0.1], [5]), TypeError,
         "`schedules[1]`"),
        (lambda: ro.join_schedules([ro.constant_schedule(0.1)], [5]), ValueError,
         "one boundary fewer"),
        (lambda: ro.join_schedules([], []), ValueError, "must not be empty"),
        (lambda: ro.sgdr_schedule([{"decay_steps": 5, "warmup": 1}]), TypeError, "warmup"),
        (lambda: ro.sgdr_schedule([]), ValueError, "at least one cycle"),
        (lambda: ro.sgdr_schedule({"decay_steps": 5}), TypeError, "list of dicts"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_naming_them(call, error, words) -> None:
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("count", "kwargs", "error", "words"),
    [
        (1.5, {}, ValueError, "integers"),
        (True, {}, TypeError, "integer"),
        ("3", {}, TypeError, "integer"),
        (2**31, {}, ValueError, "int32"),
        ([0, 1], {"mode": "xla"}, ValueError, "mode='xla'"),
        ([0, 1], {"count_dtype": "int64"}, ValueError, "x64=True"),
        ([0, 1], {"count_dtype": "int16", "x64": True}, ValueError, "count_dtype"),
    ],
)
def test_bad_counts_and_modes_raise_naming_them(count, kwargs, error, words) -> None:
    with pytest.raises(error) as info:
        ro.cosine_decay_schedule(0.1, 10)(count, **kwargs)
    assert words in str(info.value)


def test_optax_degenerate_arguments_are_optaxs_constants() -> None:
    """Optax logs and returns ``init_value`` for these; a negative ``transition_begin``
    is 0 -- not an error (Optax accepts them)."""
    counts = np.arange(6)
    assert (ro.linear_schedule(0.3, 0.0, 0)(counts) == np.float32(0.3)).all()
    assert (ro.exponential_decay(0.3, 5, 0.0)(counts) == np.float32(0.3)).all()
    shifted = ro.linear_schedule(1.0, 0.0, 4, transition_begin=-3)
    assert shifted(counts).tolist() == ro.linear_schedule(1.0, 0.0, 4)(counts).tolist()


# --- what a schedule knows ---------------------------------------------------------------------


def test_repr_and_config_are_optaxs_call() -> None:
    schedule = ro.warmup_cosine_decay_schedule(0.0, 1.0, 5, 15, end_value=0.1)
    assert repr(schedule) == (
        "optax.warmup_cosine_decay_schedule(init_value=0.0, peak_value=1.0, warmup_steps=5, "
        "decay_steps=15, end_value=0.1, exponent=1.0)"
    )
    assert schedule.get_config()["decay_steps"] == 15
    assert repr(ro.linear_schedule(1.0, 0.0, 4)).startswith("optax.linear_schedule(")
    assert schedule.optax_name == "warmup_cosine_decay_schedule"


@pytest.mark.parametrize(
    ("schedule", "edges", "horizon"),
    [
        (ro.linear_schedule(1.0, 0.0, 10, transition_begin=5), [0, 5, 15], 15),
        (ro.cosine_decay_schedule(1.0, 100), [0, 100], 100),
        (ro.piecewise_constant_schedule(1.0, {30: 0.1, 10: 0.5}), [0, 10, 30], 30),
        (ro.exponential_decay(1.0, 10, 0.5), [0, 10], None),
        (ro.constant_schedule(0.1), [0], 0),
        (ro.warmup_cosine_decay_schedule(0.0, 1.0, 5, 15), [0, 5, 15], 15),
    ],
)
def test_edges_and_horizon(schedule, edges, horizon) -> None:
    assert schedule.edge_steps() == edges
    assert schedule.horizon() == horizon


def test_staircase_edges_are_the_multiples() -> None:
    edges = ro.exponential_decay(1.0, 7, 0.5, transition_begin=3, staircase=True).edge_steps()
    assert edges[:4] == [0, 3, 10, 17]


@pytest.mark.parametrize(
    ("schedule", "x64_dtype"),
    [
        (ro.linear_schedule(0.1, 0.0, 10), "float32"),  # int32 count / int: float32
        (ro.polynomial_schedule(0.1, 0.0, 2, 10), "float32"),
        (ro.exponential_decay(0.1, 10, 0.5), "float32"),
        (ro.cosine_decay_schedule(0.1, 10), "float64"),  # minimum(count, 10.0): default float
        (ro.piecewise_constant_schedule(0.1, {5: 0.1}), "float64"),
        (ro.piecewise_interpolate_schedule("linear", 0.1, {5: 0.1}), "float64"),
        (ro.warmup_cosine_decay_schedule(0.0, 0.1, 2, 10), "float32"),  # where(f32, weak f64)
        (ro.constant_schedule(0.1), "float64"),
    ],
)
def test_dtypes_with_x64_follow_jax_promotion(schedule, x64_dtype) -> None:
    assert schedule([0, 3]).dtype == np.float32
    assert str(schedule([0, 3], x64=True).dtype) == x64_dtype
    assert schedule([0, 3], x64=True, count_dtype="int64").dtype == np.float64


def test_weak_results_are_the_ones_a_python_float_meets_the_count_in() -> None:
    types = JaxTypes()
    assert ro.cosine_decay_schedule(0.1, 10).result_type(types).weak
    assert ro.constant_schedule(0.1).result_type(types).weak
    assert not ro.linear_schedule(0.1, 0.0, 10).result_type(types).weak
    assert not ro.exponential_decay(0.1, 10, 0.5).result_type(types).weak


def test_eager_python_numbers_are_float64() -> None:
    """Un-jitted, Optax's constant schedules return the Python number itself."""
    values = ro.constant_schedule(0.1)([0, 1], mode="eager")
    assert values.dtype == np.float64
    assert values.tolist() == [0.1, 0.1]


# --- exact: the formulas written out ---------------------------------------------------------


def test_exact_is_the_formula_in_float64() -> None:
    n = np.arange(0, 40)
    cosine = ro.cosine_decay_schedule(0.5, 30, alpha=0.1, exponent=2.0).exact(n)
    t = np.minimum(n, 30)
    by_hand = 0.5 * (0.9 * (0.5 * (1 + np.cos(np.pi * t / 30))) ** 2 + 0.1)
    np.testing.assert_allclose(cosine, by_hand, rtol=1e-15)
    poly = ro.polynomial_schedule(1.0, 0.1, 1.5, 20, transition_begin=5).exact(n)
    frac = 1 - np.clip(n - 5, 0, 20) / 20
    np.testing.assert_allclose(poly, 0.9 * frac**1.5 + 0.1, rtol=1e-15)
    stairs = ro.exponential_decay(2.0, 7, 0.5, transition_begin=3, staircase=True).exact(n)
    assert stairs.tolist() == [2.0 if k <= 3 else 2.0 * 0.5 ** ((k - 3) // 7) for k in n]


def test_exact_piecewise_and_joins_by_hand() -> None:
    n = np.arange(0, 30)
    constant = ro.piecewise_constant_schedule(1.0, {10: 0.5, 20: 0.5}).exact(n)
    assert constant.tolist() == [1.0 if k < 10 else 0.5 if k < 20 else 0.25 for k in n]
    linear = ro.piecewise_interpolate_schedule("linear", 1.0, {10: 0.5, 20: 0.5}).exact(n)
    by_hand = [1 - 0.05 * k if k < 10 else 0.5 - 0.025 * (k - 10) if k < 20 else 0.25 for k in n]
    np.testing.assert_allclose(linear, by_hand, rtol=1e-15)
    warm = ro.warmup_cosine_decay_schedule(0.0, 1.0, 5, 15).exact(n)
    by_hand = [k / 5 if k < 5 else 0.5 * (1 + math.cos(math.pi * min(k - 5, 10) / 10)) for k in n]
    np.testing.assert_allclose(warm, by_hand, rtol=1e-15, atol=1e-16)


# --- traps the docstrings state, from the references ----------------------------------------


def test_warmup_is_counted_inside_decay_steps() -> None:
    """optax#835: the cosine reaches its end at ``decay_steps``, not ``warmup_steps +
    decay_steps``; Keras's CosineDecay(decay_steps=10, warmup_steps=5) is (5, 15)."""
    from refimpl.schedules import CosineDecay

    n = np.arange(0, 25)
    optax_like = ro.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=5, decay_steps=15)
    keras = CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=5)
    np.testing.assert_allclose(optax_like.exact(n), keras.exact(n), atol=1e-15)
    assert ro.warmup_cosine_decay_schedule(0.0, 1.0, 5, 10).exact(n)[10] == 0.0  # 5 decay counts


def test_piecewise_switches_at_the_boundary_and_scales_multiply() -> None:
    from refimpl.schedules import PiecewiseConstantDecay

    schedule = ro.piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.1})
    assert schedule.exact([99, 100, 200]).tolist() == [1.0, 0.1, 0.1 * 0.1]
    keras = PiecewiseConstantDecay([99, 199], [1.0, 0.1, 0.01])  # Keras b = Optax b - 1
    n = np.arange(0, 300)
    np.testing.assert_allclose(schedule.exact(n), keras.exact(n), rtol=1e-15)


def test_jit_divides_by_multiplying_with_the_reciprocal() -> None:
    """``fl(61 * fl(1/61)) = 0.99999994``: under jit the stair at 61 comes one count
    late; eagerly JAX divides."""
    schedule = ro.exponential_decay(1.0, 61, 0.5, staircase=True)
    assert np.float32(61) * (np.float32(1) / np.float32(61)) < 1  # the arithmetic fact
    assert schedule([61, 62], mode="jit").tolist() == [1.0, 0.5]
    assert schedule([61, 62], mode="eager").tolist() == [0.5, 0.5]
    assert "0.01639344" in str(schedule.trace("jit"))  # fl(1/61), then exp2 (rate 0.5)


def test_linear_to_zero_ends_below_zero_under_jit() -> None:
    """``fma(3, -fl(1/3), 1)`` is -2**-25 rounded once (not 0): times 0.1."""
    end = ro.linear_schedule(0.1, 0.0, 3)([3, 100], mode="jit")
    q = np.float64(1) - 3 * np.float64(np.float32(1) / np.float32(3))  # exact in float64
    assert end.tolist() == [float(np.float32(q * np.float64(np.float32(0.1))))] * 2
    assert end[0] < 0
    assert ro.linear_schedule(0.1, 0.0, 3)([3], mode="eager").tolist() == [0.0]
