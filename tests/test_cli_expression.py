"""``--function``: what is allowed, and every failure is one bounded CommandError."""

from __future__ import annotations

import math
import time

import pytest

from refimpl.cli import main
from refimpl.cli.common import CommandError
from refimpl.cli.expression import MAX_LENGTH, MAX_NODES, epoch_function_from_text


def test_function_text_is_not_eval() -> None:
    with pytest.raises(CommandError, match="only epoch, lr"):
        epoch_function_from_text("lr.__class__")
    with pytest.raises(CommandError, match="not a valid expression"):
        epoch_function_from_text("lr /")
    with pytest.raises(CommandError, match="lambda epoch, lr"):
        epoch_function_from_text("lambda e, l: l")
    with pytest.raises(CommandError, match="only epoch, lr"):
        epoch_function_from_text("exp")  # a function name that is not called
    with pytest.raises(CommandError, match="only epoch, lr"):
        epoch_function_from_text("'0.1'")
    assert epoch_function_from_text("max(lr * 0.5, 1e-4)")(0, 0.001) == 0.0005


@pytest.mark.parametrize(
    ("text", "epoch", "lr", "want"),
    [
        ("lr / 3", 0, 0.003, 0.003 / 3),
        ("lr * 0.5 ** epoch", 3, 1.0, 0.125),
        ("lr if epoch < 10 else lr * exp(-0.1)", 10, 1.0, math.exp(-0.1)),
        ("0.1 * cos(pi * epoch / 20) + floor(epoch / 10) // 1 % 2", 10, 0.0, 1.0),
        ("pow(2, epoch) * lr", 4, 0.5, 8.0),
        ("min(lr, 0.5, abs(-0.25))", 0, 1.0, 0.25),
        ("log(8, 2) + sqrt(4) + ceil(0.5)", 0, 0.0, 6.0),
        ("(epoch > 1) + (epoch == 0 < 1)", 2, 0.0, 1.0),  # comparisons are 0.0 or 1.0
    ],
)
def test_values(text: str, epoch: int, lr: float, want: float) -> None:
    assert epoch_function_from_text(text)(epoch, lr) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("lr / 0", "division by zero"),
        ("lr // 0", "division by zero"),
        ("lr % 0", "division by zero"),
        ("10 ** 400", "overflow"),
        ("lr * 9 ** 9 ** 9", "overflow"),  # an integer power tower: 370 million digits
        ("floor(9.0) ** floor(9.0) ** floor(9.0)", "overflow"),  # ints from floor, too
        ("exp(1000)", "overflow"),
        ("floor(1e308 * 10)", "overflow"),
        ("(-1) ** 0.5", "not a real number"),
        ("log(0)", "math domain error"),
        ("sqrt(-1)", "math domain error"),
        ("9" * 400, "overflow"),
    ],
)
def test_failures_at_evaluation_name_the_epoch_and_rate(text: str, reason: str) -> None:
    function = epoch_function_from_text(text)
    start = time.process_time()
    with pytest.raises(CommandError, match=f"at epoch 3 with lr=0.5: .*{reason}"):
        function(3, 0.5)
    # Bounded: a float overflow is immediate, an integer power tower would take hours.
    assert time.process_time() - start < 5


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("max(1)", r"max\(\) takes 2 or more argument\(s\), not 1"),
        ("pow(2, 3, 4)", r"pow\(\) takes 2 argument\(s\), not 3"),
        ("exp(x=1)", "only epoch, lr"),
        ("max(*lr)", "only epoch, lr"),
        ("-" * 500 + "1", f"at most {MAX_NODES} terms"),
        ("(" * 300 + "1" + ")" * 300, "not a valid expression"),
        ("1 + " * (MAX_LENGTH // 4 + 1) + "1", f"at most {MAX_LENGTH} characters"),
    ],
)
def test_refused_before_evaluation(text: str, match: str) -> None:
    with pytest.raises(CommandError, match=match):
        epoch_function_from_text(text)


def test_a_long_text_is_shortened_in_the_message() -> None:
    with pytest.raises(CommandError) as info:
        epoch_function_from_text("lr +" * 100 + " q")
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("text", ["lr / 0", "10 ** 400", "lr * 9 ** 9 ** 9"])
def test_on_the_command_line_one_line_exit_2(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["explain", "LearningRateScheduler", "--function", text])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"lr-refimpl: error: --function {text!r} at epoch 0")
    assert len(err.splitlines()) == 1
