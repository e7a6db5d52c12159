"""``lr-refimpl parity``'s front end: arguments, one-line errors, and the import discipline
(the comparison itself is keras_adapter.parity, tested in test_keras_adapter_parity)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from refimpl.cli import build_parser, main, parity

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_command_does_not_import_tensorflow() -> None:
    code = (
        "import sys, refimpl.cli.parity\n"
        "print(*(m in sys.modules for m in ('tensorflow', 'keras', 'keras_adapter')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.split() == ["False", "False", "False"]


def test_defaults() -> None:
    args = build_parser().parse_args(["parity"])
    assert (args.configs, args.steps, args.seed, args.dtype, args.mode) == (
        10,
        32,
        0,
        "both",
        "eager",
    )
    assert len(args.schedules) == 12
    assert args.run is parity.run


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--schedules", "ExponentialDecai"], "ExponentialDecai"),
        (["--configs", "many"], "--configs"),
        (["--mode", "fast"], "--mode"),
        (["--dtype", "float16"], "--dtype"),
        (["--bogus"], "--bogus"),
        (["--configs", "0"], "--configs"),
        (["--configs", "10000000"], "make 7,680,000,000 steps; at most 10,000,000"),
        (["--steps", "-1"], "--steps"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parity", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lr-refimpl: error:")
    assert len(err.strip().splitlines()) == 1
    assert named in err


@pytest.mark.parametrize(
    ("blocked", "extra"), [("tensorflow", "keras"), ("keras", "keras"), ("hypothesis", "test")]
)
def test_a_missing_extra_is_named_in_one_line(blocked: str, extra: str) -> None:
    """In a fresh interpreter where ``blocked`` cannot be imported, as after a plain install."""
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from refimpl.cli import main\n"
        "sys.exit(main(['parity', '--schedules', 'ExponentialDecay', '--configs', '1']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"lr-refimpl: error: lr-refimpl parity needs the '{extra}' extra ({blocked} is not "
        f"installed): pip install 'lr-refimpl[{extra}]'"
    ]
