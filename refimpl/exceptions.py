"""Warnings and errors raised by refimpl."""

from __future__ import annotations

__all__ = ["ScheduleWarning"]


class ScheduleWarning(UserWarning):
    """A configuration or step that Keras silently accepts but that computes nonsense.

    refimpl computes exactly what Keras computes in these cases (so parity holds)
    and warns to say why the result is probably not what was meant: non-increasing
    boundaries, a rate that produces NaN, ``t_mul <= 0``, steps that float32 cannot
    represent exactly (beyond ``2**24``), negative steps, an integer initial rate that
    truncates every other hyperparameter.
    """
