"""Keras -> torch: the emitted code runs in real torch and applies, at every step of the
horizon, the rates refimpl predicted (bit for bit); the difference table's claims hold
against real Keras (a step listed differs, a step not listed does not).

The oracles (``tests/_translate_oracle.py``): the snippet driving a real
``torch.optim.SGD`` (the rate applied, read from the parameter), the Keras 3 built-in
(``tf_keras``'s legacy optimizer for ``decay=``, Keras's ``LearningRateScheduler``
callback) called eagerly with an int64 step.  The claims are checked where real Keras
gives the source: at every step it is compared (edges, row ends, a sample), within
refimpl's documented bound against TensorFlow (``refimpl.comparison.tolerance``: 0 ulp
for piecewise and inverse time, the rounding of ``cos``/``pow`` otherwise).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.comparison import tolerance, within_bounds
from refimpl.exceptions import ScheduleWarning
from refimpl.lesson import LESSON
from refimpl.schedules import SCHEDULES, deserialize
from refimpl.testing import schedule_configs
from refimpl.translate import Translation, translate

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.tf

_spec = importlib.util.spec_from_file_location(
    "_translate_oracle", Path(__file__).with_name("_translate_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]

#: The longest horizon drawn (torch: ~40 us a step with the optimizer).
MAX_N = 600
#: Every Keras schedule translate writes for torch (NoisyLinearCosineDecay has no port).
NAMES = tuple(n for n in SCHEDULES if n != "NoisyLinearCosineDecay")


def _schedule(name: str, config: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        return deserialize({"class_name": name, "config": config})


def _horizon(schedule: Any, extra: int) -> int:
    edges = [e for e in schedule.edge_steps() if e < MAX_N]
    return min(max(edges) + 2 + extra, MAX_N)


def _sample(result: Translation, n: int, schedule: Any | None) -> np.ndarray:
    """Steps where real Keras is asked: every edge ±1, the ends of every row, and an even
    spread (about 40 steps: a Keras eager call costs ~1 ms)."""
    at = {0, n - 1, *np.linspace(0, n - 1, 24).astype(int).tolist()}
    edges = schedule.edge_steps() if schedule is not None else []
    at |= {e + d for e in edges for d in (-1, 0, 1)}
    for row in result.rows:
        at |= {row.first, row.last}
    return np.array(sorted(s for s in at if 0 <= s < n), np.int64)


def _bound(source: Any, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """refimpl's documented distance from TensorFlow at ``at``, absolute."""
    if source.kind != "schedule":
        return np.zeros(at.shape)
    schedule = source.schedule
    ulps, atol = tolerance(type(schedule).__name__, schedule.get_config(), schedule.dtype.name)
    rounding = ulps * np.spacing(np.abs(values.astype(schedule.dtype))).astype(np.float64)
    return rounding + np.asarray(atol(at), np.float64)


def check(result: Translation, n: int) -> None:
    """The emitted code in real torch applies the predicted rates; the table's claims
    hold against real Keras."""
    applied = oracle.run_torch_code(result.code, n)
    predicted = np.asarray(result.comparison.target, np.float64)
    assert applied.tobytes() == predicted.tobytes(), (
        f"step {int(np.flatnonzero(applied != predicted)[0])}: torch applies "
        f"{applied[applied != predicted][0]!r}, refimpl predicted "
        f"{predicted[applied != predicted][0]!r}\n{result.code}"
    )
    source = result.source
    at = _sample(result, n, source.schedule)
    keras_values = oracle.keras_source_rates(source, at)
    if keras_values is None:  # refimpl's own schedules: no framework computes them
        return
    reference = np.asarray(result.comparison.source)[at]
    slack = _bound(source, at, reference)
    assert np.all(
        within_bounds(keras_values, reference, ulps=0, atol=np.maximum(slack, 0.0))
        | (keras_values == reference)
    ), "refimpl's Keras reference is outside its documented bound"
    real = np.abs(keras_values.astype(np.float64) - applied[at])
    listed = result.comparison.differs[at]
    assert np.all(real[~listed] <= slack[~listed]), (
        f"steps {at[~listed][real[~listed] > slack[~listed]].tolist()} differ in the real "
        "frameworks but are not listed"
    )
    predicted_gap = np.abs(reference.astype(np.float64) - predicted[at])
    sure = listed & (predicted_gap > 2 * slack)
    assert np.all(real[sure] > 0), (
        f"steps {at[sure][real[sure] == 0].tolist()} are listed as differing, and do not "
        "in the real frameworks"
    )


@settings(max_examples=40)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_emitted_torch_code_applies_the_predicted_rates(name: str, data: st.DataObject) -> None:
    schedule = _schedule(name, data.draw(schedule_configs(name)))
    n = _horizon(schedule, data.draw(st.integers(0, 50)))
    use = data.draw(st.sampled_from(["auto", "built-in", "port"]))
    try:
        result = translate(schedule, to="torch", steps=n, use=use)
    except ValueError as exc:
        if "built-in" not in str(exc):
            raise
        result = translate(schedule, to="torch", steps=n, use="port")
    check(result, n)


@pytest.mark.parametrize(
    ("name", "config", "n", "use", "target"),
    [
        # a geometric piecewise (boundary 0 included): MultiStepLR with milestones + 1
        (
            "PiecewiseConstantDecay",
            {"boundaries": [0, 3, 10], "values": [1.0, 0.5, 0.25, 0.125]},
            20,
            "auto",
            "MultiStepLR",
        ),
        ("PiecewiseConstantDecay", {"boundaries": [-3, 5], "values": [0.1, 0.2, 0.05]}, 12, "auto", "LambdaLR"),
        ("PiecewiseConstantDecay", {"boundaries": [1.7, 5.2], "values": [0.1, 0.2, 0.05]}, 12, "auto", "LambdaLR"),
        ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5, "staircase": True}, 30, "auto", "StepLR"),
        ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5}, 60, "auto", "ExponentialLR"),
        ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7.5, "decay_rate": 0.5, "staircase": True}, 60, "auto", "LambdaLR"),
        ("NaturalExpDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.3, "staircase": True}, 30, "auto", "StepLR"),
        ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "end_learning_rate": 0.0, "power": 2.0}, 40, "auto", "PolynomialLR"),
        ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "end_learning_rate": 0.01, "cycle": True}, 70, "auto", "LambdaLR"),
        ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "alpha": 0.1}, 21, "auto", "CosineAnnealingLR"),
        # past decay_steps: the built-in is periodic, auto takes the port
        ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "alpha": 0.1}, 70, "auto", "LambdaLR"),
        ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "alpha": 0.1}, 70, "built-in", "CosineAnnealingLR"),
        ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 20, "warmup_target": 0.1, "warmup_steps": 10}, 31, "auto", "SequentialLR(LinearLR, CosineAnnealingLR)"),
        ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 20, "warmup_target": 0.1, "warmup_steps": 10}, 80, "built-in", "SequentialLR(LinearLR, CosineAnnealingLR)"),
        ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 20, "warmup_target": 0.1, "warmup_steps": 10}, 40, "auto", "LambdaLR"),
        ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 20, "warmup_target": 0.1, "warmup_steps": 0}, 20, "auto", "CosineAnnealingLR"),
        ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 5, "t_mul": 2.0, "alpha": 0.1}, 80, "auto", "CosineAnnealingWarmRestarts"),
        ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 5, "t_mul": 1.5, "m_mul": 0.5}, 80, "auto", "LambdaLR"),
        ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5, "staircase": True}, 20, "auto", "LambdaLR"),
        ("TimeBasedDecay", {"initial_learning_rate": 0.1, "decay": 0.01}, 50, "auto", "LambdaLR"),
        ("LinearCosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30, "num_periods": 2.0}, 40, "auto", "LambdaLR"),
    ],
)  # fmt: skip
def test_pinned_mappings(name: str, config: dict[str, Any], n: int, use: str, target: str) -> None:
    result = translate(_schedule(name, config), to="torch", steps=n, use=use)
    assert result.target.name == target
    check(result, n)


def test_float64_keras_schedule() -> None:
    schedule = _schedule(
        "CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 50, "alpha": 0.2}
    ).with_dtype("float64")
    result = translate(schedule, to="torch", steps=51)
    assert result.comparison.float32_differences is None  # float64 on both sides
    check(result, 51)


def test_nested_schedules() -> None:
    inner = {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5}}  # fmt: skip
    warm = _schedule(
        "LinearWarmup", {"schedule": inner, "warmup_steps": 10, "initial_learning_rate": 0.0}
    )
    check(translate(warm, to="torch", steps=40), 40)
    seq = _schedule("SequentialSchedule", {"schedules": [inner, inner], "boundaries": [12]})
    check(translate(seq, to="torch", steps=40), 40)


@pytest.mark.filterwarnings(  # Keras's LearningRateScheduler reading its own variable
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
@pytest.mark.parametrize("config", LESSON, ids=[c.key for c in LESSON])
def test_the_lesson_over_its_run(config: Any) -> None:
    """The lesson's seven configurations over its 4,690 steps, every step in real torch."""
    result = translate(config, to="torch", steps=4690)
    check(result, 4690)


def test_the_boundary_note_holds_in_the_real_frameworks() -> None:
    """The note's claim: torch code with Keras's boundaries as its milestones differs
    from Keras at exactly the steps it names (both rounded to float32)."""
    result = translate(LESSON[3], to="torch", steps=4690)
    (note,) = [n for n in result.target.notes if n.startswith("Boundary rule")]
    assert "would differ at steps 1000, 2000, 3000 (3 in all)" in note
    naive_code = result.code.replace("[1001, 2001, 3001]", "[1000, 2000, 3000]")
    assert naive_code != result.code
    naive = oracle.run_torch_code(naive_code, 4690)
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        [1000, 2000, 3000], [0.003, 0.002, 0.001, 0.0001]
    )  # no transcendental function: TensorFlow's vectorised call is its scalar one
    keras_rates = schedule(tf.constant(np.arange(4690), tf.int64)).numpy()
    differ = np.flatnonzero(keras_rates != naive.astype(np.float32))
    assert differ.tolist() == [1000, 2000, 3000]
