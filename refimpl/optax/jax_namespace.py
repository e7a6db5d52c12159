"""refimpl's array namespace on ``jax.numpy``: every refimpl formula inside JAX.

:data:`jax_ops` implements :class:`refimpl.namespace.ArrayNamespace` over
``jax.numpy`` with TensorFlow's dtype rules -- the rules every refimpl formula is
written for (a Python float is float32, a Python int int32, a Python number meeting a
tensor takes its dtype, an integer meeting a float takes the float's dtype, float
functions of integers are float32), so a Keras formula computes in JAX in the dtype it
computes in TensorFlow.  Python numbers are converted to strongly typed arrays before
they meet a tensor: JAX's weak types would otherwise make ``int32 * 0.5`` float64 when
x64 is on.  ``cond`` computes both branches and selects (``jnp.where``), as TensorFlow's
XLA bridge compiles a ``tf.cond``.

:func:`as_optax` makes any refimpl schedule -- a Keras schedule class
(:mod:`refimpl.schedules`), a torch scheduler (:mod:`refimpl.torch.lr_scheduler`, its
closed form) or an Optax one (:mod:`refimpl.optax`) -- a function of Optax's count,
usable as ``optax.sgd(learning_rate=...)`` or in ``optax.inject_hyperparams``.  Its
value under ``jax.jit`` is what :func:`refimpl.optax.port.jit_rates` predicts
(``tests/test_optax_jax_namespace.py``).

JAX is imported on first use: importing this module needs NumPy only.  Limits: without
``jax_enable_x64`` a float64 request gives float32 (JAX's rule), so a float64 Keras
schedule or a torch closed form computes in float32 there; Python operators between a
JAX array and a Python number follow JAX's weak-type rule (the same as TensorFlow's,
except an *integer* array times a Python float under x64, which no refimpl formula
does).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from refimpl import numpy_ops

__all__ = ["JaxNamespace", "as_optax", "jax_ops"]


@functools.cache
def _jnp() -> ModuleType:
    import jax.numpy as jnp  # lazily: refimpl imports NumPy only

    return jnp


def _dtype_of(x: Any) -> np.dtype | None:
    dtype = getattr(x, "dtype", None)
    return None if dtype is None else np.dtype(dtype)


class JaxNamespace:
    """:class:`refimpl.namespace.ArrayNamespace` on ``jax.numpy`` with TensorFlow's
    dtype rules (see the module docstring).

    >>> import jax.numpy as jnp
    >>> jax_ops.multiply(jnp.arange(3), 0.5).dtype      # int meets a Python float
    dtype('float32')
    """

    def __repr__(self) -> str:
        return "jax_ops"

    # --- conversions -------------------------------------------------------------------
    def convert_to_tensor(self, x: Any, dtype: Any = None) -> Any:
        """A Python float as float32, a Python int as int32 (TensorFlow's rule), anything
        with a dtype as it is; with ``dtype``, converted to it (directly)."""
        jnp = _jnp()
        if dtype is not None:
            return jnp.asarray(x, dtype=np.dtype(getattr(dtype, "as_numpy_dtype", dtype)))
        if isinstance(x, bool):
            return jnp.asarray(x, dtype=np.bool_)
        if isinstance(x, (int, float)) and not isinstance(x, np.generic):
            return jnp.asarray(numpy_ops.convert_to_tensor(x))  # float32, int32 (or int64)
        return jnp.asarray(x)

    def array(self, x: Any, dtype: Any = None) -> Any:
        return self.convert_to_tensor(x, dtype)

    def cast(self, x: Any, dtype: Any) -> Any:
        """``x`` converted to ``dtype``; a Python float goes through float32 first, as
        ``tf.cast`` converts it (``cast(0.1, float64)`` is 0.10000000149011612)."""
        target = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
        if isinstance(x, (int, float)) and not isinstance(x, np.generic):
            return _jnp().asarray(numpy_ops.cast(x, target), dtype=target)  # TensorFlow's cast
        return self.convert_to_tensor(x).astype(target)

    def _pair(self, x1: Any, x2: Any) -> tuple[Any, Any]:
        """Two operands with TensorFlow's (Keras's) promotion."""
        d1, d2 = _dtype_of(x1), _dtype_of(x2)
        if d1 is None and d2 is None:
            return self.convert_to_tensor(x1), self.convert_to_tensor(x2)
        if d1 is None:
            x1 = self._like(x1, d2)
        elif d2 is None:
            x2 = self._like(x2, d1)
        a, b = np.dtype(x1.dtype), np.dtype(x2.dtype)
        if a.kind in "iub" and b.kind == "f":
            x1 = x1.astype(b)
        elif b.kind in "iub" and a.kind == "f":
            x2 = x2.astype(a)
        return x1, x2

    def _like(self, value: Any, dtype: np.dtype | None) -> Any:
        """A Python number meeting a tensor of ``dtype``: converted to it, except a
        float meeting an integer, which is float32."""
        assert dtype is not None
        if isinstance(value, float) and dtype.kind in "iub":
            return _jnp().asarray(value, dtype=np.float32)
        if isinstance(value, bool) and dtype.kind != "b":
            return _jnp().asarray(int(value), dtype=dtype)
        return _jnp().asarray(value, dtype=dtype)

    def _float(self, x: Any) -> Any:
        """``x`` as a float array (integers become float32, as in ``keras.ops``)."""
        a = self.convert_to_tensor(x)
        return a if np.dtype(a.dtype).kind == "f" else a.astype(np.float32)

    # --- arithmetic --------------------------------------------------------------------
    def add(self, x1: Any, x2: Any) -> Any:
        return _jnp().add(*self._pair(x1, x2))

    def subtract(self, x1: Any, x2: Any) -> Any:
        return _jnp().subtract(*self._pair(x1, x2))

    def multiply(self, x1: Any, x2: Any) -> Any:
        return _jnp().multiply(*self._pair(x1, x2))

    def divide(self, x1: Any, x2: Any) -> Any:
        """True division; two integers give float32 (Keras's ``floatx``)."""
        a, b = self._pair(x1, x2)
        if np.dtype(a.dtype).kind in "iub" and np.dtype(b.dtype).kind in "iub":
            a, b = a.astype(np.float32), b.astype(np.float32)
        return _jnp().true_divide(a, b)

    def negative(self, x: Any) -> Any:
        return _jnp().negative(self.convert_to_tensor(x))

    def minimum(self, x1: Any, x2: Any) -> Any:
        return _jnp().minimum(*self._pair(x1, x2))

    def maximum(self, x1: Any, x2: Any) -> Any:
        return _jnp().maximum(*self._pair(x1, x2))

    def floor(self, x: Any) -> Any:
        return _jnp().floor(self._float(x))

    def ceil(self, x: Any) -> Any:
        return _jnp().ceil(self._float(x))

    def power(self, x1: Any, x2: Any) -> Any:
        """``lax.pow`` of the promoted operands (TensorFlow's ``Pow``): the exponent is
        an array, never a Python int, so ``jnp.power`` does not take its
        repeated-multiplication path for integer exponents."""
        a, b = self._pair(x1, x2)
        if np.dtype(a.dtype).kind == "f":
            import jax.lax as lax

            return lax.pow(a, b.astype(a.dtype))
        return _jnp().power(a, b)

    def cos(self, x: Any) -> Any:
        return _jnp().cos(self._float(x))

    def log(self, x: Any) -> Any:
        return _jnp().log(self._float(x))

    def exp(self, x: Any) -> Any:
        return _jnp().exp(self._float(x))

    def sqrt(self, x: Any) -> Any:
        return _jnp().sqrt(self._float(x))

    # --- comparisons, logic, selection ---------------------------------------------------
    def equal(self, x1: Any, x2: Any) -> Any:
        return _jnp().equal(*self._pair(x1, x2))

    def logical_and(self, x1: Any, x2: Any) -> Any:
        return _jnp().logical_and(self.convert_to_tensor(x1), self.convert_to_tensor(x2))

    def bitwise_xor(self, x1: Any, x2: Any) -> Any:
        return _jnp().bitwise_xor(*self._pair(x1, x2))

    def right_shift(self, x: Any, y: Any) -> Any:
        a = self.convert_to_tensor(x)
        return _jnp().right_shift(a, _jnp().asarray(y, dtype=a.dtype))

    def where(self, condition: Any, x1: Any, x2: Any) -> Any:
        a, b = self._pair(x1, x2)
        return _jnp().where(self.convert_to_tensor(condition), a, b)

    def cond(self, pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
        """Both branches, selected by ``pred`` (TensorFlow's XLA bridge turns a
        ``tf.cond`` into a select of both branches; a tuple selects element by element)."""
        a, b = true_fn(), false_fn()
        if isinstance(a, tuple):
            return tuple(self.where(pred, x, y) for x, y in zip(a, b, strict=True))
        return self.where(pred, a, b)


#: The namespace instance (like :mod:`refimpl.numpy_ops`, pass it as ``xp``).
jax_ops = JaxNamespace()


def as_optax(schedule: Any, *, dtype: Any = None) -> Callable[[Any], Any]:
    """``schedule`` as an Optax schedule: a function of Optax's count computing the
    schedule's formula on ``jax.numpy`` (jit-compatible: no Python branch on the count).

    - a refimpl.optax schedule: its formula with JAX's dtypes (the same dtype as
      Optax's function, weakly typed where Optax's result is); the formula takes
      ``piecewise_interpolate_schedule``'s intervals one at a time, as scalars, so XLA
      can reassociate a product Optax's constant vectors keep: an ulp apart at some
      counts (``jit_rates`` predicts the port, ``schedule(count)`` Optax's function);
    - a Keras schedule (:class:`refimpl.schedules.LearningRateSchedule`): the formula
      in Keras's dtype (``dtype`` overrides it, as ``evaluate(dtype=...)``), the count
      taken as Keras's step (step 0 is the first update in both);
    - a torch scheduler (:class:`refimpl.torch.lr_scheduler.LRScheduler`): its closed
      form, in float64 (float32 without x64; ``dtype`` overrides it), the count as
      torch's optimizer step.

    >>> import jax, jax.numpy as jnp
    >>> from refimpl.schedules import ExponentialDecay
    >>> rate = as_optax(ExponentialDecay(0.1, 61, 0.5, staircase=True))
    >>> float(jax.jit(rate)(jnp.int32(61)))            # XLA's x * fl(1/61): one stair late
    0.10000000149011612
    """
    from refimpl.optax._base import Schedule
    from refimpl.schedules import LearningRateSchedule
    from refimpl.torch._base import LRScheduler

    if isinstance(schedule, Schedule):
        return _optax_port(schedule)
    if isinstance(schedule, LearningRateSchedule):

        def keras_rate(count: Any) -> Any:
            return schedule.evaluate(count, xp=jax_ops, dtype=dtype)

        return keras_rate
    if isinstance(schedule, LRScheduler):
        _check_portable(schedule)

        def torch_rate(count: Any) -> Any:
            wide = np.float64 if _x64() else np.float32
            return schedule.closed_form(count, xp=jax_ops, dtype=dtype or wide)

        return torch_rate
    raise TypeError(
        "Argument `schedule` must be a refimpl schedule (refimpl.schedules, "
        f"refimpl.torch.lr_scheduler or refimpl.optax). Received: {schedule!r}"
    )


def _x64() -> bool:
    """Whether JAX holds float64 (``jax_enable_x64``)."""
    import jax

    return bool(jax.dtypes.canonicalize_dtype(np.float64) == np.float64)


def _check_portable(scheduler: Any) -> None:
    """A TypeError naming the torch scheduler whose closed form is not a formula of the
    step (``LambdaLR``/``MultiplicativeLR`` call Python functions on it;
    ``ReduceLROnPlateau`` follows a metric), itself or as a child."""
    from refimpl.torch.lambda_lr import LambdaLR, MultiplicativeLR
    from refimpl.torch.plateau import ReduceLROnPlateau

    if isinstance(scheduler, (LambdaLR, MultiplicativeLR, ReduceLROnPlateau)):
        raise TypeError(
            f"{type(scheduler).__name__} cannot run under jax.jit: its rate is not a formula "
            "of the step (LambdaLR and MultiplicativeLR call a Python function on it, "
            f"ReduceLROnPlateau follows a metric). Received: {scheduler!r}"
        )
    for child in getattr(scheduler, "_schedulers", ()):
        _check_portable(child)


def _optax_port(schedule: Any) -> Callable[[Any], Any]:
    from refimpl.optax._types import JaxTypes

    def rate(count: Any) -> Any:
        jnp = _jnp()
        x64 = _x64()
        if isinstance(count, int) and not isinstance(count, bool):
            count = jnp.asarray(count, dtype=np.int64 if x64 else np.int32)
        count = jnp.asarray(count)
        types = JaxTypes(x64=x64, count=np.dtype(count.dtype))
        result = schedule.result_type(types)
        value = schedule.evaluate(count, xp=jax_ops, types=types)
        value = jnp.asarray(value, dtype=result.dtype)
        return _weak(value) if result.weak else value

    return rate


def _weak(value: Any) -> Any:
    """``value`` weakly typed, as Optax's result is where a Python number met the count
    (``optax.inject_hyperparams`` converts only weakly typed results to the
    parameters' dtype).  JAX has no public function for this; its internal
    ``_convert_element_type(..., weak_type=True)`` is used when present, else the
    value is returned strongly typed."""
    try:
        from jax._src.lax.lax import _convert_element_type
    except ImportError:  # pragma: no cover - a JAX without it
        return value
    return _convert_element_type(value, value.dtype, weak_type=True)
