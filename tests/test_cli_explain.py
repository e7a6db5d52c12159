"""``lr-refimpl explain``: the run's shape, the rates per epoch, and every classic trap."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl.cli import main
from refimpl.cli.explain import findings
from refimpl.cli.subjects import RunShape, Subject
from refimpl.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)

LESSON_RUN = RunShape(60_000, 64, 5)


def _explain(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["explain", *argv]) == 0
    return capsys.readouterr().out


def test_lesson_shape_and_rates(capsys: pytest.CaptureFixture[str]) -> None:
    out = _explain(
        capsys,
        "--samples", "60000", "--batch-size", "64", "--epochs", "5",
        "ExponentialDecay", "--initial-learning-rate", "0.001", "--decay-steps", "500",
        "--decay-rate", "0.98", "--staircase",
    )  # fmt: skip
    assert "938 steps an epoch (the last batch has 32 samples); 5 epochs = 4,690 steps" in out
    assert "The lesson says ~5,000 steps; the real run has 4,690." in out
    rows = [line.split() for line in out.splitlines()]
    assert ["1", "0", "0.001", "937", "0.00098"] in rows
    assert ["5", "3752", "0.000868126", "4689", "0.000833748"] in rows
    assert "rate changes at steps 500, 1,000" in out


def test_lesson_traps(capsys: pytest.CaptureFixture[str]) -> None:
    out = _explain(capsys, "lesson")
    # PolynomialDecay(0.003, 5000, ...): horizon longer than the 4,690-step run
    assert (
        "horizon is longer than the run: decay_steps = 5,000 but the run's last step is 4,689"
        in out
    )
    assert "never reaches end_learning_rate = 0.001" in out
    # PiecewiseConstantDecay: the new value starts at boundary + 1, mid-epoch
    assert "0.002 from step 1,001 (epoch 2, its step 64 of 938)" in out
    assert "are not epoch boundaries" in out
    # LearningRateScheduler: epoch 0 already changes the rate
    assert "epoch 0 included: the first epoch already trains at 0.000333333" in out
    # decay= under Keras 3
    assert "Keras 3 ignores the optimizer's decay=" in out
    assert "decay= acts per step, not per epoch" in out


def test_horizon_shorter_than_the_run() -> None:
    s = Subject("c", schedule=CosineDecay(0.1, 1000))
    texts = [str(f) for f in findings(s, LESSON_RUN)]
    assert any("horizon is shorter than the run: decay_steps = 1,000" in t for t in texts)
    assert any("the rate is 0 from step 1,000" in t for t in texts)


def test_boundary_beyond_last_step() -> None:
    s = Subject("p", schedule=PiecewiseConstantDecay([100, 5000], [0.1, 0.01, 0.001]))
    texts = [str(f) for f in findings(s, LESSON_RUN)]
    assert any("boundary 5,000 is at or beyond the run's last step 4,689" in t for t in texts)
    assert any("(0.001) are never used" in t for t in texts)


def test_polynomial_cycle_jumps_back_up() -> None:
    s = Subject("p", schedule=PolynomialDecay(0.1, 1000, cycle=True))
    assert any("cycle=True" in str(f) for f in findings(s, LESSON_RUN))


def test_scheduler_from_a_function(capsys: pytest.CaptureFixture[str]) -> None:
    out = _explain(
        capsys, "--epochs", "3", "LearningRateScheduler", "--initial-learning-rate", "0.01",
        "--function", "lambda epoch, lr: lr if epoch < 1 else lr * 0.5",
    )  # fmt: skip
    assert "0.005" in out
    assert "0.0025" in out
    assert "first epoch already trains" not in out  # f(0, lr) == lr: no trap


def test_integer_rate_warning_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    out = _explain(
        capsys, "ExponentialDecay", "--initial-learning-rate", "1", "--decay-steps", "10",
        "--decay-rate", "0.96",
    )  # fmt: skip
    assert "warning: Argument `initial_learning_rate` is an integer" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["Nope"], "unknown schedule 'Nope'"),
        (["exponential", "--decay-steps", "5"], "takes no --decay-steps"),
        (["LearningRateScheduler"], "needs --function"),
        (["ExponentialDecay", "--function", "lr"], "--function belongs to LearningRateScheduler"),
        (["--epochs", "0", "lesson"], "--epochs must be an integer >= 1"),
        (["PolynomialDecay", "--initial-learning-rate", "0.1"], "needs --decay-steps"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lr-refimpl: error:")
    assert match in err
    assert len(err.splitlines()) == 1


def test_a_warmup_that_rises_does_not_end_at_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """CosineDecay from 0.0 with a warmup to 0.01 (the issue's case): the rate rises."""
    out = _explain(
        capsys, "CosineDecay", "--initial-learning-rate", "0.0", "--decay-steps", "100000",
        "--warmup-target", "0.01", "--warmup-steps", "1000",
    )  # fmt: skip
    summary = next(line for line in out.splitlines() if line.startswith("Over the run"))
    assert summary.endswith(": rises from zero.")
    assert "zero" not in summary.split(":")[0]


def test_the_last_steps_are_counted_one_way(capsys: pytest.CaptureFixture[str]) -> None:
    """CosineDecay(0.1, 4690) over 12 epochs of 50,000 at batch 128: 391 steps an epoch,
    4,692 steps (0..4691); the rate is alpha * 0.1 = 0 at steps 4,690 and 4,691: two."""
    out = _explain(
        capsys, "--samples", "50000", "--batch-size", "128", "--epochs", "12",
        "CosineDecay", "--initial-learning-rate", "0.1", "--decay-steps", "4690",
    )  # fmt: skip
    assert "for the last 2 steps (under 1% of the run)" in out
    assert "the last 2 steps do not change the weights" in out
    assert "last 1 step" not in out


def test_one_step_is_singular() -> None:
    """Zero at the last step only; a horizon at the last step is the run's length."""
    s = Subject("c", schedule=CosineDecay(0.1, LESSON_RUN.total_steps - 1))
    texts = [str(f) for f in findings(s, LESSON_RUN) if "mode rounds differently" not in f.text]
    assert texts == [
        "warning: the rate is 0 from step 4,689 (epoch 5, its step 938 of 938) on: the last "
        "1 step does not change the weights at all."
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["ExponentialDecay", "--initial-learning-rate", "0.01", "--decay-steps", "5",
             "--decay-rate", "0.9"],
            "decay_steps = 5 looks like a number of epochs, but schedules count optimizer "
            "steps (batches): with 938 steps an epoch, 5 epochs are decay_steps = 4,690.",
        ),
        (
            ["CosineDecayRestarts", "--initial-learning-rate", "0.01", "--first-decay-steps",
             "2"],
            "first_decay_steps = 2 looks like a number of epochs",
        ),
        (
            ["PiecewiseConstantDecay", "--boundaries", "2,4", "--values", "0.1,0.01,0.001"],
            "boundaries [2, 4] look like epochs, but schedules count optimizer steps "
            "(batches): to switch at the start of those epochs (938 steps each) write "
            "boundaries = [1875, 3751] (the new value starts at boundary + 1).",
        ),
    ],
)  # fmt: skip
def test_step_counts_that_look_like_epochs_are_warned_about(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expected in _explain(capsys, *argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["lesson"],  # 500, 100, 5,000 steps and boundaries 1000..3000: real step counts
        ["InverseTimeDecay", "--initial-learning-rate", "0.001", "--decay-steps", "1",
         "--decay-rate", "0.0002"],  # decay_steps=1: the legacy per-step formula
        ["--epochs", "1", "ExponentialDecay", "--initial-learning-rate", "0.01",
         "--decay-steps", "1", "--decay-rate", "0.9"],
    ],
)  # fmt: skip
def test_real_step_counts_are_not_taken_for_epochs(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert "like a number of epochs" not in _explain(capsys, *argv)
    assert "look like epochs" not in _explain(capsys, *argv)


def test_a_decision_taken_differently_in_training_is_a_warning() -> None:
    """ExponentialDecay(0.1, 61, 0.5, staircase=True): Grappler and XLA compute step / 61
    as step * fl(1/61), and 61 * fl(1/61) rounds below 1 in float32, so model.fit's
    stair comes one step late at 61 -- whatever refimpl computes, derived here by hand."""
    assert np.float32(61) * (np.float32(1) / np.float32(61)) < 1
    s = Subject("e", schedule=ExponentialDecay(0.1, 61, 0.5, staircase=True))
    texts = [str(f) for f in findings(s, RunShape(6_100, 100, 3))]
    for mode, where in (("graph", "on a CPU"), ("xla", "jit_compile=True")):
        (line,) = [t for t in texts if t.startswith(f"warning: {mode} mode decides")]
        assert "at steps 61," in line
        assert "(the staircase: floor(step / decay_steps))" in line
        assert where in line


def test_rounding_in_training_is_a_note_and_agreement_is_silent() -> None:
    """InverseTimeDecay's step / 100 becomes step * fl(1/100) in graph mode: rounding,
    a note; PiecewiseConstantDecay has no arithmetic for the modes to change."""
    s = Subject("i", schedule=InverseTimeDecay(0.003, 100, 0.5))
    notes = [f.text for f in findings(s, LESSON_RUN) if "graph mode" in f.text]
    assert len(notes) == 1
    assert notes[0].startswith("graph mode rounds differently from eager mode at ")
    p = Subject("p", schedule=PiecewiseConstantDecay([1000, 2000], [0.3, 0.2, 0.1]))
    assert not [f for f in findings(p, LESSON_RUN) if "mode" in f.text]
