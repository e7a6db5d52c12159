"""Graph mode: what ``model.fit`` applies with Keras's default ``compile()`` on a CPU.

Keras 3 runs the train step as a TensorFlow graph (``jit_compile="auto"`` is off on a
machine without a GPU: ``Trainer._resolve_auto_jit_compile``).  Before it runs,
Grappler's meta optimizer rewrites that graph; the operations that remain run the same
CPU kernels as eager mode (on a scalar: glibc's float functions, results flushed to
zero).  The rewrites that change a schedule's arithmetic (measured on TensorFlow 2.21:
the optimized graph dumped with ``TF_DUMP_GRAPH_PREFIX``, and the rates read back from
real training steps):

- :func:`reciprocal_of_constant_divisor` -- ``x / C`` becomes ``x * fl(1 / C)``
  (``ConstantFolding::ReduceDivToReciprocalMul``); why a staircase switches one step
  late: ``fl(61 * fl(1 / 61)) == 0.99999994``.
- :func:`push_constants_down` -- ``C1 * (X * C2)`` becomes ``X * fl(C1 * C2)``, and
  ``C * (X * Y)`` becomes ``X * (C * Y)``, where the inner product has no other use
  (``ConstantFolding::ConstantPushDown``; ``X`` is the operand whose TensorFlow name
  sorts first, as ``CanonicalizeNode`` orders a commutative op's inputs by name).
- :func:`combine_additions` -- a tree of additions whose inner sums have no other use
  becomes one ``AddN`` of its leaves, ordered by name, summed left to right
  (``ArithmeticOptimizer``'s ``AddOpsRewriteStage``, then ``CanonicalizeNode``):
  ``alpha + (linear + noise)`` is computed as ``(alpha + noise) + linear``.
- :func:`identities` -- ``x + 0``, ``x - 0`` and ``x * 1`` become ``x``
  (``ConstantFolding::SimplifyArithmeticOperations``).
- :func:`power_of_constant_exponent` -- ``pow(x, C)`` for ``C`` in ``{2, 3, 1, 0.5, 0,
  -0.5, -1}`` becomes a square, ``x * x**2``, ``x``, ``sqrt(x)``, ``1``, ``1 /
  sqrt(x)``, ``1 / x`` (``ArithmeticOptimizer``'s ``ConvertPowStage``).
- Constant subexpressions are folded with the CPU kernels in the compute dtype; a
  ``cond`` whose predicate depends on the step is lowered to ``Switch``/``Merge``
  before Grappler runs, so constants from outside a branch are not constants inside
  it (no rewrite reaches across).

Sources: ``tensorflow/core/grappler/optimizers/constant_folding.cc``,
``arithmetic_optimizer.cc``, ``tensorflow/core/grappler/utils/canonicalizer.cc``
(TensorFlow 2.21).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from refimpl.modes.trace import (
    COMMUTATIVE,
    TF_CPU,
    Node,
    Tracer,
    consumers,
    rebuild,
    topological,
)

__all__ = [
    "combine_additions",
    "identities",
    "power_of_constant_exponent",
    "push_constants_down",
    "reciprocal_of_constant_divisor",
    "tracer",
]


def reciprocal_of_constant_divisor(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``x / C`` -> ``fl(1 / C) * x`` for a floating constant ``C``."""
    if op != "divide" or args[1].dtype.kind != "f" or not tr.is_constant(args[1]):
        return None
    recip = tr.emit("divide", (tr.constant(1, args[1].dtype), args[1]))
    return tr.emit("multiply", (recip, args[0]), (), name)


def identities(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x`` -> ``x`` (same dtype)."""
    neutral = {"add": 0, "subtract": 0, "multiply": 1}.get(op)
    if neutral is None:
        return None
    a, b = args
    if tr.is_constant(b) and b.value == neutral and a.dtype == b.dtype:
        return a
    if op != "subtract" and tr.is_constant(a) and a.value == neutral and a.dtype == b.dtype:
        return b
    return None


#: The exponents ConvertPowStage replaces, and by what.
_POWERS = (2.0, 3.0, 1.0, 0.5, 0.0, -0.5, -1.0)


def power_of_constant_exponent(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``pow(x, C)`` for the exponents of ``ConvertPowStage``."""
    if op != "power" or not tr.is_constant(args[1]) or args[0].dtype.kind != "f":
        return None
    x, exponent = args[0], float(args[1].value)
    if exponent not in _POWERS:
        return None
    if exponent == 2:
        return tr.emit("multiply", (x, x), (), name)
    if exponent == 3:  # Mul(x, Square(x)); the square is a new node, named as Grappler does
        square = tr.emit("multiply", (x, x), (), f"ArithmeticOptimizer/ConvertPow_{name}_square")
        return tr.emit("multiply", (x, square), (), name)
    if exponent == 1:
        return x
    if exponent == 0.5:
        return tr.emit("sqrt", (x,), (), name)
    if exponent == 0:
        return tr.constant(1, x.dtype)
    if exponent == -0.5:
        return tr.emit("rsqrt", (x,), (), name)
    return tr.emit("divide", (tr.constant(1, x.dtype), x), (), name)


def push_constants_down(tr: Tracer, root: Node) -> Node:
    """``C * (X * Y)`` -> ``X * (C * Y)`` (and likewise for ``+``) wherever the inner
    operation has no other use, repeated until nothing changes; ``C * Y`` folds when
    ``Y`` is a constant.  ``X`` is the inner operation's non-constant operand, the one
    whose name sorts first if both are."""
    while True:
        counts = consumers(root)
        target = next((n for n in topological(root) if _pushable(tr, n, counts)), None)
        if target is None:
            return root
        root = _replace(root, target, _push(tr, target))


def _replace(root: Node, old: Node, new: Node) -> Node:
    """The graph of ``root`` with the node ``old`` replaced by ``new``."""

    def swap(node: Node) -> Node:
        return new if node is old else node

    return rebuild(root, swap)


def _split(tr: Tracer, node: Node) -> tuple[Node, Node] | None:
    """``(constant, other)`` operands of ``node`` if exactly one is a constant."""
    a, b = node.inputs
    if tr.is_constant(a) and not tr.is_constant(b):
        return a, b
    if tr.is_constant(b) and not tr.is_constant(a):
        return b, a
    return None


def _pushable(tr: Tracer, node: Node, counts: dict[int, int]) -> bool:
    if node.op not in ("add", "multiply") or node.dtype.kind != "f":
        return False
    with tr.in_scope(node.scope):
        return _pushable_here(tr, node, counts)


def _pushable_here(tr: Tracer, node: Node, counts: dict[int, int]) -> bool:
    split = _split(tr, node)
    if split is None:
        return False
    child = split[1]
    if child.op != node.op or counts.get(id(child), 0) > 1:
        return False
    return not all(tr.is_constant(i) for i in child.inputs)


def _push(tr: Tracer, parent: Node) -> Node:
    with tr.in_scope(parent.scope):
        return _push_here(tr, parent)


def _push_here(tr: Tracer, parent: Node) -> Node:
    split = _split(tr, parent)
    assert split is not None  # checked by _pushable
    constant, child = split
    left, right = child.inputs
    if child.op in COMMUTATIVE:
        left, right = sorted(child.inputs, key=lambda n: n.name)
    x, y = (right, left) if tr.is_constant(left) else (left, right)
    inner = tr.emit(child.op, (constant, y), (), child.name)
    return tr.emit(parent.op, (x, inner), (), parent.name)


def combine_additions(tr: Tracer, root: Node) -> Node:
    """Every float sum of three or more terms, through additions that have no other
    use, -> ``add_n`` of the terms sorted by TensorFlow name."""
    counts = consumers(root)

    def absorbed(node: Node, dtype: object) -> bool:
        return node.op == "add" and node.dtype == dtype and counts.get(id(node), 0) == 1

    def leaves(node: Node) -> list[Node]:
        out: list[Node] = []
        for i in node.inputs:
            out.extend(leaves(i) if absorbed(i, node.dtype) else [i])
        return out

    def rewrite(node: Node) -> Node:
        if node.op != "add" or node.dtype.kind != "f":
            return node
        terms = leaves(node)
        if len(terms) < 3:
            return node
        ordered = tuple(sorted(terms, key=lambda n: n.name))
        return Node(
            "add_n", ordered, node.dtype, tr, name=f"ArithmeticOptimizer/AddOpsRewrite_{node.name}"
        )

    return _rebuild_with_original_inputs(root, rewrite)


def _rebuild_with_original_inputs(root: Node, rewrite: Callable[[Node], Node]) -> Node:
    """Apply ``rewrite`` to the original nodes, top-down: a rewritten node's inputs are
    not visited again, the rest are (with their original inputs)."""
    done: dict[int, Node] = {}

    def visit(node: Node) -> Node:
        if id(node) not in done:
            new = rewrite(node)
            inputs = tuple(visit(i) for i in new.inputs)
            if any(a is not b for a, b in zip(inputs, new.inputs, strict=True)):
                new = Node(new.op, inputs, new.dtype, new.tracer, new.attrs, new.value, new.name,
                           new.scope)  # fmt: skip
            done[id(node)] = new
        return done[id(node)]

    return visit(root)


def tracer() -> Tracer:
    """A new tracer with graph mode's rules and passes, and TensorFlow's CPU kernels."""
    return Tracer(
        name="graph",
        rules=(identities, reciprocal_of_constant_divisor, power_of_constant_exponent),
        passes=(push_constants_down, combine_additions),
        fold=TF_CPU,
        runtime=TF_CPU,
        cond_barrier=True,
    )
