"""Shared pytest configuration: Hypothesis profiles, TensorFlow set-up, and no skipped
parity tests where ``make test`` runs them.

``make test`` (and so CI) runs with ``HYPOTHESIS_PROFILE=ci``: derandomized (the same
examples on every run), no deadline (TensorFlow's first call compiles), a fixed
example budget.  ``dev`` is the default locally; ``thorough`` for long local runs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("ci", derandomize=True, max_examples=40, **_COMMON)
settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# TensorFlow: quiet logs, CPU only; set before any test imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# ``make test`` (and so CI) sets REFIMPL_REQUIRE_KERAS=1: the parity tests against
# TensorFlow/Keras must run there, so a missing or broken install of the ``keras`` extra
# fails the run instead of turning those tests into skips (as does any other
# ``importorskip`` that fails: ``make test`` installs every extra).  Without it (a
# NumPy-only checkout) they skip with the import error as the reason.
_KERAS_MODULES = ("tensorflow", "keras", "tf_keras", "keras_adapter")
_REQUIRE_KERAS = os.environ.get("REFIMPL_REQUIRE_KERAS") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if not _REQUIRE_KERAS:
        return
    missing = [name for name in _KERAS_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise pytest.UsageError(
            f"REFIMPL_REQUIRE_KERAS=1 but {', '.join(missing)} cannot be found: install the "
            "project with its `keras` extra (`make test` does), or unset the variable to "
            "skip the parity tests."
        )


def _fail_import_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Make a skip caused by a failed import of the Keras stack a failure."""
    if _REQUIRE_KERAS and report.skipped and "could not import" in str(report.longrepr):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    _fail_import_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    _fail_import_skip(outcome.get_result())


def _imports_jax(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return module is not None and ("jax" in vars(module) or "optax" in vars(module))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of modules that use JAX run last: once a JAX backend runs it has
    threads, and the trainer's tests fork worker processes (``refimpl._processes``),
    which after that can deadlock (JAX warns "os.fork() was called ... will likely
    lead to a deadlock").  Importing JAX (at collection) starts no backend."""
    items.sort(key=_imports_jax)  # stable: the order within each group is kept
