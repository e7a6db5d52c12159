"""refimpl.cli.common and main(): one-line input errors, bugs that stay bugs, warnings as
text, the step limit, and the one-line "install the extra" message."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from refimpl.cli import build_parser, main
from refimpl.cli.common import (
    MAX_STEPS,
    ArgumentParser,
    CommandError,
    check_step_count,
    import_extra,
    warnings_as_text,
)
from refimpl.exceptions import ScheduleWarning


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lr-refimpl: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["tabel"], "invalid choice: 'tabel'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["table", "--steps"], "table: argument --steps: expected one argument"),
        (["explain", "--samples", "many", "lesson"], "explain: argument --samples: invalid int"),
        (["demo", "--epochs", "x"], "demo: argument --epochs: invalid int value: 'x'"),
        (["demo", "extra"], "demo: unrecognized arguments: extra"),
        (["tutorial", "--backend"], "tutorial: argument --backend: expected one argument"),
        (["plot", "ExponentialDecay", "--log", "--linear"], "not allowed with argument --log"),
    ],
)
def test_argparse_errors_are_one_line_exit_2(
    argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert match in _one_error_line(capsys)


def test_help_and_version_return_0_without_sys_exit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "usage: lr-refimpl" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("lr-refimpl ")


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_a_bug_of_ours_is_not_turned_into_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only CommandError is the user's; a ValueError from our own code keeps its traceback."""
    from refimpl.cli import demo

    def buggy(args: object) -> int:
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(demo, "run", buggy)
    with pytest.raises(ValueError, match="an internal inconsistency"):
        main(["demo"])


def test_a_crash_in_a_fresh_interpreter_shows_a_traceback() -> None:
    code = (
        "import sys\n"
        "from refimpl.cli import demo, main\n"
        "demo.run = lambda args: [][1]\n"
        "sys.exit(main(['demo']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "IndexError" in done.stderr


def test_parser_error_names_the_subcommand() -> None:
    parser = ArgumentParser(prog="lr-refimpl explain")
    parser.add_argument("--epochs", type=int)
    with pytest.raises(CommandError, match=r"^explain: argument --epochs: invalid int value"):
        parser.parse_args(["--epochs", "five"])


def test_every_subparser_reports_errors_in_one_line() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():  # type: ignore[union-attr]
        assert isinstance(parser, ArgumentParser), name


def test_step_limit() -> None:
    check_step_count(MAX_STEPS, "--steps")
    with pytest.raises(CommandError, match="10,000,001 steps; at most 10,000,000"):
        check_step_count(MAX_STEPS + 1, "--steps 0:10000001")


@pytest.mark.parametrize(
    ("blocked", "extra"),
    [("matplotlib", "plot"), ("tensorflow", "keras"), ("hypothesis", "test")],
)
def test_import_extra_names_the_extra(
    blocked: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)
    with pytest.raises(CommandError) as info:
        import_extra(blocked, "lr-refimpl something")
    assert str(info.value) == (
        f"lr-refimpl something needs the '{extra}' extra ({blocked} is not installed): "
        f"pip install 'lr-refimpl[{extra}]'"
    )


def test_import_extra_names_what_is_missing_underneath(monkeypatch: pytest.MonkeyPatch) -> None:
    """keras_adapter is installed with refimpl; what it lacks is Keras: name that."""
    for name in [m for m in sys.modules if m == "keras_adapter" or m.startswith("keras")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(CommandError, match=r"'keras' extra \(keras is not installed\)"):
        import_extra("keras_adapter.parity", "lr-refimpl parity")


def test_warnings_are_one_line_of_text(capsys: pytest.CaptureFixture[str]) -> None:
    with warnings_as_text():
        warnings.warn("a schedule\n  trap", ScheduleWarning, stacklevel=1)
        warnings.warn("numpy said so", RuntimeWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "lr-refimpl: warning: a schedule trap",
        "lr-refimpl: warning: RuntimeWarning: numpy said so",
    ]


def test_schedule_warnings_on_the_command_line_show_no_source_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["table", "ExponentialDecay", "--steps", "0,-1", "--initial-learning-rate", "0.1"]
    assert main([*argv, "--decay-steps", "10", "--decay-rate", "0.5"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "lr-refimpl: warning: ExponentialDecay was called with a negative step (-1); Keras "
        "evaluates the formula there anyway, which is rarely meaningful."
    ]


def test_an_undecodable_argument_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Bytes that are not UTF-8 reach Python's argv as lone surrogates."""
    argv = ["tutorial", "--out", b"report-\xff".decode("utf-8", "surrogateescape")]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "lr-refimpl: error: an argument is not valid UTF-8 text: 'report-\\udcff'\n"
    )


def test_every_missing_extra_in_one_message_without_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What is missing is found by looking (find_spec), not by importing TensorFlow."""
    for name in ("tensorflow", "hypothesis"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(CommandError) as info:
        import_extra("keras_adapter.parity", "lr-refimpl parity", also=["hypothesis"])
    assert str(info.value) == (
        "lr-refimpl parity needs the 'keras' and 'test' extras (tensorflow, hypothesis are "
        "not installed): pip install 'lr-refimpl[keras,test]'"
    )
