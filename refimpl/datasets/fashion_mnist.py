"""Fashion-MNIST, loaded exactly as ``keras.datasets.fashion_mnist.load_data()`` returns it.

60,000 training and 10,000 test images of 28 x 28 grey pixels (uint8, 0 = background),
each labelled with one of ten classes (uint8 0-9, see :data:`CLASS_NAMES`), Zalando
Research, MIT licence.  :func:`load_data` reads the four IDX files (see
:mod:`refimpl.datasets._idx`), each plain or gzip-compressed, from the first of these
places that holds them:

1. the ``path`` argument;
2. the directory in the environment variable ``FASHION_MNIST_DIR``;
3. Keras's cache, ``$KERAS_HOME/datasets/fashion-mnist`` (``~/.keras/...`` when
   ``KERAS_HOME`` is unset), the directory ``keras.datasets.fashion_mnist`` downloads to;
4. ``/usr/share/datasets/fashion-mnist``, installed by Debian's ``dataset-fashion-mnist``.

A ``path`` or ``FASHION_MNIST_DIR`` that does not exist or lacks a file is an error (it
is not skipped: a typo should not silently trigger a 30 MB download).  When no place has
the files, they are downloaded from Keras's mirror into Keras's cache -- each to a
temporary name, checked against its SHA-256, then renamed, so an interrupted or corrupt
download leaves nothing behind -- and when that fails too (no network) a
:class:`FileNotFoundError` lists where it looked and the one-line fix.

The SHA-256 values in :data:`SHA256` are of the *decompressed* IDX files.  They were
computed from Debian's files and agree with those published for the upstream
(Zalando) archives; the compressed ``.gz`` files differ between Debian and the Keras
mirror (Debian's gzip headers carry no file name, so each is 23-24 bytes shorter:
26,421,856 vs 26,421,880 bytes for the training images), so hashing them would reject
one or the other.

>>> import os, tempfile
>>> import numpy as np
>>> from refimpl.datasets._idx import write_idx
>>> tmp = tempfile.TemporaryDirectory()
>>> for split, n in (("train", 3), ("t10k", 2)):
...     base = os.path.join(tmp.name, split)
...     write_idx(base + "-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
...     write_idx(base + "-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))
>>> (x_train, y_train), (x_test, y_test) = load_data(tmp.name)
>>> x_train.shape, x_train.dtype, y_train
((3, 28, 28), dtype('uint8'), array([0, 1, 2], dtype=uint8))
>>> x_test.shape, y_test
((2, 28, 28), array([0, 1], dtype=uint8))
>>> tmp.cleanup()
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from refimpl._atomic import temp_name
from refimpl.datasets._idx import read_idx

__all__ = [
    "BASE_URL",
    "CLASS_NAMES",
    "DEBIAN_DIR",
    "ENV_VAR",
    "FILES",
    "SHA256",
    "keras_cache_dir",
    "load_data",
    "locate",
]

#: Keras's mirror (``keras/src/datasets/fashion_mnist.py``); the files are ``FILES[i] + ".gz"``.
BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

#: The four IDX files, without the optional ``.gz`` suffix.
FILES: tuple[str, str, str, str] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: SHA-256 of each *decompressed* file: computed with ``zcat FILE.gz | sha256sum`` from
#: Debian's ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1, and equal to the values
#: published for the upstream Zalando archives (whose gzip MD5s are in Zalando's README).
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Where Debian's ``dataset-fashion-mnist`` installs the four ``.gz`` files.
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

#: Environment variable naming a directory that holds the four files.
ENV_VAR = "FASHION_MNIST_DIR"

#: Label -> class name, as in the Keras and Zalando documentation.
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FIX = (
    "Fix: `sudo apt-get install dataset-fashion-mnist`, "
    f"or set {ENV_VAR} to a directory holding the four files."
)
_DOWNLOAD_TIMEOUT = 60.0

Split = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]


class _NotThere(Exception):
    """A candidate directory lacks the files; the message says how."""


def keras_cache_dir() -> str:
    """Keras's download directory for Fashion-MNIST, chosen as Keras 3 chooses it.

    ``$KERAS_HOME`` if set, else ``~/.keras`` (``/tmp/.keras`` when the home directory
    is not writable); an existing base that is not writable is replaced by
    ``/tmp/.keras`` (``keras.utils.get_file``); then ``datasets/fashion-mnist``.

    >>> import os
    >>> os.environ.get("KERAS_HOME") or keras_cache_dir().endswith(
    ...     os.path.join(".keras", "datasets", "fashion-mnist"))
    True
    """
    if "KERAS_HOME" in os.environ:
        base = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(base)
    if os.path.exists(base) and not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, "datasets", "fashion-mnist")


def _files_in(directory: str) -> dict[str, str]:
    """Map each of :data:`FILES` to its path in ``directory`` (plain preferred to ``.gz``).

    Raises :class:`_NotThere` saying what is missing.
    """
    if not os.path.exists(directory):
        raise _NotThere("does not exist")
    if not os.path.isdir(directory):
        raise _NotThere("is not a directory")
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in FILES:
        for candidate in (name, name + ".gz"):
            full = os.path.join(directory, candidate)
            if os.path.isfile(full):
                found[name] = full
                break
        else:
            missing.append(name + "[.gz]")
    if missing:
        raise _NotThere(f"lacks {', '.join(missing)}")
    return found


def _download(url: str, dest: str) -> None:
    """Save ``url`` to the file ``dest``; raise :class:`OSError` when that fails.

    Module-level so tests (and users behind a proxy) can replace it.
    """
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as response, open(dest, "wb") as f:
        while chunk := response.read(1 << 20):
            f.write(chunk)


def _sha256_of_content(path: str) -> str:
    """SHA-256 of the file's decompressed content, streamed (no copy in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        with stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _fetch(cache: str) -> dict[str, str]:
    """Download the files missing from ``cache`` into it; return all four paths.

    Raises :class:`OSError` when the network or the cache directory fails, and
    :class:`ValueError` when a download does not match :data:`SHA256`.  Either way no
    partial file is left in ``cache``.
    """
    os.makedirs(cache, exist_ok=True)
    paths: dict[str, str] = {}
    for name in FILES:
        for candidate in (name, name + ".gz"):
            if os.path.isfile(os.path.join(cache, candidate)):
                paths[name] = os.path.join(cache, candidate)
                break
        else:
            final = os.path.join(cache, name + ".gz")
            url = BASE_URL + name + ".gz"
            tmp = temp_name(final)
            try:
                _download(url, tmp)
                try:
                    actual = _sha256_of_content(tmp)
                except (OSError, EOFError, ValueError, zlib.error) as exc:
                    raise ValueError(f"download of {url} is not valid gzip data: {exc}") from exc
                if actual != SHA256[name]:
                    raise ValueError(
                        f"download of {url} failed verification: SHA-256 of its content is "
                        f"{actual}, expected {SHA256[name]}; nothing was kept in {cache}"
                    )
                os.replace(tmp, final)
            finally:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
            paths[name] = final
    return paths


def _resolve(path: str | os.PathLike[str] | None, *, download: bool) -> dict[str, str]:
    """Find (or fetch) the four files following the search order in the module docstring."""
    if path is not None:
        directory = os.path.expanduser(os.fspath(path))
        try:
            return _files_in(directory)
        except _NotThere as exc:
            raise FileNotFoundError(
                f"Fashion-MNIST directory {directory} (the `path` argument) {exc}"
            ) from None
    env = os.environ.get(ENV_VAR, "")
    if env:
        directory = os.path.expanduser(env)
        try:
            return _files_in(directory)
        except _NotThere as exc:
            raise FileNotFoundError(
                f"Fashion-MNIST directory {directory} (from ${ENV_VAR}) {exc}. "
                f"Unset {ENV_VAR} to use the Keras cache or the Debian package."
            ) from None
    cache = keras_cache_dir()
    looked: list[str] = [f"${ENV_VAR}: not set"]
    for label, directory in (("Keras cache", cache), ("Debian dataset-fashion-mnist", DEBIAN_DIR)):
        try:
            return _files_in(directory)
        except _NotThere as exc:
            looked.append(f"{label}: {directory} {exc}")
    if download:
        try:
            return _fetch(cache)
        except OSError as exc:
            looked.append(f"download from {BASE_URL} into {cache} failed: {exc}")
    else:
        looked.append("download: not attempted (download=False)")
    raise FileNotFoundError(
        "Fashion-MNIST not found. Looked in:\n  - " + "\n  - ".join(looked) + f"\n{_FIX}"
    )


def locate(path: str | os.PathLike[str] | None = None, *, download: bool = True) -> str:
    """The directory :func:`load_data` reads from, downloading into it if needed.

    Raises the same errors as :func:`load_data` for missing data (not for bad files).
    With ``download=False`` a missing dataset raises :class:`FileNotFoundError` at once.
    """
    return os.path.dirname(_resolve(path, download=download)[FILES[0]])


def _check_split(
    split: str,
    images: npt.NDArray[np.generic],
    labels: npt.NDArray[np.generic],
    paths: Sequence[str],
) -> None:
    image_path, label_path = paths
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{image_path}: expected uint8 images of shape (n, 28, 28), "
            f"got {images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{label_path}: expected uint8 labels of shape (n,), "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{split} set: {image_path} has {len(images)} images but "
            f"{label_path} has {len(labels)} labels"
        )
    if labels.size and int(labels.max()) >= len(CLASS_NAMES):
        raise ValueError(
            f"{label_path}: label {int(labels.max())} out of range 0-{len(CLASS_NAMES) - 1}"
        )


def load_data(
    path: str | os.PathLike[str] | None = None,
) -> tuple[Split, Split]:
    """Load Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``.

    The same arrays as ``keras.datasets.fashion_mnist.load_data()``: uint8 images of
    shape ``(60000, 28, 28)`` and ``(10000, 28, 28)``, uint8 labels 0-9 of shape
    ``(60000,)`` and ``(10000,)`` (6,000 and 1,000 per class).  Unlike Keras's, the
    arrays are writeable.

    Args:
        path: A directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally
            ending in ``.gz``.  ``None`` searches the places listed in the module
            docstring, downloading when none has them.

    Raises:
        FileNotFoundError: ``path`` (or ``$FASHION_MNIST_DIR``) does not exist or lacks
            a file; or, with neither set, no place has the data and it cannot be
            downloaded.  The message lists where it looked and how to fix it.
        ValueError: a file is truncated, corrupted, not IDX, has the wrong shape or
            dtype, labels out of 0-9, or image and label counts disagree; the message
            names the file.
    """
    files = _resolve(path, download=True)
    splits: list[Split] = []
    for split, prefix in (("training", "train"), ("test", "t10k")):
        image_path = files[f"{prefix}-images-idx3-ubyte"]
        label_path = files[f"{prefix}-labels-idx1-ubyte"]
        labels = read_idx(label_path)
        images = read_idx(image_path)
        _check_split(split, images, labels, (image_path, label_path))
        splits.append((images, labels))
    return splits[0], splits[1]
