"""Read and write IDX files, the format MNIST and Fashion-MNIST are distributed in.

The IDX format (LeCun, Cortes & Burges, "THE MNIST DATABASE of handwritten digits") is
a header followed by the array's values in C (row-major) order, every number big-endian:

======  =======================  =====================================================
offset  bytes                    meaning
======  =======================  =====================================================
0       ``00 00``                magic: two zero bytes
2       one byte                 the data type code (table below)
3       one byte                 ``ndim``, the number of dimensions (0 to 255)
4       ``4 * ndim``             the dimensions, each a big-endian signed int32 (>= 0)
4+4*nd  ``prod(dims) * size``    the values, big-endian, last dimension fastest
======  =======================  =====================================================

=====  ===========  ====
code   dtype        size
=====  ===========  ====
0x08   uint8        1
0x09   int8         1
0x0B   int16        2
0x0C   int32        4
0x0D   float32      4
0x0E   float64      8
=====  ===========  ====

So Fashion-MNIST's ``train-images-idx3-ubyte`` starts ``00 00 08 03``, then 60000, 28,
28 as int32 (``00 00 ea 60 00 00 00 1c 00 00 00 1c``), then 47,040,000 pixel bytes; the
labels file starts ``00 00 08 01 00 00 ea 60`` and holds 60,000 bytes 0-9.  The files
are usually distributed gzip-compressed (``.gz``).

:func:`read_idx` reads a plain or gzip file into a NumPy array in native byte order,
with one copy of the data in memory.  Gzip is recognised by its magic bytes ``1f 8b``,
not by the name, so a ``.gz`` file that a browser or proxy already decompressed still
reads.  It raises :class:`ValueError` naming the file and the defect when the file is
truncated, has bytes beyond what its header declares, has a wrong magic number or type
code, or is not valid gzip.  :func:`write_idx` writes an array atomically (a temporary
file in the same directory, then :func:`os.replace`).

>>> import os, tempfile
>>> import numpy as np
>>> tmp = tempfile.TemporaryDirectory()
>>> a = np.arange(6, dtype=np.uint8).reshape(2, 3)
>>> path = os.path.join(tmp.name, "a-idx2-ubyte.gz")
>>> write_idx(path, a)
>>> read_idx(path)
array([[0, 1, 2],
       [3, 4, 5]], dtype=uint8)
>>> write_idx(os.path.join(tmp.name, "plain"), a)
>>> open(os.path.join(tmp.name, "plain"), "rb").read().hex(" ")
'00 00 08 02 00 00 00 02 00 00 00 03 00 01 02 03 04 05'
>>> tmp.cleanup()
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from refimpl._atomic import atomic_writer

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX data type code -> NumPy dtype (big-endian, as stored in the file).
IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
#: Deflate cannot compress better than about 1032:1; a gzip file whose IDX header
#: declares more than this many bytes per compressed byte is corrupt, and is reported
#: before a buffer of the declared size is allocated.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20


def _describe_dims(dims: tuple[int, ...]) -> str:
    return " x ".join(str(d) for d in dims) if dims else "a scalar"


def _read_exact(f: IO[bytes], n: int) -> bytes:
    """Read up to ``n`` bytes, fewer only at end of file."""
    parts: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = f.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _read_into(f: IO[bytes], buf: bytearray) -> int:
    """Fill ``buf`` from ``f``; return the number of bytes read (less only at EOF)."""
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _count_rest(f: IO[bytes]) -> int:
    total = 0
    while chunk := f.read(_CHUNK):
        total += len(chunk)
    return total


def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[Any]:
    """Read an IDX file (plain or gzip) into a writeable array in native byte order.

    The payload is read straight into one buffer of the size the header declares and
    wrapped with :func:`numpy.frombuffer` (no per-element work, no second copy).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a valid IDX file; the message starts with the path
            and says what is wrong (truncated, extra bytes, wrong magic, unknown type
            code, negative dimension, corrupted gzip data).

    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> bad = os.path.join(tmp.name, "bad")
    >>> with open(bad, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    >>> read_idx(bad)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../bad: truncated: the header declares 5 (5 bytes of payload) but the ...
    >>> tmp.cleanup()
    """
    name = os.fspath(path)
    with open(name, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, name, size, compressed=False)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                return _parse(gz, name, size, compressed=True)  # type: ignore[arg-type]
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{name}: corrupted gzip data (damaged or partly downloaded file): {exc}"
            ) from exc


def _parse(f: IO[bytes], name: str, size: int, *, compressed: bool) -> npt.NDArray[Any]:
    what = "the decompressed data" if compressed else "the file"
    magic = _read_exact(f, 4)
    if len(magic) < 4:
        raise ValueError(
            f"{name}: truncated: {what} has {len(magic)} bytes, "
            "less than the 4-byte IDX magic number"
        )
    if magic[:2] != b"\x00\x00":
        raise ValueError(
            f"{name}: wrong magic number {magic.hex(' ')}: neither IDX (starts 00 00, then a "
            "type code and the number of dimensions) nor gzip (starts 1f 8b)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.name})" for c, d in IDX_DTYPES.items())
        raise ValueError(f"{name}: unknown IDX data type code 0x{code:02X}; known: {known}")
    dtype = IDX_DTYPES[code]
    head = _read_exact(f, 4 * ndim)
    if len(head) < 4 * ndim:
        raise ValueError(
            f"{name}: truncated: the header declares {ndim} dimensions "
            f"({4 * ndim} bytes) but only {len(head)} bytes follow the magic number"
        )
    dims = tuple(int(d) for d in np.frombuffer(head, dtype=">i4"))
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: negative dimension in the header: {dims}")
    nbytes = math.prod(dims) * dtype.itemsize
    header = 4 + 4 * ndim
    declared = f"{_describe_dims(dims)} ({nbytes} bytes of payload)"
    if not compressed:
        if size - header < nbytes:
            raise ValueError(
                f"{name}: truncated: the header declares {declared} "
                f"but the payload has only {size - header} bytes"
            )
        if size - header > nbytes:
            raise ValueError(
                f"{name}: {size - header - nbytes} extra bytes after the payload: the header "
                f"declares {declared} but the file holds {size - header} bytes of payload"
            )
    elif nbytes > _MAX_DEFLATE_RATIO * size + _CHUNK:
        raise ValueError(
            f"{name}: the header declares {declared}, more than a {size}-byte gzip file "
            "can hold (corrupt header)"
        )
    buf = bytearray(nbytes)
    got = _read_into(f, buf)
    if got < nbytes:
        raise ValueError(
            f"{name}: truncated: the header declares {declared} "
            f"but the payload has only {got} bytes"
        )
    if compressed:
        # Reading to the end also makes gzip check the CRC and length trailer.
        extra = _count_rest(f)
        if extra:
            raise ValueError(
                f"{name}: {extra} extra bytes after the payload: the header declares "
                f"{declared} but {what} holds {nbytes + extra} bytes of payload"
            )
    array = np.frombuffer(buf, dtype=dtype).reshape(dims)
    if not dtype.isnative:
        array.byteswap(inplace=True)
        array = array.view(dtype.newbyteorder("="))
    return array


def write_idx(
    path: str | os.PathLike[str], array: npt.ArrayLike, *, compress: bool | None = None
) -> None:
    """Write ``array`` as an IDX file at ``path``, atomically.

    Args:
        path: Destination.  Its directory must exist.
        array: An array of one of the IDX dtypes (uint8, int8, int16, int32, float32,
            float64; any byte order), at most 255 dimensions each below 2**31.
        compress: ``True`` to gzip, ``False`` for a plain file, ``None`` (default) to
            gzip exactly when ``path`` ends in ``.gz``.  The gzip header records no
            file name and time 0, so equal arrays give equal files.

    Raises:
        ValueError: the dtype has no IDX code, or the shape does not fit the header.

    >>> import os, tempfile
    >>> import numpy as np
    >>> tmp = tempfile.TemporaryDirectory()
    >>> p = os.path.join(tmp.name, "x-idx1-short")
    >>> write_idx(p, np.array([1, -2, 300], dtype=np.int16))
    >>> read_idx(p)
    array([  1,  -2, 300], dtype=int16)
    >>> write_idx(p, np.zeros(2, dtype=np.int64))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: IDX has no type code for int64; use one of uint8, int8, int16, int32, ...
    >>> tmp.cleanup()
    """
    name = os.fspath(path)
    arr = np.asarray(array)
    codes = {d.newbyteorder("="): c for c, d in IDX_DTYPES.items()}
    native = arr.dtype.newbyteorder("=") if arr.dtype.byteorder in "<>" else arr.dtype
    if native not in codes:
        allowed = ", ".join(d.name for d in codes)
        raise ValueError(f"IDX has no type code for {arr.dtype}; use one of {allowed}")
    if arr.ndim > 255:
        raise ValueError(f"IDX holds at most 255 dimensions, got {arr.ndim}")
    if any(d >= 2**31 for d in arr.shape):
        raise ValueError(f"IDX dimensions are int32; shape {arr.shape} does not fit")
    code = codes[native]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">i4").tobytes()
    payload = np.ascontiguousarray(arr, dtype=IDX_DTYPES[code])
    if compress is None:
        compress = name.endswith(".gz")
    with atomic_writer(name) as f:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(header)
                gz.write(payload.data)
        else:
            f.write(header)
            f.write(payload.data)
