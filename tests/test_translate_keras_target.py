"""torch -> Keras: the emitted code runs in real Keras and computes, at every step of the
horizon, what refimpl predicted (within refimpl's documented bound against
TensorFlow's kernels: 0 ulp for piecewise, the rounding of ``cos``/``pow`` otherwise);
the difference table's claims hold against real torch driving a real SGD, at every
step.

The oracles (``tests/_translate_oracle.py``, ``tests/_torch_oracle.py``): the Keras
snippet's ``schedule`` called eagerly with an int64 step; torch's own scheduler on a
real ``torch.optim.SGD``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.comparison import tolerance
from refimpl.testing import (
    build_torch_scheduler,
    torch_edge_steps,
    torch_rates,
    torch_scheduler_configs,
)
from refimpl.translate import Translation, keras_target, translate

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.tf


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


oracle = _load("_translate_oracle")
torch_oracle = _load("_torch_oracle")

#: The longest horizon drawn (Keras: ~1 ms an eager call).
MAX_N = 160
#: The torch schedulers translate writes for Keras.
NAMES = tuple(keras_target.BUILTINS)


def _keras_bound(result: Translation, values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """refimpl's documented distance of the Keras target from TensorFlow, absolute."""
    target = result.target
    f32 = np.spacing(np.abs(values.astype(np.float32))).astype(np.float64)
    if target.kind == "constant rate":
        return np.zeros(steps.shape)
    if target.kind == "exact port":  # torch's cosine in float32: CosineDecay's bound
        config = result.source.scheduler.get_config()
        lr = float(config["lr"])
        alpha = float(config["eta_min"]) / lr if lr else 0.0
        cosine = {"initial_learning_rate": lr, "decay_steps": 1, "alpha": alpha}
        ulps, atol = tolerance("CosineDecay", cosine, "float32")  # independent of decay_steps
    else:
        reference = target.reference
        ulps, atol = tolerance(type(reference).__name__, reference.get_config(), "float32")
    return ulps * f32 + np.asarray(atol(steps), np.float64)


def check(result: Translation, n: int) -> None:
    """The emitted Keras code computes the predicted rates (within refimpl's bound); the
    table's claims hold against real torch at every step."""
    steps = np.arange(n, dtype=np.int64)
    computed = oracle.run_keras_code(result.code, steps)
    predicted = np.asarray(result.comparison.target)
    assert predicted.dtype == np.float32
    slack = _keras_bound(result, predicted, steps)
    gap = np.abs(computed.astype(np.float64) - predicted.astype(np.float64))
    assert np.all(gap <= slack), (
        f"step {int(np.argmax(gap - slack))}: Keras computes "
        f"{computed[np.argmax(gap - slack)]!r}, refimpl predicted "
        f"{predicted[np.argmax(gap - slack)]!r}\n{result.code}"
    )
    applied = torch_oracle.TorchRun(result.source.scheduler, n).rates
    source = np.asarray(result.comparison.source)
    assert applied.tobytes() == source.tobytes(), "refimpl's torch replay is not torch's"
    as_keras = applied.astype(np.float32).astype(np.float64)  # compared in float32
    real = np.abs(computed.astype(np.float64) - as_keras)
    listed = result.comparison.differs
    assert np.all(real[~listed] <= slack[~listed]), (
        f"steps {steps[~listed][real[~listed] > slack[~listed]].tolist()} differ in the "
        "real frameworks but are not listed"
    )
    predicted_gap = np.abs(source.astype(np.float32).astype(np.float64) - predicted)
    sure = listed & (predicted_gap > 2 * slack)
    assert np.all(real[sure] > 0), (
        f"steps {steps[sure][real[sure] == 0].tolist()} are listed as differing, and do "
        "not in the real frameworks"
    )


@settings(max_examples=16)
@given(name=st.sampled_from(NAMES), lr=torch_rates(), data=st.data())
def test_emitted_keras_code_computes_the_predicted_rates(
    name: str, lr: Any, data: st.DataObject
) -> None:
    config = data.draw(torch_scheduler_configs(name))
    scheduler = build_torch_scheduler(name, config, lr)
    n = min(max(torch_edge_steps(name, config)) + 2 + data.draw(st.integers(0, 30)), MAX_N)
    use = data.draw(st.sampled_from(["auto", "built-in", "port"]))
    try:
        result = translate(scheduler, to="keras", steps=n, use=use)
    except ValueError as exc:
        if "port" not in str(exc) and "built-in" not in str(exc):
            raise
        result = translate(scheduler, to="keras", steps=n)
    check(result, n)


@pytest.mark.parametrize(
    ("name", "config", "lr", "n", "use", "target"),
    [
        ("StepLR", {"step_size": 1, "gamma": 0.5}, 0.1, 20, "auto", "ExponentialDecay"),
        # milestone 0, a milestone listed twice, a negative one (never reached)
        pytest.param(
            "MultiStepLR", {"milestones": [0, 3, 3, 10, -4], "gamma": 0.5}, 0.1, 20, "auto", "PiecewiseConstantDecay",
            marks=pytest.mark.filterwarnings("ignore:milestones=.*negative:refimpl.exceptions.ScheduleWarning"),
        ),
        ("MultiStepLR", {"milestones": [0], "gamma": 0.5}, 0.1, 5, "auto", "learning_rate"),
        ("MultiStepLR", {"milestones": [5, 9], "gamma": 0.9}, np.float32(0.1), 20, "auto", "PiecewiseConstantDecay"),
        ("ExponentialLR", {"gamma": 0.9}, np.float32(0.1), 150, "auto", "ExponentialDecay"),
        ("CosineAnnealingLR", {"T_max": 20, "eta_min": 0.001}, 0.1, 21, "auto", "CosineDecay"),
        ("CosineAnnealingLR", {"T_max": 20, "eta_min": 0.001}, 0.1, 70, "auto", "TorchCosineAnnealingLR"),
        ("CosineAnnealingLR", {"T_max": 20, "eta_min": 0.001}, 0.1, 70, "built-in", "CosineDecay"),
        ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.0}, 0.1, 100, "auto", "CosineDecayRestarts"),
        ("LinearLR", {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 8}, 0.1, 12, "auto", "PolynomialDecay"),
        ("ConstantLR", {"factor": 1 / 3, "total_iters": 5}, 0.1, 8, "auto", "PiecewiseConstantDecay"),
        ("PolynomialLR", {"total_iters": 10, "power": 2.0}, 0.1, 15, "auto", "PolynomialDecay"),
    ],
)  # fmt: skip
def test_pinned_mappings(
    name: str, config: dict[str, Any], lr: Any, n: int, use: str, target: str
) -> None:
    result = translate(build_torch_scheduler(name, config, lr), to="keras", steps=n, use=use)
    assert result.target.name == target
    check(result, n)


def test_the_periodic_cosine_is_listed_past_t_max() -> None:
    result = translate(
        build_torch_scheduler("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.0}, 0.1),
        to="keras",
        steps=25,
        use="built-in",
    )
    periodic = [row for row in result.rows if row.reason == "periodic"]
    assert [(row.first, row.last) for row in periodic] == [(11, 24)]
    check(result, 25)


def test_the_boundary_note_holds_in_the_real_frameworks() -> None:
    """The note's claim: Keras code with torch's milestones as its boundaries differs
    from torch at exactly the steps it names."""
    scheduler = build_torch_scheduler("MultiStepLR", {"milestones": [30, 80], "gamma": 0.1}, 0.1)
    result = translate(scheduler, to="keras", steps=100)
    (note,) = [n for n in result.target.notes if n.startswith("Boundary rule")]
    assert "would differ at steps 30, 80 (2 in all)" in note
    naive_code = result.code.replace("boundaries=[29, 79]", "boundaries=[30, 80]")
    assert naive_code != result.code
    naive = oracle.run_keras_code(naive_code, np.arange(100))
    applied = torch_oracle.TorchRun(scheduler, 100).rates.astype(np.float32)
    assert np.flatnonzero(naive != applied).tolist() == [30, 80]
