"""Files are written whole or not at all: a temporary name next to the target, then rename.

One mechanism for every file refimpl writes (reports, figures, IDX files, checkpoints,
downloads): the data goes to a hidden temporary file in the target's directory, is
flushed to disk, and :func:`os.replace` puts it in place.  On any error (Ctrl-C included)
the temporary file is removed and the old target, if any, is untouched.  Temporary files
are created with mode ``0o666`` minus the umask, like :func:`open`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import IO

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer", "temp_name"]


def temp_name(final: str | os.PathLike[str]) -> str:
    """A fresh hidden name next to ``final`` for writing before :func:`os.replace`."""
    head, tail = os.path.split(os.fspath(final))
    return os.path.join(head, f".{tail}.{os.getpid()}.{secrets.token_hex(4)}.part")


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` on success; on error nothing is left.

    >>> import os, tempfile
    >>> d = tempfile.TemporaryDirectory()
    >>> p = os.path.join(d.name, "a.bin")
    >>> with atomic_writer(p) as f:
    ...     _ = f.write(b"one")
    >>> open(p, "rb").read(), sorted(os.listdir(d.name))
    (b'one', ['a.bin'])
    >>> d.cleanup()
    """
    final = os.fspath(path)
    tmp = temp_name(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically (see :func:`atomic_writer`).

    >>> import os, tempfile
    >>> d = tempfile.TemporaryDirectory()
    >>> p = os.path.join(d.name, "a.txt")
    >>> atomic_write_bytes(p, b"one"); atomic_write_bytes(p, b"two")
    >>> open(p, "rb").read(), sorted(os.listdir(d.name))
    (b'two', ['a.txt'])
    >>> d.cleanup()
    """
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))
