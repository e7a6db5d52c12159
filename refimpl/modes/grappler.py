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
  sorts first, as ``CanonicalizeNode`` orders a commutative op's inputs by name); the
  same for sums, and with subtractions and divisions the tree turns: ``(C1 - X) + C2``
  becomes ``fl(C1 + C2) - X`` (measured: ``PolynomialDecay(1.0, 1, 1e-20, power=1.0)``
  is 0, not 1e-20, at its end inside ``model.fit``).
- :func:`combine_additions` -- a tree of additions whose inner sums have no other use
  becomes one ``AddN`` of its leaves, ordered by name, summed left to right
  (``ArithmeticOptimizer``'s ``AddOpsRewriteStage``, then ``CanonicalizeNode``):
  ``alpha + (linear + noise)`` is computed as ``(alpha + noise) + linear``.
- :func:`identities` -- ``x + 0``, ``x - 0`` and ``x * 1`` become ``Identity(x)``
  (``ConstantFolding::SimplifyArithmeticOperations``), removed by
  :func:`drop_identities` (``DependencyOptimizer``) at the end of the first round.
- :func:`power_of_constant_exponent` -- ``pow(x, C)`` for ``C`` in ``{2, 3, 1, 0.5, 0,
  -0.5, -1}`` becomes a square, ``x * x**2``, ``x``, ``sqrt(x)``, ``1``, ``1 /
  sqrt(x)``, ``1 / x`` (``ArithmeticOptimizer``'s ``ConvertPowStage``, run by
  :func:`convert_powers` after the first round of constant folding).

The meta optimizer runs its optimizers twice, in order (constant folding, arithmetic,
dependency): a rewrite that becomes possible only once an ``Identity`` is gone or a
power converted happens in the second round -- unless the first round's arithmetic
optimizer already made the sum an ``AddN``.  So ``(1 - s) + C`` behind ``x * 1``
becomes ``fl(1 + C) - s`` (PolynomialDecay's end, measured 0 where the formula gives
``end_learning_rate``), while ``alpha + ((1 - s) * 1 + noise)`` is one ``AddN``
(NoisyLinearCosineDecay, measured).
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
    TF_CPU,
    Node,
    Tracer,
    consumers,
    rebuild,
    topological,
)

__all__ = [
    "combine_additions",
    "convert_powers",
    "drop_identities",
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
    """``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x`` -> ``Identity(x)`` (same
    dtype): an ``Identity`` node until :func:`drop_identities` (the dependency
    optimizer) removes it, so the first round of constant folding does not see
    through it."""
    neutral = {"add": 0, "subtract": 0, "multiply": 1}.get(op)
    if neutral is None:
        return None
    a, b = args
    if tr.is_constant(b) and b.value == neutral and a.dtype == b.dtype:
        return tr.emit("identity", (a,), (), name)
    if op != "subtract" and tr.is_constant(a) and a.value == neutral and a.dtype == b.dtype:
        return tr.emit("identity", (b,), (), name)
    return None


def drop_identities(tr: Tracer, root: Node) -> Node:
    """``DependencyOptimizer``: ``Identity`` nodes removed (end of the first round)."""

    def skip(node: Node) -> Node:
        return node.inputs[0] if node.op == "identity" else node

    return rebuild(root, skip)


def convert_powers(tr: Tracer, root: Node) -> Node:
    """``ArithmeticOptimizer``'s ``ConvertPowStage`` (:func:`power_of_constant_exponent`)
    on the graph after the first round of constant folding."""

    done: dict[int, Node] = {}
    for node in topological(root):
        inputs = tuple(done[id(i)] for i in node.inputs)
        with tr.in_scope(node.scope):
            current = node
            if any(a is not b for a, b in zip(inputs, node.inputs, strict=True)):
                # Recorded again: what became constant folds (the next round's folding).
                current = tr.emit(node.op, inputs, node.attrs, node.name)
            if current.op == "power":
                args = current.inputs
                new = power_of_constant_exponent(tr, "power", args, current.attrs, current.name)
                current = current if new is None else new
        done[id(node)] = current
    return done[id(root)]


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
        return tr.emit("identity", (x,), (), name)
    if exponent == 0.5:
        return tr.emit("sqrt", (x,), (), name)
    if exponent == 0:
        return tr.constant(1, x.dtype)
    if exponent == -0.5:
        return tr.emit("rsqrt", (x,), (), name)
    return tr.emit("divide", (tr.constant(1, x.dtype), x), (), name)


def push_constants_down(tr: Tracer, root: Node) -> Node:
    """``ConstantPushDown``: a constant operand of ``+``/``-`` (``*``) whose other
    operand is a ``+``/``-`` (``*``) of a non-constant ``X`` and any ``Y``, with no
    other use, moves down next to ``Y``, so that ``C op Y`` folds when ``Y`` is a
    constant: ``C * (X * Y)`` -> ``X * (C * Y)``; with a subtraction or division the
    tree turns by the signs of ``C``, ``X`` and ``Y`` (:func:`_rotated`), e.g. ``(C1 -
    X) + C2`` -> ``fl(C1 + C2) - X``.  Repeated until nothing changes; ``X`` is the
    inner operation's non-constant operand (its left one, after names ordered a
    commutative op's operands, if both are)."""
    while True:
        counts = consumers(root)
        target = next((n for n in topological(root) if _pushable(tr, n, counts)), None)
        if target is None:
            return root
        root = _replace(root, target, _push(tr, target))


#: The operations ConstantPushDown reassociates, by family, the symmetric one first:
#: ``Add``/``AddV2`` with ``Sub``, ``Mul`` with ``Div`` -- integer division only
#: (``IsDiv`` is ``op == "Div"``): Keras's float ``divide`` is ``RealDiv``, which it
#: leaves alone.
_FAMILIES: tuple[tuple[str, ...], ...] = (("add", "subtract"), ("multiply",))


def _family(op: str) -> tuple[str, ...] | None:
    return next((f for f in _FAMILIES if op in f), None)


def _replace(root: Node, old: Node, new: Node) -> Node:
    """The graph of ``root`` with the node ``old`` replaced by ``new``."""

    def swap(node: Node) -> Node:
        return new if node is old else node

    return rebuild(root, swap)


def _pushable(tr: Tracer, node: Node, counts: dict[int, int]) -> bool:
    if _family(node.op) is None or node.dtype.kind != "f":
        return False
    with tr.in_scope(node.scope):
        return _pushable_here(tr, node, counts)


def _pushable_here(tr: Tracer, node: Node, counts: dict[int, int]) -> bool:
    """``PrepareConstantPushDown``'s conditions: one constant operand, the other an
    operation of the same family with two inputs, one use, and not both constant."""
    a, b = node.inputs
    if tr.is_constant(a) == tr.is_constant(b):
        return False
    child = b if tr.is_constant(a) else a
    if _family(child.op) != _family(node.op) or counts.get(id(child), 0) > 1:
        return False
    return not all(tr.is_constant(i) for i in child.inputs)


def _push(tr: Tracer, parent: Node) -> Node:
    with tr.in_scope(parent.scope):
        return _rotated(tr, parent)


def _rotated(tr: Tracer, parent: Node) -> Node:
    """The parent and its child rewritten as ``ConstantPushDown`` does.  Symmetric ops:
    ``X op (C op Y)``.  Otherwise each of ``C``, ``X``, ``Y`` gets its sign in the
    original expression (a right operand of ``-``/``/`` is negated, twice is not), and
    the trees are ``X ∘ (C ∘ Y)`` with ``∘`` the symmetric or the inverse op as the
    signs require: ``C - (X + Y)`` -> ``(C - Y) - X``, ``(C1 - X) + C2`` -> ``(C1 + C2)
    - X``."""
    family = _family(parent.op)
    assert family is not None  # checked by _pushable
    symmetric, inverse = family[0], family[-1]
    a, b = parent.inputs
    c_left = tr.is_constant(a)
    c, child = (a, b) if c_left else (b, a)
    left, right = child.inputs
    if child.op == symmetric:
        left, right = sorted(child.inputs, key=lambda n: n.name)
    leaf_left_constant = tr.is_constant(left)
    x, y = (right, left) if leaf_left_constant else (left, right)
    if parent.op == symmetric and child.op == symmetric:
        inner = tr.emit(symmetric, (c, y), (), child.name)
        return tr.emit(symmetric, (x, inner), (), parent.name)
    parent_symmetric, child_symmetric = parent.op == symmetric, child.op == symmetric

    def negated(is_right_leaf: bool) -> bool:
        return (not child_symmetric and is_right_leaf) != (not parent_symmetric and c_left)

    neg_c = not parent_symmetric and not c_left
    neg_x = negated(leaf_left_constant)  # X is the right leaf when the left is constant
    neg_y = negated(not leaf_left_constant)
    inner_op = inverse if neg_c != neg_y else symmetric
    inner = tr.emit(inner_op, (y, c) if neg_c else (c, y), (), child.name)
    outer_op = inverse if (neg_x or (neg_c and neg_y)) else symmetric
    return tr.emit(outer_op, (inner, x) if neg_x else (x, inner), (), parent.name)


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
        rules=(identities, reciprocal_of_constant_divisor),
        passes=(
            push_constants_down,
            combine_additions,
            convert_powers,
            drop_identities,
            push_constants_down,
            combine_additions,
        ),
        fold=TF_CPU,
        runtime=TF_CPU,
        cond_barrier=True,
    )
