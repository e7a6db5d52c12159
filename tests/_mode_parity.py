"""The parity check every compiled mode runs: each schedule class, float32 and float64,
random configurations at their edges, against the rate Keras applies (0 ulp)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.schedules import SCHEDULES
from refimpl.testing import schedule_batches, training_steps
from tests._modes import assert_same_rates, keras_twin, refimpl_rates


def make_parity_test(mode: str):  # type: ignore[no-untyped-def]
    """A Hypothesis test of ``mode`` for every schedule class and dtype."""

    @pytest.mark.tf
    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    @pytest.mark.parametrize("name", list(SCHEDULES))
    @settings(max_examples=2, deadline=None)
    @given(data=st.data())
    def test(name: str, dtype: str, data: st.DataObject) -> None:
        oracle = pytest.importorskip("keras_adapter.oracle")
        schedules = data.draw(schedule_batches(name, size=4, dtype=dtype))
        steps = data.draw(training_steps(schedules))
        want = oracle.compiled_rates([keras_twin(s) for s in schedules], steps, mode=mode)
        assert_same_rates(schedules, steps, refimpl_rates(schedules, steps, mode), want)

    test.__doc__ = (
        f"Every schedule class in {mode} mode equals what Keras applies, bit for bit, at "
        "every edge step and random steps of random configurations."
    )
    return test
