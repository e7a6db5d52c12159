"""refimpl.optax against Optax 0.2.8 itself: the same bits at every count.

Each example builds one configuration twice -- ``refimpl.optax.<name>(**config)`` and
``optax.<name>(**config)`` -- and compares them at the configuration's edge counts (and
their neighbours) plus random ones, small and up to int32's largest: under ``jax.jit``
(one count at a time, as an optimizer's update step computes it) against
``mode="jit"``, un-jitted against ``mode="eager"``, each with x64 off and on.  The bar
is 0 ulp everywhere, decisions included; a NaN must be a NaN.  The pinned cases are
the traps and edges listed in ``refimpl.optax``'s docstrings.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from refimpl.comparison import ulp_distance
from refimpl.testing import (
    OPTAX_SCHEDULE_NAMES,
    build_optax_schedule,
    optax_edge_counts,
    optax_schedule_configs,
)

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
_spec = importlib.util.spec_from_file_location(
    "_optax_oracle", Path(__file__).with_name("_optax_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]

#: A schedule function's name and its configuration.
CASES = st.sampled_from(OPTAX_SCHEDULE_NAMES).flatmap(
    lambda name: optax_schedule_configs(name).map(lambda config: (name, config))
)
#: Counts beyond the edges: small ones, and any int32 (float32 rounds counts >= 2**24).
EXTRA = st.lists(st.one_of(st.integers(0, 500), st.integers(0, 2**31 - 1)), max_size=10)


def check(case: tuple[str, dict[str, Any]], extra: list[int], mode: str, x64: bool) -> None:
    """refimpl's value equals Optax's, bit for bit, at every count checked."""
    name, config = case
    counts = np.array(sorted({*optax_edge_counts(name, config), *extra}), dtype=np.int64)
    ours = build_optax_schedule(name, config)(counts, mode=mode, x64=x64)
    theirs = oracle.optax_values(
        build_optax_schedule(name, config, optax), counts, jit=mode == "jit", x64=x64
    )
    bad = oracle.differing(ours, theirs)
    if bad.any():
        at = np.flatnonzero(bad)
        raise AssertionError(
            f"optax.{name}(**{config!r}), mode={mode!r}, x64={x64}: {at.size} of "
            f"{counts.size} counts differ, first {counts[at[:5]].tolist()}: refimpl "
            f"{ours[at[:3]].tolist()}, optax {theirs[at[:3]].tolist()}, "
            f"{ulp_distance(ours[at], theirs[at]).max()} ulp at most"
        )


#: Traps and edges, each checked in every mode (see the docstrings of refimpl.optax).
PINNED: list[tuple[tuple[str, dict[str, Any]], list[int]]] = [
    # x * fl(1/61): the stair switches one count late under jit, on time eagerly
    (("exponential_decay", {"init_value": 1.0, "transition_steps": 61, "decay_rate": 0.5,
                            "staircase": True}), [121, 122, 183]),
    # a power of two becomes exp2 under jit; an upper bound with decay_rate > 1
    (("exponential_decay", {"init_value": 0.1, "transition_steps": 7, "decay_rate": 2.0,
                            "transition_begin": 3, "end_value": 0.5}), [20, 30]),
    # fma(n, -fl(1/T), 1) < 0 at the end: powf of a negative is NaN from there on
    (("polynomial_schedule", {"init_value": 1.0, "end_value": 0.01, "power": 1.5,
                              "transition_steps": 61}), [61, 62, 1000]),
    # pow(x, 3.0) is x * (x * x) under jit (XLA's HandlePower); int powers multiply
    (("polynomial_schedule", {"init_value": 1.9, "end_value": 0.0, "power": 3.0,
                              "transition_steps": 194, "transition_begin": 27}), [33, 35]),
    (("polynomial_schedule", {"init_value": 1.0, "end_value": 0.1, "power": 5,
                              "transition_steps": 97, "transition_begin": -3}), [1, 50]),
    # linear to 0.0 ends at -2.98e-09 under jit (one fma)
    (("linear_schedule", {"init_value": 0.1, "end_value": 0.0, "transition_steps": 3}), [3, 4]),
    (("linear_schedule", {"init_value": 0.1, "end_value": 0.0, "transition_steps": 0}), [0, 5]),
    # past decay_steps: jaxlib's XLA does not split minimum(count, T) (llvm.minimum)
    (("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 208, "alpha": 0.3}),
     [208, 209, 2**24, 2**31 - 1]),
    # cumulative scales; a boundary at 0
    (("piecewise_constant_schedule", {"init_value": 1.0,
                                      "boundaries_and_scales": {0: 0.5, 100: 0.1, 200: 0.1}}),
     [99, 100, 199, 200]),
    # equal interval sizes: (x * fl(1/55)) is a broadcast, the differences a vector
    (("piecewise_interpolate_schedule", {"interpolate_type": "linear", "init_value": 1.7313269,
                                         "boundaries_and_scales": {55: 0.1, 110: 0.1}}), [27, 29]),
    (("piecewise_interpolate_schedule", {"interpolate_type": "cosine", "init_value": 0.78,
                                         "boundaries_and_scales": {12: 0.5, 95: 0.5, 170: 0.5}}),
     [5, 7, 40]),
    (("cosine_onecycle_schedule", {"transition_steps": 10, "peak_value": 1.0,
                                   "div_factor": 10.0}), [0, 3, 10]),
    (("linear_onecycle_schedule", {"transition_steps": 2, "peak_value": 1.0,
                                   "pct_start": 0.3, "pct_final": 0.4}), [0, 1, 2]),
    # Keras's CosineDecay(decay_steps=10, warmup_steps=5) is Optax's (5, 15)
    (("warmup_cosine_decay_schedule", {"init_value": 0.0, "peak_value": 1.0,
                                       "warmup_steps": 5, "decay_steps": 15}), [4, 5, 15, 16]),
    (("warmup_cosine_decay_schedule", {"init_value": 0.1, "peak_value": 0.0,
                                       "warmup_steps": 0, "decay_steps": 3,
                                       "end_value": 0.5}), [0, 3]),
    (("warmup_exponential_decay_schedule", {"init_value": 0.0, "peak_value": 1.0,
                                            "warmup_steps": 2, "transition_steps": 1,
                                            "decay_rate": 0.5}), [2, 3, 4]),
    (("sgdr_schedule", {"cosine_kwargs": [
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2, "decay_steps": 6},
        {"init_value": 0.1, "peak_value": 0.5, "warmup_steps": 0, "decay_steps": 4,
         "end_value": 0.01}]}), [5, 6, 10, 11]),
    (("join_schedules", {"schedules": [
        ("linear_schedule", {"init_value": 0.0, "end_value": 1.0, "transition_steps": 4}),
        ("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 10}),
        ("constant_schedule", {"value": 0.01})], "boundaries": [4, 14]}), [3, 4, 13, 14]),
    # two equal schedules are one after XLA's CSE (its product used once: fused)
    (("join_schedules", {"schedules": [
        ("linear_schedule", {"init_value": 1.0, "end_value": 0.0, "transition_steps": 3}),
        ("linear_schedule", {"init_value": 1.0, "end_value": 0.0, "transition_steps": 3})],
        "boundaries": [0]}), [3, 4]),
    (("constant_schedule", {"value": 0.1}), [0, 2**31 - 1]),
]  # fmt: skip


def _pinned(test: Any) -> Any:
    for case, extra in PINNED:
        test = example(case=case, extra=extra)(test)
    return test


@_pinned
@settings(max_examples=120)
@given(case=CASES, extra=EXTRA)
def test_jit_float32(case, extra) -> None:
    check(case, extra, "jit", x64=False)


@_pinned
@settings(max_examples=50)
@given(case=CASES, extra=EXTRA)
def test_jit_x64(case, extra) -> None:
    check(case, extra, "jit", x64=True)


@_pinned
@settings(max_examples=50)
@given(case=CASES, extra=EXTRA)
def test_eager_float32(case, extra) -> None:
    check(case, extra, "eager", x64=False)


@_pinned
@settings(max_examples=30)
@given(case=CASES, extra=EXTRA)
def test_eager_x64(case, extra) -> None:
    check(case, extra, "eager", x64=True)


def test_the_pins_cover_every_schedule_function() -> None:
    assert {name for (name, _), _ in PINNED} == set(OPTAX_SCHEDULE_NAMES)


def test_every_schedule_function_of_optax_is_here() -> None:
    """refimpl.optax has each schedule Optax exports but the warmup-constant one, with
    Optax's parameter names and defaults."""
    import inspect

    import refimpl.optax

    theirs = {
        name
        for name in dir(optax.schedules)
        if name.endswith(("_schedule", "_decay", "_schedules")) and not name.startswith("_")
    }
    assert theirs - set(OPTAX_SCHEDULE_NAMES) == {"warmup_constant_schedule"}
    for name in OPTAX_SCHEDULE_NAMES:
        ours = inspect.signature(getattr(refimpl.optax, name)).parameters
        reference = inspect.signature(getattr(optax, name)).parameters
        assert list(ours) == list(reference), name
        assert [p.default for p in ours.values()] == [p.default for p in reference.values()]


def test_the_examples_in_the_docstrings_are_optaxs_values() -> None:
    """The docstrings' examples (run as doctests against refimpl) give Optax's values."""
    cases = [
        ("polynomial_schedule", dict(init_value=1.0, end_value=0.01, power=2,
                                     transition_steps=100, transition_begin=5),
         [0, 5, 6, 104, 105, 110]),
        ("exponential_decay", dict(init_value=1.0, transition_steps=61, decay_rate=0.5,
                                   staircase=True), [61, 122]),
        ("cosine_decay_schedule", dict(init_value=1.0, decay_steps=100, alpha=0.1),
         [0, 50, 100, 200]),
        ("cosine_onecycle_schedule", dict(transition_steps=10, peak_value=1.0, div_factor=10.0),
         [0, 3, 10]),
    ]  # fmt: skip
    for name, config, counts in cases:
        at = np.array(counts)
        ours = build_optax_schedule(name, config)(at)
        theirs = oracle.optax_values(build_optax_schedule(name, config, optax), at)
        assert not oracle.differing(ours, theirs).any(), name
