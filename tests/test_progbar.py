"""The progress line: Keras 3's format per verbosity."""

from __future__ import annotations

import pytest

from refimpl.progbar import Progbar, format_logs, format_step_time


def test_formats() -> None:
    assert format_logs({"accuracy": 0.5, "loss": 2.0}) == " - accuracy: 0.5000 - loss: 2.0000"
    assert format_logs({"loss": 1e-4}) == " - loss: 1.0000e-04"
    assert [format_step_time(t) for t in (0.0, 2.4, 0.0314, 2e-5)] == [
        "0s/step",
        "2s/step",
        "31ms/step",
        "20us/step",
    ]


@pytest.mark.parametrize(("verbose", "lines"), [(0, 0), (1, 1), (2, 1)])
def test_one_final_line_unless_silent(
    verbose: int, lines: int, capsys: pytest.CaptureFixture[str]
) -> None:
    bar = Progbar(10, verbose)
    for step in range(1, 11):
        bar.update(step, {"loss": 1.0})  # not a terminal: nothing until the end
    bar.finish(10, {"loss": 1.0})
    out = capsys.readouterr().out
    assert out.count("\n") == lines
    if verbose == 2:
        assert out.startswith("10/10 - ")
        assert out.rstrip().endswith("- loss: 1.0000")
    if verbose == 1:
        assert out.startswith("10/10 ━━━━━━━━━━━━━━━━━━━━ ")
