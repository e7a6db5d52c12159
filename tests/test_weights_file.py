"""Weights files: Keras's ``.weights.h5`` both ways with real Keras, refused cleanly
without h5py or for foreign files; refimpl's ``.npz`` round trip."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from refimpl import Sequential, layers
from refimpl.optimizers import SGD
from refimpl.schedules import ExponentialDecay
from refimpl.utils import set_random_seed
from refimpl.weights_file import keras_layer_paths


def _lesson(momentum: float = 0.9, schedule: bool = False) -> Sequential:
    set_random_seed(0)
    model = Sequential(
        [
            layers.Conv2D(32, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    rate = ExponentialDecay(0.001, 10, 0.9) if schedule else 0.001
    model.compile(SGD(rate, momentum=momentum), "categorical_crossentropy", ["accuracy"])
    return model


def _data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28, 1)).astype(np.float32)
    return x, np.eye(10)[np.arange(n) % 10]


def _trained(momentum: float = 0.9, schedule: bool = False) -> Sequential:
    model = _lesson(momentum, schedule)
    x, y = _data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


def test_keras_paths_number_each_class_in_model_order() -> None:
    model = _lesson()
    assert keras_layer_paths(model.layers) == [
        "layers/conv2d",
        "layers/conv2d_1",
        "layers/flatten",
        "layers/dense",
    ]


def test_h5_round_trip_restores_weights_and_optimizer_state(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    source = _trained()
    path = tmp_path / "model.weights.h5"
    source.save_weights(path)
    target = _lesson()
    target.load_weights(path)
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert target.optimizer is not None
    assert source.optimizer is not None
    state, want = target.optimizer.get_state(), source.optimizer.get_state()
    assert state["iterations"] == want["iterations"] == 2
    assert state["learning_rate"] == want["learning_rate"]
    for a, b in zip(state["momentums"], want["momentums"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_without_h5py_the_keras_suffix_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py -> ImportError
    model = _lesson()
    path = tmp_path / "model.weights.h5"
    for call in (model.save_weights, model.load_weights):
        with pytest.raises(ValueError, match=r"pip install 'lr-refimpl\[h5\]'") as info:
            call(path)
        assert "\n" not in str(info.value)
        assert repr(str(path)) in str(info.value)
    assert not path.exists()
    model.save_weights(tmp_path / "model.npz")  # refimpl's format needs NumPy only
    model.load_weights(tmp_path / "model.npz")


def test_foreign_files_with_the_keras_suffix_are_refused(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    model = _trained()
    before = model.get_weights()
    text = tmp_path / "text.weights.h5"
    text.write_text("not hdf5\n")
    empty = tmp_path / "empty.weights.h5"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.weights.h5"
    with h5py.File(missing, "w") as f:
        conv = f.create_group("layers/conv2d/vars")
        conv.create_dataset("0", data=np.zeros((3, 3, 1, 32)))
        conv.create_dataset("1", data=np.zeros(32))
    extra = tmp_path / "extra.weights.h5"
    model.save_weights(extra)
    with h5py.File(extra, "a") as f:
        f.create_group("layers/dense_1/vars").create_dataset("0", data=np.zeros(3))
    wrong = tmp_path / "wrong.weights.h5"
    model.save_weights(wrong)
    with h5py.File(wrong, "a") as f:
        del f["layers/dense/vars/1"]
        f["layers/dense/vars"].create_dataset("1", data=np.zeros(11, np.float32))
    for path, match in [
        (text, "not an HDF5 file"),
        (empty, "the file is empty"),
        (missing, "no group 'layers/conv2d_1'"),
        (extra, "a layer this model lacks"),
        (wrong, r"'layers/dense/vars/1'.*must have shape \(10,\)"),
    ]:
        with pytest.raises(ValueError, match=match) as info:
            model.load_weights(path)
        assert repr(str(path)) in str(info.value)
        for a, b in zip(before, model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)  # all or nothing


# -- against Keras 3 ------------------------------------------------------------------------


def _keras_lesson(keras, momentum: float = 0.9):  # type: ignore[no-untyped-def]
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            keras.layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.001, momentum=momentum), loss="categorical_crossentropy"
    )
    return model


@pytest.mark.tf
def test_keras_loads_refimpls_file(tmp_path: Path) -> None:
    """``keras.Model.load_weights`` reads our ``.weights.h5``: the weights, and (into a
    built optimizer) the iteration count, the rate and the momentum buffers."""
    pytest.importorskip("h5py")
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    ours = _trained()
    path = tmp_path / "ours.weights.h5"
    ours.save_weights(path)
    theirs = _keras_lesson(keras)
    x, y = _data(32)
    theirs.fit(x, y, batch_size=32, epochs=1, verbose=0)  # builds the optimizer's variables
    theirs.load_weights(str(path))
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours.optimizer is not None
    state = ours.optimizer.get_state()
    assert int(theirs.optimizer.iterations.numpy()) == state["iterations"]
    assert float(theirs.optimizer.learning_rate.numpy()) == float(state["learning_rate"])
    moms = [v.numpy() for v in theirs.optimizer.variables[2:]]
    for a, b in zip(moms, state["momentums"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.tf
@pytest.mark.parametrize("schedule", [False, True], ids=["constant", "schedule"])
def test_refimpl_loads_keras_file(tmp_path: Path, schedule: bool) -> None:
    """Our ``load_weights`` reads Keras's ``.weights.h5`` (written after training, so
    with momentum buffers; with a schedule Keras keeps no learning-rate variable)."""
    pytest.importorskip("h5py")
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(1)
    theirs = _keras_lesson(keras)
    if schedule:
        theirs.compile(
            optimizer=keras.optimizers.SGD(
                keras.optimizers.schedules.ExponentialDecay(0.001, 10, 0.9), momentum=0.9
            ),
            loss="categorical_crossentropy",
        )
    x, y = _data()
    theirs.fit(x, y, batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "theirs.weights.h5"
    theirs.save_weights(str(path))
    ours = _lesson(schedule=schedule)
    ours.load_weights(path)
    for a, b in zip(theirs.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours.optimizer is not None
    state = ours.optimizer.get_state()
    assert state["iterations"] == int(theirs.optimizer.iterations.numpy()) == 2
    offset = 1 if schedule else 2
    moms = [v.numpy() for v in theirs.optimizer.variables[offset:]]
    assert len(moms) == len(state["momentums"]) == 6
    for a, b in zip(moms, state["momentums"], strict=True):
        np.testing.assert_array_equal(a, b)
    if not schedule:
        assert state["learning_rate"] == np.float32(theirs.optimizer.learning_rate.numpy())


@pytest.mark.tf
def test_our_file_has_keras_layout(tmp_path: Path) -> None:
    """The same groups, datasets (shapes and dtypes) and name attributes as the file
    Keras writes for the same, trained, model."""
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    theirs = _keras_lesson(keras)
    x, y = _data(32)
    theirs.fit(x, y, batch_size=32, epochs=1, verbose=0)
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    ours = _trained()
    ours.save_weights(tmp_path / "ours.weights.h5")

    def layout(path: Path) -> dict:
        items: dict = {}
        with h5py.File(path, "r") as f:

            def visit(name: str, obj) -> None:  # type: ignore[no-untyped-def]
                entry = (obj.shape, obj.dtype.str) if hasattr(obj, "shape") else "group"
                items[name] = (entry, sorted(obj.attrs))

            f.visititems(visit)
        return items

    assert layout(tmp_path / "ours.weights.h5") == layout(tmp_path / "theirs.weights.h5")
