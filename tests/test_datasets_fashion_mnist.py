"""refimpl.datasets.fashion_mnist: search order, download fallback, errors, real data.

No test touches the network: an autouse fixture replaces the downloader with one that
fails, points Keras's cache and the Debian directory at empty temporary places and
clears ``$FASHION_MNIST_DIR``; tests that need a download install their own fake.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refimpl.datasets import fashion_mnist as fm
from refimpl.datasets._idx import write_idx

REAL_DIR = "/usr/share/datasets/fashion-mnist"
_REAL_DOWNLOAD = fm._download
_ORIGINAL_ENV = {k: os.environ.get(k) for k in ("KERAS_HOME", "HOME", fm.ENV_VAR)}


def make_dataset(
    directory: Path,
    *,
    tag: int = 0,
    n_train: int = 4,
    n_test: int = 3,
    gz: bool | tuple[bool, bool, bool, bool] = True,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write a tiny Fashion-MNIST-shaped dataset; labels start at ``tag`` (mod 10)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": ((np.arange(n_train) + tag) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(n_test) + tag) % 10).astype(np.uint8),
    }
    flags = gz if isinstance(gz, tuple) else (gz,) * 4
    for (name, array), compress in zip(arrays.items(), flags, strict=True):
        write_idx(directory / (name + (".gz" if compress else "")), array)
    return arrays


def first_label(data) -> int:
    (_, y_train), _ = data
    return int(y_train[0])


class NetworkDisabled(OSError):
    pass


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Empty Keras cache and Debian dir, no env dir, and a downloader that fails."""
    monkeypatch.delenv(fm.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(fm, "DEBIAN_DIR", str(tmp_path / "debian"))
    calls: list[tuple[str, str]] = []

    def no_network(url, dest):
        calls.append((url, dest))
        raise NetworkDisabled("network disabled in tests")

    monkeypatch.setattr(fm, "_download", no_network)
    return calls


def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "keras-home" / "datasets" / "fashion-mnist"


# --- loading ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gz", [True, False, (True, False, False, True)], ids=["gzip", "plain", "mixed"]
)
def test_load_from_path_returns_keras_layout(tmp_path, gz):
    arrays = make_dataset(tmp_path / "d", gz=gz)
    (x_train, y_train), (x_test, y_test) = fm.load_data(tmp_path / "d")
    for got, name in [
        (x_train, "train-images-idx3-ubyte"),
        (y_train, "train-labels-idx1-ubyte"),
        (x_test, "t10k-images-idx3-ubyte"),
        (y_test, "t10k-labels-idx1-ubyte"),
    ]:
        assert got.dtype == np.uint8
        assert got.flags.c_contiguous
        assert got.flags.writeable
        np.testing.assert_array_equal(got, arrays[name])
    assert x_train.shape == (4, 28, 28)
    assert y_train.shape == (4,)
    assert x_test.shape == (3, 28, 28)
    assert y_test.shape == (3,)


def test_plain_file_preferred_when_both_forms_exist(tmp_path):
    make_dataset(tmp_path / "d", tag=1, gz=True)
    make_dataset(tmp_path / "d", tag=5, gz=False)
    assert first_label(fm.load_data(tmp_path / "d")) == 5


def test_path_accepts_str_and_tilde(tmp_path, monkeypatch):
    make_dataset(tmp_path / "home" / "fm", tag=2)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert first_label(fm.load_data("~/fm")) == 2
    assert first_label(fm.load_data(str(tmp_path / "home" / "fm"))) == 2


# --- search order ----------------------------------------------------------------------


def test_search_order(tmp_path, monkeypatch, isolated):
    make_dataset(tmp_path / "arg", tag=1)
    make_dataset(tmp_path / "env", tag=2)
    make_dataset(cache_dir(tmp_path), tag=3)
    make_dataset(tmp_path / "debian", tag=4)
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path / "env"))

    assert first_label(fm.load_data(tmp_path / "arg")) == 1
    assert first_label(fm.load_data()) == 2
    assert fm.locate() == str(tmp_path / "env")
    monkeypatch.delenv(fm.ENV_VAR)
    assert first_label(fm.load_data()) == 3
    assert fm.locate() == str(cache_dir(tmp_path))
    shutil.rmtree(cache_dir(tmp_path))
    assert first_label(fm.load_data()) == 4
    assert fm.locate() == str(tmp_path / "debian")
    assert isolated == []  # never tried to download


def test_empty_env_var_is_ignored(tmp_path, monkeypatch):
    make_dataset(tmp_path / "debian", tag=4)
    monkeypatch.setenv(fm.ENV_VAR, "")
    assert first_label(fm.load_data()) == 4


def test_incomplete_keras_cache_falls_through_to_debian(tmp_path):
    make_dataset(cache_dir(tmp_path), tag=3)
    (cache_dir(tmp_path) / "t10k-labels-idx1-ubyte.gz").unlink()
    make_dataset(tmp_path / "debian", tag=4)
    assert first_label(fm.load_data()) == 4


def test_keras_cache_dir_follows_keras_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert fm.keras_cache_dir() == str(tmp_path / "kh" / "datasets" / "fashion-mnist")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", "~/k")
    assert fm.keras_cache_dir() == str(tmp_path / "home" / "k" / "datasets" / "fashion-mnist")
    monkeypatch.delenv("KERAS_HOME")
    (tmp_path / "home").mkdir()
    expected = tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist"
    assert fm.keras_cache_dir() == str(expected)

    # A base Keras cannot write to is replaced by /tmp/.keras (also when ~ is read-only).
    real_access = os.access
    read_only = {str(tmp_path / "home"), str(tmp_path / "home" / ".keras")}
    (tmp_path / "home" / ".keras").mkdir()
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) in read_only else real_access(p, mode)
    )
    assert fm.keras_cache_dir() == os.path.join("/tmp", ".keras", "datasets", "fashion-mnist")


def test_keras_home_layout_matches_keras_loader_source():
    """The base URL and file names are those of keras/src/datasets/fashion_mnist.py."""
    assert fm.BASE_URL == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    assert set(fm.FILES) == {
        "train-labels-idx1-ubyte",
        "train-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
    }
    assert set(fm.SHA256) == set(fm.FILES)


# --- explicit places that are wrong -----------------------------------------------------


def test_path_that_does_not_exist(tmp_path):
    make_dataset(tmp_path / "debian")  # present, but an explicit path is not skipped
    with pytest.raises(FileNotFoundError, match=r"/nope \(the `path` argument\) does not exist"):
        fm.load_data(tmp_path / "nope")


def test_path_that_is_a_file(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"/f \(the `path` argument\) is not a directory"):
        fm.load_data(tmp_path / "f")


def test_path_lacking_files_names_them(tmp_path):
    make_dataset(tmp_path / "d")
    (tmp_path / "d" / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "d" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        fm.load_data(tmp_path / "d")
    message = str(info.value)
    assert str(tmp_path / "d") in message
    assert "lacks train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]" in message


def test_env_dir_that_does_not_exist(tmp_path, monkeypatch, isolated):
    make_dataset(tmp_path / "debian")
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match=r"typo \(from \$FASHION_MNIST_DIR\) does not"):
        fm.load_data()
    assert isolated == []


# --- nothing anywhere: download ---------------------------------------------------------


def test_nothing_found_and_no_network_lists_places_and_fix(tmp_path, isolated):
    with pytest.raises(FileNotFoundError) as info:
        fm.load_data()
    message = str(info.value)
    assert "$FASHION_MNIST_DIR: not set" in message
    assert f"Keras cache: {cache_dir(tmp_path)} does not exist" in message
    assert f"Debian dataset-fashion-mnist: {tmp_path / 'debian'} does not exist" in message
    assert "network disabled in tests" in message
    assert fm.BASE_URL in message
    fix = message.splitlines()[-1]
    assert "apt-get install dataset-fashion-mnist" in fix
    assert "FASHION_MNIST_DIR" in fix
    assert [url for url, _ in isolated] == [fm.BASE_URL + fm.FILES[0] + ".gz"]
    assert list(cache_dir(tmp_path).iterdir()) == []  # nothing half-written


def test_locate_without_download_does_not_try(tmp_path, isolated):
    with pytest.raises(FileNotFoundError, match="not attempted"):
        fm.locate(download=False)
    assert isolated == []


def _serve_from(source: Path, calls: list[str]):
    def fake_download(url, dest):
        assert url.startswith(fm.BASE_URL)
        calls.append(url)
        shutil.copyfile(source / url[len(fm.BASE_URL) :], dest)

    return fake_download


def _content_hashes(directory: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256(gzip.decompress((directory / (name + ".gz")).read_bytes())).hexdigest()
        for name in fm.FILES
    }


def test_download_fallback_into_keras_cache(tmp_path, monkeypatch):
    arrays = make_dataset(tmp_path / "mirror", tag=7)
    monkeypatch.setattr(fm, "SHA256", _content_hashes(tmp_path / "mirror"))
    calls: list[str] = []
    monkeypatch.setattr(fm, "_download", _serve_from(tmp_path / "mirror", calls))

    (x_train, _), (_, y_test) = fm.load_data()
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert sorted(calls) == sorted(fm.BASE_URL + n + ".gz" for n in fm.FILES)
    assert sorted(os.listdir(cache_dir(tmp_path))) == sorted(n + ".gz" for n in fm.FILES)
    for name in fm.FILES:  # the cache holds the mirror's files byte for byte, as Keras would
        cached = (cache_dir(tmp_path) / (name + ".gz")).read_bytes()
        assert cached == (tmp_path / "mirror" / (name + ".gz")).read_bytes()

    fm.load_data()  # second call: found in the cache, not downloaded again
    assert len(calls) == 4


def test_download_only_fetches_missing_files(tmp_path, monkeypatch):
    make_dataset(tmp_path / "mirror", tag=7)
    make_dataset(cache_dir(tmp_path), tag=7)
    (cache_dir(tmp_path) / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setattr(fm, "SHA256", _content_hashes(tmp_path / "mirror"))
    calls: list[str] = []
    monkeypatch.setattr(fm, "_download", _serve_from(tmp_path / "mirror", calls))
    assert first_label(fm.load_data()) == 7
    assert calls == [fm.BASE_URL + "train-images-idx3-ubyte.gz"]


def test_download_with_wrong_hash_is_rejected_and_removed(tmp_path, monkeypatch):
    make_dataset(tmp_path / "mirror", tag=7)
    hashes = _content_hashes(tmp_path / "mirror")
    hashes["train-labels-idx1-ubyte"] = "0" * 64
    monkeypatch.setattr(fm, "SHA256", hashes)
    monkeypatch.setattr(fm, "_download", _serve_from(tmp_path / "mirror", []))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz failed verification"):
        fm.load_data()
    assert "train-labels-idx1-ubyte.gz" not in os.listdir(cache_dir(tmp_path))
    assert not [n for n in os.listdir(cache_dir(tmp_path)) if n.startswith(".")]


def test_download_of_garbage_is_rejected_and_removed(tmp_path, monkeypatch):
    def html_error_page(url, dest):
        Path(dest).write_bytes(b"\x1f\x8b<html>Service Unavailable</html>")

    monkeypatch.setattr(fm, "_download", html_error_page)
    with pytest.raises(ValueError, match="is not valid gzip data"):
        fm.load_data()
    assert os.listdir(cache_dir(tmp_path)) == []


@pytest.mark.parametrize("error", [NetworkDisabled("connection reset"), KeyboardInterrupt()])
def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch, error):
    def half_then_fail(url, dest):
        Path(dest).write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
        raise error

    monkeypatch.setattr(fm, "_download", half_then_fail)
    with pytest.raises(FileNotFoundError if isinstance(error, OSError) else KeyboardInterrupt):
        fm.load_data()
    assert os.listdir(cache_dir(tmp_path)) == []


def test_unwritable_cache_is_reported(tmp_path, monkeypatch):
    # KERAS_HOME is a file, so the cache directory cannot be created.
    (tmp_path / "file").write_bytes(b"")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "file"))
    with pytest.raises(FileNotFoundError, match=r"download from .* failed"):
        fm.load_data()


# --- bad files in a dataset -------------------------------------------------------------


def test_train_count_mismatch_names_both_files(tmp_path):
    make_dataset(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=r"training set: .*train-images.* has 4 images but "):
        fm.load_data(tmp_path / "d")


def test_test_count_mismatch(tmp_path):
    make_dataset(tmp_path / "d")
    write_idx(tmp_path / "d" / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"test set: .*t10k-images.* has 5 images but .* 3 labels"):
        fm.load_data(tmp_path / "d")


@pytest.mark.parametrize(
    ("name", "array", "message"),
    [
        ("train-images-idx3-ubyte", np.zeros((4, 27, 28), np.uint8), r"shape \(n, 28, 28\)"),
        ("train-images-idx3-ubyte", np.zeros((4, 784), np.uint8), r"shape \(n, 28, 28\)"),
        ("t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.int16), r"got int16"),
        ("train-labels-idx1-ubyte", np.zeros((4, 1), np.uint8), r"labels of shape \(n,\)"),
        ("t10k-labels-idx1-ubyte", np.array([0, 10, 1], np.uint8), r"label 10 out of range 0-9"),
    ],
)
def test_wrong_shape_dtype_or_labels(tmp_path, name, array, message):
    make_dataset(tmp_path / "d")
    write_idx(tmp_path / "d" / (name + ".gz"), array)
    with pytest.raises(ValueError, match=message) as info:
        fm.load_data(tmp_path / "d")
    assert name in str(info.value)


def test_truncated_file_in_dataset_names_it(tmp_path):
    make_dataset(tmp_path / "d", gz=False)
    path = tmp_path / "d" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: truncated"):
        fm.load_data(tmp_path / "d")


def test_corrupted_gzip_in_dataset_names_it(tmp_path):
    make_dataset(tmp_path / "d")
    path = tmp_path / "d" / "train-images-idx3-ubyte.gz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: corrupted gzip"):
        fm.load_data(tmp_path / "d")


def test_wrong_magic_in_dataset_names_it(tmp_path):
    make_dataset(tmp_path / "d", gz=False)
    (tmp_path / "d" / "train-labels-idx1-ubyte").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: wrong magic number"):
        fm.load_data(tmp_path / "d")


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, refimpl.datasets, refimpl.datasets.fashion_mnist\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tensorflow', 'keras', 'tf_keras', 'torch', 'jax'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the real data ----------------------------------------------------------------------

needs_real_data = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(REAL_DIR, n + ".gz")) for n in fm.FILES),
    reason=f"Fashion-MNIST not in {REAL_DIR}: `sudo apt-get install dataset-fashion-mnist`",
)


@pytest.fixture(scope="module")
def real_data():
    return fm.load_data(REAL_DIR)


@pytest.mark.realdata
@needs_real_data
def test_real_data_shapes_dtypes_and_class_balance(real_data):
    (x_train, y_train), (x_test, y_test) = real_data
    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # ankle boot first
    assert x_train.min() == 0
    assert x_train.max() == 255


@pytest.mark.realdata
@needs_real_data
def test_real_files_match_the_published_sha256():
    for name in fm.FILES:
        content = gzip.decompress(Path(REAL_DIR, name + ".gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == fm.SHA256[name], name


@pytest.mark.realdata
@needs_real_data
def test_real_download_path_verifies_real_hashes(tmp_path, monkeypatch, real_data):
    """The fallback with the real hashes, served from the Debian files instead of the web."""
    calls: list[str] = []
    monkeypatch.setattr(fm, "_download", _serve_from(Path(REAL_DIR), calls))
    data = fm.load_data()
    assert len(calls) == 4
    for got, want in zip([*data[0], *data[1]], [*real_data[0], *real_data[1]], strict=True):
        np.testing.assert_array_equal(got, want)


def _restore_real_keras_env(monkeypatch) -> None:
    for key, value in _ORIGINAL_ENV.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


@pytest.mark.tf
@pytest.mark.realdata
def test_equals_keras_loader_when_keras_cache_has_the_files(monkeypatch):
    _restore_real_keras_env(monkeypatch)
    cache = fm.keras_cache_dir()
    if not all(os.path.isfile(os.path.join(cache, n + ".gz")) for n in fm.FILES):
        pytest.skip(f"Keras's cache {cache} lacks the files and tests never download")
    keras = pytest.importorskip("keras")
    from keras.src.datasets import fashion_mnist as keras_fm

    real_get_file = keras_fm.get_file

    def get_file_no_download(fname, origin, cache_subdir):
        path = os.path.join(keras.src.backend.config.keras_home(), cache_subdir, fname)
        if not os.path.isfile(path):
            pytest.skip(f"Keras would download {origin}: its cache is not {cache}")
        return real_get_file(fname, origin=origin, cache_subdir=cache_subdir)

    monkeypatch.setattr(keras_fm, "get_file", get_file_no_download)
    ours = fm.load_data(cache)
    theirs = keras.datasets.fashion_mnist.load_data()
    for got, want in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]], strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.tf
@pytest.mark.realdata
@needs_real_data
def test_equals_keras_parsing_of_the_debian_files(monkeypatch, real_data):
    """Keras's own loader code, with its get_file pointed at the Debian files (no download)."""
    pytest.importorskip("keras")
    from keras.src.datasets import fashion_mnist as keras_fm

    def get_file_debian(fname, origin, cache_subdir):
        assert origin == fm.BASE_URL + fname  # the mirror and names we download from
        return os.path.join(REAL_DIR, fname)

    monkeypatch.setattr(keras_fm, "get_file", get_file_debian)
    theirs = keras_fm.load_data()
    for got, want in zip([*real_data[0], *real_data[1]], [*theirs[0], *theirs[1]], strict=True):
        assert got.dtype == want.dtype
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_default_downloader_streams_a_url_to_a_file(tmp_path):
    """The real ``_download``, exercised on file:// URLs (no network)."""
    source = tmp_path / "src.bin"
    source.write_bytes(bytes(range(256)) * 5000)
    _REAL_DOWNLOAD(source.as_uri(), str(tmp_path / "dest"))
    assert (tmp_path / "dest").read_bytes() == source.read_bytes()
    with pytest.raises(OSError, match="missing"):  # urllib's URLError is an OSError
        _REAL_DOWNLOAD((tmp_path / "missing").as_uri(), str(tmp_path / "dest2"))
