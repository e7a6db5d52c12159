"""refimpl.optax._modes: each JAX-specific rule and pass on a hand-made graph, the values
derived by hand (NumPy float32 arithmetic and an exact FMA), and the kernels.  That the
rules are XLA's is measured by ``test_optax_parity.py`` and
``test_optax_jax_namespace.py`` against JAX itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refimpl.kernels.fma import fma_float32
from refimpl.modes.trace import run
from refimpl.optax import _modes
from refimpl.optax._ops import Lane, lanes, power

F = np.float32


def _trace(build, mode: str = "jit"):
    tracer = _modes.tracer(mode)
    count = tracer.cast(tracer.step(), np.int32)
    return tracer.finish(tracer.convert_to_tensor(build(tracer, count)))


def test_mode_names() -> None:
    assert _modes.MODES == ("jit", "eager")
    with pytest.raises(ValueError, match="mode='graph'"):
        _modes.check_mode("graph")


def test_cube_is_two_multiplications() -> None:
    node = _trace(lambda xp, n: xp.power(xp.cast(n, np.float32) * 0.01, 3.0))
    assert "power" not in str(node)
    x = F(7) * F(0.01)
    assert run(node, [7]).tolist() == [float(x * (x * x))]


def test_integer_powers_multiply_as_lax_integer_pow() -> None:
    """x**5 = x * (x**2)**2 (binary exponentiation); x**-2 = 1 / (x * x)."""
    from refimpl import numpy_ops

    x = F(1.1)
    assert power(x, 5, numpy_ops) == x * ((x * x) * (x * x))
    assert power(x, -2, numpy_ops) == F(1) / (x * x)
    assert power(x, 0, numpy_ops) == F(1)


def test_a_lane_and_a_scalar_constant_are_not_reassociated() -> None:
    """(x * C1) * C2 folds C1 * C2 when both are scalars or both are lanes, not when
    one is a lane (an element of a constant vector) and the other a broadcast scalar."""
    r, k = 1 / 55, 0.75

    def build(lane_r: bool, lane_k: bool):
        def formula(xp, n):
            x = xp.multiply(
                xp.cast(n, np.float32), xp.convert_to_tensor(Lane(r) if lane_r else r, np.float32)
            )
            return xp.multiply(x, xp.convert_to_tensor(Lane(k) if lane_k else k, np.float32))

        return _trace(formula)

    x = F(27)
    apart = float((x * F(r)) * F(k))
    together = float(x * (F(r) * F(k)))
    assert apart != together  # the case distinguishes the two
    assert run(build(True, False), [27]).tolist() == [apart]
    assert run(build(False, True), [27]).tolist() == [apart]
    assert run(build(True, True), [27]).tolist() == [together]
    assert run(build(False, False), [27]).tolist() == [together]


def test_lanes_marks_only_vectors_with_different_elements() -> None:
    assert [type(v) for v in lanes([3, 3, 3])] == [float] * 3
    assert [type(v) for v in lanes([3, 4])] == [Lane, Lane]
    assert [type(v) for v in lanes([5])] == [float]


def test_constant_additions_reassociate() -> None:
    """a + (1 - x) -> fl(a + 1) - x; a + (x - 1) -> x + fl(a - 1); a - (x + 1) stays."""
    a = 0.9595
    x = F(3) * F(0.1)

    def value(build):
        return run(_trace(lambda xp, n: build(xp.cast(n, np.float32) * 0.1)), [3])[0]

    assert value(lambda t: a + (1 - t)) == (F(a) + F(1)) - x
    assert value(lambda t: a + (t - 1)) == x + (F(a) - F(1))
    assert value(lambda t: a - (t + 1)) == F(a) - (x + F(1))


def test_an_implied_select_disappears() -> None:
    """where(n <= -1, A, where(n <= -2, B, C)): where n > -1, n <= -2 is false: C."""

    def formula(xp, n):
        x = xp.cast(n, np.float32)
        inner = xp.where(x <= -1.5, x * 2.0, x * 3.0)
        return xp.where(x <= -0.5, x * 5.0, inner)

    node = _trace(formula)
    assert "-1.5" not in str(node)
    assert run(node, [-1, 0, 4]).tolist() == [-5.0, 0.0, 12.0]


def test_a_common_addend_leaves_the_select_and_unfuses_the_products() -> None:
    """where(c, x*a + e, y*b + e) -> where(c, x*a, y*b) + e: no FMA, two roundings."""
    a, b, e = 0.415236235, -0.000140300384, 0.0316227749

    def formula(xp, n):
        x = xp.cast(n, np.float32)
        return xp.where(x <= -0.5, x * a + e, (x + 1.37081) * b + e)

    node = _trace(formula)
    assert "fma" not in str(node)
    x = F(9) + F(1.37081)
    unfused = float(F(x * F(b)) + F(e))
    assert unfused != float(fma_float32(x, F(b), F(e)))  # the case distinguishes the two
    assert run(node, [9]).tolist() == [unfused]


def test_the_hoisted_select_is_folded_again_and_its_product_fuses() -> None:
    """where(c, (cos(a) + 1) * k + e, (cos(b) + 1) * k + e) -> fma(where(c, cos(a),
    cos(b)) + 1, k, e): InstCombine revisits the select it made, down to the cosines."""
    k, e = 0.45, 0.1

    def formula(xp, n):
        x = xp.cast(n, np.float32)
        quarter = 0.7853981852531433  # fl(pi / 4), the measured case's
        return xp.where(n < 0, (1 + xp.cos(x * 3.0)) * k + e, (1 + xp.cos(x * quarter)) * k + e)

    node = _trace(formula)
    assert str(node).startswith("fma(add(1.0, where(")
    assert str(node).count("fma") == 1
    arm = F(_modes.JAX_XLA_CPU.apply("cos", [F(0.7853981852531433)], ())) + F(1)
    fused = float(fma_float32(arm, F(k), F(e)))
    assert fused != float(F(arm * F(k)) + F(e))  # the case distinguishes the two
    assert run(node, [1]).tolist() == [fused] == [0.868198037147522]  # jax.jit measured


def test_constant_log_exp_cos_fold_in_double_and_power_as_powf() -> None:
    """XLA folds float32 ``log``, ``exp``, ``cos`` of constants in double, rounded:
    ``log(3.6497123)`` is 1.2946483 (exact 1.29464834918..., the midpoint to 1.2946484 is
    1.29464834933...), where glibc's ``logf`` gives 1.2946484."""
    from decimal import Decimal

    from refimpl.kernels import glibc

    t = F(3.649712271094937)
    folded = _modes.JAX_XLA_FOLD.apply("log", [t], ())
    low, high = F(1.2946483), F(1.2946484)
    assert np.nextafter(low, F(2)) == high
    exact = Decimal(float(t)).ln()
    assert exact < (Decimal(float(low)) + Decimal(float(high))) / 2
    assert (folded, glibc.logf(t)) == (low, high)
    x, y = F(0.98), F(9.0)
    assert _modes.JAX_XLA_FOLD.apply("power", [x, y], ()) == glibc.powf(x, y)


def test_a_negated_product_plus_a_constant_fuses() -> None:
    """``(a * a) * -1 + 1`` -> ``fma(-a, a, 1)`` (InstCombine makes it ``1 - a * a``)."""

    def formula(xp, n):
        a = 1 - xp.cast(n, np.float32) * 0.2
        return xp.multiply(a * a, -1.0) + 1

    node = _trace(formula)
    assert str(node).startswith("fma(negative(")
    a = fma_float32(F(-1), F(0.2), F(1))
    fused = float(fma_float32(-a, a, F(1)))
    assert fused != float(F(1) - F(a * a))  # the case distinguishes the two
    assert run(node, [1]).tolist() == [fused] == [0.35999998450279236]  # jax.jit measured


def test_subnormal_float32_constants_are_zeros() -> None:
    """``pow(x, 5.6e-45)`` is ``pow(x, 0)``: 1 where x is 0 (glibc's ``powf`` gives 0)."""
    tiny = float(np.float32(5.03e-45))
    assert 0 < tiny < np.finfo(np.float32).smallest_normal
    node = _trace(lambda xp, n: xp.power(1 - xp.minimum(xp.cast(n, np.float32), 1.0), tiny))
    assert run(node, [0, 1, 2]).tolist() == [1.0, 1.0, 1.0]
    assert _modes.JAX_XLA_FOLD.apply("power", [F(0), F(tiny)], ()) == 0  # unflushed
    assert str(_modes.flushed(_modes.tracer("jit").constant(-tiny, np.float32)).value) == "-0.0"
    assert _modes.tracer("jit").constant(5e-320, np.float64).value == 5e-320


def test_different_addends_keep_their_fmas() -> None:
    def formula(xp, n):
        x = xp.cast(n, np.float32)
        return xp.where(x <= 3.5, x * 0.3 + 0.1, x * 0.7 + 0.2)

    node = _trace(formula)
    assert str(node).count("fma") == 2


def test_eager_divides_and_does_not_fuse() -> None:
    node = _trace(lambda xp, n: xp.cast(n, np.float32) / 61.0 * 0.3 + 0.1, mode="eager")
    x = F(61)
    assert run(node, [61]).tolist() == [float(F(F(x / F(61)) * F(0.3)) + F(0.1))]
    jit = _trace(lambda xp, n: xp.cast(n, np.float32) / 61.0 * 0.3 + 0.1)
    assert run(jit, [61]).tolist() == [float(fma_float32(x, F(1) / F(61) * F(0.3), F(0.1)))]


def test_no_minimum_split_past_the_end() -> None:
    """jaxlib's XLA lowers minimum to llvm.minimum: past 208 the value is the one at 208
    (computed with the FMA), not a separately folded constant."""

    def formula(xp, n):
        t = xp.minimum(xp.cast(n, np.float32), 208.0)
        return (1 - t / 208.0) * 0.7 + 0.3

    node = _trace(formula)
    values = run(node, [208, 209, 10**6])
    assert len(set(values.tolist())) == 1
    q = fma_float32(F(208), -(F(1) / F(208)), F(1))
    assert values[0] == fma_float32(q, F(0.7), F(0.3))


@pytest.mark.parametrize("op", ["cos", "power", "log", "exp", "exp2"])
def test_float64_kernels_are_the_c_librarys(op) -> None:
    """float64 functions are glibc's (Python's ``math`` calls the C library), with C's
    special values where Python raises."""
    kernel = _modes.JAX_XLA_CPU.table[op]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.01, 4.0, 64)
    y = rng.uniform(-3.0, 3.0, 64)
    reference = {
        "cos": lambda: [math.cos(v) for v in x],
        "power": lambda: [math.pow(u, v) for u, v in zip(x, y, strict=True)],
        "log": lambda: [math.log(v) for v in x],
        "exp": lambda: [math.exp(v) for v in y],
        "exp2": lambda: [2.0**v for v in range(-3, 4)],
    }[op]()
    args = {"power": (x, y), "exp": (y,), "exp2": (np.arange(-3.0, 4.0),)}.get(op, (x,))
    assert kernel(*args).tolist() == reference
    specials = {
        "power": ((np.array([0.0, -1.0]), np.array([-1.0, 0.5])), [math.inf, math.nan]),
        "log": ((np.array([0.0, -1.0]),), [-math.inf, math.nan]),
        "exp": ((np.array([1000.0]),), [math.inf]),
        "exp2": ((np.array([2000.0]),), [math.inf]),
        "cos": ((np.array([math.inf]),), [math.nan]),
    }[op]
    got = kernel(*specials[0])
    np.testing.assert_array_equal(got, np.array(specials[1]))
