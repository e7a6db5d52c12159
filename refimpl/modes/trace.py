"""A schedule's formula as the graph a compiler sees, rewritten, then run on NumPy.

In ``model.fit`` TensorFlow does not run a schedule's operations one by one: it
builds a graph of the train step, lets an optimizer rewrite it (Grappler in graph
mode, XLA and LLVM with ``jit_compile=True``) and runs the result.  The rewrites
change the arithmetic: ``x / c`` becomes ``x * (1 / c)``, constant factors are
multiplied together first, ``a * b + c`` becomes one fused multiply-add -- each a
different rounding.  To know the rate a run applied, refimpl does the same:

1. **Trace.**  The schedule's formula (the very function the eager mode runs) is
   called with a :class:`Tracer` as its array namespace and a symbolic step.  Every
   namespace call and every arithmetic operator on a :class:`Node` records an
   operation instead of computing it, under the name TensorFlow would give it
   (``Mul``, ``mul_1``, ``truediv_2``: Grappler orders some rewrites by name).
   Values that do not depend on the step (hyperparameters) are constants.
2. **Rewrite.**  As each operation is recorded, an operation whose inputs are all
   constants is *folded* (computed at once with the compiler's folding kernels);
   otherwise the tracer's *rules* -- small, named functions, each a documented
   rewrite of Grappler, XLA or LLVM -- may replace it.  When the formula is done,
   the *passes* rewrite the whole graph (rewrites that need to know how often a
   value is used: constant push-down, FMA contraction).
3. **Run.**  :func:`run` evaluates the rewritten graph on an array of steps with the
   runtime kernels of the mode (every step at once, each operation vectorised).

One formula, three modes: eager runs it on :mod:`refimpl.numpy_ops`; graph and XLA
trace it with the rules, passes and kernels of :mod:`refimpl.modes.grappler` and
:mod:`refimpl.modes.xla`.

>>> import numpy as np
>>> from refimpl.modes.trace import Tracer, run
>>> tracer = Tracer(name="demo")
>>> step = tracer.step()
>>> node = tracer.cast(step, "float32") / 4.0 + 1.0   # recorded, not computed
>>> print(node)
add(truediv(cast(step, float32), 4.0), 1.0)
>>> run(node, np.array([0, 2, 6]))
array([1. , 1.5, 2.5], dtype=float32)
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops

__all__ = [
    "STEP_DTYPE",
    "Kernels",
    "Node",
    "Pass",
    "Rule",
    "Tracer",
    "consumers",
    "rebuild",
    "run",
    "topological",
]

#: The integer dtype of the step a Keras optimizer passes (its ``iterations``).
STEP_DTYPE = np.dtype(np.int64)

#: Operations whose operands may be swapped without changing the result.
COMMUTATIVE = frozenset(
    {"add", "multiply", "minimum", "maximum", "equal", "logical_and", "bitwise_xor"}
)

#: TensorFlow's op name for each operation, as ``keras.ops`` (TensorFlow backend) and
#: as a Python operator create it; names are made unique per graph with a counter
#: that ignores case (``Mul``, ``mul_1``, ``Mul_2``: ``tf.Graph.unique_name``).
_FUNCTION_NAMES = {
    "add": "Add",
    "subtract": "Sub",
    "multiply": "Mul",
    "divide": "truediv",
    "power": "Pow",
    "minimum": "Minimum",
    "maximum": "Maximum",
    "floor": "Floor",
    "ceil": "Ceil",
    "cos": "Cos",
    "log": "Log",
    "exp": "Exp",
    "sqrt": "Sqrt",
    "negative": "Neg",
    "equal": "Equal",
    "less": "Less",
    "less_equal": "LessEqual",
    "greater": "Greater",
    "greater_equal": "GreaterEqual",
    "logical_and": "LogicalAnd",
    "bitwise_xor": "BitwiseXor",
    "right_shift": "RightShift",
    "where": "SelectV2",
    "cast": "Cast",
    "cond": "cond",
}
_OPERATOR_NAMES = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "truediv"}


@dataclass(eq=False, frozen=True)
class Node:
    """One recorded operation: ``op`` applied to ``inputs`` (nodes), with static
    ``attrs`` (a target dtype), giving a value of ``dtype``.

    ``value`` is set for constants (a NumPy scalar of ``dtype``).  ``name`` is the
    node's TensorFlow name (kept by rewrites, as Grappler keeps it).  ``scope`` is the
    ``cond`` branch the node was recorded in (0: the top level): a constant is only
    a constant to operations of its own scope.  Arithmetic operators record through
    the tracer that made the node; ``==`` compares identity.
    """

    op: str
    inputs: tuple[Node, ...]
    dtype: np.dtype
    tracer: Tracer = field(repr=False)
    attrs: tuple[Any, ...] = ()
    value: Any = None
    name: str = ""
    scope: int = 0

    @property
    def is_constant(self) -> bool:
        return self.op == "const"

    # The operators of tensors, recorded with the names Python's operators get.
    def __add__(self, other: Any) -> Node:
        return self.tracer.binary("add", self, other, operator=True)

    def __radd__(self, other: Any) -> Node:
        return self.tracer.binary("add", other, self, operator=True)

    def __sub__(self, other: Any) -> Node:
        return self.tracer.binary("subtract", self, other, operator=True)

    def __rsub__(self, other: Any) -> Node:
        return self.tracer.binary("subtract", other, self, operator=True)

    def __mul__(self, other: Any) -> Node:
        return self.tracer.binary("multiply", self, other, operator=True)

    def __rmul__(self, other: Any) -> Node:
        return self.tracer.binary("multiply", other, self, operator=True)

    def __truediv__(self, other: Any) -> Node:
        return self.tracer.binary("divide", self, other, operator=True)

    def __rtruediv__(self, other: Any) -> Node:
        return self.tracer.binary("divide", other, self, operator=True)

    def __neg__(self) -> Node:
        return self.tracer.negative(self)

    def __lt__(self, other: Any) -> Node:
        return self.tracer.less(self, other)

    def __le__(self, other: Any) -> Node:
        return self.tracer.less_equal(self, other)

    def __gt__(self, other: Any) -> Node:
        return self.tracer.greater(self, other)

    def __ge__(self, other: Any) -> Node:
        return self.tracer.greater_equal(self, other)

    def __bool__(self) -> bool:
        raise TypeError(
            "A traced value has no truth value: a formula must not branch in Python on "
            "a tensor (use xp.where or xp.cond)."
        )

    def __float__(self) -> float:
        if self.value is None:
            raise TypeError("Only a constant has a Python value; this node depends on the step.")
        return float(self.value)

    def __str__(self) -> str:
        return _format(self)


def _format(node: Node) -> str:
    if node.op == "const":
        return repr(float(node.value)) if node.dtype.kind == "f" else str(node.value)
    if node.op == "step":
        return "step"
    parts = [_format(i) for i in node.inputs] + [_format_attr(a) for a in node.attrs]
    return f"{'truediv' if node.op == 'divide' else node.op}({', '.join(parts)})"


def _format_attr(attr: Any) -> str:
    return attr.name if isinstance(attr, np.dtype) else repr(attr)


#: A rewrite rule: called with the tracer and an operation about to be recorded
#: (``op``, its inputs, its attrs, its name), returns the node to record instead (made
#: with :meth:`Tracer.emit`), or None to leave it.
Rule = Callable[["Tracer", str, tuple[Node, ...], tuple[Any, ...], str], "Node | None"]
#: A pass: rewrites the finished graph (given its root) and returns the new root.
Pass = Callable[["Tracer", Node], Node]


class Kernels:
    """The functions a compiler's arithmetic runs, by operation name.

    ``table`` maps an operation (``"cos"``, ``"power"``, ``"fma"``, ...) to a function of
    NumPy arrays or scalars (and the operation's attrs); operations not in it use
    NumPy's IEEE arithmetic (exactly rounded: add, subtract, multiply, divide,
    comparisons, floor, ceil, minimum, maximum, sqrt, casts).  Float results are
    flushed to zero where subnormal, as TensorFlow's and XLA's CPU code does.
    """

    def __init__(self, name: str, table: Mapping[str, Callable[..., Any]]) -> None:
        self.name = name
        self.table: Mapping[str, Callable[..., Any]] = MappingProxyType(dict(table))

    def __repr__(self) -> str:
        return f"Kernels({self.name!r})"

    def apply(self, op: str, args: Sequence[Any], attrs: tuple[Any, ...]) -> Any:
        """``op`` on NumPy values ``args``."""
        kernel = self.table.get(op) or _IEEE[op]
        with np.errstate(all="ignore"):
            return numpy_ops.flush_subnormals(kernel(*args, *attrs))


def _cast(x: Any, dtype: np.dtype) -> Any:
    return numpy_ops.cast(x, dtype)


#: Exactly rounded IEEE operations (NumPy's), used where a kernel set names no function.
_IEEE: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "negative": np.negative,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "floor": np.floor,
    "ceil": np.ceil,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: np.divide(1, np.sqrt(x)),  # TensorFlow's Rsqrt: 1 / sqrt(x), two roundings
    "abs": np.abs,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "equal": np.equal,
    "logical_and": np.logical_and,
    "bitwise_xor": np.bitwise_xor,
    "right_shift": np.right_shift,
    "where": np.where,
    "cast": _cast,
    "cos": numpy_ops.cos,
    "log": numpy_ops.log,
    "exp": numpy_ops.exp,
    "power": numpy_ops.power,
    "exp2": np.exp2,
    "add_n": lambda *terms: _add_n(terms),
    "copysign": lambda zero, x: np.copysign(zero, np.multiply(zero, x)),
}


def _add_n(terms: Sequence[Any]) -> Any:
    """TensorFlow's ``AddN`` CPU kernel: the first ``n % 8`` (or 8) inputs summed left to
    right, then ``out + in[k] + ... + in[k + 7]`` for each further block of eight."""
    first = len(terms) % 8 or 8
    out = terms[0]
    for term in terms[1:first]:
        out = out + term
    for start in range(first, len(terms), 8):
        for term in terms[start : start + 8]:
            out = out + term
    return out


#: TensorFlow's CPU kernels on scalars (:mod:`refimpl.numpy_ops`): glibc's functions.
TF_CPU = Kernels("tensorflow-cpu", {})

_COMPARE = frozenset({"less", "less_equal", "greater", "greater_equal", "equal"})


class Tracer:
    """An array namespace (:class:`refimpl.namespace.ArrayNamespace`) that records.

    ``rules`` rewrite operations as they are recorded (in order; the first that
    returns a node wins); ``passes`` rewrite the finished graph (:meth:`finish`);
    ``fold`` computes operations on constants (the compiler's own arithmetic),
    ``runtime`` the graph :func:`run` evaluates.  ``cond_barrier``: constants from
    outside a ``cond`` branch are not constants inside it (TensorFlow's graph mode,
    where they enter through ``Switch``; XLA selects between both branches instead).
    Dtype rules are TensorFlow's, as in :mod:`refimpl.numpy_ops`: a Python float is
    float32, a Python int int32, and a Python number meeting a tensor takes the
    tensor's dtype.
    """

    def __init__(
        self,
        *,
        name: str,
        rules: Sequence[Rule] = (),
        passes: Sequence[Pass] = (),
        fold: Kernels = TF_CPU,
        runtime: Kernels = TF_CPU,
        cond_barrier: bool = False,
    ) -> None:
        self.name = name
        self.rules = tuple(rules)
        self.passes = tuple(passes)
        self.fold = fold
        self.runtime = runtime
        self.cond_barrier = cond_barrier
        self._scope = 0
        self._scopes = itertools.count(1)
        self._names: dict[str, int] = {}
        self._step: Node | None = None

    def __repr__(self) -> str:
        return f"Tracer({self.name!r})"

    # --- names -------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        """``base``, or ``base_k`` if taken (counted case-insensitively, as TensorFlow)."""
        key = base.lower()
        count = self._names.get(key, 0)
        self._names[key] = count + 1
        return base if count == 0 else f"{base}_{count}"

    # --- making nodes ------------------------------------------------------------------
    def step(self) -> Node:
        """The symbolic step: the optimizer's int64 ``iterations`` (one per tracer)."""
        if self._step is None:
            self._step = Node("step", (), STEP_DTYPE, self, name="step")
        return self._step

    def constant(
        self, value: Any, dtype: npt.DTypeLike | None = None, *, name: str = "Const"
    ) -> Node:
        """A constant with TensorFlow's conversion of Python and NumPy scalars."""
        if isinstance(value, Node):
            return value if dtype is None else self.cast(value, dtype)
        converted = numpy_ops.convert_to_tensor(value, dtype)
        if isinstance(converted, np.ndarray):
            if converted.ndim:
                raise TypeError(f"Only scalars can be constants here. Received: {value!r}")
            converted = converted[()]
        return Node(
            "const", (), np.dtype(converted.dtype), self, value=converted, name=name,
            scope=self._scope,
        )  # fmt: skip

    @contextlib.contextmanager
    def in_scope(self, scope: int) -> Iterator[None]:
        """Record (and judge constants) as inside the ``cond`` branch ``scope``."""
        outer, self._scope = self._scope, scope
        try:
            yield
        finally:
            self._scope = outer

    def is_constant(self, node: Node) -> bool:
        """Whether ``node`` is a constant to operations recorded now."""
        return node.op == "const" and (node.scope == self._scope or not self.cond_barrier)

    def _operand(self, value: Any, like: Node | None) -> Node:
        """``value`` as a node; a Python number takes ``like``'s dtype (TF's rule)."""
        if isinstance(value, Node):
            return value
        if like is not None and type(value) in (int, float, bool):
            return self.constant(value, like.dtype)  # exactly: tf.convert_to_tensor(v, dtype)
        return self.constant(value)

    def record(
        self,
        op: str,
        inputs: Sequence[Node],
        attrs: tuple[Any, ...] = (),
        *,
        base: str | None = None,
    ) -> Node:
        """Record ``op`` under a new TensorFlow name (``base``, default the name
        ``keras.ops`` gives): see :meth:`emit`."""
        return self.emit(op, inputs, attrs, self.unique_name(base or _FUNCTION_NAMES[op]))

    def emit(
        self, op: str, inputs: Sequence[Node], attrs: tuple[Any, ...] = (), name: str = ""
    ) -> Node:
        """``op`` on ``inputs``: folded if all are constants here, else rewritten by the
        first rule that applies, else a new node called ``name``."""
        args = tuple(inputs)
        if args and all(self.is_constant(a) for a in args):
            value = self.fold.apply(op, [a.value for a in args], attrs)
            return self.constant(np.asarray(value)[()])
        for rule in self.rules:
            replaced = rule(self, op, args, attrs, name)
            if replaced is not None:
                return replaced
        return Node(op, args, _result_dtype(op, args, attrs), self, attrs, name=name,
                    scope=self._scope)  # fmt: skip

    def binary(self, op: str, x1: Any, x2: Any, *, operator: bool = False) -> Node:
        """A binary operation with TensorFlow's conversion of Python numbers, named as
        ``keras.ops`` (or, ``operator=True``, as a Python operator) names it."""
        a = x1 if isinstance(x1, Node) else None
        b = x2 if isinstance(x2, Node) else None
        left = self._operand(x1, b)
        right = self._operand(x2, a if a is not None else left)
        left, right = self._promote(left, right)
        base = _OPERATOR_NAMES.get(op) if operator else None
        return self.record(op, (left, right), base=base)

    def _promote(self, a: Node, b: Node) -> tuple[Node, Node]:
        """Keras's promotion where the dtypes differ (see ``numpy_ops._keras_promote``):
        an integer meeting a float takes the float's dtype."""
        if a.dtype == b.dtype:
            return a, b
        if a.dtype.kind in "iub" and b.dtype.kind == "f":
            return self.cast(a, b.dtype), b
        if b.dtype.kind in "iub" and a.dtype.kind == "f":
            return a, self.cast(b, a.dtype)
        return a, b

    def finish(self, root: Any) -> Node:
        """The graph of ``root`` after the tracer's passes."""
        node = self._operand(root, None)
        for rewrite in self.passes:
            node = rewrite(self, node)
        return node

    # --- the namespace -----------------------------------------------------------------
    def convert_to_tensor(self, x: Any, dtype: npt.DTypeLike | None = None) -> Node:
        if isinstance(x, Node):
            return x if dtype is None else self.cast(x, dtype)
        return self.constant(x, dtype, name=self.unique_name("Const"))

    def array(self, x: Any, dtype: npt.DTypeLike | None = None) -> Node:
        return self.convert_to_tensor(x, dtype)

    def cast(self, x: Any, dtype: npt.DTypeLike) -> Node:
        """``ops.cast``: a Python float is converted to float32 first (TensorFlow's
        rule); the name ``Cast`` is taken even when nothing is converted."""
        target = numpy_ops.numpy_dtype(dtype)
        name = self.unique_name("Cast")
        if not isinstance(x, Node):
            return self.constant(numpy_ops.cast(x, target), name=f"{name}/x")
        if x.dtype == target:
            return x
        return self.emit("cast", (x,), (target,), name)

    def add(self, x1: Any, x2: Any) -> Node:
        return self.binary("add", x1, x2)

    def subtract(self, x1: Any, x2: Any) -> Node:
        return self.binary("subtract", x1, x2)

    def multiply(self, x1: Any, x2: Any) -> Node:
        return self.binary("multiply", x1, x2)

    def divide(self, x1: Any, x2: Any) -> Node:
        return self.binary("divide", x1, x2)

    def minimum(self, x1: Any, x2: Any) -> Node:
        return self.binary("minimum", x1, x2)

    def maximum(self, x1: Any, x2: Any) -> Node:
        return self.binary("maximum", x1, x2)

    def power(self, x1: Any, x2: Any) -> Node:
        return self.binary("power", x1, x2)

    def less(self, x1: Any, x2: Any) -> Node:
        return self.binary("less", x1, x2)

    def less_equal(self, x1: Any, x2: Any) -> Node:
        return self.binary("less_equal", x1, x2)

    def greater(self, x1: Any, x2: Any) -> Node:
        return self.binary("greater", x1, x2)

    def greater_equal(self, x1: Any, x2: Any) -> Node:
        return self.binary("greater_equal", x1, x2)

    def equal(self, x1: Any, x2: Any) -> Node:
        return self.binary("equal", x1, x2)

    def logical_and(self, x1: Any, x2: Any) -> Node:
        return self.record("logical_and", (self._operand(x1, None), self._operand(x2, None)))

    def bitwise_xor(self, x1: Any, x2: Any) -> Node:
        return self.binary("bitwise_xor", x1, x2)

    def right_shift(self, x: Any, y: int) -> Node:
        node = self._operand(x, None)
        return self.record("right_shift", (node, self.constant(y, node.dtype)))

    def negative(self, x: Any) -> Node:
        return self.record("negative", (self._operand(x, None),))

    def _unary_float(self, op: str, x: Any) -> Node:
        node = self._operand(x, None)
        if node.dtype.kind != "f":  # keras.ops: float functions of integers are float32
            node = self.cast(node, np.float32)
        return self.record(op, (node,))

    def floor(self, x: Any) -> Node:
        return self._unary_float("floor", x)

    def ceil(self, x: Any) -> Node:
        return self._unary_float("ceil", x)

    def cos(self, x: Any) -> Node:
        return self._unary_float("cos", x)

    def log(self, x: Any) -> Node:
        return self._unary_float("log", x)

    def exp(self, x: Any) -> Node:
        return self._unary_float("exp", x)

    def sqrt(self, x: Any) -> Node:
        return self._unary_float("sqrt", x)

    def where(self, condition: Any, x1: Any, x2: Any) -> Node:
        cond = self._operand(condition, None)
        a = x1 if isinstance(x1, Node) else None
        b = x2 if isinstance(x2, Node) else None
        left = self._operand(x1, b)
        right = self._operand(x2, a if a is not None else left)
        left, right = self._promote(left, right)
        return self.record("where", (cond, left, right))

    def cond(self, pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
        """``tf.cond``: a constant predicate picks its branch, which then belongs to the
        enclosing graph (Grappler folds the predicate and inlines the branch);
        otherwise both branches are traced, each in a scope of its own, and selected
        step by step.  Branches may return a tuple of values, as Keras's
        ``CosineDecayRestarts`` does."""
        p = self._operand(pred, None)
        name = self.unique_name("cond")
        if self.is_constant(p):
            return true_fn() if bool(p.value) else false_fn()
        results = []
        outer = self._scope
        for fn in (true_fn, false_fn):
            self._scope = next(self._scopes)
            try:
                results.append(fn())
            finally:
                self._scope = outer
        if isinstance(results[0], tuple):
            return tuple(
                self._select(p, a, b, f"{name}/output_{k}")
                for k, (a, b) in enumerate(zip(*results, strict=True))
            )
        return self._select(p, results[0], results[1], name)

    def _select(self, pred: Node, a: Any, b: Any, name: str) -> Node:
        left, right = self._promote(self._operand(a, None), self._operand(b, None))
        return self.emit("where", (pred, left, right), (), name)


def _result_dtype(op: str, args: tuple[Node, ...], attrs: tuple[Any, ...]) -> np.dtype:
    if op == "cast":
        return np.dtype(attrs[0])
    if op in _COMPARE or op == "logical_and":
        return np.dtype(np.bool_)
    if op == "where":
        return args[1].dtype
    if op == "divide" and args[0].dtype.kind in "iu":
        return np.dtype(np.float32)
    return args[0].dtype


def topological(root: Node) -> Iterator[Node]:
    """Every node ``root`` depends on, each after its inputs (iterative: deep graphs
    do not hit the recursion limit)."""
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        current, expanded = stack.pop()
        if expanded:
            yield current
            continue
        if id(current) in seen:
            continue
        seen.add(id(current))
        stack.append((current, True))
        stack.extend((i, False) for i in reversed(current.inputs))


def consumers(root: Node) -> dict[int, int]:
    """How many operations use each node (by ``id``) in the graph of ``root``."""
    counts: dict[int, int] = {}
    for node in topological(root):
        for i in node.inputs:
            counts[id(i)] = counts.get(id(i), 0) + 1
    return counts


def rebuild(root: Node, rewrite: Callable[[Node], Node]) -> Node:
    """The graph of ``root`` with ``rewrite`` applied to every node, inputs first (each
    node is given with its rewritten inputs)."""
    done: dict[int, Node] = {}
    for node in topological(root):
        inputs = tuple(done[id(i)] for i in node.inputs)
        same = all(a is b for a, b in zip(inputs, node.inputs, strict=True))
        current = node if same else _with_inputs(node, inputs)
        done[id(node)] = rewrite(current)
    return done[id(root)]


def _with_inputs(node: Node, inputs: tuple[Node, ...]) -> Node:
    return Node(node.op, inputs, node.dtype, node.tracer, node.attrs, node.value, node.name,
                node.scope)  # fmt: skip


def run(node: Node, steps: npt.ArrayLike, kernels: Kernels | None = None) -> np.ndarray:
    """The value of the traced graph ``node`` at every step of ``steps`` (an int64
    array, as the optimizer counts), with ``kernels`` (default: the runtime kernels
    of its tracer)."""
    step_values = np.asarray(steps, dtype=STEP_DTYPE)
    use = kernels or node.tracer.runtime
    values: dict[int, Any] = {}
    for n in topological(node):
        if n.op == "const":
            values[id(n)] = n.value
        elif n.op == "step":
            values[id(n)] = step_values
        else:
            values[id(n)] = use.apply(n.op, [values[id(i)] for i in n.inputs], n.attrs)
    result = np.asarray(values[id(node)])
    if result.shape != step_values.shape:
        return np.broadcast_to(result, step_values.shape).copy()
    return result
