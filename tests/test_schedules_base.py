"""The schedule base class: step handling, dtypes, warnings, exact mode, configs."""

from __future__ import annotations

import copy
import math
import pickle
import types
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import ScheduleWarning, numpy_ops
from refimpl.schedules import (
    EXTRA_SCHEDULES,
    KERAS_SCHEDULES,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LinearCosineDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
from refimpl.schedules._base import (
    _MEMO_BLOCK,
    _MEMO_LIMIT,
    REGISTRY,
    LearningRateSchedule,
    _missing_knowledge,
    _snapshot,
)
from refimpl.testing import edge_steps, schedule_configs

ALL_SCHEDULES = {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}


@pytest.mark.parametrize("step", [5, 5.0, np.int64(5), np.float32(5), np.int32(5)])
def test_scalar_steps_give_0d_arrays(step: object) -> None:
    out = InverseTimeDecay(1.0, 5, 1.0)(step)
    assert isinstance(out, np.ndarray)
    assert out.shape == ()
    assert float(out) == 0.5  # 1 / (1 + 1 * 5 / 5), exact in float32


def test_array_steps_keep_their_shape() -> None:
    out = InverseTimeDecay(1.0, 1, 1.0)(np.array([[0, 1], [3, 7]]))
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(out, np.float32([[1, 0.5], [0.25, 0.125]]))


@pytest.mark.parametrize(
    ("rate", "dtype"),
    [(0.1, np.float32), (np.float64(0.1), np.float64), (np.float32(0.1), np.float32)],
)
def test_compute_dtype_follows_initial_rate(rate: object, dtype: type) -> None:
    assert ExponentialDecay(rate, 10, 0.5)(3).dtype == dtype


def test_exact_is_float64_true_math() -> None:
    schedule = ExponentialDecay(0.001, 500, 0.98, staircase=True)
    assert schedule.exact(4689).dtype == np.float64
    assert float(schedule.exact(4689)) == pytest.approx(0.001 * 0.98**9, rel=1e-15)
    assert float(schedule(4689)) != float(schedule.exact(4689))  # float32 rounds


@pytest.mark.parametrize("bad", ["5", None, True, [1, "a"], object()])
def test_bad_steps_are_type_errors_naming_step(bad: object) -> None:
    with pytest.raises(TypeError, match="`step`"):
        ExponentialDecay(0.1, 10, 0.5)(bad)


def test_negative_steps_warn_and_compute_like_keras() -> None:
    with pytest.warns(ScheduleWarning, match="negative step"):
        value = InverseTimeDecay(1.0, 1, 1.0)(-3)
    assert float(value) == -0.5  # 1 / (1 - 3)


def test_steps_beyond_2_24_warn_in_float32_only() -> None:
    schedule = InverseTimeDecay(1.0, 1, 0.0)
    with pytest.warns(ScheduleWarning, match="2\\*\\*24|16777216"):
        schedule(2**24 + 1)
    InverseTimeDecay(np.float64(1.0), 1, 0.0)(2**24 + 1)  # float64: exact, no warning


@pytest.mark.parametrize(
    "step", [2.0**24 + 1, np.float64(2**24 + 1), np.array([0.0, 2.0**24 + 1]), np.float32(2**25)]
)
def test_float_steps_beyond_2_24_warn_in_float32(step: object) -> None:
    """A float step beyond 2**24 warns as an int one does: float32 holds every integer
    only up to 2**24 (2**24 + 1 rounds to 2**24, ties to even, as TensorFlow's cast)."""
    schedule = InverseTimeDecay(1.0, 1, 1.0)
    with pytest.warns(ScheduleWarning, match="16777216"):
        value = schedule(step)
    last = np.asarray(step, np.float32).reshape(-1)[-1]  # the cast Keras makes
    assert np.asarray(value).reshape(-1)[-1] == np.float32(1) / (np.float32(1) + last)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        InverseTimeDecay(np.float64(1.0), 1, 1.0)(step)  # float64 holds them: no warning


@pytest.mark.parametrize(
    ("step", "match"),
    [
        (math.nan, "NaN step"),
        (np.array([1.0, np.nan]), "NaN step"),
        (np.float32(np.nan), "NaN step"),
        (math.inf, "infinite step"),
        (np.array([0.0, np.inf]), "infinite step"),
        (-math.inf, "negative step"),
    ],
)
def test_non_finite_steps_warn_and_compute_like_keras(step: object, match: str) -> None:
    schedule = InverseTimeDecay(1.0, 1, 1.0)
    with pytest.warns(ScheduleWarning, match=match):
        value = np.asarray(schedule(step))
    last = np.float32(np.asarray(step, np.float32).reshape(-1)[-1])
    with np.errstate(all="ignore"):  # 1 / (1 + step): NaN, 0 or -0 as in IEEE arithmetic
        expected = np.float32(1) / (np.float32(1) + last)
    np.testing.assert_array_equal(value.reshape(-1)[-1], expected)


def test_float32_rounds_large_steps_to_nearest_even() -> None:
    # 2**24 + 1 is not a float32: it rounds to 2**24 (ties to even), as TensorFlow's cast does.
    schedule = InverseTimeDecay(np.float32(1.0), 1, 1.0)
    with pytest.warns(ScheduleWarning):
        assert schedule(2**24 + 1) == schedule(2**24)


def test_int_initial_rate_warns() -> None:
    with pytest.warns(ScheduleWarning, match="int32"):
        ExponentialDecay(1, 10, 0.96)


@pytest.mark.parametrize("name", [*KERAS_SCHEDULES, *EXTRA_SCHEDULES])
def test_every_schedule_has_formula_docstring_and_all(name: str) -> None:
    import importlib

    cls = {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}[name]
    module = importlib.import_module(cls.__module__)
    assert name in module.__all__
    doc = " ".join(f.__doc__ or "" for f in vars(module).values() if callable(f))
    assert "Intervals" in doc
    assert ">>>" in doc


def test_repr_round_trips() -> None:
    schedule = CosineDecay(0.1, 100, alpha=0.5, warmup_target=0.2, warmup_steps=10)
    assert repr(schedule).startswith("CosineDecay(initial_learning_rate=0.1, decay_steps=100")
    assert eval(repr(schedule), {"CosineDecay": CosineDecay}).get_config() == schedule.get_config()


def test_piecewise_does_not_warn_for_large_int_steps() -> None:
    # PiecewiseConstantDecay never casts the step to float32: no rounding, no warning.
    assert float(PiecewiseConstantDecay([2**25], [1.0, 0.5])(2**25 + 1)) == 0.5


def test_step_independent_rate_still_has_the_step_shape() -> None:
    from refimpl.schedules import TimeBasedDecay

    out = TimeBasedDecay(0.1, 0.0)(np.arange(6).reshape(2, 3))
    assert out.shape == (2, 3)
    assert TimeBasedDecay(0.1, 0.0).exact([1, 2]).shape == (2,)


# --- the memo of consecutive scalar steps ---------------------------------------------------


def _bits(values: list[np.ndarray]) -> np.ndarray:
    arr = np.array(values)
    return arr.view(f"u{arr.dtype.itemsize}")


@pytest.mark.parametrize("name", sorted(ALL_SCHEDULES))
@settings(max_examples=4)
@given(data=st.data())
def test_consecutive_scalar_steps_from_the_memo_equal_single_calls(
    name: str, data: st.DataObject
) -> None:
    config = data.draw(schedule_configs(name), label="config")
    starts = [e for e in edge_steps(name, config) if e < _MEMO_LIMIT - 2 * _MEMO_BLOCK]
    start = data.draw(st.sampled_from(starts) | st.integers(0, 10_000), label="start")
    window = range(start, start + _MEMO_BLOCK + 40)  # crosses into a second block
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # nonsense configs compute anyway
        schedule = ALL_SCHEDULES[name].from_config(config)
        single = [schedule(k) for k in reversed(window)][::-1]  # never consecutive
        assert "_memo" not in vars(schedule)
        memo = [schedule(k) for k in window]
    assert ("_memo" in vars(schedule)) == (_snapshot(schedule) is not None)
    assert all(type(v) is np.ndarray and v.shape == () for v in (*memo, *single))
    assert {v.dtype for v in memo} == {v.dtype for v in single}
    np.testing.assert_array_equal(_bits(memo), _bits(single))


def test_a_new_run_of_consecutive_steps_gets_a_new_memo_block() -> None:
    schedule = ExponentialDecay(1.0, 10, 0.5)
    for start in (0, 10_000, 5):
        for k in range(start, start + 3):
            schedule(k)
        assert vars(schedule)["_memo"][0] == start + 1  # built at the second call


def test_assigning_an_attribute_clears_the_memo() -> None:
    schedule = ExponentialDecay(1.0, 10, 0.5)
    before = [float(schedule(k)) for k in range(3)]
    assert "_memo" in vars(schedule)
    schedule.initial_learning_rate = 2.0
    after = [float(schedule(k)) for k in range(3, 6)]
    assert after == [2 * float(ExponentialDecay(1.0, 10, 0.5)(k)) for k in range(3, 6)]
    assert before == [float(ExponentialDecay(1.0, 10, 0.5)(k)) for k in range(3)]


def test_a_schedule_holding_a_schedule_is_not_memoised() -> None:
    from refimpl.schedules import TimeBasedDecay

    inner = ExponentialDecay(0.1, 10, 0.5)
    outer = TimeBasedDecay(inner, 0.01)
    for k in range(3):
        outer(k)
    assert "_memo" not in vars(outer)
    inner.decay_rate = 0.9
    assert float(outer(3)) == float(TimeBasedDecay(ExponentialDecay(0.1, 10, 0.9), 0.01)(3))


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("decay_rate", np.float64(0.5)), ("decay_rate", 0.25), ("initial_learning_rate", -0.0)],
)
def test_any_change_of_value_or_type_is_seen(attribute: str, value: object) -> None:
    schedule = ExponentialDecay(0.0, 10, 0.5)
    for k in range(3):
        schedule(k)
    setattr(schedule, attribute, value)
    fresh = ExponentialDecay(**{**schedule.get_config()})
    got, want = schedule(3), fresh(3)
    assert got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()  # sign of zero included


def test_a_change_during_the_memo_evaluation_is_not_served_later() -> None:
    """A hyperparameter set while the memo block is computed (another thread, in real
    life) must not leave that block in use: the snapshot is taken before."""
    from unittest import mock

    original = ExponentialDecay.evaluate
    raced: list[bool] = []

    def racing(self, step, **kwargs):  # type: ignore[no-untyped-def]
        out = original(self, step, **kwargs)
        if np.ndim(step) and not raced:
            raced.append(True)
            self.decay_rate = 0.9
        return out

    schedule = ExponentialDecay(1.0, 1, 0.5)
    with mock.patch.object(ExponentialDecay, "evaluate", racing):
        schedule(0)
        schedule(1)  # builds the block, changing decay_rate meanwhile
        assert raced
        assert float(schedule(2)) == float(ExponentialDecay(1.0, 1, 0.9)(2))


def test_subclasses_are_not_memoised_and_keep_their_slots() -> None:
    class Scaled(ExponentialDecay):
        __slots__ = ("scale",)

        def evaluate(self, step, **kwargs):  # type: ignore[no-untyped-def]
            return super().evaluate(step, **kwargs) * self.scale

    schedule = Scaled(0.1, 10, 0.5)
    schedule.scale = 2.0
    for k in range(3):
        schedule(k)
    assert "_memo" not in vars(schedule)
    schedule.scale = 4.0  # state the memo could not see
    assert float(schedule(3)) == float(ExponentialDecay(0.1, 10, 0.5).evaluate(3) * 4.0)
    assert copy.deepcopy(schedule).scale == 4.0  # __getstate__ keeps the slots


def test_editing_a_list_attribute_in_place_is_seen() -> None:
    schedule = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.25])
    for k in range(3):
        schedule(k)
    schedule.values[0] = np.float64(0.1)  # a new type: the dtype changes too
    assert (
        schedule(3).dtype == PiecewiseConstantDecay([10, 20], [np.float64(0.1), 0.5, 0.25])(3).dtype
    )


def test_editing_piecewise_lists_in_place_is_seen() -> None:
    schedule = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.25])
    assert [float(schedule(k)) for k in range(3)] == [1.0, 1.0, 1.0]
    schedule.values[0] = 3.0  # Keras reads the list on every call; so do we
    schedule.boundaries[0] = 1
    assert [float(schedule(k)) for k in range(3, 5)] == [0.5, 0.5]
    assert float(schedule(0)) == 3.0


def test_memo_results_are_independent_copies() -> None:
    schedule = InverseTimeDecay(1.0, 1, 1.0)
    schedule(0)
    out = schedule(1)
    out[...] = 42.0
    assert float(schedule(1)) == 0.5
    assert float(schedule(3)) == 0.25


def test_pickled_schedules_leave_the_memo_behind() -> None:
    schedule = CosineDecay(1.0, 1000)
    for k in range(5):
        schedule(k)
    copy = pickle.loads(pickle.dumps(schedule))
    assert "_memo" in vars(schedule)
    assert "_memo" not in vars(copy)
    assert copy.get_config() == schedule.get_config()
    np.testing.assert_array_equal(copy(np.arange(10)), schedule(np.arange(10)))


def test_large_arrays_warn_like_small_ones() -> None:
    schedule = ExponentialDecay(0.1, 10, 0.5)
    at = np.arange(400_000)
    with pytest.warns(ScheduleWarning, match="negative step"):
        schedule(at - 5)
    with pytest.warns(ScheduleWarning, match="float32"):
        schedule(at + 2**24 - 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schedule(at)


def test_step_warnings_point_at_the_caller() -> None:
    schedule = ExponentialDecay(0.1, 10, 0.5)
    for steps in (-1, np.array([-1, 2]), np.arange(-1, 400_000)):
        with pytest.warns(ScheduleWarning, match="negative") as record:
            schedule(steps)
        assert record[0].filename == __file__


@pytest.mark.parametrize("name", sorted(ALL_SCHEDULES))
def test_empty_step_arrays_give_empty_results(name: str) -> None:
    from hypothesis import find

    config = find(schedule_configs(name), lambda c: True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        schedule = ALL_SCHEDULES[name].from_config(config)
    out = schedule(np.array([], np.int32))
    assert out.shape == (0,)
    assert out.dtype == schedule(0).dtype


# --- what each schedule class knows about itself -------------------------------------------

#: A hand-made example per class whose edges, horizon and counterpart are derived below.
with warnings.catch_warnings():  # infinite horizons and a warmup without target warn
    warnings.simplefilter("ignore", ScheduleWarning)
    KNOWN = {
        "ExponentialDecay": (
            ExponentialDecay(0.1, 10, 0.5, staircase=True),
            [0, 10, 20, 30],
            None,
        ),
        "PiecewiseConstantDecay": (
            PiecewiseConstantDecay([5, 9], [0.3, 0.2, 0.1]),
            [0, 5, 9],
            10,  # values[-1] from boundary + 1 on
        ),
        "CosineDecay": (
            CosineDecay(0.0, 100, warmup_target=1.0, warmup_steps=20),
            [0, 20, 100, 120],
            120,
        ),
        # Non-integer step counts: the first integer step at or past them (100 < 100.5).
        "PolynomialDecay, decay_steps=100.5": (PolynomialDecay(0.1, 100.5, 0.01), [0, 101], 101),
        "CosineDecay, 10.5 + 100.5 steps": (
            CosineDecay(0.0, 100.5, warmup_target=1.0, warmup_steps=10.5),
            [0, 11, 101, 111],
            111,
        ),
        # A warmup without warmup_target is no warmup (Keras skips it): the decay alone.
        "CosineDecay, warmup_steps without a target": (
            CosineDecay(0.1, 100, warmup_steps=20),
            [0, 100],
            100,
        ),
        # An infinite horizon (accepted with a warning): no end, no edge there.
        "PolynomialDecay, decay_steps=inf": (PolynomialDecay(0.1, math.inf), [0], None),
        "ExponentialDecay, decay_steps=inf": (
            ExponentialDecay(0.1, math.inf, 0.5, staircase=True),
            [0],
            None,
        ),
        "LinearCosineDecay, decay_steps=inf": (LinearCosineDecay(0.1, math.inf), [0], None),
    }


@pytest.mark.parametrize("name", list(KNOWN))
def test_edges_and_horizon_of_hand_made_examples(name: str) -> None:
    schedule, edges, horizon = KNOWN[name]
    assert schedule.edge_steps() == edges
    assert schedule.horizon() == horizon
    if horizon is not None:  # constant from the horizon on, not one step earlier
        rates = schedule(np.arange(horizon - 1, horizon + 3))
        assert np.all(rates[1:] == rates[1]), rates
        assert rates[0] != rates[1], rates


def test_every_registered_class_declares_what_the_project_knows() -> None:
    """A new schedule is one file: the registry finds it, it defines every entry of
    KNOWLEDGE itself (or through a registered base), and its counterpart names it."""
    from refimpl.schedules import SCHEDULES

    assert set(SCHEDULES) == set(ALL_SCHEDULES)
    for name, cls in SCHEDULES.items():
        assert _missing_knowledge(cls) == [], name
        assert "formula" in vars(cls), name
        assert cls.counterpart is None or cls.counterpart.endswith(
            (name, "natural_exp_decay", "linear_cosine_decay", "(decay=...)")
        ), name


def _ramp(step, initial_learning_rate, *, xp=numpy_ops, dtype=None):  # type: ignore[no-untyped-def]
    return xp.cast(initial_learning_rate, dtype or "float32") * xp.cast(step, dtype or "float32")


class _Ramp:
    """Everything a registered schedule must define, for the class built below."""

    formula = staticmethod(_ramp)
    counterpart = None
    exact_arithmetic = True
    step_arguments = ()

    def __init__(self, initial_learning_rate: float, name: str = "Ramp") -> None:
        self.initial_learning_rate, self.name = initial_learning_rate, name

    def _edges(self) -> list[int]:
        return []

    def horizon(self) -> None:
        return None

    def _findings(self, run: object, rates: object) -> list[object]:
        return []


def _schedule_class(family: str | None, leave_out: str = "") -> type:
    members = {k: v for k, v in vars(_Ramp).items() if k != leave_out and not k.startswith("__")}
    members["__init__"] = _Ramp.__init__
    return types.new_class(
        "RampForTheTest", (LearningRateSchedule,), {"family": family}, lambda ns: ns.update(members)
    )


@pytest.mark.parametrize(
    "leave_out",
    [
        "formula",
        "counterpart",
        "exact_arithmetic",
        "_edges",
        "horizon",
        "step_arguments",
        "_findings",
    ],
)
def test_a_class_missing_any_knowledge_cannot_register(leave_out: str) -> None:
    """Registration refuses a class that leaves any entry of KNOWLEDGE to the base class
    (the accuracy may come from exact_arithmetic, _forward_error or children), naming it;
    the same class registers with it, and unregistered subclasses need none of them."""
    with pytest.raises(TypeError, match=f"RampForTheTest.*missing: .*{leave_out}"):
        _schedule_class("extra", leave_out)
    assert "RampForTheTest" not in REGISTRY
    assert _schedule_class(None, leave_out).family is None  # not registered: no check
    try:
        assert _schedule_class("extra")(0.5)(np.array([2])).tolist() == [1.0]
        assert REGISTRY["RampForTheTest"].family == "extra"
    finally:
        REGISTRY.pop("RampForTheTest", None)


@pytest.mark.parametrize("name", list(ALL_SCHEDULES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_rate_is_constant_from_the_horizon_on(name: str, data: st.DataObject) -> None:
    schedule = ALL_SCHEDULES[name].from_config(data.draw(schedule_configs(name)))
    horizon = schedule.horizon()
    if horizon is None:
        return
    later = np.array([horizon, horizon + 1, horizon + 997, 2 * horizon + 13])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # steps beyond 2**24 in float32
        rates = schedule(later)
    assert np.all(rates == rates[0]), (schedule, later, rates)


@pytest.mark.parametrize("name", list(ALL_SCHEDULES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_edges_include_step_0_and_with_dtype_float64_keeps_the_config(
    name: str, data: st.DataObject
) -> None:
    config = data.draw(schedule_configs(name))
    schedule = ALL_SCHEDULES[name].from_config(config)
    edges = schedule.edge_steps()
    assert edges[0] == 0
    assert edges == sorted(set(edges))
    wide = schedule.with_dtype("float64")
    assert wide.dtype == np.float64
    assert type(wide) is type(schedule)
    assert wide.with_dtype("float32").get_config().keys() == config.keys()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        assert wide(edges).dtype == np.float64


def test_compiled_modes_trace_again_when_an_attribute_changes() -> None:
    """The traced graph is kept between calls (a training loop calls once per step) and
    dropped when the schedule changes; eager calls and their memo are unaffected."""
    schedule = ExponentialDecay(1.0, 10, 0.5)
    first = schedule(10, mode="graph")
    assert first == np.float32(0.5)
    assert schedule.trace("graph") is not vars(schedule)["_traced"]["graph"][1]  # a new trace
    schedule.decay_rate = 0.25
    assert schedule(10, mode="graph") == np.float32(0.25)
    assert [float(schedule(k)) for k in range(3)] == [
        float(schedule(np.arange(3))[k]) for k in range(3)
    ]


def test_compiled_modes_take_integer_steps_only() -> None:
    schedule = ExponentialDecay(1.0, 10, 0.5)
    with pytest.raises(ValueError, match="integer step"):
        schedule(2.5, mode="graph")
    with pytest.raises(ValueError, match="mode"):
        schedule(2, mode="jit")
    np.testing.assert_array_equal(schedule([1.0, 2.0], mode="xla"), schedule([1, 2], mode="xla"))
