"""``lr-refimpl translate`` and ``lr-refimpl explain ... --framework torch``: the code
then the table, exit 0; bad input one ``lr-refimpl: error: ...`` line and exit 2."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from refimpl.cli import main
from refimpl.schedules import ExponentialDecay, serialize


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["translate", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lr-refimpl: error: ")
    return lines[0]


def test_keras_schedule_to_torch(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(
        capsys,
        "--to",
        "torch",
        "ExponentialDecay",
        "--initial-learning-rate",
        "0.001",
        "--decay-steps",
        "500",
        "--decay-rate",
        "0.98",
        "--staircase",
        "--steps",
        "1000",
    )
    assert (
        "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=500, gamma=0.98)" in out
    )
    assert out.index("import torch") < out.index("Where Keras's ExponentialDecay")
    assert "steps 0..999 (1,000 steps), compared in float64" in out


def test_torch_scheduler_to_keras(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(
        capsys, "--to", "keras", "CosineAnnealingLR", "--lr", "0.1", "--T-max", "10",
        "--steps", "30", "--use", "built-in",
    )  # fmt: skip
    assert "keras.optimizers.schedules.CosineDecay(" in out
    assert "periodic" in out
    out = _run(capsys, "--to", "keras", "MultiStepLR", "--lr", "0.1", "--milestones", "3,7")
    assert "boundaries=[2, 6]" in out


def test_lesson_configurations(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "--to", "torch", "scheduler")
    assert "StepLR(optimizer, step_size=938, gamma=1 / 3.0)" in out
    out = _run(capsys, "--to", "torch", "lesson", "--steps", "100")
    assert out.count("import torch") == 7
    assert "=== piecewise: PiecewiseConstantDecay" in out


def test_from_config_json_and_keras_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    serialized = serialize(ExponentialDecay(0.1, 10, 0.5))
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(serialized))
    out = _run(capsys, "--to", "torch", "--from-config", str(path), "--steps", "20")
    assert "ExponentialLR(optimizer, gamma=0.5 ** (1 / 10))" in out
    model = tmp_path / "model.keras"
    optimizer = {"class_name": "SGD", "config": {"learning_rate": serialized}}
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", json.dumps({"compile_config": {"optimizer": optimizer}}))
    assert "ExponentialLR" in _run(capsys, "--to", "torch", "--from-config", str(model))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["translate", "--to", "optax", "StepLR", "--lr", "0.1"], "StepLR needs --step-size"),
        (["translate", "--to", "torch", "cosine_decay_schedule", "--init-value", "0.1"], "cosine_decay_schedule needs --decay-steps"),
        (["translate", "--to", "keras", "cosine_decay_schedule", "--init-value", "0.1", "--decay-steps", "0"], "positive decay_steps"),
        (["translate", "--to", "keras", "cosine_decay_schedule", "--foo", "1"], "has no option --foo"),
        (["translate", "--to", "keras", "sgdr_schedule"], "takes a list of dicts"),
        (["translate", "--to", "optax", "cosine_decay_schedule", "--init-value", "0.1", "--decay-steps", "10"], "is Optax's already"),
        (["translate", "piecewise"], "--to is required"),
        (["translate", "--to", "jax", "piecewise"], "--to must be one of torch, keras, optax. Received: 'jax'"),
        (["translate", "--to", "torch"], "give NAME"),
        (["translate", "--to", "torch", "Cosine"], "unknown NAME 'Cosine'"),
        (["translate", "--to", "torch", "piecewise", "--steps", "0"], "--steps must be a whole number"),
        (["translate", "--to", "torch", "piecewise", "--steps", "x"], "Received: 'x'"),
        (["translate", "--to", "torch", "piecewise", "--values", "1"], "piecewise is the lesson's"),
        (["translate", "--to", "torch", "StepLR", "--lr", "0.1", "--step-size", "3"], "is torch's already"),
        (["translate", "--to", "keras", "piecewise"], "is Keras's already"),
        (["translate", "--to", "keras", "StepLR", "--lr", "0.1"], "StepLR needs --step-size"),
        (["translate", "--to", "keras", "StepLR", "--lr", "0.1", "--step-size", "x"], "StepLR:"),
        (["translate", "--to", "keras", "StepLR", "--lr", "0.1", "--step-size", "3", "--foo", "1"], "StepLR has no option --foo"),
        (["translate", "--to", "keras", "StepLR", "--lr", "0.1", "--step-size", "0"], "step_size"),
        (["translate", "--to", "keras", "LambdaLR"], "takes a Python function"),
        (["translate", "--to", "keras", "ReduceLROnPlateau", "--lr", "0.1"], "depends on a metric"),
        (["translate", "--to", "torch", "InverseTimeDecay", "--initial-learning-rate", "0.1", "--decay-steps", "10", "--decay-rate", "0.5", "--use", "built-in"], "No torch built-in"),
        (["translate", "--to", "torch", "ExponentialDecay", "--decay-steps", "10"], "ExponentialDecay needs"),
        (["translate", "--to", "torch", "--from-config", "/nonexistent/schedule.json"], "/nonexistent/schedule.json"),
        (["explain", "lesson", "--framework", "Torch"], "--framework must be one of keras, torch, optax. Received: 'Torch'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in _error(capsys, *argv)


def test_bad_config_files_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "not valid JSON" in _error(
        capsys, "translate", "--to", "torch", "--from-config", str(bad)
    )
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"initial_learning_rate": 0.1}))
    assert "without 'class_name'" in _error(
        capsys, "translate", "--to", "torch", "--from-config", str(bare)
    )
    assert "give no NAME" in _error(
        capsys, "translate", "--to", "torch", "piecewise", "--from-config", str(bare)
    )


def test_explain_lesson_as_torch_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["explain", "lesson", "--framework", "torch", "--samples", "6400", "--epochs", "2"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("6,400 samples at batch 64: 100 steps an epoch")
    assert out.count("=== ") == 7
    assert "StepLR(optimizer, step_size=100, gamma=1 / 3.0)" in out
    assert "steps 0..199 (200 steps)" in out
