"""What translate accepts: Keras schedules, configs and files, the lesson's
configurations, torch schedulers -- and the clear errors for what it cannot take."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.exceptions import ScheduleWarning
from refimpl.lesson import LESSON, LessonConfig
from refimpl.schedules import ExponentialDecay, serialize
from refimpl.torch.lr_scheduler import (
    CosineAnnealingLR,
    ReduceLROnPlateau,
    StepLR,
)
from refimpl.translate.sources import (
    _PROBE_RATES,
    LESSON_STEPS_PER_EPOCH,
    EpochFactor,
    as_source,
    epoch_factor,
    torch_label,
)

LESSON_BY_KEY = {c.key: c for c in LESSON}


def test_a_keras_schedule() -> None:
    schedule = ExponentialDecay(0.1, 10, 0.5)
    source = as_source(schedule)
    assert (source.framework, source.kind, source.name) == ("keras", "schedule", "ExponentialDecay")
    at = np.array([0, 10, 25])
    np.testing.assert_array_equal(source.side.rates(at), schedule(at))
    np.testing.assert_array_equal(source.side.exact(at), schedule.exact(at))
    assert source.side.dtype == np.float32
    assert as_source(source) is source


def test_a_config_dict_an_optimizer_config_and_files(tmp_path: Path) -> None:
    schedule = ExponentialDecay(0.1, 10, 0.5, staircase=True)
    serialized = serialize(schedule)
    assert as_source(serialized).label == as_source(schedule).label
    optimizer = {"class_name": "SGD", "config": {"learning_rate": serialized, "momentum": 0.0}}
    assert as_source(optimizer).label == as_source(schedule).label
    json_file = tmp_path / "schedule.json"
    json_file.write_text(json.dumps(serialized))
    assert as_source(json_file).label == as_source(schedule).label
    assert as_source(str(json_file)).label == as_source(schedule).label
    keras_file = tmp_path / "model.keras"  # what model.save writes, without TensorFlow
    with zipfile.ZipFile(keras_file, "w") as archive:
        archive.writestr("config.json", json.dumps({"compile_config": {"optimizer": optimizer}}))
    assert as_source(keras_file).label == as_source(schedule).label


def test_a_legacy_optimizer_decay_becomes_time_based_decay() -> None:
    source = as_source({"learning_rate": 0.01, "decay": 0.001})
    assert source.name == "TimeBasedDecay"
    assert float(source.side.exact(np.array([10]))[0]) == 0.01 / (1 + 0.001 * 10)


def test_unreadable_configs_say_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without 'class_name'"):
        as_source({"initial_learning_rate": 0.1})
    with pytest.raises(ValueError, match=r"the constant 0\.01, not a schedule"):
        as_source({"learning_rate": 0.01})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        as_source(bad)
    with pytest.raises(FileNotFoundError):
        as_source(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="Argument `source` must be"):
        as_source(0.1)


def test_the_lesson() -> None:
    kinds = {key: as_source(config).kind for key, config in LESSON_BY_KEY.items()}
    assert kinds == {
        "constant": "constant",
        "decay": "schedule",
        "exponential": "schedule",
        "piecewise": "schedule",
        "polynomial": "schedule",
        "inverse_time": "schedule",
        "scheduler": "epoch",
    }
    decay = as_source(LESSON_BY_KEY["decay"])
    assert any("Keras 3 ignores decay=" in note for note in decay.notes)
    constant = as_source(LESSON_BY_KEY["constant"]).side
    assert constant.rates(np.array([0, 99])).tolist() == [float(np.float32(0.001))] * 2
    assert constant.exact(np.array([0])).tolist() == [0.001]


def test_the_lesson_scheduler_is_keras_float32_recursion() -> None:
    """Loop twin: the rate set at each epoch's start, stored in float32 (Keras's
    variable), read back as a Python float for the next call."""
    source = as_source(LESSON_BY_KEY["scheduler"])
    assert source.steps_per_epoch == LESSON_STEPS_PER_EPOCH == 938
    assert source.epoch_factor == EpochFactor(3.0, True)
    lr, want = float(np.float32(0.001)), []
    for _ in range(5):
        lr = float(np.float32(lr / 3))
        want.append(lr)
    steps = np.array([0, 937, 938, 4689])
    assert source.side.rates(steps).tolist() == [want[0], want[0], want[1], want[4]]
    assert source.side.exact(np.array([938])).tolist() == [0.001 / 3 / 3]
    custom = as_source(LESSON_BY_KEY["scheduler"], steps_per_epoch=10)
    assert custom.side.rates(np.array([9, 10])).tolist() == want[:2]


@given(c=st.floats(0.01, 100.0).filter(lambda c: c != 1.0), divide=st.booleans())
def test_epoch_factor_recognises_a_constant_factor(c: float, divide: bool) -> None:
    """The contract: the factor found gives the function's results bit for bit at the
    256 probe rates (full mantissas over seven decades)."""

    def function(epoch: int, lr: float) -> float:
        return lr / c if divide else lr * c

    found = epoch_factor(function)
    for k, x in enumerate(_PROBE_RATES):
        assert (x / found.divisor if found.divide else x * found.divisor) == function(k, x)


def test_epoch_factor_keeps_the_users_constant() -> None:
    assert epoch_factor(lambda epoch, lr: lr / 3) == EpochFactor(3.0, True)
    assert epoch_factor(lambda epoch, lr: lr * 0.5) == EpochFactor(0.5, False)
    assert epoch_factor(lambda epoch, lr: lr / 52.32994004169823).divisor == 52.32994004169823


def test_epoch_factor_refuses_other_functions() -> None:
    with pytest.raises(ValueError, match=r"lr / c or lr \* c"):
        epoch_factor(lambda epoch, lr: lr - 0.001)
    with pytest.raises(ValueError, match="raised ZeroDivisionError"):
        epoch_factor(lambda epoch, lr: 1 / 0)
    config = LessonConfig("k", "k", "k", epoch_function=lambda e, lr: lr / 2)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        as_source(config, steps_per_epoch=0)


def test_torch_schedulers() -> None:
    scheduler = CosineAnnealingLR(np.float32(0.1), T_max=10)
    source = as_source(scheduler)
    assert (source.framework, source.kind, source.side.recursive) == ("torch", "scheduler", True)
    assert source.side.dtype == np.float32
    assert (
        source.label
        == "CosineAnnealingLR(lr=np.float32(0.10000000149011612), T_max=10, eta_min=0.0)"
    )
    np.testing.assert_array_equal(source.side.rates(np.arange(20)), scheduler(np.arange(20)))
    assert torch_label(StepLR(0.1, 3)) == "StepLR(lr=0.1, step_size=3, gamma=0.1)"


def test_torch_schedulers_that_cannot_be_translated() -> None:
    with pytest.raises(ValueError, match=r"depends on a metric.*patience=2 cuts after 2"):
        as_source(ReduceLROnPlateau(0.1))
    from refimpl.torch.optim import Optimizer

    resumed = StepLR(Optimizer(0.1, initial_lr=0.1), step_size=3, last_epoch=4)
    with pytest.raises(ValueError, match="last_epoch=4"):
        as_source(resumed)


def test_integer_and_bad_constant_rates_are_refused() -> None:
    with pytest.warns(ScheduleWarning):
        integer = ExponentialDecay(1, 10, 0.5)
    with pytest.raises(ValueError, match="int32"):
        as_source(integer)
    config = LessonConfig("k", "k", "k", learning_rate=math.inf)
    with pytest.raises(ValueError, match="finite number >= 0"):
        as_source(config)
