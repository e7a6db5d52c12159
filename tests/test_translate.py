"""translate(): the choice between built-in and exact port, the mapping rules, errors
-- NumPy only (the real frameworks run in test_translate_torch_target.py and
test_translate_keras_target.py).

The mapping property: wherever a built-in declares no structural difference, it
computes the same formula as the source -- it agrees with the source's exact value (and
so with the exact port) within float64 rounding; where it declares one, it does differ.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from refimpl.exceptions import ScheduleWarning
from refimpl.lesson import LESSON
from refimpl.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    deserialize,
)
from refimpl.testing import (
    build_torch_scheduler,
    schedule_configs,
    torch_edge_steps,
    torch_rates,
    torch_scheduler_configs,
)
from refimpl.torch.lr_scheduler import CosineAnnealingLR, LambdaLR, OneCycleLR, StepLR
from refimpl.translate import MAX_STEPS, PLANNED, TARGETS, keras_target, torch_target, translate

KERAS_WITH_BUILTINS = tuple(torch_target.BUILTINS)
TORCH_WITH_BUILTINS = tuple(keras_target.BUILTINS)


def _schedule(name: str, config: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        return deserialize({"class_name": name, "config": config})


def _structural(result: Any) -> np.ndarray:
    steps = np.arange(result.comparison.n)
    mask = np.zeros(steps.shape, bool)
    for rule in result.target.structural:
        mask |= np.asarray(rule.applies(steps), bool)
    return mask


@given(name=st.sampled_from(KERAS_WITH_BUILTINS), data=st.data())
@example(name="CosineDecay", data=None)
def test_a_torch_builtin_computes_the_keras_formula(name: str, data: Any) -> None:
    if data is None:  # pinned: warmup and cosine, past the end (periodic)
        schedule = CosineDecay(0.01, 20, alpha=0.1, warmup_target=0.1, warmup_steps=10)
        n = 100
    else:
        schedule = _schedule(name, data.draw(schedule_configs(name)))
        n = data.draw(st.integers(1, 3000))
    amplitude = data is None
    try:
        result = translate(schedule, to="torch", steps=n, use="built-in")
    except ValueError as exc:
        assume("No torch built-in" not in str(exc))
        raise
    steps = np.arange(n)
    with np.errstate(all="ignore"):
        want = schedule.exact(steps)
        got = result.target.side.exact(steps)
        replay = result.comparison.target
        structural = _structural(result)
        finite = np.isfinite(want) & (np.abs(want) < 1e300)
        scale = float(np.max(np.abs(want[finite]))) if finite.any() else 1.0
        near = np.abs(got - want) <= 1e-9 * scale
        replay_near = np.abs(replay - want) <= 1e-9 * scale
    assert np.all(near[finite & ~structural]), result.code
    assert np.all(replay_near[finite & ~structural]), result.code
    if amplitude:  # the declared difference is real: periodic past the end
        assert not near[50]  # torch back at its peak (10 + 2 * 20), Keras at alpha * peak


@given(name=st.sampled_from(TORCH_WITH_BUILTINS), lr=torch_rates(), data=st.data())
def test_a_keras_builtin_computes_the_torch_formula(name: str, lr: Any, data: Any) -> None:
    config = data.draw(torch_scheduler_configs(name))
    scheduler = build_torch_scheduler(name, config, lr)
    n = max(torch_edge_steps(name, config)) + 2
    result = translate(scheduler, to="keras", steps=n, use="built-in")
    steps = np.arange(n)
    want = scheduler.exact(steps)
    got = result.target.side.exact(steps)
    structural = _structural(result)
    scale = max(float(np.max(np.abs(want))), 1e-300)
    near = np.abs(got - want) <= 1e-9 * scale
    assert np.all(near[~structural]), result.code


def test_auto_takes_the_builtin_within_its_range_and_the_port_past_it() -> None:
    cosine = CosineDecay(0.1, 100, alpha=0.1)
    inside = translate(cosine, to="torch", steps=101)
    assert (inside.target.kind, inside.target.name) == ("built-in", "CosineAnnealingLR")
    assert "eta_min=0.1 * 0.1" in inside.code
    past = translate(cosine, to="torch", steps=250)
    assert (past.target.kind, past.target.name) == ("exact port", "LambdaLR")
    assert any(
        "would differ" in note and "101..249 (periodic)" in note for note in past.target.notes
    )
    forced = translate(cosine, to="torch", steps=250, use="built-in")
    periodic = [row for row in forced.rows if row.reason == "periodic"]
    assert (periodic[0].first, periodic[-1].last) == (101, 249)
    assert "periodic" in forced.table()


def test_piecewise_maps_to_multistep_only_when_geometric() -> None:
    geometric = translate(
        PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001]), to="torch", steps=30
    )
    assert geometric.target.name == "MultiStepLR"
    assert "milestones=[11, 21], gamma=0.1" in geometric.code
    assert geometric.comparison.float32_differences == 0
    lesson = translate(LESSON[3].schedule(), to="torch", steps=4690)
    assert lesson.target.name == "LambdaLR"
    assert "not a geometric sequence" in lesson.table()


def test_use_port_and_missing_builtins() -> None:
    port = translate(
        ExponentialDecay(0.1, 10, 0.5, staircase=True), to="torch", steps=30, use="port"
    )
    assert port.target.name == "LambdaLR"
    assert "math.floor(p)" in port.code
    with pytest.raises(ValueError, match="No torch built-in reproduces Keras's InverseTimeDecay"):
        translate(InverseTimeDecay(0.1, 10, 0.5), to="torch", use="built-in")
    with pytest.raises(ValueError, match="No exact keras port of torch's StepLR"):
        translate(StepLR(0.1, 3), to="keras", use="port")


def test_what_cannot_be_translated_says_why() -> None:
    with pytest.raises(ValueError, match=r"LambdaLR.*your Python function"):
        translate(LambdaLR(0.1, lambda epoch: 0.5**epoch), to="keras")
    with pytest.raises(ValueError, match=r"OneCycleLR.*not translated yet"):
        translate(OneCycleLR(0.1, max_lr=1.0, total_steps=10), to="keras", steps=5)
    with pytest.raises(ValueError, match="translates a Keras schedule"):
        translate(StepLR(0.1, 3), to="torch")
    with pytest.raises(ValueError, match="translates a torch scheduler"):
        translate(ExponentialDecay(0.1, 10, 0.5), to="keras")


def test_arguments_are_checked() -> None:
    schedule = ExponentialDecay(0.1, 10, 0.5)
    assert "optax" in TARGETS
    assert "optax" not in PLANNED
    with pytest.raises(ValueError, match=r"to='jax'.*Known: torch, keras, optax"):
        translate(schedule, to="jax")
    with pytest.raises(ValueError, match="steps=0"):
        translate(schedule, to="torch", steps=0)
    with pytest.raises(ValueError, match=f"{MAX_STEPS:,}.*steps=1000001"):
        translate(schedule, to="torch", steps=MAX_STEPS + 1)
    with pytest.raises(ValueError, match="steps=True"):
        translate(schedule, to="torch", steps=True)
    with pytest.raises(ValueError, match="use='best'"):
        translate(schedule, to="torch", use="best")


def test_a_port_that_overflows_names_the_step() -> None:
    schedule = ExponentialDecay(1.0, 1, 1e30)
    with pytest.raises(ValueError, match=r"OverflowError.*at step 11"):
        translate(schedule, to="torch", steps=20, use="port")


def test_keras_float32_decisions_are_labelled() -> None:
    """Keras's float32 restart index is one too low at step 32767 (t_mul=2,
    first_decay_steps=1): the port says 1.0 there, Keras 0.0 -- a decision."""
    from refimpl.schedules import CosineDecayRestarts

    result = translate(CosineDecayRestarts(1.0, 1), to="torch", steps=32768, use="port")
    assert result.comparison.reasons[32767] == "decision"


def test_torch_float32_drift_is_labelled() -> None:
    result = translate(CosineAnnealingLR(np.float32(0.1), T_max=2000), to="keras", steps=2001)
    assert "drift" in {row.reason for row in result.rows}
