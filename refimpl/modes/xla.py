"""XLA mode: what ``model.fit`` applies with ``compile(jit_compile=True)`` (a GPU's default).

TensorFlow hands the train step to XLA:CPU: ``tf2xla`` emits the HLO of Keras's ops as
they are (a ``cond`` becomes a ``select`` of both branches), XLA's algebraic simplifier
rewrites it, LLVM compiles it.  The rewrites that change a schedule's arithmetic
(measured on TensorFlow 2.21: ``XLA_FLAGS=--xla_dump_to`` dumps of the HLO after
optimizations and of the LLVM IR, and the rates read back from real training steps):

XLA's algebraic simplifier (``xla/hlo/transforms/simplifiers/algebraic_simplifier.cc``):

- :func:`divide_rewrites` -- ``A / C`` becomes ``A * fl(1 / C)``; ``A / pow(B, C)``
  becomes ``A * pow(B, -C)``; ``(A / B) / C`` becomes ``A / (B * C)``; ``A / (B /
  C)`` becomes ``(A * C) / B``; ``A / exp(B)`` becomes ``A * exp(-B)``
  (``HandleDivide``).
- :func:`multiply_rewrites` -- a constant factor moves to the right, ``A * -1``
  becomes ``-A``, ``(A * C1) * C2`` becomes ``A * fl(C1 * C2)`` (even where ``A * C1``
  has other uses) and ``(A * C1) * (B * C2)`` becomes ``(A * B) * fl(C1 * C2)``; ``0/1``
  masks times a value become a selection (``cast(pred) * v`` -> ``select(pred, v,
  0)``: an inf/NaN value no longer poisons other steps) (``HandleMultiply``).
- :func:`power_rewrites` -- ``pow(A, 0|1|2|-1)`` -> ``1``, ``A``, ``A * A``, ``1 / A``
  (``HandlePower``); and LLVM's ``LibCallSimplifier::optimizePow``: ``pow(2**k, x)``
  -> ``exp2(k * x)`` for an integer ``k != 0``, ``pow(x, 0.5)`` -> ``isinf(x) ? inf :
  fabs(sqrt(x))``, ``pow(1, x)`` -> ``1``.
- :func:`identities` -- ``A + 0``, ``A - 0``, ``A * 1`` -> ``A``.
- Constants are folded by XLA's ``HloEvaluator`` in the compute dtype (C++ arithmetic:
  glibc's functions).

LLVM, inside XLA:CPU:

- :func:`zero_products` -- ``x * 0.0`` is ``copysign(0.0, x)`` where ``x`` is known
  finite, and the cosine of that is 1 (InstCombine), so a ``num_periods`` of 0 leaves
  the step's minimum with one use less.
- :func:`split_minimum_of_the_step` -- ``minimum(float(step), C)`` is a ``select``;
  InstCombine turns the compare into the integer ``step <= floor(C)`` and pushes the
  operations that follow into the constant arm, where LLVM's constant folder evaluates
  them one by one (no FMA; ``cos``/``pow`` by the host's libm in double, rounded), so
  the steps past ``C`` get a value computed differently from the step at ``C``.
- :func:`contract_fma` -- every ``a * b + c`` (and ``a * b - c``, ``c - a * b``) whose
  product has no other use is one fused multiply-add, rounded once: XLA:CPU compiles
  with ``llvm::FPOpFusion::Fast`` (``CompilerTargetOptions`` in
  ``xla/service/cpu/cpu_compiler.cc``).  When both operands of an addition are such
  products, the first is fused.

Kernels: float32 ``log`` and ``exp`` are XLA's own Cephes polynomials
(:mod:`refimpl.kernels.xla_cpu`); ``cos``, ``pow`` and ``exp2`` are glibc's (called from
the compiled code); float64 functions are glibc's.

JAX (``jax.jit``, jaxlib 0.10.2) compiles with the same XLA:CPU: on float32 scalars its
``cos``, ``log``, ``exp``, ``power`` and division by a constant give the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl import numpy_ops
from refimpl.kernels import fma as fma_kernels
from refimpl.kernels import glibc, glibc64, xla_cpu
from refimpl.modes.trace import TF_CPU, Kernels, Node, Tracer, consumers, rebuild

__all__ = [
    "contract_fma",
    "divide_rewrites",
    "identities",
    "multiply_rewrites",
    "power_rewrites",
    "split_minimum_of_the_step",
    "tracer",
    "zero_products",
]


# --- XLA's algebraic simplifier -----------------------------------------------------------


def identities(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``A + 0``, ``0 + A``, ``A - 0``, ``A * 1``, ``1 * A`` -> ``A`` (same dtype)."""
    neutral = {"add": 0, "subtract": 0, "multiply": 1}.get(op)
    if neutral is None:
        return None
    a, b = args
    if tr.is_constant(b) and b.value == neutral and a.dtype == b.dtype:
        return a
    if op != "subtract" and tr.is_constant(a) and a.value == neutral and a.dtype == b.dtype:
        return b
    return None


def divide_rewrites(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``HandleDivide``'s rewrites of floating divisions."""
    if op != "divide" or args[0].dtype.kind != "f":
        return None
    a, b = args
    if b.op == "exp":
        return tr.emit("multiply", (a, tr.emit("exp", (tr.emit("negative", b.inputs),))), (), name)
    if b.op == "power":
        base, exponent = b.inputs
        flipped = tr.emit("power", (base, tr.emit("negative", (exponent,))))
        return tr.emit("multiply", (a, flipped), (), name)
    if a.op == "divide":
        return tr.emit("divide", (a.inputs[0], tr.emit("multiply", (a.inputs[1], b))), (), name)
    if b.op == "divide":
        return tr.emit("divide", (tr.emit("multiply", (a, b.inputs[1])), b.inputs[0]), (), name)
    if tr.is_constant(b):
        recip = tr.emit("divide", (tr.constant(1, b.dtype), b))
        return tr.emit("multiply", (a, recip), (), name)
    return None


def multiply_rewrites(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``HandleMultiply``: constants to the right, ``A * -1 -> -A``, ``(A * C1) * C2 ->
    A * fl(C1 * C2)``, ``(A * C1) * (B * C2) -> (A * B) * fl(C1 * C2)``, and a 0/1
    mask times a value -> a selection."""
    if op != "multiply":
        return None
    a, b = args
    for mask, value in ((a, b), (b, a)):
        if mask.op == "cast" and mask.inputs[0].dtype == np.bool_:
            zero = tr.constant(0, value.dtype)
            return tr.emit("where", (mask.inputs[0], value, zero), (), name)
    if tr.is_constant(a) and not tr.is_constant(b):
        return tr.emit("multiply", (b, a), (), name)
    if tr.is_constant(b) and b.value == -1:
        return tr.emit("negative", (a,), (), name)
    if tr.is_constant(b) and a.op == "multiply" and tr.is_constant(a.inputs[1]):
        folded = tr.emit("multiply", (a.inputs[1], b))
        return tr.emit("multiply", (a.inputs[0], folded), (), name)
    if (
        a.op == "multiply"
        and b.op == "multiply"
        and tr.is_constant(a.inputs[1])
        and tr.is_constant(b.inputs[1])
    ):  # (A * C1) * (B * C2) -> (A * B) * fl(C1 * C2)
        product = tr.emit("multiply", (a.inputs[0], b.inputs[0]))
        folded = tr.emit("multiply", (a.inputs[1], b.inputs[1]))
        return tr.emit("multiply", (product, folded), (), name)
    return None


def _power_of_two(value: float) -> int | None:
    """``k`` if ``value == 2**k`` for an integer ``k != 0``, else None."""
    if not (value > 0 and math.isfinite(value)):
        return None
    mantissa, exponent = math.frexp(value)
    return exponent - 1 if mantissa == 0.5 and exponent != 1 else None


def power_rewrites(
    tr: Tracer, op: str, args: tuple[Node, ...], attrs: tuple[Any, ...], name: str
) -> Node | None:
    """``HandlePower`` (a constant exponent 0, 1, 2, -1) and LLVM's ``optimizePow``
    (a constant base ``2**k`` or 1, a constant exponent 0.5)."""
    if op != "power" or args[0].dtype.kind != "f":
        return None
    base, exponent = args
    if tr.is_constant(exponent):
        e = float(exponent.value)
        if e == 0:
            return tr.constant(1, base.dtype)
        if e == 1:
            return base
        if e == 2:
            return tr.emit("multiply", (base, base), (), name)
        if e == -1:
            return tr.emit("divide", (tr.constant(1, base.dtype), base), (), name)
        if e == 0.5:  # isinf(x) ? inf : fabs(sqrt(x)) -- sqrt(-inf) is NaN, pow's is inf
            root = tr.emit("abs", (tr.emit("sqrt", (base,)),))
            infinite = tr.emit("equal", (base, tr.constant(-math.inf, base.dtype)))
            return tr.emit("where", (infinite, tr.constant(math.inf, base.dtype), root), (), name)
    if tr.is_constant(base):
        b = float(base.value)
        if b == 1:
            return tr.constant(1, base.dtype)
        k = _power_of_two(b)
        if k is not None:
            if k == 1:
                scaled = exponent
            elif k == -1:
                scaled = tr.emit("negative", (exponent,))
            else:
                scaled = tr.emit("multiply", (exponent, tr.constant(k, exponent.dtype)))
            return tr.emit("exp2", (scaled,), (), name)
    return None


# --- LLVM ----------------------------------------------------------------------------------


def _known_finite(node: Node) -> bool:
    """Whether LLVM can prove ``node`` finite (``computeKnownFPClass``): a converted
    integer, a finite constant, the minimum or maximum of two such values."""
    if node.op == "const":
        return bool(np.isfinite(node.value))
    if node.op == "cast":
        return node.inputs[0].dtype.kind in "iub"
    if node.op in ("minimum", "maximum"):
        return all(_known_finite(i) for i in node.inputs)
    return False


def zero_products(tr: Tracer, root: Node) -> Node:
    """InstCombine: ``x * 0.0`` -> ``copysign(0.0, x)`` where ``x`` is known finite, and
    ``cos(copysign(c, x))`` -> ``cos(c)`` (cosine is even), folded: a cosine of ``0 * x``
    is 1, and ``x`` loses that use.  Runs on the finished graph: LLVM sees XLA's result,
    after every reassociation of constant factors."""

    def rewrite(node: Node) -> Node:
        if node.op == "multiply" and node.dtype.kind == "f":
            x, zero = node.inputs
            if zero.is_constant and zero.value == 0 and _known_finite(x):
                return Node("copysign", (zero, x), node.dtype, tr, name=node.name)
        if node.op == "cos" and node.inputs[0].op == "copysign":
            return tr.emit("cos", (tr.emit("abs", (node.inputs[0].inputs[0],)),))
        return node

    return _rebuild_folding(tr, root, rewrite)


def _rebuild_folding(tr: Tracer, root: Node, rewrite: Callable[[Node], Node]) -> Node:
    """:func:`rebuild` with ``rewrite``; a node whose inputs changed is recorded again
    (constants fold, the identities apply), as LLVM folds what a rewrite made constant."""
    from refimpl.modes.trace import topological

    done: dict[int, Node] = {}
    for node in topological(root):
        inputs = tuple(done[id(i)] for i in node.inputs)
        current = node
        if any(a is not b for a, b in zip(inputs, node.inputs, strict=True)):
            with tr.in_scope(node.scope):
                current = tr.emit(node.op, inputs, node.attrs, node.name)
        done[id(node)] = rewrite(current)
    return done[id(root)]


#: Operations LLVM's constant folder evaluates in the select arm (see
#: :func:`split_minimum_of_the_step`), and how.
_HOST_LIBM: dict[str, Callable[..., float]] = {
    "cos": math.cos,
    "log": math.log,
    "exp": math.exp,
    "power": math.pow,
    "exp2": lambda x: 2.0**x,
}


def _llvm_fold(op: str, values: list[Any], attrs: tuple[Any, ...], dtype: np.dtype) -> Any:
    """LLVM's ``ConstantFoldFP``: IEEE arithmetic in the dtype, a libm call by the host
    libm in double, rounded; None when the call would raise anything but inexact (LLVM
    then leaves the call in the code)."""
    if op in _HOST_LIBM:
        try:
            wide = _HOST_LIBM[op](*(float(v) for v in values))
        except (ValueError, OverflowError, ZeroDivisionError):
            return None
        if not math.isfinite(wide) or (wide != 0 and abs(wide) < np.finfo(dtype).smallest_normal):
            return None
        return dtype.type(wide)
    with np.errstate(all="ignore"):
        return np.asarray(Kernels("ieee", {}).apply(op, values, attrs))[()]


def _consumer_map(root: Node) -> dict[int, list[Node]]:
    users: dict[int, list[Node]] = {}
    from refimpl.modes.trace import topological

    for node in topological(root):
        for i in node.inputs:
            users.setdefault(id(i), []).append(node)
    return users


def split_minimum_of_the_step(tr: Tracer, root: Node) -> Node:
    """``f(minimum(float(n), C))`` for an integer ``n`` (the step, or the step shifted
    by a warmup) -> ``where(n <= floor(C), f(float(n)), f(C))`` with ``f(C)`` folded by
    LLVM, for the chain ``f`` of single-use operations whose other inputs are
    constants."""
    users = _consumer_map(root)
    for node in _nodes(root):
        if node.op != "minimum" or len(users.get(id(node), [])) != 1:
            continue
        stepped, bound = _step_and_constant(tr, node)
        if stepped is None or bound is None:
            continue
        chain = [node]
        while len(users.get(id(chain[-1]), [])) == 1:
            parent = users[id(chain[-1])][0]
            others = [i for i in parent.inputs if i is not chain[-1]]
            if parent.op in ("where", "fma") or not all(tr.is_constant(i) for i in others):
                break
            chain.append(parent)
        folded: Any = bound
        for link, below in zip(chain[1:], chain[:-1], strict=True):
            inputs = [folded if i is below else i for i in link.inputs]
            folded = _fold_or_keep(tr, link, inputs)
        top = chain[-1]
        counter = stepped.inputs[0]
        limit = tr.constant(math.floor(float(bound.value)), counter.dtype)
        within = Node("less_equal", (counter, limit), np.dtype(np.bool_), tr, name="split")
        split = Node("where", (within, top, folded), top.dtype, tr, name=f"{top.name}/split")
        return _replace(root, top, split)
    return root


def _replace(root: Node, old: Node, new: Node) -> Node:
    def swap(node: Node) -> Node:
        return new if node is old else node

    return rebuild(root, swap)


def _nodes(root: Node) -> list[Node]:
    from refimpl.modes.trace import topological

    return list(topological(root))


def _step_and_constant(tr: Tracer, node: Node) -> tuple[Node | None, Node | None]:
    a, b = node.inputs
    for stepped, bound in ((a, b), (b, a)):
        if (
            tr.is_constant(bound)
            and stepped.op == "cast"
            and stepped.inputs[0].dtype.kind in "iu"
            and stepped.dtype.kind == "f"
        ):
            return stepped, bound
    return None, None


def _fold_or_keep(tr: Tracer, link: Node, inputs: list[Any]) -> Node:
    if all(isinstance(i, Node) and i.is_constant for i in inputs):
        value = _llvm_fold(link.op, [i.value for i in inputs], link.attrs, link.dtype)
        if value is not None:
            return tr.constant(value, link.dtype) if link.dtype.kind == "f" else tr.constant(value)
    return Node(link.op, tuple(inputs), link.dtype, tr, link.attrs, name=f"{link.name}/folded")


def contract_fma(tr: Tracer, root: Node) -> Node:
    """Every float ``a * b + c``, ``c + a * b``, ``a * b - c``, ``c - a * b`` whose
    product has no other use becomes ``fma`` (the first operand when both qualify)."""
    counts = consumers(root)
    originals: dict[int, Node] = {}

    def single_use_product(current: Node, original: Node) -> bool:
        return current.op == "multiply" and counts.get(id(original), 0) == 1

    def rewrite(node: Node) -> Node:
        original = originals.get(id(node), node)
        if node.op not in ("add", "subtract") or node.dtype.kind != "f":
            return node
        a, b = node.inputs
        oa, ob = original.inputs
        if single_use_product(a, oa):
            c = b if node.op == "add" else tr.emit("negative", (b,))
            return Node("fma", (*a.inputs, c), node.dtype, tr, name=node.name)
        if single_use_product(b, ob):
            x, y = b.inputs
            if node.op == "subtract":
                x = tr.emit("negative", (x,))
            return Node("fma", (x, y, a), node.dtype, tr, name=node.name)
        return node

    return _rebuild_tracking(root, rewrite, originals)


def _rebuild_tracking(root: Node, rewrite: Any, originals: dict[int, Node]) -> Node:
    """:func:`rebuild`, remembering which original node each rebuilt node stands for."""
    from refimpl.modes.trace import _with_inputs, topological

    done: dict[int, Node] = {}
    for node in topological(root):
        inputs = tuple(done[id(i)] for i in node.inputs)
        same = all(a is b for a, b in zip(inputs, node.inputs, strict=True))
        current = node if same else _with_inputs(node, inputs)
        originals[id(current)] = node
        done[id(node)] = rewrite(current)
    return done[id(root)]


# --- kernels -------------------------------------------------------------------------------


def _by_dtype(float32: Any, float64: Any) -> Any:
    def kernel(*args: Any) -> Any:
        dtype = np.result_type(*(np.asarray(a) for a in args))
        return float64(*args) if dtype == np.float64 else float32(*args)

    return kernel


#: XLA:CPU's runtime arithmetic.
XLA_CPU = Kernels(
    "xla-cpu",
    {
        "log": _by_dtype(xla_cpu.log_f32, numpy_ops.log),
        "exp": _by_dtype(xla_cpu.exp_f32, numpy_ops.exp),
        "exp2": _by_dtype(glibc.exp2f, glibc64.exp2),
        "fma": _by_dtype(fma_kernels.fma_float32, fma_kernels.fma),
    },
)


def tracer() -> Tracer:
    """A new tracer with XLA mode's rules, passes and kernels."""
    return Tracer(
        name="xla",
        rules=(identities, divide_rewrites, multiply_rewrites, power_rewrites),
        passes=(zero_products, split_minimum_of_the_step, contract_fma),
        fold=TF_CPU,
        runtime=XLA_CPU,
        cond_barrier=False,
    )
