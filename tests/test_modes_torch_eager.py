"""Torch mode: Keras 3 on PyTorch, one CPU kernel per operation -- its dtype rules,
subnormals kept, the step range; hand-derived facts, NumPy only.  (What Keras on torch
applies, measured: tests/test_keras_adapter_backends.py.)"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

from refimpl.exceptions import ScheduleWarning
from refimpl.modes import torch_eager
from refimpl.modes.trace import Kernels, run
from refimpl.schedules import ExponentialDecay, PolynomialDecay

F = np.float32
TINY = np.finfo(F).smallest_normal


def test_subnormal_rates_are_kept() -> None:
    """0.01**19 ~ 1e-38 is below float32's smallest normal: torch keeps it, TensorFlow's
    eager and compiled modes flush it to zero."""
    s = ExponentialDecay(1.0, 1, 0.01)
    rate = s(19, mode="torch")
    assert 0 < rate < TINY
    exact = Fraction(float(F(0.01))) ** 19
    assert abs(Fraction(float(rate)) - exact) <= Fraction(1, 2**149)  # one subnormal ulp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # flushed: it warns
        assert s(19) == 0
        assert s(19, mode="graph") == 0


def test_the_kernels_flush_only_when_asked() -> None:
    x = F(2.0**-70)
    assert torch_eager.TORCH_CPU.apply("multiply", [x, x], ()) == F(2.0**-140)
    flushing = Kernels("flushing", {})
    assert flushing.apply("multiply", [x, x], ()) == 0


def test_a_float64_rate_computes_in_float32() -> None:
    """A ``np.float64`` is a Python float: Keras's torch ``convert_to_tensor`` gives it
    ``floatx()``; the rates are the float32 configuration's, not TensorFlow's float64."""
    steps = np.arange(0, 300, 3)
    wide = ExponentialDecay(np.float64(0.1), 7, 0.3)
    narrow = ExponentialDecay(0.1, 7, 0.3)
    assert (wide(steps, mode="torch") == narrow(steps, mode="torch")).all()
    assert (wide(steps, mode="graph") != narrow(steps, mode="graph")).any()


def test_casting_a_python_float_rounds_once() -> None:
    """``cast(0.1, "float64")`` on torch is the double 0.1; TensorFlow's eager
    ``cast`` converts the Python float to float32 first."""
    tr = torch_eager.tracer()
    assert tr.cast(0.1, "float64").value == np.float64(0.1)


def test_no_rewrite() -> None:
    """Each operation as the formula calls it: ``step / decay_steps`` stays a division
    (graph and XLA modes multiply by the rounded reciprocal), no FMA."""
    s = PolynomialDecay(0.1, 61, 0.01, power=1.5)
    graph = str(s.trace("torch"))
    assert "truediv" in graph
    assert "fma" not in graph
    steps = np.arange(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        assert (s(steps, mode="torch") == F(s(steps))).all()  # no subnormals here: eager's
    assert run(s.trace("torch"), steps).dtype == F


@pytest.mark.parametrize("step", [2**31, [5, 2**40], -(2**31) - 1])
def test_steps_outside_the_int32_counter_are_refused(step: object) -> None:
    with pytest.raises(ValueError, match=r"mode='torch'.*int32.*Received: step="):
        ExponentialDecay(0.1, 7, 0.3)(step, mode="torch")  # type: ignore[arg-type]
