"""refimpl.testing: the documented tolerances are tight enough to catch wrong values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from refimpl.schedules import ExponentialDecay, NaturalExpDecay
from refimpl.testing import (
    TORCH_SCHEDULER_NAMES,
    assert_schedules_match,
    tolerance,
    torch_scheduler_configs,
)


@pytest.mark.parametrize("steps", [[], (), np.array([], dtype=np.int64)])
def test_an_empty_check_is_refused(steps: object) -> None:
    schedule = ExponentialDecay(0.1, 1, 0.5)
    with pytest.raises(ValueError, match="needs at least one step"):
        assert_schedules_match(schedule, lambda s: 0.0, steps)  # type: ignore[arg-type]


def test_the_module_example_fails_for_a_wrong_schedule() -> None:
    """help(refimpl.testing)'s example (a doctest) with "your" schedule ignoring
    ``staircase``: the property test it shows must catch that."""
    import doctest

    import refimpl.testing

    (test,) = doctest.DocTestFinder().find(refimpl.testing, "refimpl.testing")[:1]
    namespace: dict[str, Any] = {}
    exec("\n".join(e.source for e in test.examples[:-1]), namespace)  # its definitions
    right = namespace["my_exponential_decay"]
    namespace["my_exponential_decay"] = lambda config: right({**config, "staircase": False})
    with pytest.raises(AssertionError, match="schedules differ at step"):
        exec("test_my_schedule()", namespace)


def test_exponential_decay_allows_no_absolute_slack() -> None:
    """Keras and refimpl raise the same float32 decay_rate to the same float32 power,
    so only pow's own ulps may differ: a reference that is 1e-5 where the rate has
    decayed to ~0 must fail (the audit's case)."""
    schedule = ExponentialDecay(0.1, 1, 0.5)
    ulps, atol = tolerance("ExponentialDecay", schedule.get_config(), "float32")
    assert ulps == 2
    assert not np.any(atol(np.array([0, 1, 10, 1000, 100_000])))
    wrong = lambda s: np.float32(1e-5) if s >= 1000 else schedule(s)  # noqa: E731
    with pytest.raises(AssertionError, match="differ at step 1000"):
        assert_schedules_match(schedule, wrong, [0, 1, 10, 1000], ulps=ulps, atol=atol)


def test_natural_exp_bound_is_relative_to_the_value() -> None:
    """float64 schedule, Python-float decay_rate: TensorFlow computes exp(-decay_rate)
    in float32, so the rate may be one float32 ulp off; raised to the power p that is
    ~p * 2**-23 relative, of the value (not of the initial rate)."""
    d = 1.152267484258785
    schedule = NaturalExpDecay(np.float64(1.0), 1, d)
    ulps, atol = tolerance("NaturalExpDecay", schedule.get_config(), "float64")
    rate = float(np.float32(np.exp(-np.float32(d))))
    off_by_one = float(np.nextafter(np.float32(rate), np.float32(1)))  # one float32 ulp up
    for p in (1, 10, 100):
        exact = math.exp(-d * p)
        assert abs(off_by_one**p - rate**p) <= atol(np.array([p]))[0] <= 1.5e-7 * p * exact
    # Far out the value is ~1e-50: an error of 1e-5 there is not within the bound.
    wrong = lambda s: 1e-5 if s == 100 else schedule(s)  # noqa: E731
    with pytest.raises(AssertionError, match="differ at step 100"):
        assert_schedules_match(schedule, wrong, [0, 1, 100], ulps=ulps, atol=atol)


def test_within_bounds_adds_the_ulps_to_a_positive_atol_only() -> None:
    """1.0f and 1.0f + 3 ulp: outside 2 ulp; inside 1 ulp of atol plus 2 ulp; outside
    half an ulp of atol plus 2 ulp (the ulp of 1.0f is 2**-23)."""
    from refimpl.testing import within_bounds

    one = np.float32(1.0)
    three_up = np.float32(1.0 + 3 * 2.0**-23)
    assert not within_bounds(three_up, one, ulps=2)
    assert within_bounds(three_up, one, ulps=2, atol=2.0**-23)
    assert not within_bounds(three_up, one, ulps=2, atol=2.0**-24)
    assert within_bounds(np.float32(np.nan), np.float32(np.nan))  # NaN is NaN's match
    assert not within_bounds(np.float32(0.5), np.float32(np.nan), atol=1.0)


# --- torch.optim.lr_scheduler ---------------------------------------------------------------


@pytest.mark.parametrize("name", TORCH_SCHEDULER_NAMES)
def test_torch_strategies_draw_valid_configurations(name: str) -> None:
    """Every drawn configuration builds without a warning (ScheduleWarning is an error
    in the suite), in float64 and float32, and its edge steps are sorted, >= 0, with
    step 0 first."""
    from hypothesis import given, settings

    from refimpl.testing import build_torch_scheduler, torch_edge_steps

    @settings(max_examples=15, database=None)
    @given(torch_scheduler_configs(name))
    def check(config: dict) -> None:
        for lr in (0.1, np.float32(0.1)):
            scheduler = build_torch_scheduler(name, config, lr)
            assert type(scheduler).__name__ == name
        edges = torch_edge_steps(name, config)
        assert edges == sorted(set(edges))
        assert edges[0] == 0

    check()


def test_torch_edge_steps_pin_each_regime() -> None:
    from refimpl.testing import torch_edge_steps

    assert torch_edge_steps("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.0}) == [
        0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16,
    ]  # fmt: skip
    one_cycle = {"total_steps": 10, "pct_start": 0.25, "three_phase": False}
    assert max(torch_edge_steps("OneCycleLR", one_cycle)) == 10  # the last allowed step
    sequential = {
        "schedulers": [("StepLR", {"step_size": 3}), ("LinearLR", {"total_iters": 2})],
        "milestones": [20],
    }
    assert {19, 20, 21, 22, 23} <= set(torch_edge_steps("SequentialLR", sequential))
    with pytest.raises(ValueError, match="Unknown torch scheduler"):
        torch_scheduler_configs("CyclicLR")


def test_torch_factor_is_a_callable_object_with_state() -> None:
    from refimpl.testing import TorchFactor

    assert TorchFactor("power", 0.5)(3) == 0.125
    assert TorchFactor("warmup", 4.0)(1) == 0.5
    assert TorchFactor("constant", 0.9)(7) == 0.9
    assert TorchFactor("inverse", 1.0).__dict__ == {"kind": "inverse", "a": 1.0}
    assert repr(TorchFactor("power", 0.5)) == "TorchFactor('power', 0.5)"
