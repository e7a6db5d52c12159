"""Torch mode: what Keras 3 applies on its PyTorch backend (``KERAS_BACKEND=torch``).

Keras's torch trainer runs the train step eagerly by default (``jit_compile="auto"``
resolves to ``False`` there): every ``keras.ops`` call of a schedule is one ATen CPU
kernel on a 0-d tensor, in the order the formula calls them -- no graph, no rewrite,
no fused multiply-add.  What differs from TensorFlow's eager arithmetic
(:mod:`refimpl.numpy_ops`), measured with torch 2.13.0 (CPU build) and Keras 3.15.1:

- **No flush to zero.**  PyTorch leaves the CPU's denormal control alone
  (``torch.set_flush_denormal(False)``): subnormal inputs and results are kept, where
  TensorFlow's threads flush them (``ExponentialDecay(1.0, 1, 0.01)`` at step 19:
  ``1e-38`` on torch, ``0.0`` on TensorFlow).
- **dtypes.**  Keras's torch ``convert_to_tensor`` gives any Python float -- and a
  ``np.float64``, which *is* a Python float subclass -- the dtype ``floatx()``
  (float32), so a schedule whose ``initial_learning_rate`` is a ``np.float64``
  computes in float32, not float64 as on TensorFlow; ``ops.cast(0.1, "float64")``
  converts the double 0.1 directly (TensorFlow goes through float32 first).
- **Kernels.**  ``torch.pow`` of two 0-d float32 tensors is glibc's ``powf`` (0
  differences in 9,000 random pairs, with integer and fractional exponents; on vectors
  it runs SLEEF instead).  ``torch.cos``, ``torch.log``, ``torch.exp`` and ``torch.sqrt``
  of a float32 tensor -- a 0-d one too -- are Intel MKL's VML (``vmsCos``, ``vmsLn``,
  ``vmsExp``, ``vmsSqrt``, linked into ``libtorch_cpu.so``; ``at::vml`` calls them when
  PyTorch is built with MKL): ``torch.cos`` matched ``vmsCos`` called through ``ctypes``
  on 8,000 of 8,000 inputs, against 7,629 for glibc's ``cosf`` and 7,840 for SLEEF's
  ``Sleef_cosf16_u10``.  MKL is closed source and not correctly rounded (on random
  float32 inputs 3% of ``cos``, 4% of ``log``, 0.7% of ``exp`` and 17% of ``sqrt``
  results differ from the correctly rounded ones), so this module runs glibc's
  ``cosf``/``logf``/``expf`` and IEEE ``sqrt`` in their place: a rate that goes
  through one of them may differ from torch's by a few ulp at some steps (and a
  ``floor`` of one, such as the restart index of ``CosineDecayRestarts``, could move
  a decision).  To reproduce torch exactly where torch is installed, run the traced
  graph with torch's own kernels:
  ``run(schedule.trace("torch"), steps, kernels=keras_adapter.backends.torch_kernels())``
  (0 differing steps in the parity tests).

Everything else is IEEE float32 arithmetic, one rounding per operation, as
:mod:`refimpl.numpy_ops` computes it.  The optimizer applies the rate as
``torch._foreach_add_(weights, grads, alpha=-lr)``: the float32 rate itself.

>>> import numpy as np
>>> from refimpl.schedules import ExponentialDecay
>>> s = ExponentialDecay(1.0, 1, 0.01)
>>> float(s(19, mode="torch")), float(s(19))   # kept on torch, flushed on TensorFlow
(9.999995146561011e-39, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.kernels import glibc
from refimpl.modes.trace import Kernels, Node, Tracer

__all__ = ["TORCH_CPU", "TorchTracer", "tracer"]


def _float_kernel(float32: Any, float64: Any) -> Any:
    """A float function in the dtype of its inputs (float32 or float64), unflushed."""

    def kernel(*args: Any) -> Any:
        arrays = [np.asarray(a) for a in args]
        if np.result_type(*arrays) == np.float64:
            return float64(*(a.astype(np.float64) for a in arrays))[()]
        return np.asarray(float32(*(a.astype(np.float32) for a in arrays)))[()]

    return kernel


def _pow64(base: Any, exponent: Any) -> Any:
    """C's ``pow`` elementwise in float64 (NumPy's scalar shortcuts avoided)."""
    shape = np.broadcast_shapes(np.shape(base), np.shape(exponent))
    b = np.broadcast_to(np.asarray(base, np.float64), shape).reshape(-1)
    e = np.array(np.broadcast_to(np.asarray(exponent, np.float64), shape)).reshape(-1)
    return np.power(b, e).reshape(shape)


def _cast(x: Any, dtype: np.dtype) -> Any:
    """``Tensor.to(dtype)``: round to nearest even, subnormals kept."""
    return np.asarray(x).astype(dtype)[()]


#: PyTorch's CPU kernels on 0-d tensors, as far as NumPy reproduces them (see the
#: module docstring: ``cos``/``log``/``exp`` stand in for MKL's).
TORCH_CPU = Kernels(
    "torch-cpu",
    {
        "cos": _float_kernel(glibc.cosf, np.cos),
        "log": _float_kernel(glibc.logf, np.log),
        "exp": _float_kernel(glibc.expf, np.exp),
        "power": _float_kernel(glibc.powf, _pow64),
        "cast": _cast,
    },
    flush_subnormals=False,
)


def _torch_dtype(value: Any, dtype: npt.DTypeLike | None) -> np.dtype | None:
    """The dtype Keras's torch ``convert_to_tensor`` gives ``value``: ``floatx()``
    (float32) for a Python float or ``np.float64`` scalar, else ``dtype`` unchanged
    (None: the value's own)."""
    if dtype is None and isinstance(value, float):
        return np.dtype(np.float32)
    return None if dtype is None else np.dtype(dtype)


class TorchTracer(Tracer):
    """A :class:`~refimpl.modes.trace.Tracer` with Keras's torch conversion rules.

    Values a formula hands over (``convert_to_tensor``, a Python number meeting a
    tensor) follow Keras's torch ``convert_to_tensor`` (:func:`_torch_dtype`); ``cast``
    of a Python number converts it directly (``torch.as_tensor(x, dtype)``), without
    TensorFlow's detour through float32 or its flush to zero.  Constants the tracer
    folds keep their dtype.
    """

    def convert_to_tensor(self, x: Any, dtype: npt.DTypeLike | None = None) -> Node:
        if isinstance(x, Node):
            return super().convert_to_tensor(x, dtype)
        return super().convert_to_tensor(x, _torch_dtype(x, dtype))

    def _operand(self, value: Any, like: Node | None) -> Node:
        if isinstance(value, Node) or (like is not None and type(value) in (int, float, bool)):
            return super()._operand(value, like)
        return self.constant(value, _torch_dtype(value, None))

    def cast(self, x: Any, dtype: npt.DTypeLike) -> Node:
        if isinstance(x, Node):
            return super().cast(x, dtype)
        target = numpy_ops.numpy_dtype(dtype)
        return self.constant(_cast(x, target), name=f"{self.unique_name('Cast')}/x")


def tracer() -> Tracer:
    """A new tracer with torch mode's conversion rules and kernels (no rewrite, no pass)."""
    return TorchTracer(name="torch", fold=TORCH_CPU, runtime=TORCH_CPU)
