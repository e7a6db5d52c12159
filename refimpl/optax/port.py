"""What a refimpl schedule ported to Optax computes, without JAX.

:func:`refimpl.optax.as_optax` runs a refimpl formula -- Keras's, torch's closed form,
or Optax's own -- on ``jax.numpy``; :func:`jit_rates` says, from NumPy alone, what that
port gives under ``jax.jit`` (the formula traced with refimpl.optax's ``"jit"`` rules
and run with XLA:CPU's kernels) and :func:`eager_rates` what it gives un-jitted.

For a Keras schedule this is what Keras's ``jit_compile=True`` computes
(:meth:`refimpl.schedules.LearningRateSchedule.__call__` with ``mode="xla"``), up to the
step's dtype (Optax counts in int32, Keras in int64) and the rules JAX's XLA applies
that refimpl's TensorFlow model lacks (``pow(A, 3)``; see
:mod:`refimpl.optax._modes`); the tests measure both against real JAX.

>>> from refimpl.schedules import ExponentialDecay
>>> jit_rates(ExponentialDecay(0.1, 61, 0.5, staircase=True), [60, 61, 62])
array([0.1 , 0.1 , 0.05], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl.modes.trace import run
from refimpl.optax import _modes
from refimpl.optax._base import Schedule, check_count
from refimpl.optax._types import JaxTypes

__all__ = ["eager_rates", "jit_rates"]


def jit_rates(
    schedule: Any,
    counts: npt.ArrayLike,
    *,
    x64: bool = False,
    count_dtype: Any = "int32",
    dtype: Any = None,
) -> np.ndarray:
    """``jax.jit(as_optax(schedule))(count)`` at every count of ``counts``, computed
    with NumPy: a refimpl.optax schedule as :meth:`~refimpl.optax.Schedule.__call__`
    gives it but for Optax's constant vectors, which the port holds as scalars
    (``piecewise_interpolate_schedule`` and the one-cycle schedules can then be an ulp
    from Optax's own function: ``schedule(counts)`` is that one), a Keras schedule or a torch scheduler (``dtype`` as
    :func:`~refimpl.optax.as_optax` takes it) by tracing its formula with XLA's rules."""
    return _rates("jit", schedule, counts, x64, count_dtype, dtype)


def eager_rates(
    schedule: Any,
    counts: npt.ArrayLike,
    *,
    x64: bool = False,
    count_dtype: Any = "int32",
    dtype: Any = None,
) -> np.ndarray:
    """``as_optax(schedule)(count)`` un-jitted (each operation alone, XLA's kernels)."""
    return _rates("eager", schedule, counts, x64, count_dtype, dtype)


def _rates(
    mode: str, schedule: Any, counts: npt.ArrayLike, x64: bool, count_dtype: Any, dtype: Any
) -> np.ndarray:
    if isinstance(schedule, Schedule):
        if mode == "eager":
            return schedule(counts, mode=mode, x64=x64, count_dtype=count_dtype)
        # the port's graph: refimpl's formula holds Optax's constant vectors as scalars
        node = schedule.trace(mode, x64=x64, count_dtype=count_dtype, vectors=False)
        return run(node, check_count(counts, np.dtype(count_dtype)))
    from refimpl.schedules import LearningRateSchedule
    from refimpl.torch._base import LRScheduler

    types = JaxTypes(x64=x64, count=np.dtype(count_dtype))
    tracer = _modes.tracer(mode)
    count = tracer.cast(tracer.step(), types.count)
    if isinstance(schedule, LearningRateSchedule):
        value = schedule.evaluate(count, xp=tracer, dtype=_available(dtype, x64))
    elif isinstance(schedule, LRScheduler):
        wide = np.float64 if x64 else np.float32
        value = schedule.closed_form(count, xp=tracer, dtype=_available(dtype, x64) or wide)
    else:
        raise TypeError(
            "Argument `schedule` must be a refimpl schedule (refimpl.schedules, "
            f"refimpl.torch.lr_scheduler or refimpl.optax). Received: {schedule!r}"
        )
    node = tracer.finish(tracer.convert_to_tensor(value))
    return run(node, check_count(counts, types.count))


def _available(dtype: Any, x64: bool) -> Any:
    """``dtype`` as JAX gives it: float64 is float32 without x64."""
    if dtype is None or x64:
        return dtype
    return np.float32 if np.dtype(dtype) == np.float64 else dtype
