"""refimpl.optax.inject: the learning rate ``optax.inject_hyperparams`` reports, against
Optax itself -- one update late, cast to the parameters' dtype only when the schedule's
result is weakly typed, the count-0 value computed eagerly by ``init``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refimpl.optax as ro
from refimpl.optax.inject import reported_dtype, reported_rates, to_bfloat16

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")

DTYPES = {"bfloat16": jnp.bfloat16, "float16": jnp.float16, "float32": jnp.float32,
          "float64": jnp.float64}  # fmt: skip


def optax_reports(schedule, dtype: str, updates: int, *, x64: bool = False):
    """``state.hyperparams["learning_rate"]`` after 0..updates jitted SGD updates (init
    not jitted, as usually), and its dtype."""
    with jax.enable_x64(x64):
        params = {"w": jnp.zeros(2, DTYPES[dtype])}
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
        state = opt.init(params)
        values = [state.hyperparams["learning_rate"]]
        step = jax.jit(opt.update)
        for _ in range(updates):
            _, state = step(jax.tree.map(jnp.ones_like, params), state, params)
            values.append(state.hyperparams["learning_rate"])
        return np.array([float(v) for v in values]), str(values[-1].dtype)


#: (refimpl schedule, Optax schedule): weakly typed results (cast) and strong ones (kept).
SCHEDULES = [
    (ro.cosine_decay_schedule(0.1, 5, alpha=0.1), optax.cosine_decay_schedule(0.1, 5, alpha=0.1)),
    (ro.constant_schedule(0.1), optax.constant_schedule(0.1)),
    (ro.piecewise_constant_schedule(0.1, {2: 0.3}), optax.piecewise_constant_schedule(0.1, {2: 0.3})),
    (ro.linear_schedule(0.1, 0.0, 3), optax.linear_schedule(0.1, 0.0, 3)),
    (ro.exponential_decay(0.1, 2, 0.7), optax.exponential_decay(0.1, 2, 0.7)),
    (ro.warmup_cosine_decay_schedule(0.0, 0.1, 2, 6), optax.warmup_cosine_decay_schedule(0.0, 0.1, 2, 6)),
    (0.1, 0.1),  # a fixed rate
]  # fmt: skip


@pytest.mark.parametrize(("ours", "theirs"), SCHEDULES)
@pytest.mark.parametrize(("dtype", "x64"), [("bfloat16", False), ("float16", False),
                                            ("float32", False), ("float64", True),
                                            ("bfloat16", True)])  # fmt: skip
def test_reported_rates_are_optaxs(ours, theirs, dtype, x64) -> None:
    values, held = optax_reports(theirs, dtype, 7, x64=x64)
    assert reported_rates(ours, np.arange(8), dtype=dtype, x64=x64).tolist() == values.tolist()
    assert reported_dtype(ours, dtype, x64=x64) == held


def test_the_brief_example_bfloat16_turns_0_1_into_0_10009765625() -> None:
    assert reported_rates(0.1, [0, 5], dtype="bfloat16").tolist() == [0.10009765625] * 2


def test_after_n_updates_the_state_holds_the_rate_of_update_n_minus_1() -> None:
    schedule = ro.linear_schedule(1.0, 0.0, 4)
    rates = schedule(np.arange(5)).astype(np.float64)
    reported = reported_rates(schedule, np.arange(1, 6))
    assert reported.tolist() == rates.tolist()
    assert reported_rates(schedule, [0]).tolist() == [rates[0]]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="`dtype`"):
        reported_rates(0.1, [1], dtype="int8")
    with pytest.raises(ValueError, match="x64=True"):
        reported_rates(0.1, [1], dtype="float64")
    with pytest.raises(ValueError, match="`updates`"):
        reported_rates(0.1, [-1])
    with pytest.raises(TypeError, match="`schedule`"):
        reported_rates("0.1", [1])


@settings(max_examples=200)
@given(values=st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=20))
def test_to_bfloat16_is_jaxs_conversion(values) -> None:
    with jax.enable_x64(True):
        theirs = np.asarray(
            jnp.asarray(np.array(values), jnp.float64).astype(jnp.bfloat16), np.float32
        )
    np.testing.assert_array_equal(to_bfloat16(values), theirs)


def test_to_bfloat16_edges() -> None:
    edges = [0.0, -0.0, 1.0 + 2**-8, 1.0 + 3 * 2**-9, 2.0**-133, 2.0**-134, 3.4e38, -np.inf, np.nan]
    with jax.enable_x64(True):
        theirs = np.asarray(jnp.asarray(np.array(edges)).astype(jnp.bfloat16), np.float32)
    np.testing.assert_array_equal(to_bfloat16(edges), theirs)
