"""NAME and its options for explain, plot and table: --from-config (JSON or .keras, NAME
optional, conflicts refused), `NAME --help`, and the limits of a run."""

from __future__ import annotations

import json
import re
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refimpl.cli import main
from refimpl.cli.common import CommandError
from refimpl.cli.subjects import MAX_EPOCHS, RunShape, Subject, build_schedule
from refimpl.schedules import ExponentialDecay

EXPONENTIAL = {
    "class_name": "ExponentialDecay",
    "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
}


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("lr-refimpl: error: ")
    return err[0]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(EXPONENTIAL))
    return path


@pytest.fixture
def keras_file(tmp_path: Path) -> Path:
    """A .keras model file as Keras 3 writes it, its SGD on the ExponentialDecay."""
    model = {
        "class_name": "Sequential",
        "config": {"layers": []},
        "compile_config": {
            "optimizer": {"class_name": "SGD", "config": {"learning_rate": EXPONENTIAL}}
        },
    }
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(model))
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return path


@pytest.mark.parametrize("command", ["table", "explain"])
@pytest.mark.parametrize("fixture", ["config_file", "keras_file"])
def test_from_config_needs_no_name(
    command: str, fixture: str, request: pytest.FixtureRequest, capsys: Any
) -> None:
    path = request.getfixturevalue(fixture)
    assert main([command, "--from-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5" in out


def test_from_config_with_its_own_name(config_file: Path) -> None:
    schedule = build_schedule("ExponentialDecay", [], str(config_file))
    assert schedule.get_config() == ExponentialDecay(0.1, 10, 0.5).get_config()


def test_a_bare_config_needs_its_class(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(EXPONENTIAL["config"]))
    assert "give NAME, the schedule class" in _error(capsys, "table", "--from-config", str(path))
    schedule = build_schedule("ExponentialDecay", [], str(path))
    assert schedule.get_config() == ExponentialDecay(0.1, 10, 0.5).get_config()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["table", "PolynomialDecay"], "NAME PolynomialDecay conflicts with --from-config"),
        (["table", "ExponentialDecay", "--decay-steps", "5"], "takes no options beside it"),
        (["explain", "exponential"], "NAME exponential conflicts with --from-config"),
        (["explain", "lesson"], "NAME lesson conflicts with --from-config"),
        (["explain", "LearningRateScheduler"], "conflicts with --from-config"),
        (["explain", "--function", "lr"], "--function belongs to LearningRateScheduler"),
    ],
)
def test_conflicts_with_from_config_are_refused(
    argv: list[str], match: str, config_file: Path, capsys: Any
) -> None:
    assert match in _error(capsys, *argv, "--from-config", str(config_file))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\xff\xd8\xff\xe0 a JPEG", "not UTF-8 text"),
        (b"{}", "give NAME"),
        (b'{"class_name": "Nope", "config": {}}', "Unknown learning rate schedule"),
        (b'{"learning_rate": 0.01}', "the constant 0.01, not a schedule"),
        (b"[" * 5000, "nested too deeply|not valid JSON"),
        (
            b'{"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1}}',
            "ExponentialDecay",
        ),
    ],
)
def test_bad_files_are_one_line(content: bytes, match: str, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(content)
    line = _error(capsys, "table", "--from-config", str(path))
    assert str(path) in line
    assert re.search(match, line), line


def test_a_directory_is_one_line(tmp_path: Path, capsys: Any) -> None:
    assert "Is a directory" in _error(capsys, "table", "--from-config", str(tmp_path))


def test_name_or_from_config_is_needed(capsys: Any) -> None:
    assert "give NAME" in _error(capsys, "table")


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["table", "ExponentialDecay"], ["--decay-rate X", "--staircase, --no-staircase"]),
        (["explain", "PiecewiseConstantDecay"], ["--boundaries A,B,...", "--values A,B,..."]),
        (["plot", "CosineDecay"], ["--warmup-target X", "default: None"]),
        (["explain", "LearningRateScheduler"], ["--function EXPR"]),
        (["explain", "polynomial"], ["PolynomialDecay(0.003, 5000, 0.001, power=1.5)"]),
        (["table", "LinearWarmup"], ["--warmup-steps X", "use --from-config"]),
    ],
)
def test_name_help_lists_its_options(
    argv: list[str], wanted: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lr-refimpl {argv[0]}")
    for text in wanted:
        assert text in out


def test_help_for_an_unknown_name_is_an_error(capsys: Any) -> None:
    assert "unknown schedule 'Nope'" in _error(capsys, "table", "Nope", "--help")


def test_run_limits() -> None:
    with pytest.raises(CommandError, match="--epochs must be at most 100,000"):
        RunShape(10, 1000, MAX_EPOCHS + 1)
    with pytest.raises(CommandError, match="make 10,000,001 steps"):
        RunShape(10_000_001, 1, 1)
    with pytest.raises(CommandError, match="--batch-size must be an integer >= 1"):
        RunShape(10, 0, 1)
    assert RunShape(10**400, 10**399, 1).steps_per_epoch == 10  # integer arithmetic


def test_explain_with_too_many_epochs_allocates_nothing(capsys: Any) -> None:
    """The issue's case grew past 20 GB; now it is refused before any array exists."""
    tracemalloc.start()
    try:
        argv = ["explain", "--samples", "10", "--batch-size", "1000", "--epochs", "100000000"]
        line = _error(capsys, *argv, "exponential")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "--epochs must be at most" in line
    assert peak < 10 * 2**20


def test_an_epoch_function_needs_the_epoch_length() -> None:
    subject = Subject("s", epoch_function=lambda epoch, lr: lr / 2, learning_rate=1.0)
    with pytest.raises(CommandError, match="give --samples"):
        subject.rates_at(np.arange(3))
