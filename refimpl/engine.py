"""The execution engine: how ``Sequential`` computes a batch, on one or more workers.

One training step on a batch of ``n`` samples (Keras 3 semantics, see
:mod:`refimpl.models`) needs the batch loss, the correct predictions and the weight
gradients.  The engine computes them like this:

1. The batch is cut into **parts** of :data:`PART_SIZE` samples (the last one smaller),
   a fixed partition that depends on ``n`` only.  A part runs its samples through the
   layers in **sub-batches** (small enough for the convolutions' buffers to stay in the
   core's cache: :data:`SUB_BATCH`, or less if a layer asks, see
   :attr:`refimpl.layers.Layer.sub_batch`), forward and backward, and writes its
   gradient sum, loss sum and correct count into the part's own slot of the step's
   buffers.
2. **Workers** take parts in turn from a shared counter until none is left: the calling
   thread and ``workers - 1`` forked processes (or threads, see :class:`Execution`).
3. The calling thread adds the parts' gradients in part order (``g = g_0 + g_1 + ...``)
   and the results likewise.

Every part is computed by the same code from the same inputs, into buffers aligned
alike, whichever worker takes it, and the sums run in a fixed order: **the result is
the same bit for bit whatever the number of workers and whether they are threads or
processes** (tested).  It equals the whole-batch computation up to float32 summation
order.

Why processes: NumPy releases the interpreter lock inside each call, but a sub-batch
makes about 60 calls, and two threads lost ~15% of their time waiting for the lock each
other held (measured); two forked processes slow each other by only ~4%.  Weights, the
batch, outputs and part results live in one anonymous shared mapping
(:class:`SharedBuffers`), written by the parent and read by the workers (and the
reverse for results); each worker process has its own copy of the layers (fork) whose
weights are views of that mapping.  BLAS runs single-threaded in every worker (see
:mod:`refimpl._threads`).

Around a part, every layer's ``begin_batch``/``end_batch`` is called: layers prepare
per-part forms of their weights (Winograd kernel transforms, Dense's transposed kernel)
and defer weight-gradient products to one per part.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl import _threads
from refimpl import metrics as metrics_module
from refimpl._processes import ForkedWorkers, fork_available
from refimpl.layers import Layer, softmax, to_keras_layout, to_trainer_layout
from refimpl.losses import Loss
from refimpl.workspace import ALIGNMENT, Workspace

__all__ = [
    "EVAL_BATCH",
    "KINDS",
    "PART_SIZE",
    "SUB_BATCH",
    "Engine",
    "Execution",
    "Network",
    "SharedBuffers",
    "parts",
]

#: Samples per part: the unit of work a worker takes, and of the fixed summation order.
#: 16 keeps Dense's deferred weight-gradient product (one per part) cheap and gives a
#: batch of 64 four parts to share between two workers.
PART_SIZE = 16
#: Samples per sub-batch inside a part, unless a layer asks for fewer.  The lesson's
#: conv2 with ``"winograd4"`` keeps ~1 MB of buffers for 4 samples (the core's L2 cache)
#: and runs as fast at 2, 4 or 8 (CPU time, alternating runs); with im2col it asks for 2.
SUB_BATCH = 4
#: Samples per chunk in evaluate/predict (no gradients).
EVAL_BATCH = 256
#: Worker kinds of :class:`Execution`.
KINDS = ("process", "thread")


def parts(n: int, size: int = PART_SIZE) -> list[tuple[int, int]]:
    """The fixed partition of ``n`` samples: ``[(lo, hi), ...]`` of ``size`` (last smaller).

    >>> parts(40)
    [(0, 16), (16, 32), (32, 40)]
    """
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _env_workers() -> int | None:
    env = os.environ.get("REFIMPL_WORKERS", "").strip()
    if not env:
        return None
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            "Environment variable REFIMPL_WORKERS must be a positive integer. "
            f"Received: REFIMPL_WORKERS={env!r}"
        )
    return value


def _env_kind() -> str | None:
    env = os.environ.get("REFIMPL_WORKER_KIND", "").strip()
    if not env:
        return None
    if env not in KINDS:
        raise ValueError(
            f"Environment variable REFIMPL_WORKER_KIND must be one of {list(KINDS)}. "
            f"Received: REFIMPL_WORKER_KIND={env!r}"
        )
    return env


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_FORK_NOTE_SHOWN = False


@dataclass(frozen=True)
class Execution:
    """How many workers compute a batch, and of which kind.

    ``workers`` >= 1 (1: everything in the calling thread); ``kind`` ``"process"``
    (forked worker processes, the default where ``fork`` exists) or ``"thread"``.
    :meth:`default` reads ``REFIMPL_WORKERS`` (default: the usable CPUs, at most 8) and
    ``REFIMPL_WORKER_KIND``.  Set ``model.execution`` to choose per model.

    >>> Execution(workers=2, kind="thread")
    Execution(workers=2, kind='thread')
    """

    workers: int = 1
    kind: str = "process"

    def __post_init__(self) -> None:
        if (
            isinstance(self.workers, bool)
            or not isinstance(self.workers, (int, np.integer))
            or self.workers < 1
        ):
            raise ValueError(
                f"Argument `workers` must be a positive integer. Received: workers={self.workers!r}"
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"Argument `kind` must be one of {list(KINDS)}. Received: kind={self.kind!r}"
            )

    @classmethod
    def default(cls) -> Execution:
        """From the environment: ``REFIMPL_WORKERS``, ``REFIMPL_WORKER_KIND``."""
        workers = _env_workers() or max(1, min(_usable_cpus(), 8))
        kind = _env_kind() or "process"
        return cls(workers=workers, kind=kind)

    def effective(self) -> Execution:
        """This execution where it can run: threads where ``fork`` is missing (with a
        one-line note, once)."""
        global _FORK_NOTE_SHOWN
        if self.kind == "process" and self.workers > 1 and not fork_available():
            if not _FORK_NOTE_SHOWN:  # pragma: no cover - not POSIX
                _FORK_NOTE_SHOWN = True
                warnings.warn(
                    "refimpl: fork() is unavailable here; the trainer's workers are threads",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return Execution(self.workers, "thread")  # pragma: no cover
        return self


class SharedBuffers:
    """Every array the workers share, in one 64-byte aligned block of memory.

    The block is an anonymous shared mapping (``mmap.mmap(-1, size)``), shared with
    forked children and never named in ``/dev/shm``; threads use the same layout, so
    every worker sees the same alignment.  Arrays: ``x`` ``(capacity, *input_shape)``
    float32, ``y`` (the targets' per-sample shape and dtype), ``out``
    ``(capacity, *output_shape)`` float32, ``weights`` (one view per variable),
    ``grads[p]`` (one view per variable and part slot), ``results`` ``(parts, 2)``
    float64 (loss sum, correct count), ``control`` int64 (the step's size, mode and
    part counter).
    """

    def __init__(
        self,
        capacity: int,
        input_shape: tuple[int, ...],
        y_spec: tuple[tuple[int, ...], Any] | None,
        output_shape: tuple[int, ...],
        variables: Sequence[np.ndarray],
        grad_slots: int,
        result_slots: int,
    ) -> None:
        layout: list[tuple[str, tuple[int, ...], Any]] = [
            ("control", (4,), np.int64),
            ("results", (result_slots, 2), np.float64),
            ("x", (capacity, *input_shape), np.float32),
            ("out", (capacity, *output_shape), np.float32),
        ]
        if y_spec is not None:
            layout.append(("y", (capacity, *y_spec[0]), y_spec[1]))
        layout += [(f"w{i}", v.shape, np.float32) for i, v in enumerate(variables)]
        layout += [
            (f"g{p}_{i}", v.shape, np.float32)
            for p in range(grad_slots)
            for i, v in enumerate(variables)
        ]
        offsets, size = [], 0
        for _, shape, dtype in layout:
            offsets.append(size)
            nbytes = math.prod(shape) * np.dtype(dtype).itemsize
            size += -(-nbytes // ALIGNMENT) * ALIGNMENT
        self.nbytes = max(size, ALIGNMENT)
        self._mapping = mmap.mmap(-1, self.nbytes)
        arrays = {
            name: np.ndarray(shape, dtype, buffer=self._mapping, offset=offset)
            for (name, shape, dtype), offset in zip(layout, offsets, strict=True)
        }
        self.control = arrays["control"]
        self.results = arrays["results"]
        self.x = arrays["x"]
        self.out = arrays["out"]
        self.y = arrays.get("y")
        self.weights = [arrays[f"w{i}"] for i in range(len(variables))]
        self.grads = [
            [arrays[f"g{p}_{i}"] for i in range(len(variables))] for p in range(grad_slots)
        ]


class Network:
    """One worker's model: the layers (shared, read-only during a step) with this
    worker's workspaces; runs parts of a batch."""

    def __init__(self, layers: Sequence[Layer], loss: Loss | None, metrics: Sequence[str]) -> None:
        self.layers = list(layers)
        self.loss = loss
        self.metrics = list(metrics)
        self.workspaces = [Workspace() for _ in self.layers]
        self.sub_batch = min(
            [SUB_BATCH, *(layer.sub_batch for layer in self.layers if layer.sub_batch)]
        )
        #: The loss is computed from the last layer's logits (Keras's rule for a final
        #: softmax with a cross-entropy loss).
        self.fused = loss is not None and self.layers[-1].activation == "softmax"

    @np.errstate(all="ignore")  # a non-finite loss is reported by the trainer, once
    def run_part(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        lo: int,
        hi: int,
        scale: np.float32,
        grads: list[np.ndarray] | None,
        out: np.ndarray | None,
    ) -> tuple[float, float]:
        """Samples ``lo:hi`` of ``x`` (Keras layout) through the layers, in sub-batches.

        With ``grads`` (zeroed here), trains: adds ``scale * dL/dw`` (``scale = 1/n``
        for a batch of ``n``) of the part into them.  With ``out``, writes the outputs
        (probabilities after a final softmax) into ``out[lo:hi]``.  Returns the sum of
        per-sample losses (0 without ``y``) and of correct predictions.
        """
        train = grads is not None
        layers, wss = self.layers, self.workspaces
        if grads is not None:
            for g in grads:
                g.fill(0)
        for layer, ws in zip(layers, wss, strict=True):
            layer.begin_batch(ws, hi - lo, train)
        try:
            result = self._sub_batches(x, y, lo, hi, scale, grads, out)
        except BaseException:
            for layer, ws in zip(layers, wss, strict=True):
                layer.end_batch(ws, None)  # discard the part's deferred work
            raise
        offset = 0
        for layer, ws in zip(layers, wss, strict=True):
            k = len(layer.weights)
            layer.end_batch(ws, None if grads is None else grads[offset : offset + k])
            offset += k
        return result

    def _sub_batches(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        lo: int,
        hi: int,
        scale: np.float32,
        grads: list[np.ndarray] | None,
        out: np.ndarray | None,
    ) -> tuple[float, float]:
        layers, wss = self.layers, self.workspaces
        last = len(layers) - 1
        fused = self.fused
        slices = []
        offset = 0
        for layer in layers:
            k = len(layer.weights)
            slices.append(slice(offset, offset + k))
            offset += k
        loss_sum = correct = 0.0
        step = self.sub_batch
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            n = e - s
            h = to_trainer_layout(x[s:e])
            for i, layer in enumerate(layers):
                target = layers[i + 1].input_view(wss[i + 1], n) if i < last else None
                h = layer.forward(h, wss[i], logits=fused and i == last, out=target)
            output = to_keras_layout(h)
            probs = softmax(output) if fused else output
            if out is not None:
                np.copyto(out[s:e], probs)
            if y is None or self.loss is None:
                continue
            yb = y[s:e]
            losses, grad = self.loss.value_and_grad(
                yb, output, float(scale), logits=fused or self.loss.from_logits
            )
            loss_sum += float(losses.sum(dtype=np.float64))
            if self.metrics:
                accuracy = (
                    metrics_module.sparse_categorical_accuracy
                    if self.loss.sparse
                    else metrics_module.categorical_accuracy
                )
                correct += float(accuracy(yb, probs).sum())
            if grads is None:
                continue
            back: np.ndarray | None = to_trainer_layout(grad)
            for i in range(last, -1, -1):
                assert back is not None
                back = layers[i].backward(
                    back, wss[i], grads[slices[i]], need_dx=i > 0, logits=fused and i == last
                )
        return loss_sum, correct


_MODE_EVAL, _MODE_TRAIN, _MODE_PREDICT = 0, 1, 2


class Engine:
    """Runs training steps and evaluation chunks of one model on its workers.

    Use as a context manager around ``fit``/``evaluate``/``predict``: entering forks the
    worker processes (or starts the threads) and limits BLAS to one thread; leaving
    stops and reaps them, however the block ends.

    Args:
        layers, loss, metrics: the compiled model's.
        execution: workers and their kind.
        input_shape, output_shape: per sample.
        y_spec: ``(per-sample shape, dtype)`` of the targets, or None (predict).
        batch_size: the largest training batch (0: no training).
        eval_rows: the most samples an evaluation or prediction chunk will have.

    No more workers start than the largest step has parts: ``model(x)`` on a few
    samples runs in the calling thread alone.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        loss: Loss | None,
        metrics: Sequence[str],
        execution: Execution,
        input_shape: tuple[int, ...],
        output_shape: tuple[int, ...],
        y_spec: tuple[tuple[int, ...], Any] | None,
        batch_size: int = 0,
        eval_rows: int = EVAL_BATCH,
    ) -> None:
        self.layers = list(layers)
        self.loss = loss
        self.metrics = list(metrics)
        most_parts = max(len(parts(batch_size)), len(parts(min(eval_rows, EVAL_BATCH))), 1)
        self.requested = Execution(min(execution.workers, most_parts), execution.kind)
        self.variables = [w for layer in self.layers for w in layer.weights]
        capacity = max(batch_size, EVAL_BATCH)
        grad_slots = len(parts(batch_size)) if batch_size else 0
        self.shared = SharedBuffers(
            capacity,
            input_shape,
            y_spec,
            output_shape,
            self.variables,
            grad_slots,
            len(parts(capacity)),
        )
        self.execution = Execution(1, "thread")
        self._networks: list[Network] = []
        self._stack = contextlib.ExitStack()
        self._processes: ForkedWorkers | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock: Any = threading.Lock()

    # -- lifetime ---------------------------------------------------------------------
    def __enter__(self) -> Engine:
        try:
            limited = self._stack.enter_context(_threads.blas_single_thread())
            execution = self.requested.effective()
            if not limited:  # BLAS would run its own threads: one worker only
                execution = Execution(1, execution.kind)
            self.execution = execution
            if execution.workers > 1 and execution.kind == "process":
                import multiprocessing

                self._lock = multiprocessing.get_context("fork").Lock()
                self._networks = [Network(self.layers, self.loss, self.metrics)]
                self._processes = self._stack.enter_context(
                    ForkedWorkers(execution.workers - 1, self._child_work, self._child_init)
                )
            else:
                self._networks = [
                    Network(self.layers, self.loss, self.metrics) for _ in range(execution.workers)
                ]
                if execution.workers > 1:
                    self._pool = self._stack.enter_context(
                        ThreadPoolExecutor(max_workers=execution.workers - 1)
                    )
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the forked workers (empty with threads)."""
        return [] if self._processes is None else list(self._processes.pids)

    # -- one step ---------------------------------------------------------------------
    def _child_init(self) -> None:
        """In a forked worker, once: its copies of the layers read the shared weights."""
        offset = 0
        for layer in self.layers:
            k = len(layer.weights)
            layer.bind_weights(self.shared.weights[offset : offset + k])
            offset += k

    def _child_work(self, index: int) -> None:
        self._work(self._networks[0])

    def _next_part(self) -> int:
        with self._lock:
            p = int(self.shared.control[2])
            self.shared.control[2] = p + 1
        return p

    def _work(self, network: Network) -> None:
        """Take parts of the current step until none is left."""
        sh = self.shared
        n, mode = int(sh.control[0]), int(sh.control[1])
        spans = parts(n)
        scale = np.float32(1.0 / n)
        while (p := self._next_part()) < len(spans):
            lo, hi = spans[p]
            grads = sh.grads[p] if mode == _MODE_TRAIN else None
            out = sh.out if mode == _MODE_PREDICT else None
            y = None if mode == _MODE_PREDICT else sh.y
            sh.results[p] = network.run_part(sh.x, y, lo, hi, scale, grads, out)

    def _run(self, n: int, mode: int) -> tuple[float, float]:
        sh = self.shared
        sh.control[:3] = (n, mode, 0)
        if self._processes is not None:
            for w, s in zip(self.variables, sh.weights, strict=True):
                np.copyto(s, w)
            self._processes.run_step(lambda: self._work(self._networks[0]))
        elif self._pool is not None:
            futures = [self._pool.submit(self._work, net) for net in self._networks[1:]]
            error: BaseException | None = None
            try:
                self._work(self._networks[0])
            except BaseException as exc:
                error = exc
            for fut in futures:
                try:
                    fut.result()
                except BaseException as exc:
                    error = error or exc
            if error is not None:
                raise error
        else:
            self._work(self._networks[0])
        loss_sum = correct = 0.0
        for p in range(len(parts(n))):
            loss_sum += float(sh.results[p, 0])
            correct += float(sh.results[p, 1])
        return loss_sum, correct

    def _load(self, x: np.ndarray, y: np.ndarray | None) -> int:
        n = x.shape[0]
        np.copyto(self.shared.x[:n], x, casting="unsafe")
        if y is not None and self.shared.y is not None:
            np.copyto(self.shared.y[:n], y, casting="unsafe")
        return n

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float, list[np.ndarray]]:
        """Gradients of one batch: ``(loss_sum, correct, gradients)``; the gradients (one
        array per variable, summed in part order) are valid until the next step."""
        n = self._load(x, y)
        loss_sum, correct = self._run(n, _MODE_TRAIN)
        grads = self.shared.grads
        total = grads[0]
        for p in range(1, len(parts(n))):
            for g0, gp in zip(total, grads[p], strict=True):
                g0 += gp
        return loss_sum, correct, total

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Loss sum and correct count over ``x`` (chunks of :data:`EVAL_BATCH`)."""
        loss_sum = correct = 0.0
        for lo in range(0, x.shape[0], EVAL_BATCH):
            n = self._load(x[lo : lo + EVAL_BATCH], y[lo : lo + EVAL_BATCH])
            ls, c = self._run(n, _MODE_EVAL)
            loss_sum += ls
            correct += c
        return loss_sum, correct

    def predict(self, x: np.ndarray, out: np.ndarray) -> None:
        """Outputs of the last layer for ``x`` into ``out`` (Keras layout)."""
        for lo in range(0, x.shape[0], EVAL_BATCH):
            n = self._load(x[lo : lo + EVAL_BATCH], None)
            self._run(n, _MODE_PREDICT)
            np.copyto(out[lo : lo + n], self.shared.out[:n])
