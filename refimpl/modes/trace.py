"""A schedule's formula as the graph a compiler sees, rewritten, then run on NumPy.

In ``model.fit`` TensorFlow does not run a schedule's operations one by one: it
builds a graph of the train step, lets an optimizer rewrite it (Grappler in graph
mode, XLA's passes with ``jit_compile=True``) and runs the result.  The rewrites
change the arithmetic: ``x / c`` becomes ``x * (1 / c)``, constant factors are
multiplied together first, ``pow(2**k, x)`` becomes ``exp2(k * x)`` -- each a
different rounding.  To know the rate a run applied, refimpl does the same:

1. **Trace.**  The schedule's formula (the very function the eager mode runs) is
   called with a :class:`Tracer` as its array namespace and a symbolic step.  Every
   namespace call and every arithmetic operator on a :class:`Node` records an
   operation instead of computing it.  Values that do not depend on the step
   (hyperparameters) are constants.
2. **Rewrite.**  As each operation is recorded, the tracer's rules -- small, named
   functions, each a documented rewrite of Grappler or XLA -- may replace it by
   another expression; an operation whose inputs are all constants is *folded*:
   computed at once with the compiler's folding kernels and recorded as a constant.
3. **Run.**  :func:`run` evaluates the rewritten graph on an array of steps with the
   runtime kernels of the mode (every step at once, each operation vectorised).

One formula, three modes: eager runs it on :mod:`refimpl.numpy_ops`; graph and XLA
trace it with the rules and kernels of :mod:`refimpl.modes.grappler` and
:mod:`refimpl.modes.xla`.

>>> import numpy as np
>>> from refimpl.modes.trace import Kernels, Tracer, run
>>> tracer = Tracer(name="demo", rules=(), fold=Kernels.IEEE, runtime=Kernels.IEEE)
>>> step = tracer.step()
>>> node = tracer.cast(step, "float32") / 4.0 + 1.0   # recorded, not computed
>>> print(node)
add(divide(cast(step, float32), 4.0), 1.0)
>>> run(node, np.array([0, 2, 6]))
array([1. , 1.5, 2.5], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops

__all__ = ["Kernels", "Node", "Rule", "Tracer", "run"]

#: The integer dtype of the step a Keras optimizer passes (its ``iterations``).
STEP_DTYPE = np.dtype(np.int64)


@dataclass(eq=False, frozen=True)
class Node:
    """One recorded operation: ``op`` applied to ``inputs`` (nodes), with static
    ``attrs`` (a target dtype, a constant's value), giving a value of ``dtype``.

    ``value`` is set for constants (a NumPy scalar of ``dtype``).  ``scope`` is the
    branch of a ``cond`` the node was recorded in (0: the top level); a constant seen
    from inside a branch it was not recorded in is not foldable there (TensorFlow
    passes it in through a ``Switch``).  Arithmetic operators record through the
    tracer that made the node; comparing nodes with ``==`` compares identity.
    """

    op: str
    inputs: tuple[Node, ...]
    dtype: np.dtype
    tracer: Tracer = field(repr=False)
    attrs: tuple[Any, ...] = ()
    value: Any = None
    scope: int = 0

    @property
    def is_constant(self) -> bool:
        return self.op == "const"

    def constant_in(self, scope: int) -> bool:
        """Whether the compiler sees this node as a constant from ``scope``: a constant
        recorded there (one from outside a ``cond`` branch reaches the branch through
        a ``Switch`` and is not folded with the branch's own constants)."""
        return self.op == "const" and self.scope == scope

    # The operators of tensors, recorded.
    def __add__(self, other: Any) -> Node:
        return self.tracer.add(self, other)

    def __radd__(self, other: Any) -> Node:
        return self.tracer.add(other, self)

    def __sub__(self, other: Any) -> Node:
        return self.tracer.subtract(self, other)

    def __rsub__(self, other: Any) -> Node:
        return self.tracer.subtract(other, self)

    def __mul__(self, other: Any) -> Node:
        return self.tracer.multiply(self, other)

    def __rmul__(self, other: Any) -> Node:
        return self.tracer.multiply(other, self)

    def __truediv__(self, other: Any) -> Node:
        return self.tracer.divide(self, other)

    def __rtruediv__(self, other: Any) -> Node:
        return self.tracer.divide(other, self)

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
    return f"{node.op}({', '.join(parts)})"


def _format_attr(attr: Any) -> str:
    return attr.name if isinstance(attr, np.dtype) else repr(attr)


#: A rewrite rule: called with the tracer and an operation about to be recorded
#: (``op``, its inputs, its attrs), returns the node to record instead, or None.
Rule = Callable[["Tracer", str, tuple[Node, ...], tuple[Any, ...]], "Node | None"]


class Kernels:
    """The functions a compiler's arithmetic runs, by operation name.

    ``table`` maps an operation (``"cos"``, ``"power"``, ...) to a function of NumPy
    arrays or scalars; operations not in it use NumPy's IEEE arithmetic (exact
    for add, subtract, multiply, divide, comparisons, floor, ceil, minimum,
    maximum, casts).  Results of float operations are flushed to zero where
    subnormal, as TensorFlow's CPU kernels and XLA:CPU do.
    """

    IEEE: Kernels

    def __init__(self, name: str, table: Mapping[str, Callable[..., Any]]) -> None:
        self.name = name
        self.table: Mapping[str, Callable[..., Any]] = MappingProxyType(dict(table))

    def __repr__(self) -> str:
        return f"Kernels({self.name!r})"

    def apply(self, op: str, args: Sequence[Any], attrs: tuple[Any, ...]) -> Any:
        """``op`` on NumPy values ``args``."""
        kernel = self.table.get(op) or _IEEE[op]
        with np.errstate(all="ignore"):
            out = kernel(*args, *attrs)
        return numpy_ops.flush_subnormals(out)


def _cast(x: Any, dtype: np.dtype) -> Any:
    return numpy_ops.cast(x, dtype)


def _where(c: Any, a: Any, b: Any) -> Any:
    return np.where(c, a, b)


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
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "equal": np.equal,
    "logical_and": np.logical_and,
    "bitwise_xor": np.bitwise_xor,
    "right_shift": np.right_shift,
    "where": _where,
    "cast": _cast,
    "cos": np.cos,
    "log": np.log,
    "exp": np.exp,
    "power": np.power,
}
Kernels.IEEE = Kernels("ieee", {})

_BINARY = ("add", "subtract", "multiply", "divide", "minimum", "maximum", "power")
_COMPARE = ("less", "less_equal", "greater", "greater_equal", "equal")


class Tracer:
    """An array namespace (:class:`refimpl.namespace.ArrayNamespace`) that records.

    ``rules`` rewrite operations as they are recorded (in order; the first that
    returns a node wins, and its result is recorded through the rules again);
    ``fold`` computes operations on constants (the compiler's own arithmetic),
    ``runtime`` the graph :func:`run` evaluates.  Dtype rules are TensorFlow's,
    as in :mod:`refimpl.numpy_ops`: a Python float is float32, a Python int
    int32, and a Python number meeting a tensor takes the tensor's dtype.
    """

    def __init__(
        self, *, name: str, rules: Sequence[Rule], fold: Kernels, runtime: Kernels
    ) -> None:
        self.name = name
        self.rules = tuple(rules)
        self.fold = fold
        self.runtime = runtime
        self._scope = 0
        self._scopes = 0

    def __repr__(self) -> str:
        return f"Tracer({self.name!r})"

    # --- making nodes ------------------------------------------------------------------
    def step(self) -> Node:
        """The symbolic step: the optimizer's int64 ``iterations``."""
        return Node("step", (), STEP_DTYPE, self, scope=0)

    def constant(self, value: Any, dtype: npt.DTypeLike | None = None) -> Node:
        """A constant with TensorFlow's conversion of Python and NumPy scalars."""
        if isinstance(value, Node):
            return value if dtype is None else self.cast(value, dtype)
        converted = numpy_ops.convert_to_tensor(value, dtype)
        if isinstance(converted, np.ndarray):
            if converted.ndim:
                raise TypeError(f"Only scalars can be constants here. Received: {value!r}")
            converted = converted[()]
        return Node(
            "const", (), np.dtype(converted.dtype), self, value=converted, scope=self._scope
        )

    def _operand(self, value: Any, like: Node | None) -> Node:
        """``value`` as a node; a Python number takes ``like``'s dtype (TF's rule)."""
        if isinstance(value, Node):
            return value
        if like is not None and type(value) in (int, float, bool):
            return self.constant(value, like.dtype)  # exactly: tf.convert_to_tensor(v, dtype)
        return self.constant(value)

    def record(self, op: str, inputs: Sequence[Node], attrs: tuple[Any, ...] = ()) -> Node:
        """Record ``op``: rewritten by the first rule that applies, folded if all its
        inputs are constants here, else a new node."""
        args = tuple(inputs)
        for rule in self.rules:
            replaced = rule(self, op, args, attrs)
            if replaced is not None:
                return replaced
        if args and all(a.constant_in(self._scope) for a in args):
            value = self.fold.apply(op, [a.value for a in args], attrs)
            return self.constant(np.asarray(value)[()])
        return Node(op, args, _result_dtype(op, args, attrs), self, attrs, scope=self._scope)

    def _binary(self, op: str, x1: Any, x2: Any) -> Node:
        a = x1 if isinstance(x1, Node) else None
        b = x2 if isinstance(x2, Node) else None
        left = self._operand(x1, b)
        right = self._operand(x2, a if a is not None else left)
        left, right = _promote(self, left, right)
        return self.record(op, (left, right))

    # --- the namespace -----------------------------------------------------------------
    def convert_to_tensor(self, x: Any, dtype: npt.DTypeLike | None = None) -> Node:
        return self.constant(x, dtype)

    def array(self, x: Any, dtype: npt.DTypeLike | None = None) -> Node:
        return self.constant(x, dtype)

    def cast(self, x: Any, dtype: npt.DTypeLike) -> Node:
        node = self._operand(x, None)
        target = numpy_ops.numpy_dtype(dtype)
        if node.dtype == target:
            return node
        return self.record("cast", (node,), (target,))

    def add(self, x1: Any, x2: Any) -> Node:
        return self._binary("add", x1, x2)

    def subtract(self, x1: Any, x2: Any) -> Node:
        return self._binary("subtract", x1, x2)

    def multiply(self, x1: Any, x2: Any) -> Node:
        return self._binary("multiply", x1, x2)

    def divide(self, x1: Any, x2: Any) -> Node:
        return self._binary("divide", x1, x2)

    def minimum(self, x1: Any, x2: Any) -> Node:
        return self._binary("minimum", x1, x2)

    def maximum(self, x1: Any, x2: Any) -> Node:
        return self._binary("maximum", x1, x2)

    def power(self, x1: Any, x2: Any) -> Node:
        return self._binary("power", x1, x2)

    def less(self, x1: Any, x2: Any) -> Node:
        return self._binary("less", x1, x2)

    def less_equal(self, x1: Any, x2: Any) -> Node:
        return self._binary("less_equal", x1, x2)

    def greater(self, x1: Any, x2: Any) -> Node:
        return self._binary("greater", x1, x2)

    def greater_equal(self, x1: Any, x2: Any) -> Node:
        return self._binary("greater_equal", x1, x2)

    def equal(self, x1: Any, x2: Any) -> Node:
        return self._binary("equal", x1, x2)

    def logical_and(self, x1: Any, x2: Any) -> Node:
        return self.record("logical_and", (self._operand(x1, None), self._operand(x2, None)))

    def bitwise_xor(self, x1: Any, x2: Any) -> Node:
        return self._binary("bitwise_xor", x1, x2)

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
        left, right = _promote(self, left, right)
        return self.record("where", (cond, left, right))

    def is_constant(self, node: Node) -> bool:
        """Whether ``node`` is a constant where operations are being recorded now."""
        return node.constant_in(self._scope)

    def cond(self, pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
        """``tf.cond``: a constant predicate picks its branch, which then belongs to the
        enclosing graph (Grappler folds the predicate and inlines the branch);
        otherwise both branches are traced, each in a scope of its own (the compiler
        folds only the constants created inside a branch, with each other), and
        selected step by step.  Branches may return a tuple of values, as Keras's
        ``CosineDecayRestarts`` does."""
        p = self._operand(pred, None)
        if self.is_constant(p):
            return true_fn() if bool(p.value) else false_fn()
        results = []
        outer = self._scope
        for fn in (true_fn, false_fn):
            self._scopes += 1
            self._scope = self._scopes
            try:
                results.append(fn())
            finally:
                self._scope = outer
        if isinstance(results[0], tuple):
            return tuple(self._select(p, a, b) for a, b in zip(*results, strict=True))
        return self._select(p, *results)

    def _select(self, pred: Node, a: Any, b: Any) -> Node:
        left, right = _promote(self, self._operand(a, None), self._operand(b, None))
        return Node("cond", (pred, left, right), left.dtype, self, scope=self._scope)


def _promote(tracer: Tracer, a: Node, b: Node) -> tuple[Node, Node]:
    """Keras's promotion where the two dtypes differ (see ``numpy_ops._keras_promote``):
    an integer meeting a float takes the float's dtype."""
    if a.dtype == b.dtype:
        return a, b
    if a.dtype.kind in "iub" and b.dtype.kind == "f":
        return tracer.cast(a, b.dtype), b
    if b.dtype.kind in "iub" and a.dtype.kind == "f":
        return a, tracer.cast(b, a.dtype)
    return a, b


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


def run(node: Node, steps: npt.ArrayLike) -> np.ndarray:
    """The value of the traced graph ``node`` at every step of ``steps`` (an int64
    array, as the optimizer counts), with the runtime kernels of its tracer."""
    step_values = np.asarray(steps, dtype=STEP_DTYPE)
    kernels = node.tracer.runtime
    values: dict[int, Any] = {}

    def value(n: Node) -> Any:
        key = id(n)
        if key not in values:
            if n.op == "const":
                values[key] = n.value
            elif n.op == "step":
                values[key] = step_values
            elif n.op == "cond":
                p, a, b = (value(i) for i in n.inputs)
                values[key] = np.where(p, a, b)
            else:
                args = [value(i) for i in n.inputs]
                values[key] = kernels.apply(n.op, args, n.attrs)
        return values[key]

    # Iterative post-order, so deep graphs do not hit the recursion limit.
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        if expanded:
            order.append(current)
            continue
        if id(current) in seen:
            continue
        seen.add(id(current))
        stack.append((current, True))
        stack.extend((i, False) for i in current.inputs)
    for n in order:
        value(n)
    result = np.asarray(value(node))
    return (
        np.broadcast_to(result, step_values.shape).copy()
        if result.shape != step_values.shape
        else result
    )
