"""LambdaLR and MultiplicativeLR against torch: bit for bit, state of callable objects."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.testing import TorchFactor, torch_lambda_lr, torch_multiplicative_lr, torch_rates
from refimpl.torch.lr_scheduler import LambdaLR, MultiplicativeLR, lambda_lr, multiplicative_lr

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]


@given(config=torch_lambda_lr(), lr=torch_rates(), extra=st.integers(0, 200))
@example(config={"lr_lambda": TorchFactor("warmup", 10.0)}, lr=np.float32(0.1), extra=0)
def test_lambda_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("LambdaLR", config, lr, extra)


@given(
    config=torch_multiplicative_lr(),
    lr=torch_rates(),
    extra=st.integers(0, 200),
)
@example(config={"lr_lambda": TorchFactor("constant", 0.95)}, lr=np.float32(0.1), extra=300)
def test_multiplicative_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("MultiplicativeLR", config, lr, extra)


def test_plain_functions_and_int_factors_as_in_torch() -> None:
    """A lambda (not saved in the state), and a factor that is a Python int."""
    for ours in (LambdaLR(np.float32(0.3), lambda e: e // 3), MultiplicativeLR(0.3, lambda e: 1)):
        theirs = oracle.TorchRun(ours, 10)
        oracle.assert_bit_equal(ours(np.arange(10)), theirs.rates, type(ours).__name__)
        twin = ours.fresh()
        for _ in range(9):
            twin.step()
        oracle.assert_same_state(twin.state_dict(), theirs.scheduler.state_dict())


def test_callable_objects_state_is_saved_and_loaded() -> None:
    factor = TorchFactor("power", 0.9)
    ours = LambdaLR(0.1, factor)
    state = ours.state_dict()
    assert state["lr_lambdas"] == [{"kind": "power", "a": 0.9}]
    state["lr_lambdas"] = [{"kind": "power", "a": 0.5}]
    ours.load_state_dict(state)
    assert factor.a == 0.5
    assert ours.lr_lambdas[0] is factor
    with pytest.raises(TypeError, match=r"state_dict"):
        ours.load_state_dict({"last_epoch": 3})


def test_validation_is_torchs_where_torch_validates() -> None:
    optimizer = oracle.torch_optimizer(0.1)
    for make_torch, make_ours in (
        (
            lambda: torch.optim.lr_scheduler.MultiplicativeLR(optimizer, 0.5),
            lambda: MultiplicativeLR(0.1, 0.5),
        ),
        (
            lambda: torch.optim.lr_scheduler.LambdaLR(optimizer, [abs, abs]),
            lambda: LambdaLR(0.1, [abs, abs]),
        ),
    ):
        oracle.assert_same_error(make_torch, make_ours)
    with pytest.raises(TypeError, match=r"lr_lambda.*0.5"):
        LambdaLR(0.1, 0.5)  # torch fails at its first step: 'float' object is not callable


def test_closed_forms_call_the_factor_per_step() -> None:
    assert lambda_lr([0, 3], 2.0, lambda e: 1 / (e + 1)).tolist() == [2.0, 0.5]
    assert multiplicative_lr([0, 2], 2.0, lambda e: 0.5).tolist() == [2.0, 0.5]
    assert MultiplicativeLR(1.0, lambda e: 0.5).exact([3]).tolist() == [0.125]
