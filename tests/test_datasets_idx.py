"""refimpl.datasets._idx: IDX round trips (plain and gzip) and every malformed-file error."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refimpl.datasets._idx import IDX_DTYPES, read_idx, write_idx

NATIVE_DTYPES = [d.newbyteorder("=") for d in IDX_DTYPES.values()]


def _dtypes() -> st.SearchStrategy[np.dtype]:
    """Every IDX dtype, in native, little- and big-endian spelling."""
    return st.sampled_from(NATIVE_DTYPES).flatmap(
        lambda d: st.sampled_from([d, d.newbyteorder("<"), d.newbyteorder(">")])
    )


@settings(max_examples=60, deadline=None)
@given(
    array=_dtypes().flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    ),
    compress=st.booleans(),
    suffix=st.sampled_from(["", ".gz"]),
)
def test_round_trip(tmp_path_factory, array, compress, suffix):
    path = tmp_path_factory.mktemp("rt") / f"data-idx{array.ndim}{suffix}"
    write_idx(path, array, compress=compress)
    out = read_idx(path)
    assert out.shape == array.shape
    assert out.dtype == array.dtype.newbyteorder("=")
    assert out.dtype.isnative
    assert out.flags.writeable
    assert out.flags.c_contiguous
    # Bitwise equality: NaN payloads and -0.0 survive.
    assert out.tobytes() == np.ascontiguousarray(array, dtype=out.dtype).tobytes()
    # Nothing but the file itself is left in the directory.
    assert os.listdir(path.parent) == [path.name]


def test_header_bytes_are_big_endian(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.zeros((60000, 1, 1), np.uint8))
    head = path.read_bytes()[:16]
    assert head.hex(" ") == "00 00 08 03 00 00 ea 60 00 00 00 01 00 00 00 01"
    write_idx(path, np.array([1.5, -2.0], dtype="<f8"))
    raw = path.read_bytes()
    assert raw[:8] == bytes([0, 0, 0x0E, 1, 0, 0, 0, 2])
    assert raw[8:] == np.array([1.5, -2.0], dtype=">f8").tobytes()


def test_compress_none_follows_suffix_and_output_is_reproducible(tmp_path):
    a = np.arange(100, dtype=np.uint8).reshape(10, 10)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    write_idx(tmp_path / "c", a)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert (tmp_path / "c").read_bytes()[:2] == b"\x00\x00"
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == (tmp_path / "c").read_bytes()


def test_gzip_recognised_by_magic_without_suffix(tmp_path):
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    write_idx(tmp_path / "noext", a, compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "noext"), a)


def test_plain_file_can_be_read_as_str_path(tmp_path):
    a = np.arange(5, dtype=np.int8) - 2
    write_idx(str(tmp_path / "p"), a)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "p")), a)


def test_overwrite_replaces_atomically_and_keeps_mode(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")
    reference = tmp_path / "ref"
    reference.write_bytes(b"")
    write_idx(path, np.ones(3, np.uint8))
    assert read_idx(path).tolist() == [1, 1, 1]
    # The temporary file honours the umask like open() does (mkstemp would give 0o600).
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
    assert sorted(os.listdir(tmp_path)) == ["f", "ref"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f.gz"
    write_idx(path, np.ones(3, np.uint8))
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_idx(path, np.zeros(1000, np.uint8))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["f.gz"]


@pytest.mark.parametrize("dtype", ["int64", "uint16", "bool", "complex64", "float16", "U3"])
def test_write_rejects_dtypes_without_idx_code(tmp_path, dtype):
    with pytest.raises(ValueError, match="IDX has no type code"):
        write_idx(tmp_path / "x", np.zeros(2, dtype=dtype))
    assert os.listdir(tmp_path) == []


def test_write_rejects_dimension_beyond_int32(tmp_path):
    huge = np.broadcast_to(np.uint8(0), (2**31,))  # zero strides: no 2 GB allocation
    with pytest.raises(ValueError, match="int32"):
        write_idx(tmp_path / "x", huge)
    assert os.listdir(tmp_path) == []


# --- malformed files -------------------------------------------------------------------

GOOD = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))


def _write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"truncated: .* has 0 bytes, less than the 4-byte IDX magic"),
        (b"\x00\x00\x08", r"truncated: .* has 3 bytes, less than the 4-byte IDX magic"),
        (GOOD[:9], r"truncated: the header declares 2 dimensions \(8 bytes\) but only 5"),
        (GOOD[:-1], r"truncated: the header declares 2 x 3 \(6 bytes of payload\) .* only 5"),
        (GOOD[:12], r"truncated: the header declares 2 x 3 \(6 bytes of payload\) .* only 0"),
        (GOOD + b"\x07\x07", r"2 extra bytes after the payload: the header declares 2 x 3"),
        (b"PK\x03\x04" + GOOD[4:], r"wrong magic number 50 4b 03 04"),
        (b"\x01\x00" + GOOD[2:], r"wrong magic number 01 00 08 02"),
        (b"\x00\x00\x0a\x02" + GOOD[4:], r"unknown IDX data type code 0x0A"),
        (bytes([0, 0, 8, 1, 0xFF, 0xFF, 0xFF, 0xFE]), r"negative dimension .*\(-2,\)"),
        (bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1]), r"declares 2 \(8 bytes of payload\)"),
    ],
)
def test_malformed_idx_raises_value_error_naming_file(tmp_path, data, message, gz):
    path = _write(tmp_path / ("bad.gz" if gz else "bad"), data, gz=gz)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(info.value).startswith(f"{path}: ")


def test_plain_idx_named_gz_is_read(tmp_path):
    # Content is recognised by its magic bytes, not by the name: a .gz that a browser or
    # proxy decompressed on the way still reads.
    path = _write(tmp_path / "x-idx2-ubyte.gz", GOOD)
    assert read_idx(path).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_bad_gzip_header(tmp_path):
    blob = bytearray(gzip.compress(GOOD, mtime=0))
    blob[2] = 9  # compression method: only 8 (deflate) exists
    path = _write(tmp_path / "x-idx2-ubyte.gz", bytes(blob))
    with pytest.raises(ValueError, match=r"x-idx2-ubyte\.gz: corrupted gzip data .*compression"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    data = bytes([0, 0, 8, 1, 0, 0, 0x03, 0xF2]) + bytes(range(6)) + bytes(1000)
    blob = gzip.compress(data, mtime=0)
    path = _write(tmp_path / "t.gz", blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"t\.gz: corrupted gzip data \(damaged or partly"):
        read_idx(path)
    # Only the 8-byte trailer (CRC, size) missing: still caught.
    path = _write(tmp_path / "t.gz", blob[:-8])
    with pytest.raises(ValueError, match=r"t\.gz: corrupted gzip data"):
        read_idx(path)


def test_corrupted_gzip_crc(tmp_path):
    blob = bytearray(gzip.compress(GOOD, mtime=0))
    blob[-8] ^= 0xFF  # the CRC-32 of the content
    path = _write(tmp_path / "c.gz", bytes(blob))
    with pytest.raises(ValueError, match=r"c\.gz: corrupted gzip data .*CRC"):
        read_idx(path)


def test_corrupted_deflate_stream(tmp_path):
    rng = np.random.default_rng(0)
    payload = rng.integers(0, 4, size=5000, dtype=np.uint8)
    write_idx(tmp_path / "d.gz", payload)
    blob = bytearray((tmp_path / "d.gz").read_bytes())
    for i in range(20, len(blob) - 20, 7):
        blob[i] ^= 0x5A
    _write(tmp_path / "d.gz", bytes(blob))
    with pytest.raises(ValueError, match=r"d\.gz: "):
        read_idx(tmp_path / "d.gz")


def test_gzip_header_claiming_more_than_deflate_can_hold(tmp_path):
    # 3 x 2**30 bytes declared in a ~50-byte gzip file: refused before allocating 3 GB.
    data = bytes([0, 0, 8, 2, 0, 0, 0, 3, 0x40, 0, 0, 0])
    path = _write(tmp_path / "h.gz", data, gz=True)
    with pytest.raises(ValueError, match=r"h\.gz: the header declares 3 x 1073741824 .* can hold"):
        read_idx(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")
