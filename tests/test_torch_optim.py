"""The optimizer's param group: SGD's checks, state, sharing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from refimpl.torch.optim import Optimizer, check_lr

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]


@pytest.mark.parametrize(("lr", "momentum"), [(-0.1, 0.0), (0.1, -0.5)])
def test_sgds_checks_and_messages(lr, momentum) -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    oracle.assert_same_error(
        lambda: torch.optim.SGD([param], lr=lr, momentum=momentum),
        lambda: Optimizer(lr, momentum=momentum),
    )


def test_adams_beta_check() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    oracle.assert_same_error(
        lambda: torch.optim.Adam([param], lr=0.1, betas=(1.0, 0.999)),
        lambda: Optimizer(0.1, betas=(1.0, 0.999)),
    )


@pytest.mark.parametrize(
    ("lr", "error", "match"),
    [
        ("0.1", TypeError, r"lr.*'0\.1'"),
        (np.float16(0.1), TypeError, r"lr.*np\.float32"),
        (np.int64(1), TypeError, "lr"),
        (float("nan"), ValueError, "lr.*NaN"),
        (float("inf"), ValueError, "lr.*finite"),
    ],
)
def test_junk_rates_are_refused(lr, error, match) -> None:
    with pytest.raises(error, match=match):
        check_lr("lr", lr)


def test_state_round_trip_and_fresh() -> None:
    opt = Optimizer(np.float32(0.1), momentum=0.9)
    state = opt.state_dict()
    opt.param_groups[0]["lr"] = np.float32(0.5)
    opt.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == np.float32(0.1)
    fresh = opt.fresh(0.3)
    assert fresh.param_groups[0] == {"lr": 0.3, "momentum": 0.9}
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict({"param_groups": []})
    assert "Optimizer(param_groups=" in repr(opt)
    with pytest.raises(TypeError, match="betas"):
        Optimizer(0.1, betas=[0.9, 0.999])  # type: ignore[arg-type]
