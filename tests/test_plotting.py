"""``refimpl.plotting``: figures render, matplotlib stays optional and pyplot unused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from refimpl import plotting

PNG = b"\x89PNG\r\n\x1a\n"


def test_matplotlib_loads_late_and_pyplot_never() -> None:
    code = (
        "import sys, numpy as np, refimpl.plotting as p, refimpl.report\n"
        "print('matplotlib' in sys.modules)\n"
        "if p.matplotlib_available():\n"
        "    p.rate_figure([p.RateSeries('r', np.arange(3), np.ones(3))], title='t')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_log_scale_rule() -> None:
    assert plotting.needs_log_scale([0.003, 0.0001])  # 30x: piecewise
    assert not plotting.needs_log_scale([0.003, 0.001])  # 3x: polynomial
    assert not plotting.needs_log_scale([0.001, 0.0])  # a zero rate: stay linear
    assert not plotting.needs_log_scale([np.nan])


def test_plain_numbers() -> None:
    assert [plotting.plain_number(v) for v in (1e-05, 0.00025, 0.001, 20000.0, 0.0)] == [
        "0.00001",
        "0.00025",
        "0.001",
        "20000",
        "0",
    ]


def test_figures_render_without_pyplot() -> None:
    pytest.importorskip("matplotlib")
    steps = np.arange(50)
    rates = np.where(steps < 25, 0.003, 0.0001)
    png = plotting.rate_figure(
        [
            plotting.RateSeries("refimpl", steps, rates),
            plotting.RateSeries("Keras", steps, rates, backend="keras"),
        ],
        title="piecewise",
        subtitle="lr = ...",
        steps_per_epoch=10,
    )
    assert png.startswith(PNG)
    svg = plotting.validation_figure(
        [
            plotting.EpochSeries("a", [0.5, 0.6], [1.0, 0.9]),
            plotting.EpochSeries("b", [0.5, 0.6], [1.0, 0.9], marker="s"),
            plotting.EpochSeries("a", [0.4, 0.7], [1.2, 0.7], backend="keras"),
        ],
        fmt="svg",
    )
    assert b"<svg" in svg


def test_identical_runs_are_labelled() -> None:
    a = plotting.EpochSeries("constant", [0.5], [1.0])
    b = plotting.EpochSeries("exponential", [0.5], [1.0])
    c = plotting.EpochSeries("decay", [0.4], [1.0])
    assert plotting._same_as([a, b, c]) == {"exponential": "constant"}


def test_empty_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        plotting.rate_figure([], title="x")


@pytest.mark.parametrize("log", [True, False])
def test_rates_at_the_ends_of_float64_still_draw(log: bool) -> None:
    """Axis limits with headroom would leave float64 (inf, or 0 on a log axis)."""
    pytest.importorskip("matplotlib")
    from refimpl.plotting import RateSeries, rate_figure

    steps = np.arange(4)
    rates = np.array([5e-324, 1.0, 1.7e308, np.inf])
    png = rate_figure([RateSeries("r", steps, rates)], title="t", log=log)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
