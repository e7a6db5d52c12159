"""The Keras side of tests/test_keras_adapter_backends.py, run in a fresh Python.

Keras fixes its backend when it is imported, so each backend is measured in its own
process: ``KERAS_BACKEND=jax python -m tests._backend_worker REQUEST ANSWER``.  The
request (a pickle written by the test) lists refimpl schedules to train, each as the
Keras schedule it stands for (a Keras built-in or the ``keras_adapter`` class); the
worker trains them with :func:`keras_adapter.oracle.training_rates`, saves and
reloads schedules in ``.keras`` files and trains the loaded ones.  It only *measures*: the answer (a
pickle) holds the rates and values read back; the test compares them with refimpl.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import warnings
from typing import Any

import numpy as np


def _keras_schedule(reference: Any, adapter: bool) -> Any:
    import keras_adapter
    from tests._modes import keras_twin

    if adapter:
        return keras_adapter.ADAPTERS[type(reference).__name__].from_reference(reference)
    return keras_twin(reference)


def _fit(request: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """The rates of one ``training_rates`` call, and the warnings it gave."""
    from keras_adapter.oracle import training_rates

    schedules = [
        _keras_schedule(r, a) for r, a in zip(request["schedules"], request["adapter"], strict=True)
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        rates = training_rates(
            schedules, request["steps"], mode=request.get("mode"), start=request["start"]
        )
    return rates, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def _round_trip_schedule(entry: dict[str, Any]) -> Any:
    """The Keras schedule of a round-trip entry: an adapter, or a ``LegacyDecay`` over
    the Keras twin of a refimpl schedule."""
    import keras_adapter

    if entry["kind"] == "legacy":
        return keras_adapter.LegacyDecay(_keras_schedule(entry["reference"], False), entry["decay"])
    return _keras_schedule(entry["reference"], True)


def _round_trip(schedule: Any, directory: str, index: int) -> tuple[dict[str, Any], Any]:
    """Train a small model with ``schedule``, save it, load it, train both on: what the
    test needs to compare, and the loaded schedule."""
    import keras

    keras.utils.set_random_seed(index)
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
    y = np.stack([x.sum(axis=1), x[:, 0] - x[:, 2]], axis=1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)  # 4 compiled steps
    path = os.path.join(directory, f"model_{index}.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    original, restored = model.optimizer, loaded.optimizer
    steps = [0, 1, 4, 97, 4_689, 2**24 + 1]
    answer = {
        "class_before": type(original._learning_rate).__qualname__,
        "class_after": type(restored._learning_rate).__qualname__,
        "module_after": type(restored._learning_rate).__module__,
        "config_before": original._learning_rate.get_config(),
        "config_after": restored._learning_rate.get_config(),
        "values_before": [float(original._learning_rate(k)) for k in steps],
        "values_after": [float(restored._learning_rate(k)) for k in steps],
        "iterations_before": int(keras.ops.convert_to_numpy(original.iterations)),
        "iterations_after": int(keras.ops.convert_to_numpy(restored.iterations)),
    }
    for m in (model, loaded):  # resume: the same compiled steps on both
        m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    answer["weights_original"] = [np.asarray(w) for w in model.get_weights()]
    answer["weights_loaded"] = [np.asarray(w) for w in loaded.get_weights()]
    return answer, restored._learning_rate


def main(request_path: str, answer_path: str) -> None:
    with open(request_path, "rb") as f:
        request = pickle.load(f)
    import keras_adapter  # before anything else imports TensorFlow

    answer: dict[str, Any] = {"tensorflow_after_import": "tensorflow" in sys.modules}
    import keras

    from keras_adapter.oracle import compiled_rates

    answer["backend"] = keras.backend.backend()
    try:
        compiled_rates([keras_adapter.ExponentialDecay(0.1, 10, 0.5)], [0])
    except RuntimeError as error:
        answer["compiled_rates_error"] = str(error)
    answer["fits"] = [_fit(fit) for fit in request.get("fits", [])]
    with tempfile.TemporaryDirectory() as directory:
        trips = [
            _round_trip(_round_trip_schedule(entry), directory, i)
            for i, entry in enumerate(request.get("round_trips", []))
        ]
    answer["round_trips"] = [trip for trip, _ in trips]
    loaded = [schedule for _, schedule in trips]
    if loaded:  # what the loaded schedules apply in training, side by side
        from keras_adapter.oracle import training_rates

        answer["loaded_rates"] = training_rates(loaded, request["loaded_steps"])
    with open(answer_path, "wb") as f:
        pickle.dump(answer, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
