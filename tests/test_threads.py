"""The BLAS limiter: one thread inside the block, the previous count restored after."""

from __future__ import annotations

import contextlib
import sys

import pytest

from refimpl import _threads


def _blas_threads() -> int:
    """Threads of NumPy's own BLAS (torch or TensorFlow, loaded by other tests, bring
    theirs: the OpenBLAS fallback limits only NumPy's)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    infos = [
        i
        for i in threadpoolctl.threadpool_info()
        if i["user_api"] == "blas" and "numpy" in i["filepath"]
    ]
    if not infos:
        pytest.skip("NumPy's BLAS is not found by threadpoolctl")
    return int(infos[0]["num_threads"])


def test_limits_to_one_thread_and_restores() -> None:
    before = _blas_threads()
    with _threads.blas_single_thread() as limited:
        assert limited
        assert _blas_threads() == 1
    assert _blas_threads() == before


def test_openblas_fallback_without_threadpoolctl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without threadpoolctl, NumPy's OpenBLAS is limited through its own symbols --
    NumPy's, even when another OpenBLAS is loaded too (SciPy's, if installed: the
    fallback used to limit whichever came first in the process's memory map)."""
    with contextlib.suppress(ImportError):
        import scipy.linalg  # noqa: F401  (loads SciPy's own OpenBLAS)
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
