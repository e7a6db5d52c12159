"""The optimizer ``decay=`` restored for Keras 3: the oracle is tf_keras's legacy SGD."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from refimpl import schedules as ref

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")
keras_adapter = pytest.importorskip("keras_adapter")

pytestmark = pytest.mark.tf


def test_keras_3_ignores_decay_with_only_a_warning() -> None:
    """What the README warns about: SGD(decay=...) trains at a constant rate."""
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        optimizer = keras.optimizers.SGD(learning_rate=0.01, decay=0.5)
    assert optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    assert "decay" not in optimizer.get_config()


def _data() -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(0)
    x = rs.randn(48, 5).astype("float32")
    y = (x @ rs.randn(5, 2)).astype("float32") + 0.1
    return x, y


def _initial_weights() -> list[np.ndarray]:
    rs = np.random.RandomState(1)
    return [
        (rs.randn(5, 3) * 0.5).astype("float32"),
        np.zeros(3, "float32"),
        (rs.randn(3, 2) * 0.5).astype("float32"),
        np.zeros(2, "float32"),
    ]


def _train(framework: Any, optimizer: Any, **compile_kwargs: Any) -> list[list[np.ndarray]]:
    """Weights after every batch of 3 epochs on a small tanh MLP, from fixed weights."""
    model = framework.Sequential(
        [
            framework.Input((5,)),
            framework.layers.Dense(3, activation="tanh"),
            framework.layers.Dense(2),
        ]
    )
    model.set_weights(_initial_weights())
    model.compile(optimizer=optimizer, loss="mse", **compile_kwargs)
    history: list[list[np.ndarray]] = []

    def record(batch: int, logs: Any = None) -> None:
        history.append([w.copy() for w in model.get_weights()])

    x, y = _data()
    callback = framework.callbacks.LambdaCallback(on_train_batch_end=record)
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[callback])
    return history


@pytest.mark.parametrize(
    ("learning_rate", "keras3_rate", "momentum"),
    [
        (0.05, 0.05, 0.0),
        (0.05, 0.05, 0.9),
        (
            tf_keras.optimizers.schedules.ExponentialDecay(0.05, 4, 0.7),
            keras.optimizers.schedules.ExponentialDecay(0.05, 4, 0.7),
            0.0,
        ),
    ],
    ids=["float", "float-momentum", "schedule"],
)
def test_same_weights_step_for_step_as_tf_keras_legacy_sgd(
    learning_rate: Any, keras3_rate: Any, momentum: float
) -> None:
    legacy = _train(
        tf_keras,
        tf_keras.optimizers.legacy.SGD(learning_rate=learning_rate, decay=0.1, momentum=momentum),
    )
    # jit_compile=False: tf_keras's default, and Keras 3's on a CPU-only machine.  (With
    # XLA the *gradients* differ in the last bit from the first step on, whatever the rate.)
    restored = _train(
        keras,
        keras.optimizers.SGD(
            learning_rate=keras_adapter.legacy_decay(keras3_rate, 0.1), momentum=momentum
        ),
        jit_compile=False,
    )
    assert len(restored) == len(legacy) == 18
    for step, (ours, theirs) in enumerate(zip(restored, legacy)):
        for w_ours, w_theirs in zip(ours, theirs):
            np.testing.assert_array_equal(w_ours, w_theirs, err_msg=f"after update {step + 1}")
    # And the decay matters: a constant rate ends elsewhere.
    constant = _train(keras, keras.optimizers.SGD(learning_rate=0.05, momentum=momentum))
    assert not np.array_equal(constant[-1][0], legacy[-1][0])


class _InvSqrt:
    """A custom schedule, written once per Keras generation."""

    def __call__(self, step: Any) -> Any:
        return 0.2 / tf.sqrt(1.0 + tf.cast(step, tf.float32))

    def get_config(self) -> dict[str, Any]:
        return {}


@keras.saving.register_keras_serializable(package="tests")
class InvSqrt3(_InvSqrt, keras.optimizers.schedules.LearningRateSchedule):
    pass


class InvSqrt2(_InvSqrt, tf_keras.optimizers.schedules.LearningRateSchedule):
    pass


def test_custom_schedule_gets_the_legacy_factor_like_tf_keras() -> None:
    schedule = keras_adapter.legacy_decay(InvSqrt3(), 0.05)
    assert isinstance(schedule, keras_adapter.LegacyDecay)
    legacy = tf_keras.optimizers.legacy.SGD(learning_rate=InvSqrt2(), decay=0.05)
    for step in (0, 1, 2, 7, 100, 12345):
        legacy.iterations.assign(step)
        want = legacy._decayed_lr(tf.float32).numpy()
        assert schedule(tf.constant(step, tf.int64)).numpy() == want
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, keras_adapter.LegacyDecay)
    assert isinstance(restored.schedule, InvSqrt3)
    assert restored.decay == 0.05


def test_legacy_decay_returns_time_based_decay_for_known_schedules() -> None:
    on_float = keras_adapter.legacy_decay(0.01, 1e-3)
    assert type(on_float) is keras_adapter.TimeBasedDecay
    assert on_float.get_config() == {
        "initial_learning_rate": 0.01,
        "decay": 1e-3,
        "name": "TimeBasedDecay",
    }
    # The legacy optimizers kept the rate in a float32 variable: an int rate is a float.
    assert keras_adapter.legacy_decay(1, 0.5).get_config()["initial_learning_rate"] == 1.0
    for schedule in (
        keras.optimizers.schedules.PolynomialDecay(0.1, 100),
        keras_adapter.PolynomialDecay(0.1, 100),
        ref.PolynomialDecay(0.1, 100),
        keras.optimizers.schedules.serialize(keras.optimizers.schedules.PolynomialDecay(0.1, 100)),
    ):
        stacked = keras_adapter.legacy_decay(schedule, 0.01)
        assert type(stacked) is keras_adapter.TimeBasedDecay
        assert stacked.get_config()["initial_learning_rate"] == ref.serialize(
            ref.PolynomialDecay(0.1, 100)
        )


def test_legacy_decay_validation_is_refimpl_s() -> None:
    with pytest.raises(ValueError, match="decay") as want:
        ref.TimeBasedDecay(0.1, -0.5)
    for learning_rate in (0.1, InvSqrt3()):
        with pytest.raises(ValueError, match="decay") as got:
            keras_adapter.legacy_decay(learning_rate, -0.5)
        assert str(got.value) == str(want.value)
    with pytest.raises(TypeError, match="decay"):
        keras_adapter.legacy_decay(0.1, "0.5")
    with pytest.raises(TypeError, match="learning_rate"):
        keras_adapter.legacy_decay(True, 0.5)
    with pytest.raises(TypeError, match="learning_rate"):
        keras_adapter.legacy_decay("0.1", 0.5)
    with pytest.raises(TypeError, match="unknown key"):
        keras_adapter.LegacyDecay.from_config({"schedule": InvSqrt3(), "decay": 0.1, "decai": 1})
