"""Weights files: Keras's ``.weights.h5`` both ways with real Keras, refused cleanly
without h5py or for foreign files; refimpl's ``.npz`` round trip."""

from __future__ import annotations

import json
import os
import pickle
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


# -- refimpl's .npz format through Sequential: resuming, all or nothing, foreign files --------


def _model(
    lr=0.01, momentum=0.0, loss="categorical_crossentropy", activation="softmax", compile=True
):  # type: ignore[no-untyped-def]
    """The small model of tests/test_models.py."""
    model = Sequential(
        [
            layers.Conv2D(3, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
            layers.Conv2D(2, 3, padding="valid", activation="relu"),
            layers.Flatten(),
            layers.Dense(4, activation=activation),
        ]
    )
    if compile:
        model.compile(SGD(lr, momentum=momentum), loss, ["accuracy"])
    return model


def _small_data(n: int = 23, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 6, 6, 1)).astype(np.uint8)
    return x, np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)]


def test_save_and_load_weights_resume_exactly(tmp_path: Path) -> None:
    x, y = _small_data(n=30)
    ref = _model(momentum=0.9)
    ref.compile(SGD(ExponentialDecay(0.01, 2, 0.7), momentum=0.9), "categorical_crossentropy")
    start = ref.get_weights()
    ref.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)

    a = _model(momentum=0.9)
    a.set_weights(start)
    a.compile(SGD(ExponentialDecay(0.01, 2, 0.7), momentum=0.9), "categorical_crossentropy")
    a.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "ckpt.weights.h5"
    a.save_weights(path)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.weights.h5"]  # no temporary left behind

    b = _model(compile=False)  # not compiled yet: optimizer state waits for compile()
    b.load_weights(path)
    b.compile(SGD(ExponentialDecay(0.01, 2, 0.7), momentum=0.9), "categorical_crossentropy")
    assert b.optimizer is not None
    assert b.optimizer.iterations == 4
    b.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for wr, wb in zip(ref.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wr, wb)

    with pytest.raises(FileExistsError):
        b.save_weights(path, overwrite=False)
    other = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="not a Keras weights file for this model"):
        other.load_weights(path)


def _snapshot(model: Sequential) -> tuple[list[np.ndarray], dict]:
    assert model.optimizer is not None
    return model.get_weights(), model.optimizer.get_state()


def _assert_unchanged(model: Sequential, snapshot: tuple[list[np.ndarray], dict]) -> None:
    weights, state = snapshot
    for w0, w1 in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert model.optimizer is not None
    after = model.optimizer.get_state()
    assert after["iterations"] == state["iterations"]
    assert after["learning_rate"] == state["learning_rate"]
    assert len(after["momentums"]) == len(state["momentums"])
    for m0, m1 in zip(state["momentums"], after["momentums"], strict=True):
        np.testing.assert_array_equal(m0, m1)


def _small_trained(units: int = 4, momentum: float = 0.9, lr: float = 0.01) -> Sequential:
    """The _model layout with `units` outputs, compiled with momentum and trained a step,
    so that its weights, iterations and momentum buffers all differ from a fresh one's."""
    model = Sequential(
        [
            layers.Conv2D(3, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
            layers.Conv2D(2, 3, padding="valid", activation="relu"),
            layers.Flatten(),
            layers.Dense(units, activation="softmax"),
        ]
    )
    model.compile(SGD(lr, momentum=momentum), "categorical_crossentropy")
    x, _ = _small_data(n=8)
    y = np.eye(units, dtype=np.float32)[np.arange(8) % units]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return model


def _rewrite(src: Path, dst: Path, **changes: object) -> Path:
    """Copy a save_weights file, replacing entries (arrays, or `meta` as a dict)."""
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
    for key, value in changes.items():
        key = key.replace("__", "/")
        if key == "meta":
            meta = value
        elif value is None:
            del arrays[key]
        else:
            arrays[key] = value  # type: ignore[assignment]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return dst


def test_failed_load_leaves_model_and_optimizer_unchanged(tmp_path: Path) -> None:
    """The file's first three arrays fit; the last layer's do not (4 vs 5 units)."""
    source = _small_trained(units=4, lr=0.05)
    path = tmp_path / "four.weights.npz"
    source.save_weights(path)
    target = _small_trained(units=5)
    before = _snapshot(target)
    # The file really differs where it fits: a half-done load would show.
    assert not np.array_equal(source.get_weights()[0], before[0][0])
    kernel = len(before[0]) - 2  # the last Dense layer's kernel: the first misfit
    with pytest.raises(
        ValueError, match=rf"'weights/{kernel:03d}'.*must have shape \(\d+, 5\)"
    ) as info:
        target.load_weights(path)
    assert repr(str(path)) in str(info.value)
    _assert_unchanged(target, before)


def test_failed_load_of_optimizer_state_leaves_the_weights_unchanged(tmp_path: Path) -> None:
    """Files whose weights fit but whose optimizer state does not: before, the weights
    were written and then set_state raised (or took the bad value)."""
    source = _small_trained(lr=0.05)
    good = tmp_path / "good.npz"
    source.save_weights(good)
    target = _small_trained()
    before = _snapshot(target)
    with np.load(good, allow_pickle=False) as data:
        file_meta = json.loads(bytes(data["meta"]).decode("utf-8"))

    def with_optimizer(**entries: object) -> dict:
        return {**file_meta, "optimizer": {**file_meta["optimizer"], **entries}}

    bad_files = [
        _rewrite(good, tmp_path / "shape.npz", momentums__000=np.zeros(3)),
        _rewrite(good, tmp_path / "dtype.npz", momentums__001=np.full(before[0][1].shape, "a")),
        _rewrite(good, tmp_path / "neg.npz", meta=with_optimizer(iterations=-5)),
        _rewrite(good, tmp_path / "str.npz", meta=with_optimizer(iterations="5")),
        _rewrite(good, tmp_path / "nan.npz", meta=with_optimizer(learning_rate=float("nan"))),
        _rewrite(good, tmp_path / "lr.npz", meta=with_optimizer(learning_rate=-0.1)),
    ]
    for path in bad_files:
        with pytest.raises(ValueError, match="optimizer state") as info:
            target.load_weights(path)
        assert repr(str(path)) in str(info.value)
        _assert_unchanged(target, before)
    # The untouched file still loads, all of it.
    target.load_weights(good)
    for w0, w1 in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert target.optimizer is not None
    assert source.optimizer is not None
    assert target.optimizer.iterations == source.optimizer.iterations


def test_failed_load_leaves_a_pending_optimizer_state_alone(tmp_path: Path) -> None:
    source = _small_trained(lr=0.05)
    path = tmp_path / "w.npz"
    source.save_weights(path)
    bad = _rewrite(path, tmp_path / "bad.npz", momentums__000=np.zeros(2))
    target = _model(compile=False)
    before = target.get_weights()
    with pytest.raises(ValueError, match="optimizer state"):
        target.load_weights(bad)
    for w0, w1 in zip(before, target.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert target._pending_optimizer_state is None


_UNPICKLED: list[int] = []


class _Trap:
    """Unpickling this object records it: a loader that unpickles would be caught."""

    def __reduce__(self) -> tuple:
        return (_UNPICKLED.append, (1,))


def _foreign_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    files["text"] = tmp_path / "notes.txt"
    files["text"].write_text("not weights\n")
    files["empty"] = tmp_path / "empty.npz"
    files["empty"].write_bytes(b"")
    files["other npz"] = tmp_path / "other.npz"
    np.savez(files["other npz"], a=np.arange(3))
    files["npy"] = tmp_path / "array.npy"
    np.save(files["npy"], np.arange(3))
    raw = good.read_bytes()
    files["truncated"] = tmp_path / "truncated.npz"
    files["truncated"].write_bytes(raw[: len(raw) // 2])
    files["pickle npz"] = tmp_path / "trap.npz"
    np.savez(files["pickle npz"], meta=np.array([_Trap()], dtype=object))
    files["pickle file"] = tmp_path / "trap.pkl"
    files["pickle file"].write_bytes(pickle.dumps(_Trap()))
    files["bad meta"] = _rewrite(good, tmp_path / "badmeta.npz", meta={"format": "other"})
    files["missing entry"] = _rewrite(good, tmp_path / "missing.npz", weights__001=None)
    return files


def test_load_weights_rejects_files_refimpl_did_not_write(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    _small_trained().save_weights(good)
    target = _small_trained()
    before = _snapshot(target)
    for what, path in _foreign_files(tmp_path, good).items():
        with pytest.raises(ValueError, match="not a refimpl weights file") as info:
            target.load_weights(path)
        assert repr(str(path)) in str(info.value), what
        # our message, not NumPy's ("This file contains pickled (object) data...")
        assert str(info.value).startswith("Argument `filepath` is not a refimpl"), what
        _assert_unchanged(target, before)
    assert _UNPICKLED == []
    with pytest.raises(FileNotFoundError):
        target.load_weights(tmp_path / "nonexistent.npz")
    with pytest.raises(TypeError, match="filepath=3"):
        target.load_weights(3)  # type: ignore[arg-type]
