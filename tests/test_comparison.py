"""refimpl.comparison: the ulp distance and the bounds, with NumPy alone."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from refimpl import comparison

#: What a plain ``pip install`` lacks; ``refimpl.comparison`` must import without them.
BLOCKED = ("hypothesis", "tensorflow", "keras", "tf_keras", "matplotlib", "torch", "jax")


def test_imports_without_hypothesis_or_any_framework() -> None:
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in BLOCKED)
    code = (
        f"import sys; {blocked}\n"
        "from refimpl.comparison import tolerance, ulp_distance, within_bounds\n"
        "import numpy as np\n"
        "assert int(ulp_distance(np.float32(1), np.float32(1) + np.float32(2**-23))) == 1\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_testing_reexports_the_same_objects() -> None:
    testing = pytest.importorskip("refimpl.testing")
    for name in comparison.__all__:
        assert getattr(testing, name) is getattr(comparison, name), name
        assert name in testing.__all__


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ulp_distance_counts_representable_values(dtype: type[np.floating]) -> None:
    """Walk k values up from a number with nextafter: the distance is k, also across 0."""
    start = dtype(-3 * np.finfo(dtype).smallest_subnormal)
    value = start
    for k in range(1, 8):
        value = np.nextafter(value, dtype(1))
        assert int(comparison.ulp_distance(start, value, dtype)) == k
        assert int(comparison.ulp_distance(value, start, dtype)) == k


def test_ulp_distance_nan_and_signed_zero() -> None:
    nan, one = np.float32(np.nan), np.float32(1.0)
    assert int(comparison.ulp_distance(nan, nan)) == 0
    assert int(comparison.ulp_distance(nan, one)) == np.iinfo(np.int64).max
    assert int(comparison.ulp_distance(np.float64(0.0), np.float64(-0.0))) == 0


def test_tolerance_is_zero_ulp_for_exact_formulas() -> None:
    from refimpl.schedules import InverseTimeDecay, PiecewiseConstantDecay, TimeBasedDecay

    for schedule in (
        PiecewiseConstantDecay([10], [0.1, 0.05]),
        InverseTimeDecay(0.1, 10, 0.5),
        TimeBasedDecay(0.1, 0.1),
    ):
        name, config = type(schedule).__name__, schedule.get_config()
        ulps, atol = comparison.tolerance(name, config, "float32")
        assert ulps == 0
        assert not atol(np.arange(5)).any()
        assert schedule.rounding_bound("float32")[0] == 0
    ulps, atol = comparison.tolerance(
        "CosineDecay", {"initial_learning_rate": 1.0, "decay_steps": 5}, "float32"
    )
    assert ulps == 2
    # 0.5 * (1 + cos) within 2.5u, the product and the sum one rounding (2u) each:
    # 6.5u for lr = 1, alpha = 0 (the derivation in rounding_bound's docstring).
    assert atol(np.arange(3)).tolist() == [6.5 * 2.0**-24] * 3


def test_every_class_derives_its_own_bound() -> None:
    """The bound lives on the class: a transcendental formula is 2 ulp, the others 0, a
    composite the loosest of its children."""
    from refimpl.schedules import SCHEDULES, LinearWarmup, PolynomialDecay, SequentialSchedule
    from refimpl.testing import schedule_batches  # noqa: F401 - the test extra is here

    exact = {n for n, cls in SCHEDULES.items() if cls.exact_arithmetic}
    assert exact == {"PiecewiseConstantDecay", "InverseTimeDecay", "TimeBasedDecay"}
    warm = LinearWarmup(PolynomialDecay(0.3, 10, 0.1), 5)
    assert warm.rounding_bound("float32")[0] == 2
    # PolynomialDecay's own: one ulp of pow, scaled by |lr - end| = 0.2.
    assert warm.rounding_bound("float32")[1](np.arange(2)).tolist() == [(0.3 - 0.1) * 2.0**-24] * 2
    seq = SequentialSchedule([PolynomialDecay(0.3, 10, 0.1), PolynomialDecay(0.5, 10)], [10])
    assert seq.rounding_bound("float64")[1](np.arange(1)).tolist() == [(0.5 - 0.0001) * 2.0**-53]


class _TensorFlowLikeDType:
    """What tf.float64 offers NumPy: ``as_numpy_dtype``."""

    as_numpy_dtype = np.float64


@pytest.mark.parametrize(
    "dtype", ["float32", "f4", np.float32, np.dtype("float32"), np.dtype(np.float32).type]
)
def test_tolerance_accepts_any_dtype_like(dtype: object) -> None:
    config = {"initial_learning_rate": 1.0, "decay_steps": 5}
    ulps, atol = comparison.tolerance("CosineDecay", config, dtype)
    assert ulps == 2
    assert atol(np.arange(2)).tolist() == [6.5 * 2.0**-24] * 2


def test_tolerance_scales_with_the_dtype() -> None:
    """u is half the dtype's epsilon: 2**-53 in float64, 2**-11 in float16."""
    config = {"initial_learning_rate": 1.0, "decay_steps": 5}
    for dtype, u in ((_TensorFlowLikeDType(), 2.0**-53), (np.float16, 2.0**-11)):
        _, atol = comparison.tolerance("CosineDecay", config, dtype)
        assert atol(np.arange(1)).tolist() == [6.5 * u]


@pytest.mark.parametrize(
    ("dtype", "error", "match"),
    [
        ("int32", ValueError, "must be a floating dtype .* Received: dtype='int32'"),
        (np.int64, ValueError, "must be a floating dtype"),
        ("float33", TypeError, "NumPy dtype-like .* Received: dtype='float33'"),
        (None, TypeError, "not None"),
    ],
)
def test_tolerance_refuses_a_dtype_that_is_not_floating(
    dtype: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        comparison.tolerance("ExponentialDecay", {"initial_learning_rate": 0.1}, dtype)


def test_tolerance_refuses_a_configuration_without_a_bound() -> None:
    """t_mul <= 0: Keras computes NaN or nonsense (refimpl warns); no bound to give."""
    with pytest.raises(ValueError, match="t_mul <= 0"):
        comparison.tolerance(
            "CosineDecayRestarts",
            {"initial_learning_rate": 0.1, "first_decay_steps": 1, "t_mul": 0.0},
            "float32",
        )
