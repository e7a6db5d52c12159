"""The command line: version, help, table, demo, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from refimpl.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from refimpl import __version__

    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_console_script_help_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "refimpl.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("tutorial", "explain", "plot", "table", "parity", "demo"):
        assert command in out.stdout


@pytest.mark.parametrize("command", ["tutorial", "explain", "plot", "table", "parity", "demo"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert "usage: lr-refimpl " + command in capsys.readouterr().out


def test_multi_line_errors_are_joined_into_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from refimpl.cli import CommandError, demo

    def fail(args: object) -> int:
        raise CommandError("first line\n  - second line\nFix: third")

    monkeypatch.setattr(demo, "run", fail)
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == "lr-refimpl: error: first line - second line Fix: third\n"


def test_table_prints_keras_and_exact_values(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "table",
            "InverseTimeDecay",
            "--steps",
            "0,100",
            "--initial-learning-rate",
            "0.003",
            "--decay-steps",
            "100",
            "--decay-rate",
            "0.5",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "0.00200000009" in out  # float32(0.002): 0.003 / 1.5 rounds to it


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["table", "Nope"], "unknown schedule 'Nope'"),
        (
            [
                "table",
                "ExponentialDecay",
                "--initial-learning-rate",
                "0.1",
                "--decay-steps",
                "0",
                "--decay-rate",
                "0.5",
            ],
            "decay_steps=0",
        ),
        (["table", "ExponentialDecay", "--decay-step", "5"], "no option --decay-step"),
        (["table", "ExponentialDecay", "--steps", "a,b"], "--steps"),
        (["table", "ExponentialDecay", "--steps", "0:10:0"], "step of a range must not be 0"),
        (["table", "ExponentialDecay", "--steps", "1:2:3:4"], "start:stop[:step]"),
        (["table", "ExponentialDecay", "--steps", "9" * 23], "outside the int64 range"),
        (["table", "ExponentialDecay", "--steps", "0:100000000000"], "at most 10,000,000"),
        (["plot", "ExponentialDecay", "--steps", "0:10:0", "-o", "x.png"], "must not be 0"),
        (["plot", "ExponentialDecay", "--steps", "10" * 8, "-o", "x.png"], "at most 10,000,000"),
        (["table", "ExponentialDecay", "--from-config", "/nonexistent.json"], "nonexistent"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lr-refimpl: error:")
    assert match in err
    assert len(err.splitlines()) == 1


def test_demo_shows_the_real_step_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "938 steps an epoch" in out
    assert "steps 0..4689" in out
