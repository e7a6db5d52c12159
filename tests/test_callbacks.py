"""Callbacks with Keras 3 semantics, on a tiny model and on a stub model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from refimpl import Sequential, callbacks, layers
from refimpl.optimizers import SGD


def _tiny(lr: float = 0.01) -> Sequential:
    model = Sequential(
        [
            layers.Conv2D(2, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(SGD(lr), "categorical_crossentropy", ["accuracy"])
    return model


def _data(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 6, 6, 1)).astype(np.float32), np.eye(3)[rng.integers(0, 3, n)]


class _StubOptimizer:
    def __init__(self, lr: float) -> None:
        self.learning_rate = np.float32(lr)


class _StubModel:
    def __init__(self, lr: float = 1.0) -> None:
        self.optimizer = _StubOptimizer(lr)
        self.stop_training = False


def test_learning_rate_scheduler_applies_at_epoch_zero_and_logs_the_rate() -> None:
    x, y = _data()
    model = _tiny(0.001)
    seen: list[float] = []

    class Spy(callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if batch == 0:
                seen.append(float(self.model.optimizer.learning_rate))

    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr / 3)
    hist = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[sched, Spy()])
    f = float(np.float32(0.001))
    expected = []
    for _ in range(3):
        f = float(np.float32(f / 3))
        expected.append(f)
    assert seen == pytest.approx(expected, rel=1e-7)  # epoch 0 already at lr/3
    assert hist.history["learning_rate"] == pytest.approx(expected, rel=1e-7)


def test_learning_rate_scheduler_old_api_and_bad_output() -> None:
    model = _StubModel(1.0)
    cb = callbacks.LearningRateScheduler(lambda epoch: 0.5 / (epoch + 1))
    cb.set_model(model)
    cb.on_epoch_begin(1)
    assert float(model.optimizer.learning_rate) == 0.25
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: "fast")
    bad.set_model(model)
    with pytest.raises(ValueError, match="should be a float"):
        bad.on_epoch_begin(0)


def test_reduce_lr_on_plateau_keras_rule() -> None:
    model = _StubModel(1.0)
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.3)
    cb.set_model(model)
    cb.on_train_begin()
    lrs = []
    for epoch, v in enumerate([1.0, 0.99995, 0.9999, 0.8, 0.8, 0.8, 0.8, 0.8]):
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        lrs.append(float(model.optimizer.learning_rate))
        assert logs["learning_rate"] == lrs[-1] or logs["learning_rate"] > lrs[-1]
    # 0.99995 is no improvement (min_delta 1e-4, absolute): wait 1, 0.9999 -> wait 2 ->
    # reduce to 0.5; 0.8 improves; two flat epochs -> 0.3 (floored at min_lr); then no more.
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3]
    with pytest.raises(ValueError, match=r"factor >= 1\.0"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_early_stopping_patience_and_restore() -> None:
    x, y = _data()
    model = _tiny(0.0)  # lr 0: the loss never improves after epoch 0
    stop = callbacks.EarlyStopping(monitor="loss", patience=2)
    hist = model.fit(x, y, batch_size=8, epochs=10, verbose=0, shuffle=False, callbacks=[stop])
    assert len(hist.history["loss"]) == 3
    assert stop.stopped_epoch == 2

    model = _StubModel()
    weights = [np.zeros(1)]
    model.get_weights = lambda: [w.copy() for w in weights]  # type: ignore[attr-defined]
    model.set_weights = lambda ws: weights.__setitem__(0, ws[0])  # type: ignore[attr-defined]
    es = callbacks.EarlyStopping(monitor="val_accuracy", restore_best_weights=True)
    es.set_model(model)
    es.on_train_begin()
    for epoch, acc in enumerate([0.5, 0.7, 0.6]):
        weights[0] = np.array([float(epoch)])
        es.on_epoch_end(epoch, {"val_accuracy": acc})
    assert model.stop_training
    es.on_train_end()
    assert weights[0][0] == 1.0  # the best epoch's weights


def test_terminate_on_nan() -> None:
    model = _StubModel()
    cb = callbacks.TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    cb.on_train_batch_end(1, {"loss": float("inf")})
    assert model.stop_training
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        callbacks.TerminateOnNaN(raise_error=True).on_batch_end(0, {"loss": float("nan")})


def test_history_records_every_epoch_and_is_on_the_model() -> None:
    x, y = _data()
    model = _tiny()
    hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x[:5], y[:5]))
    assert list(hist.history) == ["accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"]
    assert all(len(v) == 2 for v in hist.history.values())
    assert hist.epoch == [0, 1]
    assert model.history is hist


def test_callbacks_must_be_callback_instances() -> None:
    x, y = _data()
    with pytest.raises(TypeError, match="callbacks"):
        _tiny().fit(x, y, verbose=0, callbacks=[lambda: None])  # type: ignore[list-item]


_BAD_ARGUMENTS = [
    (callbacks.ReduceLROnPlateau, {"factor": "0.5"}, TypeError, "factor='0.5'"),
    (callbacks.ReduceLROnPlateau, {"factor": float("nan")}, ValueError, "factor=nan"),
    (callbacks.ReduceLROnPlateau, {"factor": 1.5}, ValueError, "factor=1.5"),
    (callbacks.ReduceLROnPlateau, {"patience": "3"}, TypeError, "patience='3'"),
    (callbacks.ReduceLROnPlateau, {"cooldown": None}, TypeError, "cooldown=None"),
    (callbacks.ReduceLROnPlateau, {"min_lr": "0"}, TypeError, "min_lr='0'"),
    (callbacks.ReduceLROnPlateau, {"min_lr": float("nan")}, ValueError, "min_lr=nan"),
    (callbacks.ReduceLROnPlateau, {"factor": -0.5, "min_lr": -1.0}, ValueError, "min_lr=-1.0"),
    (callbacks.ReduceLROnPlateau, {"min_delta": "1e-4"}, TypeError, "min_delta='1e-4'"),
    (callbacks.ReduceLROnPlateau, {"monitor": None}, TypeError, "monitor=None"),
    (callbacks.ReduceLROnPlateau, {"verbose": "1"}, TypeError, "verbose='1'"),
    (callbacks.EarlyStopping, {"patience": "3"}, TypeError, "patience='3'"),
    (callbacks.EarlyStopping, {"patience": None}, TypeError, "patience=None"),
    (callbacks.EarlyStopping, {"min_delta": float("nan")}, ValueError, "min_delta=nan"),
    (callbacks.EarlyStopping, {"baseline": "0.9"}, TypeError, "baseline='0.9'"),
    (callbacks.EarlyStopping, {"baseline": float("nan")}, ValueError, "baseline=nan"),
    (callbacks.EarlyStopping, {"monitor": 3}, TypeError, "monitor=3"),
    (callbacks.LearningRateScheduler, {"schedule": 0.1}, TypeError, "schedule=0.1"),
]


@pytest.mark.parametrize(("cls", "kwargs", "exc", "match"), _BAD_ARGUMENTS)
def test_constructor_arguments_are_checked_up_front(
    cls: type, kwargs: dict, exc: type, match: str
) -> None:
    if cls is callbacks.LearningRateScheduler:
        kwargs = {"schedule": lambda epoch: 0.1, **kwargs}
    with pytest.raises(exc, match=match):
        cls(**kwargs)


_ACCEPTED_BY_KERAS = [
    (callbacks.ReduceLROnPlateau, {"factor": 0.0, "patience": -1, "cooldown": -2}),
    (callbacks.ReduceLROnPlateau, {"factor": -0.5, "min_lr": 0.0, "min_delta": -1e-3}),
    (callbacks.ReduceLROnPlateau, {"factor": np.float32(0.5), "patience": np.int64(2)}),
    (callbacks.ReduceLROnPlateau, {"min_lr": -1.0, "verbose": True, "mode": "max"}),
    (callbacks.EarlyStopping, {"patience": -1, "start_from_epoch": -3, "min_delta": -0.1}),
    (callbacks.EarlyStopping, {"baseline": 0.5, "min_delta": float("inf"), "mode": "min"}),
    (callbacks.EarlyStopping, {"restore_best_weights": np.bool_(True), "verbose": 1}),
    (callbacks.TerminateOnNaN, {"raise_error": True}),
    (callbacks.LearningRateScheduler, {"schedule": lambda epoch: 0.1, "verbose": 1}),
    # Keras only compares the numbers and tests the flags for truth (found by review):
    (callbacks.ReduceLROnPlateau, {"patience": 2.5, "cooldown": 1.0, "verbose": 2.0}),
    (
        callbacks.ReduceLROnPlateau,
        {"factor": np.array(0.5), "min_delta": np.array(1.0), "min_lr": np.array(0.001)},
    ),
    (callbacks.EarlyStopping, {"patience": 2.0, "start_from_epoch": 1.0, "verbose": 0.5}),
    (callbacks.EarlyStopping, {"restore_best_weights": 1, "baseline": np.array(0.5)}),
    (callbacks.EarlyStopping, {"restore_best_weights": None}),
    (callbacks.TerminateOnNaN, {"raise_error": 1}),
    (callbacks.TerminateOnNaN, {"raise_error": None}),
    (callbacks.LearningRateScheduler, {"schedule": lambda epoch: 0.1, "verbose": 2.0}),
]


@pytest.mark.parametrize(("cls", "kwargs"), _ACCEPTED_BY_KERAS)
def test_values_keras_accepts_are_accepted(cls: type, kwargs: dict) -> None:
    cb = cls(**kwargs)
    for name, value in kwargs.items():
        if name not in ("min_delta", "mode", "verbose"):
            assert getattr(cb, name) == value


def test_unknown_mode_warns_and_falls_back_to_auto_as_keras() -> None:
    with pytest.warns(UserWarning, match="mode 'bogus' is unknown"):
        cb = callbacks.EarlyStopping(mode="bogus")
    assert cb.mode == "auto"


def test_negative_patience_stops_like_zero_as_in_keras() -> None:
    stopped = []
    for patience in (0, -1):
        model = _StubModel()
        es = callbacks.EarlyStopping(monitor="loss", patience=patience)
        es.set_model(model)
        es.on_train_begin()
        for epoch, loss in enumerate([1.0, 1.0, 1.0]):
            es.on_epoch_end(epoch, {"loss": loss})
            if model.stop_training:
                break
        stopped.append(es.stopped_epoch)
    assert stopped[0] == stopped[1] == 1


@pytest.mark.tf
def test_argument_checks_agree_with_keras() -> None:
    """Keras constructs every callback we accept; where Keras raises at construction, it
    raises the exception type we raise."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    for cls, kwargs in _ACCEPTED_BY_KERAS:
        getattr(keras.callbacks, cls.__name__)(**kwargs)
    raised = []
    for cls, kwargs, exc, _ in _BAD_ARGUMENTS:
        if cls is callbacks.LearningRateScheduler:
            continue
        try:
            getattr(keras.callbacks, cls.__name__)(**kwargs)
        except Exception as keras_exc:
            raised.append((cls.__name__, kwargs, type(keras_exc), exc))
    assert raised  # factor >= 1.0, factor='0.5', min_delta='1e-4' at least
    for name, kwargs, keras_type, ours in raised:
        assert issubclass(keras_type, ours), (name, kwargs, keras_type, ours)
