"""PolynomialLR against torch: bit for bit, the end, validation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.testing import torch_polynomial_lr, torch_rates
from refimpl.torch.lr_scheduler import PolynomialLR, polynomial_lr

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]


@given(
    config=torch_polynomial_lr(),
    lr=torch_rates(),
    extra=st.integers(0, 30),
)
@example(config={"total_iters": 5, "power": 1.0}, lr=0.1, extra=0)
@example(config={"total_iters": 1, "power": 0.0}, lr=np.float32(0.1), extra=3)
@example(config={"total_iters": 97, "power": 0.9}, lr=np.float32(0.01), extra=3)
def test_polynomial_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("PolynomialLR", config, lr, extra)


def test_reaches_exactly_zero_at_total_iters() -> None:
    run = oracle.TorchRun(PolynomialLR(0.1, total_iters=4, power=2.0), 6)
    assert run.rates[4:].tolist() == [0.0, 0.0]
    assert polynomial_lr([4, 9], 0.1, 4, 2.0).tolist() == [0.0, 0.0]


def test_negative_power_torch_fails_at_total_iters_refimpl_refuses() -> None:
    optimizer = oracle.torch_optimizer(0.1)
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=2, power=-1.0)
    optimizer.step()
    scheduler.step()
    with pytest.raises(ZeroDivisionError):
        scheduler.step()
    with pytest.raises(ValueError, match=r"power.*ZeroDivisionError.*power=-1.0"):
        PolynomialLR(0.1, total_iters=2, power=-1.0)
    with pytest.raises(ValueError, match=r"total_iters.*total_iters=0"):
        PolynomialLR(0.1, total_iters=0)
