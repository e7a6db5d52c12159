"""keras_adapter where Keras really calls schedules: compiled fit, save/load, distribution.

Oracles: the Keras built-in schedules trained the same way, refimpl's value at each
step (within refimpl's documented accuracy), Keras's own error for unregistered classes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refimpl import schedules as ref
from refimpl.testing import tolerance, ulp_distance, within_bounds

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
keras_adapter = pytest.importorskip("keras_adapter")

pytestmark = [
    pytest.mark.tf,
    # Keras's own load_model path (keras/src/backend/tensorflow/core.py), not ours.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn.t accept a copy keyword"),
]

ROOT = Path(__file__).resolve().parents[1]

#: Short-fit configurations (small decay_steps so the rate changes every few steps).
FIT_CONFIGS: dict[str, dict[str, Any]] = {
    "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5},
    "PiecewiseConstantDecay": {"boundaries": [2, 5], "values": [0.1, 0.05, 0.01]},
    "PolynomialDecay": {
        "initial_learning_rate": 0.1,
        "decay_steps": 7,
        "power": 0.5,
        "cycle": True,
    },
    "InverseTimeDecay": {
        "initial_learning_rate": 0.1,
        "decay_steps": 3,
        "decay_rate": 0.5,
        "staircase": True,
    },
    "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 9, "alpha": 0.1},
    "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 3, "m_mul": 0.8},
    "TimeBasedDecay": {"initial_learning_rate": 0.1, "decay": 0.3},
    "NaturalExpDecay": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.4},
    "LinearCosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 9, "num_periods": 1.5},
    "NoisyLinearCosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 9, "seed": 5},
    "LinearWarmup": {
        "schedule": ref.CosineDecay(0.1, 6),
        "warmup_steps": 3,
        "initial_learning_rate": 0.01,
    },
    "SequentialSchedule": {
        "schedules": [ref.PolynomialDecay(0.01, 4, 0.1), ref.ExponentialDecay(0.1, 2, 0.5)],
        "boundaries": [4],
    },
}
BATCHES, EPOCHS = 5, 2  # 10 optimizer steps: 0..9


class RecordingSGD(keras.optimizers.SGD):
    """SGD that stores the rate its compiled update step actually received."""

    def build(self, variables: Any) -> None:
        super().build(variables)
        self.used_rate = self.add_variable(shape=(), dtype="float32", name="used_rate")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        self.used_rate.assign(keras.ops.cast(learning_rate, "float32"))
        super().update_step(gradient, variable, learning_rate)


class RateLog(keras.callbacks.Callback):
    """Per batch: iterations and the eager rate before the update, the used rate after."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []
        self.eager: list[float] = []
        self.used: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        optimizer = self.model.optimizer
        self.steps.append(int(optimizer.iterations.numpy()))
        self.eager.append(np.float32(optimizer.learning_rate))

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.used.append(np.float32(self.model.optimizer.used_rate.numpy()))


def _fit(schedule: Any, log: RateLog) -> Any:
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    x = rs.randn(8 * BATCHES, 4).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=RecordingSGD(learning_rate=schedule), loss="mse")
    assert model.run_eagerly is False  # the compiled train step, as by default
    model.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[log])
    return model


@pytest.mark.parametrize("name", list(FIT_CONFIGS))
def test_rate_at_every_optimizer_step_of_fit_is_refimpl_s(name: str) -> None:
    config = FIT_CONFIGS[name]
    log = RateLog()
    _fit(keras_adapter.ADAPTERS[name](**config), log)
    n = BATCHES * EPOCHS
    # Keras 3 hands the schedule `iterations` before the increment: update k uses step k-1.
    assert log.steps == list(range(n))
    at = np.arange(n)
    want = ref.deserialize({"class_name": name, "config": config})(at)
    ulps, atol = tolerance(
        name, ref.deserialize({"class_name": name, "config": config}).get_config(), "float32"
    )
    # What `optimizer.learning_rate` reports before each update: refimpl's value.
    eager = np.array(log.eager, np.float32)
    assert within_bounds(eager, want, ulps=ulps, atol=atol(at)).all(), (eager, want)
    # What the compiled update used.  TensorFlow's graph optimizer rewrites `step / c`
    # (c a constant) as `step * (1 / c)`: the argument p = step / c moves by at most one
    # ulp, so the rate moves by at most |p * d lr/d p| * 2**-23.  Here p <= 10 and
    # |d lr / d p| <= pi * peak: bound 4 ulp, or 64 * 2**-24 * peak where a formula cancels.
    used = np.array(log.used, np.float32)
    peak = float(np.abs(want).max())
    assert (
        (ulp_distance(used, want) <= 4) | (np.abs(used - want) <= 64 * 2.0**-24 * peak)
    ).all(), (used, want)
    assert used[0] == want[0]  # the first update uses step 0, which nothing can round


@pytest.mark.parametrize("name", list(ref.KERAS_SCHEDULES))
def test_compiled_fit_uses_the_same_rates_and_weights_as_the_builtin(name: str) -> None:
    config = FIT_CONFIGS[name]
    ours, theirs = RateLog(), RateLog()
    model_ours = _fit(keras_adapter.ADAPTERS[name](**config), ours)
    model_theirs = _fit(getattr(keras.optimizers.schedules, name)(**config), theirs)
    np.testing.assert_array_equal(ours.used, theirs.used)
    for a, b in zip(model_ours.get_weights(), model_theirs.get_weights()):
        np.testing.assert_array_equal(a, b)


def _resumable_schedule() -> Any:
    return keras_adapter.SequentialSchedule(
        [
            keras_adapter.LinearWarmup(keras.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5), 2),
            keras_adapter.TimeBasedDecay(
                keras_adapter.NoisyLinearCosineDecay(0.05, 9, seed=2), 0.1
            ),
        ],
        [6],
    )


def _model() -> Any:
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=RecordingSGD(learning_rate=_resumable_schedule()), loss="mse")
    return model


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(2)
    x = rs.randn(32, 4).astype("float32")
    return x, np.tanh(x[:, :1] - x[:, 1:2])


def test_save_load_resumes_at_the_saved_step_with_the_same_rates(tmp_path: Path) -> None:
    x, y = _xy()
    straight_log = RateLog()
    straight = _model()
    straight.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[straight_log])

    first_log, second_log = RateLog(), RateLog()
    model = _model()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[first_log])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"RecordingSGD": RecordingSGD})
    schedule = loaded.optimizer._learning_rate
    assert type(schedule) is keras_adapter.SequentialSchedule
    assert schedule.get_config() == _resumable_schedule().get_config()
    assert int(loaded.optimizer.iterations.numpy()) == 4
    loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[second_log])

    assert first_log.steps + second_log.steps == straight_log.steps == list(range(12))
    assert first_log.used + second_log.used == straight_log.used
    for a, b in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def _run_python(code: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
        "KERAS_BACKEND": "tensorflow",
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
        check=False,
    )


def test_loading_without_import_keras_adapter_fails_with_keras_s_error(tmp_path: Path) -> None:
    """Also for an adapter named like a Keras built-in: it must not load as the built-in."""
    paths = []
    for schedule in (
        keras_adapter.TimeBasedDecay(0.1, 0.01),
        keras_adapter.ExponentialDecay(0.1, 10, 0.5),
    ):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
        model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)
        paths.append(str(tmp_path / f"{type(schedule).__name__}.keras"))
        model.save(paths[-1])
    result = _run_python(
        f"""
        import sys, keras
        for path in {paths!r}:
            try:
                keras.models.load_model(path)
            except TypeError as exc:
                print("FIRST:", " ".join(str(exc).split()))
            else:
                sys.exit("loaded without keras_adapter: " + path)
        assert "keras_adapter" not in sys.modules
        import keras_adapter
        for path in {paths!r}:
            model = keras.models.load_model(path)
            schedule = model.optimizer._learning_rate
            print("SECOND:", type(schedule).__module__, type(schedule).__name__,
                  int(model.optimizer.iterations.numpy()))
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    first = [line for line in lines if line.startswith("FIRST:")]
    assert len(first) == 2
    for line, name in zip(first, ("TimeBasedDecay", "ExponentialDecay")):
        assert f"Could not locate class '{name}'" in line
        assert "register_keras_serializable" in line
    assert [line for line in lines if line.startswith("SECOND:")] == [
        "SECOND: keras_adapter.schedules TimeBasedDecay 1",
        "SECOND: keras_adapter.schedules ExponentialDecay 1",
    ]


def test_mirrored_strategy_on_two_logical_cpus() -> None:
    """Logical devices must exist before TensorFlow initialises: run in a fresh process."""
    result = _run_python(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, keras_adapter
        from refimpl.schedules import ExponentialDecay

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        rs = np.random.RandomState(0)
        x = rs.randn(64, 4).astype("float32"); y = x.sum(1, keepdims=True)

        def train(schedule):
            keras.utils.set_random_seed(0)
            rates, steps = [], []
            with strategy.scope():
                model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
                model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
            def begin(batch, logs=None):
                steps.append(int(model.optimizer.iterations.numpy()))
                rates.append(float(model.optimizer.learning_rate))
            cb = keras.callbacks.LambdaCallback(on_train_batch_begin=begin)
            model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[cb])
            return model, steps, rates

        config = dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5, staircase=True)
        ours, steps, rates = train(keras_adapter.ExponentialDecay(**config))
        theirs, _, their_rates = train(keras.optimizers.schedules.ExponentialDecay(**config))
        assert steps == list(range(8)), steps
        want = ExponentialDecay(**config)(np.arange(8)).tolist()
        assert rates == their_rates == want, (rates, their_rates, want)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)
        print("OK", type(ours.optimizer.iterations.value).__name__)
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("OK")


def test_compiled_staircase_switches_one_step_late_for_some_decay_steps() -> None:
    """Pinned TensorFlow behaviour (measured on 2.21): the compiled train step computes
    ``step / 61`` as ``step * float32(1 / 61)``, which is 0.99999994 at step 61, so the
    staircase floor stays 0 and update 62 (step 61) still uses 0.1 where the eager value,
    refimpl's and ``float(optimizer.learning_rate)`` are 0.05.  The adapter does
    exactly what the built-in does."""
    config = {"initial_learning_rate": 0.1, "decay_steps": 61, "decay_rate": 0.5, "staircase": True}
    used = {}
    for label, schedule in (
        ("adapter", keras_adapter.ExponentialDecay(**config)),
        ("builtin", keras.optimizers.schedules.ExponentialDecay(**config)),
    ):
        log = RateLog()
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(optimizer=RecordingSGD(learning_rate=schedule), loss="mse")
        x = np.ones((64, 1), "float32")
        model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[log])
        assert log.steps == list(range(64))
        assert log.eager[61] == np.float32(0.05)  # what optimizer.learning_rate reports
        used[label] = log.used
    assert used["adapter"] == used["builtin"]
    assert used["adapter"][60:63] == [np.float32(0.1), np.float32(0.1), np.float32(0.05)]
    assert float(ref.ExponentialDecay(**config)(61)) == np.float32(0.05)
