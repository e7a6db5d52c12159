"""Graph mode: Grappler's rewrites, each on a hand-made graph, and the whole mode against
the rates Keras applies (tests/_mode_parity.py)."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl.exceptions import ScheduleWarning
from refimpl.modes import grappler
from refimpl.modes.trace import run
from refimpl.schedules import CosineDecayRestarts, ExponentialDecay, PolynomialDecay
from tests._mode_parity import make_parity_test

F = np.float32


def test_division_by_a_constant_multiplies_by_the_rounded_reciprocal() -> None:
    tr = grappler.tracer()
    node = tr.finish(tr.cast(tr.step(), "float32") / 61.0)
    assert node.op == "multiply"
    recip = F(1) / F(61)
    assert run(node, [61])[0] == F(61) * recip  # 0.99999994, not 1
    assert run(node, [61])[0] < 1


def test_constants_are_pushed_down_through_products_with_one_use() -> None:
    """rate * (step * r) -> step * fl(rate * r) (InverseTimeDecay's rewrite)."""
    tr = grappler.tracer()
    s = tr.cast(tr.step(), "float32")
    node = tr.finish(tr.multiply(tr.cast(0.5, "float32"), s / 100.0))
    inner = next(i for i in node.inputs if i.op == "const")
    assert inner.value == F(0.5) * (F(1) / F(100))
    # A product used twice keeps its place: no push-down.
    shared = s / 100.0
    both = tr.finish(tr.add(tr.multiply(tr.cast(0.5, "float32"), shared), shared))
    assert any(i.op == "multiply" and i.inputs[1] is shared for i in both.inputs)


def test_the_first_name_takes_the_place_of_x_in_a_push_down() -> None:
    """C * (X * Y) with two non-constant factors: the one named first (TensorFlow sorts a
    commutative op's inputs by name) stays outside, C meets the other."""
    tr = grappler.tracer()
    s = tr.cast(tr.step(), "float32")
    a = tr.cos(s)  # named Cos
    b = s + 1.0  # named add
    node = tr.finish(tr.multiply(tr.cast(3.0, "float32"), tr.multiply(b, a)))
    assert node.inputs[0] is a  # "Cos" sorts before "add"
    assert node.inputs[1].inputs[1] is b


def test_powers_with_special_exponents_are_replaced() -> None:
    tr = grappler.tracer()
    s = tr.cast(tr.step(), "float32") / 7.0
    assert tr.power(s, 2.0).op == "multiply"
    assert tr.power(s, 0.5).op == "sqrt"
    assert tr.power(s, 1.0) is s
    assert tr.power(s, 1.5).op == "power"


def test_three_terms_become_one_sum_in_name_order() -> None:
    """a + (b + c) -> AddN sorted by name, summed left to right."""
    tr = grappler.tracer()
    s = tr.cast(tr.step(), "float32")
    node = tr.finish(tr.cast(1e8, "float32") + (tr.cos(s) + s * 1e-8))
    assert node.op == "add_n"
    assert [i.name for i in node.inputs] == sorted(i.name for i in node.inputs)


def test_hand_derived_rates_of_the_issues_configurations() -> None:
    """The staircase of ExponentialDecay(0.1, 61, 0.5) switches at 62, not 61; the
    polynomial's quotient is step * fl(1/5000)."""
    stairs = ExponentialDecay(0.1, 61, 0.5, staircase=True)
    with pytest.warns(ScheduleWarning, match=r"decides differently .* step 61 \(the staircase"):
        assert stairs(61, mode="graph") == F(0.1)
    assert stairs(61) == F(0.05)  # eager: 61 / 61 == 1
    poly = PolynomialDecay(0.003, 5000, 0.001, power=1.5)
    q = F(1) - F(2500) * (F(1) / F(5000))
    assert poly(2500, mode="graph") == F(0.001) + (F(0.003) - F(0.001)) * np.power(q, F(1.5))


def test_restart_index_uses_the_reciprocal_of_the_constant_log() -> None:
    """floor(log(x) / log(t)) becomes floor(log(x) * fl(1 / log(t))) with log(t) folded."""
    trace = str(CosineDecayRestarts(0.01, 37, t_mul=1.5).trace("graph"))
    assert "log(" in trace
    assert "truediv(log" not in trace


test_every_schedule_class_matches_keras_in_graph_mode = make_parity_test("graph")
