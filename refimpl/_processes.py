"""Forked worker processes that run one function per step, for the execution engine.

Standard library only.  The parent forks ``count`` children once (per ``fit``,
``evaluate`` or ``predict`` call); each child inherits the parent's memory, including
the engine's anonymous shared mapping (``mmap.mmap(-1, size)``: ``MAP_SHARED |
MAP_ANONYMOUS``), through which weights, the batch, outputs and gradients pass.  Such a
mapping has no name in ``/dev/shm``: it cannot outlive the processes that map it, so no
shared-memory segment can leak, whatever way they end.

Per step the parent writes one byte (``b"S"``) down each child's command pipe and reads
one byte back from its reply pipe: ``b"D"`` (done) or ``b"E"`` followed by the pickled
exception.  Shutdown and failure paths:

* **normal end / exception in the parent / Ctrl-C**: :meth:`ForkedWorkers.close` (called
  by the engine's ``with`` block on every exit) writes ``b"Q"``, closes the pipes, waits
  up to ``timeout`` seconds for each child to exit and kills it otherwise, and reaps it;
* **Ctrl-C in a terminal** reaches the whole process group: children ignore SIGINT and
  leave the decision to the parent;
* **exception in a child**: sent back and re-raised in the parent (same type, the
  child's traceback attached as ``__cause__``), the child exits;
* **a child dies** (killed, crashed): the parent reads end-of-file on its reply pipe and
  raises :class:`WorkerError`;
* **the parent dies** (even by SIGKILL): the command pipes' write ends close with it, so
  every child reads end-of-file at its next step and exits; a child busy with a step
  gets ``EPIPE`` writing its reply and exits.  No orphan outlives its current step.

Each child holds only its own ends of the pipes, so end-of-file is seen as soon as the
other side is gone.  Children leave with ``os._exit`` and never run the parent's
``atexit`` handlers or ``finally`` blocks.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable

__all__ = ["ForkedWorkers", "WorkerError", "fork_available"]


#: The parent's pipe ends of every open :class:`ForkedWorkers` in this process: a child
#: forked later (a nested engine) closes them, so that it cannot keep another pool's
#: children from seeing end-of-file.
_PARENT_FDS: set[int] = set()


class WorkerError(RuntimeError):
    """A worker process ended without reporting (killed, crashed) or failed to start."""


class _RemoteTraceback(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def fork_available() -> bool:
    """Whether the engine may fork workers here: POSIX, but not macOS, where a forked
    child of a process that has used Apple's Accelerate BLAS (NumPy's on macOS) or other
    system frameworks can crash (why Python's multiprocessing spawns there since 3.8).
    Elsewhere the engine uses threads.

    >>> isinstance(fork_available(), bool)
    True
    """
    return hasattr(os, "fork") and hasattr(os, "pipe") and sys.platform != "darwin"


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _exit_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {name}"
    return f"exit code {os.WEXITSTATUS(status)}"


class ForkedWorkers:
    """``count`` forked children; child ``i`` (1-based) runs ``init()`` once, then
    ``work(i)`` per step.

    Use as a context manager (or call :meth:`close`): ``run_step(own)`` starts a step in
    every child, runs ``own()`` in the parent meanwhile, and returns when all are done,
    raising the first error.
    """

    def __init__(
        self,
        count: int,
        work: Callable[[int], None],
        init: Callable[[], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not fork_available():  # pragma: no cover - not POSIX
            raise WorkerError("this platform cannot fork worker processes")
        self.count = count
        self.timeout = timeout
        self.pids: list[int] = []
        self._commands: list[int] = []
        self._replies: list[int] = []
        self._closed = False
        pipes = [(os.pipe(), os.pipe()) for _ in range(count)]
        every_fd = [fd for (c, r) in pipes for fd in (*c, *r)]
        try:
            for i, ((cmd_read, cmd_write), (reply_read, reply_write)) in enumerate(pipes, 1):
                with warnings.catch_warnings():
                    # Python >= 3.12 warns about fork() in a multi-threaded process
                    # (BLAS's idle threads count).  The child runs NumPy on memory of
                    # its own and the shared mapping only, and leaves by os._exit.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pid = os.fork()
                if pid == 0:  # the child: never returns
                    keep = {cmd_read, reply_write}
                    for fd in {*every_fd, *_PARENT_FDS} - keep:
                        with contextlib.suppress(OSError):
                            os.close(fd)
                    _child(i, work, init, cmd_read, reply_write)
                self.pids.append(pid)
                self._commands.append(cmd_write)
                self._replies.append(reply_read)
                _PARENT_FDS.update((cmd_write, reply_read))
        finally:  # the parent keeps only its own ends
            for (cmd_read, _), (_, reply_write) in pipes:
                os.close(cmd_read)
                os.close(reply_write)
            for (_, unused_write), (unused_read, _) in pipes[len(self.pids) :]:
                os.close(unused_write)
                os.close(unused_read)
            if len(self.pids) < count:  # fork() failed part-way: stop those started
                self.close()

    def __enter__(self) -> ForkedWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_step(self, own: Callable[[], None]) -> None:
        """One step: ``work(i)`` in every child and ``own()`` here, then wait for all."""
        if self._closed:
            raise WorkerError("the worker processes are closed")
        for i, fd in enumerate(self._commands):
            try:
                os.write(fd, b"S")
            except BrokenPipeError:
                raise self._died(i) from None
        own()
        first: BaseException | None = None
        for i in range(self.count):
            error = self._reply(i)
            if error is not None and first is None:
                first = error
        if first is not None:
            raise first

    def _reply(self, i: int) -> BaseException | None:
        fd = self._replies[i]
        tag = _read_exact(fd, 1)
        if tag == b"D":
            return None
        if tag == b"E":
            size = int.from_bytes(_read_exact(fd, 8), "little")
            exc, text = pickle.loads(_read_exact(fd, size))
            exc.__cause__ = _RemoteTraceback(text)
            return exc
        return self._died(i)

    def _died(self, i: int) -> WorkerError:
        pid = self.pids[i]
        status = ""
        deadline = time.monotonic() + 1.0  # its pipe closes as it exits: wait a moment
        while True:
            try:
                done, code = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done == pid:
                status = f" ({_exit_status(code)})"
                self.pids[i] = -1
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.005)
        return WorkerError(f"worker process {i + 1} (pid {pid}) ended without reporting{status}")

    def close(self) -> None:
        """Stop and reap every child (killing those that do not exit within
        ``timeout`` seconds); idempotent."""
        if self._closed:
            return
        self._closed = True
        for fd in self._commands:
            with contextlib.suppress(OSError):
                os.write(fd, b"Q")
            os.close(fd)
            _PARENT_FDS.discard(fd)
        deadline = time.monotonic() + self.timeout
        for pid in self.pids:
            if pid > 0:
                _reap(pid, deadline)
        for fd in self._replies:
            os.close(fd)
            _PARENT_FDS.discard(fd)


def _reap(pid: int, deadline: float) -> None:
    """Wait for ``pid`` until ``deadline``, then SIGKILL it; always reap it."""
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done == pid:
            return
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return
        time.sleep(0.002)


def _child(
    index: int,
    work: Callable[[int], None],
    init: Callable[[], None] | None,
    commands: int,
    replies: int,
) -> None:
    """The child's loop: one ``work(index)`` per ``b"S"``; exit on anything else."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        gc.freeze()  # the inherited objects stay out of collections: fewer copied pages
        if init is not None:
            init()
        while os.read(commands, 1) == b"S":
            try:
                work(index)
            except BaseException as exc:  # reported to the parent, which re-raises it
                text = traceback.format_exc()
                try:
                    payload = pickle.dumps((exc, text))
                except Exception:
                    payload = pickle.dumps((RuntimeError(f"{type(exc).__name__}: {exc}"), text))
                os.write(replies, b"E" + len(payload).to_bytes(8, "little") + payload)
                code = 1
                break
            os.write(replies, b"D")
    except BaseException:  # the parent is gone (EPIPE) or anything else: just leave
        code = 1
    finally:
        os._exit(code)
