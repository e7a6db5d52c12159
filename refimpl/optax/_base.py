"""The base of refimpl's Optax schedules: store and validate, evaluate as JAX does.

Optax's schedule constructors return plain functions of the count; refimpl's return a
:class:`Schedule`, callable the same way (``schedule(count)``), that also knows its
formula (a module-level function over an array namespace, see
:mod:`refimpl.namespace`), its arguments, its edge steps and its horizon, and evaluates
the formula as JAX computes it: under ``jax.jit`` (``mode="jit"``, the default) or
op by op (``mode="eager"``), with x64 off (the default) or on.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.modes.trace import Node, run
from refimpl.optax import _modes
from refimpl.optax._types import DEFAULT, EXACT, JaxType, JaxTypes

__all__ = ["Schedule", "check_count", "check_int", "check_real"]


def check_real(name: str, value: Any, *, positive: bool = False, finite: bool = True) -> Any:
    """``value`` if it is a Python int or float (what Optax's hyperparameters are, and
    what JAX holds weakly typed), else a TypeError naming the argument; NaN, and inf
    unless ``finite=False``, are a ValueError.

    NumPy and JAX scalars are rejected on purpose: JAX holds them *strongly* typed
    (``np.float32(0.1)`` keeps float32 under x64, and promotes what it meets), which
    these references do not model.  Pass ``float(value)``.

    >>> check_real("init_value", 0.1)
    0.1
    >>> check_real("init_value", "0.1")
    Traceback (most recent call last):
    TypeError: Argument `init_value` must be a Python int or float. Received: init_value='0.1' (str)
    """
    if type(value) not in (int, float):
        raise TypeError(
            f"Argument `{name}` must be a Python int or float. "
            f"Received: {name}={value!r} ({type(value).__name__})"
        )
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"Argument `{name}` must be a finite number. Received: {name}={value!r}")
    if positive and not value > 0:
        raise ValueError(f"Argument `{name}` must be positive. Received: {name}={value!r}")
    return value


def check_int(name: str, value: Any) -> int:
    """``value`` if it is a Python int (not a bool) within int32, else an error naming it.

    Optax compares and subtracts its step arguments with the int32 count, so a step
    argument beyond int32 fails (or wraps) in JAX.

    >>> check_int("transition_steps", 2.5)
    Traceback (most recent call last):
    TypeError: Argument `transition_steps` must be a Python int. Received: transition_steps=2.5 (float)
    """
    if type(value) is not int:
        raise TypeError(
            f"Argument `{name}` must be a Python int. "
            f"Received: {name}={value!r} ({type(value).__name__})"
        )
    if not -(2**31) <= value < 2**31:
        raise ValueError(
            f"Argument `{name}` must fit in int32 (Optax's count). Received: {name}={value!r}"
        )
    return value


def check_count(count: Any, dtype: np.dtype) -> np.ndarray:
    """``count`` (an int, or an array of integers or of integral floats) as an int64
    array, each value within ``dtype``'s range (what JAX would hold); else an error
    naming ``count``."""
    if isinstance(count, (bool, np.bool_)):
        raise TypeError(f"Argument `count` must be an integer or an array of integers. "
                        f"Received: count={count!r}")  # fmt: skip
    if isinstance(count, numbers.Integral):
        arr = np.asarray(int(count), dtype=object)
    else:
        try:
            arr = np.asarray(count)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                "Argument `count` must be an integer or an array of integers. "
                f"Received: count={count!r}"
            ) from exc
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"Argument `count` must hold integers. Received: count={count!r}")
    elif arr.dtype.kind not in "iuO":
        raise TypeError(
            "Argument `count` must be an integer or an array of integers. "
            f"Received: count={count!r} (dtype {arr.dtype})"
        )
    info = np.iinfo(dtype)
    if arr.size and (np.min(arr) < info.min or np.max(arr) > info.max):
        raise ValueError(
            f"Argument `count` must fit in {dtype} (the count's dtype). Received: count={count!r}"
        )
    return arr.astype(np.int64)


class Schedule:
    """An Optax schedule: callable on a count (an int or an array), as Optax's are.

    ``schedule(count)`` is the value Optax's function gives under ``jax.jit`` with x64
    off, as a NumPy array shaped like ``count`` (0-d for an int); ``mode="eager"`` the
    value without ``jit``; ``x64=True`` with ``jax_enable_x64``; ``count_dtype``: the
    count's dtype (int32, Optax's optimizer count; ``"int64"`` for a Python int or a
    default-dtype array under x64).  :meth:`exact` gives the float64 true math.

    Subclasses set :attr:`optax_name`, the :attr:`formula` (a module-level function
    ``formula(count, *arguments, xp, types)``; its positional arguments after the count
    are attributes of the schedule) and :meth:`result_type`.
    """

    #: Optax's function name (``"cosine_decay_schedule"``; an instance built by another
    #: Optax function, e.g. ``linear_schedule``, carries that function's name).
    optax_name: str = ""
    #: The formula: ``formula(count, *arguments, xp=..., types=...)``.
    formula: ClassVar[Callable[..., Any]]
    #: The names of the formula's arguments after ``count``.
    _formula_arguments: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        formula = cls.__dict__.get("formula")
        if formula is not None:
            function = formula.__func__ if isinstance(formula, staticmethod) else formula
            kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            params = inspect.signature(function).parameters.values()
            cls._formula_arguments = tuple(p.name for p in params if p.kind in kinds)[1:]

    def __init__(self, config: dict[str, Any]) -> None:
        #: Optax's arguments, as given (:meth:`get_config`).
        self._config = dict(config)
        self._traces: dict[tuple[str, JaxTypes, bool], Node] = {}
        self._python_values: dict[tuple[str, bool, np.dtype], Any] = {}

    # --- what Optax was called with ----------------------------------------------------
    def _rename(self, optax_name: str, config: dict[str, Any]) -> None:
        """Present this schedule as the result of Optax's ``optax_name(**config)`` (the
        functions Optax builds from others: ``linear_schedule`` is a polynomial one)."""
        self.optax_name = optax_name
        self._config = dict(config)

    def get_config(self) -> dict[str, Any]:
        """The arguments of Optax's function, as given."""
        return dict(self._config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"optax.{self.optax_name}({args})"

    # --- the formula -----------------------------------------------------------------
    def evaluate(self, count: Any, *, xp: Any, types: JaxTypes = DEFAULT) -> Any:
        """The formula at ``count`` (a tensor of ``types.count``) on the namespace ``xp``;
        may return a Python number (Optax's constant schedules return their value)."""
        arguments = [getattr(self, name) for name in self._formula_arguments]
        return type(self).formula(count, *arguments, xp=xp, types=types)

    def result_type(self, types: JaxTypes) -> JaxType:
        """The dtype (and weakness) of JAX's result."""
        raise NotImplementedError

    def edge_steps(self) -> list[int]:
        """Counts where the schedule changes regime (0, boundaries, the end of each
        phase), sorted and unique; tests look there and at each one's neighbours."""
        return sorted({0, *self._edges()})

    def _edges(self) -> list[int]:
        return []

    def horizon(self) -> int | None:
        """The count from which the value stays constant for ever (None: never, or
        always constant)."""
        return None

    # --- evaluation ------------------------------------------------------------------
    def trace(
        self,
        mode: str = "jit",
        *,
        x64: bool = False,
        count_dtype: Any = "int32",
        vectors: bool = True,
    ) -> Node:
        """The graph XLA runs for this schedule in ``mode`` (rewritten as XLA rewrites
        it), ending in JAX's result dtype; ``print`` it to read the arithmetic.
        ``vectors=False``: the graph of the port (:func:`refimpl.optax.as_optax`), whose
        constants are all scalars (see :func:`refimpl.optax._modes.tracer`)."""
        types = JaxTypes(x64=x64, count=np.dtype(count_dtype))
        key = (_modes.check_mode(mode), types, vectors)
        node = self._traces.get(key)
        if node is None:
            tracer = _modes.tracer(mode, vectors=vectors)
            count = tracer.cast(tracer.step(), types.count)
            value = self.evaluate(count, xp=tracer, types=types)
            dtype = self.result_type(types).dtype
            if not isinstance(value, Node):  # a Python number: JAX's weak type takes dtype
                self._python_values[(mode, x64, types.count)] = value
                value = tracer.convert_to_tensor(value, dtype)
            node = tracer.finish(tracer.cast(value, dtype))
            self._traces[key] = node
        return node

    def __call__(
        self,
        count: npt.ArrayLike,
        *,
        mode: str = "jit",
        x64: bool = False,
        count_dtype: Any = "int32",
    ) -> np.ndarray:
        """The value at ``count`` as JAX computes Optax's function in ``mode``.

        Eagerly, a schedule that returns its Python number (``constant_schedule``, or
        a degenerate one: ``transition_steps <= 0``, no boundaries) gives it as float64:
        JAX never sees it (``inject_hyperparams`` converts it to the parameters' dtype).
        """
        node = self.trace(mode, x64=x64, count_dtype=count_dtype)
        counts = check_count(count, np.dtype(count_dtype))
        python = self._python_values.get((mode, x64, np.dtype(count_dtype)))
        if mode == "eager" and python is not None:
            return np.full(counts.shape, python)
        return run(node, counts)

    def exact(self, count: npt.ArrayLike) -> np.ndarray:
        """The value at ``count`` (any real counts) in float64 true math: the same
        formula with every quantity in float64 (no float32 rounding, no XLA rewrite)."""
        arr = np.asarray(count)
        if arr.dtype.kind not in "iuf" or isinstance(count, (bool, np.bool_)):
            raise TypeError(
                f"Argument `count` must be a number or an array of numbers. Received: count={count!r}"
            )
        with np.errstate(all="ignore"):
            out = self.evaluate(arr.astype(np.float64), xp=numpy_ops.exact_ops, types=EXACT)
        return np.array(np.broadcast_to(np.asarray(out, np.float64), arr.shape))
