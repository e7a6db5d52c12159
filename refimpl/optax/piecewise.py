"""Optax's piecewise schedules: ``piecewise_constant_schedule``,
``piecewise_interpolate_schedule`` and the one-cycle schedules built on it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from refimpl import numpy_ops
from refimpl.optax._base import Schedule, check_int, check_real
from refimpl.optax._ops import as_type, lanes
from refimpl.optax._types import DEFAULT, JaxType, JaxTypes

__all__ = [
    "PiecewiseConstantSchedule",
    "PiecewiseInterpolateSchedule",
    "cosine_onecycle_schedule",
    "linear_onecycle_schedule",
    "piecewise_constant",
    "piecewise_constant_schedule",
    "piecewise_interpolate",
    "piecewise_interpolate_schedule",
]


def _checked_scales(function: str, boundaries_and_scales: Any) -> dict[int, Any] | None:
    """``boundaries_and_scales`` validated as Optax does (non-negative scales, else
    ValueError with Optax's words) plus: a dict of Python int boundaries and Python
    number scales (else TypeError naming the entry)."""
    if boundaries_and_scales is None:
        return None
    if not isinstance(boundaries_and_scales, Mapping):
        raise TypeError(
            "Argument `boundaries_and_scales` must be a dict {step: scale}. "
            f"Received: boundaries_and_scales={boundaries_and_scales!r}"
        )
    checked = {}
    for boundary, scale in boundaries_and_scales.items():
        check_int(f"boundaries_and_scales key {boundary!r}", boundary)
        check_real(f"boundaries_and_scales[{boundary!r}]", scale)
        checked[boundary] = scale
    if not all(scale >= 0.0 for scale in checked.values()):
        raise ValueError(f"`{function}` expects non-negative scale factors")
    return checked


# --- piecewise constant ---------------------------------------------------------------------


def piecewise_constant(
    count: Any,
    init_value: Any,
    boundaries_and_scales: dict[int, Any] | None,
    *,
    xp: ModuleType | Any = numpy_ops,
    types: JaxTypes = DEFAULT,
) -> Any:
    """Optax's piecewise constant schedule, operation by operation (see
    :func:`piecewise_constant_schedule`).

    Optax's indicator ``jnp.maximum(0.0, jnp.sign(threshold - count))`` is written as
    ``where(threshold - count > 0, 1.0, 0.0)``: the same values (1.0 or +0.0) in the
    same dtype; the products and sums that use it are Optax's."""
    value = init_value
    if boundaries_and_scales is None:
        return value
    one = xp.convert_to_tensor(1.0, types.default_float)
    zero = xp.convert_to_tensor(0.0, types.default_float)
    for threshold, scale in sorted(boundaries_and_scales.items()):
        indicator = xp.where(xp.subtract(threshold, count) > 0, one, zero)
        value = value * indicator + (1 - indicator) * scale * value
    return value


class PiecewiseConstantSchedule(Schedule):
    """``optax.piecewise_constant_schedule``; see :func:`piecewise_constant_schedule`."""

    optax_name = "piecewise_constant_schedule"
    formula = staticmethod(piecewise_constant)

    def __init__(
        self, init_value: float, boundaries_and_scales: dict[int, float] | None = None
    ) -> None:
        super().__init__({"init_value": init_value, "boundaries_and_scales": boundaries_and_scales})
        self.init_value = check_real("init_value", init_value)
        self.boundaries_and_scales = _checked_scales(
            "piecewise_constant_schedule", boundaries_and_scales
        )

    def result_type(self, types: JaxTypes) -> JaxType:
        if not self.boundaries_and_scales:
            return types.python(self.init_value)
        return types.weak_float()

    def _edges(self) -> list[int]:
        return [b for b in (self.boundaries_and_scales or {}) if b >= 0]

    def horizon(self) -> int | None:
        return max([0, *(self.boundaries_and_scales or {})])


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: dict[int, float] | None = None
) -> PiecewiseConstantSchedule:
    """``optax.piecewise_constant_schedule``: ``init_value`` times every scale whose
    boundary the count has reached.

    Formula (``v`` starts as ``init_value``)::

        for threshold, scale in sorted(boundaries_and_scales.items()):
            indicator = maximum(0.0, sign(threshold - count))     # 1.0 before, 0.0 from
            v = v * indicator + (1 - indicator) * scale * v

    Intervals: each scale applies from its boundary on (``count >= threshold``):
    Optax switches *at* the boundary, Keras's ``PiecewiseConstantDecay`` one step later
    (Keras boundary ``b`` = Optax boundary ``b + 1``).  Count 0 gives ``init_value``
    (for positive boundaries); after the last boundary the value stays.

    Traps: the scales are **cumulative** -- ``{100: 0.1, 200: 0.1}`` gives 0.01 from
    200 on, not 0.1 (Keras takes the values themselves); the products are rounded in
    float32 one by one (``fl(fl(init * s1) * s2)``).  A negative scale raises
    ``ValueError`` (as Optax); an infinite one is refused here (Optax accepts it and
    returns NaN before its boundary: ``0 * inf``).

    >>> piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.1})([0, 99, 100, 200])
    array([1.  , 1.  , 0.1 , 0.01], dtype=float32)
    """
    return PiecewiseConstantSchedule(init_value, boundaries_and_scales)


# --- piecewise interpolate ------------------------------------------------------------------


def piecewise_interpolate(
    count: Any,
    interpolate_type: str,
    init_value: Any,
    boundaries_and_scales: dict[int, Any] | None,
    *,
    xp: ModuleType | Any = numpy_ops,
    types: JaxTypes = DEFAULT,
) -> Any:
    """Optax's piecewise interpolated schedule, interval by interval (see
    :func:`piecewise_interpolate_schedule`).

    Optax computes every interval at once, as vectors, and takes
    ``indicator.dot(interp_vals)``; XLA turns that dot of a 0/1 vector into a selection
    summed with zeros, so the value is the selected interval's interpolation.  Here
    each interval is computed with the same operations (``cast(inside) * interp`` is
    that selection under ``jit``, a product by 0 or 1 eagerly), the constant vectors'
    elements marked as :class:`~refimpl.optax._ops.Lane` s.  The values (``jnp.cumprod``
    of ``[init_value, *scales]``, left to right) and their differences are constants,
    computed in the dtype as XLA folds them."""
    items = sorted((boundaries_and_scales or {}).items())
    bounds = [0, *(b for b, _ in items)]
    dtype = types.default_float  # jnp.stack of Python floats, then cumprod: strong
    quotient = types.quotient  # pct: (int count - int bound) / int size
    values = np.cumprod(np.array([init_value, *(s for _, s in items)], dtype))
    last = xp.multiply(xp.cast(count >= bounds[-1], dtype), xp.convert_to_tensor(values[-1], dtype))
    if not items:  # no interval: Optax's dot of empty vectors is 0
        return xp.add(xp.convert_to_tensor(0, dtype), last)
    starts, ends = values[:-1], values[1:]
    with np.errstate(all="ignore"):
        columns = zip(
            bounds[:-1],
            bounds[1:],
            lanes([max(hi - lo, 1) for lo, hi in itertools.pairwise(bounds)]),
            lanes(starts),
            lanes(ends),
            lanes(ends - starts),  # _linear_interpolate's (end - start)
            lanes((starts - ends) / dtype.type(2.0)),  # _cosine_interpolate's (start - end) / 2.0
            strict=True,
        )
    total: Any = None
    for lo, hi, size, start, end, diff, half in columns:
        inside = xp.logical_and(count >= lo, count < hi)
        pct = xp.divide(xp.cast(xp.subtract(count, lo), quotient),
                        xp.convert_to_tensor(size, quotient))  # fmt: skip
        if interpolate_type == "linear":  # (end - start) * pct + start
            interp = xp.add(
                xp.multiply(xp.convert_to_tensor(diff, dtype), as_type(pct, dtype, xp)),
                xp.convert_to_tensor(start, dtype),
            )
        else:  # end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)
            wave = xp.add(xp.cos(xp.multiply(math.pi, pct)), 1)
            interp = xp.add(
                xp.convert_to_tensor(end, dtype),
                xp.multiply(xp.convert_to_tensor(half, dtype), as_type(wave, dtype, xp)),
            )
        term = xp.multiply(xp.cast(inside, dtype), interp)
        total = term if total is None else xp.add(total, term)
    return xp.add(total, last)


class PiecewiseInterpolateSchedule(Schedule):
    """``optax.piecewise_interpolate_schedule`` (and the one-cycle schedules); see
    :func:`piecewise_interpolate_schedule`."""

    optax_name = "piecewise_interpolate_schedule"
    formula = staticmethod(piecewise_interpolate)

    def __init__(
        self,
        interpolate_type: str,
        init_value: float,
        boundaries_and_scales: dict[int, float] | None = None,
    ) -> None:
        super().__init__(
            {
                "interpolate_type": interpolate_type,
                "init_value": init_value,
                "boundaries_and_scales": boundaries_and_scales,
            }
        )
        if interpolate_type not in ("linear", "cosine"):
            raise ValueError(
                "`interpolate_type` must be either 'cosine' or 'linear'. "
                f"Received: interpolate_type={interpolate_type!r}"
            )
        self.interpolate_type = interpolate_type
        self.init_value = check_real("init_value", init_value)
        checked = _checked_scales("piecewise_interpolate_schedule", boundaries_and_scales)
        negative = [b for b in checked or {} if b < 0]
        if negative:
            raise ValueError(
                "piecewise_interpolate_schedule's boundaries must be counts >= 0 (Optax "
                "accepts a negative one and never interpolates towards it). Received: "
                f"boundaries_and_scales={boundaries_and_scales!r}"
            )
        if all(type(v) is int for v in (init_value, *(checked or {}).values())):
            raise TypeError(
                "piecewise_interpolate_schedule with an int init_value and int scales "
                "computes in integers in Optax; refimpl models float schedules: pass "
                f"init_value={float(init_value)!r}."
            )
        self.boundaries_and_scales = checked

    def result_type(self, types: JaxTypes) -> JaxType:
        # the values are the default float (strong), which is at least as wide as pct
        return JaxType(types.default_float, weak=False)

    def _edges(self) -> list[int]:
        return list(self.boundaries_and_scales or {})

    def horizon(self) -> int | None:
        return max([0, *(self.boundaries_and_scales or {})])


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: float,
    boundaries_and_scales: dict[int, float] | None = None,
) -> PiecewiseInterpolateSchedule:
    """``optax.piecewise_interpolate_schedule``: linear or cosine interpolation between
    cumulatively scaled values.

    Formula (``bounds = [0, *sorted boundaries]``, ``values = cumprod([init_value,
    *scales])`` in float32, one rounding per product)::

        for i in range(len(bounds) - 1):
            if bounds[i] <= count < bounds[i + 1]:
                pct = (count - bounds[i]) / max(bounds[i + 1] - bounds[i], 1)
                value = interpolate(values[i], values[i + 1], pct)
        if count >= bounds[-1]:
            value = values[-1]
        # linear: (end - start) * pct + start
        # cosine: end + (start - end) / 2.0 * (cos(pi * pct) + 1)

    Intervals: ``[bounds[i], bounds[i + 1])``, the value reaching ``values[i + 1]``
    *at* ``bounds[i + 1]``; ``values[-1]`` from the last boundary on.  Count 0 gives
    ``init_value``; a negative count gives 0.

    Traps: the scales are **cumulative** (the value interpolates towards ``values[i] *
    scale``, not towards the scale); with x64 and Optax's int32 count ``pct`` (and, for
    ``"cosine"``, the cosine) is float32 while the values and the result are float64.
    Negative boundaries are refused here (Optax accepts them).

    >>> piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})([0, 2, 4, 6, 8, 10])
    array([1.    , 0.55  , 0.1   , 0.0505, 0.001 , 0.001 ], dtype=float32)
    """
    return PiecewiseInterpolateSchedule(interpolate_type, init_value, boundaries_and_scales)


def _onecycle_steps(transition_steps: Any) -> int:
    check_int("transition_steps", transition_steps)
    if transition_steps <= 0:
        raise ValueError(
            "A linear onecycle schedule was set with a non-positive `transition_steps`. "
            f"Received: transition_steps={transition_steps!r}"
        )
    return int(transition_steps)


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> PiecewiseInterpolateSchedule:
    """``optax.linear_onecycle_schedule``: up, down, then down again, linearly.

    Optax builds (in Python floats)::

        piecewise_interpolate_schedule("linear", peak_value / div_factor, {
            int(pct_start * transition_steps): div_factor,
            int(pct_final * transition_steps): 1.0 / div_factor,
            transition_steps: 1.0 / final_div_factor,
        })

    so the value climbs from ``peak_value / div_factor`` to ``peak_value`` (reached *at*
    ``int(pct_start * T)``), falls back to ``peak_value / div_factor`` at
    ``int(pct_final * T)`` and to ``peak_value / div_factor / final_div_factor`` at
    ``T``, and stays there.

    Traps: the dict's keys can coincide (small ``T``), and Python keeps the *last*
    scale for a repeated key; the peak is ``fl(fl(peak / div) * div)``, not always
    ``peak_value`` itself.  ``transition_steps <= 0`` raises ``ValueError`` (as
    Optax).

    >>> linear_onecycle_schedule(10, 1.0, div_factor=10.0)([0, 3, 8, 10])
    array([1.e-01, 1.e+00, 1.e-01, 1.e-05], dtype=float32)
    """
    steps = _onecycle_steps(transition_steps)
    for name, value in (("peak_value", peak_value), ("pct_start", pct_start),
                        ("pct_final", pct_final), ("div_factor", div_factor),
                        ("final_div_factor", final_div_factor)):  # fmt: skip
        check_real(name, value)
    schedule = PiecewiseInterpolateSchedule(
        "linear",
        peak_value / div_factor,
        {
            int(pct_start * steps): div_factor,
            int(pct_final * steps): 1.0 / div_factor,
            steps: 1.0 / final_div_factor,
        },
    )
    schedule._rename(
        "linear_onecycle_schedule",
        {
            "transition_steps": transition_steps,
            "peak_value": peak_value,
            "pct_start": pct_start,
            "pct_final": pct_final,
            "div_factor": div_factor,
            "final_div_factor": final_div_factor,
        },
    )
    return schedule


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> PiecewiseInterpolateSchedule:
    """``optax.cosine_onecycle_schedule``: up then down along half cosines.

    Optax builds (in Python floats)::

        piecewise_interpolate_schedule("cosine", peak_value / div_factor, {
            int(pct_start * transition_steps): div_factor,
            int(transition_steps): 1.0 / (div_factor * final_div_factor),
        })

    The value rises from ``peak_value / div_factor`` to ``peak_value`` (reached *at*
    ``int(pct_start * T)``), then falls to ``peak_value / (div_factor *
    final_div_factor)`` at ``T`` and stays.  Unlike torch's ``OneCycleLR`` (which
    reaches its end at ``total_steps - 1`` and raises after ``total_steps``), it is
    defined at every count.

    Traps: ``pct_start * T < 1`` puts the first boundary at 0: the climb is skipped.
    The interpolation ``end + (start - end) / 2 * (cos(0) + 1)`` rounds, so count 0
    need not give ``peak_value / div_factor`` exactly (below: 0.100000024, not
    ``fl(0.1)``).  ``transition_steps <= 0`` raises ``ValueError`` (as Optax).

    >>> cosine_onecycle_schedule(10, 1.0, div_factor=10.0)([0, 3, 10])
    array([1.00000024e-01, 1.00000000e+00, 9.99999975e-06], dtype=float32)
    """
    steps = _onecycle_steps(transition_steps)
    for name, value in (("peak_value", peak_value), ("pct_start", pct_start),
                        ("div_factor", div_factor),
                        ("final_div_factor", final_div_factor)):  # fmt: skip
        check_real(name, value)
    schedule = PiecewiseInterpolateSchedule(
        "cosine",
        peak_value / div_factor,
        {
            int(pct_start * steps): div_factor,
            int(steps): 1.0 / (div_factor * final_div_factor),
        },
    )
    schedule._rename(
        "cosine_onecycle_schedule",
        {
            "transition_steps": transition_steps,
            "peak_value": peak_value,
            "pct_start": pct_start,
            "div_factor": div_factor,
            "final_div_factor": final_div_factor,
        },
    )
    return schedule
