"""keras_adapter's schedule classes: registration, configs, validation, parity.

The oracles are Keras itself (its built-in schedules, its serialization) and refimpl's
own constructors and formula functions; nothing here is copied from our output.
"""

from __future__ import annotations

import copy
import inspect
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import schedules as ref
from refimpl.exceptions import ScheduleWarning
from refimpl.testing import (
    edge_steps,
    schedule_configs,
    steps,
    tolerance,
    ulp_distance,
    within_bounds,
)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
keras_adapter = pytest.importorskip("keras_adapter")
parity = pytest.importorskip("keras_adapter.parity")

pytestmark = pytest.mark.tf

NAMES = (*ref.KERAS_SCHEDULES, *ref.EXTRA_SCHEDULES)
KERAS_NAMES = tuple(ref.KERAS_SCHEDULES)

#: One plain configuration per schedule (constructor keyword arguments).
EXAMPLES: dict[str, dict[str, Any]] = {
    "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "PiecewiseConstantDecay": {"boundaries": [3, 7], "values": [0.1, 0.01, 0.001]},
    "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "power": 0.5},
    "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "CosineDecay": {
        "initial_learning_rate": 0.0,
        "decay_steps": 10,
        "warmup_target": 0.1,
        "warmup_steps": 3,
    },
    "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 5},
    "TimeBasedDecay": {"initial_learning_rate": 0.1, "decay": 0.01},
    "NaturalExpDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "LinearCosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
    "NoisyLinearCosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "seed": 3},
    "LinearWarmup": {"schedule": ref.CosineDecay(0.1, 10), "warmup_steps": 3},
    "SequentialSchedule": {
        "schedules": [ref.ExponentialDecay(0.1, 10, 0.5), ref.CosineDecayRestarts(0.1, 5)],
        "boundaries": [5],
    },
}


def test_one_registered_adapter_per_refimpl_schedule() -> None:
    assert set(keras_adapter.ADAPTERS) == set(NAMES)
    for name in NAMES:
        cls = getattr(keras_adapter, name)
        assert cls is keras_adapter.ADAPTERS[name]
        assert cls.__name__ == name
        assert issubclass(cls, keras.optimizers.schedules.LearningRateSchedule)
        assert cls.reference_class is getattr(ref, name)
        assert keras.saving.get_registered_name(cls) == f"lr_refimpl>{name}"
        assert keras.saving.get_registered_object(f"lr_refimpl>{name}") is cls
        # Same constructor signature as the refimpl class (names, order, defaults).
        assert inspect.signature(cls) == inspect.signature(getattr(ref, name))


@pytest.mark.parametrize("name", NAMES)
def test_call_runs_the_refimpl_formula_function_on_keras_ops(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter calls the very function object refimpl evaluates, with xp=keras.ops
    (and composites hand keras.ops down to their children)."""
    calls: list[tuple[str, Any]] = []
    for class_name, cls in ref.SCHEDULES.items():
        original = cls.__dict__["formula"]

        def spy(*args: Any, _f: Any = original, _n: str = class_name, **kwargs: Any) -> Any:
            calls.append((_n, kwargs.get("xp")))
            return _f(*args, **kwargs)

        monkeypatch.setattr(cls, "formula", staticmethod(spy))
    schedule = keras_adapter.ADAPTERS[name](**EXAMPLES[name])
    value = schedule(tf.constant(4, tf.int64))
    assert tf.is_tensor(value)
    assert calls
    assert calls[0] == (name, keras.ops)
    assert all(xp is keras.ops for _, xp in calls)
    if name in ("LinearWarmup", "SequentialSchedule"):
        assert len({n for n, _ in calls}) > 1  # the children ran on keras.ops too


@pytest.mark.parametrize("name", NAMES)
def test_runs_inside_tf_function_and_xla(name: str) -> None:
    """No NumPy on the step, no Python float() of a tensor: graph and XLA both trace."""
    schedule = keras_adapter.ADAPTERS[name](**EXAMPLES[name])
    step = tf.constant(7, tf.int64)
    eager = float(schedule(step))
    for jit in (False, True):
        compiled = float(tf.function(schedule, jit_compile=jit)(step))
        assert np.isfinite(compiled)
        # Compiled TensorFlow may round step / constant differently (see parity.py).
        assert compiled == pytest.approx(eager, rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=4)
@given(data=st.data())
def test_get_config_is_exactly_the_constructor_arguments(name: str, data: st.DataObject) -> None:
    config = data.draw(schedule_configs(name))
    schedule = keras_adapter.ADAPTERS[name](**config)
    assert schedule.get_config() == config
    again = keras_adapter.ADAPTERS[name].from_config(schedule.get_config())
    assert again.get_config() == config
    # Keras's own serialization round trip, through the registered name.
    serialized = keras.saving.serialize_keras_object(schedule)
    assert serialized["registered_name"] == f"lr_refimpl>{name}"
    assert serialized["config"] == config
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(schedule)
    assert restored.get_config() == config


def _keras_value(schedule: Any, step: int) -> Any:
    return np.asarray(schedule(tf.constant(step, tf.int64)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=3)
@given(data=st.data())
def test_adapter_equals_keras_builtin_equals_refimpl(name: str, dtype: str, data: Any) -> None:
    """Eagerly, one scalar int64 step at a time, as an optimizer calls a schedule:
    adapter == built-in to the bit; both == refimpl within refimpl's documented bound."""
    base = data.draw(schedule_configs(name))
    config = parity.as_float64(name, base) if dtype == "float64" else base
    at = data.draw(steps(edges=edge_steps(name, base), max_size=6))
    adapter = keras_adapter.ADAPTERS[name].from_config(config)
    got = np.array([_keras_value(adapter, int(s)) for s in at])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # edge step 2**24 is on purpose
        want = np.asarray(ref.deserialize({"class_name": name, "config": config})(at))
    assert got.dtype == want.dtype == np.dtype(dtype)
    builtin = parity._builtin(name, config)
    if builtin is not None:
        theirs = np.array([_keras_value(builtin, int(s)) for s in at])
        np.testing.assert_array_equal(got, theirs)
    ulps, atol = tolerance(name, config, dtype)
    dist = ulp_distance(got, want, dtype)
    bad = ~within_bounds(got, want, ulps=ulps, atol=atol(at))
    assert not bad.any(), (
        f"{name} {dtype} {config}: step {at[bad][0]} adapter={got[bad][0]!r} "
        f"refimpl={want[bad][0]!r} ({dist[bad][0]} ulp)"
    )


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("ExponentialDecay", EXAMPLES["ExponentialDecay"]),
        ("PiecewiseConstantDecay", EXAMPLES["PiecewiseConstantDecay"]),
        ("PolynomialDecay", {**EXAMPLES["PolynomialDecay"], "cycle": True}),
        ("InverseTimeDecay", {**EXAMPLES["InverseTimeDecay"], "staircase": True}),
        ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.1}),
        ("CosineDecay", EXAMPLES["CosineDecay"]),
        ("CosineDecayRestarts", {**EXAMPLES["CosineDecayRestarts"], "t_mul": 1.0}),
        ("CosineDecayRestarts", {**EXAMPLES["CosineDecayRestarts"], "m_mul": 0.7}),
    ],
)
@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_compiled_adapter_equals_compiled_builtin(name: str, config: Any, jit: bool) -> None:
    """Inside tf.function (model.fit's default on CPU) and XLA, the adapter computes
    bit for bit what the Keras built-in computes there."""
    adapter = tf.function(keras_adapter.ADAPTERS[name](**config), jit_compile=jit)
    builtin = tf.function(getattr(keras.optimizers.schedules, name)(**config), jit_compile=jit)
    at = [0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 13, 19, 20, 21, 99, 12345, 2**20 + 3]
    ours = [float(adapter(tf.constant(s, tf.int64))) for s in at]
    theirs = [float(builtin(tf.constant(s, tf.int64))) for s in at]
    assert ours == theirs


BAD_ARGUMENTS = [
    ("ExponentialDecay", (0.1, 0, 0.5), {}),
    ("ExponentialDecay", (0.1, 10, "0.5"), {}),
    ("ExponentialDecay", (0.1, 10), {}),
    ("ExponentialDecay", (0.1, 10, 0.5), {"decay_step": 3}),
    ("ExponentialDecay", (0.1, 10, 0.5), {"staircase": "yes"}),
    ("PiecewiseConstantDecay", ([1, 2], [0.1, 0.2]), {}),
    ("PiecewiseConstantDecay", ([], [0.1]), {}),
    ("PolynomialDecay", (None, 10), {}),
    ("CosineDecay", (0.1, -5), {}),
    ("CosineDecayRestarts", (0.1, 5), {"t_mul": float("nan")}),
    ("TimeBasedDecay", (0.1, -0.01), {}),
    ("TimeBasedDecay", (0.1, 0.01), {"name": 3}),
    ("NoisyLinearCosineDecay", (0.1, 10), {"seed": -1}),
    ("LinearWarmup", ("not a schedule", 10), {}),
    ("LinearWarmup", (ref.CosineDecay(0.1, 10), -1), {}),
    ("SequentialSchedule", ([ref.CosineDecay(0.1, 10)], [5]), {}),
    ("SequentialSchedule", ([ref.CosineDecay(0.1, 10), ref.CosineDecay(0.1, 10)], [0]), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), BAD_ARGUMENTS)
def test_invalid_arguments_fail_exactly_as_in_refimpl(name: str, args: Any, kwargs: Any) -> None:
    try:
        getattr(ref, name)(*args, **kwargs)
    except Exception as exc:  # whatever refimpl raises is the oracle
        want = exc
    else:  # pragma: no cover - the cases above are all invalid
        pytest.fail(f"refimpl accepted {name}{args}{kwargs}")
    with pytest.raises(type(want)) as got:
        keras_adapter.ADAPTERS[name](*args, **kwargs)
    assert str(got.value) == str(want)


def test_warnings_are_refimpl_s() -> None:
    with pytest.warns(ScheduleWarning, match="negative") as want:
        ref.ExponentialDecay(0.1, 10, -0.5)
    with pytest.warns(ScheduleWarning, match="negative") as got:
        keras_adapter.ExponentialDecay(0.1, 10, -0.5)
    assert [str(w.message) for w in got] == [str(w.message) for w in want]


def test_from_config_names_a_misspelt_key_and_a_wrong_type() -> None:
    config = {**EXAMPLES["ExponentialDecay"], "decay_step": 10}
    with pytest.raises(TypeError, match="decay_step"):
        keras_adapter.ExponentialDecay.from_config(config)
    with pytest.raises(TypeError, match="decay_rate"):
        keras_adapter.ExponentialDecay.from_config(
            {**EXAMPLES["ExponentialDecay"], "decay_rate": "0.5"}
        )
    # Through Keras's deserialization, as load_model does it.
    bad = keras.saving.serialize_keras_object(keras_adapter.ExponentialDecay(0.1, 10, 0.5))
    bad["config"]["decay_step"] = 10
    with pytest.raises(TypeError, match="decay_step"):
        keras.saving.deserialize_keras_object(bad)
    unknown = {
        **bad,
        "class_name": "ExponentialDecai",
        "registered_name": "lr_refimpl>ExponentialDecai",
    }
    with pytest.raises(TypeError, match="ExponentialDecai"):
        keras.saving.deserialize_keras_object(unknown)


NESTED_CHILDREN = {
    "refimpl": ref.ExponentialDecay(0.1, 10, 0.5),
    "adapter": keras_adapter.ExponentialDecay(0.1, 10, 0.5),
    "keras": keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5),
    "dict": keras.optimizers.schedules.serialize(
        keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    ),
}


@pytest.mark.parametrize("kind", NESTED_CHILDREN)
def test_nested_schedules_accept_any_form_and_serialize(kind: str) -> None:
    child = NESTED_CHILDREN[kind]
    extra_child = keras_adapter.TimeBasedDecay(keras_adapter.PolynomialDecay(0.1, 10), 0.01)
    schedules = [
        keras_adapter.LinearWarmup(child, 5, 0.01),
        keras_adapter.TimeBasedDecay(child, 0.05),
        keras_adapter.SequentialSchedule([child, extra_child], [20]),
    ]
    expected_child = ref.serialize(ref.ExponentialDecay(0.1, 10, 0.5))
    for schedule in schedules:
        config = schedule.get_config()
        children = config.get("schedules") or [
            config.get("schedule") or config.get("initial_learning_rate")
        ]
        assert children[0] == expected_child
        # Keras's own round trip rebuilds an equal schedule with equal values.
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(schedule)
        )
        assert restored.get_config() == config
        for s in (0, 4, 5, 6, 19, 20, 21, 40):
            step = tf.constant(s, tf.int64)
            assert float(restored(step)) == float(schedule(step))
    # The extra child inside SequentialSchedule is recorded under its registered name.
    assert schedules[2].get_config()["schedules"][1]["registered_name"] == (
        "lr_refimpl>TimeBasedDecay"
    )


def test_hyperparameters_read_like_keras_and_schedules_are_immutable() -> None:
    schedule = keras_adapter.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert schedule.decay_steps == 10
    assert schedule.staircase is True
    assert isinstance(schedule.reference, ref.ExponentialDecay)
    with pytest.raises(AttributeError, match="immutable"):
        schedule.decay_steps = 5
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = schedule.no_such_thing


@pytest.mark.parametrize("name", NAMES)
def test_copy_and_pickle_keep_the_config(name: str) -> None:
    schedule = keras_adapter.ADAPTERS[name](**EXAMPLES[name])
    for clone in (copy.deepcopy(schedule), pickle.loads(pickle.dumps(schedule))):
        assert type(clone) is type(schedule)
        assert clone.get_config() == schedule.get_config()


def test_noisy_schedule_is_reproducible_across_calls_and_compilation() -> None:
    schedule = keras_adapter.NoisyLinearCosineDecay(0.1, 100, seed=11)
    reference = ref.NoisyLinearCosineDecay(0.1, 100, seed=11)
    compiled = tf.function(schedule, jit_compile=True)
    for s in (0, 1, 50, 99, 100, 500):
        first = float(schedule(tf.constant(s, tf.int64)))
        assert first == float(schedule(tf.constant(s, tf.int64)))
        assert first == pytest.approx(float(compiled(tf.constant(s, tf.int64))), rel=1e-5)
        assert first == pytest.approx(float(reference(s)), rel=1e-6)


def test_xla_polynomial_decay_is_nan_at_the_end_of_decay_like_keras() -> None:
    """Pinned TensorFlow behaviour (measured on 2.21): under XLA (``jit_compile=True``,
    Keras's default on a GPU) ``min(step, 10) / 10`` comes out just above 1 at step 10,
    so ``(1 - p) ** 1.5`` is NaN.  The adapter computes what the built-in computes;
    eagerly and in refimpl the rate there is end_learning_rate."""
    config = {
        "initial_learning_rate": 0.1,
        "decay_steps": 10,
        "end_learning_rate": 0.01,
        "power": 1.5,
    }
    step = tf.constant(10, tf.int64)
    for schedule in (
        keras_adapter.PolynomialDecay(**config),
        keras.optimizers.schedules.PolynomialDecay(**config),
    ):
        assert np.isnan(float(tf.function(schedule, jit_compile=True)(step)))
        assert float(schedule(step)) == pytest.approx(0.01)
    assert float(ref.PolynomialDecay(**config)(10)) == pytest.approx(0.01)
