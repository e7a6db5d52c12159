"""Weights files: Keras's ``.weights.h5`` (needs h5py) and refimpl's own ``.npz``.

``model.save_weights(path)`` / ``model.load_weights(path)`` choose the format by the
name, as Keras does:

* a name ending ``.weights.h5`` is a **Keras 3 weights file** (HDF5, written with h5py,
  the ``h5`` extra): what ``keras.Model.save_weights`` writes and
  ``keras.Model.load_weights`` reads, in both directions.  Its layout (Keras's
  ``saving_lib``)::

      layers/<layer>/vars/<i>    the layer's variables in order (kernel, bias);
                                 <layer> is the class name in snake case, numbered
                                 within the model: conv2d, conv2d_1, flatten, dense
      layers/<layer>/vars        attribute name = the layer's name
      optimizer/vars/<i>         iterations (int64), learning_rate (float32, only for a
                                 constant rate), then one momentum per variable
      vars                       attribute name = the model's name

  Without h5py such a name is refused in one line naming the extra to install.
* any other name is **refimpl's format**, a NumPy ``.npz`` archive (no pickles) with the
  weights, the optimizer's momentum buffers, and a JSON ``meta`` entry (format name and
  version, the layers, ``iterations``, the constant rate).

Both keep the optimizer state, so a resumed run continues its schedule at the right
step.  Files are written whole or not at all (a temporary file, then ``os.replace``).
Loading reads and checks everything before anything is written: on any error the model
and its optimizer are unchanged.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import zipfile
import zlib
from typing import Any

import numpy as np

from refimpl._atomic import atomic_write_bytes

__all__ = [
    "FORMAT_VERSION",
    "KERAS_SUFFIX",
    "check_filepath",
    "keras_layer_paths",
    "load_weights",
    "read_keras_file",
    "read_refimpl_file",
    "save_weights",
]

#: Version of refimpl's ``.npz`` format.
FORMAT_VERSION = 1
#: The suffix that selects Keras's HDF5 format.
KERAS_SUFFIX = ".weights.h5"


def check_filepath(filepath: Any) -> str:
    """``filepath`` as a ``str`` (``TypeError`` naming it otherwise).

    >>> check_filepath(3)
    Traceback (most recent call last):
    TypeError: Argument `filepath` must be a str or os.PathLike. Received: filepath=3
    """
    try:
        path = os.fspath(filepath)
    except TypeError:
        path = None
    if not isinstance(path, str):
        raise TypeError(
            f"Argument `filepath` must be a str or os.PathLike. Received: filepath={filepath!r}"
        )
    return path


def _h5py(path: str) -> Any:
    try:
        return importlib.import_module("h5py")
    except ImportError:
        raise ValueError(
            f"Argument `filepath` ends in {KERAS_SUFFIX!r}, Keras's HDF5 weights format, "
            f"which needs h5py: pip install 'lr-refimpl[h5]' (or use a name ending in .npz "
            f"for refimpl's format). Received: filepath={path!r}"
        ) from None


def _snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``Conv2D`` -> ``conv2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_layer_paths(layers: list[Any]) -> list[str]:
    """Each layer's group in a Keras weights file: the class name in snake case,
    numbered per name in model order (Keras's ``_save_container_state``).

    >>> from refimpl import layers
    >>> keras_layer_paths([layers.Conv2D(2, 3), layers.Conv2D(2, 3), layers.Flatten()])
    ['layers/conv2d', 'layers/conv2d_1', 'layers/flatten']
    """
    used: dict[str, int] = {}
    paths = []
    for layer in layers:
        base = _snake_case(type(layer).__name__)
        if base in used:
            used[base] += 1
            name = f"{base}_{used[base]}"
        else:
            used[base] = 0
            name = base
        paths.append(f"layers/{name}")
    return paths


# -- saving ------------------------------------------------------------------------------


def save_weights(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Write ``model``'s weights and optimizer state to ``filepath`` (see the module
    docstring for the two formats)."""
    path = check_filepath(filepath)
    keras_format = path.endswith(KERAS_SUFFIX)
    h5py = _h5py(path) if keras_format else None
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"Argument `filepath` exists and overwrite=False: {path!r}")
    if not model.built:
        raise ValueError(f"Model {model.name!r} has no weights yet: build or fit it first.")
    state = None if model.optimizer is None else model.optimizer.get_state()
    if h5py is not None:
        atomic_write_bytes(path, _keras_bytes(h5py, model, state))
    else:
        atomic_write_bytes(path, _refimpl_bytes(model, state))


def _keras_bytes(h5py: Any, model: Any, state: dict[str, Any] | None) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for layer, group in zip(model.layers, keras_layer_paths(model.layers), strict=True):
            vars_group = f.create_group(f"{group}/vars")
            vars_group.attrs["name"] = layer.name
            for i, w in enumerate(layer.weights):
                vars_group.create_dataset(str(i), data=np.asarray(w, np.float32))
        f.create_group("vars").attrs["name"] = model.name
        if state is not None:
            opt = f.create_group("optimizer/vars")
            opt.attrs["name"] = model.optimizer.name.lower()
            values: list[np.ndarray] = [np.asarray(state["iterations"], np.int64)]
            if "learning_rate" in state:
                values.append(np.asarray(state["learning_rate"], np.float32))
            values += [np.asarray(m, np.float32) for m in state["momentums"]]
            for i, v in enumerate(values):
                opt.create_dataset(str(i), data=v)
    return buf.getvalue()


def _refimpl_bytes(model: Any, state: dict[str, Any] | None) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for i, w in enumerate(model.get_weights()):
        arrays[f"weights/{i:03d}"] = w
    meta: dict[str, Any] = {
        "format": "refimpl-weights",
        "version": FORMAT_VERSION,
        "layers": [
            {
                "name": layer.name,
                "class": type(layer).__name__,
                "shapes": [list(w.shape) for w in layer.weights],
            }
            for layer in model.layers
        ],
        "optimizer": None,
    }
    if state is not None:
        meta["optimizer"] = {
            "iterations": state["iterations"],
            "learning_rate": None
            if "learning_rate" not in state
            else float(state["learning_rate"]),
            "momentums": len(state["momentums"]),
        }
        for i, m in enumerate(state["momentums"]):
            arrays[f"momentums/{i:03d}"] = m
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


# -- loading -----------------------------------------------------------------------------


def load_weights(model: Any, filepath: Any) -> None:
    """Restore :func:`save_weights`'s file (or Keras's ``.weights.h5``) into ``model``:
    weights, then the optimizer state (now if compiled, else at ``compile``).

    A file that is not of the expected format raises ``ValueError`` naming
    ``filepath``; pickled data is never loaded.  A missing file raises
    ``FileNotFoundError``.
    """
    path = check_filepath(filepath)
    keras_format = path.endswith(KERAS_SUFFIX)
    h5py = _h5py(path) if keras_format else None
    with open(path, "rb") as f:  # OSError (missing file, directory) as is
        raw = f.read()
    if h5py is not None:
        weights, opt_values = read_keras_file(h5py, raw, path, model.layers)
        raw_state = None if opt_values is None else _keras_optimizer_state(opt_values, path)
        names = [
            f"dataset '{group}/vars/{i}'"
            for layer, group in zip(model.layers, keras_layer_paths(model.layers), strict=True)
            for i in range(len(layer.weights))
        ]
    else:
        meta, weights, momentums = read_refimpl_file(raw, path)
        raw_state = None
        opt_meta = meta.get("optimizer")
        if opt_meta is not None:
            raw_state = {"iterations": opt_meta.get("iterations"), "momentums": momentums}
            if opt_meta.get("learning_rate") is not None:
                raw_state["learning_rate"] = opt_meta["learning_rate"]
        names = [f"array 'weights/{i:03d}'" for i in range(len(weights))]
    if not model.built:
        first = tuple(weights[0].shape) if weights else ()
        raise ValueError(
            f"Model {model.name!r} must be built (give input_shape) before load_weights; "
            f"the file's first weight array has shape {first}. Received: filepath={path!r}"
        )
    prefix = f"Argument `filepath` holds weights that do not fit model {model.name!r}: "
    try:
        checked = model._checked_weights(
            weights, prefix, names.__getitem__, f"Received: filepath={path!r}"
        )
    except TypeError as exc:  # a dtype in the file: a bad value of `filepath`
        raise ValueError(str(exc)) from exc
    state = None
    if raw_state is not None:
        from refimpl.optimizers.sgd import SGD

        try:
            state = SGD.check_state(raw_state, model._variables())
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Argument `filepath` holds an optimizer state that does not fit model "
                f"{model.name!r} ({exc}). Received: filepath={path!r}"
            ) from exc
    # Everything is checked: from here on nothing can fail half-way.
    model._write_weights(checked)
    if state is None:
        return
    if model.optimizer is not None:
        model.optimizer.set_state(state, model._variables())
    else:
        model._pending_optimizer_state = state


def _keras_optimizer_state(values: list[np.ndarray], path: str) -> dict[str, Any]:
    """``optimizer/vars`` of a Keras file as an SGD state: iterations, then a scalar
    learning rate if present, then the momentums."""
    iterations = values[0]
    if iterations.shape != () or iterations.dtype.kind not in "iu":
        raise ValueError(
            f"Argument `filepath` holds an optimizer state whose first variable is not the "
            f"iteration count (dtype {iterations.dtype}, shape {iterations.shape}). "
            f"Received: filepath={path!r}"
        )
    state: dict[str, Any] = {"iterations": int(iterations)}
    rest = values[1:]
    if rest and rest[0].shape == ():
        state["learning_rate"] = rest[0][()]
        rest = rest[1:]
    state["momentums"] = rest
    return state


def read_keras_file(
    h5py: Any, raw: bytes, path: str, layers: list[Any]
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """The weight arrays for ``layers`` (in order) and the optimizer's variables (None
    if the file has none) of a Keras ``.weights.h5`` file's bytes; ``ValueError`` naming
    ``filepath`` if it is not one or its layers do not match."""

    def not_keras(why: str) -> ValueError:
        return ValueError(
            f"Argument `filepath` is not a Keras weights file for this model: {why}. "
            f"Received: filepath={path!r}"
        )

    try:
        f = h5py.File(io.BytesIO(raw), "r")
    except (OSError, ValueError) as exc:
        raise not_keras("it is not an HDF5 file" if raw else "the file is empty") from exc
    with f:
        groups = keras_layer_paths(layers)
        if "layers" not in f:
            raise not_keras("it has no 'layers' group")
        weights: list[np.ndarray] = []
        for layer, group in zip(layers, groups, strict=True):
            if f"{group}/vars" not in f:
                raise not_keras(
                    f"it has no group {group!r} for layer {layer.name!r} "
                    f"(it has {sorted(f['layers'])})"
                )
            arrays = _numbered(f[f"{group}/vars"], not_keras, f"{group}/vars")
            if len(arrays) != len(layer.weights):
                raise not_keras(
                    f"{group!r} holds {len(arrays)} variables; layer {layer.name!r} has "
                    f"{len(layer.weights)}"
                )
            weights += arrays
        known = {g.removeprefix("layers/") for g in groups}
        for name in sorted(set(f["layers"]) - known):
            extra = f["layers"][name]
            if "vars" in extra and len(extra["vars"]):
                raise not_keras(f"it has variables for a layer this model lacks ({name!r})")
        opt = None
        if "optimizer/vars" in f and len(f["optimizer/vars"]):
            opt = _numbered(f["optimizer/vars"], not_keras, "optimizer/vars")
    return weights, opt


def _numbered(group: Any, error: Any, where: str) -> list[np.ndarray]:
    keys = sorted(group.keys(), key=lambda k: (len(k), k))
    if keys != [str(i) for i in range(len(keys))]:
        raise error(f"{where!r} holds entries {keys}, not 0, 1, ...")
    out = []
    for k in keys:
        item = group[k]
        if not hasattr(item, "dtype"):
            raise error(f"{where}/{k} is not a dataset")
        arr = np.asarray(item[()])
        if arr.dtype.kind not in "biuf":
            raise error(f"{where}/{k} holds dtype {arr.dtype}")
        out.append(arr)
    return out


def read_refimpl_file(
    raw: bytes, path: str
) -> tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]]:
    """The meta dict, weight arrays and momentum arrays of a refimpl ``.npz`` weights
    file's bytes; ``ValueError`` naming ``filepath`` for anything else (never
    unpickles)."""

    def not_ours(why: str) -> ValueError:
        return ValueError(
            f"Argument `filepath` is not a refimpl weights file (written by "
            f"Sequential.save_weights): {why}. Received: filepath={path!r}"
        )

    unreadable = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except unreadable as exc:
        if not raw:
            why = "the file is empty"
        elif raw.startswith(b"PK"):
            why = f"a damaged or truncated zip archive ({exc})"
        elif raw.startswith(b"\x89HDF"):
            why = f"an HDF5 file (Keras's weights files end in {KERAS_SUFFIX!r})"
        else:
            why = "it is not a NumPy .npz archive"
        raise not_ours(why) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise not_ours("it holds a single NumPy array (.npy), not an .npz archive")
    with archive:
        names = set(archive.files)
        if "meta" not in names:
            raise not_ours("an .npz archive without refimpl's 'meta' entry")
        n_w = sum(1 for n in names if n.startswith("weights/"))
        n_m = sum(1 for n in names if n.startswith("momentums/"))
        expected = (
            {"meta"}
            | {f"weights/{i:03d}" for i in range(n_w)}
            | {f"momentums/{i:03d}" for i in range(n_m)}
        )
        if names != expected:
            raise not_ours(
                f"misnumbered or unexpected entries: missing {sorted(expected - names)}, "
                f"unexpected {sorted(names - expected)}"
            )
        arrays: dict[str, np.ndarray] = {}
        for name in sorted(names):
            try:
                arrays[name] = archive[name]
            except unreadable as exc:
                raise not_ours(f"its entry {name!r} cannot be read ({exc})") from exc
    meta_bytes = arrays.pop("meta")
    try:
        if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
            raise ValueError(f"dtype {meta_bytes.dtype}, shape {meta_bytes.shape}")
        meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    except ValueError as exc:
        raise not_ours(f"its 'meta' entry is not refimpl's JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != "refimpl-weights":
        raise not_ours("its 'meta' entry does not say format 'refimpl-weights'")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"Argument `filepath` is a refimpl weights file of format version "
            f"{meta.get('version')!r}; this refimpl reads version {FORMAT_VERSION}. "
            f"Received: filepath={path!r}"
        )
    opt_meta = meta.get("optimizer")
    if opt_meta is not None and (
        not isinstance(opt_meta, dict) or opt_meta.get("momentums") != n_m
    ):
        raise not_ours(f"its optimizer entry {opt_meta!r} does not match its {n_m} momentum arrays")
    weights = [arrays[f"weights/{i:03d}"] for i in range(n_w)]
    momentums = [arrays[f"momentums/{i:03d}"] for i in range(n_m)]
    return meta, weights, momentums
