"""The execution engine: the same result bit for bit whatever the workers, errors from
any worker, settings checked, buffers aligned."""

from __future__ import annotations

import os

import numpy as np
import pytest

from refimpl import Sequential, layers
from refimpl.engine import Execution, SharedBuffers, parts
from refimpl.optimizers import SGD
from refimpl.utils import set_random_seed
from refimpl.workspace import ALIGNMENT

EXECUTIONS = [
    Execution(1, "thread"),
    Execution(2, "thread"),
    Execution(3, "thread"),
    Execution(2, "process"),
    Execution(3, "process"),
]


def _model(algorithm: str, seed: int = 0) -> Sequential:
    set_random_seed(seed)
    model = Sequential(
        [
            layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(10, 10, 1)),
            layers.Conv2D(9, 3, padding="same", activation="relu", algorithm=algorithm),
            layers.Flatten(),
            layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile(SGD(0.01, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    return model


def _data(n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (n, 10, 10, 1)).astype(np.uint8)
    return x, np.eye(5)[rng.integers(0, 5, n)]


@pytest.mark.parametrize("algorithm", ["im2col", "winograd4"])
def test_results_are_identical_whatever_the_workers(algorithm: str) -> None:
    """Training (batches of 64 and a last one of 22: parts of 16 and 6), evaluation and
    prediction give the same bits for every number and kind of worker."""
    x, y = _data()
    results = []
    for execution in EXECUTIONS:
        model = _model(algorithm)
        model.execution = execution
        history = model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_split=0.1)
        results.append(
            (
                model.get_weights(),
                history.history,
                model.evaluate(x, y, verbose=0),
                model.predict(x, verbose=0),
            )
        )
    first = results[0]
    for execution, other in zip(EXECUTIONS[1:], results[1:], strict=True):
        for a, b in zip(first[0], other[0], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=str(execution))
        assert other[1] == first[1], execution
        assert other[2] == first[2], execution
        np.testing.assert_array_equal(other[3], first[3], err_msg=str(execution))


class _Failing(layers.Dense):
    """A Dense layer that fails in every worker but the calling one, which is slowed
    down so that the others take parts of the batch."""

    def __init__(self, parent: int, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.parent = parent

    def forward(self, x, ws, logits=False, out=None):  # type: ignore[no-untyped-def]
        import threading
        import time

        if os.getpid() != self.parent or threading.current_thread() is not threading.main_thread():
            raise ArithmeticError("worker failure")
        time.sleep(0.2)
        return super().forward(x, ws, logits, out)


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_an_error_in_a_worker_is_raised_by_fit(kind: str) -> None:
    x, y = _data(64)
    model = Sequential(
        [
            layers.Flatten(input_shape=(10, 10, 1)),
            _Failing(os.getpid(), 5, activation="softmax"),
        ]
    )
    model.compile(SGD(0.01), "categorical_crossentropy")
    model.execution = Execution(3, kind)
    before = model.get_weights()
    with pytest.raises(ArithmeticError, match="worker failure"):
        model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # no update from a failed step


@pytest.mark.parametrize(("kind", "children"), [("process", 2), ("thread", 0)])
def test_workers_live_only_inside_the_engine(kind: str, children: int) -> None:
    model = _model("im2col")
    model.execution = Execution(3, kind)
    x, y = _data(8)
    engine = model._engine(8, y)
    assert engine.worker_pids == []
    with engine:
        assert engine.execution == Execution(3, kind)
        pids = engine.worker_pids
        assert len(pids) == children
        assert all(os.path.exists(f"/proc/{p}") for p in pids)
        engine.train_step(x.astype(np.float32), y)
    for p in pids:  # reaped: no /proc entry, not even a zombie
        assert not os.path.exists(f"/proc/{p}")


def test_no_more_workers_than_parts() -> None:
    """``model(x)`` on a few samples forks nothing: one part, one worker."""
    model = _model("im2col")
    model.execution = Execution(3, "process")
    assert model._engine(0, None, 5).requested == Execution(1, "process")
    assert model._engine(0, None, 40).requested == Execution(3, "process")  # 3 parts
    assert model._engine(32, None, 0).requested == Execution(2, "process")
    with model._engine(0, None, 5) as engine:
        assert engine.worker_pids == []


def test_parts_are_a_fixed_partition() -> None:
    assert parts(64) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert parts(1) == [(0, 1)]
    assert parts(0) == []


def test_shared_buffers_are_aligned() -> None:
    variables = [np.zeros((3, 3, 1, 5), np.float32), np.zeros(5, np.float32)]
    sb = SharedBuffers(70, (7, 7, 1), ((5,), np.float32), (5,), variables, 3, 5)
    arrays = [sb.control, sb.results, sb.x, sb.out, sb.y, *sb.weights]
    arrays += [g for slot in sb.grads for g in slot]
    for a in arrays:
        assert a is not None
        assert a.ctypes.data % ALIGNMENT == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"workers": 0}, "workers=0"),
        ({"workers": True}, "workers=True"),
        ({"workers": 2.0}, "workers=2.0"),
        ({"kind": "gpu"}, "kind='gpu'"),
    ],
)
def test_bad_execution_settings_name_the_argument(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Execution(**kwargs)


@pytest.mark.parametrize(
    ("name", "value"),
    [("REFIMPL_WORKERS", "two"), ("REFIMPL_WORKERS", "0"), ("REFIMPL_WORKER_KIND", "gpu")],
)
def test_bad_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}={value!r}"):
        Execution.default()


def test_the_environment_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFIMPL_WORKERS", "3")
    monkeypatch.setenv("REFIMPL_WORKER_KIND", "thread")
    assert Execution.default() == Execution(3, "thread")
