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

In the compiled modes the result is what the optimizer applies: the rate cast to the
variables' dtype (float32), at the int64 step the optimizer counts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COMPILED_MODES", "MODES", "check_mode", "tracer"]

#: Every mode a schedule can be evaluated in.
MODES = ("eager", "graph", "xla", "jax", "torch")
#: The modes in which Keras compiles the train step (TensorFlow backend).
COMPILED_MODES = ("graph", "xla")


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
