"""ReduceLROnPlateau against torch: bit for bit over metric sequences, and the counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.testing import torch_base_rates
from refimpl.torch.lr_scheduler import ReduceLROnPlateau

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]


@st.composite
def plateau_configs(draw: st.DrawFn) -> dict:
    return {
        "mode": draw(st.sampled_from(["min", "max"])),
        "factor": draw(st.sampled_from([0.1, 0.5]) | st.floats(0.0, 0.99)),
        "patience": draw(st.integers(0, 4)),
        "threshold": draw(st.sampled_from([1e-4, 0.0, 0.1])),
        "threshold_mode": draw(st.sampled_from(["rel", "abs"])),
        "cooldown": draw(st.integers(0, 3)),
        "min_lr": draw(st.sampled_from([0, 1e-4])),
        "eps": draw(st.sampled_from([1e-8, 0.0, 1e-3])),
    }


def torch_rates(lr, config: dict, metrics: list[float]) -> tuple[np.ndarray, dict]:
    optimizer = oracle.torch_optimizer(lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **config)
    out = [oracle.as_float(optimizer.param_groups[0]["lr"])]
    for metric in metrics:
        optimizer.step()
        scheduler.step(metric)
        out.append(oracle.as_float(optimizer.param_groups[0]["lr"]))
    return np.array(
        out, np.float32 if type(lr) is np.float32 else np.float64
    ), scheduler.state_dict()


@given(
    config=plateau_configs(),
    lr=torch_base_rates(),
    tensor=st.booleans(),
    metrics=st.lists(st.sampled_from([1.0, 0.9, 0.99995, 1.1, 0.5]) | st.floats(0, 2), max_size=40),
)
@example(config={"patience": 2}, lr=0.1, tensor=False, metrics=[1.0] * 8)
@example(config={"patience": 0, "cooldown": 2}, lr=0.1, tensor=True, metrics=[1.0] * 8)
def test_reduce_lr_on_plateau_replays_torch(config, lr, tensor, metrics) -> None:
    lr = np.float32(lr) if tensor else lr
    theirs, state = torch_rates(lr, config, metrics)
    ours = ReduceLROnPlateau(lr, **config)
    oracle.assert_bit_equal(ours.rates(metrics), theirs, "ReduceLROnPlateau")
    for metric in metrics:
        ours.step(metric)
    oracle.assert_same_state(ours.state_dict(), state)


def test_patience_two_cuts_after_three_bad_epochs() -> None:
    """torch: ``num_bad_epochs > patience``; Keras's ReduceLROnPlateau cuts after
    ``patience`` bad epochs (``>=``)."""
    theirs, _ = torch_rates(0.1, {"patience": 2}, [1.0, 1.0, 1.0, 1.0])
    # epoch 0 sets best; epochs 1, 2, 3 are bad; the cut follows the third
    assert theirs.tolist()[:4] == [0.1, 0.1, 0.1, 0.1]
    assert theirs[4] < 0.1
    assert ReduceLROnPlateau(0.1, patience=2).rates([1.0] * 4).tolist() == theirs.tolist()


def test_threshold_is_relative_by_default() -> None:
    """1.0 then 0.99995: better by 5e-5 absolute, but not by 1e-4 relative -- a bad epoch."""
    theirs, _ = torch_rates(0.1, {"patience": 0}, [1.0, 0.99995])
    assert theirs[-1] < 0.1
    theirs_abs, _ = torch_rates(
        0.1, {"patience": 0, "threshold": 1e-5, "threshold_mode": "abs"}, [1.0, 0.99995]
    )
    assert theirs_abs[-1] == 0.1
    assert ReduceLROnPlateau(0.1, patience=0).rates([1.0, 0.99995]).tolist() == theirs.tolist()


def test_load_state_dict_from_torch_continues_as_torch() -> None:
    optimizer = oracle.torch_optimizer(0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=1, cooldown=1)
    metrics = [1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6]
    for metric in metrics[:4]:
        theirs.step(metric)
    ours = ReduceLROnPlateau(0.1, patience=1, cooldown=1)
    ours.load_state_dict(theirs.state_dict())
    ours.optimizer.param_groups[0]["lr"] = optimizer.param_groups[0]["lr"]
    for metric in metrics[4:]:
        theirs.step(metric)
        ours.step(metric)
        assert ours.get_last_lr() == theirs.get_last_lr()


@pytest.mark.parametrize(
    "kwargs",
    [{"factor": 1.0}, {"mode": "avg"}, {"threshold_mode": "pct"}, {"min_lr": [0.0, 0.0]}],
)
def test_validation_is_torchs(kwargs) -> None:
    oracle.assert_same_error(
        lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(oracle.torch_optimizer(0.1), **kwargs),
        lambda: ReduceLROnPlateau(0.1, **kwargs),
    )


def test_calling_on_steps_says_what_to_use() -> None:
    plateau = ReduceLROnPlateau(0.1)
    with pytest.raises(TypeError, match=r"rates\(metrics\)"):
        plateau([0, 1])
    with pytest.raises(TypeError, match=r"rates\(metrics\)"):
        plateau.exact([0, 1])
    with pytest.raises(ValueError, match=r"patience.*-1"):
        ReduceLROnPlateau(0.1, patience=-1)
