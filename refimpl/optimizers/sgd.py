"""Stochastic gradient descent with Keras 3's update rule (``keras/src/optimizers/sgd.py``).

For every variable ``w`` with gradient ``g``, learning rate ``lr`` and momentum ``mu``,
all in float32 and in this order of operations::

    momentum == 0:  w = w - g * lr
    otherwise:      m = m * mu - g * lr
                    w = w + m                         (nesterov=False)
                    w = w + (m * mu - g * lr)         (nesterov=True)

``lr`` is the learning rate of *this* update: a float, or a schedule evaluated at
``iterations`` **before** it is incremented (the first update uses step 0).
``iterations`` counts updates across ``fit`` calls and is saved with the weights.

``decay`` is the legacy (Keras <= 2.10, ``tf_keras.optimizers.legacy.SGD``) argument:
``lr_t = lr / (1 + decay * iterations)``, on top of the schedule if ``learning_rate``
is one.  **Keras 3 ignores ``decay``** (it warns "Argument `decay` is no longer
supported and will be ignored" and trains at a constant rate); refimpl applies the
legacy formula, which is what the lesson's text describes.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from refimpl.exceptions import ScheduleWarning
from refimpl.optimizers.optimizer import Optimizer
from refimpl.schedules import LearningRateSchedule, TimeBasedDecay

__all__ = ["SGD"]


def _is_schedule(value: Any) -> bool:
    return callable(value) and not isinstance(value, (numbers.Number, np.generic))


def _as_float32_rate(value: Any, what: str = "learning_rate") -> np.float32:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise TypeError(
            f"Argument `{what}` must be a float or a LearningRateSchedule. "
            f"Received: {what}={value!r}"
        )
    arr = np.asarray(value)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise TypeError(f"Argument `{what}` must be a scalar. Received: {what}={value!r}")
    rate = np.float32(arr)
    if not math.isfinite(float(rate)) or rate < 0:
        raise ValueError(
            f"Argument `{what}` must be a finite number >= 0. Received: {what}={value!r}"
        )
    return rate


class _LegacyDecay:
    """``schedule(step) / (1 + decay * step)`` in float32 for a plain callable ``schedule``
    (a refimpl schedule gets :class:`~refimpl.schedules.TimeBasedDecay`, same op order)."""

    def __init__(self, schedule: Any, decay: float) -> None:
        self.schedule = schedule
        self.decay = decay

    def __call__(self, step: Any) -> Any:
        value = np.asarray(self.schedule(step))
        if value.dtype.kind not in "iuf":
            return value  # not a number: SGD reports it, naming the schedule's output
        local_step = np.asarray(step).astype(np.float32)
        return value.astype(np.float32) / (np.float32(1.0) + np.float32(self.decay) * local_step)

    def __repr__(self) -> str:
        return f"_LegacyDecay({self.schedule!r}, decay={self.decay!r})"


class SGD(Optimizer):
    """Gradient descent (with momentum), as ``keras.optimizers.SGD``.

    Args:
        learning_rate: a float (default 0.01) or a schedule called with the step.
        momentum: float in ``[0, 1]``; 0 disables momentum.
        nesterov: whether to apply Nesterov momentum.
        decay: legacy time-based decay, a finite ``>= 0`` (see the module docstring).
        name: the optimizer's name (None gives ``"SGD"``).

    Every argument is checked here: a wrong type raises ``TypeError``, a bad value
    ``ValueError`` (``momentum`` always ``ValueError``, as in Keras), each naming the
    argument as passed and the value received.

    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> w = np.ones(2, np.float32)
    >>> opt.apply([np.ones(2, np.float32)], [w]); w          # m = -0.1, w = 1 - 0.1
    array([0.9, 0.9], dtype=float32)
    >>> opt.apply([np.ones(2, np.float32)], [w]); w          # m = -0.09 - 0.1
    array([0.71, 0.71], dtype=float32)
    >>> opt.iterations
    2
    """

    momentum: float
    nesterov: bool
    decay: float
    name: str
    iterations: int
    momentums: list[np.ndarray]
    built: bool

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        decay: float = 0.0,
        *,
        name: str | None = "SGD",
    ) -> None:
        if _is_schedule(learning_rate):
            self._base_learning_rate: Any = learning_rate
        else:
            self._base_learning_rate = _as_float32_rate(learning_rate)
        if (
            isinstance(momentum, (bool, np.bool_))
            or not isinstance(momentum, numbers.Real)
            or not 0 <= momentum <= 1
        ):
            # Keras raises ValueError for any momentum that is not a float in [0, 1].
            raise ValueError(
                f"Argument `momentum` must be a float between [0, 1]. Received: momentum={momentum!r}"
            )
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"Argument `nesterov` must be a bool. Received: nesterov={nesterov!r}")
        if isinstance(decay, (bool, np.bool_)) or not isinstance(decay, numbers.Real):
            raise TypeError(f"Argument `decay` must be a float. Received: decay={decay!r}")
        if not math.isfinite(decay) or decay < 0:
            raise ValueError(
                f"Argument `decay` must be a finite number >= 0. Received: decay={decay!r}"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Argument `name` must be a string. Received: name={name!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.decay = float(decay)
        self.name = "SGD" if name is None else name
        # The legacy decay as a schedule on top of the rate (float or schedule), built
        # from the already checked rate so that no error can name another argument.
        self._decayed: Any = None
        if self.decay > 0:
            base = self._base_learning_rate
            if isinstance(base, LearningRateSchedule):
                self._decayed = TimeBasedDecay(base, self.decay)
            elif _is_schedule(base):
                self._decayed = _LegacyDecay(base, self.decay)
            else:  # the float32 rate, as tf_keras's legacy optimizers hold it
                self._decayed = TimeBasedDecay(float(base), self.decay)
        self.iterations = 0
        self.momentums: list[np.ndarray] = []
        self.built = False

    # -- learning rate ------------------------------------------------------------------
    @property
    def _schedule(self) -> Any:
        """The callable evaluated at ``iterations``, or None for a constant rate."""
        if self._decayed is not None:
            return self._decayed
        return self._base_learning_rate if _is_schedule(self._base_learning_rate) else None

    def _rate_at(self, step: int, *, mode: str = "eager") -> np.float32:
        """The float32 rate at ``step``; a refimpl schedule is evaluated in ``mode``."""
        schedule = self._schedule
        if schedule is None:
            return np.float32(self._base_learning_rate)
        if mode != "eager" and isinstance(schedule, LearningRateSchedule):
            with warnings.catch_warnings():  # fit warns once, for the whole run
                warnings.simplefilter("ignore", ScheduleWarning)
                value = np.asarray(schedule(step, mode=mode))
        else:
            value = np.asarray(schedule(step))
        if value.shape != () or value.dtype.kind not in "iuf":
            raise TypeError(
                f"The learning-rate schedule must return a scalar number. "
                f"Received: {value!r} at step {step}"
            )
        rate = np.float32(value)
        if not math.isfinite(float(rate)):
            raise ValueError(
                f"The learning-rate schedule returned a non-finite value. "
                f"Received: learning_rate={float(rate)} at step {step}"
            )
        return rate

    @property
    def learning_rate(self) -> np.float32:
        """The rate of the *next* update: ``schedule(iterations)`` or the constant."""
        return self._rate_at(self.iterations)

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if _is_schedule(self._base_learning_rate) or self.decay > 0:
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` (or a legacy "
                "`decay`) as its learning rate, hence its learning rate is not settable. "
                "If you need the learning rate to be settable, pass a float."
            )
        if _is_schedule(value):
            raise TypeError(
                "Setting `learning_rate` to a schedule after construction is not supported. "
                f"Received: learning_rate={value!r}"
            )
        self._base_learning_rate = _as_float32_rate(value)

    def check_schedule(self, first_step: int, num_steps: int, mode: str = "eager") -> None:
        """Raise ``ValueError`` if the rate is non-finite at any of the next ``num_steps``
        (a refimpl schedule evaluated in ``mode``: under XLA, ``PolynomialDecay`` with a
        fractional power is NaN at ``step == decay_steps`` for most ``decay_steps``).

        Evaluates the schedule on the whole range at once (refimpl schedules accept
        arrays); a schedule that cannot is checked step by step during training instead.
        """
        schedule = self._schedule
        if schedule is None or num_steps <= 0:
            return
        steps = np.arange(first_step, first_step + num_steps, dtype=np.int64)
        try:
            if mode != "eager" and isinstance(schedule, LearningRateSchedule):
                values = np.asarray(schedule(steps, mode=mode), dtype=np.float64)
            else:
                values = np.asarray(schedule(steps), dtype=np.float64)
        except Exception:
            return
        if values.shape != steps.shape:
            return
        bad = ~np.isfinite(values)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                "Argument `learning_rate`: the schedule returns a non-finite learning rate at "
                f"step {int(steps[k])} (mode={mode!r}). Received: "
                f"learning_rate={self._base_learning_rate!r} (value {values[k]})"
            )

    # -- state ----------------------------------------------------------------------------
    def build(self, variables: Sequence[np.ndarray]) -> None:
        """Create one zero momentum buffer per variable (only if ``momentum != 0``)."""
        if self.built:
            return
        self.momentums = (
            [np.zeros_like(v, dtype=np.float32) for v in variables] if self.momentum != 0 else []
        )
        self.built = True

    def apply(
        self,
        grads: Sequence[np.ndarray],
        variables: Sequence[np.ndarray],
        learning_rate: np.float32 | None = None,
    ) -> None:
        """One update of every variable in place, then ``iterations += 1``.

        ``learning_rate`` is the rate of this update if the caller has evaluated it
        (the trainer does, once per step); by default the schedule at ``iterations``.
        """
        if len(grads) != len(variables):
            raise ValueError(
                "Arguments `grads` and `variables` must have one gradient per variable. "
                f"Received: len(grads)={len(grads)}, len(variables)={len(variables)}"
            )
        self.build(variables)
        lr = self._rate_at(self.iterations) if learning_rate is None else np.float32(learning_rate)
        mu = np.float32(self.momentum)
        for i, (g, w) in enumerate(zip(grads, variables, strict=True)):
            step = g * lr
            if self.momentums:
                m = self.momentums[i]
                m *= mu
                m -= step
                if self.nesterov:
                    w += m * mu - step
                else:
                    w += m
            else:
                w -= step
        self.iterations += 1

    def apply_gradients(self, grads_and_vars: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Keras-style spelling of :meth:`apply`: ``[(grad, variable), ...]``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def get_state(self) -> dict[str, Any]:
        """``iterations``, the constant rate (if any) and the momentum buffers (copies)."""
        state: dict[str, Any] = {"iterations": self.iterations}
        if not _is_schedule(self._base_learning_rate):
            state["learning_rate"] = np.float32(self._base_learning_rate)
        state["momentums"] = [m.copy() for m in self.momentums]
        return state

    @staticmethod
    def check_state(state: Any, variables: Sequence[np.ndarray]) -> dict[str, Any]:
        """Check a :meth:`get_state`-style ``state`` for ``variables`` without changing
        anything; return it normalised (``iterations`` an int, ``learning_rate`` a
        float32 if present, ``momentums`` float32 copies).

        ``momentums`` must be empty or hold one array per variable, of its shape and of
        a dtype that casts to float32 (bool, integer or float).  Raises ``TypeError`` or
        ``ValueError`` naming the entry and the value received.
        """
        if not isinstance(state, dict):
            raise TypeError(f"Argument `state` must be a dict. Received: state={state!r}")
        if "iterations" not in state:
            raise ValueError(
                f"Argument `state` must have an 'iterations' entry. Received: keys {list(state)}"
            )
        iterations = state["iterations"]
        if isinstance(iterations, (bool, np.bool_)) or not isinstance(
            iterations, (int, np.integer)
        ):
            raise TypeError(
                "Argument `state['iterations']` must be an integer. "
                f"Received: state['iterations']={iterations!r}"
            )
        if iterations < 0:
            raise ValueError(
                "Argument `state['iterations']` must be >= 0. "
                f"Received: state['iterations']={iterations!r}"
            )
        checked: dict[str, Any] = {"iterations": int(iterations)}
        if "learning_rate" in state:
            checked["learning_rate"] = _as_float32_rate(
                state["learning_rate"], "state['learning_rate']"
            )
        momentums = state.get("momentums", [])
        if not isinstance(momentums, (list, tuple)):
            raise TypeError(
                "Argument `state['momentums']` must be a list of arrays. "
                f"Received: state['momentums'] of type {type(momentums).__name__}"
            )
        if momentums and len(momentums) != len(variables):
            raise ValueError(
                "Optimizer state does not match the model: "
                f"{len(momentums)} momentum buffers for {len(variables)} variables. "
                f"Received: len(state['momentums'])={len(momentums)}"
            )
        copies = []
        for i, (m, v) in enumerate(zip(momentums, variables)):
            arr = np.asarray(m)
            if not np.can_cast(arr.dtype, np.float32, casting="same_kind"):
                raise TypeError(
                    f"Argument `state['momentums'][{i}]` must be a float array. "
                    f"Received: dtype {arr.dtype}"
                )
            if arr.shape != np.shape(v):
                raise ValueError(
                    "Optimizer state does not match the model: momentum buffers of shapes "
                    f"{[np.shape(m) for m in momentums]} for variables of shapes "
                    f"{[np.shape(v) for v in variables]}. "
                    f"Received: state['momentums'][{i}].shape={arr.shape}"
                )
            copies.append(arr.astype(np.float32, copy=True))
        checked["momentums"] = copies
        return checked

    def set_state(self, state: dict[str, Any], variables: Sequence[np.ndarray]) -> None:
        """Restore :meth:`get_state`'s output for ``variables``: all of it is checked
        first (:meth:`check_state`), so a bad ``state`` changes nothing.

        Momentum buffers are restored only if this optimizer uses momentum and the state
        has them; the constant rate only if this optimizer's rate is not a schedule.
        """
        checked = self.check_state(state, variables)
        if self.momentum != 0 and checked["momentums"]:
            self.momentums = checked["momentums"]
            self.built = True
        self.iterations = checked["iterations"]
        if "learning_rate" in checked and not _is_schedule(self._base_learning_rate):
            self._base_learning_rate = checked["learning_rate"]
            if self.decay > 0:
                self._decayed = TimeBasedDecay(float(self._base_learning_rate), self.decay)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (a schedule is reported by its own config)."""
        lr = self._base_learning_rate
        if _is_schedule(lr):
            lr_config: Any = {
                "class_name": type(lr).__name__,
                "config": lr.get_config() if hasattr(lr, "get_config") else None,
            }
        else:
            lr_config = float(lr)
        return {
            "name": self.name,
            "learning_rate": lr_config,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "decay": self.decay,
        }
