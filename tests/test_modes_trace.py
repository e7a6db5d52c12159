"""The tracer: formulas recorded as graphs, folded, rewritten, run on arrays of steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import numpy_ops
from refimpl.modes.trace import Kernels, Node, Tracer, run
from refimpl.namespace import ArrayNamespace
from refimpl.schedules import InverseTimeDecay, PiecewiseConstantDecay, TimeBasedDecay
from refimpl.testing import schedule_configs


def plain(*, cond_barrier: bool = True) -> Tracer:
    return Tracer(name="plain", cond_barrier=cond_barrier)


def test_a_tracer_is_an_array_namespace() -> None:
    assert isinstance(plain(), ArrayNamespace)


def test_operations_on_constants_are_folded_in_their_dtype() -> None:
    tr = plain()
    node = tr.cast(1, "float32") / 3.0
    assert node.is_constant
    assert node.value == np.float32(1) / np.float32(3)
    assert node.value.dtype == np.float32


def test_python_numbers_take_the_tensors_dtype() -> None:
    tr = plain()
    x = tr.cast(tr.step(), "float64")
    node = x * 0.1  # 0.1 becomes a float64 constant, not float32's 0.1
    assert node.inputs[1].value == np.float64(0.1)
    assert node.dtype == np.float64


def test_a_python_branch_on_a_traced_value_is_refused() -> None:
    tr = plain()
    with pytest.raises(TypeError, match="truth value"):
        bool(tr.step() > 3)


def test_run_evaluates_every_step() -> None:
    tr = plain()
    s = tr.cast(tr.step(), "float32")
    node = tr.where(s < 2.0, s * 10.0, tr.minimum(s, 3.0))
    np.testing.assert_array_equal(run(node, [0, 1, 2, 5]), np.float32([0, 10, 2, 3]))


def test_cond_folds_only_constants_recorded_in_its_branch() -> None:
    """TensorFlow passes a constant from outside a cond branch in through a Switch:
    the branch cannot fold it with its own constants."""
    tr = plain()
    outside = tr.cast(3, "float32")
    s = tr.cast(tr.step(), "float32")

    def branch() -> Node:
        inside = tr.cast(2, "float32")
        assert not tr.is_constant(outside)
        assert tr.is_constant(inside)
        return s * (inside * 5.0) + outside  # inside * 5 folds, outside does not

    out = tr.cond(s < 1.0, branch, lambda: s)
    assert out.op == "where"
    chosen = out.inputs[1]
    assert chosen.op == "add"
    assert chosen.inputs[0].inputs[1].value == 10  # folded: 2 * 5
    assert not tr.is_constant(outside) or tr._scope == 0
    assert chosen.inputs[1] is outside
    np.testing.assert_array_equal(run(out, [0, 4]), np.float32([3, 4]))


def test_cond_on_a_constant_picks_the_branch_and_returns_tuples() -> None:
    tr = plain()
    one = tr.cast(1.0, "float32")
    a, b = tr.cond(tr.equal(one, 1.0), lambda: (one, one * 2.0), lambda: (one, one))
    assert a is one
    assert b.value == 2


def test_deep_graphs_run_without_recursion() -> None:
    tr = plain()
    node: Any = tr.cast(tr.step(), "float32")
    for _ in range(5000):
        node = node + 1.0
    np.testing.assert_array_equal(run(node, [0, 1]), np.float32([5000, 5001]))


#: Schedules whose formulas use only IEEE-exact arithmetic (no transcendental function):
#: traced with no rewrite and run with IEEE kernels, they must equal the eager value.
ARITHMETIC = {
    "InverseTimeDecay": InverseTimeDecay,
    "PiecewiseConstantDecay": PiecewiseConstantDecay,
    "TimeBasedDecay": TimeBasedDecay,
}


@pytest.mark.parametrize("name", list(ARITHMETIC))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_untouched_traces_equal_the_eager_formula(name: str, data: st.DataObject) -> None:
    config = data.draw(schedule_configs(name))
    if name == "TimeBasedDecay" and isinstance(config["initial_learning_rate"], dict):
        return  # a nested schedule may use transcendental functions
    schedule = ARITHMETIC[name].from_config(config)
    steps = np.array(sorted(set(data.draw(st.lists(st.integers(0, 2**24), max_size=20)))))
    steps = np.concatenate([np.array(schedule.edge_steps()), steps]).astype(np.int64)
    tr = plain()
    traced = run(tr.finish(schedule.evaluate(tr.step(), xp=tr)), steps)
    eager = numpy_ops.flush_subnormals(
        np.asarray(
            schedule.evaluate(steps.astype(np.int32) if name != "PiecewiseConstantDecay" else steps)
        )
    )
    np.testing.assert_array_equal(traced, eager)


def test_names_follow_tensorflow() -> None:
    """keras.ops names Mul, a Python operator mul; one case-insensitive counter."""
    tr = plain()
    s = tr.cast(tr.step(), "float32")
    a = tr.multiply(s, s)
    b = s * s
    c = tr.multiply(a, b)
    d = tr.divide(s, a)
    e = s / a
    assert [a.name, b.name, c.name, d.name, e.name] == [
        "Mul",
        "mul_1",
        "Mul_2",
        "truediv",
        "truediv_1",
    ]


def test_a_kernel_set_replaces_only_what_it_names() -> None:
    doubled = Kernels("double", {"cos": lambda x: 2 * np.cos(x)})
    tr = plain()
    node = tr.cos(tr.cast(tr.step(), "float64")) + 1.0
    np.testing.assert_array_equal(run(node, [0], doubled), [3.0])
