"""Optax's learning-rate schedules in NumPy, computed as JAX computes them.

``refimpl.optax.cosine_decay_schedule(...)`` takes Optax's arguments and returns a
schedule callable on a count (an int or an array of counts), as Optax's function is.
By default it gives what Optax's function gives under ``jax.jit`` with x64 off, bit for
bit (XLA's rewrites and kernels: :mod:`refimpl.optax._modes`); ``mode="eager"`` the
un-jitted value, ``x64=True`` the value with ``jax_enable_x64``, ``.exact(count)`` the
float64 true math.  NumPy only: nothing here imports JAX or Optax (the tests do, to
prove parity); :func:`as_optax` runs any refimpl formula -- Keras's, torch's, Optax's
-- on ``jax.numpy`` (:data:`jax_ops`, JAX imported on first use) as an Optax schedule,
and :func:`jit_rates` says without JAX what that gives under ``jax.jit``.

>>> from refimpl import optax
>>> schedule = optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=5, decay_steps=15)
>>> schedule([0, 5, 15])
array([0., 1., 0.], dtype=float32)
>>> schedule
optax.warmup_cosine_decay_schedule(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=15, end_value=0.0, exponent=1.0)
"""

from refimpl.optax._base import Schedule
from refimpl.optax.cosine import cosine_decay_schedule
from refimpl.optax.exponential import exponential_decay
from refimpl.optax.inject import reported_dtype, reported_rates, to_bfloat16
from refimpl.optax.jax_namespace import as_optax, jax_ops
from refimpl.optax.join import (
    join_schedules,
    sgdr_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from refimpl.optax.piecewise import (
    cosine_onecycle_schedule,
    linear_onecycle_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
)
from refimpl.optax.polynomial import constant_schedule, linear_schedule, polynomial_schedule
from refimpl.optax.port import eager_rates, jit_rates

#: Optax's schedule functions refimpl.optax has, by name.
FUNCTIONS = (
    "constant_schedule",
    "linear_schedule",
    "polynomial_schedule",
    "exponential_decay",
    "cosine_decay_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "linear_onecycle_schedule",
    "cosine_onecycle_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    "sgdr_schedule",
    "join_schedules",
)

__all__ = [
    "FUNCTIONS",
    "Schedule",
    "as_optax",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "eager_rates",
    "exponential_decay",
    "jax_ops",
    "jit_rates",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "reported_dtype",
    "reported_rates",
    "sgdr_schedule",
    "to_bfloat16",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]
