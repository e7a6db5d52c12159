"""Configs: exact Keras keys, round trips, Keras dict loading, and errors that name the problem."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.schedules import (
    EXTRA_SCHEDULES,
    KERAS_SCHEDULES,
    ExponentialDecay,
    LinearWarmup,
    deserialize,
    serialize,
)
from refimpl.testing import SCHEDULE_NAMES, schedule_configs

ALL = {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}


@given(data=st.data())
def test_config_round_trips(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(SCHEDULE_NAMES))
    config = data.draw(schedule_configs(name))
    schedule = deserialize({"class_name": name, "config": config})
    assert type(schedule).__name__ == name
    again = deserialize(serialize(schedule))
    assert again.get_config() == schedule.get_config()
    assert serialize(again) == serialize(schedule)


def test_keras3_dict_loads_unchanged() -> None:
    keras_dict = {
        "module": "keras.optimizers.schedules",
        "class_name": "ExponentialDecay",
        "config": {
            "initial_learning_rate": 0.001,
            "decay_steps": 500,
            "decay_rate": 0.98,
            "staircase": True,
            "name": "ExponentialDecay",
        },
        "registered_name": None,
    }
    schedule = deserialize(keras_dict)
    assert serialize(schedule) == keras_dict


def test_keras2_dict_without_module_and_name_none_loads() -> None:
    schedule = deserialize(
        {
            "class_name": "PiecewiseConstantDecay",
            "config": {"boundaries": [10], "values": [1.0, 0.5], "name": None},
        }
    )
    assert schedule.get_config() == {"boundaries": [10], "values": [1.0, 0.5], "name": None}


@pytest.mark.parametrize(
    ("name", "defaults"),
    [
        ("ExponentialDecay", {"staircase": False, "name": "ExponentialDecay"}),
        ("PiecewiseConstantDecay", {"name": "PiecewiseConstant"}),
        (
            "PolynomialDecay",
            {"end_learning_rate": 0.0001, "power": 1.0, "cycle": False, "name": "PolynomialDecay"},
        ),
        ("InverseTimeDecay", {"staircase": False, "name": "InverseTimeDecay"}),
        (
            "CosineDecay",
            {"alpha": 0.0, "name": "CosineDecay", "warmup_target": None, "warmup_steps": 0},
        ),
        ("CosineDecayRestarts", {"t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0, "name": "SGDRDecay"}),
    ],
)
def test_keras_defaults_and_names(name: str, defaults: dict[str, Any]) -> None:
    import inspect

    params = inspect.signature(ALL[name].__init__).parameters
    for key, value in defaults.items():
        assert params[key].default == value


def test_cosine_decay_positional_order_is_keras() -> None:
    import inspect

    assert list(inspect.signature(ALL["CosineDecay"].__init__).parameters)[1:] == [
        "initial_learning_rate",
        "decay_steps",
        "alpha",
        "name",
        "warmup_target",
        "warmup_steps",
    ]


def test_nested_configs_round_trip() -> None:
    warm = LinearWarmup(ExponentialDecay(0.1, 10, 0.5), 5)
    cfg = serialize(warm)
    assert cfg["registered_name"] == "lr_refimpl>LinearWarmup"
    assert cfg["config"]["schedule"]["class_name"] == "ExponentialDecay"
    assert deserialize(cfg).get_config() == warm.get_config()


@pytest.mark.parametrize(
    ("payload", "error", "match"),
    [
        ({"class_name": "Nope", "config": {}}, ValueError, "Nope"),
        ({"class_name": "ExponentialDecay"}, ValueError, "'config'"),
        ("ExponentialDecay", TypeError, "dict"),
        (
            {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.1, "decay_step": 10, "decay_rate": 0.5},
            },
            TypeError,
            "decay_step",
        ),
        (
            {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": "0.1", "decay_steps": 10, "decay_rate": 0.5},
            },
            TypeError,
            "initial_learning_rate",
        ),
        ({"class_name": "ExponentialDecay", "config": [1]}, TypeError, "config"),
        ({"class_name": "ExponentialDecay", "config": {}, "extra": 1}, ValueError, "extra"),
    ],
)
def test_bad_dicts_fail_naming_the_problem(payload: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        deserialize(payload)
