"""Optax's joined schedules: ``join_schedules`` and what Optax builds with it --
``warmup_cosine_decay_schedule``, ``warmup_exponential_decay_schedule``,
``sgdr_schedule``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

from refimpl import numpy_ops
from refimpl.optax._base import Schedule, check_int, check_real
from refimpl.optax._ops import as_type
from refimpl.optax._types import DEFAULT, JaxType, JaxTypes, join
from refimpl.optax.cosine import CosineDecaySchedule
from refimpl.optax.exponential import ExponentialDecay
from refimpl.optax.polynomial import linear_schedule

__all__ = [
    "JoinedSchedule",
    "join_schedules",
    "joined",
    "sgdr_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]


def joined(
    count: Any,
    schedules: Sequence[Schedule],
    boundaries: Sequence[int],
    *,
    xp: ModuleType | Any = numpy_ops,
    types: JaxTypes = DEFAULT,
) -> Any:
    """Optax's ``join_schedules``, operation by operation: each schedule sees the count
    minus its boundary, and ``jnp.where`` promotes the two sides to their common type
    (a strong float32 side rounds a weak float64 one)."""
    output = schedules[0].evaluate(count, xp=xp, types=types)
    output_type = schedules[0].result_type(types)
    for boundary, schedule in zip(boundaries, schedules[1:], strict=False):
        later = schedule.evaluate(xp.subtract(count, boundary), xp=xp, types=types)
        common = join(output_type, schedule.result_type(types))
        output = xp.where(
            count < boundary,
            as_type(output, common.dtype, xp),
            as_type(later, common.dtype, xp),
        )
        output_type = common
    return output


class JoinedSchedule(Schedule):
    """``optax.join_schedules`` (and the warmup and SGDR schedules built on it); see
    :func:`join_schedules`."""

    optax_name = "join_schedules"
    formula = staticmethod(joined)

    def __init__(self, schedules: Sequence[Schedule], boundaries: Sequence[int]) -> None:
        super().__init__({"schedules": schedules, "boundaries": boundaries})
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
            raise TypeError(
                "Argument `schedules` must be a list of refimpl.optax schedules. "
                f"Received: schedules={schedules!r}"
            )
        for i, schedule in enumerate(schedules):
            if not isinstance(schedule, Schedule):
                raise TypeError(
                    f"Argument `schedules[{i}]` must be a refimpl.optax schedule (its formula "
                    f"is needed). Received: {schedule!r}"
                )
        if not schedules:
            raise ValueError("Argument `schedules` must not be empty (Optax fails when called).")
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
            raise TypeError(
                f"Argument `boundaries` must be a list of ints. Received: boundaries={boundaries!r}"
            )
        for i, boundary in enumerate(boundaries):
            check_int(f"boundaries[{i}]", boundary)
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                "join_schedules takes one boundary fewer than schedules (Optax silently "
                f"ignores the extra ones). Received: {len(schedules)} schedules and "
                f"boundaries={list(boundaries)!r}"
            )
        self.schedules = list(schedules)
        self.boundaries = list(boundaries)

    def result_type(self, types: JaxTypes) -> JaxType:
        result = self.schedules[0].result_type(types)
        for schedule in self.schedules[1:]:
            result = join(result, schedule.result_type(types))
        return result

    def _edges(self) -> list[int]:
        starts = [0, *self.boundaries]
        ends = [*self.boundaries, None]
        edges: list[int] = list(self.boundaries)
        for schedule, start, end in zip(self.schedules, starts, ends, strict=True):
            shift = 0 if schedule is self.schedules[0] else start
            for edge in schedule.edge_steps():
                at = edge + shift
                if (start == 0 or at >= start) and (end is None or at < end):
                    edges.append(at)
        return [e for e in edges if e >= 0]

    def horizon(self) -> int | None:
        last = self.schedules[-1].horizon()
        if last is None:
            return None
        shift = self.boundaries[-1] if self.boundaries else 0
        return max(last + shift, *self.boundaries, 0)


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> JoinedSchedule:
    """``optax.join_schedules``: ``schedules[i]`` from ``boundaries[i - 1]`` on, counting
    from 0 again there.

    Formula::

        value = schedules[0](count)
        for boundary, schedule in zip(boundaries, schedules[1:]):
            value = where(count < boundary, value, schedule(count - boundary))

    Intervals: ``schedules[i]`` on ``[boundaries[i - 1], boundaries[i])`` -- the switch
    is *at* the boundary, where the next schedule sees count 0.  Every schedule is
    computed at every count (``where``), so one that is NaN or inf elsewhere does not
    leak.

    Trap: the two sides of each ``where`` are promoted to a common dtype; with x64 a
    float32 schedule (``linear_schedule``: an int32 count divided by an int) joined to
    a float64 one (``cosine_decay_schedule``) gives float32, the float64 side rounded.
    The schedules here must be refimpl.optax schedules; one boundary fewer than
    schedules is required (Optax ignores extra boundaries silently).

    >>> from refimpl.optax import constant_schedule, linear_schedule
    >>> join_schedules([linear_schedule(0.0, 1.0, 4), constant_schedule(0.5)], [4])([0, 2, 4, 9])
    array([0. , 0.5, 0.5, 0.5], dtype=float32)
    """
    return JoinedSchedule(schedules, boundaries)


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> JoinedSchedule:
    """``optax.warmup_cosine_decay_schedule``: a linear warmup, then a cosine decay.

    Optax builds (``alpha`` in Python floats)::

        alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
        join_schedules([
            linear_schedule(init_value, peak_value, warmup_steps),
            cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent),
        ], [warmup_steps])

    Intervals: warmup on ``[0, warmup_steps)``; ``peak_value`` *at* ``warmup_steps``; the
    cosine until ``decay_steps``; ``end_value`` (as ``peak_value * alpha``, one more
    rounding) from ``decay_steps`` on.  Count 0 gives ``init_value``.

    Traps: **``decay_steps`` counts the warmup** (optax#835): the cosine lasts
    ``decay_steps - warmup_steps`` counts.  Keras's ``CosineDecay(decay_steps=10,
    warmup_steps=5)`` is Optax's ``(warmup_steps=5, decay_steps=15)``.  ``decay_steps
    <= warmup_steps`` raises ``ValueError`` (Optax's cosine requires positive steps).
    With x64 the cosine is computed in float64 and rounded to the warmup's float32.

    >>> warmup_cosine_decay_schedule(0.0, 1.0, 5, 15)([0, 1, 5, 10, 15, 20])
    array([0. , 0.2, 1. , 0.5, 0. , 0. ], dtype=float32)
    """
    for name, value in (("init_value", init_value), ("peak_value", peak_value),
                        ("end_value", end_value), ("exponent", exponent)):  # fmt: skip
        check_real(name, value)
    check_int("warmup_steps", warmup_steps)
    check_int("decay_steps", decay_steps)
    if not decay_steps - warmup_steps > 0:
        raise ValueError(
            "warmup_cosine_decay_schedule requires decay_steps > warmup_steps: decay_steps "
            "counts the warmup (the cosine lasts decay_steps - warmup_steps). Received: "
            f"warmup_steps={warmup_steps!r}, decay_steps={decay_steps!r}"
        )
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    schedule = JoinedSchedule(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            CosineDecaySchedule(peak_value, decay_steps - warmup_steps, alpha, exponent),
        ],
        [warmup_steps],
    )
    schedule._rename(
        "warmup_cosine_decay_schedule",
        {
            "init_value": init_value,
            "peak_value": peak_value,
            "warmup_steps": warmup_steps,
            "decay_steps": decay_steps,
            "end_value": end_value,
            "exponent": exponent,
        },
    )
    return schedule


def warmup_exponential_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> JoinedSchedule:
    """``optax.warmup_exponential_decay_schedule``: a linear warmup, then
    :func:`~refimpl.optax.exponential_decay` from ``peak_value``.

    Optax builds::

        join_schedules([
            linear_schedule(init_value, peak_value, warmup_steps),
            exponential_decay(peak_value, transition_steps, decay_rate,
                              transition_begin, staircase, end_value),
        ], [warmup_steps])

    Intervals: warmup on ``[0, warmup_steps)``; from ``warmup_steps`` on the decay sees
    ``count - warmup_steps`` (so ``transition_begin`` counts from the end of the
    warmup, unlike ``decay_steps`` in :func:`warmup_cosine_decay_schedule`).  Count 0
    gives ``init_value``.

    >>> warmup_exponential_decay_schedule(0.0, 1.0, 2, 1, 0.5)([0, 1, 2, 3, 4])
    array([0.  , 0.5 , 1.  , 0.5 , 0.25], dtype=float32)
    """
    schedule = JoinedSchedule(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            ExponentialDecay(
                peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
            ),
        ],
        [check_int("warmup_steps", warmup_steps)],
    )
    schedule._rename(
        "warmup_exponential_decay_schedule",
        {
            "init_value": init_value,
            "peak_value": peak_value,
            "warmup_steps": warmup_steps,
            "transition_steps": transition_steps,
            "decay_rate": decay_rate,
            "transition_begin": transition_begin,
            "staircase": staircase,
            "end_value": end_value,
        },
    )
    return schedule


#: The keys each ``cosine_kwargs`` dict of :func:`sgdr_schedule` may hold.
_WARMUP_COSINE_KEYS = ("init_value", "peak_value", "warmup_steps", "decay_steps",
                       "end_value", "exponent")  # fmt: skip


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, Any]]) -> JoinedSchedule:
    """``optax.sgdr_schedule``: warm restarts, one
    :func:`warmup_cosine_decay_schedule` per dict, each for its ``decay_steps``.

    Optax builds::

        boundaries, step = [], 0
        for kwargs in cosine_kwargs:
            boundaries.append(step + kwargs["decay_steps"]); step += kwargs["decay_steps"]
        join_schedules([warmup_cosine_decay_schedule(**kw) for kw in cosine_kwargs],
                       boundaries[:-1])

    Intervals: cycle ``i`` on ``[sum of earlier decay_steps, ... + decay_steps_i)``,
    each restarting at its own count 0; the last cycle's end value from its end on.

    Trap: each cycle's ``decay_steps`` includes its own warmup (see
    :func:`warmup_cosine_decay_schedule`).

    >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=6)
    >>> sgdr_schedule([cycle, cycle])([0, 2, 6, 8, 12])
    array([0., 1., 0., 1., 0.], dtype=float32)
    """
    if isinstance(cosine_kwargs, (str, bytes, dict)):
        raise TypeError(
            "Argument `cosine_kwargs` must be a list of dicts (one per cycle). "
            f"Received: cosine_kwargs={cosine_kwargs!r}"
        )
    cycles = list(cosine_kwargs)
    boundaries: list[int] = []
    schedules: list[Schedule] = []
    step = 0
    for i, kwargs in enumerate(cycles):
        if not isinstance(kwargs, dict):
            raise TypeError(f"Argument `cosine_kwargs[{i}]` must be a dict. Received: {kwargs!r}")
        unknown = sorted(set(kwargs) - set(_WARMUP_COSINE_KEYS))
        if unknown or "decay_steps" not in kwargs:
            raise TypeError(
                f"Argument `cosine_kwargs[{i}]` takes warmup_cosine_decay_schedule's "
                f"arguments {list(_WARMUP_COSINE_KEYS)} (decay_steps required). Received: {kwargs!r}"
            )
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        boundaries.append(step + kwargs["decay_steps"])
        step += kwargs["decay_steps"]
    if not schedules:
        raise ValueError("Argument `cosine_kwargs` must hold at least one cycle.")
    schedule = JoinedSchedule(schedules, boundaries[:-1])
    schedule._rename("sgdr_schedule", {"cosine_kwargs": [dict(kw) for kw in cycles]})
    return schedule
