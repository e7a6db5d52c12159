"""What differs between Keras 3's backends, for the schedules: one place for it.

``keras_adapter``'s schedules run refimpl's formula functions on ``keras.ops`` under
every Keras backend (``KERAS_BACKEND=tensorflow``, ``jax`` or ``torch``).  The formulas
need one thing a backend may lack: unsigned 32-bit integers, for the counter-based
noise of :class:`~keras_adapter.NoisyLinearCosineDecay`.  Keras's torch backend has no
``uint32`` (``keras.ops.cast(x, "uint32")`` gives an int64 tensor), so
:func:`formula_namespace` hands the formulas, on torch, ``keras.ops`` with 32-bit
wrap-around put back: a cast to ``"uint32"`` keeps the low 32 bits, and a product of
two int64 tensors (on the formula path: only the hash's) is reduced modulo ``2**32``.

Also here: :func:`require_tensorflow` (the clear error of a TensorFlow-only feature on
another backend) and :func:`torch_kernels` (PyTorch's own CPU functions as a
:class:`refimpl.modes.trace.Kernels` table, to run refimpl's ``mode="torch"`` graph
with the very ``cos``/``log``/``exp`` torch computes: Intel MKL's, which NumPy cannot
reproduce).

>>> import keras
>>> from keras_adapter.backends import backend_name
>>> backend_name() == keras.backend.backend()
True
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import keras

__all__ = ["BACKENDS", "backend_name", "formula_namespace", "require_tensorflow", "torch_kernels"]

#: The Keras backends keras_adapter runs on.
BACKENDS = ("tensorflow", "jax", "torch")

_UINT32_MASK = 0xFFFFFFFF


def backend_name() -> str:
    """The backend Keras runs on in this process (``keras.backend.backend()``)."""
    return str(keras.backend.backend())


def require_tensorflow(feature: str) -> None:
    """Raise ``RuntimeError`` naming ``feature`` unless Keras runs on TensorFlow.

    >>> require_tensorflow("compiled_rates") if backend_name() == "tensorflow" else None
    """
    backend = backend_name()
    if backend != "tensorflow":
        raise RuntimeError(
            f"{feature} needs Keras's TensorFlow backend (KERAS_BACKEND=tensorflow); this "
            f"process runs Keras on {backend!r}."
        )


class _TorchOps:
    """``keras.ops`` with uint32 arithmetic emulated in int64, for Keras's torch backend.

    Keras maps ``"uint32"`` to ``torch.int64`` there, so ``x * c`` of two "uint32"
    values does not wrap at ``2**32``.  A cast to ``"uint32"`` keeps the low 32 bits,
    and a product of two int64 tensors is reduced modulo ``2**32`` (its low 32 bits are
    exact even when the int64 product wraps).  Everything else is ``keras.ops``.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(keras.ops, name)

    def cast(self, x: Any, dtype: Any) -> Any:
        if keras.backend.standardize_dtype(dtype) == "uint32":
            return keras.ops.bitwise_and(keras.ops.cast(x, "int64"), _UINT32_MASK)
        return keras.ops.cast(x, dtype)

    def multiply(self, x1: Any, x2: Any) -> Any:
        product = keras.ops.multiply(x1, x2)
        if all(
            keras.backend.standardize_dtype(getattr(x, "dtype", None)) == "int64" for x in (x1, x2)
        ):
            return keras.ops.bitwise_and(product, _UINT32_MASK)
        return product


_TORCH_OPS = _TorchOps()


def formula_namespace() -> ModuleType | Any:
    """The array namespace refimpl's formulas run on in this Keras process:
    ``keras.ops``, or on the torch backend ``keras.ops`` with uint32 wrap-around."""
    return _TORCH_OPS if backend_name() == "torch" else keras.ops


def torch_kernels() -> Any:
    """PyTorch's CPU functions as a :class:`refimpl.modes.trace.Kernels` table.

    ``cos``, ``log``, ``exp`` and ``sqrt`` run ``torch.cos``/``log``/``exp``/``sqrt``
    (Intel MKL's VML on a CPU build: the same results for a 0-d tensor, as in the train
    step, and for a vector, measured); the rest is refimpl's torch mode (IEEE arithmetic,
    glibc's ``powf`` -- what ``torch.pow`` runs on 0-d tensors, whereas on vectors it
    runs SLEEF -- and subnormals kept).  With it, refimpl's ``mode="torch"`` graph
    computes what Keras's torch backend applies::

        from refimpl.modes.trace import run
        run(schedule.trace("torch"), steps, kernels=torch_kernels())

    Needs ``torch`` installed (under any Keras backend).
    """
    import numpy as np
    import torch

    from refimpl.modes.torch_eager import TORCH_CPU
    from refimpl.modes.trace import Kernels

    def on_torch(function: Any) -> Any:
        def kernel(x: Any) -> Any:
            return function(torch.from_numpy(np.array(x, copy=True))).numpy()[()]

        return kernel

    table = dict(TORCH_CPU.table)
    table.update(
        cos=on_torch(torch.cos), log=on_torch(torch.log), exp=on_torch(torch.exp),
        sqrt=on_torch(torch.sqrt),
    )  # fmt: skip
    return Kernels("torch-cpu (torch)", table, flush_subnormals=False)
