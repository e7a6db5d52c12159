"""The BLAS limiter: one thread inside the block, the previous count restored after."""

from __future__ import annotations

import sys

import pytest

from refimpl import _threads


def _blas_threads() -> int:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    infos = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if not infos:
        pytest.skip("no BLAS library found by threadpoolctl")
    return int(infos[0]["num_threads"])


def test_limits_to_one_thread_and_restores() -> None:
    before = _blas_threads()
    with _threads.blas_single_thread() as limited:
        assert limited
        assert _blas_threads() == 1
    assert _blas_threads() == before


def test_openblas_fallback_without_threadpoolctl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without threadpoolctl, NumPy's OpenBLAS is limited through its own symbols."""
    before = _blas_threads()
    if _threads._openblas_functions() is None:
        pytest.skip("NumPy's BLAS here is not OpenBLAS")
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    with _threads.blas_single_thread() as limited:
        assert limited
        monkeypatch.undo()
        assert _blas_threads() == 1
        monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    monkeypatch.undo()
    assert _blas_threads() == before


def test_nothing_to_limit_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    monkeypatch.setattr(_threads, "_openblas_functions", lambda: None)
    with _threads.blas_single_thread() as limited:
        assert not limited
