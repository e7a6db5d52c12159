"""What each schedule says about itself over a training run (``findings``), and the
shared wording of refimpl.schedules.findings.

Every statement a finding makes about steps is checked against the rates themselves:
where the rate restarts, where a staircase steps, from which step it stays at its end
value, which values are never used.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from refimpl import ScheduleWarning
from refimpl.runs import TrainingRun, first_step_at
from refimpl.schedules import (
    SCHEDULES,
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    LinearCosineDecay,
    LinearWarmup,
    NaturalExpDecay,
    NoisyLinearCosineDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    SequentialSchedule,
    TimeBasedDecay,
)
from refimpl.schedules.findings import (
    Finding,
    epoch_like,
    listed,
    rises,
    share,
    staircase_findings,
    steps,
)
from refimpl.testing import schedule_configs, training_runs

RUN = TrainingRun(6_000, 100, 5)  # 60 steps an epoch, steps 0..299


def _texts(schedule: LearningRateSchedule, run: TrainingRun = RUN) -> list[str]:
    return [str(f) for f in schedule.findings(run)]


def _numbers(text: str) -> list[int]:
    """The integers a sentence names, thousands separators removed."""
    return [int(n.replace(",", "")) for n in re.findall(r"(?<![\d.])\d[\d,]*(?![\d.])", text)]


# --- the wording -------------------------------------------------------------------------


def test_a_finding_is_a_warning_or_a_note() -> None:
    assert str(Finding("note", "x")) == "note: x"
    with pytest.raises(
        ValueError, match=r"`level` must be 'warning' or 'note'. Received: level='info'"
    ):
        Finding("info", "x")


def test_counts_and_shares_read_as_english() -> None:
    assert (steps(1), steps(0), steps(4690)) == ("1 step", "0 steps", "4,690 steps")
    assert (share(1, 1000), share(5, 1000), share(1000, 1000)) == ("under 1%", "0%", "100%")
    assert listed([1, 2, 3]) == "1, 2, 3"
    assert listed([1, 2, 3], limit=2) == "1, 2 and 1 more"
    assert listed([1000, 2000], limit=1, total=10) == "1,000 and 9 more"


def _rises_by_loop(rates: list[float]) -> list[int]:
    """Loop twin of rises: steps where the rate goes up once it has gone down before."""
    out, fell = [], False
    for i in range(1, len(rates)):
        if rates[i] > rates[i - 1] and fell:
            out.append(i)
        fell = fell or rates[i] < rates[i - 1]
    return out


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), max_size=30))
@example([1.0, 2.0, 1.0, 3.0])  # a warmup's rise is not a restart; the later one is
def test_rises_are_the_ups_after_a_fall(rates: list[float]) -> None:
    assert rises(np.array(rates)) == _rises_by_loop(rates)


# --- each statement checked against the rates --------------------------------------------


@settings(deadline=None)
@given(
    decay_steps=st.one_of(st.integers(1, 400), st.floats(0.3, 400.0)),
    run=training_runs(max_steps=2_000),
)
@example(decay_steps=60, run=RUN)  # on epoch boundaries: nothing to say
@example(decay_steps=0.5, run=RUN)  # below 1: the rate changes at every step
@example(decay_steps=281.5, run=TrainingRun(47, 1, 7))  # its one change, 282, starts an epoch
def test_the_staircase_note_lists_the_steps_where_the_rate_changes(
    decay_steps: float, run: TrainingRun
) -> None:
    # decay_rate 0.99: each stair is a distinct float32 and none underflows to 0 here
    rates = ExponentialDecay(1.0, decay_steps, 0.99, staircase=True)(np.arange(run.total_steps))
    changes = (np.flatnonzero(np.diff(rates)) + 1).tolist()
    if decay_steps == int(decay_steps):  # the stairs of an integer decay_steps, by hand
        assert changes == list(range(int(decay_steps), run.total_steps, int(decay_steps)))
    found = staircase_findings(run, rates, decay_steps, True)
    if not changes:
        assert len(found) == 1
        assert "the rate never changes" in found[0].text
    elif all(c % run.steps_per_epoch == 0 for c in changes):
        assert found == []
    else:
        shown = found[0].text.split("at steps ")[1].split(" (the first")[0]
        listed_steps = _numbers(shown.split(" and ")[0])
        assert listed_steps == changes[: len(listed_steps)]
        more = _numbers(shown.split(" and ")[1]) if " and " in shown else [0]
        assert len(listed_steps) + more[0] == len(changes)


@pytest.mark.parametrize(
    "schedule",
    [
        PolynomialDecay(0.1, 100, 0.01),
        PolynomialDecay(0.1, 100.5, 0.01),
        CosineDecay(0.1, 120, alpha=0.1),
        CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=50),
        LinearCosineDecay(0.1, 200),
        LinearWarmup(PolynomialDecay(0.1, 100, 0.02), 40),
    ],
    ids=repr,
)
def test_a_short_horizon_names_the_first_step_at_the_end_value(
    schedule: LearningRateSchedule,
) -> None:
    """ "from step H the rate stays at END for the last N steps": the rate is END from
    H on and not at H - 1, and N counts steps H..299."""
    [text] = [t for t in _texts(schedule) if "horizon is shorter" in t]
    h = int(text.split("so from step ")[1].split(" ")[0].replace(",", ""))
    rates = schedule(np.arange(RUN.total_steps))
    assert np.all(rates[h:] == rates[-1])
    assert rates[h - 1] != rates[-1]
    assert h == schedule.horizon()
    assert f"for the last {RUN.total_steps - h} steps" in text


@pytest.mark.parametrize(
    ("schedule", "end_value"),
    [
        (PolynomialDecay(0.1, 1000, 0.01), 0.01),
        (CosineDecay(0.1, 5000, alpha=0.2), 0.02),
        (LinearCosineDecay(0.1, 1000), 0.0001),  # beta * lr at the end
    ],
    ids=repr,
)
def test_a_long_horizon_says_where_the_rate_stops(
    schedule: LearningRateSchedule, end_value: float
) -> None:
    [text] = [t for t in _texts(schedule) if "horizon is longer" in t]
    stops = float(np.float32(schedule(RUN.last_step)))
    assert f"stops at {stops:.6g}" in text
    assert f"= {end_value:.6g} (it would at step {schedule.horizon():,})" in text


def test_a_warmup_without_target_is_not_part_of_the_horizon() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)  # Keras ignores warmup_steps here
        schedule = CosineDecay(0.1, 200, warmup_steps=50)
    [text] = [t for t in _texts(schedule) if "horizon" in t]
    assert "decay_steps = 200, so from step 200" in text


def test_restarts_are_listed_where_the_rate_jumps_up() -> None:
    rates = CosineDecayRestarts(0.1, 50, t_mul=2.0)(np.arange(RUN.total_steps))
    jumps = (np.flatnonzero(np.diff(rates) > 0) + 1).tolist()
    assert jumps == [50, 150]  # periods of 50, then 100, then 200 steps
    [text] = _texts(CosineDecayRestarts(0.1, 50, t_mul=2.0))
    assert text.startswith("note: the rate restarts (jumps back up) at steps 50, 150;")
    [text] = _texts(CosineDecayRestarts(0.1, 300))
    assert "first_decay_steps = 300 is longer than the run: no restart happens" in text


def test_a_polynomial_cycle_names_its_jumps() -> None:
    [text] = _texts(PolynomialDecay(0.1, 100, 0.01, cycle=True))
    assert "jumps back up, at steps 101, 201." in text  # the horizon grows past 100, 200
    rates = PolynomialDecay(0.1, 100, 0.01, cycle=True)(np.arange(RUN.total_steps))
    assert (np.flatnonzero(np.diff(rates) > 0) + 1).tolist() == [101, 201]


def test_piecewise_boundaries_are_checked_against_the_run() -> None:
    schedule = PiecewiseConstantDecay([119, 150, 299], [0.3, 0.2, 0.1, 0.05])
    rates = schedule(np.arange(RUN.total_steps))
    assert rates[120] == np.float32(0.2) != rates[119]  # boundary + 1
    assert not np.any(rates == np.float32(0.05))  # after boundary 299 = the last step
    texts = _texts(schedule)
    assert any("boundary 299 is at or beyond the run's last step 299" in t for t in texts)
    assert any("(0.05) are never used" in t for t in texts)
    assert any("0.2 from step 120 (epoch 3, its step 1 of 60)" in t for t in texts)
    assert any("boundary 150 is not an epoch boundary" in t for t in texts)  # 119 is one


def test_piecewise_boundaries_that_look_like_epochs() -> None:
    [text] = [
        t
        for t in _texts(PiecewiseConstantDecay([2, 4], [0.1, 0.01, 0.001]))
        if "look like epochs" in t
    ]
    assert "write boundaries = [119, 239]" in text  # epochs 3 and 5 start at 120 and 240
    assert PiecewiseConstantDecay([119, 239], [0.1, 0.01, 0.001])(
        np.array([120, 240])
    ).tolist() == [
        np.float32(0.01),
        np.float32(0.001),
    ]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"decay_steps": 5}, "decay_steps"),
        ({"warmup_steps": 2, "decay_steps": 4690}, "warmup_steps"),
        ({"first_decay_steps": 3.0}, "first_decay_steps"),
    ],
)
def test_step_counts_that_look_like_epochs(config: dict[str, float], key: str) -> None:
    [found] = epoch_like(config, tuple(config), TrainingRun(60_000, 64, 5))
    value = config[key]
    assert f"{key} = {value:g} looks like a number of epochs" in found.text
    assert f"{key} = {round(value * 938):,}" in found.text
    assert epoch_like(config, (), TrainingRun(60_000, 64, 5)) == []  # not a step count
    assert epoch_like(config, tuple(config), TrainingRun(60_000, 60_000, 5)) == []


def test_the_staircase_schedules_share_the_staircase_findings() -> None:
    for cls in (ExponentialDecay, InverseTimeDecay, NaturalExpDecay):
        [text] = _texts(cls(0.1, 1000, 0.5, staircase=True))
        assert "decay_steps = 1000 longer than the run (last step 299)" in text, cls
        assert _texts(cls(0.1, 1000, 0.5)) == [], cls


def test_decay_argument_and_a_noisy_horizon() -> None:
    first, second = _texts(TimeBasedDecay(0.1, 0.001))
    assert "Keras 3 ignores the optimizer's decay=" in first
    rate = float(TimeBasedDecay(0.1, 0.001)(299))
    assert f"is {rate:.6g} at step 299" in second
    assert _texts(TimeBasedDecay(ExponentialDecay(0.1, 10, 0.5), 0.0)) == []
    [text] = _texts(NoisyLinearCosineDecay(0.1, 1000))
    assert "its final value (plus noise) = 0.0001" in text


def test_composite_schedules_against_the_run() -> None:
    [text] = _texts(LinearWarmup(CosineDecay(0.1, 100), 500))
    rate = float(LinearWarmup(CosineDecay(0.1, 100), 500)(299))
    assert "the warmup is longer than the run: warmup_steps = 500" in text
    assert f"the rate stops at {rate:.6g} and never reaches the schedule's start 0.1" in text
    two = [ExponentialDecay(0.1, 10, 0.5), CosineDecay(0.1, 100)]
    [text] = _texts(SequentialSchedule(two, [300]))
    assert "boundary 300 is beyond the run's last step 299: schedules[1:] (1) never run" in text
    assert _texts(SequentialSchedule(two, [299])) == []  # step 299 runs schedules[1]


# --- every class ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEDULES))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_schedule_describes_any_run(name: str, data: st.DataObject) -> None:
    """Findings are warnings or notes, each a sentence, and a horizon named in one is the
    schedule's own."""
    schedule = SCHEDULES[name].from_config(data.draw(schedule_configs(name)))
    run = data.draw(training_runs(max_steps=3_000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleWarning)
        found = schedule.findings(run)
    for f in found:
        assert isinstance(f, Finding)
        assert f.text.endswith("."), f
    horizon = schedule.horizon()
    if isinstance(schedule, NoisyLinearCosineDecay):  # the noise goes on past the decay
        horizon = first_step_at(schedule.decay_steps)
    for f in found:
        if "horizon is shorter" in f.text:
            assert horizon is not None
            assert f"from step {horizon:,} " in f.text
            assert horizon < run.last_step
        if "horizon is longer" in f.text:
            assert horizon is not None
            assert horizon > run.last_step
