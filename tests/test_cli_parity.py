"""``lr-refimpl parity``: arguments, exit status, table, and the import discipline."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from refimpl.cli import parity
from refimpl.testing import tolerance

ROOT = Path(__file__).resolve().parents[1]


def _parse(*argv: str) -> argparse.Namespace:
    parser = parity.one_line_errors(argparse.ArgumentParser(prog="lr-refimpl"))
    parity.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["parity", *argv])


def test_importing_the_command_does_not_import_tensorflow() -> None:
    code = (
        "import sys, refimpl.cli.parity; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_defaults() -> None:
    args = _parse()
    assert (args.configs, args.steps, args.seed, args.dtype, args.mode) == (
        10,
        32,
        0,
        "both",
        "eager",
    )
    assert len(args.schedules) == 12
    assert args.func is parity.run


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--schedules", "ExponentialDecai"], "ExponentialDecai"),
        (["--configs", "many"], "--configs"),
        (["--mode", "fast"], "--mode"),
        (["--dtype", "float16"], "--dtype"),
        (["--bogus"], "--bogus"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse(*argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert named in err


@pytest.mark.parametrize(("option", "value"), [("configs", "0"), ("steps", "-1")])
def test_bad_counts_exit_2_with_one_line(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parity.run(_parse(f"--{option}", value)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"--{option}" in err


def test_without_tensorflow_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` now fails
    assert parity.run(_parse("--schedules", "ExponentialDecay")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "tensorflow is not installed" in err


def test_configs_are_seeded() -> None:
    pytest.importorskip("hypothesis")
    first = parity.draw_configs("PolynomialDecay", 4, seed=7)
    assert first == parity.draw_configs("PolynomialDecay", 4, seed=7)
    assert first != parity.draw_configs("PolynomialDecay", 4, seed=8)
    assert len(first) == 4


@pytest.mark.tf
def test_small_run_prints_the_table_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorflow")
    args = _parse(
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
    assert parity.run(args) == 0
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
    pytest.importorskip("tensorflow")
    args = _parse(
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
    assert parity.run(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["schedule"], r["dtype"]) for r in rows] == [
        ("InverseTimeDecay", "float32"),
        ("InverseTimeDecay", "float64"),
    ]
    for row in rows:
        assert row["ok"] is True
        assert row["pairs"]["adapter-builtin"] == 0  # bounded at 0 in every mode
        assert set(row["pairs"]) == set(parity.PAIRS)


@pytest.mark.tf
def test_a_wrong_implementation_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = pytest.importorskip("keras")
    real_builtin = parity._builtin

    def off_by_a_bit(name: str, config: dict[str, Any]) -> Any:
        builtin = real_builtin(name, config)
        return lambda step: builtin(step) * keras.ops.cast(1.0001, "float32")

    monkeypatch.setattr(parity, "_builtin", off_by_a_bit)
    args = _parse(
        "--schedules", "ExponentialDecay", "--configs", "1", "--steps", "2", "--dtype", "float32"
    )
    assert parity.run(args) == 1
    out = capsys.readouterr().out
    assert "NO adapter-builtin" in out
    assert "OUT OF BOUNDS: ExponentialDecay/float32" in out


def test_tolerance_is_zero_ulp_for_exact_formulas() -> None:
    import numpy as np

    for name in ("PiecewiseConstantDecay", "InverseTimeDecay", "TimeBasedDecay"):
        ulps, atol = tolerance(name, {"initial_learning_rate": 0.1, "decay": 0.1}, "float32")
        assert ulps == 0
        assert not atol(np.arange(5)).any()
    ulps, atol = tolerance(
        "CosineDecay", {"initial_learning_rate": 1.0, "decay_steps": 5}, "float32"
    )
    assert ulps == 2
    # 0.5 * (1 + cos) within 2.5u, the product and the sum one rounding (2u) each:
    # 6.5u for lr = 1, alpha = 0 (refimpl.testing.tolerance's derivation).
    assert atol(np.arange(3)).tolist() == [6.5 * 2.0**-24] * 3
