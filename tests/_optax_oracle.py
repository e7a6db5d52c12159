"""The oracle of the Optax parity tests: Optax's own schedule functions, run by JAX.

Optax's optimizers evaluate a schedule on their int32 count inside the jitted update
step, one count at a time; the oracle does the same: ``jax.jit(schedule)`` called on
``jnp.int32(count)`` for each count (the compiled function is reused, so one compile
per configuration), or the schedule called un-jitted (``jit=False``: every operation
dispatched alone).  ``x64=True`` runs under ``jax.enable_x64(True)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["differing", "optax_values"]


def optax_values(
    schedule: Any, counts: np.ndarray, *, jit: bool = True, x64: bool = False
) -> np.ndarray:
    """``schedule(count)`` for each count, as JAX computes it (int32 counts)."""
    with jax.enable_x64(x64):
        fn = jax.jit(schedule) if jit else schedule
        values = [fn(jnp.asarray(int(c), dtype=jnp.int32)) for c in counts]
        return np.array([np.asarray(v) for v in values])


def differing(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Where two value arrays differ in any bit (NaN equals NaN; the signs of zeros
    and NaNs count), after checking they have one dtype."""
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    same = (got == want) & (np.signbit(got) == np.signbit(want))
    both_nan = np.isnan(got) & np.isnan(want)
    return ~(same | both_nan)
