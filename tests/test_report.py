"""``refimpl.report``: atomic files, results.json round trip, markdown a reader can follow."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from refimpl import report
from refimpl.report import RunRecord, Settings, Status


def _settings() -> Settings:
    return Settings(epochs=2, batch_size=64, seed=0, train_samples=128, test_samples=22,
                    data_dir="/data", command="lr-refimpl tutorial --epochs 2 --limit 128")  # fmt: skip


def _record(key: str = "constant", backend: str = "numpy", loss2: float = 0.5) -> RunRecord:
    return RunRecord(
        key=key,
        label="SGD(0.001)",
        formula="lr = 0.001",
        backend=backend,
        code="SGD(learning_rate=0.001)",
        history={
            "loss": [1.0, loss2],
            "accuracy": [0.5, 0.6],
            "val_loss": [0.9, 0.8],
            "val_accuracy": [0.55, 0.65],
        },
        rates=[float(np.float32(0.001))] * 4,
        steps_per_epoch=2,
        seconds=1.25,
        findings=["warning: a trap", "note: a fact"],
    )


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    report.atomic_write_text(target, "one")
    report.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["f.txt"]
    with pytest.raises(FileNotFoundError):
        report.atomic_write_text(tmp_path / "missing" / "f.txt", "x")
    assert os.listdir(tmp_path) == ["f.txt"]


def test_results_json_round_trip_with_nan(tmp_path: Path) -> None:
    records = [_record(), _record("decay", loss2=math.nan)]
    status = Status("complete", 2, 2, elapsed=3.0)
    path = tmp_path / "results.json"
    path.write_text(report.results_json(_settings(), records, status, {"machine": "m"}))
    data = json.loads(path.read_text())  # strict JSON: NaN is written as null
    assert data["runs"][1]["history"]["loss"] == [1.0, None]
    settings, loaded, env = report.load_results(path)
    assert settings == _settings()
    assert math.isnan(loaded[1].history["loss"][1])
    assert loaded[0] == records[0]
    assert env == {"machine": "m"}


@pytest.mark.parametrize(
    ("text", "match"),
    [("{", "not valid JSON"), ('{"format": "x"}', "not an lr-refimpl"),
     ('{"format": "lr-refimpl-tutorial", "version": 1}', "malformed")],
)  # fmt: skip
def test_load_rejects_other_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        report.load_results(path)


def test_markdown_has_table_rates_and_traps() -> None:
    md = report.render_markdown(
        _settings(),
        [_record(), _record(backend="keras")],
        Status("running", 7, 2, elapsed=65),
        order=["constant"],
        figures=["rate-constant.png"],
    )
    assert "**Running**: 2 of 7 runs finished so far (1 min 05 s)" in md
    assert "training on the first 128 of 60,000 training images" in md
    assert "938 steps an epoch and 4,690 in all, not the ~5,000" in md
    assert "| constant: `SGD(0.001)` | Keras 3 | 2 | 0.5000 | 60.0% | 0.8000 | 65.0% | 1.2 |" in md
    assert "![Learning rate at every step: constant](rate-constant.png)" in md
    assert "validation.png" not in md.split("## Files")[0]  # not linked: not drawn
    assert "| 2 | 2 | 0.001 | 0.001 | 3 | 0.001 | 0.001 |" in md
    assert "used bit-for-bit the same float32 rate at all 4 steps" in md
    assert "- **Warning:** a trap" in md
    assert "- Note: a fact" in md
    assert "compare the trends" in md
    assert "*This is a shortened run (4 steps).*" in md


def test_markdown_before_any_run() -> None:
    md = report.render_markdown(_settings(), [], Status("running", 7, 0))
    assert "No configuration has finished yet." in md


def test_write_report_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from refimpl import plotting

    monkeypatch.setattr(plotting, "matplotlib_available", lambda: False)
    path = report.write_report(tmp_path, _settings(), [_record()], Status("complete", 1, 1))
    assert "matplotlib is not installed" in Path(path).read_text()
    assert sorted(os.listdir(tmp_path)) == ["report.md", "results.json"]


def test_write_report_draws_figures(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report.write_report(tmp_path, _settings(), [_record()], Status("complete", 1, 1))
    assert sorted(os.listdir(tmp_path)) == [
        "rate-constant.png",
        "report.md",
        "results.json",
        "validation.png",
    ]


def test_results_table_marks_early_stops() -> None:
    r = _record()
    r.stop_reason = "Epoch 2, batch 1/2: the loss is nan"
    text = report.results_table([r])
    assert re.split(r"\s{2,}", text.splitlines()[1])[2] == "2*"
