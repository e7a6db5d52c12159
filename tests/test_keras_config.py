"""refimpl.keras_config: the schedule in a .keras file or a config, without TensorFlow.

The ``.keras`` files here are built by hand as Keras 3 writes them (a zip archive with
``config.json``, ``metadata.json`` and the weights; the layout measured on Keras 3.15:
``compile_config.optimizer.config.learning_rate``); test_keras_adapter_convert reads
files that Keras itself saved.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from refimpl.keras_config import MAX_CONFIG_BYTES, read_config_file, schedule_config
from refimpl.schedules import ExponentialDecay, TimeBasedDecay, deserialize

EXPONENTIAL = {
    "module": "keras.optimizers.schedules",
    "class_name": "ExponentialDecay",
    "config": {
        "initial_learning_rate": 0.1,
        "decay_steps": 10,
        "decay_rate": 0.5,
        "staircase": False,
        "name": "ExponentialDecay",
    },
    "registered_name": None,
}


def _optimizer(learning_rate: Any, **extra: Any) -> dict[str, Any]:
    return {
        "module": "keras.optimizers",
        "class_name": "SGD",
        "config": {"name": "sgd", "learning_rate": learning_rate, "momentum": 0.0, **extra},
        "registered_name": None,
    }


def _model(optimizer: Any) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": []},
        "registered_name": None,
        "build_config": {"input_shape": [None, 3]},
        "compile_config": {"optimizer": optimizer, "loss": "mse"} if optimizer else {},
    }


def _keras_file(path: Path, model: dict[str, Any]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(model))
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return path


def test_a_keras_file_gives_its_optimizer_schedule(tmp_path: Path) -> None:
    path = _keras_file(tmp_path / "m.keras", _model(_optimizer(EXPONENTIAL)))
    schedule = deserialize(schedule_config(read_config_file(path)))
    assert schedule.get_config() == ExponentialDecay(0.1, 10, 0.5).get_config()


def test_the_forms_of_a_serialized_schedule(tmp_path: Path) -> None:
    for content in (EXPONENTIAL, _optimizer(EXPONENTIAL), _optimizer(EXPONENTIAL)["config"]):
        assert schedule_config(content) == EXPONENTIAL
    path = tmp_path / "s.json"
    path.write_text(json.dumps(_model(_optimizer(EXPONENTIAL))))
    assert schedule_config(read_config_file(path)) == EXPONENTIAL


def test_a_legacy_decay_wraps_the_rate_in_time_based_decay() -> None:
    """tf_keras's legacy optimizers apply decay= on top of the rate (or schedule)."""
    plain = deserialize(schedule_config({"learning_rate": 0.01, "decay": 0.001}))
    assert isinstance(plain, TimeBasedDecay)
    assert (plain.initial_learning_rate, plain.decay) == (0.01, 0.001)
    nested = deserialize(schedule_config({"learning_rate": EXPONENTIAL, "decay": 0.5}))
    assert isinstance(nested, TimeBasedDecay)
    assert isinstance(nested.initial_learning_rate, ExponentialDecay)
    # 0.1 * 0.5 ** (20 / 10) / (1 + 0.5 * 20), computed here in float64
    assert float(nested(20)) == pytest.approx(0.025 / 11, rel=1e-6)
    assert schedule_config({"learning_rate": EXPONENTIAL, "decay": 0.0}) == EXPONENTIAL


def test_a_bare_config_is_left_to_the_caller() -> None:
    assert schedule_config(EXPONENTIAL["config"]) is None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (_model(None), "saved without an optimizer"),
        (_model(_optimizer(0.01)), "the constant 0.01, not a schedule"),
        (_model("sgd"), "optimizer is 'sgd', not a config"),
        (_optimizer("fast"), "learning_rate is 'fast', not a schedule"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_no_schedule_is_a_value_error(content: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        schedule_config(content)


def _zip_without_config(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")


@pytest.mark.parametrize(
    ("write", "match"),
    [
        (lambda p: p.write_bytes(b"\xff\xfe\x00binary"), "not UTF-8 text"),
        (lambda p: p.write_text("{'single': 'quotes'}"), "not valid JSON"),
        (lambda p: p.write_text("[" * 100_000), "nested too deeply"),
        (_zip_without_config, "without config.json"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 40), "not UTF-8|not valid JSON"),
    ],
)
def test_unreadable_files_are_value_errors_naming_the_file(
    tmp_path: Path, write: Any, match: str
) -> None:
    path = tmp_path / "bad.keras"
    write(path)
    with pytest.raises(ValueError, match=match) as info:
        read_config_file(path)
    assert str(path) in str(info.value)


def test_a_damaged_archive_is_a_value_error(tmp_path: Path) -> None:
    path = _keras_file(tmp_path / "m.keras", _model(_optimizer(EXPONENTIAL)))
    data = bytearray(path.read_bytes())
    at = data.index(b"ExponentialDecay")
    data[at : at + 5] = b"XXXXX"  # config.json's CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        read_config_file(path)


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as file:
        file.truncate(MAX_CONFIG_BYTES + 10)  # sparse: no disk used
    with pytest.raises(ValueError, match="larger than"):
        read_config_file(path)


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_config_file(tmp_path / "nope.keras")


def test_needs_no_framework(tmp_path: Path) -> None:
    path = _keras_file(tmp_path / "m.keras", _model(_optimizer(EXPONENTIAL)))
    blocked = "; ".join(
        f"sys.modules[{m!r}] = None" for m in ("tensorflow", "keras", "h5py", "hypothesis")
    )
    code = (
        f"import sys; {blocked}\n"
        "from refimpl.keras_config import read_config_file, schedule_config\n"
        f"print(schedule_config(read_config_file({str(path)!r}))['class_name'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ExponentialDecay"
