"""CosineAnnealingWarmRestarts against torch: bit for bit, fractional epochs, restarts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.testing import torch_cosine_annealing_warm_restarts, torch_rates
from refimpl.torch.cosine_restarts import restart_position
from refimpl.torch.lr_scheduler import (
    CosineAnnealingWarmRestarts,
    cosine_annealing_warm_restarts,
)

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]


@given(
    config=torch_cosine_annealing_warm_restarts(),
    lr=torch_rates(),
    extra=st.integers(0, 100),
)
@example(config={"T_0": 1, "T_mult": 1, "eta_min": 0.0}, lr=0.1, extra=5)
@example(config={"T_0": 1, "T_mult": 3, "eta_min": 1e-4}, lr=np.float32(0.1), extra=100)
@example(config={"T_0": 10, "T_mult": 2, "eta_min": 0.001}, lr=0.1, extra=0)
def test_warm_restarts_replay_torch(config, lr, extra) -> None:
    oracle.check_parity("CosineAnnealingWarmRestarts", config, lr, extra)


@pytest.mark.parametrize("kind", [float, np.float32])
def test_fractional_epochs_as_in_torch(kind) -> None:
    """``step(epoch + i / iters)`` (torch's documented batch-level use) in the twin."""
    ours = CosineAnnealingWarmRestarts(kind(0.1), T_0=3, T_mult=2, eta_min=0.001)
    optimizer = oracle.torch_optimizer(kind(0.1))
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, 3, 2, 0.001)
    optimizer.step()
    for epoch in range(12):
        for i in range(4):
            ours.step(epoch + i / 4)
            theirs.step(epoch + i / 4)
            assert oracle.as_float(theirs.get_last_lr()[0]) == ours.get_last_lr()[0]
    oracle.assert_same_state(ours.state_dict(), theirs.state_dict())


def test_torchs_epoch_path_picks_the_previous_period_at_some_restarts() -> None:
    """torch's ``step(epoch)`` takes ``int(math.log(...))``: at epoch 121 (T_0=1,
    T_mult=3, the 5th restart) it rounds down to the 4th period, whose end is
    ``eta_min``; stepping there one at a time, and the closed form, restart at ``lr``."""
    optimizer = oracle.torch_optimizer(1.0)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, 1, 3, 0.0)
    optimizer.step()
    theirs.step(121)
    assert theirs.get_last_lr()[0] == 0.0
    twin = CosineAnnealingWarmRestarts(1.0, 1, 3)
    twin.step(121)
    assert twin.get_last_lr()[0] == 0.0
    assert CosineAnnealingWarmRestarts(1.0, 1, 3)(121).tolist() == 1.0
    assert CosineAnnealingWarmRestarts(1.0, 1, 3).exact([121]).tolist() == [1.0]
    assert oracle.scheduler_only_rates(CosineAnnealingWarmRestarts(1.0, 1, 3), 122)[121] == 1.0


@given(
    t_0=st.integers(1, 50),
    t_mult=st.integers(1, 5),
    step=st.integers(0, 2**40),
)
def test_restart_position_is_exact(t_0, t_mult, step) -> None:
    """The closed form's restart index, against integer arithmetic (no floats)."""
    start, length = 0, t_0
    while start + length <= step:
        start += length
        length *= t_mult
    t_cur, t_i = restart_position(np.array([step]), t_0, t_mult)
    assert (int(t_cur[0]), int(t_i[0])) == (step - start, length)


def test_closed_form_equals_the_replay_at_restarts() -> None:
    steps = np.array([0, 1, 3, 4, 12, 13, 39, 40])
    ours = CosineAnnealingWarmRestarts(1.0, 1, 3)
    np.testing.assert_array_max_ulp(ours.closed_form(steps), ours(steps), maxulp=2)
    assert cosine_annealing_warm_restarts(4, 1.0, 1, 3).tolist() == 1.0


@pytest.mark.parametrize(
    ("kwargs", "torch_kwargs"),
    [
        ({"T_0": 0}, {"T_0": 0}),
        ({"T_0": 2.0}, {"T_0": 2.0}),
        ({"T_0": np.int64(2)}, {"T_0": np.int64(2)}),
        ({"T_0": 2, "T_mult": 0}, {"T_0": 2, "T_mult": 0}),
        ({"T_0": 2, "T_mult": 1.5}, {"T_0": 2, "T_mult": 1.5}),
        ({"T_0": 2, "eta_min": "0"}, {"T_0": 2, "eta_min": "0"}),
    ],
)
def test_validation_is_torchs(kwargs, torch_kwargs) -> None:
    optimizer = oracle.torch_optimizer(0.1)
    oracle.assert_same_error(
        lambda: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, **torch_kwargs),
        lambda: CosineAnnealingWarmRestarts(0.1, **kwargs),
    )


def test_junk_is_refused_with_the_argument_named() -> None:
    with pytest.raises(TypeError, match=r"T_0.*'2'"):
        CosineAnnealingWarmRestarts(0.1, "2")
    with pytest.raises(ValueError, match=r"eta_min.*NaN"):
        CosineAnnealingWarmRestarts(0.1, 2, eta_min=float("nan"))
