"""JAX mode: XLA's rules with jaxlib's code generation, each rule on a hand-made graph,
and the mode's dtypes and step range.  (What Keras on JAX applies, measured: the parity
tests in tests/test_keras_adapter_backends.py.)"""

from __future__ import annotations

import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from refimpl.exceptions import ScheduleWarning
from refimpl.kernels.fma import fma_float32
from refimpl.modes import jax_xla
from refimpl.modes.differences import compare
from refimpl.modes.trace import run, topological
from refimpl.schedules import CosineDecayRestarts, ExponentialDecay, PolynomialDecay

F = np.float32


def test_the_step_minimum_is_not_split_off_past_the_end() -> None:
    """``1 - min(s, 3) * fl(1/3)`` is one FMA at every step: exactly ``1 - 3 * fl(1/3)``
    = -2**-25 from step 3 on (fl(1/3) = 11184811 * 2**-25), where TensorFlow's XLA
    computes the past-the-end arm apart and folds it to 0."""
    third = Fraction(float(F(1) / F(3)))
    assert third == Fraction(11184811, 2**25)
    end = F(float(1 - 3 * third))
    assert end == F(-(2.0**-25))
    s = PolynomialDecay(1.0, 3, 0.0)
    assert s([3, 4, 1000], mode="jax").tolist() == [end] * 3
    assert s([4, 1000], mode="xla").tolist() == [0.0, 0.0]
    # Rounding, not a decision: 2**-25 is within the formula's rounding bound (one ulp
    # of 1 - 0 = |lr - end|), though of the other sign.
    (found,) = compare(s, [3, 4, 1000], "jax", "exact")
    assert (found.kind, found.steps) == ("rounding", (3, 4, 1000))


def test_an_expensive_operation_feeding_the_update_is_a_fusion_of_its_own() -> None:
    """``p = s * 0.5`` feeds ``log(p)`` (expensive: its own fusion, as it feeds the
    update) and the update's fusion: it is computed in both."""
    tr = jax_xla.tracer()
    s = tr.cast(tr.step(), "float32")
    p = s * F(0.5)
    e = tr.log(p)
    root = tr.add(e, p)
    where = jax_xla.fusions(root)
    assert where[id(root)] == {jax_xla.UPDATE}
    assert where[id(e)] == {id(e)}
    assert where[id(p)] == {id(e), jax_xla.UPDATE}


def test_a_single_use_expensive_operation_joins_its_consumer() -> None:
    """``log(s)`` used once by a cheap operation inside another expensive operation's
    fusion (not the update) is fused into it."""
    tr = jax_xla.tracer()
    s = tr.cast(tr.step(), "float32")
    inner = tr.log(s)
    outer = tr.exp(inner + F(1))
    root = outer * F(2)
    where = jax_xla.fusions(root)
    assert where[id(outer)] == {id(outer)}
    assert where[id(inner)] == {id(outer)}


def test_a_product_shared_by_two_fusions_is_contracted_in_each() -> None:
    """``f = s * c`` feeds ``sqrt(f + 2)`` (expensive: a fusion of its own) and ``f - 1``
    in the update's fusion: in XLA mode (one function) the shared product is not
    contracted; in JAX mode each fusion has one use of it, so both sums are FMAs."""
    from refimpl.modes import xla

    def build(tr: Any) -> Any:
        s = tr.cast(tr.step(), "float32")
        f = s * F(0.3)
        return tr.finish(tr.add(tr.sqrt(f + F(2)), f - F(1)))

    jax_graph, xla_graph = build(jax_xla.tracer()), build(xla.tracer())
    assert str(jax_graph).count("fma") == 2
    assert "fma" not in str(xla_graph)
    at = np.arange(0, 200)
    s = at.astype(F)
    fused = np.array([np.sqrt(fma_float32(x, F(0.3), F(2))) for x in s], F)
    fused += np.array([fma_float32(x, F(0.3), F(-1)) for x in s], F)
    f = s * F(0.3)
    unfused = np.sqrt(f + F(2)) + (f - F(1))
    assert (run(jax_graph, at) == fused).all()
    assert (run(xla_graph, at) == unfused).all()
    assert (fused != unfused).any()


def test_a_division_by_a_power_is_a_cheap_product() -> None:
    """``x / 2**i`` is ``x * 2**-i`` on the HLO: the restart's fraction is computed in
    the update's fusion, where ``s * fl(1/d)`` (shared with the ``log`` fusion) is
    contracted; XLA mode keeps the division (one fusion: nothing to contract)."""
    s = CosineDecayRestarts(0.05, 7)  # t_mul=2, m_mul=1
    jax_graph, xla_graph = str(s.trace("jax")), str(s.trace("xla"))
    assert "truediv" not in jax_graph
    assert "exp2(negative(floor(" in jax_graph
    fused = [n for n in topological(s.trace("jax")) if n.op == "fma"]
    assert len(fused) == 2  # 1 + f (the log's fusion), f - (1 - 2**i) (the update's)
    assert all(n.inputs[0].op == "cast" for n in fused)
    assert "truediv" in xla_graph
    assert "fma" not in xla_graph
    steps = np.arange(200)
    assert (s(steps, mode="jax") != s(steps, mode="xla")).any()


def test_no_64_bit_types() -> None:
    """A float64 rate computes in float32 (``jax_enable_x64`` is off): the same graph
    and the same rates as the float32 configuration."""
    steps = np.arange(0, 400, 7)
    wide = ExponentialDecay(np.float64(0.1), 7, 0.3)
    narrow = ExponentialDecay(0.1, 7, 0.3)
    assert "float64" not in str(wide.trace("jax"))
    assert "float64" in str(wide.trace("xla"))
    assert (wide(steps, mode="jax") == narrow(steps, mode="jax")).all()
    assert (wide(steps, mode="xla") != narrow(steps, mode="xla")).any()


@pytest.mark.parametrize("step", [2**31, [0, 2**31 + 5], -(2**31) - 1])
def test_steps_outside_the_int32_counter_are_refused(step: object) -> None:
    with pytest.raises(ValueError, match=r"mode='jax'.*int32.*Received: step="):
        ExponentialDecay(0.1, 7, 0.3)(step, mode="jax")  # type: ignore[arg-type]


def test_the_last_int32_step_is_allowed() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # beyond 2**24
        rate = CosineDecayRestarts(0.1, 1000)(2**31 - 1, mode="jax")
    assert np.isfinite(rate)
