"""``lr-refimpl plot``: one schedule's curve into an image file, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from refimpl.cli import main

pytest.importorskip("matplotlib")


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exp.png"
    status = main(
        [
            "plot", "ExponentialDecay", "--initial-learning-rate", "0.001", "--decay-steps",
            "500", "--decay-rate", "0.98", "--staircase", "--steps", "4690", "--samples",
            "60000", "-o", str(out),
        ]
    )  # fmt: skip
    assert status == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["exp.png"]  # no temporary file left
    assert "steps 0..4689, rate 0.001 -> 0.000833748" in capsys.readouterr().out


def test_plot_lesson_scheduler_needs_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.svg"
    assert main(["plot", "scheduler", "-o", str(out)]) == 2
    assert "give --samples" in capsys.readouterr().err
    assert main(["plot", "scheduler", "--samples", "60000", "-o", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml")


def test_plot_from_config(tmp_path: Path) -> None:
    cfg = tmp_path / "s.json"
    cfg.write_text(
        '{"class_name": "PiecewiseConstantDecay", "config": '
        '{"boundaries": [10], "values": [0.1, 0.001]}}'
    )
    out = tmp_path / "p.png"
    assert main(["plot", "--from-config", str(cfg), "--steps", "0:50", "-o", str(out)]) == 0
    assert out.stat().st_size > 1000


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["Nope", "-o", "{tmp}/a.png"], "unknown schedule 'Nope'"),
        (["constant", "-o", "{tmp}/a.txt"], "-o must end in .png, .svg or .pdf"),
        (["constant", "-o", "{tmp}/no/such/dir/a.png"], "does not exist"),
        (["constant", "--steps", "many", "-o", "{tmp}/a.png"], "--steps must be"),
        (["constant", "--steps", "0", "-o", "{tmp}/a.png"], "at least one step"),
        (["lesson", "-o", "{tmp}/a.png"], "plot draws one schedule"),
        (["--from-config", "{tmp}/missing.json", "-o", "{tmp}/a.png"], "missing.json"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    argv: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plot", *(a.replace("{tmp}", str(tmp_path)) for a in argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lr-refimpl: error:")
    assert match in err
    assert len(err.splitlines()) == 1
    assert not list(tmp_path.glob("*.png"))


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "--help"]) == 0
    assert "--samples 60000" in capsys.readouterr().out


def test_rates_that_overflow_are_left_out_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2.0 * 2 ** step overflows float32 at step 127: inf from there on."""
    out = tmp_path / "up.png"
    argv = ["plot", "ExponentialDecay", "--initial-learning-rate", "2.0", "--decay-steps", "1"]
    assert main([*argv, "--decay-rate", "2", "--steps", "200", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the rate is inf or NaN at 73 of the steps, the first 127" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nothing_finite_to_draw_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plot", "ExponentialDecay", "--initial-learning-rate", "inf", "--decay-steps", "1"]
    assert main([*argv, "--decay-rate", "0.5", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("lr-refimpl: warning: Argument `initial_learning_rate` is infinite")
    assert err[-1].endswith("the rate is not finite at any step: nothing to draw")
    assert not list(tmp_path.iterdir())
