"""ConstantLR and LinearLR against torch: bit for bit, the warmup end, validation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl import ScheduleWarning
from refimpl.testing import torch_constant_lr, torch_linear_lr, torch_rates
from refimpl.torch.lr_scheduler import ConstantLR, LinearLR, constant_lr, linear_lr

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]


@given(config=torch_constant_lr(), lr=torch_rates(), extra=st.integers(0, 30))
@example(config={"factor": 1.0 / 3, "total_iters": 5}, lr=0.1, extra=0)
@example(config={"factor": 0.1, "total_iters": 1}, lr=np.float32(0.3), extra=0)
def test_constant_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("ConstantLR", config, lr, extra)


@given(config=torch_linear_lr(), lr=torch_rates(), extra=st.integers(0, 30))
@example(
    config={"start_factor": 1.0 / 3, "end_factor": 1.0, "total_iters": 5},
    lr=0.1,
    extra=0,
)
@example(
    config={"start_factor": 0.001, "end_factor": 0.0, "total_iters": 1},
    lr=np.float32(0.1),
    extra=0,
)
@example(
    config={"start_factor": 1.0, "end_factor": 0.1, "total_iters": 100},
    lr=np.float32(0.7),
    extra=0,
)
def test_linear_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("LinearLR", config, lr, extra)


def test_warmup_end_is_within_rounding_of_the_target_not_always_equal() -> None:
    """torch reaches ``lr * end_factor`` by multiplying ratios: the end rate can miss it
    by an ulp; refimpl's replay misses it the same way (the closed form does not)."""
    misses = [
        (start, total)
        for start in (0.1, 0.3, 1.0 / 3, 0.7)
        for total in range(1, 40)
        if LinearLR(0.1, start, 1.0, total)(total) != 0.1
    ]
    assert misses
    start, total = misses[0]
    theirs = oracle.TorchRun(LinearLR(0.1, start, 1.0, total), total + 1).rates
    assert theirs[total] != 0.1
    assert LinearLR(0.1, start, 1.0, total).exact(total) == 0.1


def test_constant_lr_total_iters_zero_never_undoes_the_factor() -> None:
    with pytest.warns(ScheduleWarning, match=r"total_iters=0"):
        ours = ConstantLR(0.1, factor=0.5, total_iters=0)
    theirs = oracle.TorchRun(ours, 4).rates
    assert theirs.tolist() == [0.05] * 4
    oracle.assert_bit_equal(ours(np.arange(4)), theirs, "ConstantLR total_iters=0")
    assert ours.exact(3) == 0.1  # the closed form says lr


@pytest.mark.parametrize(
    ("make_ours", "make_torch"),
    [
        (
            lambda: ConstantLR(0.1, factor=1.5),
            lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=1.5),
        ),
        (
            lambda: ConstantLR(0.1, factor=-0.1),
            lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=-0.1),
        ),
        (
            lambda: LinearLR(0.1, start_factor=0),
            lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0),
        ),
        (
            lambda: LinearLR(0.1, start_factor=1.2),
            lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.2),
        ),
        (
            lambda: LinearLR(0.1, end_factor=-0.5),
            lambda o: torch.optim.lr_scheduler.LinearLR(o, end_factor=-0.5),
        ),
    ],
)
def test_validation_is_torchs(make_ours, make_torch) -> None:
    oracle.assert_same_error(lambda: make_torch(oracle.torch_optimizer(0.1)), make_ours)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: ConstantLR(0.1, factor=0.0, total_iters=3),
            ValueError,
            "factor.*ZeroDivisionError.*factor=0.0",
        ),
        (lambda: ConstantLR(0.1, total_iters=-1), ValueError, "total_iters.*-1"),
        (lambda: LinearLR(0.1, total_iters=0), ValueError, "total_iters.*>= 1.*total_iters=0"),
        (lambda: LinearLR(0.1, start_factor="0.5"), TypeError, "start_factor.*'0.5'"),
    ],
)
def test_what_torch_fails_on_later_is_refused_up_front(make, error, match) -> None:
    with pytest.raises(error, match=match):
        make()


def test_torch_fails_later_where_refimpl_refuses() -> None:
    """What the refusals above stand for (measured): ZeroDivisionError at step 3."""
    optimizer = oracle.torch_optimizer(0.1)
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=0.0, total_iters=3)
    optimizer.step()
    scheduler.step()
    scheduler.step()
    with pytest.raises(ZeroDivisionError):
        scheduler.step()


def test_closed_forms() -> None:
    assert constant_lr([0, 5], 1.0, 0.5, 5).tolist() == [0.5, 1.0]
    assert linear_lr([0, 5, 6], 1.0, 0.5, 1.0, 5).tolist() == [0.5, 1.0, 1.0]
