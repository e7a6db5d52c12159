"""What an array namespace must provide to run refimpl's formulas: :class:`ArrayNamespace`.

Every schedule formula is written once, as a function of the step over a namespace
``xp``, and never reaches around it.  Four namespaces run the same lines:

- :mod:`refimpl.numpy_ops` -- NumPy with TensorFlow's dtype rules and CPU kernels,
  operation by operation: what Keras computes when a schedule is called eagerly;
- a :class:`refimpl.modes.trace.Tracer` -- records the formula as a graph, rewrites it
  as Grappler or XLA does and runs it on NumPy (``mode="graph"``, ``"xla"``, ``"jax"``,
  ``"torch"``);
- ``keras.ops`` -- inside Keras, in ``keras_adapter``;
- :data:`refimpl.numpy_ops.exact_ops` -- float64 "true math" (``schedule.exact``).

The names and signatures are those of ``keras.ops`` (so that ``keras.ops`` itself is
a namespace), restricted to what the formulas use.  Dtype rules are TensorFlow's: a
Python float converts to float32 and a Python int to int32; a Python number meeting a
tensor takes the tensor's dtype; float functions of integers return float32.  Tensors
support ``+ - * /``, unary ``-`` and the comparisons ``< <= > >=`` with the same rules.

>>> from refimpl import numpy_ops
>>> from refimpl.namespace import ArrayNamespace
>>> isinstance(numpy_ops, ArrayNamespace)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["ArrayNamespace"]


@runtime_checkable
class ArrayNamespace(Protocol):
    """The operations a backend must provide (a module or an object).

    ``Tensor`` below is whatever the backend computes with (a NumPy scalar or array,
    a traced node, a TensorFlow tensor); arguments documented as ``Tensor`` also
    accept Python and NumPy scalars.
    """

    def convert_to_tensor(self, x: Any, dtype: Any = None) -> Any:
        """``x`` as a tensor: a Python float becomes float32, a Python int int32,
        anything with a dtype keeps it; with ``dtype``, converted to it."""

    def array(self, x: Any, dtype: Any = None) -> Any:
        """Like :meth:`convert_to_tensor` (``keras.ops.array``)."""

    def cast(self, x: Any, dtype: Any) -> Any:
        """``x`` converted to ``dtype`` (round to nearest even; floats to integers
        truncate).  A Python float is converted to float32 *first*, as in TensorFlow."""

    def add(self, x1: Any, x2: Any) -> Any:
        """``x1 + x2``."""

    def subtract(self, x1: Any, x2: Any) -> Any:
        """``x1 - x2``."""

    def multiply(self, x1: Any, x2: Any) -> Any:
        """``x1 * x2``."""

    def divide(self, x1: Any, x2: Any) -> Any:
        """``x1 / x2`` (two integer tensors give float32)."""

    def negative(self, x: Any) -> Any:
        """``-x``."""

    def minimum(self, x1: Any, x2: Any) -> Any:
        """Elementwise minimum."""

    def maximum(self, x1: Any, x2: Any) -> Any:
        """Elementwise maximum."""

    def floor(self, x: Any) -> Any:
        """Round down (integers become float32)."""

    def ceil(self, x: Any) -> Any:
        """Round up (integers become float32)."""

    def power(self, x1: Any, x2: Any) -> Any:
        """``x1 ** x2`` with C's ``pow`` rules."""

    def cos(self, x: Any) -> Any:
        """Cosine."""

    def log(self, x: Any) -> Any:
        """Natural logarithm."""

    def exp(self, x: Any) -> Any:
        """Exponential."""

    def sqrt(self, x: Any) -> Any:
        """Square root."""

    def equal(self, x1: Any, x2: Any) -> Any:
        """Elementwise ``x1 == x2`` (booleans)."""

    def logical_and(self, x1: Any, x2: Any) -> Any:
        """Elementwise ``x1 and x2``."""

    def bitwise_xor(self, x1: Any, x2: Any) -> Any:
        """Elementwise ``x1 ^ x2`` of integers."""

    def right_shift(self, x: Any, y: Any) -> Any:
        """Elementwise ``x >> y`` of integers."""

    def where(self, condition: Any, x1: Any, x2: Any) -> Any:
        """``x1`` where ``condition`` holds, else ``x2``, elementwise."""

    def cond(self, pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
        """``true_fn()`` if the scalar ``pred`` holds, else ``false_fn()`` (a branch may
        return a tuple of tensors); compiled, both branches are built."""
