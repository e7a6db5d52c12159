"""A training run's shape: steps per epoch, epochs, and the first step past a count."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.runs import TrainingRun, first_step_at, steps_per_epoch


def _batches_by_loop(samples: int, batch_size: int) -> int:
    """Loop twin of steps_per_epoch: take batches until no sample is left."""
    taken = batches = 0
    while taken < samples:
        taken += min(batch_size, samples - taken)
        batches += 1
    return batches


@given(st.integers(1, 5000), st.integers(1, 600))
@example(60_000, 64)  # the lesson: 937 full batches and one of 32
@example(64, 64)
def test_steps_per_epoch_counts_the_batches(samples: int, batch_size: int) -> None:
    assert steps_per_epoch(samples, batch_size) == _batches_by_loop(samples, batch_size)


def test_the_lessons_run() -> None:
    run = TrainingRun(60_000, 64, 5)
    assert (run.steps_per_epoch, run.total_steps, run.last_step) == (938, 4690, 4689)
    assert run.last_batch == 60_000 - 937 * 64 == 32
    assert "4,690 steps (steps 0..4689)" in run.describe()
    assert "last batch" not in TrainingRun(640, 64, 1).describe()


@given(st.integers(1, 300), st.integers(1, 50), st.integers(1, 6))
def test_every_step_lies_in_the_epoch_epoch_of_names(
    samples: int, batch_size: int, epochs: int
) -> None:
    run = TrainingRun(samples, batch_size, epochs)
    edges = run.epoch_edges()
    assert [e[0] for e in edges] == list(range(1, epochs + 1))
    assert edges[0][1] == 0
    assert edges[-1][2] == run.last_step
    for epoch, first, last in edges:
        for step in (first, last):
            assert run.epoch_of(step) == (epoch, step - first + 1)


@pytest.mark.parametrize(
    ("field", "value"), [("samples", 0), ("batch_size", -1), ("epochs", 1.5), ("epochs", True)]
)
def test_bad_fields_are_refused_by_name(field: str, value: object) -> None:
    arguments: dict[str, object] = {"samples": 10, "batch_size": 2, "epochs": 3, field: value}
    with pytest.raises(ValueError, match=f"Argument `{field}` .* Received: {field}={value!r}"):
        TrainingRun(**arguments)  # type: ignore[arg-type]


@given(st.floats(-1e6, 1e6))
@example(100.0)
@example(100.5)
@example(-0.5)
def test_first_step_at_is_the_least_integer_at_or_past(count: float) -> None:
    step = first_step_at(count)
    assert step is not None
    assert step - 1 < count <= step


@pytest.mark.parametrize("count", [math.inf, -math.inf, math.nan])
def test_first_step_at_a_count_that_is_not_finite_is_none(count: float) -> None:
    assert first_step_at(count) is None
