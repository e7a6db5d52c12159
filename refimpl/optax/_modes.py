"""How JAX runs an Optax schedule: ``"jit"`` (compiled whole by XLA) and ``"eager"``.

- ``"jit"`` (the default): the schedule inside ``jax.jit`` -- an optimizer's update
  step, or ``jax.jit(schedule)``.  JAX emits the HLO of the schedule's ``jax.numpy``
  operations; XLA:CPU's algebraic simplifier and LLVM rewrite it exactly as they
  rewrite TensorFlow's HLO with ``jit_compile=True`` (same XLA, same rules: ``x / C``
  -> ``x * fl(1 / C)``, constant factors multiplied first, single-use products fused
  into FMAs, ``minimum(float(n), C)`` split with its constant arm folded by LLVM), so
  the tracer is :func:`refimpl.modes.xla.tracer`'s.  Measured with jax/jaxlib 0.10.2:
  no JAX-specific rule was needed (the parity tests in ``tests/test_optax_parity.py``
  pin every schedule at 0 ulp).
- ``"eager"``: the schedule called on a count outside ``jit``.  JAX dispatches every
  ``jax.numpy`` operation alone, each compiled by XLA with its operands as parameters:
  XLA's kernels (its own float32 ``log``/``exp``, glibc's ``cosf``/``powf``), IEEE
  arithmetic, and no rewrite that spans operations (no reciprocal of a divisor, no
  FMA).  The tracer has no rules and no passes; its kernels are XLA:CPU's.

>>> tracer("eager").rules, tracer("eager").passes
((), ())
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl import numpy_ops
from refimpl.modes import xla
from refimpl.modes.trace import Kernels, Node, Tracer
from refimpl.optax._ops import Lane

__all__ = ["JIT_RULES", "MODES", "JitTracer", "check_mode", "cube", "lanes_apart", "tracer"]

#: The ways JAX runs a schedule.
MODES = ("jit", "eager")


def check_mode(mode: Any) -> str:
    """``mode`` if it is one of :data:`MODES`, else a ValueError naming it.

    >>> check_mode("xla")
    Traceback (most recent call last):
    ValueError: Argument `mode` must be 'jit' or 'eager' (how JAX runs the schedule). Received: mode='xla'
    """
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(
            "Argument `mode` must be 'jit' or 'eager' (how JAX runs the schedule). "
            f"Received: mode={mode!r}"
        )
    return mode


# --- rules XLA applies that refimpl.modes.xla does not have ---------------------------------


def cube(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``HandlePower``: ``pow(A, 3)`` -> ``A * (A * A)`` for a constant exponent 3.

    Measured in jaxlib 0.10.2's optimized HLO (``jnp.power(x, 3.0)`` compiles to
    ``multiply(x, multiply(x, x))``); TensorFlow's XLA does the same (``tf_modes.md``
    X4), but :func:`refimpl.modes.xla.power_rewrites` stops at 2.  Found by the
    parity test of ``polynomial_schedule(power=3.0)``: up to 2 ulp from glibc's
    ``powf`` without it.
    """
    if op != "power" or args[0].dtype.kind != "f":
        return None
    base, exponent = args
    if tr.is_constant(exponent) and float(exponent.value) == 3:
        return tr.emit("multiply", (base, tr.emit("multiply", (base, base))), (), name)
    return None


def _is_lane(node: Node) -> bool:
    return node.op == "const" and node.name.startswith(_LANE)


_LANE = "lane:"


def lanes_apart(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``HandleMultiply`` reassociates ``(A * C1) * C2`` (and ``(A * C1) * (B * C2)``)
    only when ``C1`` and ``C2`` are two constant vectors or two broadcast scalars: a
    :class:`~refimpl.optax._ops.Lane` (an element of a constant vector) and a scalar
    constant are left as they are (measured: ``piecewise_interpolate_schedule`` with
    equal interval sizes keeps ``diff * (x * fl(1/size))``, with unequal sizes
    ``(x * fl(1/size)) * pi``).  Runs before :func:`refimpl.modes.xla.multiply_rewrites`,
    which would reassociate them."""
    if op != "multiply" or args[0].dtype.kind != "f":
        return None
    a, b = args
    if tr.is_constant(a) and not tr.is_constant(b):
        a, b = b, a
    if tr.is_constant(b) and a.op == "multiply" and tr.is_constant(a.inputs[1]):
        mixed = _is_lane(a.inputs[1]) != _is_lane(b)
    elif a.op == b.op == "multiply" and tr.is_constant(a.inputs[1]) and tr.is_constant(b.inputs[1]):
        mixed = _is_lane(a.inputs[1]) != _is_lane(b.inputs[1])
    else:
        return None
    if not mixed:
        return None
    return Node("multiply", (a, b), a.dtype, tr, name=name, scope=a.scope)


class JitTracer(Tracer):
    """XLA's tracer, knowing which constants are elements of a constant vector: a
    :class:`~refimpl.optax._ops.Lane` becomes a constant named ``lane:...``, and a
    constant folded from one is one too."""

    def constant(self, value: Any, dtype: Any = None, *, name: str = "Const") -> Node:
        node = super().constant(value, dtype, name=name)
        if isinstance(value, Lane) and node.op == "const":
            return _renamed(node, _LANE + node.name)
        return node

    def emit(self, op: str, inputs: Any, attrs: tuple[Any, ...] = (), name: str = "") -> Node:
        node = super().emit(op, inputs, attrs, name)
        if node.op == "const" and any(_is_lane(i) for i in inputs):
            return _renamed(node, _LANE + node.name)
        return node


def _renamed(node: Node, name: str) -> Node:
    return Node(node.op, node.inputs, node.dtype, node.tracer, node.attrs, node.value, name,
                node.scope)  # fmt: skip


#: The rules JAX's XLA applies beyond (or before) :func:`refimpl.modes.xla.tracer`'s:
#: prepended (``lanes_apart``) and appended (``cube``).
JIT_RULES = (lanes_apart, cube)


# --- kernels ----------------------------------------------------------------------------------

#: The float32 functions of TensorFlow's CPU kernels (glibc's ``cosf``, ``powf``, ...).
_F32: dict[str, Callable[..., Any]] = {
    "cos": numpy_ops.cos,
    "power": numpy_ops.power,
    "log": numpy_ops.log,
    "exp": numpy_ops.exp,
    "exp2": xla.XLA_CPU.table["exp2"],
}


def _libm(
    function: Callable[..., float], fallback: Callable[..., Any], nin: int = 1
) -> Callable[..., Any]:
    """``function`` (Python's ``math`` function: the C library's, glibc here) elementwise
    on float64 arrays; where Python raises (a domain error, an overflow: C returns NaN or
    inf there), NumPy's value, which follows C99 for those special cases."""

    def scalar(*args: float) -> float:
        try:
            return function(*args)
        except (ValueError, OverflowError):
            with np.errstate(all="ignore"):
                return float(fallback(*args))

    ufunc = np.frompyfunc(scalar, nin, 1)

    def kernel(*args: Any) -> Any:
        arrays = [np.asarray(a, np.float64) for a in args]
        return np.asarray(ufunc(*arrays), np.float64)[()]

    return kernel


def _by_dtype(float32: Callable[..., Any], float64: Callable[..., Any]) -> Callable[..., Any]:
    def kernel(*args: Any) -> Any:
        wide = np.result_type(*(np.asarray(a) for a in args)) == np.float64
        return float64(*args) if wide else float32(*args)

    return kernel


#: float64 ``cos``, ``pow``, ``log``, ``exp``, ``exp2``: glibc's (XLA:CPU calls the C
#: library for float64), through Python's ``math`` module.  NumPy's own float64
#: ``power``, ``log``, ``exp`` and ``exp2`` differ from glibc's in the last bit for some
#: inputs on this machine (measured: 10,500 of 200,000 ``power`` pairs; NumPy uses SIMD
#: code of its own on AVX-512), which the x64 parity tests showed.
_LIBM64 = {
    "cos": _libm(math.cos, np.cos),
    "power": _libm(math.pow, np.power, nin=2),
    "log": _libm(math.log, np.log),
    "exp": _libm(math.exp, np.exp),
    "exp2": _libm(getattr(math, "exp2", np.exp2), np.exp2),  # math.exp2: Python >= 3.11
}

#: XLA:CPU's arithmetic as JAX runs it: :data:`refimpl.modes.xla.XLA_CPU` (XLA's float32
#: ``log``/``exp``, glibc's ``cosf``/``powf``/``exp2f``), with glibc's float64 functions.
JAX_XLA_CPU = Kernels(
    "jax-xla-cpu",
    {
        **xla.XLA_CPU.table,
        **{
            op: _by_dtype(xla.XLA_CPU.table.get(op) or _F32[op], f64) for op, f64 in _LIBM64.items()
        },
    },
)

#: XLA's constant folding (the ``HloEvaluator``: C++ ``std::`` functions, glibc's): as
#: refimpl's TensorFlow folding in float32, glibc's float64 functions.
JAX_XLA_FOLD = Kernels(
    "jax-xla-fold", {op: _by_dtype(_F32[op], f64) for op, f64 in _LIBM64.items()}
)


def tracer(mode: str) -> Tracer:
    """A new tracer for ``mode``: XLA's rules (with :data:`JIT_RULES`), passes and kernels
    for ``"jit"``; XLA's kernels alone for ``"eager"``."""
    if check_mode(mode) == "jit":
        base = xla.tracer()
        return JitTracer(
            name="jax-jit",
            rules=(lanes_apart, *base.rules, cube),
            passes=base.passes,
            fold=JAX_XLA_FOLD,
            runtime=JAX_XLA_CPU,
            cond_barrier=base.cond_barrier,
        )
    return Tracer(name="jax-eager", fold=JAX_XLA_CPU, runtime=JAX_XLA_CPU)
