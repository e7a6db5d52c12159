"""How JAX runs an Optax schedule: ``"jit"`` (compiled whole by XLA) and ``"eager"``.

- ``"jit"`` (the default): the schedule inside ``jax.jit`` -- an optimizer's update
  step, or ``jax.jit(schedule)``.  JAX emits the HLO of the schedule's ``jax.numpy``
  operations; XLA:CPU's algebraic simplifier and LLVM rewrite it much as they rewrite
  TensorFlow's HLO with ``jit_compile=True``, so the tracer starts from
  :func:`refimpl.modes.xla.tracer`'s rules (``x / C`` -> ``x * fl(1 / C)``, constant
  factors multiplied first, single-use products fused into FMAs, ``pow(2**k, x)`` ->
  ``exp2``).  jaxlib 0.10.2's XLA differs from TensorFlow 2.21's in what the parity
  tests found, each rule measured in the optimized HLO or the LLVM IR
  (``XLA_FLAGS=--xla_dump_to``):

  * :func:`cube` -- ``pow(A, 3)`` -> ``A * (A * A)`` (``HandlePower``; refimpl's
    TensorFlow model stops at 2);
  * :func:`lanes_apart` -- ``(A * C1) * C2`` is reassociated only when both constants
    are vectors or both broadcast scalars (``piecewise_interpolate_schedule``
    computes its intervals as vectors; see :class:`~refimpl.optax._ops.Lane`);
  * no :func:`~refimpl.modes.xla.split_minimum_of_the_step`: a float ``minimum`` is
    ``llvm.minimum.f32``, which LLVM does not turn into a select, so the counts past
    ``decay_steps`` compute what the count at ``decay_steps`` computes (TensorFlow's
    XLA folds them separately);
  * :func:`implied_selects`, :func:`common_operands` -- InstCombine's select folds
    (a select implied by an enclosing one disappears; ``select(c, x + e, y + e)`` is
    ``select(c, x, y) + e``, so neither product is fused; folded again down to the
    first arms that differ);
  * :func:`negated_operands` -- InstCombine's ``-x + c`` -> ``c - x``, after which a
    product ``x`` fuses.

  Kernels: :data:`JAX_XLA_CPU` (XLA's float32 ``log``/``exp``, glibc's ``cosf``,
  ``powf``, ``exp2f``; glibc's float64 functions).
- ``"eager"``: the schedule called on a count outside ``jit``.  JAX dispatches every
  ``jax.numpy`` operation alone, each compiled by XLA with its operands as parameters:
  XLA's kernels, IEEE arithmetic, no rewrite across operations (no reciprocal of a
  divisor, no FMA).  The tracer has no rules and no passes.

Both run with subnormals flushed to zero (measured: ``jax.jit(lambda x: x * 1e-30)(1e-10)``
is 0.0, eagerly too).

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
from refimpl.modes.trace import Kernels, Node, Tracer, consumers, rebuild, topological
from refimpl.optax._ops import Lane

__all__ = [
    "JAX_XLA_CPU",
    "JAX_XLA_FOLD",
    "JIT_PASSES",
    "JIT_RULES",
    "MODES",
    "JitTracer",
    "check_mode",
    "common_operands",
    "common_subexpressions",
    "cube",
    "flushed",
    "implied_selects",
    "lanes_apart",
    "negated_operands",
    "tracer",
]

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


# --- XLA's common-subexpression elimination --------------------------------------------------


def _key(node: Node, ids: dict[int, int]) -> tuple[Any, ...]:
    if node.op == "const":
        return ("const", node.dtype.str, np.asarray(node.value).tobytes())
    return (node.op, node.dtype.str, node.attrs, tuple(ids[id(i)] for i in node.inputs))


def common_subexpressions(tr: Tracer, root: Node) -> Node:
    """XLA's ``HloCSE``: operations with the same operands (after their own merging)
    are one, and ``select(p, A, A)`` is ``A`` (``HandleSelect``).  A value computed
    twice by a formula is then one value with two uses, which the FMA contraction does
    not fuse.  Measured: ``join_schedules`` of two equal ``linear_schedule`` s at
    boundary 0 is one linear schedule in JAX (its end is ``-2.98e-08``, fused)."""
    canonical: dict[tuple[Any, ...], Node] = {}
    ids: dict[int, int] = {}
    done: dict[int, Node] = {}
    for node in topological(root):
        inputs = tuple(done[id(i)] for i in node.inputs)
        current = node
        if any(a is not b for a, b in zip(inputs, node.inputs, strict=True)):
            current = Node(node.op, inputs, node.dtype, node.tracer, node.attrs, node.value,
                           node.name, node.scope)  # fmt: skip
        if current.op == "where" and current.inputs[1] is current.inputs[2]:
            current = current.inputs[1]
        key = _key(current, ids)
        merged = canonical.setdefault(key, current)
        ids[id(merged)] = ids.get(id(merged), len(ids))
        done[id(node)] = merged
    return done[id(root)]


# --- LLVM's InstCombine on selects ---------------------------------------------------------


def _integer_test(node: Node) -> tuple[Node, int, int] | None:
    """``node`` as ``lo <= n <= hi`` for an integer ``n`` (a comparison of ``n``, or of
    ``float(n)``, with a constant): InstCombine rewrites a float comparison of an
    ``sitofp`` into an integer one.  None for anything else."""
    if node.op not in ("less", "less_equal", "greater", "greater_equal"):
        return None
    a, b = node.inputs
    op = node.op
    if a.op == "const" and b.op != "const":
        a, b = b, a
        op = {"less": "greater", "less_equal": "greater_equal",
              "greater": "less", "greater_equal": "less_equal"}[op]  # fmt: skip
    if b.op != "const":
        return None
    n = a.inputs[0] if a.op == "cast" and a.inputs[0].dtype.kind in "iu" else a
    if n.dtype.kind not in "iu":
        return None
    k = float(b.value)
    if math.isnan(k):
        return None
    low, high = -math.inf, math.inf
    if op == "less":
        high = math.ceil(k) - 1
    elif op == "less_equal":
        high = math.floor(k)
    elif op == "greater":
        low = math.floor(k) + 1
    else:
        low = math.ceil(k)
    return n, low, high  # type: ignore[return-value]


def implied_selects(tr: Tracer, root: Node) -> Node:
    """``where(c1, A, where(c0, B, C))`` -> ``where(c1, A, C)`` when ``c1`` being false
    decides ``c0`` (both integer tests of one counter, see :func:`_integer_test`), and
    likewise in the true arm: InstCombine drops a select whose condition a dominating
    select implies.  Measured: torch's ``OneCycleLR`` closed form with a phase that
    ends before step 0 (``pct_start * total_steps < 1``) loses that phase's arm."""

    def arm(node: Node, test: tuple[Node, int, int], holds: bool) -> Node:
        """``node`` seen where ``test`` is ``holds``."""
        while node.op == "where":
            inner = _integer_test(node.inputs[0])
            if inner is None or inner[0] is not test[0]:
                return node
            _, lo, hi = test
            _, ilo, ihi = inner
            if holds:  # n in [lo, hi]
                verdict = (
                    True if ilo <= lo and hi <= ihi else False if hi < ilo or ihi < lo else None
                )
            elif lo == -math.inf:  # n > hi
                verdict = (
                    True if ilo <= hi + 1 and ihi == math.inf else False if ihi <= hi else None
                )
            elif hi == math.inf:  # n < lo
                verdict = (
                    True if ilo == -math.inf and lo - 1 <= ihi else False if lo <= ilo else None
                )
            else:
                verdict = None
            if verdict is None:
                return node
            node = node.inputs[1] if verdict else node.inputs[2]
        return node

    def rewrite(node: Node) -> Node:
        if node.op != "where":
            return node
        test = _integer_test(node.inputs[0])
        if test is None:
            return node
        cond, yes, no = node.inputs
        new_yes, new_no = arm(yes, test, True), arm(no, test, False)
        if new_yes is yes and new_no is no:
            return node
        return Node("where", (cond, new_yes, new_no), node.dtype, tr, name=node.name,
                    scope=node.scope)  # fmt: skip

    return rebuild(root, rewrite)


def _same_operand(a: Node, b: Node) -> bool:
    """One LLVM value: the same node, or equal constants (LLVM uniques constants)."""
    if a is b:
        return True
    return (
        a.op == b.op == "const"
        and a.dtype == b.dtype
        and np.asarray(a.value).tobytes() == np.asarray(b.value).tobytes()
    )


def common_operands(tr: Tracer, root: Node) -> Node:
    """``where(c, x + e, y + e)`` -> ``where(c, x, y) + e`` (and ``-``, ``*``, either
    operand order for ``+`` and ``*``) when both arms are used only there:
    InstCombine's ``foldSelectOpOp``.  Runs before :func:`~refimpl.modes.xla.contract_fma`
    (the backend fuses after InstCombine), so the products ``x`` and ``y`` are no
    longer fused with the addition.  Measured in jaxlib 0.10.2's LLVM IR
    (``select i1 %c, float %x, float %y`` then one ``fadd``).

    The new ``where(c, x, y)`` is folded again (InstCombine's worklist revisits the
    select it created), down to arms that differ in their operation or share no
    operand -- a call such as ``cos`` stops it (``foldSelectOpOp`` takes binary
    operators only).  The product above the hoisted select may then fuse.  Measured:
    ``join_schedules([cosine_decay_schedule(1.0, 1, 0.1), cosine_decay_schedule(1.0,
    4, 0.1)], [0])`` compiles to ``select(c, cos(a), cos(b))``, ``fadd 1.0``, ``fmul
    0.45``, ``fadd 0.1`` (the last two one FMA): 0.868198037147522 at count 1, where one
    fold (unfused ``fmul`` and ``fadd``) gives 0.8681980967521667."""
    counts = consumers(root)

    def rewrite(node: Node) -> Node:
        if node.op != "where":
            return node
        cond, x, y = node.inputs
        if _same_operand(x, y):  # InstSimplify: select(c, A, A) -> A
            return x
        if x.op != y.op or x.op not in ("add", "subtract", "multiply") or x.dtype.kind != "f":
            return node
        if counts.get(id(x), 0) != 1 or counts.get(id(y), 0) != 1:
            return node
        pairs = [((0, 0), (1, 1)), ((1, 1), (0, 0))]
        if x.op != "subtract":
            pairs += [((0, 1), (1, 0)), ((1, 0), (0, 1))]
        for (xs, ys), (xo, yo) in pairs:  # shared positions, other positions
            if _same_operand(x.inputs[xs], y.inputs[ys]):
                picked = rewrite(Node("where", (cond, x.inputs[xo], y.inputs[yo]), node.dtype,
                                      tr, name=f"{node.name}/v", scope=node.scope))  # fmt: skip
                operands = (picked, x.inputs[xs]) if xo == 0 else (x.inputs[xs], picked)
                return Node(x.op, operands, node.dtype, tr, name=node.name, scope=node.scope)
        return node

    return _rebuild_with_originals(root, rewrite, counts)


def negated_operands(tr: Tracer, root: Node) -> Node:
    """``-x + c`` and ``c + -x`` -> ``c - x``; ``c - -x`` -> ``c + x`` (InstCombine's
    ``fadd (fneg A), B`` -> ``fsub B, A`` and ``fsub A, (fneg B)`` -> ``fadd A, B``).  Runs
    before :func:`~refimpl.modes.xla.contract_fma`, so a product under the negation
    fuses: ``1 - x * x`` is ``fma(-x, x, 1)``.  Measured: ``polynomial_schedule(0.0, 1.0,
    power=2, transition_steps=5)`` keeps ``(a * a) * -1 + 1`` in jaxlib 0.10.2's optimized
    HLO, and its LLVM IR is ``fsub float 1.0, (fmul %a, %a)``: 0.35999998450279236 at
    count 1 (fused), where an unfused ``1 - a * a`` gives 0.35999995470046997."""

    def rewrite(node: Node) -> Node:
        if node.dtype.kind != "f" or node.op not in ("add", "subtract"):
            return node
        a, b = node.inputs
        if node.op == "add" and a.op == "negative" and b.op != "negative":
            a, b = b, a
        if b.op != "negative":
            return node
        op = "subtract" if node.op == "add" else "add"
        return Node(op, (a, b.inputs[0]), node.dtype, tr, name=node.name, scope=node.scope)

    return rebuild(root, rewrite)


def _rebuild_with_originals(root: Node, rewrite: Any, counts: dict[int, int]) -> Node:
    """:func:`rebuild`, with the use counts of the original nodes carried to their copies."""
    done: dict[int, Node] = {}
    for node in topological(root):
        inputs = tuple(done[id(i)] for i in node.inputs)
        current = node
        if any(a is not b for a, b in zip(inputs, node.inputs, strict=True)):
            current = Node(node.op, inputs, node.dtype, node.tracer, node.attrs, node.value,
                           node.name, node.scope)  # fmt: skip
            counts[id(current)] = counts.get(id(node), 0)
        done[id(node)] = rewrite(current)
    return done[id(root)]


class JitTracer(Tracer):
    """XLA's tracer, knowing which constants are elements of a constant vector: a
    :class:`~refimpl.optax._ops.Lane` becomes a constant named ``lane:...``, and a
    constant folded from one is one too.  A subnormal float constant is a signed zero
    (:func:`flushed`)."""

    def constant(self, value: Any, dtype: Any = None, *, name: str = "Const") -> Node:
        node = flushed(super().constant(value, dtype, name=name))
        if isinstance(value, Lane) and node.op == "const":
            return _renamed(node, _LANE + node.name)
        return node

    def emit(self, op: str, inputs: Any, attrs: tuple[Any, ...] = (), name: str = "") -> Node:
        node = super().emit(op, inputs, attrs, name)
        if node.op == "const" and any(_is_lane(i) for i in inputs):
            return _renamed(node, _LANE + node.name)
        return node


def flushed(node: Node) -> Node:
    """``node`` with a subnormal float32 constant replaced by a zero of its sign: jaxlib
    0.10.2 flushes subnormal float32 constants when it imports JAX's StableHLO (measured:
    torch's ``PolynomialLR(total_iters=1, power=5.03e-45)`` ported, ``power(x,
    5.605190e-45)`` in the StableHLO is ``power(x, 0)`` in the HLO before optimizations,
    which LLVM folds to 1.0 at every count, where ``pow(0, 5.6e-45)`` would give 0.0 from
    count 1 on).  float64 constants are kept: with x64, ``jax.jit(lambda x: x **
    5e-320)(0.0)`` is 0.0."""
    if node.op != "const" or node.dtype != np.float32:
        return node
    value = node.value
    if value == 0 or not abs(value) < np.finfo(node.dtype).smallest_normal:
        return node
    zero = np.copysign(node.dtype.type(0), value)
    return Node("const", (), node.dtype, node.tracer, value=zero, name=node.name, scope=node.scope)


def _renamed(node: Node, name: str) -> Node:
    return Node(node.op, node.inputs, node.dtype, node.tracer, node.attrs, node.value, name,
                node.scope)  # fmt: skip


#: The passes of ``"jit"``: refimpl.modes.xla's LLVM passes without
#: :func:`~refimpl.modes.xla.split_minimum_of_the_step` (jaxlib 0.10.2's XLA lowers a
#: float ``minimum`` to ``llvm.minimum.f32``, which InstCombine does not split into a
#: select: measured in the LLVM IR, and past ``decay_steps`` the value is the one at
#: ``decay_steps``), with InstCombine's select folds before the FMA contraction.
JIT_PASSES = (
    common_subexpressions,
    xla.zero_products,
    implied_selects,
    negated_operands,
    common_operands,
    xla.contract_fma,
)

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
        with np.errstate(all="ignore"):
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


def _rounded(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a float64 kernel) on float32 operands widened, rounded to float32."""

    def kernel(*args: Any) -> Any:
        return np.asarray(function(*args), np.float64).astype(np.float32)[()]

    return kernel


#: The float32 functions jaxlib 0.10.2's XLA folds in double, rounding the result: a
#: correctly rounded ``log``, ``exp``, ``cos`` but for double rounding (glibc's float64
#: functions here).  Measured on 40,000 constants (``jax.jit(lambda: jnp.log(x))()``
#: for a constant float32 vector ``x``): 0 differ from ``fl(log(double(x)))``, 232 from
#: glibc's ``logf`` (16 for ``exp``, 229 for ``cos``); ``power`` folds as glibc's
#: ``powf`` (0 of 20,000 differ; 15 from the rounded double ``pow``).  Found by
#: ``CosineDecayRestarts(t_mul=3.649712271094937)``: XLA's ``fl(1 / log(t_mul))`` is
#: 0.7724106 (log 1.2946483, correctly rounded; glibc's ``logf`` gives 1.2946484 and
#: 0.77241045), so the restart index at the end of the first cycle is 1, not 0.
_FOLDED_IN_DOUBLE = ("log", "exp", "cos")

#: XLA's constant folding: float32 ``log``, ``exp``, ``cos`` in double and rounded
#: (:data:`_FOLDED_IN_DOUBLE`), glibc's ``powf`` and ``exp2f``; glibc's float64 functions.
JAX_XLA_FOLD = Kernels(
    "jax-xla-fold",
    {
        op: _by_dtype(_rounded(f64) if op in _FOLDED_IN_DOUBLE else _F32[op], f64)
        for op, f64 in _LIBM64.items()
    },
)


def tracer(mode: str, *, vectors: bool = True) -> Tracer:
    """A new tracer for ``mode``: XLA's rules (with :data:`JIT_RULES`), passes and kernels
    for ``"jit"``; XLA's kernels alone for ``"eager"``.

    ``vectors=False`` drops :func:`lanes_apart`: every constant is a scalar, as in the
    port (:func:`refimpl.optax.as_optax` runs refimpl's formula, one interval at a
    time, on ``jax.numpy``), where XLA reassociates ``(A * C1) * C2`` that Optax's own
    vectorised ``piecewise_interpolate_schedule`` keeps (measured: one ulp apart at
    some counts of about a quarter of the configurations drawn)."""
    if check_mode(mode) == "jit":
        base = xla.tracer()
        first = (lanes_apart,) if vectors else ()
        return JitTracer(
            name="jax-jit" if vectors else "jax-jit-scalars",
            rules=(*first, *base.rules, cube),
            passes=JIT_PASSES,
            fold=JAX_XLA_FOLD,
            runtime=JAX_XLA_CPU,
            cond_barrier=base.cond_barrier,
        )
    return Tracer(name="jax-eager", fold=JAX_XLA_CPU, runtime=JAX_XLA_CPU)
