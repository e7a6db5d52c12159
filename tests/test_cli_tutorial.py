"""``lr-refimpl tutorial``: runs, report files, merging backends, Ctrl-C, one-line errors.

Most tests train on a tiny synthetic Fashion-MNIST (random pixels written as IDX files,
found through ``FASHION_MNIST_DIR``) so they take a second or two; one runs on the real
data set where Debian's ``dataset-fashion-mnist`` is installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from refimpl.cli import main, tutorial
from refimpl.datasets._idx import write_idx
from refimpl.datasets.fashion_mnist import DEBIAN_DIR
from refimpl.report import load_results

N_TRAIN, N_TEST = 200, 60


@pytest.fixture
def tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 200/60-image Fashion-MNIST look-alike, plain and gzip files mixed."""
    rng = np.random.default_rng(1)
    data = tmp_path / "fmnist"
    data.mkdir()
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        write_idx(
            data / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), np.uint8)
        )
        write_idx(data / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(data))
    return data


def _run(out: Path, *extra: str) -> int:
    return main(["tutorial", "--epochs", "1", "--limit", "128", "--out", str(out), *extra])


def test_tutorial_writes_a_complete_report(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert _run(out, "--epochs", "2", "--schedules", "scheduler,piecewise,decay") == 0
    printed = capsys.readouterr().out
    assert "128 samples at batch 64: 2 steps an epoch" in printed
    assert "Epoch 2/2" in printed  # a progress line per epoch
    assert "val accuracy" in printed  # the results table
    assert f"Report: {out / 'report.md'}" in printed
    assert "lr-refimpl tutorial --out" in printed  # the full lesson's command

    files = set(os.listdir(out))
    assert {"report.md", "results.json"} <= files
    assert not [f for f in files if f.startswith(".")], "temporary files left behind"
    pytest.importorskip("matplotlib")
    assert {"validation.png", "rate-scheduler.png", "rate-piecewise.png", "rate-decay.png"} <= files

    report = (out / "report.md").read_text()
    assert "**Complete**: 3 of 3 runs" in report
    assert "![Validation accuracy and loss" in report
    assert "(rate-scheduler.png)" in report
    assert "lr = 0.001 / 3 ** (epoch + 1)" in report  # the formula
    assert "| 2 | 2 | 0.000111111 | 3 | 0.000111111 |" in report  # epoch 2's first/last step
    assert "epoch 0 included" in report  # the LearningRateScheduler trap
    assert "Keras 3 ignores the optimizer's decay=" in report
    assert "boundary 1,000 is at or beyond the run's last step 3" in report

    settings, records, env = load_results(out / "results.json")
    assert (settings.train_samples, settings.test_samples, settings.epochs) == (128, 39, 2)
    assert [r.key for r in records] == ["decay", "piecewise", "scheduler"]
    by_key = {r.key: r for r in records}
    assert by_key["scheduler"].rates == pytest.approx([0.001 / 3] * 2 + [0.001 / 9] * 2)
    decay = np.float32(0.001) / (1 + np.float32(0.0002) * np.arange(4, dtype=np.float32))
    assert by_key["decay"].rates == decay.astype(np.float64).tolist()
    assert all(len(r.history["val_accuracy"]) == 2 for r in records)
    assert "refimpl" in env["backend_numpy"]


def test_same_seed_same_rates_same_run(tiny_data: Path, tmp_path: Path) -> None:
    # constant and exponential (staircase, 500 steps) use 0.001 at every one of 2 steps:
    # from the same initial weights and shuffles they must train identically.
    out = tmp_path / "r"
    assert _run(out, "--schedules", "constant,exponential") == 0
    _, records, _ = load_results(out / "results.json")
    assert records[0].history == records[1].history


def test_interrupt_keeps_finished_runs(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tutorial.TRAINERS["numpy"]
    calls: list[str] = []

    def flaky(config, data, settings, verbose):  # type: ignore[no-untyped-def]
        calls.append(config.key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(config, data, settings, verbose)

    monkeypatch.setitem(tutorial.TRAINERS, "numpy", flaky)
    out = tmp_path / "r"
    assert _run(out, "--schedules", "constant,decay,polynomial") == 130
    report = (out / "report.md").read_text()
    assert "**Interrupted**" in report
    assert "1 of 3 runs finished" in report
    assert "decay (refimpl (NumPy)) was running" in report
    data = json.loads((out / "results.json").read_text())
    assert data["status"]["state"] == "interrupted"
    assert [r["key"] for r in data["runs"]] == ["constant"]


def test_rerun_with_other_settings_replaces_and_same_settings_merge(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert _run(out, "--schedules", "constant") == 0
    assert _run(out, "--schedules", "decay") == 0
    assert "Keeping 1 earlier run" in capsys.readouterr().out
    _, records, _ = load_results(out / "results.json")
    assert [r.key for r in records] == ["constant", "decay"]
    assert _run(out, "--schedules", "decay", "--seed", "3") == 0
    assert "made with other settings" in capsys.readouterr().out
    _, records, _ = load_results(out / "results.json")
    assert [r.key for r in records] == ["decay"]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--schedules", "cosine"], "unknown configuration 'cosine'"),
        (["--backend", "torch"], "--backend: choose numpy, keras"),
        (["--epochs", "0"], "--epochs must be >= 1"),
        (["--limit", "0"], "--limit must be >= 1"),
        (["--batch-size", "-1"], "--batch-size must be >= 1"),
    ],
)
def test_bad_options_are_one_line_exit_2(
    argv: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tutorial", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lr-refimpl: error:")
    assert match in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_missing_data_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    assert _run(tmp_path / "r") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "nowhere" in err
    assert "does not exist" in err


def test_out_must_be_a_directory(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert _run(target) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_keras_backend_missing_is_a_clear_error(
    tiny_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    for name in [m for m in sys.modules if m.startswith(("keras", "keras_adapter"))]:
        monkeypatch.delitem(sys.modules, name)  # as if never imported (restored afterwards)
    monkeypatch.setitem(sys.modules, "keras", None)  # "import keras" now raises ImportError
    assert _run(tmp_path / "r", "--backend", "keras") == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "lr-refimpl: error: lr-refimpl tutorial --backend keras needs the 'keras' extra "
        "(keras is not installed): pip install 'lr-refimpl[keras]'"
    ]
    assert not (tmp_path / "r").exists()


def test_schedule_names_and_aliases() -> None:
    keys = [c.key for c in tutorial.parse_schedules("LearningRateScheduler, SGD ,inverse_time")]
    assert keys == ["constant", "inverse_time", "scheduler"]
    with pytest.raises(ValueError, match="name at least one"):
        tutorial.parse_schedules(",")


@pytest.mark.tf
def test_keras_backend_next_to_numpy(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert _run(out, "--epochs", "2", "--schedules", "decay,scheduler") == 0
    assert _run(out, "--epochs", "2", "--schedules", "decay,scheduler", "--backend", "keras") == 0
    _, records, env = load_results(out / "results.json")
    assert [(r.key, r.backend) for r in records] == [
        ("decay", "numpy"),
        ("decay", "keras"),
        ("scheduler", "numpy"),
        ("scheduler", "keras"),
    ]
    assert "Keras 3" in env["backend_keras"]
    numpy_decay, keras_decay = records[0], records[1]
    assert keras_decay.rates == numpy_decay.rates  # InverseTimeDecay(lr, 1, decay), bit for bit
    assert "InverseTimeDecay(0.001, decay_steps=1, decay_rate=0.0002)" in keras_decay.code
    assert "ignores SGD(decay=...)" in (keras_decay.backend_note or "")
    assert records[3].rates == pytest.approx([0.001 / 3] * 2 + [0.001 / 9] * 2)
    report = (out / "report.md").read_text()
    assert "used bit-for-bit the same float32 rate at all 4 steps" in report
    assert "| decay: `SGD(0.001, decay=0.001/5)` | Keras 3 |" in report


@pytest.mark.realdata
@pytest.mark.slow
def test_tutorial_on_the_real_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.path.isdir(DEBIAN_DIR) and not os.environ.get("FASHION_MNIST_DIR"):
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    out = tmp_path / "r"
    assert _run(out, "--limit", "256", "--schedules", "exponential") == 0
    settings, records, _ = load_results(out / "results.json")
    assert (settings.train_available, settings.test_available) == (60_000, 10_000)
    assert (settings.train_samples, settings.test_samples) == (256, 43)
    assert len(records[0].rates) == 4
    assert np.isfinite(records[0].history["loss"]).all()


def test_without_matplotlib_the_report_is_written_without_figures(
    tiny_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as after a plain pip install
    out = tmp_path / "r"
    assert _run(out, "--schedules", "constant") == 0
    printed = capsys.readouterr().out.splitlines()
    assert (
        "No figures: matplotlib is not installed (pip install 'lr-refimpl[plot]' adds them)."
        in printed
    )
    assert sorted(os.listdir(out)) == ["report.md", "results.json"]


def test_the_tutorial_refuses_more_epochs_than_it_trains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from refimpl.cli import main
    from refimpl.cli.tutorial import MAX_TRAINING_EPOCHS

    assert main(["tutorial", "--epochs", str(MAX_TRAINING_EPOCHS + 1), "--limit", "64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--epochs" in err[0]
