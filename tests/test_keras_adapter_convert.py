"""keras_adapter.from_keras / to_keras: lossless on config, loud on bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import schedules as ref
from refimpl.testing import schedule_configs

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")
keras_adapter = pytest.importorskip("keras_adapter")

pytestmark = pytest.mark.tf

KERAS_NAMES = tuple(ref.KERAS_SCHEDULES)
EXTRA_NAMES = tuple(ref.EXTRA_SCHEDULES)


@pytest.mark.parametrize("name", KERAS_NAMES)
@settings(max_examples=5)
@given(data=st.data())
def test_keras_builtin_round_trip(name: str, data: st.DataObject) -> None:
    config = data.draw(schedule_configs(name))
    builtin = getattr(keras.optimizers.schedules, name)(**config)
    for source in (
        builtin,
        keras.optimizers.schedules.serialize(builtin),  # Keras 3 dict, as in a saved model
        {"class_name": name, "config": builtin.get_config()},  # Keras 2 dict
    ):
        ours = keras_adapter.from_keras(source)
        assert type(ours) is getattr(ref, name)
        assert ours.get_config() == builtin.get_config()
        back = keras_adapter.to_keras(ours)
        assert type(back) is type(builtin)
        assert back.get_config() == builtin.get_config()


@pytest.mark.parametrize("name", EXTRA_NAMES)
@settings(max_examples=5)
@given(data=st.data())
def test_extra_schedules_become_adapters_and_back(name: str, data: st.DataObject) -> None:
    config = data.draw(schedule_configs(name))
    schedule = ref.deserialize({"class_name": name, "config": config})
    adapter = keras_adapter.to_keras(schedule)
    assert type(adapter) is keras_adapter.ADAPTERS[name]
    assert adapter.get_config() == schedule.get_config() == config
    for source in (adapter, keras.saving.serialize_keras_object(adapter), ref.serialize(schedule)):
        back = keras_adapter.from_keras(source)
        assert type(back) is type(schedule)
        assert back.get_config() == config


def test_tf_keras_builtin_with_keras_2_config() -> None:
    """tf_keras (Keras 2) schedules convert too; their default name is None."""
    old = tf_keras.optimizers.schedules.PolynomialDecay(0.1, 100, power=0.5)
    ours = keras_adapter.from_keras(old)
    assert ours.get_config() == old.get_config()
    assert ours.get_config()["name"] is None
    serialized = tf_keras.optimizers.schedules.serialize(old)
    assert keras_adapter.from_keras(serialized).get_config() == old.get_config()
    # Keras 3's built-in cannot run with name=None, so to_keras gives the adapter.
    with pytest.raises(ValueError, match="name"):
        keras.optimizers.schedules.PolynomialDecay(**old.get_config())(1)
    converted = keras_adapter.to_keras(ours)
    assert type(converted) is keras_adapter.PolynomialDecay
    assert converted.get_config() == old.get_config()
    step = tf.constant(37, tf.int64)
    assert float(converted(step)) == float(old(step))


def test_refimpl_schedule_passes_through() -> None:
    schedule = ref.ExponentialDecay(0.1, 10, 0.5)
    assert keras_adapter.from_keras(schedule) is schedule


def test_conversions_keep_values() -> None:
    """Built-in, converted and re-converted schedules give the same rate at every step."""
    builtin = keras.optimizers.schedules.CosineDecay(
        0.0, 100, 0.1, warmup_target=0.1, warmup_steps=10
    )
    back = keras_adapter.to_keras(keras_adapter.from_keras(builtin))
    adapter = keras_adapter.CosineDecay(**builtin.get_config())
    for s in (0, 5, 9, 10, 11, 60, 110, 111, 5000):
        step = tf.constant(s, tf.int64)
        assert float(back(step)) == float(builtin(step)) == float(adapter(step))


class MySchedule(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step: Any) -> Any:
        return 0.1 / (1.0 + keras.ops.cast(step, "float32"))

    def get_config(self) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize(
    ("source", "error", "named"),
    [
        (MySchedule(), TypeError, "MySchedule"),
        (0.1, TypeError, "0.1"),
        ({"class_name": "ExponentialDecai", "config": {}}, ValueError, "ExponentialDecai"),
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
                "config": {"initial_learning_rate": 0.1, "decay_steps": "10", "decay_rate": 0.5},
            },
            TypeError,
            "decay_steps",
        ),
        (
            {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1}},
            TypeError,
            "decay_steps",
        ),
        ({"class_name": "ExponentialDecay", "confg": {}}, ValueError, "config"),
        (
            {
                "class_name": "LinearWarmup",
                "config": {"schedule": {"class_name": "Nope", "config": {}}, "warmup_steps": 3},
            },
            ValueError,
            "Nope",
        ),
    ],
)
def test_bad_input_names_the_culprit(source: Any, error: type[Exception], named: str) -> None:
    with pytest.raises(error, match=named):
        keras_adapter.from_keras(source)


def test_to_keras_rejects_what_is_not_a_refimpl_schedule() -> None:
    with pytest.raises(TypeError, match="MySchedule"):
        keras_adapter.to_keras(MySchedule())


def test_to_keras_accepts_adapters_and_dicts() -> None:
    adapter = keras_adapter.ExponentialDecay(0.1, 10, 0.5)
    assert type(keras_adapter.to_keras(adapter)) is keras.optimizers.schedules.ExponentialDecay
    as_dict = {
        "class_name": "TimeBasedDecay",
        "config": {"initial_learning_rate": 0.1, "decay": 0.5},
    }
    converted = keras_adapter.to_keras(as_dict)
    assert type(converted) is keras_adapter.TimeBasedDecay
    assert float(converted(2)) == pytest.approx(0.05)
    assert np.isfinite(float(converted(tf.constant(2, tf.int64))))


# -- the schedule of an optimizer, a model, a .keras file ---------------------------------


def _model(optimizer: Any) -> Any:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    if optimizer is not None:
        model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize(
    "rate",
    [
        keras.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001]),
        keras_adapter.TimeBasedDecay(0.01, 0.5),
    ],
)
def test_from_an_optimizer_a_model_and_a_keras_file(rate: Any, tmp_path: Any) -> None:
    want = keras_adapter.from_keras(rate).get_config()
    optimizer = keras.optimizers.SGD(learning_rate=rate)
    model = _model(optimizer)
    path = tmp_path / "m.keras"
    model.save(path)
    for source in (optimizer, model, path, str(path), optimizer.get_config()):
        got = keras_adapter.from_keras(source)
        assert got.get_config() == want, source
    # and the values agree with what the optimizer itself applies at a step
    got = keras_adapter.from_keras(path)
    optimizer.iterations.assign(15)
    assert float(got(15)) == float(optimizer.learning_rate.numpy())


def test_a_legacy_optimizer_with_decay_is_time_based_decay() -> None:
    legacy = tf_keras.optimizers.legacy.SGD(learning_rate=0.05, decay=0.3)
    got = keras_adapter.from_keras(legacy)
    assert type(got) is ref.TimeBasedDecay
    for step in (0, 1, 7):
        legacy.iterations.assign(step)
        assert float(got(step)) == float(legacy._decayed_lr(tf.float32).numpy())


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (lambda tmp: _model(None), "has no optimizer"),
        (lambda tmp: keras.optimizers.SGD(learning_rate=0.5), "the constant 0.5, not a schedule"),
        (lambda tmp: tmp / "missing.keras", "missing.keras"),
    ],
)
def test_no_schedule_to_take_is_an_error(source: Any, match: str, tmp_path: Any) -> None:
    with pytest.raises((ValueError, OSError), match=match):
        keras_adapter.from_keras(source(tmp_path))
