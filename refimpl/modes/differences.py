"""Where two ways of computing a schedule part: rounding, or a different decision.

The compiled modes round differently from the eager call (a few ulps), and sometimes
*decide* differently: a staircase that switches one step late, a restart index one
lower, a NaN where the eager value is finite.  :func:`compare` sorts the steps where two
rates differ into those three kinds, so that the CLI and the warnings can name what
happened instead of printing ulps:

- ``"nan"``: one rate is NaN (or inf) and the other is not;
- ``"decision"``: the rates differ by more than :data:`DECISION_RELATIVE` of the larger
  and by more than rounding explains (the schedule's documented rounding bound,
  :meth:`~refimpl.schedules.LearningRateSchedule.rounding_bound`, at least :data:`DECISION_ULPS` ulp: near a
  cosine's floor ``1 + cos`` cancels and rounding alone moves the rate by 1e-4 of
  itself; a staircase or restart changes the rate by a factor) -- :func:`decided_apart`;
- ``"rounding"``: the rest.

The schedule class says which of its decisions that is (:attr:`decision`).

>>> import numpy as np
>>> from refimpl.schedules import ExponentialDecay
>>> schedule = ExponentialDecay(0.1, 61, 0.5, staircase=True)
>>> steps = np.arange(120, 126)
>>> [d.kind for d in compare(schedule, steps, "graph", "eager")]
['decision']
>>> print(compare(schedule, steps, "graph", "eager")[0].message)
graph mode decides differently from eager mode at step 122 (the staircase: floor(step / decay_steps)): 0.05 instead of 0.025
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl.exceptions import ScheduleWarning
from refimpl.ulps import within_bounds

__all__ = [
    "DECISION_RELATIVE",
    "DECISION_ULPS",
    "Difference",
    "compare",
    "decided_apart",
    "rates_in",
]

#: A difference larger than this fraction of the larger rate (and than the rounding
#: bound) is a different decision.
DECISION_RELATIVE = 1e-4
#: Rounding differences between two computations of a rate are a few float32 ulp; a
#: decision (a stair, a boundary, a restart) moves it by far more.
DECISION_ULPS = 4


@dataclass(frozen=True)
class Difference:
    """The steps where ``mode`` differs from ``other`` in one ``kind`` of way."""

    mode: str
    other: str
    kind: str
    steps: tuple[int, ...]
    message: str


def rates_in(schedule: Any, steps: np.ndarray, mode: str) -> np.ndarray:
    """``schedule`` at ``steps`` as float32 rates: ``mode`` is one of
    :data:`refimpl.modes.MODES` or ``"exact"`` (the documented formula in float64),
    computed quietly (the caller warns)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ScheduleWarning)
        value = schedule.exact(steps) if mode == "exact" else schedule(steps, mode=mode)
        return np.asarray(value).astype(np.float32)  # a float64 beyond float32's range: inf


def decided_apart(a: Any, b: Any, *, ulps: int = DECISION_ULPS, atol: Any = 0.0) -> np.ndarray:
    """Where two float32 rates decide differently: one is NaN or infinite and the other
    not, or they are further apart than rounding explains -- more than ``ulps`` ulp and
    ``atol`` (the schedule's rounding bound, :meth:`~refimpl.schedules.LearningRateSchedule.rounding_bound`: near a
    cosine's floor, where ``1 + cos`` cancels, rounding moves a rate by many ulps) --
    *and* further than :data:`DECISION_RELATIVE` of the larger.

    >>> one = np.float32(0.1)
    >>> decided_apart([one, one, np.nan, 0.0], [np.nextafter(one, 1), one / 2, 1.0, 1e-45]).tolist()
    [False, True, True, False]
    """
    x = np.asarray(a, np.float32).astype(np.float64)
    y = np.asarray(b, np.float32).astype(np.float64)
    finite_x, finite_y = np.isfinite(x), np.isfinite(y)
    with np.errstate(all="ignore"):
        gap = np.abs(x - y)
        scale = np.maximum(np.abs(x), np.abs(y))
    both = finite_x & finite_y
    far = both & (gap > DECISION_RELATIVE * scale)
    got, want = (np.where(both, v, 0).astype(np.float32) for v in (x, y))
    far &= ~within_bounds(got, want, ulps=ulps, atol=atol)
    return np.asarray((finite_x != finite_y) | far)


def _rounding_bound(schedule: Any, steps: np.ndarray) -> tuple[int, Any]:
    """``(ulps, atol)``: the documented rounding bound of ``schedule`` at ``steps``
    (:meth:`~refimpl.schedules.LearningRateSchedule.rounding_bound`), at least
    :data:`DECISION_ULPS` ulp (a schedule without one: those ulps only)."""
    try:
        ulps, atol = schedule.rounding_bound(schedule.dtype)
        bound = np.asarray(atol(steps), np.float64)
    except (TypeError, ValueError, AttributeError):
        return DECISION_ULPS, 0.0
    return max(ulps, DECISION_ULPS), bound


def compare(
    schedule: Any,
    steps: Sequence[int] | np.ndarray,
    mode: str,
    other: str,
    *,
    rates: np.ndarray | None = None,
    other_rates: np.ndarray | None = None,
) -> list[Difference]:
    """How ``schedule`` in ``mode`` differs from ``other`` (a mode or ``"exact"``) at
    ``steps``: one :class:`Difference` per kind that occurs (``"nan"``, ``"decision"``,
    ``"rounding"``), in that order.  Pass ``rates``/``other_rates`` if already computed."""
    at = np.asarray(steps, dtype=np.int64).reshape(-1)
    a = rates_in(schedule, at, mode) if rates is None else np.asarray(rates, np.float32)
    b = rates_in(schedule, at, other) if other_rates is None else np.asarray(other_rates)
    a, b = a.astype(np.float32).reshape(-1), b.astype(np.float32).reshape(-1)
    differs = (a != b) & ~(np.isnan(a) & np.isnan(b))
    nan = np.isfinite(a) != np.isfinite(b)
    ulps, atol = _rounding_bound(schedule, at)
    decision = decided_apart(a, b, ulps=ulps, atol=atol) & ~nan
    rounding = differs & ~nan & ~decision
    out = []
    for kind, where in (("nan", nan), ("decision", decision), ("rounding", rounding)):
        if where.any():
            hit = at[where]
            out.append(
                Difference(
                    mode,
                    other,
                    kind,
                    tuple(int(s) for s in hit),
                    _message(schedule, mode, other, kind, hit, a[where], b[where]),
                )
            )
    return out


def _label(mode: str) -> str:
    return "the documented formula" if mode == "exact" else f"{mode} mode"


def _message(
    schedule: Any,
    mode: str,
    other: str,
    kind: str,
    steps: np.ndarray,
    got: np.ndarray,
    want: np.ndarray,
) -> str:
    shown = ", ".join(f"{s:,}" for s in steps[:6]) + (
        f" and {steps.size - 6:,} more" if steps.size > 6 else ""
    )
    plural = "s" if steps.size > 1 else ""
    if kind == "rounding":
        return (
            f"{_label(mode)} rounds differently from {_label(other)} at {steps.size:,} "
            f"step{plural} ({shown})"
        )
    if kind == "nan":
        return (
            f"{_label(mode)} gives {float(got[0]):.6g} where {_label(other)} gives "
            f"{float(want[0]):.6g}, at step{plural} {shown}"
        )
    what = getattr(schedule, "decision", None)
    because = f" ({what})" if what else ""
    return (
        f"{_label(mode)} decides differently from {_label(other)} at step{plural} {shown}"
        f"{because}: {float(got[0]):.6g} instead of {float(want[0]):.6g}"
    )
