"""``lr-refimpl explain``: the run's shape, the rates per epoch, and every classic trap."""

from __future__ import annotations

import pytest

from refimpl.cli import main
from refimpl.cli.explain import findings
from refimpl.cli.subjects import RunShape, Subject
from refimpl.schedules import CosineDecay, PiecewiseConstantDecay, PolynomialDecay

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
