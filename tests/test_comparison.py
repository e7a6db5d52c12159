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
