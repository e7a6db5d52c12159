"""refimpl.optax.jax_namespace: every refimpl formula on ``jax.numpy`` under ``jax.jit``.

- the namespace keeps TensorFlow's dtype rules inside JAX, x64 or not;
- every Keras schedule class and every torch closed form, run through
  :func:`refimpl.optax.as_optax` under ``jax.jit`` (one count at a time), gives what
  :func:`refimpl.optax.jit_rates` predicts from NumPy, bit for bit;
- against Keras's own XLA mode (refimpl's TensorFlow model, ``mode="xla"``) the
  differences are jaxlib's ``minimum``, which XLA no longer splits, and its folding of
  constant ``log``/``exp``/``cos`` (in double): traced without that split and with
  JAX's folding, refimpl's TensorFlow rules give JAX's values (and pinned cases show
  where the two part, past the end of a decay and at a restart);
- an Optax schedule through the namespace is Optax's function: the same values, dtype
  and weak type;
- the port is an Optax schedule: ``optax.sgd`` applies it, ``inject_hyperparams``
  reports it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import namespace
from refimpl.modes import xla
from refimpl.modes.trace import run
from refimpl.optax import _modes, as_optax, jax_ops, jit_rates
from refimpl.optax.piecewise import PiecewiseInterpolateSchedule
from refimpl.schedules import PolynomialDecay, schedule_class
from refimpl.testing import (
    OPTAX_SCHEDULE_NAMES,
    SCHEDULE_NAMES,
    TORCH_SCHEDULER_NAMES,
    build_optax_schedule,
    build_torch_scheduler,
    edge_steps,
    optax_edge_counts,
    optax_schedule_configs,
    schedule_configs,
    torch_base_rates,
    torch_edge_steps,
    torch_scheduler_configs,
)

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")
_spec = importlib.util.spec_from_file_location(
    "_optax_oracle", Path(__file__).with_name("_optax_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]

#: Counts beyond the edges (int32: Optax's count).
EXTRA = st.lists(st.one_of(st.integers(0, 500), st.integers(0, 2**31 - 1)), max_size=6)


def _counts(edges, extra) -> np.ndarray:
    return np.array(sorted({e for e in edges if 0 <= e < 2**31} | set(extra)), dtype=np.int64)


def _assert_same(got: np.ndarray, want: np.ndarray, what: str, counts: np.ndarray) -> None:
    bad = oracle.differing(got, want)
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} counts differ, first {counts[bad][:5].tolist()}: "
        f"{got[bad][:3].tolist()} vs {want[bad][:3].tolist()}"
    )


# --- the namespace ---------------------------------------------------------------------------


def test_it_is_an_array_namespace() -> None:
    assert isinstance(jax_ops, namespace.ArrayNamespace)


@pytest.mark.parametrize("x64", [False, True])
def test_tensorflows_dtype_rules_hold_in_jax(x64) -> None:
    with jax.enable_x64(x64):
        assert jax_ops.convert_to_tensor(0.1).dtype == np.float32
        assert jax_ops.convert_to_tensor(3).dtype == np.int32
        assert jax_ops.multiply(jnp.arange(3, dtype=jnp.int32), 0.5).dtype == np.float32
        assert jax_ops.divide(jnp.int32(3), jnp.int32(2)).dtype == np.float32
        assert jax_ops.cos(jnp.int32(0)).dtype == np.float32
        assert jax_ops.add(jnp.float32(1), 2).dtype == np.float32
        if x64:  # TensorFlow's cast of a Python float goes through float32
            assert float(jax_ops.cast(0.1, "float64")) == 0.10000000149011612


def test_power_is_powf_even_for_an_integer_exponent() -> None:
    """TensorFlow's Pow of a float is ``powf``; jnp.power of a Python int would multiply."""
    from refimpl import numpy_ops

    x = np.float32(1.1)
    got = jax.jit(lambda v: jax_ops.power(v, 5))(jnp.float32(x))
    assert float(got) == float(numpy_ops.power(x, np.float32(5)))


def test_cond_computes_both_branches_and_selects() -> None:
    out = jax.jit(lambda c: jax_ops.cond(c > 2, lambda: (c * 1, c * 2), lambda: (c * 3, c)))(
        jnp.int32(5)
    )
    assert [int(v) for v in out] == [5, 10]


def test_jax_promotion_matches_the_types_module() -> None:
    """refimpl.optax._types.join against jnp.where of such values, with x64."""
    from refimpl.optax._types import JaxType, join

    with jax.enable_x64(True):
        strong32 = jnp.asarray(1, jnp.int32) / 3  # strong float32
        weak64 = jnp.minimum(jnp.int32(1), 3.0)  # weak float64
        out = jnp.where(True, strong32, weak64)
        assert (str(out.dtype), out.weak_type) == ("float32", False)
        expected = join(JaxType(np.dtype("float32"), False), JaxType(np.dtype("float64"), True))
        assert expected == JaxType(np.dtype("float32"), False)


# --- every refimpl formula under jit -----------------------------------------------------------


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@settings(max_examples=4)
@given(data=st.data(), extra=EXTRA)
def test_keras_schedules_under_jit_are_predicted(name, data, extra) -> None:
    config = data.draw(schedule_configs(name), label="config")
    schedule = schedule_class(name).from_config(config)
    counts = _counts(edge_steps(name, config), extra)
    got = oracle.optax_values(as_optax(schedule), counts)
    _assert_same(got, jit_rates(schedule, counts), f"{name}({config})", counts)


@pytest.mark.parametrize("name", ["ExponentialDecay", "CosineDecay", "CosineDecayRestarts"])
@settings(max_examples=3)
@given(data=st.data(), extra=EXTRA)
def test_float64_keras_schedules_under_x64_are_predicted(name, data, extra) -> None:
    config = data.draw(schedule_configs(name), label="config")
    schedule = schedule_class(name).from_config(config).with_dtype("float64")
    counts = _counts(edge_steps(name, config), extra)
    got = oracle.optax_values(as_optax(schedule), counts, x64=True)
    _assert_same(got, jit_rates(schedule, counts, x64=True), f"{name}({config})", counts)


#: torch schedulers whose closed form is a formula of the step (not a Python callback);
#: ChainedScheduler's product of closed forms is pinned apart (see
#: ``test_chained_products_reassociate_as_xla_visits_them``).
PORTABLE = [
    n
    for n in TORCH_SCHEDULER_NAMES
    if n not in ("LambdaLR", "MultiplicativeLR", "ChainedScheduler")
]


def _portable(config: dict) -> bool:
    return all(
        child not in ("LambdaLR", "MultiplicativeLR") for child, _ in config.get("schedulers", [])
    )


@pytest.mark.parametrize("name", PORTABLE)
@settings(max_examples=4)
@given(data=st.data(), extra=EXTRA)
def test_torch_closed_forms_under_jit_are_predicted(name, data, extra) -> None:
    config = data.draw(torch_scheduler_configs(name).filter(_portable), label="config")
    scheduler = build_torch_scheduler(name, config, data.draw(torch_base_rates(), label="lr"))
    counts = _counts(torch_edge_steps(name, config), extra)
    got = oracle.optax_values(as_optax(scheduler), counts)
    _assert_same(got, jit_rates(scheduler, counts), f"{name}({config})", counts)


def test_chained_products_reassociate_as_xla_visits_them() -> None:
    """A known difference, explained: ChainedScheduler's closed form multiplies the
    first child's rate by ``child / lr`` for the others.  XLA rewrites
    ``(0.1 * p2) / 0.1`` into ``(p2 * 0.1) * 10`` and matches the product above it,
    ``(p1 * 0.1) * ((p2 * 0.1) * 10)``, as ``(A * C1) * (B * C2)`` *before* it
    simplifies the new node: ``(p1 * (p2 * 0.1)) * fl(0.1 * 10)``, then ``* 1`` goes.
    refimpl's tracer simplifies each node as it is recorded (``(p2 * 0.1) * 10`` is
    ``p2`` at once), giving ``(p1 * 0.1) * p2``.  Both orders are computed by hand here;
    JAX gives the first (read from the optimized HLO), :func:`jit_rates` the second."""
    from refimpl.kernels import glibc
    from refimpl.torch.lr_scheduler import ChainedScheduler, StepLR

    chain = ChainedScheduler(
        [StepLR(0.1, step_size=1, gamma=0.1), StepLR(0.1, step_size=1, gamma=0.01)]
    )
    counts = np.arange(12)
    p1 = glibc.powf(np.float32(0.1), counts.astype(np.float32))
    p2 = glibc.powf(np.float32(0.01), counts.astype(np.float32))
    xla_order = p1 * (p2 * np.float32(0.1))
    eager_order = (p1 * np.float32(0.1)) * p2
    assert (xla_order != eager_order).any()  # the case tells the orders apart
    assert oracle.optax_values(as_optax(chain), counts).tolist() == xla_order.tolist()
    assert jit_rates(chain, counts).tolist() == eager_order.tolist()


@pytest.mark.parametrize("name", ["LambdaLR", "MultiplicativeLR"])
def test_callback_schedulers_are_refused(name) -> None:
    from refimpl.testing import TorchFactor

    scheduler = build_torch_scheduler(name, {"lr_lambda": TorchFactor("constant", 0.9)}, 0.1)
    with pytest.raises(TypeError, match=name):
        as_optax(scheduler)


def test_other_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="refimpl schedule"):
        as_optax(lambda count: 0.1)


@pytest.mark.parametrize("name", OPTAX_SCHEDULE_NAMES)
@settings(max_examples=4)
@given(data=st.data(), extra=EXTRA, x64=st.booleans())
def test_optax_schedules_through_the_namespace_are_optaxs(name, data, extra, x64) -> None:
    """The same dtype and weak type as Optax's own function under jit, and the values
    :func:`jit_rates` predicts: Optax's own, but where the port's scalar constants let
    XLA reassociate a product that Optax's constant vectors keep (see the next test)."""
    config = data.draw(optax_schedule_configs(name), label="config")
    schedule = build_optax_schedule(name, config)
    ours = as_optax(schedule)
    theirs = build_optax_schedule(name, config, optax)
    counts = _counts(optax_edge_counts(name, config), extra)
    got = oracle.optax_values(ours, counts, x64=x64)
    what = f"{name}({config})"
    _assert_same(got, jit_rates(schedule, counts, x64=x64), what, counts)
    if not isinstance(schedule, PiecewiseInterpolateSchedule):
        _assert_same(got, oracle.optax_values(theirs, counts, x64=x64), what, counts)
    with jax.enable_x64(x64):
        a, b = jax.jit(ours)(jnp.int32(3)), jax.jit(theirs)(jnp.int32(3))
        assert (a.dtype, a.weak_type) == (b.dtype, b.weak_type)


def test_the_ports_scalars_reassociate_where_optaxs_vectors_do_not() -> None:
    """cosine_onecycle_schedule(36, 0.1): at count 35 Optax's vectors keep
    ``(t * fl(1/26)) * pi`` (t = 25, the count past the boundary), the port's scalars
    make it ``t * fl(fl(1/26) * pi)``: the cosines' arguments, hence the values, part."""
    config = {"transition_steps": 36, "peak_value": 0.1}
    schedule = build_optax_schedule("cosine_onecycle_schedule", config)
    counts = np.array([34, 35])
    port = oracle.optax_values(as_optax(schedule), counts)
    own = oracle.optax_values(
        build_optax_schedule("cosine_onecycle_schedule", config, optax), counts
    )
    f = np.float32
    inverse = f(1) / f(26)
    kept, reassociated = (f(25) * inverse) * f(np.pi), f(25) * (inverse * f(np.pi))
    assert kept != reassociated
    assert own[1] != port[1]
    assert port.tolist() == jit_rates(schedule, counts).tolist()
    assert own.tolist() == schedule(counts).tolist()


def test_a_select_climbs_through_every_common_operand() -> None:
    """join_schedules of two cosines (decay_steps 1 and 4, alpha 0.1) at boundary 0:
    InstCombine hoists the select through ``+ 0.1``, ``* 0.45`` and ``1 +`` (down to the
    two cosines), and the product then fuses.  Optax's own function under jit gives
    0.868198037147522 at count 1; one fold only (unfused) would give 0.8681980967521667.
    Found by the dev profile's random seed (``@reproduce_failure('6.170.27',
    b'AXicY2BwZHJkAUIGR0YkzAClWRB8AGzPBSg=')`` of the test above)."""
    from refimpl.optax import cosine_decay_schedule, join_schedules

    theirs = optax.join_schedules(
        [optax.cosine_decay_schedule(1.0, 1, 0.1), optax.cosine_decay_schedule(1.0, 4, 0.1)], [0]
    )
    schedule = join_schedules(
        [cosine_decay_schedule(1.0, 1, 0.1), cosine_decay_schedule(1.0, 4, 0.1)], [0]
    )
    counts = np.arange(6)
    got = oracle.optax_values(theirs, counts)
    assert got[1] == np.float32(0.868198037147522)
    assert schedule(counts).tolist() == got.tolist()


def test_one_minus_a_square_is_one_fma() -> None:
    """polynomial_schedule(0, 1, power=2, transition_steps=5): ``(a * a) * -1 + 1`` is
    ``fma(-a, a, 1)`` under jit (0.35999998450279236 at count 1; unfused 0.35999995...).
    Found by ``--hypothesis-seed=7``."""
    from refimpl.optax import polynomial_schedule

    counts = np.arange(7)
    got = oracle.optax_values(optax.polynomial_schedule(0.0, 1.0, 2, 5), counts)
    assert got[1] == np.float32(0.35999998450279236)
    assert polynomial_schedule(0.0, 1.0, 2, 5)(counts).tolist() == got.tolist()


def test_a_subnormal_exponent_is_zero() -> None:
    """torch's PolynomialLR(total_iters=1, power=5.03e-45) ported: the exponent is a
    subnormal float32 constant, flushed by XLA, so the rate is 1.0 at every count (not
    0.0 from ``total_iters`` on).  Found by ``--hypothesis-seed=5``."""
    scheduler = build_torch_scheduler(
        "PolynomialLR", {"total_iters": 1, "power": 5.0321484317896524e-45}, 1.0
    )
    counts = np.array([0, 1, 2])
    got = oracle.optax_values(as_optax(scheduler), counts)
    assert got.tolist() == [1.0, 1.0, 1.0]
    assert jit_rates(scheduler, counts).tolist() == got.tolist()


def test_jax_folds_a_constant_log_in_double() -> None:
    """``log(t_mul)`` of a constant is folded in double and rounded (1.2946483, the
    correctly rounded value: the exact log is 1.29464834918..., below the midpoint
    1.29464834933...), not by glibc's ``logf`` (1.2946484), which TensorFlow uses
    (measured: Keras's ``CosineDecayRestarts`` below with ``jit_compile=True`` gives 0.0 at
    step 1).  With ``fl(1 / log(t_mul))`` = 0.7724106 the restart index at the end of the
    first cycle is 1 and the rate 1.0 (a new cycle); with 0.77241045 it is 0 and 0.0."""
    from refimpl.kernels import glibc
    from refimpl.schedules import CosineDecayRestarts

    t = np.float32(3.649712271094937)
    folded = jax.jit(lambda: jnp.log(t))()
    assert np.float32(folded) == np.float32(1.2946483) == _modes.JAX_XLA_FOLD.apply("log", [t], ())
    assert glibc.logf(t) == np.float32(1.2946484)
    schedule = CosineDecayRestarts(1.0, 1, t_mul=3.649712271094937, alpha=0.0)
    counts = np.array([0, 1, 2])
    got = oracle.optax_values(as_optax(schedule), counts)
    assert got.tolist() == [1.0, 1.0, float(np.float32(0.8259238))]
    assert jit_rates(schedule, counts).tolist() == got.tolist()


# --- against Keras's own XLA (refimpl's TensorFlow model) -------------------------------------


def _xla_without_split(schedule, counts: np.ndarray) -> np.ndarray:
    """Keras's formula traced with refimpl.modes.xla's rules and passes (TensorFlow 2.21's
    XLA), without the split of ``minimum(float(step), C)`` and with ``pow(A, 3)`` (which
    XLA has in both, refimpl's TensorFlow model lacks), on the int64 step, constants
    folded as jaxlib's XLA folds them (:data:`~refimpl.optax._modes.JAX_XLA_FOLD`:
    TensorFlow folds ``log(t_mul)`` with glibc's ``logf``, see
    :func:`test_jax_folds_a_constant_log_in_double`)."""
    base = xla.tracer()
    tracer = _modes.JitTracer(
        name="xla-no-split",
        rules=(*base.rules, _modes.cube),
        passes=tuple(p for p in base.passes if p is not xla.split_minimum_of_the_step),
        fold=_modes.JAX_XLA_FOLD,
        runtime=base.runtime,
    )
    rate = schedule.evaluate(tracer.step(), xp=tracer)
    return run(tracer.finish(tracer.cast(rate, np.float32)), counts)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@settings(max_examples=4)
@given(data=st.data(), extra=EXTRA)
def test_jax_is_kerass_xla_but_for_the_minimum_split(name, data, extra) -> None:
    config = data.draw(schedule_configs(name), label="config")
    schedule = schedule_class(name).from_config(config)
    counts = _counts(edge_steps(name, config), extra)
    got = oracle.optax_values(as_optax(schedule), counts)
    _assert_same(got, _xla_without_split(schedule, counts), f"{name}({config})", counts)


def test_constant_additions_are_reassociated() -> None:
    """LinearCosineDecay with decay_steps=1: ``alpha + (1 - s)`` is ``fl(alpha + 1) - s``
    in XLA (1.95954847 - 1 = 0.95954847, not fl(0.9595485 + 0))."""
    from refimpl.schedules import LinearCosineDecay

    schedule = LinearCosineDecay(1.0, 1, num_periods=0.0, alpha=0.959548560224849, beta=0.0)
    counts = np.array([0, 1, 2])
    got = oracle.optax_values(as_optax(schedule), counts)
    by_hand = np.float32(np.float32(0.959548560224849) + np.float32(1)) - np.float32(1)
    assert got[1:].tolist() == [float(by_hand)] * 2
    assert jit_rates(schedule, counts).tolist() == got.tolist()


def test_llvms_zero_products_do_not_rerun_xlas_simplifier() -> None:
    """num_periods=0: LLVM turns the cosine into 1 after XLA's simplifier has run, so
    ``(fl(alpha + 1) - s) * 1 + beta`` stays two additions; XLA's constant reassociation
    would have given ``fl(fl(alpha + 1) + beta) - s`` (one ulp apart here)."""
    from refimpl.schedules import LinearCosineDecay

    alpha, beta = 0.04097352393619469, 0.016527635528529094
    schedule = LinearCosineDecay(1.0, 1, num_periods=0.0, alpha=alpha, beta=beta)
    counts = np.array([0, 1, 2])
    got = oracle.optax_values(as_optax(schedule), counts)
    f, one = np.float32, np.float32(1)
    kept = (f(alpha) + one - one) + f(beta)
    reassociated = (f(alpha) + one + f(beta)) - one
    assert kept != reassociated
    assert got[1:].tolist() == [float(kept)] * 2
    assert jit_rates(schedule, counts).tolist() == got.tolist()


def test_past_the_end_jax_and_kerass_xla_part() -> None:
    """PolynomialDecay(power=1) to 0.3 over 208 steps: at 208 ``fma(208, -fl(1/208), 1)``
    is a tiny negative number (0.29999998); Keras's XLA folds the steps after 208 apart
    (0.3), JAX computes them as 208 (measured in training by refimpl.modes.xla's tests,
    in JAX here)."""
    schedule = PolynomialDecay(1.0, 208, 0.3, power=1.0)
    counts = np.array([207, 208, 209, 10**6])
    jax_values = oracle.optax_values(as_optax(schedule), counts)
    keras_xla = schedule(counts, mode="xla")
    assert jax_values.tolist()[1:] == [np.float32(0.29999998).item()] * 3
    assert keras_xla.tolist()[2:] == [np.float32(0.3).item()] * 2
    assert jax_values[:2].tolist() == keras_xla[:2].tolist()


# --- the port in an optimizer ------------------------------------------------------------------


def test_sgd_applies_the_ported_rate() -> None:
    """optax.sgd(learning_rate=as_optax(s)): with a gradient of 1 the update is -rate."""
    schedule = PolynomialDecay(0.1, 50, 0.001, power=2.0)
    opt = optax.sgd(learning_rate=as_optax(schedule))
    params = jnp.zeros(())
    state = opt.init(params)
    step = jax.jit(opt.update)
    applied = []
    for _ in range(60):
        updates, state = step(jnp.ones(()), state, params)
        applied.append(-float(updates))
    want = jit_rates(schedule, np.arange(60))
    assert np.array(applied, np.float32).tolist() == want.tolist()
