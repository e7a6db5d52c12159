"""keras_adapter.parity: refimpl, the adapter and the built-ins compared step by step
(run through ``lr-refimpl parity``, whose front end is tested in test_cli_parity)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from refimpl.cli import main

comparison = pytest.importorskip("keras_adapter.parity")
pytest.importorskip("hypothesis")

pytestmark = pytest.mark.tf


def _main(*argv: str) -> int:
    return main(["parity", *argv])


def test_configs_are_seeded() -> None:
    first = comparison.draw_configs("PolynomialDecay", 4, seed=7)
    assert first == comparison.draw_configs("PolynomialDecay", 4, seed=7)
    assert first != comparison.draw_configs("PolynomialDecay", 4, seed=8)
    assert len(first) == 4


@pytest.mark.tf
def test_small_run_prints_the_table_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status = _main(
        "--schedules",
        "ExponentialDecay",
        "LinearWarmup",
        "--configs",
        "2",
        "--steps",
        "3",
        "--dtype",
        "float32",
    )
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[:4] == ["schedule", "dtype", "configs", "steps"]
    assert "worst" in header
    rows = [line.split() for line in out[1:3]]
    assert [r[:3] for r in rows] == [
        ["ExponentialDecay", "float32", "2"],
        ["LinearWarmup", "float32", "2"],
    ]
    assert all(r[-1] == "yes" for r in rows)
    assert "config-steps/s" in out[-1]


@pytest.mark.tf
def test_json_and_graph_mode(capsys: pytest.CaptureFixture[str]) -> None:
    status = _main(
        "--schedules",
        "InverseTimeDecay",
        "--configs",
        "2",
        "--steps",
        "2",
        "--mode",
        "graph",
        "--json",
    )
    assert status == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["schedule"], r["dtype"]) for r in rows] == [
        ("InverseTimeDecay", "float32"),
        ("InverseTimeDecay", "float64"),
    ]
    for row in rows:
        assert row["ok"] is True
        assert row["pairs"]["adapter-builtin"] == 0  # bounded at 0 in every mode
        assert set(row["pairs"]) == set(comparison.PAIRS)


@pytest.mark.tf
def test_a_wrong_implementation_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = pytest.importorskip("keras")
    real_builtin = comparison._builtin

    def off_by_a_bit(name: str, config: dict[str, Any]) -> Any:
        builtin = real_builtin(name, config)
        return lambda step: builtin(step) * keras.ops.cast(1.0001, "float32")

    monkeypatch.setattr(comparison, "_builtin", off_by_a_bit)
    status = _main(
        "--schedules", "ExponentialDecay", "--configs", "1", "--steps", "2", "--dtype", "float32"
    )
    assert status == 1
    out = capsys.readouterr().out
    assert "NO adapter-builtin" in out
    assert "OUT OF BOUNDS: ExponentialDecay/float32" in out


@pytest.mark.tf
def test_graph_mode_holds_refimpls_graph_mode_to_the_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Graph mode compares refimpl's ``mode="graph"`` with the rate the compiled train
    step applies, and a refimpl that ignored the mode (the eager formula: the staircase
    of ExponentialDecay(0.1, 61, 0.5, staircase=True) switches one step early there) is
    out of bounds by its decisions, even without --strict."""
    from refimpl.schedules import ExponentialDecay

    config = {"initial_learning_rate": 0.1, "decay_steps": 61, "decay_rate": 0.5, "staircase": True}
    monkeypatch.setattr(comparison, "draw_configs", lambda name, n, seed: [config])

    def rows() -> list[dict[str, Any]]:
        argv = ["--schedules", "ExponentialDecay", "--configs", "1", "--steps", "0"]
        _main(*argv, "--horizon", "200", "--dtype", "float32", "--mode", "graph", "--json")
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    (good,) = rows()
    assert good["ok"] is True
    assert good["steps"] >= 200
    assert good["pairs"] == {p: 0 for p in comparison.PAIRS}

    eager_call = ExponentialDecay.__call__

    def ignoring_the_mode(self: Any, steps: Any, *, mode: str = "eager") -> Any:
        return eager_call(self, steps).astype(np.float32)

    monkeypatch.setattr(ExponentialDecay, "__call__", ignoring_the_mode)
    (bad,) = rows()
    # Grappler folds 1 / 61 into a float32 constant: a multiple k * 61 whose product with
    # it rounds below k stays on the previous stair.
    late = [k * 61 for k in (1, 2, 3) if np.float32(k * 61) * (np.float32(1) / np.float32(61)) < k]
    assert late  # 61 * float32(1/61) < 1
    assert bad["ok"] is False
    assert bad["violations"] == {"adapter-refimpl": len(late), "builtin-refimpl": len(late)}
    assert bad["worst_step"] == late[0]


@pytest.mark.tf
def test_strict_holds_refimpl_to_0_ulp(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One ulp off refimpl's CosineDecay is within the documented bound, not --strict."""
    from refimpl.schedules import CosineDecay

    call = CosineDecay.__call__

    def one_ulp_up(self: Any, steps: Any, *, mode: str = "eager") -> Any:
        value = np.asarray(call(self, steps, mode=mode))
        return np.nextafter(value, value.dtype.type(np.inf))

    monkeypatch.setattr(CosineDecay, "__call__", one_ulp_up)
    argv = ["--schedules", "CosineDecay", "--configs", "2", "--steps", "4", "--dtype", "float32"]
    assert _main(*argv, "--mode", "graph") == 0
    assert "adapter-refimpl" in capsys.readouterr().out
    assert _main(*argv, "--mode", "graph", "--strict") == 1
    assert "NO adapter-refimpl" in capsys.readouterr().out
