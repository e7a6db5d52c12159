"""Shared pytest configuration: Hypothesis profiles and TensorFlow set-up.

``make test`` (and so CI) runs with ``HYPOTHESIS_PROFILE=ci``: derandomized (the same
examples on every run), no deadline (TensorFlow's first call compiles), a fixed
example budget.  ``dev`` is the default locally; ``thorough`` for long local runs.
"""

from __future__ import annotations

import os

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
