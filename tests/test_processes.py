"""Forked workers: errors come back, every child is reaped, nothing outlives the parent.

Shutdown and leak design (refimpl/_processes.py): the children share an anonymous
``MAP_SHARED`` mapping, which has no name in /dev/shm and so cannot leak; they hold only
their own ends of two pipes, so each sees end-of-file as soon as the parent is gone.
The tests below check each way a run can end -- normally, by an exception in a child, a
child killed, a child stuck, Ctrl-C (SIGINT to the process group, as a terminal sends
it) and the parent killed by SIGKILL -- for: the error raised in the parent, no child
process left (reaped, or gone within seconds once orphaned), and no new entry in
/dev/shm.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from refimpl._processes import ForkedWorkers, WorkerError, fork_available

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs fork()")

REPO = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _children() -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == me and fields[0] not in ("Z", "X"):
                found.append(int(entry))
    return found


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _nothing(index: int) -> None:
    pass


def test_steps_run_in_every_child_and_close_reaps_them() -> None:
    import mmap

    board = mmap.mmap(-1, 64)  # shared with the children: each marks its step
    before = _shm()

    def work(index: int) -> None:
        board[index] += 1

    with ForkedWorkers(3, work) as workers:
        pids = list(workers.pids)
        assert len(set(pids)) == 3
        assert all(_alive(p) for p in pids)
        for _ in range(5):
            workers.run_step(lambda: None)
        assert list(board[1:4]) == [5, 5, 5]
    assert _wait_gone(pids, 0) == []  # reaped by close(), not merely orphaned
    assert _children() == []
    assert _shm() == before


def test_an_exception_in_a_child_is_raised_in_the_parent_with_its_traceback() -> None:
    def work(index: int) -> None:
        if index == 2:
            raise KeyError(f"bad part in child {index}")

    with ForkedWorkers(2, work) as workers:
        pids = list(workers.pids)
        with pytest.raises(KeyError, match="bad part in child 2") as info:
            workers.run_step(lambda: None)
    assert "raise KeyError" in str(info.value.__cause__)  # the child's traceback
    assert _wait_gone(pids, 0) == []


def test_an_exception_in_the_parent_still_reaps_the_children() -> None:
    def own() -> None:
        raise ZeroDivisionError("in the parent")

    workers = ForkedWorkers(2, _nothing)
    pids = list(workers.pids)
    with pytest.raises(ZeroDivisionError), workers:
        workers.run_step(own)
    assert _wait_gone(pids, 0) == []


def test_a_killed_child_is_reported_not_waited_for() -> None:
    def work(index: int) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with ForkedWorkers(1, work) as workers:
        with pytest.raises(WorkerError, match=r"worker process 1 \(pid \d+\).*SIGKILL"):
            workers.run_step(lambda: None)
        pids = list(workers.pids)
    assert _children() == []
    assert all(not _alive(p) for p in pids if p > 0)


def test_a_stuck_child_is_killed_on_close() -> None:
    def work(index: int) -> None:
        time.sleep(3600)

    start = time.monotonic()
    workers = ForkedWorkers(1, work, timeout=0.5)
    pids = list(workers.pids)
    os.write(workers._commands[0], b"S")  # start a step that never ends
    workers.close()
    assert time.monotonic() - start < 30
    assert _wait_gone(pids, 0) == []


# -- whole trainer runs in a separate interpreter: Ctrl-C and the parent killed ---------------

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from refimpl import Sequential, layers
    from refimpl.callbacks import Callback
    from refimpl.engine import Execution
    from refimpl.optimizers import SGD

    class Report(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                me = os.getpid()
                kids = []
                for e in os.listdir("/proc"):
                    if e.isdigit():
                        try:
                            with open(f"/proc/{e}/stat") as f:
                                fields = f.read().rsplit(")", 1)[1].split()
                        except OSError:
                            continue
                        if int(fields[1]) == me:
                            kids.append(e)
                print("PIDS", " ".join(kids), flush=True)
            if batch >= 2:
                time.sleep(0.05)  # slow down: the test acts meanwhile

    model = Sequential([
        layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(12, 12, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.Flatten(), layers.Dense(4, activation="softmax"),
    ])
    model.execution = Execution(3, "process")
    model.compile(SGD(0.01), "categorical_crossentropy")
    x = np.random.default_rng(0).random((4000, 12, 12, 1), dtype=np.float32)
    y = np.eye(4)[np.arange(4000) % 4]
    try:
        model.fit(x, y, batch_size=64, epochs=100, verbose=0, callbacks=[Report()])
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
    """
)


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int]]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a shell job
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    pids = [int(p) for p in line.split()[1:]] if line.startswith("PIDS") else []
    if len(pids) != 2:  # three workers: the parent and two forked children
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        raise AssertionError(f"expected the PIDS of 2 children: {line!r} {err}")
    return proc, pids


@pytest.mark.slow
def test_ctrl_c_stops_the_parent_and_every_worker(tmp_path: Path) -> None:
    before = _shm()
    proc, pids = _start(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out
    assert "Traceback" not in err  # the workers ignore SIGINT: no second traceback
    assert _wait_gone(pids) == []
    assert _shm() == before


@pytest.mark.slow
def test_the_parent_killed_leaves_no_orphan_and_no_shared_memory(tmp_path: Path) -> None:
    before = _shm()
    proc, pids = _start(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup code runs in the parent
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _wait_gone(pids) == []  # each child sees end-of-file and leaves
    assert _shm() == before


def test_a_failed_fork_stops_the_children_already_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_fork = os.fork
    calls = []

    def fork_once() -> int:
        if calls:
            raise BlockingIOError("Resource temporarily unavailable")
        calls.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", fork_once)
    with pytest.raises(BlockingIOError):
        ForkedWorkers(3, _nothing)
    monkeypatch.undo()
    assert _wait_gone(_children(), 10) == []


def test_a_nested_pool_does_not_keep_the_outer_children_alive() -> None:
    """A pool forked while another is open (an evaluate() inside a fit's callback): its
    children hold none of the outer pool's pipe ends."""
    outer = ForkedWorkers(1, _nothing)
    inner = ForkedWorkers(1, _nothing)
    inner.run_step(lambda: None)  # the child is past its start-up (where it closes fds)
    outer_fds = set(outer._commands) | set(outer._replies)
    for pid in inner.pids:
        held = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        assert not outer_fds & held, outer_fds & held
    inner.close()
    outer.close()
    assert _children() == []
