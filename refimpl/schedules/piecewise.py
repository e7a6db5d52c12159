"""Piecewise constant decay: ``keras.optimizers.schedules.PiecewiseConstantDecay``."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.runs import TrainingRun
from refimpl.schedules._base import LearningRateSchedule
from refimpl.schedules._validation import check_name, check_number, warn
from refimpl.schedules.findings import Finding, at, listed, number

__all__ = ["PiecewiseConstantDecay", "piecewise_constant_decay"]


def piecewise_constant_decay(
    step: Any,
    boundaries: Sequence[Any],
    values: Sequence[Any],
    *,
    xp: ModuleType | Any = numpy_ops,
    dtype: npt.DTypeLike | None = None,
) -> Any:
    """A rate that is constant between boundaries.

    Formula, exactly as Keras 3 evaluates it (a sum of indicator masks times values,
    in this order, so an inf/NaN value poisons every step; with strictly increasing
    boundaries and finite values the sum is computed as the selection it equals)::

        lr = (step <= boundaries[0]) * values[0]
        lr += (step > boundaries[-1]) * values[-1]
        for low, high, v in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            lr += ((step > low) & (step <= high)) * v

    The step is *not* cast to the values' dtype: the boundaries are cast to the step's
    dtype (an int step truncates float boundaries).  The result has the dtype of
    ``values[0]``.

    Intervals: ``values[0]`` on ``step <= boundaries[0]``, ``values[i]`` on
    ``(boundaries[i-1], boundaries[i]]``, ``values[-1]`` on ``step > boundaries[-1]``:
    each new value starts at **boundary + 1** (PyTorch's MultiStepLR and Optax switch
    *at* the boundary).  Step 0 gives ``values[0]`` (for a positive first boundary);
    past the last boundary the rate stays ``values[-1]`` for ever.

    In training (:mod:`refimpl.modes`): the comparisons are exact on the int64 step, so
    the boundaries hold; Grappler sums the masked values with one ``AddN``.  Under XLA
    each ``mask * value`` is a selection, so an inf or NaN value poisons only its own
    interval (eagerly and in graph mode every step is NaN).

    >>> piecewise_constant_decay([0, 1000, 1001, 3001], [1000, 2000, 3000],
    ...                          [0.003, 0.002, 0.001, 0.0001])
    array([0.003 , 0.003 , 0.002 , 0.0001], dtype=float32)
    """
    if dtype is None:
        step = xp.convert_to_tensor(step)
        vals = [xp.convert_to_tensor(v) for v in values]
        bounds = [xp.cast(b, step.dtype) for b in boundaries]  # converted, then cast
    else:
        step = xp.cast(step, dtype)
        vals = [xp.convert_to_tensor(v, dtype) for v in values]
        bounds = [xp.convert_to_tensor(b, dtype) for b in boundaries]
    if _one_interval_per_step(bounds, vals):
        return _select(step, bounds, vals, xp)
    return _mask_sum(step, bounds, vals, xp)


def _mask_sum(step: Any, bounds: list[Any], vals: list[Any], xp: Any) -> Any:
    """Keras's evaluation: the sum of every interval's 0/1 mask times its value."""
    result_dtype = vals[0].dtype
    result = xp.cast(0, result_dtype)
    result = result + xp.cast(step <= bounds[0], result_dtype) * vals[0]
    result = result + xp.cast(step > bounds[-1], result_dtype) * vals[-1]
    for low, high, value in zip(bounds[:-1], bounds[1:], vals[1:-1]):
        result = result + xp.cast(xp.logical_and(step > low, step <= high), result_dtype) * value
    return result


def _select(step: Any, bounds: list[Any], vals: list[Any], xp: Any) -> Any:
    """The same value when exactly one mask is 1 at every step (see
    :func:`_one_interval_per_step`): that interval's value.  A NaN step is in no
    interval: 0, as in the sum.

    A plain array of real steps without NaN (what ``np.arange`` gives) takes the value
    by index: ``i = sum(step > b for b in bounds)`` is the interval of each step
    (boundaries strictly increasing), and ``values[i]`` its value -- one comparison per
    boundary and one ``take``, ~3x faster than a ``where`` per interval.  Otherwise
    (scalars, 0-d arrays, NaN, array subclasses) one ``where`` per interval."""
    if (
        type(step) is np.ndarray  # not a subclass: a masked array's min() skips a NaN
        and step.ndim
        and step.size
        and (step.dtype.kind in "iu" or (step.dtype.kind == "f" and not np.isnan(step.min())))
    ):
        index = np.greater(step, bounds[0]).view(np.uint8)  # counts up to 255 boundaries
        if len(bounds) > 255:
            index = index.astype(np.intp)
        for bound in bounds[1:]:
            index += np.greater(step, bound)
        return np.array(vals).take(index)
    result = xp.where(step > bounds[-1], vals[-1], xp.cast(0, vals[0].dtype))
    for bound, value in zip(reversed(bounds), reversed(vals[:-1])):
        result = xp.where(step <= bound, value, result)
    return result


def _one_interval_per_step(bounds: Sequence[Any], vals: Sequence[Any]) -> bool:
    """Whether Keras's mask sum is a plain selection, judged on the boundaries and
    values *as the formula uses them* (converted, and the boundaries cast to the step's
    dtype, which may round, truncate or wrap): values of one dtype, finite and not
    ``-0.0`` (``0 + -0.0`` is ``+0.0``), boundaries strictly increasing.  Only NumPy
    values are judged: with ``keras.ops`` (tensors, symbolic when traced) the formula
    keeps Keras's sum."""
    items = (*bounds, *vals)
    scalars = all(map(_NUMPY_SCALAR_TYPES.__contains__, map(type, items)))  # the usual case
    if not scalars and not all(
        isinstance(x, (np.generic, np.ndarray)) and x.ndim == 0 for x in items
    ):
        return False
    if len({x.dtype for x in vals}) != 1:
        return False
    v = list(map(float, vals))
    lowest = min(v)
    finite_not_negative = math.isfinite(sum(v)) and (  # a NaN or an inf makes the sum one
        lowest > 0 or (lowest == 0 and all(math.copysign(1.0, x) > 0 for x in v))
    )
    b = list(map(float, bounds))
    return finite_not_negative and all(map(operator.lt, b, b[1:]))


#: NumPy's scalar types of real numbers (the values and boundaries of a scalar call).
_NUMPY_SCALAR_TYPES = frozenset(np.dtype(c).type for c in np.typecodes["AllInteger"] + "efd")


class PiecewiseConstantDecay(LearningRateSchedule, family="keras"):
    """``keras.optimizers.schedules.PiecewiseConstantDecay``; see :func:`piecewise_constant_decay`.

    >>> schedule = PiecewiseConstantDecay([1000, 2000, 3000], [0.003, 0.002, 0.001, 0.0001])
    >>> schedule([1000, 1001])
    array([0.003, 0.002], dtype=float32)
    """

    formula = staticmethod(piecewise_constant_decay)
    decision = "the interval: values[i] from boundaries[i - 1] + 1"
    counterpart = "keras.optimizers.schedules.PiecewiseConstantDecay"
    exact_arithmetic = True
    dtype_arguments = ("values",)

    def _edges(self) -> list[int]:
        return [int(b) for b in self.boundaries if math.isfinite(float(b))]

    def horizon(self) -> int | None:
        last = float(self.boundaries[-1])
        return int(last) + 1 if math.isfinite(last) and last >= 0 else None

    #: The boundaries count steps too; :meth:`_findings` checks them as a list.
    step_arguments = ()

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """Boundaries that look like epochs; a boundary at or past the run's last step
        (the values after it never used); where each value starts (boundary + 1) and
        whether that is an epoch boundary."""
        return self._epoch_like_boundaries(run) + self._where_values_start(run)

    def _epoch_like_boundaries(self, run: TrainingRun) -> list[Finding]:
        spe, bounds = run.steps_per_epoch, list(self.boundaries)
        if spe < 2 or run.epochs < 2 or max(float(b) for b in bounds) < 1:
            return []
        if not all(0 <= float(b) <= run.epochs for b in bounds):
            return []
        fixed = ", ".join(str(round(float(b) * spe) - 1) for b in bounds)
        return [
            Finding(
                "warning",
                f"boundaries {bounds} look like epochs, but schedules count optimizer steps "
                f"(batches): to switch at the start of those epochs ({spe:,} steps each) "
                f"write boundaries = [{fixed}] (the new value starts at boundary + 1).",
            )
        ]

    def _where_values_start(self, run: TrainingRun) -> list[Finding]:
        values, last, out = list(self.values), run.last_step, []
        # The new value starts at the first step past the boundary: floor(boundary) + 1
        # (an infinite boundary is kept as it is: +inf never switches, -inf always has).
        starts = [math.floor(b) if math.isfinite(b) else b for b in map(float, self.boundaries)]
        for i, b in enumerate(starts):
            if b >= last:
                unused = ", ".join(number(v) for v in values[i + 1 :])
                out.append(
                    Finding(
                        "warning",
                        f"boundary {b:,} is at or beyond the run's last step {last:,}: the "
                        f"value(s) after it ({unused}) are never used.",
                    )
                )
                break
        inside = [(i, int(b)) for i, b in enumerate(starts) if -1 <= b < last]
        if inside:
            where = "; ".join(f"{number(values[i + 1])} from {at(run, b + 1)}" for i, b in inside)
            out.append(
                Finding(
                    "note",
                    f"Keras switches to the next value at boundary + 1, not at the boundary: {where}.",
                )
            )
            off = [b for _, b in inside if (b + 1) % run.steps_per_epoch]
            if off:
                ends = listed([e[2] for e in run.epoch_edges()[:-1]], 4)
                which = f"boundaries {listed(off)} are not epoch boundaries"
                if len(off) == 1:
                    which = f"boundary {off[0]:,} is not an epoch boundary"
                out.append(
                    Finding(
                        "note",
                        f"{which} (epochs end at steps {ends}): the rate changes in the "
                        "middle of an epoch.",
                    )
                )
        return out

    default_name = "PiecewiseConstant"

    def __init__(
        self, boundaries: Sequence[Any], values: Sequence[Any], name: str = "PiecewiseConstant"
    ) -> None:
        for arg, seq in (("boundaries", boundaries), ("values", values)):
            if isinstance(seq, (str, bytes)) or not isinstance(seq, (Sequence, np.ndarray)):
                raise TypeError(
                    f"Argument `{arg}` must be a list of numbers. "
                    f"Received: {arg}={seq!r} ({type(seq).__name__})"
                )
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of "
                f"values. Received: boundaries={boundaries} of length "
                f"{len(boundaries)}, and values={values} "
                f"of length {len(values)}."
            )
        if len(boundaries) == 0:
            raise ValueError(
                "Argument `boundaries` must not be empty (Keras accepts it and fails "
                f"when called). Received: boundaries={boundaries!r}, values={values!r}; "
                "for a constant rate pass a float learning rate instead."
            )
        bounds = [
            check_number(f"boundaries[{i}]", b, allow_inf=True) for i, b in enumerate(boundaries)
        ]
        vals = [  # inf and NaN values: warned about below
            check_number(f"values[{i}]", v, allow_nan=True, allow_inf=True)
            for i, v in enumerate(values)
        ]
        self.boundaries = boundaries
        self.values = values
        self.name = check_name(name)
        if any(b >= c for b, c in itertools.pairwise(bounds)):
            warn(
                f"boundaries={boundaries!r} are not strictly increasing: Keras adds the "
                "values of every interval that contains the step, so some steps get a sum "
                "of values or 0.",
                stacklevel=3,  # warn <- __init__ <- the caller
            )
        if not all(math.isfinite(v) for v in vals):
            warn(
                f"values={values!r} contain inf or NaN: Keras multiplies every value by a 0/1 "
                "mask and sums, so the result is NaN at every step.",
                stacklevel=3,  # warn <- __init__ <- the caller
            )

    @property
    def dtype(self) -> np.dtype:
        return numpy_ops.convert_to_tensor(self.values[0]).dtype

    def _step_cast_dtype(self) -> np.dtype | None:
        return None
