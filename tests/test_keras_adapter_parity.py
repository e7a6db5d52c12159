"""keras_adapter.parity: refimpl, the adapter and the built-ins compared step by step
(run through ``lr-refimpl parity``, whose front end is tested in test_cli_parity)."""

from __future__ import annotations

import json
from typing import Any

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
