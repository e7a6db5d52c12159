"""SequentialLR and ChainedScheduler against torch: bit for bit, and torch's quirks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.testing import (
    TorchFactor,
    torch_chained_scheduler,
    torch_rates,
    torch_sequential_lr,
)
from refimpl.torch.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LinearLR,
    MultiplicativeLR,
    Optimizer,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]

L = torch.optim.lr_scheduler


@given(
    config=torch_sequential_lr(),
    lr=torch_rates(),
    extra=st.integers(0, 50),
)
@example(
    config={
        "schedulers": [
            ("LinearLR", {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 5}),
            ("CosineAnnealingLR", {"T_max": 20, "eta_min": 0.0}),
        ],
        "milestones": [5],
    },
    lr=np.float32(0.1),
    extra=0,
)
@example(
    config={
        "schedulers": [
            ("ExponentialLR", {"gamma": 0.9}),
            ("MultiplicativeLR", {"lr_lambda": TorchFactor("constant", 0.9)}),
        ],
        "milestones": [0],
    },
    lr=0.1,
    extra=0,
)
@example(
    config={
        "schedulers": [
            ("StepLR", {"step_size": 2, "gamma": 0.5}),
            ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.0}),
        ],
        "milestones": [7],
    },
    lr=0.1,
    extra=0,
)
def test_sequential_lr_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("SequentialLR", config, lr, extra)


@given(
    config=torch_chained_scheduler(),
    lr=torch_rates(),
    extra=st.integers(0, 50),
)
@example(
    config={
        "schedulers": [
            ("CosineAnnealingLR", {"T_max": 10, "eta_min": 1e-3}),
            ("ExponentialLR", {"gamma": 0.9}),
        ]
    },
    lr=np.float32(0.1),
    extra=20,
)
def test_chained_scheduler_replays_torch(config, lr, extra) -> None:
    oracle.check_parity("ChainedScheduler", config, lr, extra)


def test_children_built_on_one_optimizer_are_torchs_own_code() -> None:
    """torch's code, line for line: the children on one Optimizer, in the caller's
    order; the same rates as children given on the base rate (rebuilt in list order)."""
    shared = Optimizer(0.1)
    first, second = LinearLR(shared, 0.1, total_iters=4), ExponentialLR(shared, 0.9)
    ours = SequentialLR(shared, [first, second], milestones=[4])
    assert ours._schedulers[0] is first
    rebuilt = SequentialLR(0.1, [LinearLR(0.1, 0.1, total_iters=4), ExponentialLR(0.1, 0.9)], [4])
    assert rebuilt._schedulers[0] is not first
    theirs = oracle.TorchRun(rebuilt, 12).rates
    oracle.assert_bit_equal(ours.loop_replay(12), theirs, "shared optimizer")
    oracle.assert_bit_equal(rebuilt(np.arange(12)), theirs, "rebuilt")


def test_resuming_with_last_epoch_does_not_resume() -> None:
    """pytorch#162591: ``SequentialLR(..., milestones=[3], last_epoch=4)`` starts from
    the first child's initial rate and counts from 5, instead of the rate of step 5."""
    children = [ConstantLR(0.1, factor=0.5, total_iters=2), ExponentialLR(0.1, 0.9)]
    resumed = SequentialLR(0.1, children, milestones=[3], last_epoch=4)
    optimizer = oracle.torch_optimizer(0.1)
    theirs = L.SequentialLR(
        optimizer, [L.ConstantLR(optimizer, 0.5, 2), L.ExponentialLR(optimizer, 0.9)], [3], 4
    )
    assert resumed.get_last_lr() == theirs.get_last_lr() == [0.05]
    assert resumed.last_epoch == theirs.last_epoch == 5
    fresh = SequentialLR(0.1, children, milestones=[3])(5)
    assert float(fresh) == 0.1 * 0.9 * 0.9 != 0.05
    for _ in range(4):
        optimizer.step()
        theirs.step()
        resumed.step()
        assert resumed.get_last_lr() == theirs.get_last_lr()


def test_milestone_zero_skips_the_first_child() -> None:
    """pytorch#185872: with ``milestones=[0]`` the second child drives the rate from
    step 0 (torch 2.13.0 initialises that child; the first never runs)."""
    ours = SequentialLR(1.0, [ConstantLR(1.0, 0.1, 5), ExponentialLR(1.0, 0.5)], milestones=[0])
    run = oracle.TorchRun(ours, 4)
    assert run.rates.tolist() == [1.0, 0.5, 0.25, 0.125]
    oracle.assert_bit_equal(ours(np.arange(4)), run.rates, "milestone 0")


def test_multiplicative_child_restarts_from_the_previous_childs_rate() -> None:
    """At a milestone torch restarts the child with ``_update_lr(0)``: MultiplicativeLR
    has no closed form, so its ``get_lr`` multiplies whatever rate the previous child
    left (0.5 ** 3 here), not the base rate."""
    ours = SequentialLR(1.0, [ExponentialLR(1.0, 0.5), MultiplicativeLR(1.0, lambda e: 0.9)], [4])
    run = oracle.TorchRun(ours, 6)
    assert run.rates[4] == 0.5**3 * 0.9
    oracle.assert_bit_equal(ours(np.arange(6)), run.rates, "multiplicative child")


def test_chained_cosine_member_is_far_from_the_product_of_closed_forms() -> None:
    """A CosineAnnealingLR child scales ``rate - eta_min`` and adds ``eta_min`` back on
    a rate another child also scales: measured on torch, at step 99 the rate is 2.62x
    (+162%) the product of the two closed forms."""
    chain = ChainedScheduler(
        [CosineAnnealingLR(0.1, T_max=100, eta_min=1e-3), ExponentialLR(0.1, 0.99)]
    )
    run = oracle.TorchRun(chain, 100)
    product = chain.exact(np.arange(100))
    assert 1.62 < run.rates[99] / product[99] - 1 < 1.63
    oracle.assert_bit_equal(chain(np.arange(100)), run.rates, "chained cosine")
    pure = ChainedScheduler([CosineAnnealingLR(0.1, T_max=100), ExponentialLR(0.1, 0.99)])
    np.testing.assert_allclose(pure(np.arange(100)), pure.exact(np.arange(100)), rtol=1e-13)


def test_warm_restarts_child_restarts_with_stale_counters() -> None:
    ours = SequentialLR(
        0.1, [StepLR(0.1, 3), CosineAnnealingWarmRestarts(0.1, T_0=4)], milestones=[6]
    )
    run = oracle.TorchRun(ours, 12)
    oracle.assert_bit_equal(ours(np.arange(12)), run.rates, "warm restarts child")


def test_closed_forms_compose_the_childrens() -> None:
    seq = SequentialLR(1.0, [ConstantLR(1.0, 0.5, 10), ExponentialLR(1.0, 0.5)], [2])
    assert seq.exact([0, 1, 2, 3]).tolist() == [0.5, 0.5, 1.0, 0.5]
    chain = ChainedScheduler([ConstantLR(1.0, 0.5, 2), ExponentialLR(1.0, 0.5)])
    assert chain.exact([0, 1, 2]).tolist() == [0.5, 0.25, 0.25]


@pytest.mark.parametrize(
    ("make_ours", "make_torch"),
    [
        (lambda: SequentialLR(0.1, [], []), lambda o: L.SequentialLR(o, [], [])),
        (lambda: ChainedScheduler([]), lambda o: L.ChainedScheduler([], o)),
        (
            lambda: SequentialLR(0.1, [StepLR(0.1, 2)], [3]),
            lambda o: L.SequentialLR(o, [L.StepLR(o, 2)], [3]),
        ),
        (
            lambda: SequentialLR(0.1, [ReduceLROnPlateau(0.1)], []),
            lambda o: L.SequentialLR(o, [L.ReduceLROnPlateau(o)], []),
        ),
        (
            lambda: ChainedScheduler([StepLR(0.1, 2), ReduceLROnPlateau(0.1)]),
            lambda o: L.ChainedScheduler([L.StepLR(o, 2), L.ReduceLROnPlateau(o)]),
        ),
    ],
)
def test_validation_is_torchs(make_ours, make_torch) -> None:
    oracle.assert_same_error(lambda: make_torch(oracle.torch_optimizer(0.1)), make_ours)


def test_children_of_different_base_rates_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"index 1 with base rate 0.2, which is different from 0.1"
    ):
        SequentialLR(0.1, [StepLR(0.1, 2), StepLR(0.2, 2)], [3])
    with pytest.raises(ValueError, match=r"base rate np.float32"):
        ChainedScheduler([StepLR(0.1, 2), StepLR(np.float32(0.1), 2)])
    with pytest.raises(TypeError, match=r"index 0 should have `optimizer`"):
        ChainedScheduler([0.1])
