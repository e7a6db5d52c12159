"""StepLR and MultiStepLR against torch: bit for bit, and where they switch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.schedules import PiecewiseConstantDecay
from refimpl.testing import torch_multi_step_lr, torch_rates, torch_step_lr
from refimpl.torch.lr_scheduler import MultiStepLR, StepLR, multi_step_lr, step_lr

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]


@given(config=torch_step_lr(), lr=torch_rates(), extra=st.integers(0, 60))
@example(config={"step_size": 1, "gamma": 0.1}, lr=0.1, extra=0)
@example(config={"step_size": 30, "gamma": 0.1}, lr=np.float32(0.1), extra=0)
@example(config={"step_size": 7, "gamma": 1.1}, lr=np.float32(1.0), extra=30)
def test_step_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("StepLR", config, lr, extra)


@given(
    config=torch_multi_step_lr(),
    lr=torch_rates(),
    extra=st.integers(0, 60),
)
@example(config={"milestones": [30, 80], "gamma": 0.1}, lr=0.1, extra=0)
@example(config={"milestones": [0, 3, 3, 5], "gamma": 0.5}, lr=np.float32(0.3), extra=0)
@example(config={"milestones": [9, 2], "gamma": 0.9}, lr=0.3, extra=0)
@example(config={"milestones": [], "gamma": 0.9}, lr=0.3, extra=5)
def test_multi_step_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("MultiStepLR", config, lr, extra)


def test_multi_step_switches_at_the_milestone_keras_one_step_later() -> None:
    """torch's MultiStepLR decays *at* milestone 30; Keras's PiecewiseConstantDecay
    (boundary 30, proven equal to Keras elsewhere) holds until 30 and switches at 31."""
    steps = np.arange(28, 33)
    run = oracle.TorchRun(MultiStepLR(1.0, [30], gamma=0.5), 33)
    assert run.rates[steps].tolist() == [1.0, 1.0, 0.5, 0.5, 0.5]
    keras = PiecewiseConstantDecay([30], [1.0, 0.5])(steps)
    assert keras.tolist() == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert MultiStepLR(1.0, [30], gamma=0.5)(steps).tolist() == run.rates[steps].tolist()


def test_milestone_zero_decays_at_construction() -> None:
    run = oracle.TorchRun(MultiStepLR(1.0, [0], gamma=0.5), 2)
    assert run.rates.tolist() == [0.5, 0.5]
    assert MultiStepLR(1.0, [0], gamma=0.5)([0, 1]).tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("ours", "torch_make"),
    [
        (StepLR(0.1, 3, 0.7), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.7)),
        (
            MultiStepLR(0.1, [2, 5, 5], 0.7),
            lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2, 5, 5], 0.7),
        ),
    ],
)
def test_closed_form_is_torchs_closed_form(ours, torch_make) -> None:
    """torch's ``step(epoch)`` evaluates its ``_get_closed_form_lr``: ours is the same
    formula (``**`` is C's pow there, NumPy's here: within 2 ulp)."""
    optimizer = oracle.torch_optimizer(0.1)
    scheduler = torch_make(optimizer)
    optimizer.step()
    steps = np.arange(12)

    def at(epoch: int) -> float:
        scheduler.step(epoch)
        return optimizer.param_groups[0]["lr"]

    with pytest.warns(UserWarning, match=r"epoch parameter"):
        theirs = [at(int(epoch)) for epoch in steps]
    np.testing.assert_array_max_ulp(ours.closed_form(steps), np.array(theirs), maxulp=2)
    np.testing.assert_array_max_ulp(ours.exact(steps), np.array(theirs), maxulp=2)


def test_closed_form_runs_on_any_namespace_shape() -> None:
    assert step_lr(np.arange(4).reshape(2, 2), 1.0, 2, 0.5).tolist() == [[1.0, 1.0], [0.5, 0.5]]
    assert multi_step_lr(3, 1.0, [], 0.5) == 1.0


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: StepLR(0.1, 0), ValueError, "step_size.*>= 1.*ZeroDivisionError.*step_size=0"),
        (lambda: StepLR(0.1, 2.5), ValueError, "step_size.*integer.*2.5"),
        (lambda: StepLR(0.1, "3"), TypeError, "step_size.*'3'"),
        (lambda: StepLR(0.1, 3, gamma=None), TypeError, "gamma.*None"),
        (lambda: StepLR(0.1, 3, gamma=float("nan")), ValueError, "gamma.*NaN"),
        (lambda: MultiStepLR(0.1, 30), TypeError, "milestones.*30"),
        (lambda: MultiStepLR(0.1, [1.5]), ValueError, r"milestones\[0\].*1.5"),
    ],
)
def test_bad_arguments_name_argument_and_value(make, error, match) -> None:
    with pytest.raises(error, match=match):
        make()


def test_integral_float_step_size_is_torchs_integer() -> None:
    assert StepLR(0.1, 3.0)(np.arange(7)).tolist() == StepLR(0.1, 3)(np.arange(7)).tolist()
