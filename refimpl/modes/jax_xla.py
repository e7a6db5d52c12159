"""JAX mode: what Keras 3 applies on its JAX backend (``KERAS_BACKEND=jax``).

Keras's JAX trainer compiles the train step with ``jax.jit`` by default: XLA:CPU, the
same compiler as TensorFlow's ``jit_compile=True`` (:mod:`refimpl.modes.xla`), a newer
build of it (jaxlib 0.10.2), fed the HLO that ``jax.numpy`` emits for the same
``keras.ops`` calls -- the same operations in the same order.  XLA's algebraic
simplifier, its ``log``/``exp`` kernels, glibc's ``cosf``/``powf``/``exp2f``, the
constant folding and LLVM's fused multiply-adds are the same (measured: every schedule
class, 0 differing steps outside the rules below).  What differs, found in the
HLO and LLVM IR that ``XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text`` dumps:

- **No split of the step's minimum.**  This XLA emits ``minimum`` as LLVM's
  ``llvm.minimum.f32`` intrinsic; TensorFlow 2.21's XLA emits a compare and a
  ``select``, which LLVM turns into an integer compare of the step and a folded
  constant arm (:func:`refimpl.modes.xla.split_minimum_of_the_step`).  On JAX every
  step runs the same code: ``PolynomialDecay(1.0, 3, 0.0)`` past step 3 applies
  ``fma(-3, fl(1/3), 1) = -2.98e-08`` (TensorFlow with XLA: 0.0), and with a power of
  4.35 the rate past the end is NaN (a negative base) where TensorFlow's is the end
  rate.
- **Fusions cut by the weight update** (:func:`fused_multiply_adds`).  The rate feeds
  ``w - g * lr`` over every element of every weight, a loop fusion that reuses the
  scalar.  XLA:CPU does not fuse an *expensive* producer (``power``, ``log``, ``exp``,
  ``divide``, ``sqrt``; ``cos`` is cheap) into a consumer that reuses its elements,
  nor duplicate one into several consumers (``CpuInstructionFusion::ShouldFuse``,
  ``IsExpensive`` in ``xla/service/cpu/cpu_instruction_fusion.cc``), so the schedule
  is compiled as several fusions -- several LLVM functions -- with the cheap operations
  duplicated into each.  LLVM contracts ``a * b + c`` into an FMA when the product has
  no other use *in the same function*: a product shared by two fusions is fused in
  both.  (``CosineDecayRestarts`` with ``t_mul=2``: ``f = s * fl(1/d)`` feeds the
  ``log`` fusion and the cosine's; TensorFlow's sparse Embedding update compiles one
  fusion, where the shared product is not fused.  TensorFlow with XLA cuts the same
  fusions when it updates dense weights.)  Which operations are expensive is decided
  on the HLO after XLA's rewrites: a division by a power is a product by the inverse
  power there (:func:`divide_by_a_power`), not a fusion of its own.
- **dtypes.**  JAX runs without 64-bit types (``jax_enable_x64`` is off): a
  ``np.float64`` rate, ``ops.cast(x, "float64")`` and int64 are float32 and int32; the
  optimizer's ``iterations`` is int32 (steps below ``2**31``).

>>> import numpy as np
>>> from refimpl.schedules import PolynomialDecay
>>> s = PolynomialDecay(1.0, 3, 0.0)
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")  # a ScheduleWarning: a different decision
...     rates = s([3, 4], mode="jax"), s([3, 4], mode="xla")
>>> rates
(array([-2.9802322e-08, -2.9802322e-08], dtype=float32), array([-2.9802322e-08,  0.0000000e+00], dtype=float32))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.modes import xla
from refimpl.modes.trace import TF_CPU, Node, Tracer, topological

__all__ = [
    "EXPENSIVE",
    "JaxTracer",
    "divide_by_a_power",
    "fused_multiply_adds",
    "fusions",
    "tracer",
]

#: Operations XLA:CPU counts as expensive on real floats (``IsExpensive``): never fused
#: into a consumer that reuses their elements, never duplicated.  ``exp2`` and ``abs
#: (sqrt)`` are LLVM's rewrites of an HLO ``power``.
EXPENSIVE = frozenset({"power", "exp2", "log", "exp", "divide", "sqrt", "rsqrt"})

#: The fusion of the weight update, which reads the rate once per weight element.
UPDATE = -1


_NARROW: dict[np.dtype, np.dtype] = {
    np.dtype(np.float64): np.dtype(np.float32),
    np.dtype(np.int64): np.dtype(np.int32),
    np.dtype(np.uint64): np.dtype(np.uint32),
}


def _narrow_dtype(dtype: npt.DTypeLike) -> np.dtype:
    """JAX's dtype without x64: float64 -> float32, int64 -> int32, uint64 -> uint32."""
    dt = np.dtype(dtype)
    return _NARROW.get(dt, dt)


def _narrow(dtype: npt.DTypeLike | None) -> np.dtype | None:
    """:func:`_narrow_dtype`, None kept."""
    return None if dtype is None else _narrow_dtype(dtype)


def _jax_dtype(value: Any, dtype: npt.DTypeLike | None) -> np.dtype | None:
    """The dtype ``jnp.asarray(value, dtype)`` gives without x64."""
    if dtype is not None:
        return _narrow(dtype)
    return _narrow(numpy_ops.convert_to_tensor(value).dtype)


class JaxTracer(Tracer):
    """A :class:`~refimpl.modes.trace.Tracer` with JAX's dtypes (no 64-bit types).

    Values a formula hands over and every cast are narrowed (:func:`_narrow`);
    constants the tracer folds keep their (already narrow) dtype.
    """

    def convert_to_tensor(self, x: Any, dtype: npt.DTypeLike | None = None) -> Node:
        if isinstance(x, Node):
            return super().convert_to_tensor(x, _narrow(dtype))
        return super().convert_to_tensor(x, _jax_dtype(x, dtype))

    def _operand(self, value: Any, like: Node | None) -> Node:
        if isinstance(value, Node) or (like is not None and type(value) in (int, float, bool)):
            return super()._operand(value, like)
        return self.constant(value, _jax_dtype(value, None))

    def cast(self, x: Any, dtype: npt.DTypeLike) -> Node:
        target = _narrow_dtype(numpy_ops.numpy_dtype(dtype))
        if isinstance(x, Node):
            return super().cast(x, target)
        converted = np.asarray(x, dtype=target)[()]  # jnp.asarray(x, dtype): one rounding
        return self.constant(converted, name=f"{self.unique_name('Cast')}/x")


def divide_by_a_power(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """XLA's ``HandleDivide`` rewrite ``A / pow(B, C) -> A * pow(B, -C)`` where the power
    of a constant ``2**k`` already went to LLVM's ``exp2`` (the tracer applies
    ``optimizePow`` as the power is emitted, before the division sees it): ``A /
    exp2(C) -> A * exp2(-C)``.

    The values are the same (both are ``A`` scaled by a power of two, one rounding),
    but the division was an expensive operation -- a fusion of its own -- and the
    product is cheap, fused into its consumer: that decides which products LLVM
    contracts (:func:`fused_multiply_adds`).  Found by training
    ``CosineDecayRestarts(0.05, 7)`` (``t_mul=2``, ``m_mul=1``) on Keras's JAX backend:
    ``(s * fl(1/d) - (1 - 2**i)) / 2**i`` is computed in the weight update's fusion,
    where the product ``s * fl(1/d)`` (shared with the ``log`` fusion) is contracted --
    7 of its first 30 steps differed by an ulp without this rule.
    """
    if op != "divide" or args[0].dtype.kind != "f" or args[1].op != "exp2":
        return None
    a, b = args
    flipped = tr.emit("exp2", (tr.emit("negative", b.inputs),))
    return tr.emit("multiply", (a, flipped), (), name)


def _users(root: Node) -> dict[int, list[Node]]:
    users: dict[int, list[Node]] = {}
    for node in topological(root):
        for i in dict.fromkeys(node.inputs):  # one user per consumer, as in HLO
            users.setdefault(id(i), []).append(node)
    return users


def fusions(root: Node) -> dict[int, frozenset[int]]:
    """The XLA:CPU loop fusions computing each node of ``root``'s graph (by ``id``),
    when ``root`` (the rate) feeds a weight update that reuses it (:data:`UPDATE`).

    A cheap operation is duplicated into every fusion that uses it; an expensive one
    (:data:`EXPENSIVE`) joins its consumer's fusion only if it is that consumer's
    only producer use, the consumer lies in one fusion and that fusion does not reuse
    elements (not the update); otherwise it is the root of a fusion of its own.
    """
    users = _users(root)
    out: dict[int, frozenset[int]] = {}
    for node in reversed(list(topological(root))):
        consumers = users.get(id(node), [])
        into = frozenset({UPDATE}) if node is root else frozenset()
        for consumer in consumers:
            into |= out[id(consumer)]
        if node.op in EXPENSIVE and node.dtype.kind == "f":
            single = len(consumers) == 1 and node is not root
            if not (single and len(into) == 1 and UPDATE not in into):
                into = frozenset({id(node)})
        out[id(node)] = into
    return out


def fused_multiply_adds(tr: Tracer, root: Node) -> Node:
    """LLVM's FMA contraction, one fusion at a time (:func:`fusions`): ``a * b + c``,
    ``c + a * b``, ``a * b - c``, ``c - a * b`` (and ``c -/+ (-(a * b))``, which
    InstCombine turns into ``c +/- a * b``) whose product has no other use in each
    fusion computing the sum become one ``fma``; the first operand when both qualify."""
    where = fusions(root)
    users = _users(root)
    originals: dict[int, Node] = {}

    def uses_within(product: Node, fusion_ids: frozenset[int]) -> bool:
        """Whether ``product`` has exactly one user in each of ``fusion_ids``."""
        return all(
            sum(1 for u in users.get(id(product), []) if f in where[id(u)]) == 1 for f in fusion_ids
        )

    def product_of(current: Node, original: Node, at: frozenset[int]) -> tuple[Node, bool] | None:
        """``(multiply, negated)`` if ``current`` is a contractible product (or its
        negation) in the fusions ``at``."""
        if current.op == "multiply" and uses_within(original, at):
            return current, False
        if (
            current.op == "negative"
            and current.inputs[0].op == "multiply"
            and uses_within(original, at)
            and uses_within(original.inputs[0], at)
        ):
            return current.inputs[0], True
        return None

    def rewrite(node: Node) -> Node:
        original = originals.get(id(node), node)
        if node.op not in ("add", "subtract") or node.dtype.kind != "f":
            return node
        at = where[id(original)]
        a, b = node.inputs
        oa, ob = original.inputs
        first = product_of(a, oa, at)
        if first is not None:
            product, negated = first
            x, y = product.inputs
            if negated:
                x = tr.emit("negative", (x,))
            c = b if node.op == "add" else tr.emit("negative", (b,))
            return Node("fma", (x, y, c), node.dtype, tr, name=node.name)
        second = product_of(b, ob, at)
        if second is not None:
            product, negated = second
            x, y = product.inputs
            if negated != (node.op == "subtract"):
                x = tr.emit("negative", (x,))
            return Node("fma", (x, y, a), node.dtype, tr, name=node.name)
        return node

    return xla._rebuild_tracking(root, rewrite, originals)


def tracer() -> Tracer:
    """A new tracer with JAX mode's rules, passes and kernels."""
    return JaxTracer(
        name="jax",
        rules=(
            xla.identities,
            divide_by_a_power,
            xla.divide_rewrites,
            xla.multiply_rewrites,
            xla.power_rewrites,
        ),
        passes=(xla.zero_products, fused_multiply_adds),
        fold=TF_CPU,
        runtime=xla.XLA_CPU,
        cond_barrier=False,
    )
