"""The argument checks shared by the torch schedulers."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl import ScheduleWarning
from refimpl.torch._validation import check_callable, check_count, check_real, is_real


def test_is_real() -> None:
    assert is_real(1)
    assert is_real(np.float32(1))
    assert is_real(2.5)
    assert not is_real(True)
    assert not is_real("1")
    assert not is_real(None)


def test_check_real() -> None:
    assert check_real("gamma", np.float64(0.5)) == 0.5
    with pytest.raises(TypeError, match=r"`gamma`.*None \(NoneType\)"):
        check_real("gamma", None)
    with pytest.raises(ValueError, match=r"`gamma`.*NaN"):
        check_real("gamma", float("nan"))
    with pytest.warns(ScheduleWarning, match=r"`gamma` is infinite"):
        check_real("gamma", float("inf"))


def test_check_count() -> None:
    assert check_count("n", np.int64(3), minimum=0) == 3
    assert check_count("n", 4.0, minimum=0) == 4
    with pytest.raises(ValueError, match=r"`n` must be an integer >= 1 \(why\)\. Received: n=0"):
        check_count("n", 0, minimum=1, why="why")
    with pytest.raises(ValueError, match=r"`n` must be an integer\. Received: n=inf"):
        check_count("n", float("inf"), minimum=0)
    with pytest.raises(TypeError, match=r"`n`.*'3'"):
        check_count("n", "3", minimum=0)


def test_check_callable() -> None:
    check_callable("f", abs)
    with pytest.raises(TypeError, match=r"`f`.*3 \(int\)"):
        check_callable("f", 3)
