"""OneCycleLR against torch: bit for bit, momentum, the step budget, validation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given

from refimpl.testing import torch_one_cycle_lr, torch_rates
from refimpl.torch.lr_scheduler import OneCycleLR, Optimizer, one_cycle_lr

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]

BASE = {
    "max_lr": 0.1,
    "total_steps": 100,
    "pct_start": 0.3,
    "anneal_strategy": "cos",
    "div_factor": 25.0,
    "final_div_factor": 1e4,
    "three_phase": False,
}


@given(config=torch_one_cycle_lr(), lr=torch_rates())
@example(config=BASE, lr=0.1)
@example(config={**BASE, "three_phase": True}, lr=np.float32(0.1))
@example(config={**BASE, "total_steps": 2, "pct_start": 0.0}, lr=0.1)
@example(config={**BASE, "anneal_strategy": "linear", "total_steps": 7}, lr=np.float32(0.1))
def test_one_cycle_lr_replays_torch(config, lr) -> None:
    oracle.check_parity("OneCycleLR", config, lr)  # up to the last allowed step


def test_the_extra_step_and_the_error_after_it() -> None:
    """pytorch#38170: rates exist for steps 0 .. total_steps (one more than
    total_steps), and the step after raises torch's ValueError."""
    ours = OneCycleLR(0.1, max_lr=1.0, total_steps=10)
    run = oracle.TorchRun(ours, 11)
    oracle.assert_bit_equal(ours(np.arange(11)), run.rates, "OneCycleLR")
    assert run.rates[10] > run.rates[9]  # the extra step extrapolates the cosine upwards
    twin = ours.fresh()
    for _ in range(10):
        twin.step()
    error = oracle.assert_same_error(run.scheduler.step, twin.step)
    assert str(error) == "Tried to step 11 times. The specified number of total steps is 10"
    with pytest.raises(ValueError, match=r"step.*last step 10.*step=11"):
        ours([3, 11])


def test_a_phase_of_no_length_divides_by_zero_as_in_torch() -> None:
    with pytest.raises(ZeroDivisionError):
        torch.optim.lr_scheduler.OneCycleLR(oracle.torch_optimizer(0.1), 1.0, 10, pct_start=0.1)
    with pytest.raises(ZeroDivisionError, match=r"pct_start=0.1.*total_steps=10"):
        OneCycleLR(0.1, 1.0, 10, pct_start=0.1)
    ours = OneCycleLR(0.1, 1.0, 10, pct_start=1.0)  # the last phase: at the extra step
    run = oracle.TorchRun(ours, 10)
    oracle.assert_bit_equal(ours(np.arange(10)), run.rates, "pct_start=1.0")
    with pytest.raises(ZeroDivisionError):
        run.scheduler.step()
    with pytest.raises(ZeroDivisionError, match=r"step 10"):
        ours(10)


def test_cycle_momentum_turns_momentum_on_in_sgd() -> None:
    ours = OneCycleLR(Optimizer(0.1, momentum=0.0), max_lr=1.0, total_steps=10)
    assert ours.optimizer.param_groups[0]["momentum"] == 0.95
    run = oracle.TorchRun(ours, 11)
    assert run.momentum[0] == 0.95
    assert run.momentum.min() == 0.85


def test_betas_of_an_adam_like_optimizer_cycle() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    adam = torch.optim.Adam([param], lr=0.1)
    theirs = torch.optim.lr_scheduler.OneCycleLR(adam, max_lr=1.0, total_steps=20)
    ours = OneCycleLR(Optimizer(0.1, betas=(0.9, 0.999)), max_lr=1.0, total_steps=20)
    adam.step()
    for _ in range(20):
        theirs.step()
        ours.step()
        assert ours.optimizer.param_groups[0]["betas"] == adam.param_groups[0]["betas"]
        assert ours.get_last_lr() == theirs.get_last_lr()


def test_closed_form_is_torchs_get_lr() -> None:
    steps = np.arange(101)
    ours = OneCycleLR(0.1, **BASE)
    np.testing.assert_array_max_ulp(ours.closed_form(steps), ours(steps), maxulp=4)
    assert abs(one_cycle_lr(0, 1.0, 10) - 0.04) < 1e-16


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_lr": 1.0},
        {"max_lr": 1.0, "total_steps": 0},
        {"max_lr": 1.0, "total_steps": 10.0},
        {"max_lr": 1.0, "epochs": 0, "steps_per_epoch": 3},
        {"max_lr": 1.0, "epochs": 2, "steps_per_epoch": -3},
        {"max_lr": 1.0, "total_steps": 10, "pct_start": 1},
        {"max_lr": 1.0, "total_steps": 10, "pct_start": 1.5},
        {"max_lr": 1.0, "total_steps": 10, "anneal_strategy": "exp"},
        {"max_lr": [1.0, 2.0], "total_steps": 10},
    ],
)
def test_validation_is_torchs(kwargs) -> None:
    oracle.assert_same_error(
        lambda: torch.optim.lr_scheduler.OneCycleLR(oracle.torch_optimizer(0.1), **kwargs),
        lambda: OneCycleLR(0.1, **kwargs),
    )


def test_refimpl_refusals_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"div_factor.*div_factor=0"):
        OneCycleLR(0.1, 1.0, 10, div_factor=0)
    with pytest.raises(TypeError, match=r"total_steps.*'10'"):
        OneCycleLR(0.1, 1.0, "10")
