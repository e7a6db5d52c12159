"""The lesson's CNN trained with Keras 3: the Keras backend of ``lr-refimpl tutorial``.

``lr-refimpl tutorial --backend keras`` reaches this module through
:func:`refimpl.cli.common.import_extra` (it needs TensorFlow, so it lives in
``keras_adapter``, never in ``refimpl``).  :func:`train` builds the same model as
:func:`refimpl.cli.tutorial.train_numpy` -- Conv2D(32) and Conv2D(16) with ReLU,
Flatten, Dense(10) with softmax, SGD at batch 64 -- records the learning rate of every
update, and returns the same :class:`~refimpl.report.RunRecord`.  Keras 3 ignores
``SGD(decay=...)``, so the lesson's ``decay`` configuration passes the legacy formula as
``InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import keras

from refimpl.cli.common import CommandError
from refimpl.cli.subjects import short_repr
from refimpl.cli.tutorial import LessonData, record_run
from refimpl.lesson import LessonConfig
from refimpl.report import RunRecord, Settings

__all__ = ["environment", "train"]


def _check_keras_3() -> None:
    if not str(keras.__version__).startswith("3."):
        raise CommandError(f"--backend keras needs Keras 3; this is Keras {keras.__version__}")


def environment() -> str:
    """``"Keras 3.15.1 (tensorflow backend 2.21.0)"``: what trained, for the report."""
    _check_keras_3()
    backend = keras.backend.backend()
    version = ""
    if backend == "tensorflow":
        import tensorflow as tf

        version = f" {tf.__version__}"
    return f"Keras {keras.__version__} ({backend} backend{version})"


def train(config: LessonConfig, data: LessonData, settings: Settings, verbose: int) -> RunRecord:
    """Train the lesson's CNN with Keras 3 under ``config``; the same layers, loss,
    optimizer and rate recording as :func:`refimpl.cli.tutorial.train_numpy`."""
    _check_keras_3()
    rates: list[float] = []

    class RateRecorder(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            rates.append(float(self.model.optimizer.learning_rate))

    keras.utils.set_random_seed(settings.seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            keras.layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    schedules = keras.optimizers.schedules
    callbacks: list[Any] = [RateRecorder()]
    note = None
    if config.optimizer_decay:
        lr, decay = config.learning_rate, config.optimizer_decay
        rate: Any = schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)
        code = (
            "keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.InverseTimeDecay("
            f"{lr:g}, decay_steps=1, decay_rate={decay:g}))"
        )
        note = (
            f"Keras 3 ignores SGD(decay=...) -- it warns and trains at a constant {lr:g} -- so "
            "this run passes the legacy formula lr / (1 + decay * step) as an InverseTimeDecay"
        )
    elif config.schedule is not None:
        reference = config.schedule()
        cls = getattr(schedules, type(reference).__name__, None)
        if cls is None:
            raise CommandError(f"Keras has no {type(reference).__name__} schedule")
        rate = cls.from_config(reference.get_config())
        code = (
            "keras.optimizers.SGD(learning_rate=keras.optimizers.schedules."
            f"{short_repr(reference)})"
        )
    else:
        rate = config.learning_rate
        code = f"keras.optimizers.SGD(learning_rate={rate:g})"
    if config.epoch_function is not None:
        callbacks.append(keras.callbacks.LearningRateScheduler(config.epoch_function))
        code += " with callbacks=[LearningRateScheduler(lambda epoch, lr: lr / 3)]"
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Keras 3.15's LearningRateScheduler converts a variable with np.array(x), which
        # NumPy 2 flags as deprecated: Keras's business, not the reader's.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="keras")
        history = model.fit(
            data.x_train,
            data.y_train,
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=(data.x_test, data.y_test),
        )
    seconds = time.perf_counter() - start
    return record_run(config, "keras", code, history.history, rates, settings, seconds, None, note)
