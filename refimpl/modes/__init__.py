"""Execution modes: the arithmetic each way of running Keras applies to a schedule.

- ``"eager"``: the schedule called by hand, ``schedule(step)``, or Keras with
  ``run_eagerly=True``: each operation runs alone on TensorFlow's CPU kernels
  (:mod:`refimpl.numpy_ops`).
- ``"graph"``: ``model.fit`` with Keras's default ``compile()`` on a CPU (also a
  ``tf.function``): TensorFlow's graph, rewritten by Grappler
  (:mod:`refimpl.modes.grappler`).
- ``"xla"``: ``compile(jit_compile=True)``, Keras's default on a GPU: XLA's algebraic
  simplifier, then LLVM, with XLA's own float32 ``log``/``exp``
  (:mod:`refimpl.modes.xla`).

Keras 3 on its other backends:

- ``"jax"``: ``KERAS_BACKEND=jax``, whose train step ``jax.jit`` compiles: XLA mode
  with a newer XLA's code generation and the fusions a dense weight update cuts, without
  64-bit types (:mod:`refimpl.modes.jax_xla`).
- ``"torch"``: ``KERAS_BACKEND=torch``, whose train step runs eagerly by default: each
  operation one PyTorch CPU kernel, no rewrite, subnormals kept, Keras's torch dtype
  rules (:mod:`refimpl.modes.torch_eager`).

In every mode but ``"eager"`` the result is what the optimizer applies: the rate cast
to the variables' dtype (float32), at the integer step the optimizer counts -- int64 on
TensorFlow, int32 on JAX and torch (Keras's ``dtype="int"``), so ``"jax"`` and
``"torch"`` take steps below ``2**31`` only (:func:`check_steps`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["COMPILED_MODES", "MODES", "STEP_COUNTERS", "check_mode", "check_steps", "tracer"]

#: Every mode a schedule can be evaluated in.
MODES = ("eager", "graph", "xla", "jax", "torch")
#: The modes in which Keras compiles the train step (TensorFlow backend).
COMPILED_MODES = ("graph", "xla")
#: The dtype of the optimizer's ``iterations`` in each traced mode: Keras 3 creates it
#: with ``dtype="int"``, int64 on TensorFlow and int32 on the other backends.
STEP_COUNTERS: dict[str, type[np.signedinteger[Any]]] = {
    "graph": np.int64,
    "xla": np.int64,
    "jax": np.int32,
    "torch": np.int32,
}


def check_mode(mode: Any) -> str:
    """``mode`` if it is one of :data:`MODES`, else a ValueError naming it.

    >>> check_mode("jit")
    Traceback (most recent call last):
    ValueError: Argument `mode` must be one of 'eager', 'graph', 'xla', 'jax', 'torch'. Received: mode='jit'
    """
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(
            f"Argument `mode` must be one of {', '.join(map(repr, MODES))}. Received: mode={mode!r}"
        )
    return mode


def check_steps(steps: np.ndarray, mode: str, given: Any) -> np.ndarray:
    """``steps`` (integers) if the optimizer's counter in ``mode`` (:data:`STEP_COUNTERS`)
    holds them all, else a ValueError naming the argument ``given``.

    >>> check_steps(np.array([0, 2**31]), "jax", 2**31)
    Traceback (most recent call last):
    ValueError: In mode='jax' the step is Keras's int32 optimizer counter, which holds steps up to 2**31 - 1 (training wraps to negative steps past it). Received: step=2147483648
    """
    counter = np.iinfo(STEP_COUNTERS[check_mode(mode)])
    if steps.size and (steps.min() < counter.min or steps.max() > counter.max):
        bits = counter.bits
        raise ValueError(
            f"In mode={mode!r} the step is Keras's {counter.dtype} optimizer counter, which "
            f"holds steps up to 2**{bits - 1} - 1 (training wraps to negative steps past "
            f"it). Received: step={given!r}"
        )
    return steps


def tracer(mode: str) -> Any:
    """A new :class:`~refimpl.modes.trace.Tracer` for ``mode`` (any but ``"eager"``)."""
    if check_mode(mode) == "graph":
        from refimpl.modes.grappler import tracer as graph_tracer

        return graph_tracer()
    if mode == "xla":
        from refimpl.modes.xla import tracer as xla_tracer

        return xla_tracer()
    if mode == "jax":  # Keras 3's JAX backend
        from refimpl.modes.jax_xla import tracer as jax_tracer

        return jax_tracer()
    if mode == "torch":  # Keras 3's PyTorch backend (a tracer without rewrites)
        from refimpl.modes.torch_eager import tracer as torch_tracer

        return torch_tracer()
    raise ValueError("Eager mode is not traced: call the formula on refimpl.numpy_ops.")
